import Foundation
import SnapshotStore

/// Where the offsite copies stand against the local catalog: pure, from the record and the entries.
public struct OffsiteStatus: Sendable, Equatable {
    public var lastSuccess: Date?
    public var bytesUploaded: Int64
    /// When the newest good snapshot with an offsite copy was taken, or nil when none has one.
    public var newestOffsiteTakenAt: Date?
    /// Good local snapshots without an offsite copy, oldest first.
    public var missing: [String]
    /// Newest good local snapshot's time minus the newest offsite one's (0 when the newest is offsite); nil
    /// when nothing is offsite or nothing is good.
    public var lagSeconds: Double?

    public init(record: OffsiteRecord, bucket: String, entries: [SnapshotEntry]) {
        lastSuccess = record.lastSuccess
        bytesUploaded = record.bytesUploaded
        let good = entries.filter { $0.health == .good }
        newestOffsiteTakenAt = good.filter { record.isOffsite($0.name, bucket: bucket) }.map(\.takenAt).max()
        missing = record.missing(entries, bucket: bucket).map(\.name)
        if let newest = good.map(\.takenAt).max(), let offsite = newestOffsiteTakenAt {
            lagSeconds = max(0, newest.timeIntervalSince(offsite))
        }
    }

    /// A warning when the newest good offsite copy is older than twice the schedule interval (or there is none),
    /// else nil: what `status` and the console header say.
    public func warning(intervalSeconds: Double, now: Date) -> String? {
        guard let newest = newestOffsiteTakenAt else {
            return "no good snapshot is offsite yet\(missing.isEmpty ? "" : " (\(missing.count) waiting: the next backup uploads them)")"
        }
        let age = now.timeIntervalSince(newest)
        guard age > 2 * intervalSeconds else { return nil }
        let hours = String(format: "%.1f", age / 3600)
        return "the newest offsite copy is \(hours) h old, more than twice the schedule (\(Int(intervalSeconds / 60)) min); \(missing.count) good snapshot(s) not offsite"
    }
}
