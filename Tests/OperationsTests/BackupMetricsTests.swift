import EtcdTestSupport
import Foundation
import Operations
import SnapshotStore
import Testing

@Suite("Backup metrics textfile")
struct BackupMetricsTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func entry(_ name: String, health: SnapshotHealth, size: Int, age: TimeInterval) -> SnapshotEntry {
        SnapshotEntry(name: name, path: "/b/" + name, size: size, modified: now, takenAt: now - age, takenAtSource: .sidecar,
                      health: health, isOurs: true)
    }

    /// name{labels} -> value, for the samples in a textfile; also checks every sample has HELP and TYPE gauge.
    static func samples(_ text: String) throws -> [String: String] {
        var samples: [String: String] = [:]
        var typed: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 4 && parts[3] == "gauge", "\(line)")
                typed.insert(String(parts[2]))
            } else if !line.hasPrefix("#") {
                // The value follows the last space (label values may hold spaces).
                let space = try #require(line.lastIndex(of: " "), "\(line)")
                let series = line[..<space]
                let name = String(series.prefix { $0 != "{" })
                #expect(typed.contains(name), "\(name) has no TYPE line before it")
                #expect(Double(line[line.index(after: space)...]) != nil, "\(line)")
                samples[String(series)] = String(line[line.index(after: space)...])
            }
        }
        return samples
    }

    @Test("A failed run after a success: attempt 0, last success kept, counts and newest good age")
    func failureAfterSuccess() throws {
        let success = BackupHistory.Run(startedAt: Self.now - 1810, finishedAt: Self.now - 1800, succeeded: true,
                                        fileName: "a.db", sizeBytes: 4096, revision: 42, message: "saved a.db")
        let failure = BackupHistory.Run(startedAt: Self.now - 3.5, finishedAt: Self.now, succeeded: false, message: "refused")
        let history = BackupHistory().recording(success).recording(failure)
        let entries = [Self.entry("a.db", health: .good, size: 4096, age: 1800), Self.entry("b.db", health: .corrupt, size: 100, age: 60)]
        let text = BackupMetrics(directory: "/var/lib/etcd \"backup\"", history: history, entries: entries, now: Self.now).render()
        let samples = try Self.samples(text)
        let label = #"{dir="/var/lib/etcd \"backup\""}"#
        #expect(samples["etcd_console_backup_last_attempt_success" + label] == "0")
        #expect(samples["etcd_console_backup_last_attempt_timestamp_seconds" + label] == "1800000000")
        #expect(samples["etcd_console_backup_last_duration_seconds" + label] == "3.500")
        #expect(samples["etcd_console_backup_last_success_timestamp_seconds" + label] == "1799998200")
        #expect(samples["etcd_console_backup_last_success_size_bytes" + label] == "4096")
        #expect(samples["etcd_console_backup_last_success_revision" + label] == "42")
        #expect(samples[#"etcd_console_snapshots{dir="/var/lib/etcd \"backup\"",health="good"}"#] == "1")
        #expect(samples[#"etcd_console_snapshots{dir="/var/lib/etcd \"backup\"",health="corrupt"}"#] == "1")
        #expect(samples[#"etcd_console_snapshots{dir="/var/lib/etcd \"backup\"",health="unverified"}"#] == "0")
        #expect(samples["etcd_console_snapshots_bytes" + label] == "4196")
        #expect(samples["etcd_console_newest_good_snapshot_age_seconds" + label] == "1800")
        #expect(samples["etcd_console_newest_good_snapshot_timestamp_seconds" + label] == "1799998200")
    }

    @Test("Before any success there is no success gauge (absent, not zero: an alert on absence fires)")
    func neverSucceeded() throws {
        let failure = BackupHistory.Run(startedAt: Self.now - 1, finishedAt: Self.now, succeeded: false, message: "refused")
        let text = BackupMetrics(directory: "/b", history: BackupHistory().recording(failure), entries: [], now: Self.now).render()
        #expect(!text.contains("etcd_console_backup_last_success_timestamp_seconds{"))
        #expect(!text.contains("etcd_console_newest_good_snapshot_age_seconds{"))
        #expect(try Self.samples(text)[#"etcd_console_backup_last_attempt_success{dir="/b"}"#] == "0")
    }

    @Test("The file is replaced atomically with mode 0644 and no temp file left")
    func writesAtomically() throws {
        let dir = try TestDirectories.make("metrics")
        let path = dir.appendingPathComponent("etcd-console.prom").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        let metrics = BackupMetrics(directory: "/b", history: BackupHistory(), entries: [], now: Self.now)
        try metrics.write(to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == metrics.render())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["etcd-console.prom"])
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o644)
    }
}

@Suite("Backup lock")
struct BackupLockTests {
    @Test("A second holder is refused with the first one's pid and start time; after release it may take the lock")
    func secondRefused() throws {
        let dir = try TestDirectories.make("lock")
        let started = Date(timeIntervalSince1970: 1_800_000_000)
        let first = try BackupLock.acquire(directory: dir.path, pid: 4242, now: started)
        do {
            _ = try BackupLock.acquire(directory: dir.path)
            Issue.record("the lock was taken twice")
        } catch {
            #expect(error.kind == .lockHeld)
            #expect(error.message == "another backup (pid 4242, started 2027-01-15T08:00:00Z) is running on \(dir.path); this run does nothing (lock \(dir.path)/.etcd-console-backup.lock)")
        }
        first.release()
        let second = try BackupLock.acquire(directory: dir.path)
        second.release()
    }

    @Test("A directory that does not exist is a clear error, not a crash")
    func missingDirectory() throws {
        let dir = try TestDirectories.make("lock-missing").appendingPathComponent("nope").path
        do {
            _ = try BackupLock.acquire(directory: dir)
            Issue.record("locked in a missing directory")
        } catch {
            #expect(error.kind == .io)
            #expect(error.message.hasPrefix("could not open the lock file \(dir)/.etcd-console-backup.lock: No such file or directory"))
        }
    }
}
