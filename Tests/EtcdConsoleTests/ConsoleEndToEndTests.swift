import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The console against a real etcd, in tmux at 80x24, read back with capture-pane.
@Suite("Console end to end in tmux")
struct ConsoleEndToEndTests {
    /// An etcd filled with Kubernetes-shaped objects by `etcd-console fill`.
    static func filledEtcd(_ name: String) async throws -> EtcdProcess {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: name))
        let fill = try ConsoleBinary.run(["fill", "--endpoints", etcd.clientURL, "--count", "300"])
        #expect(fill.succeeded, "\(fill.output)")
        return etcd
    }

    @Test("Member row, n takes a snapshot shown on Jobs and in the list, browse shows the pods, q quits")
    func snapshotAndBrowse() async throws {
        let etcd = try await Self.filledEtcd("console-e2e")
        defer { etcd.stopNow() }
        let dir = try TestDirectories.make("console-e2e").appendingPathComponent("backups").path
        let tmux = try TmuxSession(["--endpoints", etcd.clientURL, "--dir", dir, "--data-dir", etcd.dataDir.path])

        let members = try await tmux.waitFor("1/1 members healthy · leader console-e2e")
        let row = members.split(separator: "\n").first { $0.contains("* console-e2e") && $0.contains(etcd.clientURL) }
        #expect(row?.contains("3.5.") == true, "member row with version: \(members)")

        try tmux.press("2")
        try await tmux.waitFor("no snapshots in \(dir) yet")
        try tmux.press("n")
        try tmux.press("3")
        let jobs = try await tmux.waitFor("save ")
        #expect(jobs.contains("new snapshot in \(dir)"), "\(jobs)")
        let done = try await tmux.waitFor("succeeded")
        #expect(done.contains("verified good"), "\(done)")

        try tmux.press("2")
        let list = try await tmux.waitUntil("the new snapshot, good") { $0.contains("-console-e2e.db") && $0.contains("✓ good") }
        #expect(list.contains("1 snapshots"), "\(list)")
        let saved = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".db") }
        #expect(saved.count == 1)
        #expect(list.contains(saved.first ?? "?"))

        // Browse: resources → pods → a namespace → its pod names, as etcd has them.
        try tmux.press("Enter")
        try await tmux.waitFor("› resources")
        for _ in 0..<40 {
            if try tmux.screen().contains("> pods ") { break }
            try tmux.press("Down")
            try await Task.sleep(for: .milliseconds(50))
        }
        try tmux.press("Enter")
        let namespaces = try await tmux.waitFor("› pods")
        let namespace = try #require(namespaces.split(separator: "\n").first { $0.hasPrefix("> ") }?
            .dropFirst(2).split(separator: " ").first.map(String.init))
        try tmux.press("Enter")
        _ = try await tmux.waitFor("› pods › \(namespace)")
        let keys = try etcd.etcdctl(["get", "/registry/pods/\(namespace)/", "--prefix", "--keys-only"])
        let podNames = keys.stdout.split(separator: "\n").map { String($0.split(separator: "/").last!) }.sorted()
        #expect(!podNames.isEmpty)
        // The names come a page at a time (issue 13): the first page arrives after the level opens.
        let names = try await tmux.waitFor("> \(podNames.first ?? "?")")
        for pod in podNames.prefix(5) { #expect(names.contains(pod), "pod \(pod) not shown:\n\(names)") }

        try tmux.press("Escape")
        try await Task.sleep(for: .milliseconds(100))
        try tmux.press("Escape")
        try await Task.sleep(for: .milliseconds(100))
        try tmux.press("Escape")
        try await tmux.waitFor("NAME ")
        try tmux.press("q")
        try await tmux.waitFor("EXITED 0")
    }

    @Test("n into a directory others can list: the save succeeds and its job says so (as snapshot save warns on stderr)")
    func saveWarnsListableDirectory() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-listable"))
        defer { etcd.stopNow() }
        let dir = try TestDirectories.make("console-listable").appendingPathComponent("backups")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let tmux = try TmuxSession(["--endpoints", etcd.clientURL, "--dir", dir.path, "--data-dir", etcd.dataDir.path],
                                   width: 160, height: 40)
        try await tmux.waitFor("1/1 members healthy")
        try tmux.press("2")
        try await tmux.waitFor("no snapshots in \(dir.path) yet")
        try tmux.press("n")
        try tmux.press("3")
        let done = try await tmux.waitFor("succeeded")
        #expect(done.contains("warning: others can list"), "\(done)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".db") }.count == 1)
        try tmux.press("q")
    }

    @Test("A 3-member cluster: c checks every member's keys (the same hash on all), a stopped member shows since when")
    func clusterCheckAndOutage() async throws {
        let cluster = try await EtcdCluster.start(.v3_5, name: "console-ha")
        defer { cluster.stopNow() }
        _ = try cluster.members[0].etcdctl(["put", "/registry/configmaps/default/ha", "v"])
        let dir = try TestDirectories.make("console-ha").appendingPathComponent("backups").path
        let tmux = try TmuxSession(["--endpoints", cluster.endpoints, "--dir", dir, "--data-dir", "/nonexistent",
                                    "--dial-timeout", "2s", "--command-timeout", "3s"], width: 120, height: 40)
        try await tmux.waitFor("3/3 members healthy")
        try tmux.press("c")
        let checked = try await tmux.waitFor("consistent: 3/3 members have the same keys at revision")
        // Table rows: selection mark, leader/learner mark, then the name.
        let rows = checked.split(separator: "\n").filter { $0.range(of: #"^.[ *~] m[123] "#, options: .regularExpression) != nil }
        #expect(rows.count == 3, "\(checked)")
        #expect(rows.allSatisfy { $0.contains(" same") }, "every row carries its hash and 'same': \(checked)")
        cluster.members[1].stopNow()
        let down = try await tmux.waitFor("2/3 members healthy")
        let m2 = down.split(separator: "\n").first { $0.range(of: #"^.[ *~] m2 "#, options: .regularExpression) != nil }.map(String.init) ?? ""
        #expect(m2.contains("not answering since "), "\(down)")
        #expect(down.split(separator: "\n").first { $0.range(of: #"^.[ *~] m1 "#, options: .regularExpression) != nil }?.contains("3.5.") == true,
                "m1 stays live: \(down)")
        try tmux.press("q")
    }

    @Test("etcd stops: the console says since when it is unreachable and shows the doctor's findings; the rest stays usable")
    func etcdDown() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "console-down"))
        let dir = try TestDirectories.make("console-down").appendingPathComponent("backups").path
        let tmux = try TmuxSession(["--endpoints", etcd.clientURL, "--dir", dir, "--data-dir", etcd.dataDir.path])
        try await tmux.waitFor("1/1 members healthy")
        await etcd.stop()
        let down = try await tmux.waitFor("Doctor findings for the data dir")
        #expect(down.contains("   \(etcd.dataDir.path)\n"), "\(down)")
        #expect(down.contains("etcd unreachable since "), "\(down)")
        #expect(down.contains("connection refused"), "\(down)")
        #expect(down.contains("CRITICAL") || down.contains("WARNING"), "no backups is at least a finding: \(down)")
        #expect(try tmux.foregroundColors().contains(31), "unreachable is drawn in red when colors are on")
        try tmux.press("2")
        try await tmux.waitFor("no snapshots in \(dir) yet")
        try tmux.press("q")
        try await tmux.waitFor("EXITED 0")
    }

    @Test("A resized terminal is redrawn whole at the new size: 140 columns show the columns 80 drop; NO_COLOR draws no colors")
    func resize() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-resize"))
        defer { etcd.stopNow() }
        let dir = try TestDirectories.make("console-resize").path
        let tmux = try TmuxSession(["--endpoints", etcd.clientURL, "--dir", dir], environment: ["NO_COLOR": "1"])
        let narrow = try await tmux.waitFor("1/1 members healthy")
        #expect(!narrow.contains("APPLIED"), "\(narrow)")
        try tmux.resize(width: 140, height: 40)
        let wide = try await tmux.waitFor("APPLIED")
        #expect(wide.split(separator: "\n").contains { $0.contains("TERM") && $0.contains("ID") }, "\(wide)")
        #expect(wide.split(separator: "\n", omittingEmptySubsequences: false).count >= 39, "\(wide)")
        #expect(try tmux.foregroundColors().isEmpty, "NO_COLOR: bold, reverse and dim only")
        try tmux.press("q")
        try await tmux.waitFor("EXITED 0")
    }

    @Test("A console whose terminal disappears without a hang-up signal (another session) exits instead of spinning")
    func terminalGoneWithoutSignal() async throws {
        let dir = try TestDirectories.make("console-gone")
        // script(1) gives the console a pseudo-terminal; setsid puts the console in a session of its own, so when
        // script is killed and the terminal's master side closes, no SIGHUP reaches it: only reads tell.
        // Port 9 (discard) on loopback: nothing answers, the console shows etcd unreachable and keeps running.
        let command = ["setsid", EtcdConsoleBinary.path, "--endpoints", "http://127.0.0.1:9", "--dir", dir.path,
                       "--data-dir", dir.path + "/data"].map(TmuxSession.quote).joined(separator: " ")
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        script.arguments = ["-qfc", command, "/dev/null"]
        script.environment = ["TERM": "xterm", "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"]
        let input = Pipe()
        script.standardInput = input
        // What the console draws comes out of script's standard output: the test waits for the first frame there.
        let screen = dir.appendingPathComponent("screen.out")
        FileManager.default.createFile(atPath: screen.path, contents: nil)
        script.standardOutput = try FileHandle(forWritingTo: screen)
        script.standardError = FileHandle.nullDevice
        try script.run()
        var pid: Int32?
        for _ in 0..<300 where pid == nil {
            let found = try spawnAndWait(["/usr/bin/pgrep", "-f", "--", "^\(EtcdConsoleBinary.path) --endpoints http://127.0.0.1:9 --dir \(dir.path) "])
            pid = found.output.split(separator: "\n").first.flatMap { Int32($0) }
            if pid == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let console = try #require(pid, "the console never started under script(1)")
        // It has drawn its first frame (the header names the product) and waits for keys.
        let drawn = ContinuousClock.now + .seconds(60)
        var frame = ""
        while !frame.contains("etcd-console") && ContinuousClock.now < drawn {
            frame = String(decoding: (try? Data(contentsOf: screen)) ?? Data(), as: UTF8.self)
            if !frame.contains("etcd-console") { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(frame.contains("etcd-console"), "the console never drew under script(1): \(frame.suffix(500))")
        #expect(kill(console, 0) == 0, "the console should run while its terminal is there")
        kill(script.processIdentifier, SIGKILL)
        var gone = false
        for _ in 0..<300 where !gone {
            gone = kill(console, 0) != 0 || (try? String(contentsOfFile: "/proc/\(console)/stat", encoding: .utf8))?.split(separator: " ")[2] == "Z"
            if !gone { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(gone, "the console (pid \(console)) still runs after its terminal went away")
        if !gone { kill(console, SIGKILL) }
        try? input.fileHandleForWriting.close()
    }

    @Test("Without a terminal the console refuses with exit 2 and points to the headless commands")
    func noTerminal() throws {
        let result = try ConsoleBinary.run(["--endpoints", "http://127.0.0.1:1"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("error: the console needs a terminal"))
    }
}
