import EtcdClient
import Foundation
import Recovery
import SnapshotStore

/// A snapshot as an effect names it: the file name (what operators see) and its path.
public struct SnapshotRef: Sendable, Equatable {
    public var name: String
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }
}

/// What the console asks the runtime to do. Key handling returns effects; it never performs them.
public enum Effect: Sendable, Equatable {
    case quit
    /// Ask every member's status (the 2 s refresh).
    case refreshMembers
    /// Run the data-dir doctor (etcd is down).
    case diagnoseDataDir
    case loadSnapshots
    /// The periodic reload: list again only if the snapshot directory changed.
    case reloadSnapshotsIfChanged
    /// Read the progress file of a headless `etcd-console backup`.
    case pollBackupRecord
    /// Ask when the backup timer runs next.
    case checkSchedule
    case saveSnapshot(job: Int)
    case verify(job: Int, SnapshotRef)
    case delete(job: Int, SnapshotRef)
    /// Work out what the default retention policy would delete (no change yet).
    case planPrune
    case prune(job: Int, names: [String])
    case browse(SnapshotRef)
    /// Decode one page of a browsed snapshot's objects (`BrowseScreen` asks as the selection moves or a filter changes).
    case browsePage(SnapshotRef, BrowsePageRequest)
    case diff(from: SnapshotRef, to: SnapshotRef)
    /// Work out the restore plan for a snapshot (changes nothing).
    case planRestore(SnapshotRef)
    /// The plan again, with the wizard's edits on top (the wizard is already back in its planning phase).
    case replanRestore(SnapshotRef, RestoreEdits)
    case runRestore(job: Int, RestorePlan)
    /// Look for an unfinished restore journal (at start).
    case checkUnfinishedRestore
    case resumeRestore(job: Int)
    case rollbackRestore(job: Int)
    /// `etcd-console check`: every member's KV hash at one revision, alarms, quota (Members `c`, `:check`).
    case checkCluster
    /// Plans `restore --cluster` of the snapshot from the configured inventory (`cluster-inventory`).
    case planClusterRestore(SnapshotRef)
    /// Runs it; updates come back as `.clusterRestore`.
    case runClusterRestore(job: Int, SnapshotRef)
    /// Lost quorum: which member has the newest data (each db inspected on its host); comes back as `.clusterRestorePlanned`.
    case planQuorumRecovery
    /// Every member restored from that member's data; updates come back as `.clusterRestore`.
    case runQuorumRecovery(job: Int, survivor: String)
    /// The offsite copies: the cached catalog and the record (`refresh: false`, no request to the bucket), or a
    /// fresh listing of the bucket that also rewrites the cache (`refresh: true`).
    case loadRemote(refresh: Bool)
    /// Read the bundles beside the snapshots and the certificates' expiry (issue 15).
    case loadControlPlane
    /// Copy a good local snapshot to the remote (after `n`, or `u`).
    case upload(job: Int, SnapshotRef)
    /// `snapshot verify --remote`: the remote copy streamed through the checks, nothing written.
    case verifyRemote(job: Int, name: String)
    /// `snapshot pull`: the remote copy into the directory; `thenRestore` opens the wizard on it once pulled.
    case pull(job: Int, name: String, thenRestore: Bool)
}

/// What the runtime feeds back: results of effects, and the passing of time.
public enum ConsoleEvent: Sendable {
    case tick(Date)
    case members([MemberStatus], at: Date)
    case membersFailed(String, at: Date)
    /// etcd answers but the TLS handshake fails (every endpoint): etcd runs, so the doctor is not asked.
    case membersTLSFailed(String, at: Date)
    case doctor(DoctorReport, dataDir: String)
    case snapshots(CatalogListing, freeBytes: Int64?, at: Date)
    case snapshotsFailed(String)
    case backupRecord(BackupJobRecord?, interrupted: Bool)
    /// The next scheduled backup as text ("Wed 2026-11-25 18:30:00 UTC (etcd-console-backup.timer)"), nil when none is known.
    case schedule(String?)
    case jobProgress(job: Int, SnapshotProgress)
    /// `n`'s save finished well; the console uploads it when a remote is configured.
    case saved(job: Int, SavedSnapshot, at: Date)
    /// Bytes of an upload, download or remote verify so far.
    case transferProgress(job: Int, TransferProgress, at: Date)
    case offsite(OffsiteView)
    case controlPlane(ControlPlaneView)
    /// A remote snapshot is now in the directory (`pull`); `thenRestore`: open the wizard on it.
    case pulled(job: Int, SnapshotRef, message: String, thenRestore: Bool, at: Date)
    case jobFinished(job: Int, succeeded: Bool, message: String, at: Date)
    case prunePlan(RetentionPlan)
    case prunePlanFailed(String)
    /// `damage`: why the snapshot cannot be trusted (it was read anyway), shown above the objects.
    case browseLoaded(SnapshotRef, [KubernetesObject], damage: String? = nil)
    /// A browse opened with the counts only: its objects come a page at a time (`browsePageLoaded`).
    case browseOpened(SnapshotRef, [BrowseGroup], damage: String? = nil)
    case browsePageLoaded(SnapshotRef, BrowsePage)
    case diffLoaded(from: SnapshotRef, to: SnapshotRef, SnapshotDiff, damage: String? = nil)
    /// A browse or diff that could not be done: shown as a message.
    case clusterRestorePlanned(SnapshotRef, ClusterRestoreView)
    case clusterRestorePlanFailed(String)
    /// The cluster restore's view after each of its events; `succeeded` set on the last.
    case clusterRestore(job: Int, ClusterRestoreView)
    case failed(String)
    case restorePlanned(SnapshotRef, RestorePlan)
    case restorePlanFailed(SnapshotRef, String)
    case restore(job: Int, RestoreEvent)
    /// A restore, resume or rollback that could not start (nothing was changed by it).
    case restoreNotStarted(job: Int, String)
    case checked(ConsistencyCheck, at: Date)
    case checkFailed(String, at: Date)
    /// An unfinished restore journal: its plan, one line about it, and how far each step got.
    case unfinishedRestore(RestorePlan, summary: String, steps: [RestoreStepKind: StepStatus] = [:])
}

/// A question the operator answers before a destructive effect runs.
public struct Confirmation: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case quit
        case delete(SnapshotRef)
        case prune([String])
        case restore
        case resumeRestore
        case rollbackRestore
        case restoreCluster
    }

    public var title: String
    public var lines: [String]
    public var action: Action
    /// When set, the operator types this word (or `yes`) and presses enter; otherwise `y` confirms.
    public var typedWord: String?
    public var typed = ""

    public init(title: String, lines: [String], action: Action, typedWord: String? = nil) {
        self.title = title
        self.lines = lines
        self.action = action
        self.typedWord = typedWord
    }
}

extension EtcdClientError {
    /// A TLS handshake failure (or a peer that does not speak HTTP/2 over TLS) on every endpoint tried.
    public var isTLSFailure: Bool {
        switch kind {
        case .tlsHandshake, .alpnNotH2: return true
        case .noEndpointAvailable: return !underlying.isEmpty && underlying.allSatisfy(\.isTLSFailure)
        default: return false
        }
    }
}
