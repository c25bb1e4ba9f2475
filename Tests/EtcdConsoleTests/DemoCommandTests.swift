import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `etcd-console demo` on a terminal: tmux gives it one (80x24), as an operator's SSH session would.
@Suite("etcd-console demo, in tmux")
struct DemoCommandTests {
    static let tmux = "/usr/bin/tmux"

    /// A tmux session running `command` on its own server socket; the pane's text (wrapped lines joined) and a
    /// way to type into it. tmux is run with posix_spawn and waitpid: Foundation's Process misses the exit of a
    /// `new-session` client (it stays a zombie and the call hangs).
    struct Session {
        let name = "demo"
        let socket: String

        static func start(_ command: String, in dir: URL) throws -> Session {
            let session = Session(socket: dir.appendingPathComponent("tmux.sock").path)
            try session.tmux(["new-session", "-d", "-s", session.name, "-x", "80", "-y", "24", command])
            return session
        }

        @discardableResult
        func tmux(_ arguments: [String]) throws -> String {
            // spawnAndWait (TmuxSession.swift): a clean signal mask, only descriptors 0-2 (the demo's hang-up
            // handling is under test).
            let (status, text) = try spawnAndWait([DemoCommandTests.tmux, "-S", socket] + arguments)
            guard status == 0 else { throw EtcdTestSupportError("tmux \(arguments.joined(separator: " ")) failed (\(status)): \(text)") }
            return text
        }

        func screen() -> String { (try? tmux(["capture-pane", "-p", "-J", "-S", "-200", "-t", name])) ?? "" }

        func keys(_ keys: String...) throws { try tmux(["send-keys", "-t", name] + keys) }

        /// Waits until the pane shows `text`. The limit only keeps a stuck demo from hanging the run; nothing is timed.
        @discardableResult
        func waitFor(_ text: String) async throws -> String {
            for _ in 0..<3000 {
                let shown = screen()
                if shown.contains(text) { return shown }
                try await Task.sleep(for: .milliseconds(100))
            }
            let shown = screen()
            try #require(shown.contains(text), "never saw \"\(text)\" in:\n\(shown)")
            return shown
        }

        func kill() { _ = try? tmux(["kill-server"]) }
    }

    /// etcd processes whose command line mentions `path` (the sandbox's data dir).
    static func etcdProcesses(under path: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.filter { pid in
            let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            let text = String(decoding: cmdline, as: UTF8.self)
            return text.hasPrefix("/") && text.contains("etcd") && text.contains(path)
        }
    }

    @Test("--drill: the sandbox comes up, etcd refuses to start after the breakage, the console shows the doctor, q removes everything")
    func drillAndEnter() async throws {
        let dir = try TestDirectories.make("demo-tmux")
        let session = try Session.start("TMPDIR=\(dir.path) \(ConsoleBinary.path) demo --drill --objects 1500 --etcd /usr/bin/etcd; echo demo-exited-$?; sleep 600", in: dir)
        defer { session.kill() }
        // The console opens on the sandbox (over the demo's lines); with the drill's etcd down it says so and
        // shows the doctor's findings.
        let console = try await session.waitFor("snap-db-missing")
        #expect(console.contains("1 Members") && console.contains("etcd unreachable since"), "\(console)")
        let sandboxes = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("etcd-console-demo.") }
        try #require(sandboxes.count == 1, "\(sandboxes)")
        let sandbox = dir.appendingPathComponent(sandboxes[0]).path
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: sandbox + "/backups").filter { $0.hasSuffix(".db") }
        #expect(snapshots.count == 3)
        try session.keys("q")
        // The console gives the screen back: the demo's own lines are there again.
        let done = try await session.waitFor("demo-exited-")
        #expect(done.contains("demo: wrote 500 objects; snapshot snapshot-"), "\(done)")
        #expect(done.contains("demo: drill: `systemctl start etcd` fails: etcdserver: recovering backend from snapshot error: failed to find database snapshot file"),
                "\(done)")
        // etcd runs as a unit of the practice systemctl, which the console finds first on its PATH.
        // (tmux may break that long line at 80 columns even with -J once the console has had the screen)
        #expect(done.replacingOccurrences(of: "\n", with: "").contains(", unit etcd of a practice systemctl)"), "\(done)")
        #expect(done.contains("the console exited (status 0)"), "\(done)")
        #expect(done.contains("demo: etcd stopped; removed \(sandbox)"))
        #expect(done.contains("demo-exited-0"), "\(done)")
        #expect(!FileManager.default.fileExists(atPath: sandbox))
        #expect(Self.etcdProcesses(under: sandbox).isEmpty)
    }

    @Test("Closing the terminal (tmux kill-server, SIGHUP) stops etcd and removes the sandbox")
    func hangUp() async throws {
        let dir = try TestDirectories.make("demo-hup")
        // exec: the demo is the pane's process, which tmux hangs up when the server goes.
        let session = try Session.start("exec env TMPDIR=\(dir.path) \(ConsoleBinary.path) demo --objects 300 --etcd /usr/bin/etcd", in: dir)
        defer { session.kill() }
        _ = try await session.waitFor("members healthy")   // the console, on the sandbox's etcd
        let sandboxes = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("etcd-console-demo.") }
        let sandbox = dir.appendingPathComponent(try #require(sandboxes.first)).path
        try #require(!Self.etcdProcesses(under: sandbox).isEmpty, "etcd is not running in \(sandbox)")
        session.kill()
        var gone = false
        for _ in 0..<600 where !gone {
            gone = !FileManager.default.fileExists(atPath: sandbox) && Self.etcdProcesses(under: sandbox).isEmpty
            if !gone { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(gone, "after SIGHUP: sandbox exists \(FileManager.default.fileExists(atPath: sandbox)), etcd \(Self.etcdProcesses(under: sandbox))")
    }

    @Test("No etcd: a clear message with how to install it, exit 1, nothing left behind")
    func noEtcd() throws {
        let dir = try TestDirectories.make("demo-noetcd")
        let result = try ConsoleBinary.run(["demo", "--etcd", dir.appendingPathComponent("etcd").path], environment: ["TMPDIR": dir.path])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: no etcd at \(dir.path)/etcd: the demo runs a throwaway etcd on loopback and needs the etcd binary."))
        #expect(result.stderr.contains("apt-get install etcd-server"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("--drill with too few objects to make a raft snapshot is a usage error saying how many, before anything starts")
    func drillNeedsEnoughObjects() throws {
        let dir = try TestDirectories.make("demo-too-few")
        let result = try ConsoleBinary.run(["demo", "--drill", "--objects", "300"], environment: ["TMPDIR": dir.path])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.stderr.contains("--drill needs --objects 600 or more"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
