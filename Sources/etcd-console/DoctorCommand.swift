import ArgumentParser
import Foundation
import Operations
import Recovery
import SnapshotStore

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Diagnose an etcd data dir offline (without changing it): snapshots, db, WAL, space, backups, quorum.",
        discussion: """
        Each finding has a severity (ok, warning, critical), a code, what was found and what to do next. \
        Catches the failure where etcd panics at start with "failed to find database snapshot file". \
        For a member of a multi-member cluster (--initial-cluster discovered or in the config file) it also says \
        which members answer on their peer URLs, and how to recover when quorum is lost. \
        Exit codes: 0 nothing critical, 1 at least one critical finding.

        Examples:
          etcd-console doctor
          etcd-console doctor --data-dir /var/lib/etcd --dir /backup/etcd -o json
        """)

    @Option(help: ArgumentHelp("etcd's data dir (default: discovered from systemd/kubeadm, else /var/lib/etcd).", valueName: "dir"))
    var dataDir: String?

    @Option(help: ArgumentHelp("etcd's WAL dir when it is not <data-dir>/member/wal (default: discovered).", valueName: "dir"))
    var walDir: String?

    @Option(help: ArgumentHelp("Snapshot directory (default: ETCD_CONSOLE_DIR, config file, else /var/lib/etcd-backup).", valueName: "dir"))
    var dir: String?

    @OptionGroup var config: ConfigOption

    @Option(help: ArgumentHelp("etcd's --quota-backend-bytes (default: discovered from how etcd runs, else 2 GiB).", valueName: "bytes"))
    var quotaBackendBytes: Int64?

    @Option(help: .hidden)
    var discoveryRoot: String = "/"

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (quotaBackendBytes ?? 1) > 0 else { throw ValidationError("--quota-backend-bytes must be positive") }
    }

    func run() throws {
        var flags: [ConfigurationKey: String] = [:]
        flags[.dir] = dir.map(absolutePath)
        flags[.dataDir] = dataDir.map(absolutePath)
        flags[.walDir] = walDir.map(absolutePath)
        flags[.quotaBackendBytes] = quotaBackendBytes.map(String.init)
        // One settings value: flag > ETCD_CONSOLE_* > config file > discovery (run once) > defaults.
        let resolved = try config.resolve(flags: flags, discoveryRoot: discoveryRoot)
        let dataDirSetting = resolved.settings[.dataDir]
        // A WAL dir inside the data dir is etcd's own default, not a separate one.
        let wal = resolved.chosen(.walDir).map(\.value).flatMap { wal in
            let data = resolved[.dataDir] ?? "/var/lib/etcd"
            return wal.hasPrefix(data + "/") ? nil : wal
        }
        let quota = resolved.chosen(.quotaBackendBytes)
        var doctor = DataDirDoctor(dataDir: resolved[.dataDir] ?? "/var/lib/etcd", walDir: wal,
                                   backupDirectory: resolved.snapshotDirectory,
                                   quotaBytes: quota.flatMap { Int64($0.value) }.flatMap { $0 > 0 ? $0 : nil } ?? 2 << 30, now: Date(),
                                   dataDirSource: dataDirSetting?.source.description,
                                   quotaSource: quota?.source.description ?? "etcd's default")
        // A member of a multi-member cluster: which of its peers still answer (lost quorum).
        doctor.quorum = resolved[.initialCluster].map { QuorumProbe(initialCluster: $0, localName: resolved[.name]) }
        var report = doctor.examine()
        // A lost disk and no local snapshot: the remote's newest good copy (and its bundle) is the way back.
        if report.findings.contains(where: { $0.code == "data-dir-missing" }), let store = try? offsiteStore(resolved) {
            report = RebuildOffer.amend(report, remote: RemoteCatalog.cached(inDirectory: resolved.snapshotDirectory) ?? (try? store.list()))
        }
        switch output.output {
        case .json:
            try printJSON(report)
        case .table:
            for finding in report.findings {
                print("\(finding.severity.rawValue.uppercased()) \(finding.code): \(finding.message)")
                if !finding.action.isEmpty { print("  -> \(finding.action)") }
            }
            print("\nRecommendation: \(report.recommendation)")
        }
        if report.hasCritical { throw ExitCode(1) }
    }
}
