import EtcdTestSupport
import Foundation
import Practice
import Recovery
import SnapshotStore
import Testing

/// The demo's sandbox, in process (it moved out of the executable into `Practice`): a real etcd under the practice
/// systemctl, three good snapshots, a unit discovery finds, and the drill's breakage. `DemoCommandTests` and
/// `DrillEndToEndTests` run the same through the binary in tmux.
@Suite("The demo sandbox, in process", .serialized)
struct DemoSandboxTests {
    @Test("The drill sandbox: three good snapshots, a discoverable unit naming the practice member, and etcd broken")
    func drillSandbox() async throws {
        let binaries = try EtcdBinaries.locate(.v3_5)
        let root = try TestDirectories.make("demo-sandbox").path
        let sandbox = try DemoSandbox(root: root + "/sandbox", etcdBinary: binaries.etcd)
        let cleanup = DemoCleanup(sandbox: sandbox, keep: false)
        do {
            try await sandbox.build(objects: 1200, drill: true)  // > --snapshot-count 500: the drill needs a .snap
        } catch {
            cleanup.run()
            throw error
        }
        let listing = try SnapshotCatalog.standard(directory: sandbox.backups).list()
        let deployment = try EtcdDiscovery(root: sandbox.discoveryRoot, unit: "etcd").discover()
        let running = sandbox.practice.pid(unit: "etcd")
        cleanup.run()

        #expect(listing.entries.count == 3)
        #expect(listing.entries.allSatisfy { $0.health == .good }, "\(listing.entries.map(\.health))")
        #expect(deployment.settings[.name]?.value == "demo", "the console restores the member the practice etcd runs as")
        #expect(deployment.settings[.dataDir]?.value == sandbox.dataDir)
        #expect(running == nil, "after the drill's breakage etcd refuses to start")
        #expect(!FileManager.default.fileExists(atPath: sandbox.root), "cleanup removes the sandbox")
    }

    @Test("No etcd where the operator said: the error names the path and how to install one")
    func missingEtcd() throws {
        #expect(throws: DemoError.self) { try DemoSandbox.locateEtcd("/nonexistent/etcd", path: []) }
        do {
            _ = try DemoSandbox.locateEtcd("/nonexistent/etcd", path: [])
        } catch {
            #expect("\(error)".hasPrefix("no etcd at /nonexistent/etcd: the demo runs a throwaway etcd on loopback and needs the etcd binary."))
            #expect("\(error)".contains("apt-get install etcd-server"))
        }
    }

    @Test("etcd's log lines are shortened to their message (3.5 JSON and 3.4 text)")
    func logMessage() {
        #expect(DemoSandbox.etcdLogMessage(#"{"level":"fatal","msg":"failed to recover v3 backend from snapshot","error":"failed to find database snapshot file (snap: snapshot file doesn't exist)"}"#)
            == "failed to recover v3 backend from snapshot: failed to find database snapshot file (snap: snapshot file doesn't exist)")
        #expect(DemoSandbox.etcdLogMessage("2026-01-01 00:00:00.000000 C | etcdserver: failed to find database snapshot file") == "etcdserver: failed to find database snapshot file")
    }
}
