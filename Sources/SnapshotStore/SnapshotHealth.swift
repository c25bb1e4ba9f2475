/// Whether a snapshot file can be trusted for a restore: the one type for a snapshot's health in every
/// module (verifier, catalog, sidecar, cache, retention, restore plan, console, metrics, JSON output).
///
/// On disk and in JSON it is the raw value ("good", "corrupt", "unverified"), as sidecars and caches have
/// always written it. A string this version does not know (a newer writer's) reads as `.unverified`: nothing
/// is known about the file, so it is neither counted as a kept copy nor deleted as bad.
public enum SnapshotHealth: String, Codable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// Every check passed: checksum (when the file has a trailer), bbolt structure and etcd's data.
    case good
    /// A check failed; the verdict's `reason` says which and why.
    case corrupt
    /// The file could not be read, so nothing is known about it (it is never counted or deleted as bad).
    case unverified

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = SnapshotHealth(rawValue: text) ?? .unverified
    }

    public var isGood: Bool { self == .good }

    public var description: String { rawValue }

    /// Alphabetical by the word shown ("corrupt" < "good" < "unverified"), as tables sort a health column.
    public static func < (lhs: SnapshotHealth, rhs: SnapshotHealth) -> Bool { lhs.rawValue < rhs.rawValue }
}
