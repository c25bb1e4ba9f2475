import EtcdTestSupport
import Foundation
import Practice
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The practice systemctl must never signal a process it did not start: pids wrap at pid_max (32768 here), so
/// a unit's pid file read after its etcd died can name an unrelated process (a backup run, in one full test run).
@Suite("Practice systemctl: a stale pid file never signals another process")
struct PracticeSystemctlTests {
    /// A live `sleep` that stands for "some other process that got the dead unit's pid".
    static func bystander() throws -> Process {
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["600"]
        try sleeper.run()
        return sleeper
    }

    static func systemctl(_ practice: PracticeSystemctl, _ words: [String]) throws -> CommandResult {
        try runCommand(practice.executable, words)
    }

    @Test("A pid file naming a live process with another start time: the unit is inactive/failed, stop signals nothing")
    func stalePidIsNotSignalled() throws {
        let dir = try TestDirectories.make("practice-stale-pid")
        let practice = try PracticeSystemctl.install(in: dir.path)
        try practice.define(unit: "etcd", command: ["/bin/sleep", "600"])
        let other = try Self.bystander()
        defer { if other.isRunning { kill(other.processIdentifier, SIGKILL) } }
        // What the stand-in would have written for a process that started at tick 1 and has since exited.
        let pidFile = dir.appendingPathComponent("state/etcd.pid").path
        try Data("\(other.processIdentifier) 1\n".utf8).write(to: URL(fileURLWithPath: pidFile))

        #expect(practice.pid(unit: "etcd") == nil)
        let active = try Self.systemctl(practice, ["is-active", "etcd"])
        #expect(active.status == 3)
        #expect(active.stdout == "failed\n")
        let stop = try Self.systemctl(practice, ["stop", "etcd"])
        #expect(stop.status == 0, "\(stop.output)")
        #expect(other.isRunning, "systemctl stop signalled a process it did not start")
        #expect(!FileManager.default.fileExists(atPath: pidFile))
    }

    @Test("start records pid and start time; pid(unit:) and stop find the unit's own process")
    func ownPidIsFound() throws {
        let dir = try TestDirectories.make("practice-own-pid")
        let practice = try PracticeSystemctl.install(in: dir.path)
        // A "daemon" that prints what the stand-in waits for, then stays until SIGTERM (which the test process
        // may pass on blocked or ignored: python resets both, as etcd's Go runtime does).
        let daemon = "import signal, sys, time\n"
            + "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
            + "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])\n"
            + "print('serving client', flush=True)\n"
            + "time.sleep(600)\n"
        let script = dir.appendingPathComponent("daemon.py").path
        try Data(daemon.utf8).write(to: URL(fileURLWithPath: script))
        try practice.define(unit: "etcd", command: ["/usr/bin/python3", script])
        let start = try Self.systemctl(practice, ["start", "etcd"])
        #expect(start.status == 0, "\(start.output)")
        let pid = try #require(practice.pid(unit: "etcd"))
        defer { kill(pid, SIGKILL) }
        let recorded = try String(contentsOfFile: dir.appendingPathComponent("state/etcd.pid").path, encoding: .utf8)
        let words = recorded.split(whereSeparator: \.isWhitespace).map(String.init)
        #expect(words.count == 2 && words[0] == String(pid), "\(recorded)")
        #expect(try Self.systemctl(practice, ["is-active", "etcd"]).stdout == "active\n")
        let stop = try Self.systemctl(practice, ["stop", "etcd"])
        #expect(stop.status == 0, "\(stop.output)")
        #expect(practice.pid(unit: "etcd") == nil)
        #expect(try Self.systemctl(practice, ["is-active", "etcd"]).stdout == "inactive\n")
    }
}
