import Foundation

/// Whether the backups keep up with their schedule: the newest good snapshot should never be older than
/// twice the schedule interval (one missed run is tolerated; two in a row are not). Pure, so `status`, the
/// console's header and `schedule status` give the same answer.
public struct SnapshotFreshness: Sendable, Equatable {
    public enum Verdict: String, Sendable, Equatable, Codable {
        /// The newest good snapshot is within twice the interval.
        case fresh
        /// The newest good snapshot is older than twice the interval.
        case stale
        /// There is no good snapshot at all.
        case none
    }

    public var verdict: Verdict
    /// Age of the newest good snapshot in seconds (nil when there is none); a future-dated one counts as 0.
    public var ageSeconds: TimeInterval?
    /// Twice the interval: the age above which the backups are stale.
    public var limitSeconds: TimeInterval
    /// The newest good snapshot's name, when there is one.
    public var newestGood: String?

    /// Judges `entries` (any order; only good ones count) against a schedule `intervalSeconds` long.
    public static func check(_ entries: [SnapshotEntry], intervalSeconds: TimeInterval, now: Date) -> SnapshotFreshness {
        let limit = 2 * intervalSeconds
        guard let newest = entries.filter({ $0.health == .good }).max(by: { $0.takenAt < $1.takenAt }) else {
            return SnapshotFreshness(verdict: .none, ageSeconds: nil, limitSeconds: limit, newestGood: nil)
        }
        let age = max(0, now.timeIntervalSince(newest.takenAt))
        return SnapshotFreshness(verdict: age > limit ? .stale : .fresh, ageSeconds: age, limitSeconds: limit,
                                 newestGood: newest.name)
    }
}
