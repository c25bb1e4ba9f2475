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

    func clusterStatus() async throws -> [MemberStatus] {
        try await client.clusterStatus()
    }

    func diagnoseDataDir() async -> (DoctorReport, dataDir: String) {
        // The data dir, WAL dir and quota restore and doctor use: the session's one settings value.
        let setting = resolved.settings[.dataDir]
        let examined = setting?.value ?? "/var/lib/etcd"
        let wal = resolved.chosen(.walDir).map(\.value).flatMap { $0.hasPrefix(examined + "/") ? nil : $0 }
        let quota = resolved.chosen(.quotaBackendBytes)
        let report = DataDirDoctor(dataDir: examined, walDir: wal, backupDirectory: catalog.directory,
                                   quotaBytes: quota.flatMap { Int64($0.value) }.flatMap { $0 > 0 ? $0 : nil } ?? 2 << 30, now: Date(),
                                   dataDirSource: setting?.source.description,
                                   quotaSource: quota?.source.description ?? "etcd's default").examine()
        return (report, examined)
    }

    func listSnapshots() async throws -> CatalogListing {
        guard FileManager.default.fileExists(atPath: catalog.directory) else {
            return CatalogListing(entries: [], leftoverParts: [], ignored: [])
        }
        return try catalog.list()
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
        let throttle = ProgressThrottle(progress)
        let saved = try await catalog.saveVerified(from: client, progress: { throttle.send($0) })
        let name = (saved.save.path as NSString).lastPathComponent
        // The directory warnings `snapshot save` prints on stderr (others can list it) go with the result.
        let warnings = saved.warnings.map { "; warning: " + $0 }.joined()
        return "saved \(name) (\(formatBytes(saved.save.size)), revision \(saved.save.revision), \(saved.verification.liveKeys.map(String.init) ?? "?") keys, verified good)" + warnings
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
        try await restoreSession.executor(for: plan).run(onEvent: onEvent)
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
