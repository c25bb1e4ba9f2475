import EtcdClient
import EtcdTestSupport
import Foundation
import Operations
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("etcd-console backup refuses unsafe files and directories, and ends a stalled stream")
struct BackupHardeningTests {
    static let etcd = SharedProcess(EtcdOptions(version: .v3_5, name: "console-harden"))

    @Test("A snapshot directory other users can write is refused with chmod 700; nothing is written in it")
    func worldWritableDirectory() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("backup-0777")
        #expect(chmod(dir.path, 0o777) == 0)
        let result = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", dir.path,
                                            "--data-dir", "/nonexistent"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("backup: error: refusing to use the snapshot directory \(dir.path): other users can "
            + "write to it (mode 0777), so they could plant or swap files there; run chmod 700 \(dir.path)"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("A snapshot directory owned by nobody is refused; one others can list gives a warning and the backup runs")
    func ownerAndListable() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("backup-owner")
        #expect(chown(dir.path, 65534, 65534) == 0)
        let refused = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", dir.path,
                                             "--data-dir", "/nonexistent"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("refusing to use the snapshot directory \(dir.path): it belongs to nobody (uid 65534)"),
                "\(refused.stderr)")
        #expect(chown(dir.path, 0, 0) == 0 && chmod(dir.path, 0o755) == 0)
        let warned = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", dir.path,
                                            "--data-dir", "/nonexistent"])
        #expect(warned.status == 0, "\(warned.output)")
        #expect(warned.stderr.contains("backup: warning: others can list the snapshot directory \(dir.path) (mode 0755) and "
            + "the snapshots in it hold Kubernetes Secrets; run chmod 700 \(dir.path)"), "\(warned.stderr)")
    }

    @Test("A metrics file's directory other users can write is refused before anything runs")
    func metricsDirectory() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("backup-metrics-dir")
        let prom = dir.appendingPathComponent("prom")
        try FileManager.default.createDirectory(at: prom, withIntermediateDirectories: false)
        #expect(chmod(prom.path, 0o1777) == 0)
        let backups = dir.appendingPathComponent("backups")
        let result = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", backups.path, "--metrics-file",
                                            prom.appendingPathComponent("etcd.prom").path, "--data-dir", "/nonexistent"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("refusing to use the metrics file's directory \(prom.path): other users can write to "
            + "it (mode 01777)"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: backups.path).isEmpty)
    }

    @Test("A lock file planted as a link: exit 1 naming it; the root-only victim is not truncated")
    func plantedLock() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("backup-lock-link")
        let victim = try SymlinkVictim(in: dir)
        let backups = dir.appendingPathComponent("backups")
        try FileManager.default.createDirectory(atPath: backups.path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let lock = backups.appendingPathComponent(BackupLock.fileName).path
        try victim.plant(at: lock)
        let result = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", backups.path,
                                            "--data-dir", "/nonexistent"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("backup: error: refusing to open \(lock): it is a symbolic link"), "\(result.stderr)")
        #expect(victim.isUnchanged)
        #expect(try FileManager.default.contentsOfDirectory(atPath: backups.path) == [BackupLock.fileName])
    }

    @Test("--user without a password and without a terminal fails at once, saying where the password goes")
    func noPasswordNoTerminal() throws {
        let dir = try TestDirectories.make("backup-nopassword")
        let backups = dir.appendingPathComponent("backups")
        // setsid: a new session has no controlling terminal, as under systemd. Nothing listens on the endpoint:
        // the run must fail before it tries.
        let result = try runCommand("/usr/bin/setsid", ["-w", "/usr/bin/env", "-u", "ETCDCTL_PASSWORD", ConsoleBinary.path,
                                                        "backup", "--endpoints", "http://127.0.0.1:9", "--user", "root",
                                                        "--dir", backups.path], timeout: .seconds(20))
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("backup: error: no password for user root: set ETCDCTL_PASSWORD, password-file in the "
            + "config file, or run on a terminal to be asked"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: backups.path), "nothing is created before the password is known")
    }

    @Test("etcd SIGSTOPped mid-stream: backup ends with the stall message, releases the lock; the next backup runs")
    func stalledBackup() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-stall"))
        let client = EtcdClient(EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)]))
        let value = [UInt8](repeating: 0x6b, count: 1_000_000)
        for i in 0..<12 { try await client.put("/stall/\(i)", value: value + [UInt8(i)]) }
        await client.close()
        // The backup talks to etcd through a relay that stops etcd once 1 MB of the reply went through: mid-stream
        // exactly there, however fast or busy the machine is.
        let port = try #require(Int(etcd.clientURL.split(separator: ":").last ?? ""))
        let relay = try StoppingRelay(to: port, stopping: etcd.pid, after: 1 << 20)
        defer { relay.close() }
        let dir = try TestDirectories.make("backup-stall")
        let backups = dir.appendingPathComponent("backups")
        let url = "http://127.0.0.1:\(relay.port)"
        let result = try ConsoleBinary.run(["backup", "--endpoints", url, "--dir", backups.path, "--stall-timeout", "2s",
                                            "--data-dir", "/nonexistent"])
        kill(etcd.pid, SIGCONT)
        #expect(relay.stopped, "etcd was never stopped: \(result.output)")
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("backup: error: no snapshot was saved: etcd stopped sending the snapshot after "),
                "\(result.stderr)")
        #expect(result.stderr.contains(" for 2 s (\(url); is etcd stopped or overloaded?"), "\(result.stderr)")
        #expect(!result.stderr.contains("after 0 B"), "mid-stream: \(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: backups.path)
            .filter { $0.hasSuffix(".db") || $0.hasSuffix(".part") }.isEmpty)
        // The lock is free: the next run takes it and saves (straight to etcd, which runs again).
        let next = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", backups.path,
                                          "--data-dir", "/nonexistent"])
        #expect(next.status == 0, "\(next.output)")
        await etcd.stop()
    }

    @Test("snapshot save with etcd SIGSTOPped mid-stream: exit 1 with the stall message, nothing left")
    func stalledSnapshotSave() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "console-stall-save"))
        let client = EtcdClient(EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)]))
        let value = [UInt8](repeating: 0x6c, count: 1_000_000)
        for i in 0..<6 { try await client.put("/stall/\(i)", value: value + [UInt8(i)]) }
        await client.close()
        let port = try #require(Int(etcd.clientURL.split(separator: ":").last ?? ""))
        let relay = try StoppingRelay(to: port, stopping: etcd.pid, after: 1 << 20)
        defer { relay.close() }
        let dir = try TestDirectories.make("save-stall")
        let url = "http://127.0.0.1:\(relay.port)"
        let result = try ConsoleBinary.run(["snapshot", "save", "--endpoints", url, "--dir", dir.path, "--stall-timeout", "1s",
                                            "--data-dir", "/nonexistent"])
        kill(etcd.pid, SIGCONT)
        #expect(relay.stopped)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.hasPrefix("error: etcd stopped sending the snapshot after "), "\(result.stderr)")
        #expect(result.stderr.contains(" for 1 s (\(url); is etcd stopped or overloaded?"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.isEmpty)
        await etcd.stop()
    }
}

/// A TCP relay on 127.0.0.1 to a local etcd that SIGSTOPs etcd once `after` bytes went from etcd to the client.
final class StoppingRelay: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var fromEtcd = 0
    private var didStop = false
    private var closed = false

    var stopped: Bool { lock.withLock { didStop } }

    init(to etcdPort: Int, stopping pid: Int32, after limit: Int) throws {
        let (fd, port) = try Self.listen()
        listener = fd
        self.port = port
        Thread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                let upstream = Self.connect(etcdPort)
                if upstream < 0 { Glibc.close(client); continue }
                Thread { self.relay(client, upstream, pid: pid, limit: limit) }.start()
            }
        }.start()
    }

    func close() {
        lock.withLock { closed = true }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    private func relay(_ client: Int32, _ upstream: Int32, pid: Int32, limit: Int) {
        defer { Glibc.close(client); Glibc.close(upstream) }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while !lock.withLock({ closed }) {
            var fds = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: upstream, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, 200) >= 0 else { return }
            for (index, entry) in fds.enumerated() where entry.revents != 0 {
                let (from, to) = index == 0 ? (client, upstream) : (upstream, client)
                let n = read(from, &buffer, buffer.count)
                if n <= 0 { return }
                if index == 1 {
                    let stopNow = lock.withLock { () -> Bool in
                        fromEtcd += n
                        guard fromEtcd >= limit, !didStop else { return false }
                        didStop = true
                        return true
                    }
                    if stopNow { kill(pid, SIGSTOP) }
                }
                var offset = 0
                while offset < n {
                    let written = buffer.withUnsafeBytes { write(to, $0.baseAddress! + offset, n - offset) }
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }

    private static func listen() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, Glibc.listen(fd, 8) == 0 else { throw EtcdTestSupportError("cannot listen for the relay") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    private static func connect(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { Glibc.close(fd); return -1 }
        return fd
    }
}
