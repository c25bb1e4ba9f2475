import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A test host for the HA tests: a real OpenSSH sshd (Debian openssh-server, /usr/sbin/sshd) listening on its own
/// loopback address (127.0.0.2, 127.0.0.3, ...) and port, with a host key and an authorized client key made at
/// test time. `SetEnv` gives every session on it the host's own PATH (its practice systemctl first), so each test
/// host runs its own etcd member although they share the file system.
public final class SSHTestHost: @unchecked Sendable {
    /// The client side: one key pair and the known_hosts file every host's key is added to.
    public struct Client: Sendable {
        public let directory: URL
        public var identityFile: String { directory.appendingPathComponent("id_ed25519").path }
        public var knownHostsFile: String { directory.appendingPathComponent("known_hosts").path }
        /// The `--ssh-option` values for etcd-console (and the `-o` options for ssh): this key, these host keys
        /// only, checked strictly.
        public var options: [String] {
            ["IdentityFile=\(identityFile)", "UserKnownHostsFile=\(knownHostsFile)", "StrictHostKeyChecking=yes",
             "IdentitiesOnly=yes", "GlobalKnownHostsFile=/dev/null"]
        }

        public static func make() throws -> Client {
            let client = Client(directory: try TestDirectories.make("ssh-client"))
            let result = try runCommand("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "etcd-console-test", "-f", client.identityFile])
            guard result.status == 0 else { throw EtcdTestSupportError("ssh-keygen failed: \(result.output)") }
            FileManager.default.createFile(atPath: client.knownHostsFile, contents: Data())
            return client
        }
    }

    public let address: String
    public let port: Int
    public let directory: URL
    public let logFile: URL
    private let configFile: URL
    private var pid: pid_t?
    private let lock = NSLock()

    /// The destination etcd-console's inventory names ("root@127.0.0.2").
    public var destination: String { "root@\(address)" }

    /// Starts sshd on `address` (a free port), trusting `client`'s key, every session getting `path` as PATH and
    /// `environment` (values without spaces).
    public static func start(address: String, client: Client, path: String,
                             environment: [String: String] = [:]) async throws -> SSHTestHost {
        let sshd = "/usr/sbin/sshd"
        guard FileManager.default.isExecutableFile(atPath: sshd) else {
            throw EtcdTestSupportError("\(sshd) not found: run scripts/setup, which installs Debian's openssh-server")
        }
        let directory = try TestDirectories.make("sshd-\(address)")
        let hostKey = directory.appendingPathComponent("ssh_host_ed25519_key").path
        let keygen = try runCommand("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey])
        guard keygen.status == 0 else { throw EtcdTestSupportError("ssh-keygen failed: \(keygen.output)") }
        let authorized = directory.appendingPathComponent("authorized_keys")
        try FileManager.default.copyItem(atPath: client.identityFile + ".pub", toPath: authorized.path)
        // sshd refuses to start without its privilege-separation directory.
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        let port = Int(try LoopbackPorts.pick(1)[0])
        let config = directory.appendingPathComponent("sshd_config")
        let text = """
        ListenAddress \(address):\(port)
        HostKey \(hostKey)
        PidFile \(directory.path)/sshd.pid
        AuthorizedKeysFile \(authorized.path)
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        Subsystem sftp /usr/lib/openssh/sftp-server
        SetEnv \((["PATH=\(path)"] + environment.keys.sorted().map { "\($0)=\(environment[$0]!)" }).joined(separator: " "))

        """
        try Data(text.utf8).write(to: config)
        let publicKey = try String(contentsOfFile: hostKey + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        let line = "[\(address)]:\(port) \(publicKey)\n"
        let known = try FileHandle(forWritingTo: URL(fileURLWithPath: client.knownHostsFile))
        try known.seekToEnd()
        try known.write(contentsOf: Data(line.utf8))
        try known.close()
        let host = SSHTestHost(address: address, port: port, directory: directory, configFile: config)
        try await host.launch()
        return host
    }

    private init(address: String, port: Int, directory: URL, configFile: URL) {
        self.address = address
        self.port = port
        self.directory = directory
        self.configFile = configFile
        self.logFile = directory.appendingPathComponent("sshd.log")
    }

    /// Starts (or starts again) sshd and waits until its port accepts connections. Spawned with `CleanSpawn`, not
    /// Foundation's Process: sshd closes every inherited descriptor, which Process takes for the child's exit.
    public func launch() async throws {
        let child = try CleanSpawn.spawn(["/usr/sbin/sshd", "-D", "-f", configFile.path, "-E", logFile.path])
        SpawnedProcesses.shared.record(pid: child)
        lock.withLock { self.pid = child }
        // Generous: under a full parallel test run on 2 cores sshd can take long to reach its listen().
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            if Self.accepts(address: address, port: port) { return }
            var code: Int32 = 0
            if waitpid(child, &code, WNOHANG) == child {
                SpawnedProcesses.shared.forget(pid: child)
                lock.withLock { self.pid = nil }
                throw EtcdTestSupportError("sshd on \(address):\(port) exited (status \(code)); its log: \((try? String(contentsOf: logFile, encoding: .utf8)) ?? "")")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw EtcdTestSupportError("sshd on \(address):\(port) did not accept connections within 90 s; its log: \((try? String(contentsOf: logFile, encoding: .utf8)) ?? "")")
    }

    /// Stops sshd (the host becomes unreachable) and waits for it to exit.
    public func stop() {
        guard let child = lock.withLock({ self.pid }) else { return }
        kill(child, SIGTERM)
        var code: Int32 = 0
        _ = waitpid(child, &code, 0)
        SpawnedProcesses.shared.forget(pid: child)
        lock.withLock { self.pid = nil }
    }

    static func accepts(address: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &sin.sin_addr)
        return withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
