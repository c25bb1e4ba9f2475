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
        for i in 0..<80 { try await client.put("/stall/\(i)", value: value + [UInt8(i)]) }
        await client.close()
        let dir = try TestDirectories.make("backup-stall")
        let backups = dir.appendingPathComponent("backups")
        let arguments = ["backup", "--endpoints", etcd.clientURL, "--dir", backups.path, "--stall-timeout", "2s",
                         "--data-dir", "/nonexistent"]
        let run = Task.detached { try ConsoleBinary.run(arguments) }
        // Mid-stream: the .part holds data once the writer drained its first 1 MiB.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        var stopped = false
        while !stopped && clock.now < deadline {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: backups.path)) ?? []
            if let part = names.first(where: { $0.hasSuffix(".db.part") }),
               let size = try? FileManager.default.attributesOfItem(atPath: backups.appendingPathComponent(part).path)[.size] as? Int,
               size > 0 {
                kill(etcd.pid, SIGSTOP)
                stopped = true
            } else {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        let result = try await run.value
        kill(etcd.pid, SIGCONT)
        #expect(stopped, "the backup finished before etcd could be stopped mid-stream: \(result.output)")
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("backup: error: no snapshot was saved: etcd stopped sending the snapshot after "),
                "\(result.stderr)")
        #expect(result.stderr.contains(" for 2 s (\(etcd.clientURL); is etcd stopped or overloaded?"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: backups.path)
            .filter { $0.hasSuffix(".db") || $0.hasSuffix(".part") }.isEmpty)
        // The lock is free: the next run takes it and saves.
        let next = try ConsoleBinary.run(Array(arguments.dropLast(2)))
        #expect(next.status == 0, "\(next.output)")
        await etcd.stop()
    }
}
