import EtcdTestSupport
import Foundation
import Operations
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("etcd-console backup, end to end")
struct BackupCommandTests {
    static let etcd = SharedProcess(EtcdOptions(version: .v3_5, name: "console-backup"))

    /// Names in the directory, hidden bookkeeping files left out.
    static func snapshotFiles(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Copies of a good snapshot under etcdctl-script names for older dates (the catalog reads the date from the name).
    static func oldCopies(of snapshot: String, into dir: URL, days: [Int]) throws -> [String] {
        try days.map { day in
            let name = String(format: "snapshot-202601%02dT000000Z-old.db", day)
            try FileManager.default.copyItem(atPath: snapshot, toPath: dir.appendingPathComponent(name).path)
            return name
        }
    }

    static func metric(_ name: String, in text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(name + "{") }.flatMap { $0.split(separator: " ").last.map(String.init) }
    }

    @Test("A good run: snapshot + sidecar (0600), one log line per step, metrics, job record and history")
    func goodRun() async throws {
        let etcd = try await Self.etcd.get()
        _ = try etcd.etcdctl(["put", "/registry/configmaps/default/settings", "x"])
        let dir = try TestDirectories.make("backup-good")
        let metrics = dir.appendingPathComponent("etcd-console.prom").path
        let backups = dir.appendingPathComponent("backups")
        let result = try ConsoleBinary.run(["backup", "--no-bundle", "--endpoints", etcd.clientURL, "--dir", backups.path,
                                            "--metrics-file", metrics, "--data-dir", "/nonexistent"],
                                           environment: ["JOURNAL_STREAM": "8:1234"])
        #expect(result.status == 0, "\(result.output)")
        let files = try Self.snapshotFiles(backups)
        #expect(files.count == 2, "\(files)")
        let snapshot = try #require(files.first { $0.hasSuffix(".db") })
        #expect(files == [snapshot, snapshot + ".meta.json"])
        var info = stat()
        #expect(stat(backups.appendingPathComponent(snapshot).path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(stat(backups.path, &info) == 0 && info.st_mode & 0o777 == 0o700)
        // Under journald: no timestamps, one line per step, no progress bar.
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 6, "\(result.stdout)")
        #expect(lines.allSatisfy { $0.hasPrefix("backup: ") })
        #expect(lines[0] == "backup: connecting to \(etcd.clientURL) (snapshot directory \(backups.path))")
        #expect(lines[1].hasPrefix("backup: saved \(backups.path)/\(snapshot) ("))
        #expect(lines[2].hasPrefix("backup: verified \(snapshot): good ("))
        #expect(lines[3] == "backup: retention: kept 1, deleted 0; every snapshot is kept by the policy")
        #expect(lines[4] == "backup: metrics written to \(metrics)")
        #expect(lines[5].hasPrefix("backup: done: saved \(snapshot)"))
        #expect(!result.stderr.contains("\r"))

        let text = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(Self.metric("etcd_console_backup_last_attempt_success", in: text) == "1")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: backups.appendingPathComponent(snapshot).path)[.size] as? Int)
        #expect(Self.metric("etcd_console_backup_last_success_size_bytes", in: text) == String(size))
        #expect(text.contains("etcd_console_snapshots{dir=\"\(backups.path)\",health=\"good\"} 1"))

        let record = try #require(BackupJobRecord.read(fromDirectory: backups.path))
        #expect(record.phase == .succeeded)
        #expect(record.fileName == snapshot)
        #expect(record.finishedAt != nil)
        #expect(record.bytesWritten > 0)
        let history = BackupHistory.read(fromDirectory: backups.path)
        #expect(history.lastSuccess?.fileName == snapshot)
        #expect(history.lastAttempt == history.lastSuccess)
    }

    @Test("Two concurrent runs: the second is refused naming the first's pid, and writes nothing; the first succeeds")
    func concurrentRuns() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "console-lock"))
        defer { etcd.stopNow() }
        let dir = try TestDirectories.make("backup-lock")
        let backups = dir.appendingPathComponent("backups")
        // etcd frozen: the first run takes the lock, then waits for etcd's answer.
        kill(etcd.pid, SIGSTOP)
        var resumed = false
        defer { if !resumed { kill(etcd.pid, SIGCONT) } }
        let (first, holder) = try await Self.startHangingBackup(etcd, into: backups)
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
        // The console's Jobs screen sees the first run.
        let running = try #require(BackupJobRecord.read(fromDirectory: backups.path))
        #expect(running.pid == first.processIdentifier)
        #expect(!running.phase.isFinished)

        let metrics = dir.appendingPathComponent("second.prom").path
        let second = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", backups.path, "--metrics-file", metrics])
        #expect(second.status == 1)
        let started = holder.split(separator: " ")[1].trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(second.stderr.contains("error: another backup (pid \(first.processIdentifier), started \(started)) is running on \(backups.path); this run does nothing"),
                "\(second.output)")
        #expect(!FileManager.default.fileExists(atPath: metrics))
        #expect(try Self.snapshotFiles(backups).isEmpty)
        #expect(BackupJobRecord.read(fromDirectory: backups.path)?.pid == first.processIdentifier)

        kill(etcd.pid, SIGCONT)
        resumed = true
        for _ in 0..<6000 where first.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!first.isRunning)
        #expect(first.terminationStatus == 0)
        #expect(try Self.snapshotFiles(backups).count == 2)
        // The lock is free again. Snapshot names carry the time to the second: wait for the next second so the
        // third run's name differs from the first's.
        let firstSecond = Date().timeIntervalSince1970.rounded(.down)
        while Date().timeIntervalSince1970.rounded(.down) <= firstSecond { try await Task.sleep(for: .milliseconds(20)) }
        let third = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", backups.path, "--data-dir", "/nonexistent"])
        #expect(third.status == 0, "\(third.output)")
    }

    /// Starts `backup` against a frozen etcd and waits until it holds the lock and has written its job record;
    /// returns it and the lock file's text.
    static func startHangingBackup(_ etcd: EtcdProcess, into backups: URL) async throws -> (Process, String) {
        let run = Process()
        run.executableURL = URL(fileURLWithPath: ConsoleBinary.path)
        // Long timeouts: in a full parallel run the test process's two cooperative threads can be held by other
        // tests' blocking calls for minutes, and a backup that gave up on the frozen etcd meanwhile would have
        // released its lock before this test looked (seen: 60 s ran out unobserved under load 20).
        run.arguments = ["backup", "--no-bundle", "--endpoints", etcd.clientURL, "--dir", backups.path, "--dial-timeout", "900s",
                         "--command-timeout", "900s", "--data-dir", "/nonexistent"]
        let log = backups.deletingLastPathComponent().appendingPathComponent("hanging-backup.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        run.standardOutput = try FileHandle(forWritingTo: log)
        run.standardError = run.standardOutput
        try run.run()
        let lockFile = backups.appendingPathComponent(".etcd-console-backup.lock").path
        var holder = ""
        // A deadline, not a count of polls: on 2 busy cores a debug build can take many seconds to get this far.
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline && !holder.hasPrefix("\(run.processIdentifier) ") {
            holder = (try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? ""
            if !holder.hasPrefix("\(run.processIdentifier) ") { try await Task.sleep(for: .milliseconds(10)) }
        }
        try #require(holder.hasPrefix("\(run.processIdentifier) "), "the backup never took the lock: \(holder); its log: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        // Its job record comes just after the lock (and after its signal handler is installed).
        var record: BackupJobRecord?
        while ContinuousClock.now < deadline && record?.pid != run.processIdentifier {
            record = BackupJobRecord.read(fromDirectory: backups.path)
            if record?.pid != run.processIdentifier { try await Task.sleep(for: .milliseconds(10)) }
        }
        try #require(record?.pid == run.processIdentifier, "the backup never wrote its job record")
        return (run, holder)
    }

    @Test("SIGTERM (systemctl stop) during a run: exit 1, recorded as interrupted, nothing saved, no .part")
    func terminated() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-term"))
        defer { etcd.stopNow() }
        let dir = try TestDirectories.make("backup-term")
        let backups = dir.appendingPathComponent("backups")
        kill(etcd.pid, SIGSTOP)
        var resumed = false
        defer { if !resumed { kill(etcd.pid, SIGCONT) } }
        let (run, _) = try await Self.startHangingBackup(etcd, into: backups)
        defer { if run.isRunning { kill(run.processIdentifier, SIGKILL) } }
        kill(run.processIdentifier, SIGTERM)
        // The pending call ends when etcd answers again.
        kill(etcd.pid, SIGCONT)
        resumed = true
        for _ in 0..<6000 where run.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!run.isRunning)
        #expect(run.terminationStatus == 1)
        let output = try String(contentsOf: dir.appendingPathComponent("hanging-backup.log"), encoding: .utf8)
        #expect(output.contains("backup: error: no snapshot was saved: interrupted by a signal (SIGINT/SIGTERM); nothing was saved"), "\(output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: backups.path).filter { $0.hasSuffix(".db") || $0.hasSuffix(".part") }.isEmpty)
        let record = try #require(BackupJobRecord.read(fromDirectory: backups.path))
        #expect(record.phase == .failed)
        #expect(record.message?.hasPrefix("interrupted by a signal") == true)
        #expect(BackupHistory.read(fromDirectory: backups.path).lastAttempt?.succeeded == false)
    }

    @Test("While the snapshot streams, the job record shows phase saving with bytes written and the total")
    func recordWhileStreaming() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-jobs"))
        defer { etcd.stopNow() }
        let fill = try ConsoleBinary.run(["fill", "--endpoints", etcd.clientURL, "--megabytes", "20", "--command-timeout", "60s"], timeout: .seconds(600))
        try #require(fill.status == 0, "\(fill.output)")
        let dir = try TestDirectories.make("backup-jobs")
        let run = Process()
        run.executableURL = URL(fileURLWithPath: ConsoleBinary.path)
        run.arguments = ["backup", "--endpoints", etcd.clientURL, "--dir", dir.path, "--data-dir", "/nonexistent"]
        run.standardOutput = FileHandle.nullDevice
        run.standardError = FileHandle.nullDevice
        try run.run()
        defer { if run.isRunning { kill(run.processIdentifier, SIGKILL) } }
        // Freeze etcd as soon as the .part exists, then let it run in 2 ms steps until the record says "saving":
        // the save cannot finish in between, so the check never races it.
        var sawPart = false
        for _ in 0..<10000 where !sawPart {
            sawPart = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).contains { $0.hasSuffix(".db.part") }
            if !sawPart { usleep(1000) }
        }
        try #require(sawPart, "the backup never created its .part")
        kill(etcd.pid, SIGSTOP)
        var record = BackupJobRecord.read(fromDirectory: dir.path)
        for _ in 0..<2000 where record?.phase != .saving {
            kill(etcd.pid, SIGCONT)
            usleep(2000)
            kill(etcd.pid, SIGSTOP)
            record = BackupJobRecord.read(fromDirectory: dir.path)
        }
        kill(etcd.pid, SIGCONT)
        #expect(record?.phase == .saving)
        #expect(record?.pid == run.processIdentifier)
        #expect((record?.bytesWritten ?? 0) > 0)
        #expect((record?.bytesTotal ?? 0) > 20_000_000)
        for _ in 0..<6000 where run.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        #expect(run.terminationStatus == 0)
        #expect(BackupJobRecord.read(fromDirectory: dir.path)?.phase == .succeeded)
    }

    @Test("etcd down: exit 1, the metrics show the failure and keep the last success, nothing is deleted")
    func etcdDown() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("backup-down")
        let backups = dir.appendingPathComponent("backups")
        let metrics = dir.appendingPathComponent("etcd-console.prom").path
        let good = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", backups.path,
                                          "--metrics-file", metrics, "--data-dir", "/nonexistent"])
        try #require(good.status == 0, "\(good.output)")
        let lastSuccess = try #require(Self.metric("etcd_console_backup_last_success_timestamp_seconds",
                                                   in: try String(contentsOfFile: metrics, encoding: .utf8)))
        let snapshot = try #require(try Self.snapshotFiles(backups).first { $0.hasSuffix(".db") })
        _ = try Self.oldCopies(of: backups.appendingPathComponent(snapshot).path, into: backups, days: [1, 2, 3])
        let before = try Self.snapshotFiles(backups)

        let down = try ConsoleBinary.run(["backup", "--endpoints", "http://127.0.0.1:9", "--dir", backups.path,
                                          "--metrics-file", metrics, "--keep-last", "1"])
        #expect(down.status == 1)
        #expect(down.stderr.contains("backup: error: no snapshot was saved: could not reach http://127.0.0.1:9: connection refused"),
                "\(down.output)")
        #expect(!down.stdout.contains("retention"))
        #expect(try Self.snapshotFiles(backups) == before)
        let text = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(Self.metric("etcd_console_backup_last_attempt_success", in: text) == "0")
        #expect(Self.metric("etcd_console_backup_last_success_timestamp_seconds", in: text) == lastSuccess)
        #expect(text.contains("etcd_console_snapshots{dir=\"\(backups.path)\",health=\"good\"} 4"))
        let record = try #require(BackupJobRecord.read(fromDirectory: backups.path))
        #expect(record.phase == .failed)
        #expect(record.message?.contains("connection refused") == true)
    }

    @Test("Retention runs after a good save: the old copies go, the new snapshot stays")
    func retentionAfterGoodSave() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("backup-retention")
        let first = try ConsoleBinary.run(["backup", "--no-bundle", "--endpoints", etcd.clientURL, "--dir", dir.path, "--data-dir", "/nonexistent"])
        try #require(first.status == 0, "\(first.output)")
        let firstSnapshot = try #require(try Self.snapshotFiles(dir).first { $0.hasSuffix(".db") })
        let old = try Self.oldCopies(of: dir.appendingPathComponent(firstSnapshot).path, into: dir, days: [1, 2, 3])
        // The next snapshot's name (to the second) must differ: wait for the clock's next second.
        let firstSecond = Date().timeIntervalSince1970.rounded(.down)
        while Date().timeIntervalSince1970.rounded(.down) <= firstSecond { try await Task.sleep(for: .milliseconds(20)) }

        let result = try ConsoleBinary.run(["backup", "--no-bundle", "--endpoints", etcd.clientURL, "--dir", dir.path, "--keep-last", "1",
                                            "--data-dir", "/nonexistent"])
        #expect(result.status == 0, "\(result.output)")
        let remaining = try Self.snapshotFiles(dir)
        #expect(remaining.count == 2, "\(remaining)")
        let newest = try #require(remaining.first { $0.hasSuffix(".db") })
        #expect(newest != firstSnapshot && !old.contains(newest))
        #expect(result.stdout.contains("retention: kept 1, deleted 4"), "\(result.stdout)")
        // The retention line comes after the verified line.
        let verified = try #require(result.stdout.range(of: "verified \(newest): good"))
        let retention = try #require(result.stdout.range(of: "retention: kept 1"))
        #expect(verified.lowerBound < retention.lowerBound)
    }

    @Test("A bad config file is a usage error naming the key and the line; nothing is written")
    func badConfig() throws {
        let dir = try TestDirectories.make("backup-config")
        let config = dir.appendingPathComponent("config.yaml")
        try "dir: \(dir.path)/backups\nretention:\n  keep-lats: 3\n".write(to: config, atomically: true, encoding: .utf8)
        let result = try ConsoleBinary.run(["backup", "--config", config.path])
        #expect(result.status == 2)
        #expect(result.stderr == "error: \(config.path):3: unknown key \"retention.keep-lats\"; did you mean \"retention.keep-last\"?\n")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("backups").path))
        let missing = try ConsoleBinary.run(["backup"], environment: ["ETCD_CONSOLE_CONFIG": dir.appendingPathComponent("nope.yaml").path])
        #expect(missing.status == 2)
        #expect(missing.stderr == "error: could not read \(dir.appendingPathComponent("nope.yaml").path): no such file\n")
    }

    @Test("The config file supplies the settings: endpoints, directory and retention")
    func fromConfigFile() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("backup-fromconfig")
        let config = dir.appendingPathComponent("config.yaml")
        try """
        endpoints: [\(etcd.clientURL)]
        dir: \(dir.path)/backups
        data-dir: /nonexistent
        retention:
          keep-last: 1
        """.write(to: config, atomically: true, encoding: .utf8)
        let result = try ConsoleBinary.run(["backup", "--no-bundle"], environment: ["ETCD_CONSOLE_CONFIG": config.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(try Self.snapshotFiles(dir.appendingPathComponent("backups")).count == 2)
    }
}
