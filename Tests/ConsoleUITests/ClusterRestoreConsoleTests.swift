@testable import ConsoleUI
import Foundation
import SnapshotStore
import Testing

/// `:cluster` (issue 16): the cluster restore in the console, one column per host, live.
@Suite("Console cluster restore")
struct ClusterRestoreConsoleTests {
    typealias F = ConsoleFixtures

    static let planned = ClusterRestoreView(
        snapshot: F.entry(0).name, membership: "the inventory /etc/etcd-console/cluster.yaml",
        initialCluster: "master-1=https://10.0.0.1:2380,master-2=https://10.0.0.2:2380,master-3=https://10.0.0.3:2380",
        hosts: [.init(name: "master-1", host: "this host"), .init(name: "master-2", host: "root@10.0.0.2"),
                .init(name: "master-3", host: "root@10.0.0.3:2222")])

    static func type(_ console: inout Console, _ text: String) -> [Effect] {
        text.flatMap { console.handle(.character($0)) }
    }

    static func planned(_ c: inout Console) -> SnapshotRef {
        c.tab = .snapshots
        _ = c.handle(.character(":"))
        let effects = Self.type(&c, "cluster") + c.handle(.enter)
        let ref = SnapshotRef(name: c.snapshots.selectedEntry!.name, path: c.snapshots.selectedEntry!.path)
        #expect(effects == [.planClusterRestore(ref)], "\(effects)")
        #expect(c.apply(.clusterRestorePlanned(ref, Self.planned)) == [])
        return ref
    }

    @Test(":cluster plans the selected snapshot; enter asks for yes; yes starts the run as a job; esc leaves it running")
    func keys() throws {
        var c = F.withSnapshots(3)
        let ref = Self.planned(&c)
        guard case .cluster = c.pushed else { Issue.record("the cluster screen is not shown: \(String(describing: c.pushed))"); return }
        try GoldenScreen.check(c, "cluster-restore-plan", width: 80, height: 24)

        _ = c.handle(.enter)
        guard case .confirm(let confirmation) = c.overlay else { Issue.record("no confirmation"); return }
        #expect(confirmation.action == .restoreCluster && confirmation.typedWord == "yes")
        #expect(confirmation.lines.contains("  master-3 on root@10.0.0.3:2222"), "\(confirmation.lines)")
        _ = Self.type(&c, "no")
        #expect(c.handle(.enter) == [], "a wrong word does not start it")
        _ = Self.type(&c, "yes")
        let effects = c.handle(.enter)
        let job = try #require(c.jobs.running.first)
        #expect(effects == [.runClusterRestore(job: job.id, ref)])
        #expect(c.cluster?.phase == .running)

        // Events from the run fill the columns.
        var view = Self.planned
        view.step = "Restoring on master-2 (root@10.0.0.2)"
        view.hosts[0].phase = "prepared"
        view.hosts[1].phase = "planned"
        view.hosts[2].phase = "failed"
        view.append("[3/9] Move the data dir aside...", to: "master-2")
        view.append("Restore FAILED: the restore tool failed: no space left on device", to: "master-3")
        _ = c.apply(.clusterRestore(job: job.id, view))
        try GoldenScreen.check(c, "cluster-restore-running", width: 80, height: 24)

        // esc steps away; :cluster comes back to the running restore without planning again.
        _ = c.handle(.escape)
        #expect(c.pushed == nil)
        _ = c.handle(.character(":"))
        #expect(Self.type(&c, "cluster") + c.handle(.enter) == [])
        guard case .cluster = c.pushed else { Issue.record("not back on the cluster screen"); return }

        // The last view ends the job.
        view.succeeded = false
        view.result = "FAILED: master-3 (root@10.0.0.3:2222): the restore failed; every host was rolled back"
        view.hosts = view.hosts.map { var h = $0; h.phase = "rolled-back"; return h }
        _ = c.apply(.clusterRestore(job: job.id, view))
        #expect(c.cluster?.phase == .finished)
        #expect(c.jobs.jobs.first { $0.id == job.id }?.state == .failed)
        #expect(c.jobs.jobs.first { $0.id == job.id }?.message == view.result)
        let grid = GoldenScreen.render(c, width: 80, height: 24)
        #expect(grid.text.contains("FAILED: master-3 (root@10.0.0.3:2222): the restore failed; every host was"), "\(grid.text)")
    }

    @Test("Read-only: :cluster is refused; a plan that fails says why")
    func refusals() {
        var ro = F.withSnapshots(3, readonly: true)
        ro.tab = .snapshots
        _ = ro.handle(.character(":"))
        #expect(Self.type(&ro, "cluster") + ro.handle(.enter) == [])
        #expect(ro.message?.text == "read-only session (--readonly): restore is not available")

        var c = F.withSnapshots(3)
        _ = c.apply(.clusterRestorePlanFailed("no cluster inventory: set cluster-inventory in the config file"))
        #expect(c.message?.text == "cluster restore: no cluster inventory: set cluster-inventory in the config file")
        #expect(c.message?.isError == true)
    }

    @Test("A host's long lines wrap inside its column; four hosts still fit 80 columns")
    func columns() {
        #expect(ClusterRestoreScreen.wrap("copied to /var/lib/etcd-backup/snapshot.db; SHA-256 checked there", width: 20)
                == ["copied to", "/var/lib/etcd-backup", "/snapshot.db;", "SHA-256 checked", "there"])
        var c = F.withSnapshots(3)
        var four = Self.planned
        four.hosts.append(.init(name: "master-4", host: "root@10.0.0.4"))
        let ref = SnapshotRef(name: F.entry(0).name, path: F.entry(0).path)
        _ = c.apply(.clusterRestorePlanned(ref, four))
        let grid = GoldenScreen.render(c, width: 80, height: 24)
        let header = grid.lines.first { $0.contains("master-1") } ?? ""
        #expect(["master-1", "master-2", "master-3", "master-4"].allSatisfy { header.contains($0) }, "\(grid.text)")
    }

    @Test(":recover (lost quorum): plans from the member with the newest data; yes runs the recovery from it")
    func recover() throws {
        var c = F.withSnapshots(3)
        _ = c.handle(.character(":"))
        #expect(Self.type(&c, "recover") + c.handle(.enter) == [.planQuorumRecovery])
        var view = Self.planned
        view.snapshot = "master-1's data (revision 4242, the newest)"
        view.survivor = "master-1"
        view.append("data at revision 4242", to: "master-1")
        view.append("/var/lib/etcd/member/snap/db cannot be read: no such file", to: "master-2")
        _ = c.apply(.clusterRestorePlanned(SnapshotRef(name: view.snapshot, path: ""), view))
        let grid = GoldenScreen.render(c, width: 80, height: 24)
        #expect(grid.text.contains("Quorum recovery: plan"), "\(grid.text)")
        #expect(grid.text.contains("from master-1's data (revision 4242, the newest)"), "\(grid.text)")
        _ = c.handle(.enter)
        guard case .confirm(let confirmation) = c.overlay else { Issue.record("no confirmation"); return }
        #expect(confirmation.title == "Recover the cluster from master-1's data")
        let effects = Self.type(&c, "yes") + c.handle(.enter)
        let job = try #require(c.jobs.running.first)
        #expect(effects == [.runQuorumRecovery(job: job.id, survivor: "master-1")])
        #expect(job.target == "quorum recovery from master-1 (3 members)")
    }
}
