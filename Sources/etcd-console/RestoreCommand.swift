import ArgumentParser
import EtcdClient
import Foundation
import Operations
import Recovery
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot into the local etcd: checked, journaled, rolled back on failure.",
        discussion: """
        Shows the plan (every command), asks for confirmation, then: preflight checks, stop etcd (systemctl \
        or the static pod manifest), move the data dir aside to <data-dir>.before-restore-<UTC time> (never \
        deleted), restore with etcdutl (else etcdctl), fix owner and mode, start etcd, wait until healthy, \
        verify revision/keys/members, check pods. A step that fails after the move rolls everything back \
        (the restored dir goes to <data-dir>.failed-restore-<time>). Each step is journaled in \
        <data-dir>.restore-journal: after a crash, run again with --resume or --rollback. \
        Each setting comes from, in order: flags, the environment (ETCD_CONSOLE_DATA_DIR, ETCD_CONSOLE_UNIT, ...), \
        the config file, the unit that runs etcd here (or the kubeadm manifest, /etc/etcd), the snapshot's sidecar \
        (the member it was saved from), defaults; the plan shows each value's source and warns when the snapshot's \
        member differs from the one restored. The restore tool is etcdutl, else etcdctl, looked for next to the \
        etcd the unit runs, then on PATH, each checked with `version` (--restore-tool names one). \
        With --rebuild it puts the snapshot's bundle back instead (`etcd-console bundle --help`): every file \
        with its mode and owner, under --root when given; an existing file that differs is renamed to \
        <path>.before-rebuild-<UTC time>, never overwritten; one already identical is left alone. The plan lists \
        every file first. Then it restores etcd's data from the snapshot as above, with the settings of the unit \
        or manifest just put back (--files-only stops after the files). A snapshot or bundle not in the \
        directory is pulled from the remote first. The file placement is journaled (.rebuild-journal in the \
        snapshot directory): one that fails half way is undone at once, --rebuild --rollback undoes the last \
        one (a file changed since is kept at <path>.after-rebuild-<time>), --rebuild --resume continues one \
        that was interrupted. \
        With --cluster it restores every member of a multi-member cluster from the one snapshot over SSH (the \
        system's ssh and scp, host keys checked): copied to each host and its SHA-256 checked there, each host \
        planned, then each member restored with its own name and peer URLs, the same --initial-cluster and a new \
        token, etcd left stopped (--no-start); a failure on any host rolls every host back and starts the old \
        cluster. Then every member is started together and hashKV compared on all of them. Members come from \
        --inventory, else the live member list, else the snapshot's sidecar. \
        Exit codes: 0 restored, 1 failed (see the report: rolled back or not), 2 usage / no confirmation.

        Examples:
          etcd-console restore --dry-run \\
              /var/lib/etcd-backup/snapshot-20261125T170000.000Z-master.db
          etcd-console restore --yes \\
              /var/lib/etcd-backup/snapshot-20261125T170000.000Z-master.db
          etcd-console restore --resume --yes
          etcd-console restore --rebuild --dry-run SNAPSHOT.db
          etcd-console restore --cluster --inventory /etc/etcd-console/cluster.yaml \\
              --ssh-user root --dry-run SNAPSHOT.db
        """)

    @Argument(help: ArgumentHelp("The snapshot file to restore (with --rebuild: a snapshot or bundle name).", valueName: "snapshot"))
    var snapshot: String?

    @Flag(help: "Put the snapshot's control-plane bundle back (certificates, manifests, units, kubeconfigs) with modes and owners; an existing different file is moved aside.")
    var rebuild = false

    @Option(help: ArgumentHelp("With --rebuild: write the files under this directory instead of /.", valueName: "dir"))
    var root: String?

    @Option(help: ArgumentHelp("With --rebuild: the snapshot directory holding the bundles (default: ETCD_CONSOLE_DIR, config file, else /var/lib/etcd-backup).", valueName: "dir"))
    var dir: String?

    @Flag(help: "With --rebuild: only put the bundle's files back; do not restore etcd's data from the snapshot.")
    var filesOnly = false

    @Flag(help: "Do not ask for confirmation (for scripts).")
    var yes = false

    @Flag(help: "Restore the data but leave etcd stopped: one member of a cluster restore, where every member is prepared before any starts (restore --resume starts it). With --rollback: put the original back, leave etcd stopped.")
    var noStart = false

    @OptionGroup var cluster: ClusterRestoreOptions

    @Flag(help: "Print the plan with its exact commands and change nothing.")
    var dryRun = false

    @Flag(help: "Continue an interrupted restore from its journal.")
    var resume = false

    @Flag(help: "Roll an interrupted restore back from its journal (original data dir back, etcd started).")
    var rollback = false

    @Option(help: ArgumentHelp("etcd's data dir (default: discovered, else /var/lib/etcd).", valueName: "dir"))
    var dataDir: String?
    @Option(help: ArgumentHelp("A WAL dir outside the data dir (default: discovered).", valueName: "dir"))
    var walDir: String?
    @Option(help: ArgumentHelp("Member name (default: discovered, else 'default').", valueName: "name"))
    var name: String?
    @Option(help: ArgumentHelp("Initial cluster, name=peer-url,... (default: discovered, else <name>=<peer urls>).", valueName: "list"))
    var initialCluster: String?
    @Option(help: ArgumentHelp("Initial cluster token (default: discovered, else etcd-cluster).", valueName: "token"))
    var initialClusterToken: String?
    @Option(help: ArgumentHelp("This member's peer URLs (default: discovered, else http://localhost:2380).", valueName: "urls"))
    var initialAdvertisePeerUrls: String?
    @Option(help: ArgumentHelp("systemd unit that runs etcd (default: discovered, else etcd).", valueName: "name"))
    var unit: String?
    @Option(help: ArgumentHelp("kubeadm static pod manifest to move out and back instead of systemctl.", valueName: "path"))
    var staticPodManifest: String?
    @Option(help: ArgumentHelp("The etcdutl or etcdctl to restore with (default: etcdutl, else etcdctl, next to etcd, then on PATH).", valueName: "path"))
    var restoreTool: String?
    @Flag(help: "Restore even when the snapshot does not verify (the restore tool still checks its hash).")
    var skipVerify = false
    @Option(help: ArgumentHelp("How long to wait for etcd to stop.", valueName: "duration"))
    var stopTimeout: String = "90s"
    @Option(help: ArgumentHelp("How long to wait for etcd to become healthy after the start.", valueName: "duration"))
    var startTimeout: String = "90s"
    @Option(help: .hidden)
    var discoveryRoot: String = "/"

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if rebuild && rollback && snapshot != nil { throw ValidationError("--rebuild --rollback undoes the last rebuild from its journal in the snapshot directory (--dir): leave out the snapshot") }
        if !rebuild && (root != nil || dir != nil || filesOnly) { throw ValidationError("--root, --dir and --files-only are for --rebuild") }
        if resume && rollback { throw ValidationError("--resume and --rollback exclude each other") }
        if noStart && (resume || rebuild) { throw ValidationError("--no-start is for a restore or a --rollback of one member (--resume starts etcd)") }
        try cluster.validate(restoring: snapshot, resume: resume, rollback: rollback, rebuild: rebuild, noStart: noStart)
        if !rebuild && (resume || rollback) && snapshot != nil { throw ValidationError("--resume and --rollback take the snapshot from the journal: leave out the snapshot") }
        if !(resume || rollback) && snapshot == nil && cluster.fromSurvivor == nil && !rebuild { throw ValidationError("name the snapshot to restore (etcd-console snapshot list shows them)") }
        if staticPodManifest != nil && unit != nil { throw ValidationError("--unit and --static-pod-manifest exclude each other") }
        _ = try parseDuration(stopTimeout, flag: "--stop-timeout")
        _ = try parseDuration(startTimeout, flag: "--start-timeout")
    }

    func run() async throws {
        if rebuild { return try await runRebuild() }
        if cluster.cluster { return try await runClusterRestore() }
        try await restoreEtcd(snapshot: snapshot, discoveryRoot: discoveryRoot)
    }

    /// The restore of etcd's data: plan, confirm, run (or resume / roll back from the journal). `--rebuild` runs
    /// it after the files, with discovery under the rebuilt root (the unit or manifest just put back).
    func restoreEtcd(snapshot: String?, discoveryRoot: String) async throws {
        // One settings value: flags > environment > config file > discovery (run once) > defaults; one restore
        // session (settings -> plan -> executor), the same the console's wizard uses.
        let resolved = try connection.resolve(extra: restoreFlags, discoveryRoot: discoveryRoot)
        let session = RestoreSession(settings: resolved, runner: SystemProcessRunner(),
                                     clientConfiguration: { try clientConfiguration(resolved) },
                                     skipVerify: skipVerify,
                                     stopTimeout: (try? parseDuration(stopTimeout, flag: "--stop-timeout")) ?? .seconds(90),
                                     startTimeout: (try? parseDuration(startTimeout, flag: "--start-timeout")) ?? .seconds(90))

        if resume || rollback {
            guard let journal = session.unfinishedJournal() else {
                printError("error: no unfinished restore journal at \(RestoreJournal.path(forDataDir: session.dataDir))")
                throw ExitCode(1)
            }
            printError("Found \(journal.summary).")
            try confirm(journal.plan, action: rollback ? "roll back" : "resume")
            var executor = try session.executor(for: journal.plan, stopRequest: stopOnInterrupt())
            executor.leaveStopped = noStart
            let report = rollback ? await executor.rollback(journal, onEvent: printer())
                                  : await executor.resume(journal, onEvent: printer())
            if report.succeeded || rollback { RestoreSession.removeRestoreCopy(of: journal.plan) }
            try finish(report)
            return
        }

        if let journal = session.unfinishedJournal() {
            printError("""
            error: \(journal.summary).
            Finish it first: etcd-console restore --resume   (continue where it stopped)
                         or: etcd-console restore --rollback (put the original data dir back)
            """)
            throw ExitCode(1)
        }

        let plan: RestorePlan
        do {
            let path = try RemoteRestoreSource.localPath(for: snapshot ?? "", resolved)  // a remote name is pulled first
            plan = try await session.plan(session.options(snapshot: path))
        } catch let error as RestoreError {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if dryRun {
            switch output.output {
            case .json: try printJSON(plan)
            case .table: print(plan.rendered())
            }
            // A damaged or unreadable snapshot is a failed check, not a plan to follow.
            if !plan.isRestorable { throw ExitCode(1) }
            return
        }
        try confirm(plan, action: "restore")
        var executor = try session.executor(for: plan, stopRequest: stopOnInterrupt())
        executor.leaveStopped = noStart
        let report = await executor.run(onEvent: printer())
        if report.succeeded && !noStart { RestoreSession.removeRestoreCopy(of: plan) }
        try finish(report)
    }

    /// Ctrl-C (or SIGTERM) stops the restore after the step that runs, then rolls back: killing it mid-step
    /// would leave the restore tool writing a data dir nobody watches.
    private func stopOnInterrupt() -> RestoreExecutor.StopRequest {
        let stop = RestoreExecutor.StopRequest()
        let handler = InterruptHandler {
            stop.request()
            printError("\nInterrupted: stopping after the current step, then rolling back (the journal keeps track).")
        }
        Self.interruptHandler = handler
        return stop
    }

    nonisolated(unsafe) private static var interruptHandler: InterruptHandler?

    /// This command's flags for the settings resolver.
    private var restoreFlags: [ConfigurationKey: String] {
        var flags: [ConfigurationKey: String] = [:]
        flags[.dataDir] = dataDir.map(absolutePath)
        flags[.walDir] = walDir.map(absolutePath)
        flags[.name] = name
        flags[.initialCluster] = initialCluster
        flags[.initialClusterToken] = initialClusterToken
        flags[.initialAdvertisePeerURLs] = initialAdvertisePeerUrls
        flags[.unit] = unit
        flags[.staticPodManifest] = staticPodManifest.map(absolutePath)
        flags[.restoreTool] = restoreTool.map(absolutePath)
        return flags
    }

    /// Shows the plan and asks for the member name or "yes" on a terminal; refuses without one unless --yes.
    private func confirm(_ plan: RestorePlan, action: String) throws {
        if output.output == .table || !yes { printError(plan.rendered()) }
        if yes { return }
        guard Terminal.stdinIsTTY else {
            printError("error: refusing to \(action) without confirmation: there is no terminal to ask on; pass --yes to go ahead")
            throw ExitCode(2)
        }
        printError("This stops etcd and replaces \(plan.dataDir). Type the member name (\(plan.memberName)) or yes to \(action): ", newline: false)
        let answer = readLine()?.trimmingCharacters(in: .whitespaces) ?? ""
        guard answer == "yes" || answer == plan.memberName else {
            printError("Not confirmed; nothing was changed.")
            throw ExitCode(1)
        }
    }

    /// Prints events as they come (table output only; JSON prints the report at the end).
    private func printer() -> RestoreExecutor.EventHandler {
        let json = output.output == .json
        return { event in
            guard !json else { return }
            switch event {
            case .stepStarted(let kind):
                let number = (RestoreStepKind.allCases.firstIndex(of: kind) ?? 0) + 1
                printError("[\(number)/\(RestoreStepKind.allCases.count)] \(kind.title)...")
            case .output(_, let line):
                printError("      \(line)")
            case .stepFinished(let result):
                printError("      \(result.status.rawValue.uppercased()) (\(result.durationMs) ms): \(result.detail)")
            case .rollbackStarted(let reason):
                printError("ROLLING BACK: \(reason)")
            case .rollbackFinished(let result):
                printError(result.problems.isEmpty ? "Rollback done." : "Rollback finished with problems: \(result.problems.joined(separator: "; "))")
            case .finished:
                break
            }
        }
    }

    private func finish(_ report: RestoreReport) throws {
        switch output.output {
        case .json:
            try printJSON(report)
        case .table:
            if rollback, let result = report.rollback {
                print(result.problems.isEmpty ? "Rolled back: the original data dir is at \(report.dataDir)\(result.etcdRunning ? " and etcd answers" : "")."
                                              : "Rolled back with problems: \(result.problems.joined(separator: "; "))")
            } else if report.succeeded && noStart {
                print("Restored \(report.snapshot) into \(report.dataDir); etcd is left stopped (restore --resume starts it).")
            } else if report.succeeded {
                print("Restored \(report.snapshot) into \(report.dataDir).")
            } else {
                print("Restore FAILED: \(report.error ?? "see the steps above")")
                if report.rolledBack { print("Rolled back.") }
                if let error = report.error, !rollback, !resume {
                    if error.contains("members") && error.contains("expected") {
                        print("change: etcd's unit starts a member name other than the one restored; give the unit's with --name (and --initial-cluster), then plan again:")
                    } else {
                        print("change: read the failed step above; correct the setting it names (each has a flag: --data-dir --name --initial-cluster --initial-advertise-peer-urls --unit), then plan again:")
                    }
                    print("  etcd-console restore \(report.snapshot) --dry-run")
                }
            }
            for note in report.notes { print("note: \(note)") }
            for reminder in report.reminders { print("next: \(reminder)") }
        }
        // A rollback the operator asked for succeeds when the original is back and etcd answers.
        if rollback, let result = report.rollback, result.originalRestored, result.etcdRunning || noStart, result.problems.isEmpty { return }
        if !report.succeeded { throw ExitCode(1) }
    }
}
