/// What `SnapshotVerifier.verify(path:)` found, in a form the catalog can store and the console can show.
public struct SnapshotVerification: Codable, Sendable, Equatable {
    /// What the file is, as far as the checks got.
    public enum Kind: String, Codable, Sendable {
        /// A bbolt database followed by the 32-byte SHA-256 trailer `snapshot save` appends.
        case snapshot
        /// A bbolt database without a trailer: a copy of a member's `member/snap/db` (or a snapshot whose
        /// trailer was cut off, by truncation among others).
        case rawDatabase
        /// Not an etcd database at all (not bbolt, or bbolt without etcd's "key" bucket), or unreadable.
        case notSnapshot
    }

    public var health: SnapshotHealth
    /// Why the file is not good; for a good file nil, or a note ("no checksum trailer; structure OK").
    public var reason: String?
    /// Whether the file ends in a SHA-256 trailer (etcd's rule: size % 512 == 32) on a bbolt database.
    public var hasTrailer: Bool
    /// Lower-case hex SHA-256 of the database bytes, when the file has a trailer and the digest matches it.
    public var sha256: String?
    /// The newest revision the file holds (main part of the last "key" bucket key), when it is good.
    public var revision: Int64?
    /// Keys live at that revision, when the file is good.
    public var liveKeys: Int?
    /// meta.pgid * pageSize: what `etcdctl snapshot status` calls totalSize, when the meta page is readable.
    public var totalSize: Int64?
    public var kind: Kind
    /// Wall-clock time the verification took.
    public var durationMs: Int

    public init(health: SnapshotHealth, reason: String? = nil, hasTrailer: Bool = false, sha256: String? = nil,
                revision: Int64? = nil, liveKeys: Int? = nil, totalSize: Int64? = nil, kind: Kind,
                durationMs: Int = 0) {
        self.health = health
        self.reason = reason
        self.hasTrailer = hasTrailer
        self.sha256 = sha256
        self.revision = revision
        self.liveKeys = liveKeys
        self.totalSize = totalSize
        self.kind = kind
        self.durationMs = durationMs
    }

    /// The note a good raw database (no trailer) carries.
    public static let rawDatabaseNote = "no checksum trailer; structure OK"
}
