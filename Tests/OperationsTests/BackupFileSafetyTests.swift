import EtcdTestSupport
import Foundation
import Operations
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("The backup run's files never follow a planted link")
struct BackupFileSafetyTests {
    static func refusal(_ path: String) -> String { "refusing to open \(path): it is a symbolic link" }

    @Test("A lock file planted as a link is refused, naming it; a root-only 0600 victim is not truncated")
    func lockLink() throws {
        let dir = try TestDirectories.make("lock-link")
        let victim = try SymlinkVictim(in: dir.deletingLastPathComponent())
        let path = dir.appendingPathComponent(BackupLock.fileName).path
        try victim.plant(at: path)
        #expect { _ = try BackupLock.acquire(directory: dir.path) } throws: { error in
            (error as? BackupError)?.message.hasPrefix(Self.refusal(path)) == true
        }
        #expect(victim.isUnchanged)
    }

    @Test("A new lock file is 0600 and is reused (same inode) by the next run")
    func lockMode() throws {
        let dir = try TestDirectories.make("lock-mode")
        let path = dir.appendingPathComponent(BackupLock.fileName).path
        var first = stat()
        do {
            let lock = try BackupLock.acquire(directory: dir.path)
            #expect(stat(path, &first) == 0 && first.st_mode & 0o777 == 0o600)
            lock.release()
        }
        let again = try BackupLock.acquire(directory: dir.path)
        var second = stat()
        #expect(stat(path, &second) == 0 && second.st_ino == first.st_ino)
        again.release()
    }

    @Test("The history file planted as a link is refused, naming it; the victim is unchanged")
    func historyLink() throws {
        let dir = try TestDirectories.make("history-link")
        let victim = try SymlinkVictim(in: dir.deletingLastPathComponent())
        let path = BackupHistory.path(inDirectory: dir.path)
        try victim.plant(at: path)
        let run = BackupHistory.Run(startedAt: Date(), finishedAt: Date(), succeeded: false, message: "x")
        #expect { try BackupHistory().recording(run).write(toDirectory: dir.path) } throws: { error in
            "\(error)".hasPrefix(Self.refusal(path))
        }
        #expect(victim.isUnchanged)
    }

    @Test("The metrics textfile planted as a link is refused, naming it; the victim is unchanged")
    func metricsLink() throws {
        let dir = try TestDirectories.make("metrics-link")
        let victim = try SymlinkVictim(in: dir.deletingLastPathComponent())
        let path = dir.appendingPathComponent("etcd-console.prom").path
        try victim.plant(at: path)
        let metrics = BackupMetrics(directory: dir.path, history: BackupHistory(), entries: [], now: Date())
        #expect { try metrics.write(to: path) } throws: { error in "\(error)".hasPrefix(Self.refusal(path)) }
        #expect(victim.isUnchanged)
    }
}

@Suite("A scheduled backup must be able to log in")
struct ScheduledBackupPasswordTests {
    static func resolved(_ settings: [ConfigurationKey: ResolvedSetting]) -> ResolvedConfiguration {
        ResolvedConfiguration(settings: settings)
    }

    @Test("A user with the password only in the environment is refused, saying where the password goes")
    func environmentOnly() {
        let config = Self.resolved([.user: .init(value: "root", source: .flag("--user"))])
        let problem = ScheduledBackupPassword.problem(config, configFile: "/etc/etcd-console/config.yaml")
        #expect(problem?.hasPrefix("the scheduled backup logs in as etcd user root but would have no password: a timer run "
            + "has no terminal to ask and does not see ") == true, "\(problem ?? "nil")")
        #expect(problem?.contains("set password-file: /etc/etcd-console/password in /etc/etcd-console/config.yaml") == true)
        #expect(ScheduledBackupPassword.problem(Self.resolved([:]), configFile: nil) == nil)
    }

    @Test("A password file from the config file passes when 0600 and root's; readable by others it is refused")
    func passwordFile() throws {
        let dir = try TestDirectories.make("schedule-password")
        let path = dir.appendingPathComponent("password").path
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(chmod(path, 0o600) == 0)
        let config = Self.resolved([.user: .init(value: "root", source: .flag("--user")),
                                    .passwordFile: .init(value: path, source: .file(path: "/c.yaml", line: 3))])
        #expect(ScheduledBackupPassword.problem(config, configFile: "/c.yaml") == nil)
        #expect(chmod(path, 0o644) == 0)
        #expect(ScheduledBackupPassword.problem(config, configFile: "/c.yaml")
            == "the password file \(path) can be read by other users (mode 0644): run chmod 600 \(path)")
        // From the environment, the file would not reach the scheduled run.
        let fromEnvironment = Self.resolved([.user: .init(value: "root", source: .flag("--user")),
                                             .passwordFile: .init(value: path, source: .environment("ETCD_CONSOLE_PASSWORD_FILE"))])
        #expect(ScheduledBackupPassword.problem(fromEnvironment, configFile: "/c.yaml")?.contains("would have no password") == true)
    }
}
