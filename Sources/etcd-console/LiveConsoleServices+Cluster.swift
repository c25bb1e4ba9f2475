import ConsoleUI
import Foundation
import Operations
import SnapshotStore

// The console's `:cluster`: Operations' ClusterRestore (the same run as `restore --cluster`), its events folded
// into ConsoleUI's ClusterRestoreView, one column per host.
extension LiveConsoleServices {
    func clusterInventory() throws -> ClusterInventory {
        guard let file = resolved[.clusterInventory] else {
            throw ConsoleServiceError("no cluster inventory: set cluster-inventory in the config file (or ETCD_CONSOLE_CLUSTER_INVENTORY); see the README, Restoring a multi-member cluster")
        }
        return try ClusterInventory.load(path: file)
    }

    func clusterRestore(_ snapshot: SnapshotRef) throws -> ClusterRestore {
        try clusterRestore(path: snapshot.path, inventory: clusterInventory())
    }

    func clusterRestore(path: String, inventory: ClusterInventory) -> ClusterRestore {
        ClusterRestore(snapshotPath: path, inventory: inventory, ssh: SSHSettings(), runner: runner,
                              clientConfiguration: client.configuration,
                              journalPath: ClusterRestore.defaultJournalPath(directory: resolved.snapshotDirectory))
    }

    static func view(of restore: ClusterRestore, snapshot: SnapshotRef) -> ClusterRestoreView {
        ClusterRestoreView(snapshot: snapshot.name, membership: restore.inventory.source,
                           initialCluster: restore.inventory.initialCluster,
                           hosts: restore.inventory.members.map { member in
                               ClusterRestoreView.Host(name: member.name,
                                                       host: member.ssh.map { $0 + (member.sshPort.map { ":\($0)" } ?? "") } ?? "this host")
                           })
    }

    func planClusterRestore(_ snapshot: SnapshotRef) async throws -> ClusterRestoreView {
        Self.view(of: try clusterRestore(snapshot), snapshot: snapshot)
    }

    func runClusterRestore(_ snapshot: SnapshotRef, update: @escaping @Sendable (ClusterRestoreView) -> Void) async -> ClusterRestoreView {
        let restore: ClusterRestore
        do { restore = try clusterRestore(snapshot) } catch {
            return ClusterRestoreView(snapshot: snapshot.name, membership: "", initialCluster: "", hosts: [],
                                      succeeded: false, result: "FAILED: \(error)")
        }
        return await run(restore, box: ViewBox(Self.view(of: restore, snapshot: snapshot)), update: update)
    }

    // MARK: lost quorum (`:recover`)

    func planQuorumRecovery() async throws -> ClusterRestoreView {
        let inventory = try clusterInventory()
        let ssh = SSHSettings(options: inventory.sshOptions)
        let candidates = await ClusterRestore.survivorCandidates(inventory, ssh: ssh, runner: runner)
        guard let newest = ClusterRestore.newest(candidates) else {
            throw ConsoleServiceError("no member has readable data (" + candidates.map { "\($0.member): \($0.problem ?? "?")" }.joined(separator: "; ")
                                      + "): restore every member from a snapshot instead (:cluster)")
        }
        var view = Self.view(of: clusterRestore(path: "", inventory: inventory),
                             snapshot: SnapshotRef(name: "\(newest.member)'s data (revision \(newest.revision!), the newest)", path: ""))
        view.survivor = newest.member
        for candidate in candidates {
            view.append(candidate.revision.map { "data at revision \($0)" } ?? (candidate.problem ?? "?"), to: candidate.member)
        }
        return view
    }

    func runQuorumRecovery(survivor: String, update: @escaping @Sendable (ClusterRestoreView) -> Void) async -> ClusterRestoreView {
        let inventory: ClusterInventory
        do { inventory = try clusterInventory() } catch {
            return ClusterRestoreView(snapshot: survivor, membership: "", initialCluster: "", hosts: [], succeeded: false,
                                      result: "FAILED: \(error)", survivor: survivor)
        }
        var initial = Self.view(of: clusterRestore(path: "", inventory: inventory), snapshot: SnapshotRef(name: "\(survivor)'s data", path: ""))
        initial.survivor = survivor
        let box = ViewBox(initial)
        guard let member = inventory.members.first(where: { $0.name == survivor }) else {
            return box.change { $0.succeeded = false; $0.result = "FAILED: \(survivor) is not in \(inventory.source)" }
        }
        let copy: String
        do {
            copy = try await ClusterRestore.takeSurvivorCopy(of: member, ssh: SSHSettings(options: inventory.sshOptions), runner: runner,
                                                             directory: resolved.snapshotDirectory) { event in
                update(box.change { view in Self.fold(event, into: &view) })
            }
        } catch {
            return box.change { $0.succeeded = false; $0.step = "stopped"; $0.result = "FAILED: \(error)" }
        }
        return await run(clusterRestore(path: copy, inventory: inventory), box: box, update: update)
    }

    static func fold(_ event: ClusterRestore.Event, into view: inout ClusterRestoreView) {
        switch event {
        case .step(let text): view.step = text
        case .output(let host, let line): view.append(line, to: host)
        case .phase(let host, let phase):
            if let index = view.hosts.firstIndex(where: { $0.name == host }) { view.hosts[index].phase = phase.rawValue }
        }
    }

    /// Runs the restore, folding its events into the view.
    func run(_ restore: ClusterRestore, box: ViewBox, update: @escaping @Sendable (ClusterRestoreView) -> Void) async -> ClusterRestoreView {
        let report = await restore.run(dryRun: false) { event in
            update(box.change { view in Self.fold(event, into: &view) })
        }
        return box.change { view in
            for host in report.hosts {
                if let index = view.hosts.firstIndex(where: { $0.name == host.name }) { view.hosts[index].phase = host.phase.rawValue }
            }
            view.succeeded = report.succeeded
            view.step = report.succeeded ? "done" : "stopped"
            view.result = report.succeeded
                ? "Restored every member: hashKV equal at revision \(report.revision ?? 0); cluster id \(report.oldClusterID ?? "?") -> \(report.newClusterID ?? "?"). Next: restart kube-apiserver on every master."
                : "FAILED: \(report.error ?? "see the hosts above")" + (report.rolledBack ? " (every host rolled back)" : "")
        }
    }
}

/// The cluster restore's view, changed from the restore's event callbacks (any thread).
final class ViewBox: @unchecked Sendable {
    private let lock = NSLock()
    private var view: ClusterRestoreView
    init(_ view: ClusterRestoreView) { self.view = view }
    func change(_ body: (inout ClusterRestoreView) -> Void) -> ClusterRestoreView {
        lock.withLock {
            body(&view)
            return view
        }
    }
}
