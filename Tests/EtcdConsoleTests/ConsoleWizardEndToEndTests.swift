import EtcdTestSupport
import Foundation
import Recovery
import Testing

/// The restore wizard in tmux against a real etcd run as the unit `etcd` by the practice systemctl
/// (systemd is not PID 1 here): the console stops it, restores the snapshot, starts it, and etcd comes
/// back with the snapshot's pods.
@Suite("Console restore wizard end to end in tmux")
struct ConsoleWizardEndToEndTests {
    @Test("R shows the plan with its commands, yes runs it, etcd comes back with the snapshot's pods")
    func restore() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-wizard"))
        let root = try TestDirectories.make("console-wizard")
        let dir = root.appendingPathComponent("backups").path
        let fill = try ConsoleBinary.run(["fill", "--endpoints", etcd.clientURL, "--count", "300"])
        try #require(fill.succeeded, "\(fill.output)")
        let save = try ConsoleBinary.run(["snapshot", "save", "--endpoints", etcd.clientURL, "--dir", dir])
        try #require(save.succeeded, "\(save.output)")
        let snapshotName = (save.stdout.trimmingCharacters(in: .whitespacesAndNewlines) as NSString).lastPathComponent
        try #require(try etcd.etcdctl(["put", "after-snapshot", "written after the snapshot"]).succeeded)
        let podsInSnapshot = try etcd.etcdctl(["get", "/registry/pods/", "--prefix", "--keys-only"]).stdout
            .split(separator: "\n").count
        await etcd.stop()

        // etcd as a unit of the practice systemctl, which the console finds first on PATH.
        let practice = try PracticeSystemctl.install(in: root.appendingPathComponent("practice").path)
        try practice.define(unit: "etcd", command: etcd.commandLine)
        let tools = (etcd.binaries.etcdctl as NSString).deletingLastPathComponent
        let path = "\(practice.binDirectory):\(tools):/usr/sbin:/usr/bin:/sbin:/bin"
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ETCDCTL_") && !$0.key.hasPrefix("ETCD_") }
        environment["PATH"] = path
        environment["HOME"] = root.path
        environment["KUBECONFIG"] = nil
        let runner = SystemProcessRunner(environment: environment)
        let start = try await runner.run(ProcessRequest("systemctl", ["start", "etcd"], timeout: .seconds(60)))
        try #require(start.succeeded, "practice systemctl start etcd: \(start.output)")
        defer { Task { _ = try? await runner.run(ProcessRequest("systemctl", ["stop", "etcd"], timeout: .seconds(30))) } }

        let tmux = try TmuxSession(["--endpoints", etcd.clientURL, "--dir", dir, "--data-dir", etcd.dataDir.path, "--unit", "etcd"],
                                   environment: ["PATH": path, "HOME": root.path])
        try await tmux.waitFor("1/1 members healthy · leader console-wizard")
        try tmux.press("2")
        try await tmux.waitFor(snapshotName)
        try tmux.press("R")
        let review = try await tmux.waitFor("nothing changed yet")
        #expect(review.contains("into \(etcd.dataDir.path)"), "\(review)")
        #expect(review.contains("member console-wizard · systemd unit etcd"), "\(review)")
        try tmux.press("Down")
        try await tmux.waitFor("$ systemctl stop etcd")
        try tmux.press("Enter")
        try await tmux.waitFor("type console-wizard or yes")
        try tmux.press("-l", "yes")
        try tmux.press("Enter")
        let done = try await tmux.waitUntil("the end of the restore") { $0.contains("RESTORED") || $0.contains("FAILED") }
        #expect(done.contains("RESTORED"), "\(done)")
        #expect(done.contains("pods found: \(podsInSnapshot)"), "\(done)")
        #expect(done.contains("restored \(snapshotName) into"), "\(done)")
        #expect(done.contains("the old data dir is kept at"), "\(done)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: etcd.dataDir.deletingLastPathComponent().path)
            .filter { $0.hasPrefix("data.before-restore-") }
        #expect(aside.count == 1, "the old data dir is moved aside, not deleted: \(aside)")

        // etcd is back under the unit, with the snapshot's data: the key written afterwards is gone.
        let pods = try etcd.etcdctl(["get", "/registry/pods/", "--prefix", "--keys-only"]).stdout.split(separator: "\n").count
        #expect(pods == podsInSnapshot)
        #expect(try etcd.etcdctl(["get", "after-snapshot"]).stdout.isEmpty)
        try tmux.press("Escape")
        try await tmux.waitFor("1/1 members healthy")
        try tmux.press("q")
        try await tmux.waitFor("EXITED 0")
    }
}
