import EtcdClient
import Foundation
import Glibc
import SnapshotStore
import SystemSupport

/// One line per step: steps on stdout, warnings and errors on stderr, each prefixed with the UTC time unless
/// journald (which stamps lines itself) reads it. `sink` replaces the output (tests capture the lines).
public struct BackupLog: Sendable {
    public enum Stream: Sendable { case stdout, stderr }

    let timestamps: Bool
    let sink: @Sendable (String, Stream) -> Void

    /// Standard output and error; timestamps unless JOURNAL_STREAM says journald reads them.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        timestamps = environment["JOURNAL_STREAM"] == nil
        sink = { line, stream in
            // write(2), not FileHandle.write: with SIGPIPE ignored, FileHandle traps on a closed pipe (EPIPE);
            // a reader gone loses the log line, never the backup.
            let fd = stream == .stderr ? STDERR_FILENO : STDOUT_FILENO
            var bytes = Array(line.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    return
                }
                bytes = bytes.dropFirst(written)
            }
        }
    }

    /// Lines go to `sink` (with their newline), without timestamps.
    public init(sink: @escaping @Sendable (String, Stream) -> Void) {
        timestamps = false
        self.sink = sink
    }

    public func step(_ text: String) { emit(text, to: .stdout) }
    public func warning(_ text: String) { emit("warning: " + text, to: .stderr) }
    public func error(_ text: String) { emit("error: " + text, to: .stderr) }

    private func emit(_ text: String, to stream: Stream) {
        sink((timestamps ? iso8601(Date()) + " " : "") + "backup: " + text + "\n", stream)
    }
}

/// A thread-safe boolean that only goes from false to true.
final class SignalFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A size known once the save's stream is complete.
final class SizeBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Int64?
    func set(_ value: Int64) { lock.withLock { stored = value } }
    var value: Int64? { lock.withLock { stored } }
}

/// The outcome of the upload beside the save, awaited once the save is done.
final class FollowedUpload: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<OffsiteStore.FollowedUpload, OffsiteError>?

    func finish(_ result: Result<OffsiteStore.FollowedUpload, OffsiteError>) {
        lock.withLock { self.result = result }
        done.signal()
    }

    /// Waits (off the cooperative pool) for the upload thread to end.
    var value: Result<OffsiteStore.FollowedUpload, OffsiteError> {
        get async {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    self.done.wait()
                    self.done.signal()   // a second await gets it too
                    continuation.resume(returning: self.lock.withLock { self.result! })
                }
            }
        }
    }
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

    /// The snapshot's file name, once the stream is complete.
    var fileName: String? { lock.withLock { record.fileName } }

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

/// The steps of one `etcd-console backup`, in order: directory checks, the lock, save + verify + sidecar,
/// retention, history, metrics and the job record the console shows. `perform()` returns true only when a good
/// snapshot was written. The executable parses, resolves settings and credentials, installs the signal handler
/// (which calls `interrupt()`) and prints nothing itself; everything else is here, with in-process tests.
public struct BackupRun: Sendable {
    public let resolved: ResolvedConfiguration
    /// How to reach etcd, credentials included (resolved before the run, so a missing password fails at once).
    public let configuration: EtcdClientConfiguration
    public let log: BackupLog
    /// Called while the snapshot streams (a progress bar), and once when the stream is complete.
    public var progress: (@Sendable (SnapshotProgress) -> Void)?
    public var streamed: (@Sendable () -> Void)?
    /// Where offsite copies go (issue 14); nil when `remote:` is not configured. After a good save, every good
    /// local snapshot not yet offsite is uploaded (oldest first) before local retention runs.
    public var offsite: OffsiteStore?
    /// The control-plane files kept beside the snapshot (issue 15); nil with `--no-bundle` or `bundle.enabled: false`.
    public var bundle: BundleSources?
    /// Called while a snapshot uploads (name, bytes of the local file read, its size): a progress line on a TTY.
    public var uploadProgress: (@Sendable (String, Int64, Int64) -> Void)?
    /// Called once the uploads are over (done or failed), before their results are logged.
    public var uploaded: (@Sendable () -> Void)?
    /// Set by SIGINT/SIGTERM: the error that follows is reported as an interruption, whatever the call says.
    let interrupted = SignalFlag()
    /// The running save, for the signal handler to cancel.
    let saveTask = CancellableTask()
    /// The saved file's size once the stream is complete (the upload beside it reports progress against it).
    let streamedSize = SizeBox()

    public init(resolved: ResolvedConfiguration, configuration: EtcdClientConfiguration, log: BackupLog) {
        self.resolved = resolved
        self.configuration = configuration
        self.log = log
    }

    /// A signal arrived: the save is cancelled and the run is recorded as interrupted. Any thread.
    public func interrupt() {
        interrupted.set()
        saveTask.cancel()
    }

    public func perform() async -> Bool {
        let started = Date()
        let directory = resolved.snapshotDirectory
        do {
            try SafeFile.createDirectory(directory)
            if let warning = try SafeFile.checkDirectory(directory) { log.warning(warning) }
            if let metricsFile = resolved[.metricsFile] {
                let metricsDirectory = (metricsFile as NSString).deletingLastPathComponent
                _ = try SafeFile.checkDirectory(metricsDirectory, what: "the metrics file's directory", warnIfListable: false)
            }
        } catch {
            log.error("\(error)")
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
        // With a remote, the upload runs beside the save: it follows the .part file as it grows and completes
        // only once the save verified it good (issue 14: the two no longer take turns).
        let takenAt = Date()
        let following = offsite.map { _ in GrowingSnapshotFile() }
        let followed = offsite.flatMap { store in following.map { follow($0, offsite: store, takenAt: takenAt, recorder: recorder) } }
        var saved: SnapshotCatalog.SavedSnapshot
        do {
            saved = try await save(into: catalog, configuration: configuration, takenAt: takenAt, following: following,
                                   recorder: recorder)
            following?.finished(.good(size: Int64(saved.save.size), trailer: saved.save.digest))
        } catch {
            let reason = interrupted.isSet || error is CancellationError || (error as? SnapshotStoreError)?.kind == .cancelled
                ? "interrupted by a signal (SIGINT/SIGTERM); nothing was saved" : "\(error)"
            // The upload beside it is aborted: no object, no manifest.
            following?.finished(.failed(reason))
            _ = await followed?.value
            log.error("no snapshot was saved: \(reason)")
            finish(recorder: recorder, started: started, catalog: catalog,
                   run: .init(startedAt: started, finishedAt: Date(), succeeded: false, message: reason))
            return false
        }
        log.step("verified \((saved.save.path as NSString).lastPathComponent): good (\(saved.verification.liveKeys.map { "\($0) keys, " } ?? "")revision \(saved.save.revision))")
        if let dataDir = resolved[.dataDir], let warning = catalog.sameFilesystemWarning(dataDir: dataDir) {
            log.warning(warning.replacingOccurrences(of: "warning: ", with: ""))
        }

        if resolved[.compression] == "zstd" {
            // Stored as .db.zst (verified from its own bytes before the plain file goes); a failure keeps the plain one.
            do {
                saved = try catalog.compress(saved, level: resolved[.compressionLevel].flatMap { Int32($0) } ?? Zstd.defaultLevel)
                log.step("compressed into \((saved.save.path as NSString).lastPathComponent) (\(formatBytes(saved.metadata.size)) of \(formatBytes(saved.save.size)), verified)")
            } catch {
                log.warning("\(error.detail)")
            }
        }
        let file = (saved.save.path as NSString).lastPathComponent
        if let bundle { storeBundle(bundle, snapshotPath: saved.save.path, directory: directory) }

        var offsiteFailure: String?
        if let offsite {
            recorder.update { $0.phase = .uploading }
            offsiteFailure = upload(catalog, offsite: offsite, recorder: recorder,
                                    followed: await followed?.value, savedPath: saved.save.path)
        }

        recorder.update { $0.phase = .retention }
        applyRetention(catalog)
        if bundle != nil {
            let removed = BundleStore(directory: directory).removeUnreferenced()
            if !removed.isEmpty { log.step("bundle retention: deleted \(removed.joined(separator: ", ")) (no snapshot left points at them)") }
        }

        var message = "saved \(file) (\(formatBytes(saved.save.size)), revision \(saved.save.revision))"
        if let offsiteFailure { message += "; not offsite: \(offsiteFailure)" }
        finish(recorder: recorder, started: started, catalog: catalog,
               run: .init(startedAt: started, finishedAt: Date(), succeeded: offsiteFailure == nil, fileName: file,
                          sizeBytes: saved.save.size, revision: saved.save.revision, message: message))
        if offsiteFailure != nil {
            log.error("the snapshot is saved locally but not offsite: \(message)")
            return false
        }
        log.step("done: \(message)")
        return true
    }

    /// Reads the control-plane files and stores them as a bundle beside the snapshot (or points the snapshot at
    /// the unchanged bundle already there). Nothing here fails the backup: the snapshot is good and saved; a file
    /// that cannot be read, or a bundle that cannot be written, is a warning naming it.
    private func storeBundle(_ sources: BundleSources, snapshotPath: String, directory: String) {
        let collection = sources.collect()
        for warning in collection.warnings { log.warning("bundle: \(warning)") }
        let now = Date()
        for expiring in CertificateExpiry.soon(in: collection.files.map(\.file), now: now) {
            log.warning(expiring.warning(now: now))
        }
        guard !collection.files.isEmpty else {
            log.step("bundle: no control-plane files found under \(sources.root); none stored")
            return
        }
        let store = BundleStore(directory: directory)
        do {
            let stored = try store.store(collection, root: sources.root, now: now)
            if let damaged = stored.replacedDamaged { log.warning("bundle: \(damaged); stored a new one") }
            try store.link(snapshot: snapshotPath, to: stored)
            let size = collection.files.reduce(0) { $0 + $1.file.size }
            if stored.reused {
                log.step("bundle: unchanged since \(stored.name) (\(collection.files.count) files); not stored again")
            } else {
                log.step("bundle: stored \(stored.name) (\(collection.files.count) files, \(formatBytes(size)))")
            }
        } catch {
            log.warning("bundle: \(error.message); the snapshot is saved without one")
        }
    }

    /// The upload beside the save, on a thread of its own (curl blocks). Its progress goes to the job record at
    /// once, and to the terminal's hook only once the save's own progress line is done with.
    private func follow(_ file: GrowingSnapshotFile, offsite: OffsiteStore, takenAt: Date,
                        recorder: JobRecorder) -> FollowedUpload {
        let hook = uploadProgress
        let streamedSize = streamedSize
        let followed = FollowedUpload()
        Thread {
            followed.finish(Result { () throws(OffsiteError) in
                try offsite.uploadFollowing(file, takenAt: takenAt) { done, _ in
                    let total = streamedSize.value
                    recorder.update(force: false) { record in
                        record.uploadFileName = record.fileName
                        record.uploadBytes = done
                        record.uploadTotal = total
                    }
                    if let total, let name = recorder.fileName { hook?(name, done, total) }
                }
            })
        }.start()
        return followed
    }

    /// Uploads the good local snapshots that are not offsite yet, after the manifest of the one uploaded beside
    /// the save (`followed`, the snapshot at `savedPath`); returns why it stopped, or nil when all are.
    private func upload(_ catalog: SnapshotCatalog, offsite: OffsiteStore, recorder: JobRecorder,
                        followed: Result<OffsiteStore.FollowedUpload, OffsiteError>?, savedPath: String) -> String? {
        let entries: [SnapshotEntry]
        do { entries = try catalog.list().entries } catch {
            uploaded?()
            return "could not list \(catalog.directory): \(error)"
        }
        let log = self.log
        var first: [PushResult] = []
        switch followed {
        case .success(let upload)?:
            do throws(OffsiteError) {
                guard let entry = entries.first(where: { $0.path == savedPath }) else {
                    throw OffsiteError("the saved snapshot \(savedPath) is not in the catalog; its upload is not recorded")
                }
                first = [try offsite.completeFollowed(upload, entry: entry, directory: catalog.directory)]
            } catch {
                uploaded?()
                log.warning("offsite: \(error.message); the local snapshot is kept and the next backup uploads it")
                return error.message
            }
        case .failure(let error)?:
            // The store is what failed (a wrong key, a dead endpoint): trying the same store again for older
            // snapshots would fail the same way, after the same timeouts.
            uploaded?()
            log.warning("offsite: \(error.message); the local snapshot is kept and the next backup uploads it")
            return error.message
        case nil:
            break
        }
        let hook = uploadProgress
        var (pushed, error) = offsite.catchUp(catalog: catalog, entries: entries, progress: { name, done, total in
            hook?(name, done, total)
            recorder.update(force: false) { record in
                record.uploadFileName = name
                record.uploadBytes = done
                record.uploadTotal = total
            }
        })
        uploaded?()
        pushed = first + pushed
        for result in pushed {
            log.step("offsite: uploaded \(result.name) to s3://\(offsite.settings.bucket)/\(result.objectKey) (\(formatBytes(Int(result.manifest.objectSize))), \(result.manifest.codec.rawValue))")
        }
        uploadBundles(of: entries, pushed: pushed.map(\.name), offsite: offsite)
        if let error {
            log.warning("offsite: \(error.message); the local snapshot is kept and the next backup uploads it")
            return error.message
        }
        if pushed.isEmpty { log.step("offsite: every good snapshot is already in \(offsite.settings.location)") }
        do {
            if let outcome = try offsite.applyRetention(now: Date()) {
                var line = "offsite retention: kept \(outcome.plan.keep.count), deleted \(outcome.deleted.count)"
                if !outcome.deleted.isEmpty { line += " (\(outcome.deleted.joined(separator: ", ")))" }
                log.step(line)
                for refusal in outcome.refused { log.warning("offsite retention: the bucket refused to delete \(refusal) (object lock?); kept") }
            }
            let removed = try offsite.removeUnreferencedBundles()
            if !removed.isEmpty { log.step("offsite bundle retention: deleted \(removed.joined(separator: ", ")) (no remote snapshot names them)") }
        } catch {
            log.warning("offsite retention failed, nothing more deleted remotely: \(error.message)")
        }
        return nil
    }

    /// Uploads the bundles of the snapshots just pushed and of the newest good one (already there: skipped).
    /// A bundle that cannot go up is a warning, never a failed backup: the snapshot is offsite and the bundle is
    /// kept locally; without age recipients (and no remote.bundle-unencrypted) bundles stay local, said once.
    private func uploadBundles(of entries: [SnapshotEntry], pushed: [String], offsite: OffsiteStore) {
        let newest = entries.filter { $0.health == .good }.max { $0.takenAt < $1.takenAt }
        let wanted = entries.filter { pushed.contains($0.name) } + (newest.map { [$0] } ?? [])
        guard wanted.contains(where: { BundleStore(directory: (($0.path as NSString).deletingLastPathComponent)).pointer(forSnapshot: $0.path) != nil }) else { return }
        if let refusal = offsite.bundleRefusal {
            log.warning("offsite: \(refusal)")
            return
        }
        var done: Set<String> = []
        for entry in wanted {
            do {
                guard let result = try offsite.pushBundle(of: entry), !done.contains(result.name) else { continue }
                done.insert(result.name)
                if !result.alreadyThere {
                    log.step("offsite: uploaded \(result.name) to s3://\(offsite.settings.bucket)/\(result.objectKey) (\(formatBytes(Int(result.manifest.objectSize))), \(result.manifest.codec.rawValue))")
                }
            } catch {
                log.warning("offsite: \(error.message); the bundle is kept locally and the next backup uploads it")
            }
        }
    }

    private func save(into catalog: SnapshotCatalog, configuration: EtcdClientConfiguration, takenAt: Date,
                      following: GrowingSnapshotFile?, recorder: JobRecorder) async throws -> SnapshotCatalog.SavedSnapshot {
        let client = EtcdClient(configuration)
        let bar = Bar(progress: progress, streamed: streamed)
        let log = self.log
        let streamedSize = streamedSize
        let task = Task {
            try Task.checkCancellation()
            return try await catalog.saveVerified(from: client, takenAt: takenAt, following: following, progress: { progress in
                bar.update(progress)
                recorder.update(force: false) { record in
                    record.phase = .saving
                    record.bytesWritten = Int64(progress.bytesReceived)
                    record.bytesTotal = progress.totalBytes.map(Int64.init)
                }
            }, streamed: { result in
                bar.finish()
                streamedSize.set(Int64(result.size))
                let seconds = String(format: "%.1f", Double(result.duration.components.seconds)
                                     + Double(result.duration.components.attoseconds) / 1e18)
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

    /// The caller's progress hooks, finished at most once.
    private final class Bar: @unchecked Sendable {
        private let progress: (@Sendable (SnapshotProgress) -> Void)?
        private let streamed: (@Sendable () -> Void)?
        private let lock = NSLock()
        private var finished = false

        init(progress: (@Sendable (SnapshotProgress) -> Void)?, streamed: (@Sendable () -> Void)?) {
            self.progress = progress
            self.streamed = streamed
        }

        func update(_ value: SnapshotProgress) { progress?(value) }

        func finish() {
            let first = lock.withLock { defer { finished = true }; return !finished }
            if first { streamed?() }
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
                var metrics = BackupMetrics(directory: directory, history: history, entries: entries, now: Date())
                if let offsite {
                    metrics.offsite = OffsiteStatus(record: OffsiteRecord.read(fromDirectory: directory),
                                                    bucket: offsite.settings.bucket, entries: entries)
                }
                try metrics.write(to: path)
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
