import ConsoleUI
import Foundation
import Operations
import SnapshotStore

// The console's `:cluster`: Operations' ClusterRestore (the same run as `restore --cluster`), its events folded
// into ConsoleUI's ClusterRestoreView, one column per host.
extension LiveConsoleServices {
    func clusterRestore(_ snapshot: SnapshotRef) throws -> ClusterRestore {
        guard let file = resolved[.clusterInventory] else {
            throw ConsoleServiceError("no cluster inventory: set cluster-inventory in the config file (or ETCD_CONSOLE_CLUSTER_INVENTORY); see the README, Restoring a multi-member cluster")
        }
        let inventory = try ClusterInventory.load(path: file)
        return ClusterRestore(snapshotPath: snapshot.path, inventory: inventory, ssh: SSHSettings(), runner: runner,
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
        let box = ViewBox(Self.view(of: restore, snapshot: snapshot))
        let report = await restore.run(dryRun: false) { event in
            update(box.change { view in
                switch event {
                case .step(let text): view.step = text
                case .output(let host, let line): view.append(line, to: host)
                case .phase(let host, let phase):
                    if let index = view.hosts.firstIndex(where: { $0.name == host }) { view.hosts[index].phase = phase.rawValue }
                }
            })
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
