import Foundation

/// How one step went. JSON: `{name, status, durationMs, detail}`.
public struct StepResult: Codable, Sendable, Equatable {
    public var kind: RestoreStepKind
    public var status: StepStatus
    public var durationMs: Int
    public var detail: String

    public init(kind: RestoreStepKind, status: StepStatus, durationMs: Int, detail: String) {
        self.kind = kind
        self.status = status
        self.durationMs = durationMs
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case kind = "name", status, durationMs, detail
    }
}

/// What a rollback did.
public struct RollbackResult: Codable, Sendable, Equatable {
    /// The original data dir is back at its path.
    public var originalRestored: Bool
    /// Where the restored (or half-restored) data dir went.
    public var failedRestorePath: String?
    /// etcd answered after the rollback.
    public var etcdRunning: Bool
    /// One line per action taken, in order.
    public var actions: [String]
    /// Problems the rollback met (empty when it went through).
    public var problems: [String]
}

/// What the live view of a restore receives, in order.
public enum RestoreEvent: Sendable {
    case stepStarted(RestoreStepKind)
    /// A line of a command's output (or of our own progress) while `step` runs; nil step during a rollback.
    case output(RestoreStepKind?, String)
    case stepFinished(StepResult)
    case rollbackStarted(reason: String)
    case rollbackFinished(RollbackResult)
    case finished(RestoreReport)
}

/// The outcome of a restore, a resume or a rollback. JSON keys: `steps`, `rolledBack`, `movedAside`, ...
public struct RestoreReport: Codable, Sendable, Equatable {
    public var succeeded: Bool
    public var snapshot: String
    public var dataDir: String
    public var steps: [StepResult]
    public var rolledBack: Bool
    /// Where the old data dir is now (nil when it was not moved, or was moved back).
    public var movedAside: String?
    public var rollback: RollbackResult?
    /// What failed, when something did.
    public var error: String?
    public var errorKind: RestoreError.Kind?
    /// Pods per namespace found in etcd after the restore.
    public var pods: [String: Int]?
    public var notes: [String]
    /// What the operator should do next.
    public var reminders: [String]
}
