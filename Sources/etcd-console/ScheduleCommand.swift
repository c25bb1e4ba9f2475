import ArgumentParser
import Foundation
import Operations
import Recovery
import SnapshotStore
import SystemSupport

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Schedule `etcd-console backup`: a systemd timer (recommended) or a Kubernetes CronJob; show its state.",
        discussion: """
        The systemd timer keeps taking backups when the API server, the kubelet or the whole cluster is down; \
        a CronJob stops with the cluster, which is exactly when a backup is needed.

        Examples:
          etcd-console schedule systemd --every 30min --install
          etcd-console schedule cronjob | kubectl apply -f -
          etcd-console schedule status -o json
        """,
        subcommands: [ScheduleSystemdCommand.self, ScheduleCronJobCommand.self, ScheduleStatusCommand.self])
}

/// The settings a scheduled backup runs with, shared by `schedule systemd` and `schedule cronjob`.
struct ScheduledBackupOptions: ParsableArguments {
    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("How often: 15min, 30min, 1h, 6h, 1d... (env ETCD_CONSOLE_EVERY; default 30min).", valueName: "interval"))
    var every: String?

    @Option(help: ArgumentHelp("Snapshot directory (default /var/lib/etcd-backup).", valueName: "dir"))
    var dir: String?

    @Option(help: ArgumentHelp("Prometheus textfile each run writes.", valueName: "file"))
    var metricsFile: String?

    @OptionGroup var retention: RetentionOptions

    func resolve() throws -> (ResolvedConfiguration, configFile: String?) {
        var flags = retention.configurationFlags
        flags[.every] = every
        flags[.dir] = dir.map(absolutePath)
        flags[.metricsFile] = metricsFile.map(absolutePath)
        let resolved = try connection.resolve(extra: flags)
        let file = try connection.config.load(environment: ProcessInfo.processInfo.environment)
        if let problem = ScheduledBackupPassword.problem(resolved, configFile: file?.path) {
            printError("error: " + problem)
            throw ExitCode(2)
        }
        return (resolved, file?.path)
    }

    /// The arguments after `backup`: `--config` when a file is in effect, and every setting given here by a flag or
    /// the environment (the scheduled run does not see this shell's environment). Discovered values are not
    /// written: the scheduled run discovers them again, so it follows etcd when its unit changes.
    static func backupArguments(_ resolved: ResolvedConfiguration, configFile: String?) -> [String] {
        var arguments: [String] = configFile.map { ["--config", $0] } ?? []
        let passed: [ConfigurationKey] = [.endpoints, .cacert, .cert, .key, .user, .insecureSkipTLSVerify, .dialTimeout,
                                          .commandTimeout, .stallTimeout, .dir, .metricsFile, .dataDir] + ConfigurationKey.retentionKeys
        for key in passed {
            guard let setting = resolved.settings[key], setting.source.layer == "flag" || setting.source.layer == "environment" else {
                continue
            }
            if key == .user && setting.value.contains(":") { continue }  // never write a password into a unit
            if key.kind == .flag {
                if setting.value == "true" { arguments.append(key.flag) }
            } else {
                arguments += [key.flag, setting.value]
            }
        }
        return arguments
    }
}

/// The running binary's absolute path, for ExecStart and the CronJob's command.
func currentBinaryPath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? absolutePath(CommandLine.arguments[0])
}

struct ScheduleSystemdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "systemd",
        abstract: "Print (or --install) etcd-console-backup.service and .timer.",
        discussion: """
        The timer uses OnCalendar (evenly spaced, e.g. *:00/30), Persistent=true (a run missed while the host \
        was off happens at boot) and RandomizedDelaySec (a tenth of the interval, at most 5 minutes). The \
        service is a hardened oneshot: the file system is read-only except the snapshot directory and the \
        metrics directory, so it can read etcd's certificates but write nowhere else. With --install the files \
        go to /etc/systemd/system (or --unit-dir), the snapshot directory is created (0700), and \
        `systemctl daemon-reload` and `systemctl enable --now etcd-console-backup.timer` run.

        Examples:
          etcd-console schedule systemd                       # print both units
          etcd-console schedule systemd --every 1h --install
          etcd-console schedule systemd --config /etc/etcd-console/config.yaml --install
        """)

    @OptionGroup var settings: ScheduledBackupOptions

    @Flag(help: "Write the units, reload systemd and start the timer.")
    var install = false

    @Option(help: ArgumentHelp("Where --install writes the units.", valueName: "dir"))
    var unitDir: String = "/etc/systemd/system"

    func run() async throws {
        let (resolved, configFile) = try settings.resolve()
        let units = SystemdBackupUnits(binary: currentBinaryPath(),
                                       backupArguments: ScheduledBackupOptions.backupArguments(resolved, configFile: configFile),
                                       interval: resolved.interval, snapshotDirectory: resolved.snapshotDirectory,
                                       metricsFile: resolved[.metricsFile], etcdUnit: resolved[.unit])
        let servicePath = (unitDir as NSString).appendingPathComponent(SystemdBackupUnits.serviceName)
        let timerPath = (unitDir as NSString).appendingPathComponent(SystemdBackupUnits.timerName)
        guard install else {
            print("# \(servicePath)\n\(units.service)\n# \(timerPath)\n\(units.timer)", terminator: "")
            return
        }
        try SafeFile.createDirectory(resolved.snapshotDirectory)
        if let warning = try SafeFile.checkDirectory(resolved.snapshotDirectory) { printError("warning: " + warning) }
        try FileManager.default.createDirectory(atPath: unitDir, withIntermediateDirectories: true)
        try AtomicFileWriter.replace(servicePath, with: Data(units.service.utf8), mode: 0o644)
        try AtomicFileWriter.replace(timerPath, with: Data(units.timer.utf8), mode: 0o644)
        print("wrote \(servicePath)")
        print("wrote \(timerPath)")
        let runner = SystemProcessRunner()
        for arguments in [["daemon-reload"], ["enable", "--now", SystemdBackupUnits.timerName]] {
            let result: ProcessOutcome
            do { result = try await runner.run(ProcessRequest("systemctl", arguments)) } catch {
                printError("error: \(error)")
                printError("the unit files are in place; on a host with systemd run: systemctl daemon-reload && systemctl enable --now \(SystemdBackupUnits.timerName)")
                throw ExitCode(1)
            }
            guard result.succeeded else {
                printError("error: systemctl \(arguments.joined(separator: " ")) failed (exit \(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
                printError("the unit files are in place; fix the cause and run: systemctl daemon-reload && systemctl enable --now \(SystemdBackupUnits.timerName)")
                throw ExitCode(1)
            }
            print("ran systemctl \(arguments.joined(separator: " "))")
        }
        print("backups run every \(resolved.interval) into \(resolved.snapshotDirectory); check with: etcd-console schedule status")
    }
}

struct ScheduleCronJobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cronjob",
        abstract: "Print a Kubernetes CronJob (batch/v1) that runs etcd-console backup on a control-plane node.",
        discussion: """
        The pod runs on control-plane nodes (nodeSelector and tolerations), on the host network, and runs the \
        host's own etcd-console through `chroot /host` (host root mounted read-only, the snapshot directory \
        read-write), so etcd-console must be installed on every control-plane node. concurrencyPolicy Forbid, \
        3 successful and 3 failed jobs kept. Prefer `schedule systemd`: a CronJob stops when the cluster does.

        Examples:
          etcd-console schedule cronjob | kubectl apply -f -
          etcd-console schedule cronjob --every 1h --image busybox:1.36 > cronjob.yaml
        """)

    @OptionGroup var settings: ScheduledBackupOptions

    @Option(help: ArgumentHelp("Image that provides `chroot` (etcd-console itself comes from the host).", valueName: "image"))
    var image: String = "debian:bookworm-slim"

    func run() throws {
        let (resolved, configFile) = try settings.resolve()
        let job = BackupCronJob(image: image, interval: resolved.interval, binary: currentBinaryPath(),
                                backupArguments: ScheduledBackupOptions.backupArguments(resolved, configFile: configFile),
                                snapshotDirectory: resolved.snapshotDirectory, metricsFile: resolved[.metricsFile])
        print(job.yaml(), terminator: "")
    }
}
