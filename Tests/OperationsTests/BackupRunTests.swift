import EtcdClient
import EtcdTestSupport
import Foundation
import Operations
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The lines a run logs, by stream.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [(String, BackupLog.Stream)] = []

    var log: BackupLog { BackupLog { [self] line, stream in lock.withLock { lines.append((line, stream)) } } }
    var stdout: [String] { lock.withLock { lines.filter { $0.1 == .stdout }.map { String($0.0.dropLast()) } } }
    var stderr: [String] { lock.withLock { lines.filter { $0.1 == .stderr }.map { String($0.0.dropLast()) } } }
}

@Suite("The backup run, in process")
struct BackupRunTests {
    static func resolved(_ values: [ConfigurationKey: String]) throws -> ResolvedConfiguration {
        try ConfigurationResolver.resolve(flags: values, environment: [:], file: nil, deployment: nil)
    }

    @Test("A good run: each step logged, snapshot and sidecar, history, metrics and a finished job record")
    func goodRun() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "backup-run"))
        let dir = try TestDirectories.make("backup-run")
        let backups = dir.appendingPathComponent("backups").path
        let metrics = dir.appendingPathComponent("etcd.prom").path
        let resolved = try Self.resolved([.endpoints: etcd.clientURL, .dir: backups, .metricsFile: metrics,
                                          .dataDir: "/nonexistent"])
        let captured = CapturedLog()
        var run = BackupRun(resolved: resolved,
                            configuration: EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)]),
                            log: captured.log)
        let streamed = StreamedCount()
        run.streamed = { streamed.add() }
        #expect(await run.perform())
        let lines = captured.stdout
        #expect(lines.count == 6, "\(lines)")
        #expect(lines.first == "backup: connecting to \(etcd.clientURL) (snapshot directory \(backups))")
        #expect(lines.dropFirst().first?.hasPrefix("backup: saved \(backups)/snapshot-") == true)
        #expect(lines.last?.hasPrefix("backup: done: saved snapshot-") == true)
        #expect(captured.stderr.isEmpty, "\(captured.stderr)")
        #expect(streamed.value == 1)
        let files = try FileManager.default.contentsOfDirectory(atPath: backups).filter { !$0.hasPrefix(".") }
        #expect(files.count == 2 && files.contains { $0.hasSuffix(".db.meta.json") }, "\(files)")
        #expect(BackupHistory.read(fromDirectory: backups).lastSuccess != nil)
        #expect(BackupJobRecord.read(fromDirectory: backups)?.phase == .succeeded)
        #expect(FileManager.default.fileExists(atPath: metrics))
        await etcd.stop()
    }

    @Test("etcd unreachable: false, the failure is in the history and the metrics; nothing saved")
    func etcdDown() async throws {
        let dir = try TestDirectories.make("backup-run-down")
        let backups = dir.appendingPathComponent("backups").path
        let metrics = dir.appendingPathComponent("etcd.prom").path
        let resolved = try Self.resolved([.endpoints: "http://127.0.0.1:9", .dir: backups, .metricsFile: metrics])
        let captured = CapturedLog()
        let run = BackupRun(resolved: resolved,
                            configuration: EtcdClientConfiguration(endpoints: [try Endpoint(parsing: "http://127.0.0.1:9")],
                                                                   connectTimeout: .seconds(2)),
                            log: captured.log)
        #expect(await run.perform() == false)
        #expect(captured.stderr.first?.hasPrefix("backup: error: no snapshot was saved: ") == true, "\(captured.stderr)")
        #expect(BackupHistory.read(fromDirectory: backups).lastAttempt?.succeeded == false)
        #expect(try String(contentsOfFile: metrics, encoding: .utf8).contains("etcd_console_backup_last_attempt_success{dir=\"\(backups)\"} 0"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: backups).filter { !$0.hasPrefix(".") }.isEmpty)
    }

    @Test("A snapshot directory others can write: false before the lock, nothing written, chmod 700 said")
    func unsafeDirectory() async throws {
        let dir = try TestDirectories.make("backup-run-0777")
        #expect(chmod(dir.path, 0o777) == 0)
        let captured = CapturedLog()
        let run = BackupRun(resolved: try Self.resolved([.dir: dir.path]),
                            configuration: EtcdClientConfiguration(endpoints: [try Endpoint(parsing: "http://127.0.0.1:9")]),
                            log: captured.log)
        #expect(await run.perform() == false)
        #expect(captured.stderr == ["backup: error: refusing to use the snapshot directory \(dir.path): other users can write "
            + "to it (mode 0777), so they could plant or swap files there; run chmod 700 \(dir.path)"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("interrupt() during the save: false, recorded as interrupted, no .part")
    func interrupted() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "backup-run-int"))
        let dir = try TestDirectories.make("backup-run-int")
        let resolved = try Self.resolved([.endpoints: etcd.clientURL, .dir: dir.path])
        let captured = CapturedLog()
        var run = BackupRun(resolved: resolved,
                            configuration: EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)]),
                            log: captured.log)
        kill(etcd.pid, SIGSTOP)   // the run waits in its first call until interrupted
        let interrupter = run
        run.progress = nil
        let task = Task { await run.perform() }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while BackupJobRecord.read(fromDirectory: dir.path) == nil && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        interrupter.interrupt()
        kill(etcd.pid, SIGCONT)
        #expect(await task.value == false)
        #expect(captured.stderr.contains("backup: error: no snapshot was saved: interrupted by a signal (SIGINT/SIGTERM); nothing was saved"),
                "\(captured.stderr)")
        #expect(BackupJobRecord.read(fromDirectory: dir.path)?.phase == .failed)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".part") || $0.hasSuffix(".db") }.isEmpty)
        await etcd.stop()
    }
}

final class StreamedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

@Suite("The stall timeout setting")
struct StallTimeoutSettingTests {
    @Test("stall-timeout: default 30 s; flag over environment; a bad value names where it came from")
    func resolves() throws {
        let none = try ConfigurationResolver.resolve(flags: [:], environment: [:], file: nil, deployment: nil)
        #expect(none.stallTimeout == .seconds(30))
        #expect(none.settings[.stallTimeout]?.source == .defaultValue)
        let env = try ConfigurationResolver.resolve(flags: [:], environment: ["ETCD_CONSOLE_STALL_TIMEOUT": "2m"],
                                                    file: nil, deployment: nil)
        #expect(env.stallTimeout == .seconds(120))
        let flag = try ConfigurationResolver.resolve(flags: [.stallTimeout: "500ms"],
                                                     environment: ["ETCD_CONSOLE_STALL_TIMEOUT": "2m"], file: nil, deployment: nil)
        #expect(flag.stallTimeout == .milliseconds(500))
        #expect(flag.settings[.stallTimeout]?.source == .flag("--stall-timeout"))
        #expect { _ = try ConfigurationResolver.resolve(flags: [:], environment: ["ETCD_CONSOLE_STALL_TIMEOUT": "soon"],
                                                        file: nil, deployment: nil) } throws: { error in
            "\(error)".contains("ETCD_CONSOLE_STALL_TIMEOUT must be a duration such as 500ms, 3s or 2m, not \"soon\"")
        }
    }
}
