import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real single-member etcd on loopback ports, with its data and log in a TestDirectories directory.
// Dropping the value does not stop etcd (Swift may release a value before the end of its scope, mid-test):
// call stop(), or leave it to the exit hook, which kills every etcd this process started.
public final class EtcdProcess: @unchecked Sendable {
    /// What was asked for.
    public let options: EtcdOptions
    /// The programs of `options.version`.
    public let binaries: EtcdBinaries
    /// The member's data directory (created by etcd on first start).
    public let dataDir: URL
    /// Where clients connect: "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
    public let clientURL: String
    /// The member's peer URL, always plain http.
    public let peerURL: String
    /// etcd's standard output and standard error, appended to across restarts.
    public let logFile: URL

    /// The flags etcd was started with, reused by `restart()` (and by tests that hand etcd to a service stand-in).
    public let flags: [String]

    /// The full command line: the etcd binary, then `flags`.
    public var commandLine: [String] { [binaries.etcd] + flags }
    /// The etcd process of the latest start.
    private let current: Locked<Process?>

    /// How long `start` and `restart` wait for etcd to serve clients.
    static let readyTimeout: Duration = .seconds(20)

    /// The running etcd's process id (of the latest start).
    public var pid: Int32 {
        current.withLock { $0?.processIdentifier ?? 0 }
    }

    init(options: EtcdOptions, binaries: EtcdBinaries, directory: URL, clientPort: UInt16,
                 peerPort: UInt16) {
        self.options = options
        self.binaries = binaries
        self.dataDir = directory.appendingPathComponent("data", isDirectory: true)
        self.logFile = directory.appendingPathComponent("etcd.log")
        let scheme = if case .none = options.tls { "http" } else { "https" }
        self.clientURL = "\(scheme)://127.0.0.1:\(clientPort)"
        self.peerURL = "http://127.0.0.1:\(peerPort)"
        self.current = Locked(nil)

        var flags = [
            "--name", options.name, "--data-dir", dataDir.path,
            "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
            "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
            "--initial-cluster", "\(options.name)=\(peerURL)", "--initial-cluster-state", "new",
            "--initial-cluster-token", "etcd-console-test",
            "--logger", "zap", "--log-outputs", "stderr",
            // One member has no one to wait for: elect it in 0.1 s instead of 1 s.
            "--heartbeat-interval", "10", "--election-timeout", "100",
        ]
        switch options.tls {
        case .none:
            break
        case let .server(cert, key):
            flags += ["--cert-file", cert, "--key-file", key]
        case let .mutual(cert, key, trustedCA):
            flags += ["--cert-file", cert, "--key-file", key, "--client-cert-auth", "--trusted-ca-file", trustedCA]
        }
        if let ttl = options.authTokenTTLSeconds {
            flags += ["--auth-token-ttl", String(ttl)]
        }
        if let quota = options.quotaBackendBytes {
            flags += ["--quota-backend-bytes", String(quota)]
        }
        self.flags = flags + options.extraFlags
    }

    /// Starts etcd on free loopback ports, waits until it serves clients, and sets up users when `options.auth` is on.
    public static func start(_ options: EtcdOptions) async throws -> EtcdProcess {
        let binaries = try EtcdBinaries.locate(options.version)
        let directory = try TestDirectories.make("etcd-\(options.version.rawValue)-\(options.name)")
        var attempt = 0
        while true {
            attempt += 1
            let ports = try LoopbackPorts.pick(2)
            let etcd = EtcdProcess(options: options, binaries: binaries, directory: directory,
                                   clientPort: ports[0], peerPort: ports[1])
            do {
                try await etcd.launch()
            } catch let error as EtcdTestSupportError
                where attempt < 3 && error.message.contains("address already in use") {
                // Another program took a port between picking and binding; the member data names the
                // old ports, so start over in an empty data directory.
                try? FileManager.default.removeItem(at: etcd.dataDir)
                continue
            }
            if options.auth {
                do {
                    try etcd.enableAuth()
                } catch {
                    await etcd.stop()
                    throw error
                }
            }
            return etcd
        }
    }

    /// Stops etcd if it runs, starts it again on the same data directory, ports and flags, and waits until it serves.
    public func restart() async throws {
        await stop()
        try await launch()
    }

    /// Sends SIGTERM, waits up to 10 s for etcd to exit, then sends SIGKILL.
    public func stop() async {
        guard let process = current.withLock({ $0 }), process.isRunning else { return }
        sendSignal(SIGTERM, to: process.processIdentifier)
        if await waitUntilExited(timeout: .seconds(10)) { return }
        sendSignal(SIGKILL, to: process.processIdentifier)
        _ = await waitUntilExited(timeout: .seconds(10))
    }

    /// `stop()` for a `defer`, which cannot await: SIGTERM, then SIGKILL after 10 s, returning once etcd has
    /// exited and been reaped, so the next test never shares the machine with this one's etcd. It blocks the
    /// calling thread while it waits (about 50 ms for a healthy etcd).
    public func stopNow() {
        guard let process = current.withLock({ $0 }), process.isRunning else { return }
        sendSignal(SIGTERM, to: process.processIdentifier)
        if Self.waitBlocking(process, timeout: .seconds(10)) { return }
        sendSignal(SIGKILL, to: process.processIdentifier)
        _ = Self.waitBlocking(process, timeout: .seconds(10))
    }

    private static func waitBlocking(_ process: Process, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    /// Sends SIGKILL now and returns at once (for "etcd died mid-stream" tests); `waitUntilExited` waits for the exit.
    public func kill() {
        guard let process = current.withLock({ $0 }), process.isRunning else { return }
        sendSignal(SIGKILL, to: process.processIdentifier)
    }

    /// Waits until etcd has exited and been reaped; false when it still runs after `timeout`.
    public func waitUntilExited(timeout: Duration) async -> Bool {
        guard let process = current.withLock({ $0 }) else { return true }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Runs this release's etcdctl with ETCDCTL_API=3 and `etcdctlFlags()` before `arguments` (so a later --user wins).
    public func etcdctl(_ arguments: [String], environment: [String: String] = [:],
                        stdin: String? = nil) throws -> CommandResult {
        // stdin feeds `put KEY` with a value too big for an argument, or `txn -i`.
        try runEtcdctl(try etcdctlFlags() + arguments, environment: environment, stdin: stdin)
    }

    /// --endpoints, TLS files (test CA; for mutual TLS the client pair of the CA etcd trusts), --user root when auth.
    public func etcdctlFlags() throws -> [String] {
        var flags = try etcdctlConnectionFlags()
        if options.auth {
            flags.append("--user=root:\(EtcdOptions.rootPassword)")
        }
        return flags
    }

    /// Runs offline data commands: etcdutl for 3.5, etcdctl with ETCDCTL_API=3 for 3.4 (snapshot status/restore).
    public func etcdutl(_ arguments: [String]) throws -> CommandResult {
        if let etcdutl = binaries.etcdutl {
            return try runCommand(etcdutl, arguments, environment: [:], dropping: ["ETCD_", "ETCDCTL_"], stdin: nil,
                                  timeout: .seconds(120))
        }
        return try runEtcdctl(arguments, environment: [:], stdin: nil)
    }

    /// The endpoint and TLS flags, without --user.
    private func etcdctlConnectionFlags() throws -> [String] {
        var flags = ["--endpoints=\(clientURL)"]
        switch options.tls {
        case .none:
            break
        case .server:
            flags.append("--cacert=\(try TestCertificates.make().caCert)")
        case let .mutual(_, _, trustedCA):
            let certificates = try TestCertificates.make()
            let byOtherCA = trustedCA == certificates.otherCACert
            flags += ["--cacert=\(certificates.caCert)",
                      "--cert=\(byOtherCA ? certificates.otherClientCert : certificates.clientCert)",
                      "--key=\(byOtherCA ? certificates.otherClientKey : certificates.clientKey)"]
        }
        return flags
    }

    /// Runs etcdctl with exactly these arguments, ETCDCTL_API=3, and no inherited ETCD_/ETCDCTL_ variables.
    private func runEtcdctl(_ arguments: [String], environment: [String: String],
                            stdin: String?) throws -> CommandResult {
        var environment = environment
        environment["ETCDCTL_API"] = environment["ETCDCTL_API"] ?? "3"
        return try runCommand(binaries.etcdctl, arguments, environment: environment,
                              dropping: ["ETCD_", "ETCDCTL_"], stdin: stdin, timeout: .seconds(60))
    }

    /// Creates root (role root) and alice (no roles), then turns auth on; skipped steps would leave etcd open.
    private func enableAuth() throws {
        let connection = try etcdctlConnectionFlags()
        let steps: [[String]] = [
            ["user", "add", "root", "--new-user-password=\(EtcdOptions.rootPassword)", "--interactive=false"],
            ["role", "add", "root"],
            ["user", "grant-role", "root", "root"],
            ["user", "add", "alice", "--new-user-password=\(EtcdOptions.alicePassword)", "--interactive=false"],
            ["auth", "enable"],
        ]
        for step in steps {
            let result = try runEtcdctl(connection + step, environment: [:], stdin: nil)
            guard result.succeeded else {
                throw EtcdTestSupportError(
                    "could not set up auth on etcd \(options.version.rawValue) at \(clientURL): etcdctl "
                        + "\(step.joined(separator: " ")) exited \(result.status): "
                        + result.output.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
    }

    /// Spawns etcd with `flags`, appending to the log, and waits until it serves clients.
    func launch() async throws {
        if !FileManager.default.fileExists(atPath: logFile.path) {
            guard FileManager.default.createFile(atPath: logFile.path, contents: nil) else {
                throw EtcdTestSupportError("could not create etcd's log file \(logFile.path)")
            }
        }
        let log = try FileHandle(forWritingTo: logFile)
        defer { try? log.close() }
        let logStart = try log.seekToEnd()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binaries.etcd)
        process.arguments = flags
        process.environment = childEnvironment(adding: [:], dropping: ["ETCD_", "ETCDCTL_"])
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { SpawnedProcesses.shared.forget($0.processIdentifier) }
        do {
            try process.run()
        } catch {
            throw EtcdTestSupportError("could not start \(binaries.etcd): \(error)")
        }
        SpawnedProcesses.shared.record(process)
        current.withLock { $0 = process }
        do {
            try await waitUntilServing(process, logStart: logStart)
        } catch {
            sendSignal(SIGKILL, to: process.processIdentifier)
            _ = await waitUntilExited(timeout: .seconds(10))
            throw error
        }
    }

    /// Waits for etcd's "serving client traffic" log line (3.4 and 3.5 both print it) after `logStart`.
    private func waitUntilServing(_ process: Process, logStart: UInt64) async throws {
        // Not /health or `etcdctl endpoint health`: /health (3.4 and 3.5) and 3.5's etcdctl report unhealthy
        // while NOSPACE is raised, and etcdctl cannot verify a deliberately bad certificate (expired, wrong host).
        let deadline = ContinuousClock.now + Self.readyTimeout
        while true {
            let log = logSince(logStart)
            if log.contains("serving client traffic") { return }
            if !process.isRunning {
                throw EtcdTestSupportError(
                    "etcd \(options.version.rawValue) (\(binaries.etcd)) exited with status "
                        + "\(process.terminationStatus) before serving \(clientURL); "
                        + "last lines of \(logFile.path):\n\(Self.tail(log))")
            }
            if ContinuousClock.now >= deadline {
                throw EtcdTestSupportError(
                    "etcd \(options.version.rawValue) (\(binaries.etcd)) did not serve \(clientURL) within "
                        + "\(Self.readyTimeout); last lines of \(logFile.path):\n\(Self.tail(log))")
            }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    /// The log text written since byte `offset`.
    private func logSince(_ offset: UInt64) -> String {
        guard let handle = try? FileHandle(forReadingFrom: logFile) else { return "" }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd() else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The last 30 lines of a log, and how to keep the whole of it.
    static func tail(_ log: String) -> String {
        log.split(separator: "\n", omittingEmptySubsequences: false).suffix(30).joined(separator: "\n")
            + "\n(the log is removed when the tests exit; ETCD_CONSOLE_KEEP_TEST_DIRS=1 keeps it)"
    }
}
