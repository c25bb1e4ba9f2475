import Dispatch
import EtcdClient
import Foundation
import Recovery
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The sandbox: where things are, and the steps that build it. etcd runs as the unit `etcd` of a practice
/// `systemctl` (Recovery's `PracticeSystemctl`), which goes first on the console's PATH, so the console's
/// restore wizard stops and starts it as it would a real systemd unit.
public final class DemoSandbox: @unchecked Sendable {
    public let root: String
    public let etcdBinary: String
    public let practice: PracticeSystemctl
    public let clientPort: Int
    public let peerPort: Int
    private let runner = SystemProcessRunner()

    /// The etcd binary to run: `given` (absolute), else etcd on `path` (pyenv-like shims skipped: they are not
    /// etcd and may run a different one), /usr/bin/etcd, /usr/local/bin/etcd; else an error saying how to install one.
    public static func locateEtcd(_ given: String?, path: [String]) throws -> String {
        let candidates = given.map { [$0] } ?? (path.filter { !$0.contains("/shims") }.map { $0 + "/etcd" } + ["/usr/bin/etcd", "/usr/local/bin/etcd"])
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw DemoError("""
            \(given.map { "no etcd at \($0)" } ?? "etcd is not installed"): the demo runs a throwaway etcd on \
            loopback and needs the etcd binary.
              Debian/Ubuntu: apt-get install etcd-server   (or run scripts/setup in a clone of etcd-console)
              elsewhere:     download etcd from https://github.com/etcd-io/etcd/releases and pass --etcd /path/to/etcd
            """)
        }
        return found
    }

    /// `<parent>/etcd-console-demo.XXXXXX`, mode 0700 (`parent` is $TMPDIR, default /tmp).
    public static func makeTemporaryDirectory(in parent: String) throws -> String {
        var template = Array((parent + "/etcd-console-demo.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw DemoError("could not create a temporary directory in \(parent): \(errnoDescription())")
        }
        return String(cString: made)
    }

    public init(root: String, etcdBinary: String) throws {
        self.root = root
        self.etcdBinary = etcdBinary
        practice = try PracticeSystemctl.install(in: root + "/service")
        clientPort = try freeLoopbackPort()
        peerPort = try freeLoopbackPort()
    }

    public var dataDir: String { root + "/data" }
    /// The root discovery looks under: it holds only the practice unit, so no unit of this host (Debian's
    /// /lib/systemd/system/etcd.service runs etcd as the host name) decides what the console restores.
    public var discoveryRoot: String { root + "/host" }
    public var backups: String { root + "/backups" }
    public var endpoint: String { "http://127.0.0.1:\(clientPort)" }

    /// `systemctl <verb> etcd` through the practice stand-in.
    @discardableResult
    private func systemctl(_ verb: String) async throws -> ProcessOutcome {
        try await runner.run(ProcessRequest(practice.executable, [verb, "etcd"], timeout: .seconds(120)))
    }

    /// Stops etcd without waiting on anything async (cleanup runs in signal handlers too): SIGTERM, then
    /// SIGKILL after 10 seconds, as `systemctl stop` does.
    public func stopEtcdNow() {
        guard let pid = practice.pid(unit: "etcd") else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 where kill(pid, 0) == 0 { usleep(100_000) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    public func build(objects: Int, drill: Bool) async throws {
        say("sandbox in \(root)")
        let peer = "http://127.0.0.1:\(peerPort)"
        // A low --snapshot-count so raft snapshots (.snap files) exist for the drill, as on any busy cluster.
        let command = [
            etcdBinary, "--name", "demo", "--data-dir", dataDir, "--snapshot-count", "500",
            "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "demo=\(peer)",
        ]
        try practice.define(unit: "etcd", command: command)
        try writeDiscoverableUnit(command: command)
        let started = try await systemctl("start")
        guard started.succeeded else { throw DemoError("etcd did not start: \(started.tail())") }
        let client = EtcdClient(EtcdClientConfiguration(endpoints: try Endpoint.parseList(endpoint, defaultSecure: false)))
        do {
            try await fill(client, objects: objects)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
        if drill { try await breakDataDir() }
        say("ready: endpoint \(endpoint), snapshots in \(backups), data dir \(dataDir)")
    }

    /// Waits for etcd, then writes the objects in three rounds with a snapshot after each.
    private func fill(_ client: EtcdClient, objects: Int) async throws {
        try await waitUntilServing(client)
        say("etcd \(etcdBinary) serves \(endpoint) (pid \(practice.pid(unit: "etcd")?.description ?? "?"), unit etcd of a practice systemctl)")

        // Three snapshots "an hour apart", with objects added between them, so list and diff have something to show.
        let catalog = SnapshotCatalog.standard(directory: backups)
        let now = Date()
        let share = objects / 3
        for step in 0..<3 {
            let (written, _) = try await writeSampleObjects(to: client, limit: .count(step == 2 ? objects - 2 * share : share),
                                                            seed: UInt64(step + 1), concurrency: 16)
            let saved = try await catalog.saveVerified(from: client, takenAt: now - Double(2 - step) * 3600)
            say("wrote \(written) objects; snapshot \((saved.save.path as NSString).lastPathComponent) (\(formatBytes(saved.save.size)), revision \(saved.save.revision))")
        }
    }

    /// The practice unit as a systemd unit file under `discoveryRoot`, so the console's discovery finds the
    /// very command the practice systemctl runs (name, data dir, peer URLs, the etcd binary and its tools).
    private func writeDiscoverableUnit(command: [String]) throws {
        let directory = discoveryRoot + "/etc/systemd/system"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let unit = "[Unit]\nDescription=etcd of the etcd-console demo (run by a practice systemctl)\n\n"
            + "[Service]\nExecStart=\(command.joined(separator: " "))\n"
        try AtomicFileWriter.replace(directory + "/etcd.service", with: Data(unit.utf8), mode: 0o600)
    }

    /// Stops etcd, breaks the data dir, and shows etcd refusing to start.
    private func breakDataDir() async throws {
        try await systemctl("stop")
        let breakage = try FoundingFailure.reproduce(dataDir: dataDir)
        say("drill: power loss simulated: the db's consistent index is \(breakage.consistentIndex), below the raft snapshot \(breakage.snapFile) (index \(breakage.snapIndex)), and its .snap.db is missing")
        let start = try await systemctl("start")
        let log = (try? String(contentsOfFile: practice.logPath(unit: "etcd"), encoding: .utf8)) ?? ""
        let lines = log.split(separator: "\n").map(String.init)
        let panic = (lines.first { $0.contains("failed to find database snapshot file") }
            ?? lines.first { $0.contains("snapshot file doesn't exist") } ?? lines.first { $0.hasPrefix("panic:") })
            .map(Self.etcdLogMessage)
        if !start.succeeded {
            say("drill: `systemctl start etcd` fails: \(panic ?? "see \(practice.logPath(unit: "etcd"))")")
        } else {
            say("drill: etcd still starts after the breakage (an etcd older than 3.3?); stopping it")
            try await systemctl("stop")
        }
        say("drill: bring it back: in the console's restore wizard, or by hand (README, \"Restoring by hand\")")
    }

    /// The message of one etcd log line: `msg: error` of a JSON line (3.5+), the text after `| ` of a 3.4 line.
    public static func etcdLogMessage(_ line: String) -> String {
        if line.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
           let message = object["msg"] as? String {
            return message + ((object["error"] as? String).map { ": " + $0 } ?? "")
        }
        return line.range(of: " | ").map { String(line[$0.upperBound...]) } ?? line
    }

    private func waitUntilServing(_ client: EtcdClient) async throws {
        var lastError: Error?
        for _ in 0..<200 {
            guard practice.pid(unit: "etcd") != nil else {
                throw DemoError("etcd exited at start; its log: \(practice.logPath(unit: "etcd"))")
            }
            do {
                _ = try await client.clusterStatus()
                return
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw DemoError("etcd did not answer on \(endpoint) within 20 seconds: \(lastError.map { "\($0)" } ?? "")")
    }

    /// Runs the console (`program`, this etcd-console) on the sandbox as a child with the terminal; returns its
    /// exit status. Throws when it cannot be started.
    public func runConsole(program: String) throws -> Int32 {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = practice.binDirectory + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        for name in environment.keys where name.hasPrefix("ETCDCTL_") || name.hasPrefix("ETCD_CONSOLE_") { environment[name] = nil }
        let arguments = ["--endpoints", endpoint, "--dir", backups, "--data-dir", dataDir, "--unit", "etcd",
                         "--discovery-root", discoveryRoot]
        say("opening the console: etcd-console \(arguments.joined(separator: " "))")
        fflush(nil)
        // The console owns the terminal and its keys; the demo only waits. It stays in the demo's process group
        // (Foundation's Process would start it in its own, in the background: it could not read keys, and a
        // hang-up would not reach it).
        signal(SIGINT, SIG_IGN)
        defer { signal(SIGINT, SIG_DFL) }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGPIPE)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &none)   // the calling thread may block signals; the console must not
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, nil, &attributes, argv, envp)
        guard spawned == 0 else {
            throw DemoError("could not start the console \(program): \(errnoDescription(spawned))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    public func say(_ text: String) { print("demo: " + text) }
}

/// Stops etcd and removes the sandbox, once.
public final class DemoCleanup: @unchecked Sendable {
    private let sandbox: DemoSandbox
    private let keep: Bool
    private let lock = NSLock()
    private var done = false

    public init(sandbox: DemoSandbox, keep: Bool) {
        self.sandbox = sandbox
        self.keep = keep
    }

    /// Holds the lock throughout, so a signal handler that arrives while the main thread cleans up waits for it
    /// to finish before the process exits.
    public func run() {
        lock.lock()
        defer { lock.unlock() }
        guard !done else { return }
        done = true
        sandbox.stopEtcdNow()
        if keep {
            sandbox.say("etcd stopped; kept \(sandbox.root)")
        } else {
            try? FileManager.default.removeItem(atPath: sandbox.root)
            sandbox.say("etcd stopped; removed \(sandbox.root)")
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw DemoError("could not create a socket: \(errnoDescription())") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    guard bound == 0 else { throw DemoError("could not bind a loopback port: \(errnoDescription())") }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
