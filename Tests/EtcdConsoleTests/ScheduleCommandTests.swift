import EtcdTestSupport
import Foundation
import Testing
import Yams
#if canImport(Glibc)
import Glibc
#endif

@Suite("etcd-console schedule, end to end")
struct ScheduleCommandTests {
    /// A directory with a `systemctl` stand-in (systemd is not PID 1 here) that logs its arguments and exits `status`.
    static func fakeSystemctl(status: Int32) throws -> (bin: URL, log: URL) {
        let dir = try TestDirectories.make("fake-systemctl")
        let log = dir.appendingPathComponent("calls.log")
        let script = dir.appendingPathComponent("systemctl")
        try """
        #!/bin/sh
        echo "$*" >> \(log.path)
        [ \(status) -eq 0 ] || echo "Failed to connect to bus: No such file or directory" >&2
        exit \(status)
        """.write(to: script, atomically: true, encoding: .utf8)
        chmod(script.path, 0o755)
        return (dir, log)
    }

    static var path: String { "\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")" }

    @Test("systemd --install writes units that systemd-analyze verify accepts, creates the directory, enables the timer")
    func installSystemd() throws {
        let (bin, log) = try Self.fakeSystemctl(status: 0)
        let dir = try TestDirectories.make("schedule-systemd")
        let units = dir.appendingPathComponent("units")
        let backups = dir.appendingPathComponent("backups")
        let result = try ConsoleBinary.run(["schedule", "systemd", "--install", "--unit-dir", units.path, "--every", "15min",
                                            "--dir", backups.path, "--endpoints", "https://10.0.0.5:2379",
                                            "--metrics-file", dir.appendingPathComponent("prom/etcd.prom").path],
                                           environment: ["PATH": "\(bin.path):\(Self.path)"])
        #expect(result.status == 0, "\(result.output)")
        #expect(try String(contentsOf: log, encoding: .utf8) == "daemon-reload\nenable --now etcd-console-backup.timer\n")
        var info = stat()
        #expect(stat(backups.path, &info) == 0 && info.st_mode & 0o777 == 0o700)
        let service = try String(contentsOf: units.appendingPathComponent("etcd-console-backup.service"), encoding: .utf8)
        let timer = try String(contentsOf: units.appendingPathComponent("etcd-console-backup.timer"), encoding: .utf8)
        #expect(service.contains("\nExecStart=\(ConsoleBinary.path) backup --endpoints https://10.0.0.5:2379 --dir \(backups.path) --metrics-file \(dir.path)/prom/etcd.prom\n"),
                "\(service)")
        #expect(service.contains("\nType=oneshot\n"))
        #expect(service.contains("\nProtectSystem=strict\n"))
        #expect(service.contains("\nReadWritePaths=\(backups.path) -\(dir.path)/prom\n"))
        #expect(timer.contains("\nOnCalendar=*:00/15\n"))
        #expect(timer.contains("\nPersistent=true\n"))
        #expect(timer.contains("\nRandomizedDelaySec=90\n"))
        #expect(timer.contains("\nWantedBy=timers.target\n"))

        let analyze = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: analyze) else { return }
        let verify = try runCommand(analyze, ["verify", units.appendingPathComponent("etcd-console-backup.service").path,
                                              units.appendingPathComponent("etcd-console-backup.timer").path])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.isEmpty, "systemd-analyze verify complained: \(verify.output)")
    }

    @Test("--user root with the password only in ETCDCTL_PASSWORD is refused, saying where the password goes; nothing written")
    func passwordOnlyInEnvironment() throws {
        let dir = try TestDirectories.make("schedule-password")
        let units = dir.appendingPathComponent("units")
        let result = try ConsoleBinary.run(["schedule", "systemd", "--install", "--unit-dir", units.path, "--user", "root",
                                            "--dir", dir.appendingPathComponent("backups").path],
                                           environment: ["ETCDCTL_PASSWORD": "s3cret-in-env", "ETCD_CONSOLE_CONFIG": ""])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.stderr.hasPrefix("error: the scheduled backup logs in as etcd user root but would have no password: a "
            + "timer run has no terminal to ask and does not see ETCDCTL_PASSWORD in this shell; put the password in a file "
            + "only root can read"), "\(result.stderr)")
        #expect(!result.output.contains("s3cret-in-env"))
        #expect(!FileManager.default.fileExists(atPath: units.path))
    }

    @Test("Without --install both units are printed; an interval that does not divide a day is refused")
    func printAndRefuse() throws {
        let printed = try ConsoleBinary.run(["schedule", "systemd", "--every", "6h", "--dir", "/var/lib/etcd-backup"])
        #expect(printed.status == 0, "\(printed.output)")
        #expect(printed.stdout.hasPrefix("# /etc/systemd/system/etcd-console-backup.service\n"))
        #expect(printed.stdout.contains("# /etc/systemd/system/etcd-console-backup.timer\n"))
        #expect(printed.stdout.contains("OnCalendar=*-*-* 00/6:00:00\n"))
        let refused = try ConsoleBinary.run(["schedule", "systemd", "--every", "7min"])
        #expect(refused.status == 2)
        #expect(refused.stderr.hasPrefix("error: --every \"7min\" does not divide an hour or a day evenly"))
    }

    @Test("systemctl failing: exit 1 with its message and what to run by hand; the unit files stay")
    func systemctlFails() throws {
        let (bin, _) = try Self.fakeSystemctl(status: 1)
        let dir = try TestDirectories.make("schedule-fail")
        let result = try ConsoleBinary.run(["schedule", "systemd", "--install", "--unit-dir", dir.path, "--dir", dir.appendingPathComponent("b").path],
                                           environment: ["PATH": "\(bin.path):\(Self.path)"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("error: systemctl daemon-reload failed (exit 1): Failed to connect to bus: No such file or directory"))
        #expect(result.stderr.contains("run: systemctl daemon-reload && systemctl enable --now etcd-console-backup.timer"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("etcd-console-backup.timer").path))
    }

    @Test("cronjob prints a batch/v1 CronJob running this binary's backup with the given settings")
    func cronjob() throws {
        let result = try ConsoleBinary.run(["schedule", "cronjob", "--every", "2h", "--dir", "/backup/etcd", "--keep-last", "4"])
        #expect(result.status == 0, "\(result.output)")
        let object = try #require(try Yams.load(yaml: result.stdout) as? [String: Any])
        #expect(object["apiVersion"] as? String == "batch/v1")
        let spec = try #require(object["spec"] as? [String: Any])
        #expect(spec["schedule"] as? String == "0 */2 * * *")
        let pod = try #require((((spec["jobTemplate"] as? [String: Any])?["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        #expect(container["command"] as? [String] == ["chroot", "/host", ConsoleBinary.path, "backup", "--dir", "/backup/etcd",
                                                      "--keep-last", "4"])
    }
}

@Suite("etcd-console schedule status and the status warning, end to end")
struct ScheduleStatusTests {
    static let etcd = SharedProcess(EtcdOptions(version: .v3_4, name: "console-schedule"))

    @Test("After a backup: last run succeeded, fresh; an old snapshot only: stale, exit 1, and status warns")
    func statusAndWarning() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("schedule-status")
        let empty = try ConsoleBinary.run(["schedule", "status", "--dir", dir.path, "-o", "json"])
        #expect(empty.status == 1)
        let emptyJSON = try ConsoleBinary.json(empty)
        #expect(emptyJSON["freshness"] as? String == "none")
        #expect(emptyJSON["lastRunState"] is NSNull)
        #expect(emptyJSON["needsAttention"] as? Bool == true)

        let backup = try ConsoleBinary.run(["backup", "--endpoints", etcd.clientURL, "--dir", dir.path, "--data-dir", "/nonexistent"])
        try #require(backup.status == 0, "\(backup.output)")
        let fresh = try ConsoleBinary.run(["schedule", "status", "--dir", dir.path, "-o", "json"])
        #expect(fresh.status == 0, "\(fresh.output)")
        let json = try ConsoleBinary.json(fresh)
        #expect(json["lastRunState"] as? String == "succeeded")
        #expect(json["freshness"] as? String == "fresh")
        #expect(json["every"] as? String == "30min")
        #expect(json["lastSuccessFile"] as? String == json["newestGood"] as? String)
        #expect(json["nextRun"] is NSNull)   // no systemd timer here
        let status = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL, "-o", "json"], environment: ["ETCD_CONSOLE_DIR": dir.path])
        #expect(status.status == 0, "\(status.output)")
        #expect(!status.stderr.contains("warning"))
        let backups = try #require(try ConsoleBinary.json(status)["backups"] as? [String: Any])
        #expect(backups["verdict"] as? String == "fresh")

        // Only a snapshot from January: stale against 30 minutes (and against 1d).
        let stale = try TestDirectories.make("schedule-stale")
        let good = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasSuffix(".db") })
        try FileManager.default.copyItem(atPath: dir.appendingPathComponent(good).path,
                                         toPath: stale.appendingPathComponent("snapshot-20260101T000000Z-old.db").path)
        let staleStatus = try ConsoleBinary.run(["schedule", "status", "--dir", stale.path, "--every", "1d"])
        #expect(staleStatus.status == 1)
        #expect(staleStatus.stdout.contains("newest good snapshot: snapshot-20260101T000000Z-old.db, "))
        #expect(staleStatus.stdout.contains(": STALE, older than twice the 1d schedule (2d00h)"), "\(staleStatus.stdout)")
        #expect(staleStatus.stdout.contains("last run: none recorded"))
        let warned = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL], environment: ["ETCD_CONSOLE_DIR": stale.path])
        #expect(warned.status == 0, "\(warned.output)")
        #expect(warned.stderr.hasPrefix("warning: the newest good snapshot in \(stale.path) (snapshot-20260101T000000Z-old.db) is "))
        #expect(warned.stderr.contains("old, more than twice the 30min schedule"))
        // etcd down: the warning still comes, before the error.
        let down = try ConsoleBinary.run(["status", "--endpoints", "http://127.0.0.1:9"], environment: ["ETCD_CONSOLE_DIR": stale.path])
        #expect(down.status == 1)
        #expect(down.stderr.hasPrefix("warning: the newest good snapshot in \(stale.path)"))
        // No directory and no configured schedule: nothing to judge, no warning.
        let none = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL],
                                         environment: ["ETCD_CONSOLE_DIR": stale.appendingPathComponent("missing").path])
        #expect(none.stderr.isEmpty, "\(none.stderr)")
        let configured = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL],
                                               environment: ["ETCD_CONSOLE_DIR": stale.appendingPathComponent("missing").path,
                                                             "ETCD_CONSOLE_EVERY": "1h"])
        #expect(configured.stderr.hasPrefix("warning: no good snapshot in \(stale.path)/missing (schedule every 1h)"))
    }
}
