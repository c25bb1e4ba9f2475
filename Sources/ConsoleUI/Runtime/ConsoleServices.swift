import EtcdClient
import Foundation
import Recovery
import SnapshotStore

/// Everything the console does to the world, behind one protocol: the executable wires the real modules
/// (etcd, the snapshot directory, the doctor); the runtime calls these off the UI thread.
public protocol ConsoleServices: Sendable {
    func clusterStatus() async throws -> [MemberStatus]
    /// The doctor's report for the local data dir, and which dir it examined.
    func diagnoseDataDir() async -> (DoctorReport, dataDir: String)
    func listSnapshots() async throws -> CatalogListing
    /// For the periodic reload: the listing, or nil when the directory has not changed since the last listing
    /// (nothing to redraw; at 10,000 snapshots a listing costs a good part of a second of CPU). The default lists.
    func listSnapshotsIfChanged() async throws -> CatalogListing?
    /// Free bytes on the snapshot directory's filesystem.
    func freeBytes() async -> Int64?
    func backupRecord() async -> (BackupJobRecord, interrupted: Bool)?
    /// When the scheduled backup (a systemd timer) runs next, as text with where it comes from; nil when none is known.
    func nextScheduledBackup() async -> String?
    /// Takes, verifies and records a snapshot; returns a one-line result.
    func saveSnapshot(progress: @escaping @Sendable (SnapshotProgress) -> Void) async throws -> String
    func verify(_ snapshot: SnapshotRef) async -> SnapshotVerification
    func delete(_ snapshot: SnapshotRef) async throws
    func planPrune(now: Date) async throws -> RetentionPlan
    /// Deletes these snapshots (a confirmed prune plan); returns the names deleted.
    func prune(_ names: [String]) async throws -> [String]
    /// Every live object of a snapshot (test doubles answer with a list; the real services page instead).
    func objects(in snapshot: SnapshotRef) async throws -> [KubernetesObject]
    /// Browse's first two levels: the objects per resource and namespace, nothing decoded.
    func browseGroups(in snapshot: SnapshotRef) async throws -> [BrowseGroup]
    /// One page of a group's objects, decoded.
    func browsePage(in snapshot: SnapshotRef, _ request: BrowsePageRequest) async throws -> BrowsePage
    func diff(from: SnapshotRef, to: SnapshotRef) async throws -> SnapshotDiff
    /// The restore plan for a snapshot on this host (discovery, verify, tool checks); changes nothing.
    func planRestore(_ snapshot: SnapshotRef) async throws -> RestorePlan
    /// The plan again with what the operator changed in the wizard on top (name, cluster, peer URLs, data dir).
    func planRestore(_ snapshot: SnapshotRef, edits: RestoreEdits) async throws -> RestorePlan
    /// Runs a confirmed plan, reporting each step as it goes.
    func runRestore(_ plan: RestorePlan, onEvent: @escaping @Sendable (RestoreEvent) -> Void) async throws -> RestoreReport
    /// An unfinished restore journal for the local data dir, with one line saying what it is.
    func unfinishedRestore() async -> (RestorePlan, summary: String, steps: [RestoreStepKind: StepStatus])?
    /// Continue or undo the unfinished restore; throws when it cannot even start (no journal any more).
    func resumeRestore(onEvent: @escaping @Sendable (RestoreEvent) -> Void) async throws -> RestoreReport
    func rollbackRestore(onEvent: @escaping @Sendable (RestoreEvent) -> Void) async throws -> RestoreReport
    /// `etcd-console check`: hashes every member at one revision; throws only when no member answers.
    func checkCluster() async throws -> ConsistencyCheck
    /// The members of the configured cluster inventory, for a cluster restore of `snapshot` (none: an error naming
    /// the `cluster-inventory` setting).
    func planClusterRestore(_ snapshot: SnapshotRef) async throws -> ClusterRestoreView
    /// Runs the cluster restore, calling `update` with the view after each of its events; returns the last one.
    func runClusterRestore(_ snapshot: SnapshotRef, update: @escaping @Sendable (ClusterRestoreView) -> Void) async -> ClusterRestoreView
    /// Lost quorum: the inventory's members with each one's data (revision or why not); `survivor` the newest.
    func planQuorumRecovery() async throws -> ClusterRestoreView
    /// Restores every member from `survivor`'s data (stopped, its db copied), as `runClusterRestore` does.
    func runQuorumRecovery(survivor: String, update: @escaping @Sendable (ClusterRestoreView) -> Void) async -> ClusterRestoreView

    // Offsite copies (issue 14). The defaults (test doubles, no remote configured) know of no remote.
    /// `n`: takes, verifies and records a snapshot, and says which file it is (so it can be uploaded).
    func takeSnapshot(progress: @escaping @Sendable (SnapshotProgress) -> Void) async throws -> SavedSnapshot
    /// The offsite copies: the cached remote catalog and the record (`refresh: false`), or the bucket listed
    /// again (`refresh: true`, which rewrites the cache). Nil when no remote is configured.
    func offsite(refresh: Bool) async -> OffsiteView?
    /// The snapshots' bundles and the certificates that expire soon; nil when nothing is known (fakes).
    func controlPlane() async -> ControlPlaneView?
    /// Uploads a good local snapshot and records it; returns a one-line result. Throws with the S3 error.
    func upload(_ snapshot: SnapshotRef, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String
    /// Streams a remote copy through decrypt, decompress and the checks; returns a one-line result.
    func verifyRemote(_ name: String, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String
    /// Downloads a remote copy into the directory, checked and verified; returns the local file.
    func pull(_ name: String, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> SnapshotRef
}

/// What the default offsite services answer: no remote is configured.
public struct NoRemoteConfigured: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "no remote is configured (remote.endpoint and remote.bucket)" }
}

/// What the default cluster-restore service answers: no inventory is configured.
public struct ConsoleServiceError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension ConsoleServices {
    public func listSnapshotsIfChanged() async throws -> CatalogListing? { try await listSnapshots() }

    public func takeSnapshot(progress: @escaping @Sendable (SnapshotProgress) -> Void) async throws -> SavedSnapshot {
        SavedSnapshot(message: try await saveSnapshot(progress: progress), snapshot: nil)
    }

    public func offsite(refresh: Bool) async -> OffsiteView? { nil }
    public func planClusterRestore(_ snapshot: SnapshotRef) async throws -> ClusterRestoreView {
        throw ConsoleServiceError("no cluster inventory: set cluster-inventory in the config file (see the README: Restoring a multi-member cluster)")
    }
    public func planQuorumRecovery() async throws -> ClusterRestoreView {
        throw ConsoleServiceError("no cluster inventory: set cluster-inventory in the config file (see the README: Restoring a multi-member cluster)")
    }
    public func runQuorumRecovery(survivor: String, update: @escaping @Sendable (ClusterRestoreView) -> Void) async -> ClusterRestoreView {
        ClusterRestoreView(snapshot: survivor, membership: "", initialCluster: "", hosts: [], succeeded: false,
                           result: "quorum recovery is not available here", survivor: survivor)
    }
    public func runClusterRestore(_ snapshot: SnapshotRef, update: @escaping @Sendable (ClusterRestoreView) -> Void) async -> ClusterRestoreView {
        ClusterRestoreView(snapshot: snapshot.name, membership: "", initialCluster: "", hosts: [], succeeded: false,
                           result: "cluster restore is not available here")
    }
    public func controlPlane() async -> ControlPlaneView? { nil }

    public func upload(_ snapshot: SnapshotRef, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String {
        throw NoRemoteConfigured()
    }

    public func verifyRemote(_ name: String, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String {
        throw NoRemoteConfigured()
    }

    public func pull(_ name: String, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> SnapshotRef {
        throw NoRemoteConfigured()
    }

    /// Why a snapshot about to be browsed or compared cannot be trusted (the readers' check: trailer,
    /// structure, sidecar), or nil when it is good. The default knows nothing (fakes).
    public func damage(of snapshot: SnapshotRef) async -> String? { nil }

    /// From `objects(in:)` (the test doubles); the real services answer from a `SnapshotObjectBrowser`.
    public func browseGroups(in snapshot: SnapshotRef) async throws -> [BrowseGroup] {
        BrowseGroup.groups(of: try await objects(in: snapshot))
    }

    public func browsePage(in snapshot: SnapshotRef, _ request: BrowsePageRequest) async throws -> BrowsePage {
        let all = try await objects(in: snapshot).filter {
            SnapshotObjectCounts.Group(resource: $0.resource, namespace: $0.namespace) == request.group
        }
        return BrowsePage.cut(request, from: all)
    }

    /// Services that take no edits plan as before (the test doubles).
    public func planRestore(_ snapshot: SnapshotRef, edits: RestoreEdits) async throws -> RestorePlan {
        try await planRestore(snapshot)
    }
}

/// The terminal as the runtime sees it; `CursesTerminal` is the real one.
public protocol ConsoleTerminal: AnyObject {
    /// Columns and rows now.
    var size: (width: Int, height: Int) { get }
    /// The next key, waiting at most `timeoutMilliseconds`; nil when none came.
    func readKey(timeoutMilliseconds: Int) -> Key?
    /// The same, but also returning nil as soon as `wakeDescriptor` is readable (an event was posted), so a
    /// result is drawn at once instead of after the rest of the timeout. A negative descriptor is never readable.
    func readKey(timeoutMilliseconds: Int, wakeDescriptor: Int32) -> Key?
    /// Shows `grid`, drawing only what changed since the last call.
    func draw(_ grid: TextGrid)
}

