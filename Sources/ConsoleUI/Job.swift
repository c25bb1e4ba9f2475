import Foundation
import SnapshotStore

/// A job on the Jobs screen: one started from this console, or a headless backup seen through its progress file.
public struct Job: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case save, verify, delete, prune, restore
        /// A copy to the remote (after `n`, or `u`).
        case upload
        /// A remote copy pulled into the directory.
        case download
        /// A remote copy streamed through the checks, nothing written.
        case verifyRemote = "verify (remote)"
        /// `etcd-console backup` run by a timer in another process.
        case backup = "backup (scheduled)"
    }

    public enum State: String, Sendable {
        case running, succeeded, failed, interrupted
    }

    public var id: Int
    public var kind: Kind
    public var target: String
    public var state: State
    public var phase: String?
    public var startedAt: Date
    public var finishedAt: Date?
    public var bytesDone: Int64 = 0
    public var bytesTotal: Int64?
    /// Bytes per second so far.
    public var rate: Double = 0
    public var message: String?

    public init(id: Int, kind: Kind, target: String, state: State = .running, startedAt: Date) {
        self.id = id
        self.kind = kind
        self.target = target
        self.state = state
        self.startedAt = startedAt
    }

    public var fraction: Double? {
        guard let bytesTotal, bytesTotal > 0 else { return nil }
        return min(1, Double(bytesDone) / Double(bytesTotal))
    }

    /// Seconds left at the current rate.
    /// Kinds whose progress is bytes moved (a progress bar while running).
    public var showsBytes: Bool {
        switch kind {
        case .save, .backup, .upload, .download, .verifyRemote: return true
        default: return false
        }
    }

    public var etaSeconds: Double? {
        guard let bytesTotal, rate > 0 else { return nil }
        return Double(max(0, bytesTotal - bytesDone)) / rate
    }

    /// The job a headless backup's progress file describes.
    static func backup(_ record: BackupJobRecord, interrupted: Bool) -> Job {
        var job = Job(id: -1, kind: .backup, target: record.fileName ?? "(file not named yet)", startedAt: record.startedAt)
        job.phase = record.phase.rawValue
        job.state = interrupted ? .interrupted
            : record.phase == .succeeded ? .succeeded : record.phase == .failed ? .failed : .running
        job.finishedAt = record.finishedAt ?? (interrupted ? record.updatedAt : nil)
        job.bytesDone = record.bytesWritten
        job.bytesTotal = record.bytesTotal
        let elapsed = record.updatedAt.timeIntervalSince(record.startedAt)
        job.rate = elapsed > 0 ? Double(record.bytesWritten) / elapsed : 0
        job.message = interrupted
            ? "process \(record.pid) on \(record.host) is gone: it stopped while \(record.phase.rawValue); no snapshot was completed by it"
            : record.message
        return job
    }
}
