import Foundation
import SnapshotStore

/// What `schedule status` reports: the last run (maybe still going, or interrupted), the last success, the next
/// run when systemd knows it, and whether the newest good snapshot keeps up with the interval. Pure.
public struct ScheduleStatus: Sendable, Equatable {
    public enum LastRunState: String, Sendable, Equatable, Codable {
        case running, succeeded, failed, interrupted
    }

    public var directory: String
    public var interval: ScheduleInterval
    public var lastRun: BackupJobRecord?
    public var lastRunState: LastRunState?
    public var lastSuccess: BackupHistory.Run?
    /// systemd's text for the timer's next elapse, or nil when unknown.
    public var nextRun: String?
    public var freshness: SnapshotFreshness

    public init(directory: String, interval: ScheduleInterval, record: BackupJobRecord?, interrupted: Bool,
                history: BackupHistory, entries: [SnapshotEntry], nextRun: String?, now: Date) {
        self.directory = directory
        self.interval = interval
        self.lastRun = record
        if let record {
            switch record.phase {
            case .succeeded: lastRunState = .succeeded
            case .failed: lastRunState = .failed
            default: lastRunState = interrupted ? .interrupted : .running
            }
        }
        self.lastSuccess = history.lastSuccess
        self.nextRun = nextRun
        self.freshness = SnapshotFreshness.check(entries, intervalSeconds: interval.seconds, now: now)
    }

    /// True when something needs the operator: no good snapshot, a stale one, or a last run that failed.
    public var needsAttention: Bool {
        freshness.verdict != .fresh || lastRunState == .failed || lastRunState == .interrupted
    }
}
