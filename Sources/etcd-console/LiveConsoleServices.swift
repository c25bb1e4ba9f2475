import ConsoleUI
import EtcdClient
import Foundation
import Operations
import Recovery
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The console's effects against the real modules: etcd through one `EtcdClient`, the snapshot directory
/// through `SnapshotCatalog`, the data dir through `DataDirDoctor`.
struct LiveConsoleServices: ConsoleServices {
    let client: EtcdClient
    let catalog: SnapshotCatalog
    /// The one settings value of this session (flags > environment > file > discovery, run once > defaults).
    let resolved: ResolvedConfiguration
    /// The data dir a flag, the environment or the config file chose; nil: discovered, else /var/lib/etcd.
    var dataDir: String? { resolved.chosen(.dataDir).flatMap { $0.source.layer == "discovery" ? nil : $0.value } }
    let runner: any ProcessRunner = SystemProcessRunner()
    /// `--etcd-prefix`: where kube-apiserver keeps objects (browse and diff); OpenShift uses /kubernetes.io.
    var etcdPrefix = KubernetesKey.defaultPrefix
    /// The snapshot being browsed, open while the console reads its pages.
    let browsers = SnapshotBrowserCache()
    /// The remote `remote:` configures, or nil (no offsite copies).
    var offsiteStore: OffsiteStore?
    /// The snapshot directory's signature at the last listing (the periodic reload skips an unchanged directory).
    let lastListing = ListingMemo()

    func clusterStatus() async throws -> [MemberStatus] {
        try await client.clusterStatus()
    }

    func diagnoseDataDir() async -> (DoctorReport, dataDir: String) {
        // The data dir, WAL dir and quota restore and doctor use: the session's one settings value.
        let setting = resolved.settings[.dataDir]
        let examined = setting?.value ?? "/var/lib/etcd"
        let wal = resolved.chosen(.walDir).map(\.value).flatMap { $0.hasPrefix(examined + "/") ? nil : $0 }
        let quota = resolved.chosen(.quotaBackendBytes)
        var doctor = DataDirDoctor(dataDir: examined, walDir: wal, backupDirectory: catalog.directory,
                                   quotaBytes: quota.flatMap { Int64($0.value) }.flatMap { $0 > 0 ? $0 : nil } ?? 2 << 30, now: Date(),
                                   dataDirSource: setting?.source.description,
                                   quotaSource: quota?.source.description ?? "etcd's default")
        doctor.quorum = resolved[.initialCluster].map { QuorumProbe(initialCluster: $0, localName: resolved[.name]) }
        var report = doctor.examine()
        if report.findings.contains(where: { $0.code == "data-dir-missing" }), let store = offsiteStore {
            let directory = catalog.directory
            var remote = RemoteCatalog.cached(inDirectory: directory)
            if remote == nil { remote = try? await OffThread.run { try store.list() } }
            report = RebuildOffer.amend(report, remote: remote)
        }
        return (report, examined)
    }

    func listSnapshots() async throws -> CatalogListing {
        guard FileManager.default.fileExists(atPath: catalog.directory) else {
            return CatalogListing(entries: [], leftoverParts: [], ignored: [])
        }
        let signature = catalog.directorySignature()
        let listing = try catalog.list()
        // The signature from before the listing: a change while listing makes the next reload list again.
        lastListing.set(signature)
        return listing
    }

    func listSnapshotsIfChanged() async throws -> CatalogListing? {
        if let signature = catalog.directorySignature(), lastListing.isCurrent(signature) { return nil }
        return try await listSnapshots()
    }

    func freeBytes() async -> Int64? {
        try? FreeSpace.near(catalog.directory).get().bytes
    }

    func backupRecord() async -> (BackupJobRecord, interrupted: Bool)? {
        guard let record = BackupJobRecord.read(fromDirectory: catalog.directory) else { return nil }
        return (record, record.isInterrupted())
    }

    /// The timer `etcd-console schedule --install` sets up (issue 7); systemctl prints its next elapse time.
    static let backupTimer = SystemdBackupUnits.timerName

    func nextScheduledBackup() async -> String? {
        let request = ProcessRequest("systemctl", ["show", "--property=NextElapseUSecRealtime", "--value", Self.backupTimer],
                                     timeout: .seconds(5))
        guard let outcome = try? await runner.run(request), outcome.succeeded else { return nil }
        let next = outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !next.isEmpty, next != "n/a", !next.contains("\n") else { return nil }
        return "\(next) (\(Self.backupTimer))"
    }

    func saveSnapshot(progress: @escaping @Sendable (SnapshotProgress) -> Void) async throws -> String {
        try await takeSnapshot(progress: progress).message
    }

    func takeSnapshot(progress: @escaping @Sendable (SnapshotProgress) -> Void) async throws -> SavedSnapshot {
        let throttle = ProgressThrottle(progress)
        let saved = try await catalog.saveVerified(from: client, progress: { throttle.send($0) })
        let name = (saved.save.path as NSString).lastPathComponent
        // The directory warnings `snapshot save` prints on stderr (others can list it) go with the result.
        let warnings = saved.warnings.map { "; warning: " + $0 }.joined()
        let message = "saved \(name) (\(formatBytes(saved.save.size)), revision \(saved.save.revision), \(saved.verification.liveKeys.map(String.init) ?? "?") keys, verified good)" + warnings
        return SavedSnapshot(message: message, snapshot: SnapshotRef(name: name, path: saved.save.path))
    }

    // MARK: - Control-plane bundles

    /// The bundle each snapshot points at (manifests only, not verified: `bundle show` verifies) and the
    /// certificates that expire within 30 days: the files on disk when readable, else the newest bundle's.
    func controlPlane() async -> ControlPlaneView? {
        let directory = catalog.directory
        let resolved = self.resolved
        return try? await OffThread.run {
            let store = BundleStore(directory: directory)
            let (summaries, _) = store.list()
            let now = Date()
            var bundles: [String: ControlPlaneView.Bundle] = [:]
            for summary in summaries {
                let bundle = ControlPlaneView.Bundle(name: summary.name, files: summary.manifest.files.count, size: Int64(summary.size),
                                                     createdAt: summary.manifest.createdAt,
                                                     expiringCertificates: CertificateExpiry.soon(in: summary.manifest.files, now: now).count)
                for snapshot in summary.snapshots { bundles[snapshot] = bundle }
            }
            let expiring = CertificateExpiryCheck.check(resolved: resolved, now: now).expiring
            return ControlPlaneView(bundles: bundles, expiring: expiring.map { .init(path: $0.path, notAfter: $0.notAfter) })
        }
    }

    // MARK: - Offsite

    /// The cached remote catalog (or a fresh listing, which rewrites the cache), the record, and whether the
    /// newest good offsite copy is behind twice the schedule (`OffsiteStatus`, the rule `status` warns with).
    func offsite(refresh: Bool) async -> OffsiteView? {
        guard let store = offsiteStore else { return nil }
        let directory = catalog.directory
        let exists = FileManager.default.fileExists(atPath: directory)
        var remote = RemoteCatalog.cached(inDirectory: directory)
        var listError: String?
        if refresh {
            do {
                remote = try await OffThread.run { try store.list(cacheDirectory: exists ? directory : nil) }
            } catch {
                listError = "\(error)"
            }
        }
        // A cache written for another bucket or prefix says nothing about this one.
        if remote?.location != store.settings.location { remote = nil }
        let entries = exists ? ((try? catalog.list().entries) ?? []) : []
        let bucket = store.settings.bucket
        let record = OffsiteRecord.read(fromDirectory: directory)
        let status = OffsiteStatus(record: record, bucket: bucket, entries: entries)
        let copies = (remote?.snapshots ?? []).map {
            RemoteCopy(name: $0.name, objectKey: $0.objectKey, takenAt: $0.manifest.takenAt, revision: $0.manifest.revision,
                       dbSize: $0.manifest.dbSize, objectSize: $0.manifest.objectSize, codec: $0.manifest.codec.rawValue,
                       memberName: $0.manifest.memberName.isEmpty ? nil : $0.manifest.memberName,
                       memberID: $0.manifest.memberId.isEmpty ? nil : $0.manifest.memberId,
                       clusterID: $0.manifest.clusterId.isEmpty ? nil : $0.manifest.clusterId,
                       etcdVersion: $0.manifest.etcdVersion.isEmpty ? nil : $0.manifest.etcdVersion, problem: $0.problem)
        }
        return OffsiteView(location: store.settings.location, listedAt: remote?.listedAt, copies: copies,
                           offsite: Set(record.uploads.filter { $0.value.bucket == bucket }.keys),
                           newestOffsiteAt: status.newestOffsiteTakenAt,
                           behindSchedule: status.warning(intervalSeconds: resolved.interval.seconds, now: Date()) != nil,
                           missingCount: status.missing.count, listError: listError)
    }

    func upload(_ snapshot: SnapshotRef, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String {
        guard let store = offsiteStore else { throw NoRemoteConfigured() }
        guard let entry = try catalog.list().entries.first(where: { $0.name == snapshot.name }) else {
            throw SnapshotStoreError(.io, path: snapshot.path, "\(snapshot.path) is no longer in the directory")
        }
        let directory = catalog.directory
        let throttle = TransferThrottle(progress)
        // curl is synchronous: the upload runs on a thread of its own, never on the UI's or the task pool's.
        let result = try await OffThread.run { try store.pushRecorded(entry, directory: directory, progress: { throttle.send($0, $1) }) }
        return "uploaded \(entry.name) to s3://\(store.settings.bucket)/\(result.objectKey) (\(formatBytes(Int(result.manifest.objectSize))), \(result.manifest.codec.rawValue))"
    }

    func verifyRemote(_ name: String, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String {
        guard let store = offsiteStore else { throw NoRemoteConfigured() }
        let throttle = TransferThrottle(progress)
        let result = try await OffThread.run { try store.verify(name, progress: { throttle.send($0, $1) }) }
        return "\(result.name): good: object and snapshot SHA-256 match the manifest, \(result.hasTrailer ? "etcd trailer matches" : "no etcd trailer") (\(formatBytes(Int(result.dbSize))), s3://\(store.settings.bucket)/\(result.objectKey))"
    }

    func pull(_ name: String, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> SnapshotRef {
        guard let store = offsiteStore else { throw NoRemoteConfigured() }
        let directory = catalog.directory
        try SafeFile.createDirectory(directory)
        let throttle = TransferThrottle(progress)
        let path = try await OffThread.run { try store.pull(name, into: directory, progress: { throttle.send($0, $1) }) }
        return SnapshotRef(name: (path as NSString).lastPathComponent, path: path)
    }

    func damage(of snapshot: SnapshotRef) async -> String? {
        let check = SnapshotReadCheck.run(path: snapshot.path)
        return check.isDamaged ? "\(snapshot.name): \(check.reason ?? check.health.rawValue)" : nil
    }

    func verify(_ snapshot: SnapshotRef) async -> SnapshotVerification {
        SnapshotVerifier.verify(path: snapshot.path)
    }

    func delete(_ snapshot: SnapshotRef) async throws {
        guard let entry = try catalog.list().entries.first(where: { $0.name == snapshot.name }) else {
            throw SnapshotStoreError(.io, path: snapshot.path, "\(snapshot.path) is no longer in the directory")
        }
        try catalog.delete(entry)
    }

    func planPrune(now: Date) async throws -> RetentionPlan {
        Retention.plan(try catalog.list().entries.map(\.retentionCandidate), policy: .default, now: now)
    }

    func prune(_ names: [String]) async throws -> [String] {
        let entries = try catalog.list().entries
        var deleted: [String] = []
        for name in names {
            guard let entry = entries.first(where: { $0.name == name }) else { continue }
            try catalog.delete(entry)
            deleted.append(name)
        }
        return deleted
    }

    func objects(in snapshot: SnapshotRef) async throws -> [KubernetesObject] {
        try SnapshotInspector.objects(path: snapshot.path, prefix: etcdPrefix)
    }

    func browseGroups(in snapshot: SnapshotRef) async throws -> [BrowseGroup] {
        let browser = try browsers.browser(path: snapshot.path, prefix: etcdPrefix)
        return browser.groups.map { BrowseGroup($0, count: browser.count(in: $0)) }
    }

    func browsePage(in snapshot: SnapshotRef, _ request: BrowsePageRequest) async throws -> BrowsePage {
        let page = try browsers.browser(path: snapshot.path, prefix: etcdPrefix)
            .page(in: request.group, nameContaining: request.filter, start: request.start, count: request.count)
        return BrowsePage(request: request, total: page.total, objects: page.objects, positions: page.positions)
    }

    func diff(from: SnapshotRef, to: SnapshotRef) async throws -> SnapshotDiff {
        try SnapshotDiffer.diff(from.path, to.path, prefix: etcdPrefix)
    }

    func checkCluster() async throws -> ConsistencyCheck {
        let report = try await ClusterCheck(client: client, settings: resolved).run()
        return ConsistencyCheck(
            revision: report.revision,
            members: report.members.map {
                ConsistencyCheck.Member(name: $0.name.isEmpty ? $0.endpoint : $0.name, endpoint: $0.endpoint,
                                        hash: $0.hash.map { String(format: "%08x", $0) }, consistent: $0.consistent,
                                        error: $0.error)
            },
            verdict: CommandTables.checkVerdict(report),
            findings: report.findings.map { .init(isError: $0.severity == .error, message: $0.message, action: $0.action) },
            healthy: report.healthy)
    }

    // MARK: - Restore

    /// The restore session (settings -> plan -> executor), the same `etcd-console restore` uses.
    var restoreSession: RestoreSession {
        let configuration = client.configuration
        return RestoreSession(settings: resolved, runner: runner, clientConfiguration: { configuration })
    }

    func planRestore(_ snapshot: SnapshotRef) async throws -> RestorePlan {
        try await planRestore(snapshot, edits: RestoreEdits())
    }

    func planRestore(_ snapshot: SnapshotRef, edits: RestoreEdits) async throws -> RestorePlan {
        let session = restoreSession
        // The console is connected: while etcd answers, the member restores as itself (see RestoreSession.options).
        let options = session.options(snapshot: snapshot.path, runningMember: await RestoreSession.runningMember(of: client),
                                      edits: edits)
        return try await session.plan(options)
    }

    func runRestore(_ plan: RestorePlan, onEvent: @escaping @Sendable (RestoreEvent) -> Void) async throws -> RestoreReport {
        let report = try await restoreSession.executor(for: plan).run(onEvent: onEvent)
        if report.succeeded { RestoreSession.removeRestoreCopy(of: plan) }
        return report
    }

    func unfinishedRestore() async -> (RestorePlan, summary: String, steps: [RestoreStepKind: StepStatus])? {
        guard let journal = restoreSession.unfinishedJournal() else { return nil }
        let steps = Dictionary(uniqueKeysWithValues: RestoreStepKind.allCases.compactMap { kind in journal.status(of: kind).map { (kind, $0) } })
        return (journal.plan, journal.summary, steps)
    }

    func resumeRestore(onEvent: @escaping @Sendable (RestoreEvent) -> Void) async throws -> RestoreReport {
        let journal = try unfinishedJournal()
        return try await restoreSession.executor(for: journal.plan).resume(journal, onEvent: onEvent)
    }

    func rollbackRestore(onEvent: @escaping @Sendable (RestoreEvent) -> Void) async throws -> RestoreReport {
        let journal = try unfinishedJournal()
        return try await restoreSession.executor(for: journal.plan).rollback(journal, onEvent: onEvent)
    }

    private func unfinishedJournal() throws -> RestoreJournal {
        let session = restoreSession
        guard let journal = session.unfinishedJournal() else {
            throw RestoreError(.journal, "no unfinished restore journal at \(RestoreJournal.path(forDataDir: session.dataDir)) any more")
        }
        return journal
    }
}

/// Passes on at most ten progress updates a second (a save reports every chunk).
final class ProgressThrottle: @unchecked Sendable {
    private let lock = NSLock()
    private var last = ContinuousClock.now - .seconds(1)
    private let forward: @Sendable (SnapshotProgress) -> Void

    init(_ forward: @escaping @Sendable (SnapshotProgress) -> Void) { self.forward = forward }

    func send(_ progress: SnapshotProgress) {
        let due = lock.withLock {
            let now = ContinuousClock.now
            guard now - last >= .milliseconds(100) else { return false }
            last = now
            return true
        }
        if due { forward(progress) }
    }
}

/// Bytes moved, passed on at most ten times a second.
final class TransferThrottle: @unchecked Sendable {
    private let lock = NSLock()
    private var last = ContinuousClock.now - .seconds(1)
    private let forward: @Sendable (TransferProgress) -> Void

    init(_ forward: @escaping @Sendable (TransferProgress) -> Void) { self.forward = forward }

    func send(_ done: Int64, _ total: Int64) {
        let due = lock.withLock {
            let now = ContinuousClock.now
            guard now - last >= .milliseconds(100) || done >= total else { return false }
            last = now
            return true
        }
        if due { forward(TransferProgress(done: done, total: total)) }
    }
}

/// Synchronous work (curl's transfers) on a thread of its own with an 8 MiB stack, awaited: it never blocks the
/// UI thread or one of the few threads of Swift's task pool, and the codec stages get a main-thread-sized stack
/// (a pool thread's is 512 KiB).
enum OffThread {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}

/// The directory signature of the console's last snapshot listing, and when it was taken. A listing older than
/// `maximumAge` is never current, so a file rewritten in place (which leaves the directory alone) shows up within
/// minutes.
final class ListingMemo: @unchecked Sendable {
    static let maximumAge: TimeInterval = 300
    private let lock = NSLock()
    private var signature: DirectorySignature?
    private var listedAt = Date.distantPast

    func set(_ signature: DirectorySignature?) {
        lock.withLock {
            self.signature = signature
            listedAt = Date()
        }
    }

    func isCurrent(_ current: DirectorySignature) -> Bool {
        lock.withLock { signature == current && Date().timeIntervalSince(listedAt) < Self.maximumAge }
    }
}
