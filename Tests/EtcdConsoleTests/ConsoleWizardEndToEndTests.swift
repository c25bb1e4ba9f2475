import EtcdTestSupport
import Foundation
import Practice
import Recovery
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A host whose etcd runs as the unit `etcd` of the practice systemctl (systemd is not PID 1 here), with a
/// snapshot taken by etcd-console and one key written after it (`after-snapshot`).
struct PracticeHost {
    let etcd: EtcdProcess
    let root: URL
    let backups: String
    let snapshotName: String
    let podsInSnapshot: Int
    /// PATH with the practice systemctl and etcd 3.5's tools first.
    let path: String
    let systemctlPath: String

    static func make(_ name: String) async throws -> PracticeHost {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: name))
        let root = try TestDirectories.make(name)
        let backups = root.appendingPathComponent("backups").path
        let fill = try ConsoleBinary.run(["fill", "--endpoints", etcd.clientURL, "--count", "300"])
        try #require(fill.succeeded, "\(fill.output)")
        let save = try ConsoleBinary.run(["snapshot", "save", "--endpoints", etcd.clientURL, "--dir", backups])
        try #require(save.succeeded, "\(save.output)")
        try #require(try etcd.etcdctl(["put", "after-snapshot", "written after the snapshot"]).succeeded)
        let pods = try etcd.etcdctl(["get", "/registry/pods/", "--prefix", "--keys-only"]).stdout.split(separator: "\n").count
        await etcd.stop()

        let practice = try PracticeSystemctl.install(in: root.appendingPathComponent("practice").path)
        try practice.define(unit: "etcd", command: etcd.commandLine)
        let tools = (etcd.binaries.etcdctl as NSString).deletingLastPathComponent
        let path = "\(practice.binDirectory):\(tools):/usr/sbin:/usr/bin:/sbin:/bin"
        let host = PracticeHost(etcd: etcd, root: root, backups: backups,
                                snapshotName: (save.stdout.trimmingCharacters(in: .whitespacesAndNewlines) as NSString).lastPathComponent,
                                podsInSnapshot: pods, path: path, systemctlPath: practice.executable)
        try await host.systemctl("start")
        return host
    }

    /// Runs the practice systemctl (spawnAndWait: the etcd it starts must not keep this process's descriptors).
    /// A script written a moment ago can fail to exec with "Text file busy" while a parallel test forks (the child
    /// holds the writer's descriptor until its own exec): that is retried.
    func systemctl(_ verb: String) async throws {
        for attempt in 1...20 {
            do {
                let (status, output) = try spawnAndWait([systemctlPath, verb, "etcd"], environment: ["PATH": path, "HOME": root.path])
                guard status == 0 else {
                    Issue.record("practice systemctl \(verb) etcd failed (status \(status)): \(output)")
                    throw EtcdTestSupportError("practice systemctl \(verb) etcd failed")
                }
                return
            } catch where "\(error)".contains("Text file busy") && attempt < 20 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Ends the unit's etcd before the test returns (SIGKILL: the host is thrown away). A `defer` cannot await,
    /// and a detached task may outlive the test process and leave etcd running.
    func stopNow() {
        let practice = PracticeSystemctl(directory: root.appendingPathComponent("practice").path)
        if let pid = practice.pid(unit: "etcd") {
            kill(pid, SIGKILL)
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(20_000) }
        }
    }

    func console() throws -> TmuxSession {
        try TmuxSession(["--endpoints", etcd.clientURL, "--dir", backups, "--data-dir", etcd.dataDir.path, "--unit", "etcd"],
                        environment: ["PATH": path, "HOME": root.path])
    }

    /// Waits for the confirmation showing `prompt`, types yes, and waits for the wizard's end (RESTORED or FAILED).
    func confirmWithYes(_ tmux: TmuxSession, prompt: String) async throws -> String {
        try await tmux.waitFor(prompt)
        try tmux.press("-l", "yes")
        try tmux.press("Enter")
        return try await tmux.waitUntil("the end of the wizard") { $0.contains("RESTORED") || $0.contains("FAILED") }
    }

    var snapshotPath: String { backups + "/" + snapshotName }
    func pods() throws -> Int { try etcd.etcdctl(["get", "/registry/pods/", "--prefix", "--keys-only"]).stdout.split(separator: "\n").count }
    func hasAfterSnapshotKey() throws -> Bool { !(try etcd.etcdctl(["get", "after-snapshot"]).stdout.isEmpty) }
}

/// The restore wizard in tmux against that host: the console stops etcd, restores, starts it, and etcd
/// comes back with the snapshot's pods; an interrupted restore is offered for rollback at the next start.
@Suite("Console restore wizard end to end in tmux")
struct ConsoleWizardEndToEndTests {
    @Test("R shows the plan with its commands, yes runs it, etcd comes back with the snapshot's pods")
    func restore() async throws {
        let host = try await PracticeHost.make("console-wizard")
        defer { host.stopNow() }
        let tmux = try host.console()
        try await tmux.waitFor("1/1 members healthy · leader console-wizard")
        try tmux.press("2")
        try await tmux.waitFor(host.snapshotName)
        try tmux.press("R")
        let review = try await tmux.waitFor("nothing changed yet")
        #expect(review.contains("into \(host.etcd.dataDir.path)"), "\(review)")
        #expect(review.contains("member console-wizard · systemd unit etcd"), "\(review)")
        try tmux.press("Down")
        try await tmux.waitFor("$ systemctl stop etcd")
        try tmux.press("Enter")
        let done = try await host.confirmWithYes(tmux, prompt: "type console-wizard or yes")
        #expect(done.contains("RESTORED"), "\(done)")
        #expect(done.contains("pods found: \(host.podsInSnapshot)"), "\(done)")
        #expect(done.contains("restored \(host.snapshotName) into"), "\(done)")
        #expect(done.contains("the old data dir is kept at"), "\(done)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: host.etcd.dataDir.deletingLastPathComponent().path)
            .filter { $0.hasPrefix("data.before-restore-") }
        #expect(aside.count == 1, "the old data dir is moved aside, not deleted: \(aside)")

        // etcd is back under the unit, with the snapshot's data: the key written afterwards is gone.
        #expect(try host.pods() == host.podsInSnapshot)
        #expect(try !host.hasAfterSnapshotKey())
        try tmux.press("Escape")
        try await tmux.waitFor("1/1 members healthy")
        try tmux.press("q")
        try await tmux.waitFor("EXITED 0")
    }

    @Test("A restore killed after the move: the next console start offers it; b and yes roll it back, etcd runs its own data")
    func unfinishedRollback() async throws {
        let host = try await PracticeHost.make("console-journal")
        defer { host.stopNow() }
        // etcd-console restore, SIGKILLed once its journal records the data dir moved aside (an SSH drop). Its
        // restore tool only sleeps, so the kill lands inside the restore step however busy the machine is.
        let slow = host.root.appendingPathComponent("slow-tools")
        try FileManager.default.createDirectory(at: slow, withIntermediateDirectories: true)
        let etcdutl = host.path.split(separator: ":")[1] + "/etcdutl"
        let sleeper = slow.appendingPathComponent("sleeping.pid").path
        try Data("#!/bin/sh\n[ \"$1\" = snapshot ] && echo $$ > \(sleeper) && exec sleep 60\nexec \(etcdutl) \"$@\"\n".utf8)
            .write(to: slow.appendingPathComponent("etcdutl"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: slow.appendingPathComponent("etcdutl").path)
        let command = ([EtcdConsoleBinary.path, "restore", host.snapshotPath, "--yes", "--data-dir", host.etcd.dataDir.path,
                        "--unit", "etcd", "--endpoints", host.etcd.clientURL].map(TmuxSession.quote)).joined(separator: " ")
        let started = try spawnAndWait(["/bin/sh", "-c", "setsid \(command) </dev/null >/dev/null 2>&1 & echo $!"],
                                       environment: ["PATH": slow.path + ":" + host.path, "HOME": host.root.path])
        let pid = try #require(Int32(started.output.trimmingCharacters(in: .whitespacesAndNewlines)), "\(started.output)")
        let journal = RestoreJournal.path(forDataDir: host.etcd.dataDir.path)
        var moved = false
        for _ in 0..<3000 {
            let lines = ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").split(separator: "\n")
            moved = lines.contains { $0.contains("\"event\":\"step-finished\"") && $0.contains("\"step\":\"move-data-dir\"") }
            if moved { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        // The restore tool runs in a process group of its own: end the sleeping stand-in too.
        if let text = try? String(contentsOfFile: sleeper, encoding: .utf8), let tool = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(tool, SIGKILL)
        }
        try #require(moved, "the restore never recorded the move step")

        let tmux = try host.console()
        let offered = try await tmux.waitFor("UNFINISHED RESTORE found")
        #expect(offered.contains("[✓] 3. Move the data dir aside"), "\(offered)")
        try tmux.press("b")
        let done = try await host.confirmWithYes(tmux, prompt: "Roll the unfinished restore back?")
        #expect(done.contains("rolled back: the original data dir is back in place"), "\(done)")
        #expect(done.contains("etcd is running again"), "\(done)")
        #expect(try host.hasAfterSnapshotKey(), "etcd runs the original data, with the key written after the snapshot")
        #expect(!FileManager.default.fileExists(atPath: journal) || RestoreJournal.unfinished(dataDir: host.etcd.dataDir.path) == nil)
        try tmux.press("Escape")
        try tmux.press("q")
        try await tmux.waitFor("EXITED 0")
    }
}
