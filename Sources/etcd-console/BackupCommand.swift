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

        Logs one line per step on stdout (no progress bar unless stderr is a terminal; no timestamps under \
        journald). Records its progress in <dir>/.etcd-console-backup.json for the console's Jobs screen and the \
        outcome in <dir>/.etcd-console-backup-history.json.

        Settings: flags, then ETCDCTL_*/ETCD_CONSOLE_* variables, then the config file, then discovery.
        Exit codes: 0 a good snapshot was written; 1 none was (or another backup is running); 2 usage or \
        configuration error.

        Examples:
          etcd-console backup          # settings from /etc/etcd-console/config.yaml
          etcd-console backup --dir /backup/etcd --keep-last 12 --daily 7
          etcd-console backup --metrics-file /var/lib/node_exporter/etcd-console.prom
        """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("Snapshot directory (env ETCD_CONSOLE_DIR; default /var/lib/etcd-backup).", valueName: "dir"))
    var dir: String?

    @Option(help: ArgumentHelp("Prometheus textfile to write after the run (env ETCD_CONSOLE_METRICS_FILE).", valueName: "file"))
    var metricsFile: String?

    @Option(help: ArgumentHelp("etcd's data dir, to warn when snapshots share its disk (default: discovered).", valueName: "dir"))
    var dataDir: String?

    @OptionGroup var retention: RetentionOptions

    func run() async throws {
        var flags = retention.configurationFlags
        flags[.dir] = dir.map(absolutePath)
        flags[.metricsFile] = metricsFile.map(absolutePath)
        flags[.dataDir] = dataDir.map(absolutePath)
        let resolved = try connection.resolve(extra: flags)
        let run = BackupRun(resolved: resolved, log: BackupLog())
        guard await run.perform() else { throw ExitCode(1) }
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

/// One line per step on stdout, prefixed with the UTC time unless journald (which stamps lines itself) reads it.
struct BackupLog: Sendable {
    let timestamps = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] == nil

    func step(_ text: String) { emit(text, toStderr: false) }
    func warning(_ text: String) { emit("warning: " + text, toStderr: true) }
    func error(_ text: String) { emit("error: " + text, toStderr: true) }

    private func emit(_ text: String, toStderr: Bool) {
        let line = (timestamps ? rfc3339(Date()) + " " : "") + "backup: " + text + "\n"
        (toStderr ? StandardStream.error : StandardStream.output).write(line)
    }
}

/// A thread-safe boolean that only goes from false to true.
final class SignalFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A task set once it exists; cancelling before that cancels it as soon as it is set.
final class CancellableTask: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<SnapshotCatalog.SavedSnapshot, Error>?
    private var cancelled = false

    func set(_ task: Task<SnapshotCatalog.SavedSnapshot, Error>) {
        let cancelNow = lock.withLock { () -> Bool in
            self.task = task
            return cancelled
        }
        if cancelNow { task.cancel() }
    }

    func cancel() {
        let task = lock.withLock { () -> Task<SnapshotCatalog.SavedSnapshot, Error>? in
            cancelled = true
            return self.task
        }
        task?.cancel()
    }
}

/// Keeps `<dir>/.etcd-console-backup.json` current: at each phase and at most once a second while streaming.
/// A record that cannot be written is reported once and never fails the backup.
final class JobRecorder: @unchecked Sendable {
    private let directory: String
    private let log: BackupLog
    private let lock = NSLock()
    private var record: BackupJobRecord
    private var lastWrite = Date.distantPast
    private var warned = false

    init(directory: String, startedAt: Date, log: BackupLog) {
        self.directory = directory
        self.log = log
        self.record = BackupJobRecord(startedAt: startedAt, phase: .connecting)
    }

    /// Applies `change`; writes the record when `force`, when the phase changed, or when a second has passed.
    func update(force: Bool = true, _ change: (inout BackupJobRecord) -> Void) {
        lock.withLock {
            let phase = record.phase
            change(&record)
            let now = Date()
            guard force || record.phase != phase || now.timeIntervalSince(lastWrite) >= 1 else { return }
            record.updatedAt = now
            lastWrite = now
            do { try record.write(toDirectory: directory) } catch {
                if !warned { log.warning("could not record progress for the console: \(error)") }
                warned = true
            }
        }
    }
}

/// The steps of one backup, in order; returns true only when a good snapshot was written.
struct BackupRun {
    let resolved: ResolvedConfiguration
    let log: BackupLog
    /// Set by SIGINT/SIGTERM: the error that follows is reported as an interruption, whatever the call says.
    let interrupted = SignalFlag()
    /// The running save, for the signal handler to cancel.
    let saveTask = CancellableTask()

    func perform() async -> Bool {
        let started = Date()
        // Installed first, so a SIGTERM (systemctl stop) at any point is recorded, never a silent death.
        let interrupted = self.interrupted
        let saveTask = self.saveTask
        let interrupt = InterruptHandler {
            interrupted.set()
            saveTask.cancel()
        }
        defer { interrupt.cancel() }
        let directory = resolved.snapshotDirectory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            log.error("could not create the snapshot directory \(directory): \((error as NSError).localizedDescription)")
            return false
        }
        let lock: BackupLock
        do { lock = try BackupLock.acquire(directory: directory) } catch {
            log.error(error.message)
            return false
        }
        defer { lock.release() }

        let recorder = JobRecorder(directory: directory, startedAt: started, log: log)
        recorder.update { _ in }
        log.step("connecting to \(resolved.endpoints.joined(separator: ", ")) (snapshot directory \(directory))")
        let catalog = SnapshotCatalog.standard(directory: directory)
        let saved: SnapshotCatalog.SavedSnapshot
        do {
            saved = try await save(into: catalog, recorder: recorder)
        } catch {
            let reason = interrupted.isSet || error is CancellationError || (error as? SnapshotStoreError)?.kind == .cancelled
                ? "interrupted by a signal (SIGINT/SIGTERM); nothing was saved" : "\(error)"
            log.error("no snapshot was saved: \(reason)")
            finish(recorder: recorder, started: started, catalog: catalog,
                   run: .init(startedAt: started, finishedAt: Date(), succeeded: false, message: reason))
            return false
        }
        let file = (saved.save.path as NSString).lastPathComponent
        log.step("verified \(file): good (\(saved.verification.liveKeys.map { "\($0) keys, " } ?? "")revision \(saved.save.revision))")
        if let dataDir = resolved[.dataDir], let warning = catalog.sameFilesystemWarning(dataDir: dataDir) {
            log.warning(warning.replacingOccurrences(of: "warning: ", with: ""))
        }

        recorder.update { $0.phase = .retention }
        applyRetention(catalog)

        let message = "saved \(file) (\(formatBytes(saved.save.size)), revision \(saved.save.revision))"
        finish(recorder: recorder, started: started, catalog: catalog,
               run: .init(startedAt: started, finishedAt: Date(), succeeded: true, fileName: file,
                          sizeBytes: saved.save.size, revision: saved.save.revision, message: message))
        log.step("done: \(message)")
        return true
    }

    private func save(into catalog: SnapshotCatalog, recorder: JobRecorder) async throws -> SnapshotCatalog.SavedSnapshot {
        let client = EtcdClient(try clientConfiguration(resolved))
        let bar = ProgressLine(enabled: Terminal.stderrIsTTY)
        let log = self.log
        let task = Task {
            try Task.checkCancellation()
            return try await catalog.saveVerified(from: client, progress: { progress in
                bar.update(progress)
                recorder.update(force: false) { record in
                    record.phase = .saving
                    record.bytesWritten = Int64(progress.bytesReceived)
                    record.bytesTotal = progress.totalBytes.map(Int64.init)
                }
            }, streamed: { result in
                bar.finish()
                let seconds = String(format: "%.1f", result.duration.milliseconds / 1000)
                log.step("saved \(result.path) (\(formatBytes(result.size)) from \(result.endpoint) in \(seconds)s); verifying")
                recorder.update { record in
                    record.phase = .verifying
                    record.fileName = (result.path as NSString).lastPathComponent
                    record.bytesWritten = Int64(result.size)
                }
            })
        }
        saveTask.set(task)
        do {
            let saved = try await task.value
            await client.close()
            return saved
        } catch {
            bar.finish()
            await client.close()
            throw error
        }
    }

    /// Deletes what the policy lets go and leftover `.part` files older than an hour; a failure here is a warning:
    /// the good snapshot is already written.
    private func applyRetention(_ catalog: SnapshotCatalog) {
        do {
            let outcome = try catalog.prune(policy: resolved.retentionPolicy, now: Date(), dryRun: false)
            let (plan, deleted, parts) = (outcome.plan, outcome.deleted, outcome.removedParts)
            var line = "retention: kept \(plan.keep.count), deleted \(deleted.count)"
            if !deleted.isEmpty { line += " (\(deleted.joined(separator: ", ")))" }
            if let why = plan.deletesNothingReason { line += "; \(why)" }
            if !parts.isEmpty { line += "; removed leftover \(parts.joined(separator: ", "))" }
            log.step(line)
        } catch {
            log.warning("retention failed, nothing more deleted: \(error)")
        }
    }

    /// Records the outcome: history, metrics, the job record's last phase.
    private func finish(recorder: JobRecorder, started: Date, catalog: SnapshotCatalog, run: BackupHistory.Run) {
        let directory = catalog.directory
        let history = BackupHistory.read(fromDirectory: directory).recording(run)
        do { try history.write(toDirectory: directory) } catch {
            log.warning("could not write the backup history: \(error)")
        }
        if let path = resolved[.metricsFile] {
            recorder.update { $0.phase = .metrics }
            let entries = (try? catalog.list().entries) ?? []
            do {
                try BackupMetrics(directory: directory, history: history, entries: entries, now: Date()).write(to: path)
                log.step("metrics written to \(path)")
            } catch {
                log.warning("could not write the metrics file: \(error)")
            }
        }
        recorder.update { record in
            record.phase = run.succeeded ? .succeeded : .failed
            record.finishedAt = run.finishedAt
            record.message = run.message
        }
    }
}
