import ArgumentParser
import EtcdClient
import Foundation
import Operations
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "One headless backup for a scheduler: save, verify, sidecar, retention, metrics.",
        discussion: """
        Takes a lock on the snapshot directory (a second run at the same time exits 1 and does nothing), saves \
        a snapshot atomically, verifies it, writes its sidecar, then applies retention (only after a good save, \
        never to the newest good snapshot) and writes the Prometheus textfile (--metrics-file).

        Beside the snapshot it keeps the control-plane bundle (`etcd-console bundle --help`): Kubernetes pki, \
        kubeconfigs, static pod manifests, the API server's encryption config, etcd's unit, drop-ins, config and \
        certificates, kubeadm's and etcd-console's config, in bundle-<UTC time>.tar (mode 0600), stored again only \
        when a file changed. A file it cannot read is a warning, never a failed backup. Certificates expiring \
        within 30 days are warned about on stderr. --no-bundle (or bundle.enabled: false) keeps only the snapshot.

        Logs one line per step on stdout (no progress bar unless stderr is a terminal; no timestamps under \
        journald). Records its progress in <dir>/.etcd-console-backup.json for the console's Jobs screen and the \
        outcome in <dir>/.etcd-console-backup-history.json.

        Settings: flags, then ETCDCTL_*/ETCD_CONSOLE_* variables, then the config file, then discovery. \
        Exit codes: 0 a good snapshot was written; 1 none was (or another backup is running); 2 usage or \
        configuration error.

        Examples:
          etcd-console backup          # settings from /etc/etcd-console/config.yaml
          etcd-console backup --dir /backup/etcd --keep-last 12 --daily 7
          etcd-console backup --metrics-file /var/lib/node_exporter/etcd-console.prom
          etcd-console backup --no-bundle  # only the snapshot
        """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("Snapshot directory (env ETCD_CONSOLE_DIR; default /var/lib/etcd-backup).", valueName: "dir"))
    var dir: String?

    @Option(help: ArgumentHelp("Prometheus textfile to write after the run (env ETCD_CONSOLE_METRICS_FILE).", valueName: "file"))
    var metricsFile: String?

    @Option(help: ArgumentHelp("etcd's data dir, to warn when snapshots share its disk (default: discovered).", valueName: "dir"))
    var dataDir: String?

    @Option(help: ArgumentHelp("End the save when etcd sends nothing for this long, e.g. 30s (env ETCD_CONSOLE_STALL_TIMEOUT; default 30s; not a total limit).", valueName: "duration"))
    var stallTimeout: String?

    @Flag(help: "Do not keep the control-plane bundle beside the snapshot (env ETCD_CONSOLE_BUNDLE_ENABLED=false).")
    var noBundle = false

    @Option(help: ArgumentHelp("Read the host's files (discovery and the bundle) under this directory instead of / (a rescue system's mount).", valueName: "dir"))
    var root: String = "/"

    @OptionGroup var retention: RetentionOptions

    func run() async throws {
        let run = try prepare()
        // A SIGTERM (systemctl stop) at any point is recorded, never a silent death.
        let interrupt = InterruptHandler { [run] in run.interrupt() }
        let succeeded = await run.perform()
        interrupt.cancel()
        if !succeeded { throw ExitCode(1) }
    }

    /// Settings, credentials and the offsite store, resolved before anything is locked or recorded.
    private func prepare() throws -> BackupRun {
        var flags = retention.configurationFlags
        flags[.stallTimeout] = stallTimeout
        flags[.dir] = dir.map(absolutePath)
        flags[.metricsFile] = metricsFile.map(absolutePath)
        flags[.dataDir] = dataDir.map(absolutePath)
        if noBundle { flags[.bundleEnabled] = "false" }
        let root = absolutePath(self.root)
        let resolved = try connection.resolve(extra: flags, discoveryRoot: root)
        let log = BackupLog()
        // Credentials first: without a terminal and without a password source the run fails at once, before
        // it takes the lock or records anything.
        let configuration: EtcdClientConfiguration
        do { configuration = try clientConfiguration(resolved) } catch {
            log.error("\(error)")
            throw ExitCode(1)
        }
        var run = BackupRun(resolved: resolved, configuration: configuration, log: log)
        if resolved[.bundleEnabled] != "false" {
            run.bundle = BundleSources(resolved: resolved, root: root,
                                       configFile: connection.config.path(environment: ProcessInfo.processInfo.environment))
        }
        do { run.offsite = try offsiteStore(resolved) } catch {
            log.error("\(error)")
            throw ExitCode(2)
        }
        let bar = ProgressLine(enabled: Terminal.stderrIsTTY)
        run.progress = { bar.update($0) }
        run.streamed = { bar.finish() }
        let upload = TransferLine(enabled: Terminal.stderrIsTTY, verb: "offsite upload")
        run.uploadProgress = { _, done, total in upload.update(done, total) }
        run.uploaded = { upload.finish() }
        return run
    }
}

extension RetentionOptions {
    /// The retention flags that were given, for the config resolver.
    var configurationFlags: [ConfigurationKey: String] {
        var flags: [ConfigurationKey: String] = [:]
        flags[.keepLast] = keepLast.map(String.init)
        flags[.hourly] = hourly.map(String.init)
        flags[.daily] = daily.map(String.init)
        flags[.weekly] = weekly.map(String.init)
        flags[.monthly] = monthly.map(String.init)
        return flags
    }
}

