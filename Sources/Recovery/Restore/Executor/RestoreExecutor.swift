import EtcdClient
import Foundation
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

/// Runs a `RestorePlan` step by step, journaling each step, reporting progress as events, and rolling back
/// by itself when a step fails after the data dir was moved aside.
///
/// Contracts:
/// - The old data dir is moved aside (`plan.asidePath`), never deleted; a failed restore is moved to
///   `plan.failedRestorePath`, never deleted.
/// - Every external command goes through `runner` (systemctl, etcdutl/etcdctl, kubectl) with a timeout.
/// - Each step's start and end are appended to the journal and fsync'd before the next step, so another
///   process can `resume` or `rollback` after this one dies.
/// - `run` refuses to start while an unfinished journal exists for the data dir.
public struct RestoreExecutor: Sendable {
    /// Asks a running restore to stop between steps (Ctrl-C, the console's abort): it then ends as if the
    /// next step had failed — rolled back when the data dir has moved, otherwise etcd started again.
    public final class StopRequest: @unchecked Sendable {
        private let lock = NSLock()
        private var requested = false
        public init() {}
        public func request() { lock.withLock { requested = true } }
        public var isRequested: Bool { lock.withLock { requested } }
    }

    public let plan: RestorePlan
    /// Checked before each step.
    public let stopRequest: StopRequest
    let runner: any ProcessRunner
    let clientConfiguration: EtcdClientConfiguration
    let environment: [String: String]
    let service: ServiceControl

    /// `clientConfiguration` reaches the restored etcd for the health checks (its endpoints should be the
    /// plan's). `environment` is where kubectl's kubeconfig is looked up (KUBECONFIG, HOME).
    public init(plan: RestorePlan, runner: any ProcessRunner, clientConfiguration: EtcdClientConfiguration,
                environment: [String: String] = ProcessInfo.processInfo.environment, stopRequest: StopRequest = StopRequest()) {
        self.plan = plan
        self.stopRequest = stopRequest
        self.runner = runner
        self.clientConfiguration = clientConfiguration
        self.environment = environment
        self.service = ServiceControl(target: plan.service, runner: runner, endpoints: plan.endpoints)
    }

    public typealias EventHandler = @Sendable (RestoreEvent) -> Void

    /// Runs the whole plan. The report says what happened; nothing is thrown.
    public func run(onEvent: @escaping EventHandler = { _ in }) async -> RestoreReport {
        if let unfinished = RestoreJournal.unfinished(dataDir: plan.dataDir) {
            return finish(failedBeforeStart: RestoreError(.journal, "\(unfinished.summary): resume it (restore --resume) or roll it back (restore --rollback) first"),
                          onEvent: onEvent)
        }
        let writer: JournalWriter
        do {
            writer = try JournalWriter(path: plan.journalPath, truncate: true)
            try writer.append(.init(event: .planned, pid: getpid(), plan: plan))
        } catch {
            return finish(failedBeforeStart: error, onEvent: onEvent)
        }
        return await execute(from: .preflight, prior: [], writer: writer, onEvent: onEvent)
    }

    /// Continues an interrupted restore from its journal: from the first step that did not end ok. A
    /// journal whose rollback had started is rolled back instead.
    public func resume(_ journal: RestoreJournal, onEvent: @escaping EventHandler = { _ in }) async -> RestoreReport {
        if journal.rollbackStarted { return await rollback(journal, onEvent: onEvent) }
        let writer: JournalWriter
        do { writer = try JournalWriter(path: journal.path, truncate: false) } catch {
            return finish(failedBeforeStart: error, onEvent: onEvent)
        }
        let prior = RestoreStepKind.allCases.compactMap { kind -> StepResult? in
            guard let status = journal.status(of: kind), status != .failed else { return nil }
            return StepResult(kind: kind, status: status, durationMs: 0, detail: "done before the interruption")
        }
        guard let start = journal.resumeStep else {
            try? writer.append(.init(event: .finished, status: .ok))
            return report(steps: prior, error: nil, rollback: nil)
        }
        return await execute(from: start, prior: prior, writer: writer, onEvent: onEvent)
    }

    /// Rolls an interrupted restore back from its journal: etcd stopped, the restored dir moved to the
    /// failed-restore path, the old data dir moved back, etcd started.
    public func rollback(_ journal: RestoreJournal, onEvent: @escaping EventHandler = { _ in }) async -> RestoreReport {
        let writer: JournalWriter
        do { writer = try JournalWriter(path: journal.path, truncate: false) } catch {
            return finish(failedBeforeStart: error, onEvent: onEvent)
        }
        let reason = "rollback requested for \(journal.summary)"
        let result = await rollBack(reason: reason, writer: writer, onEvent: onEvent)
        let final = report(steps: [], error: nil, rollback: result)
        onEvent(.finished(final))
        return final
    }

    // MARK: running steps

    private func execute(from start: RestoreStepKind, prior: [StepResult], writer: JournalWriter,
                         onEvent: @escaping EventHandler) async -> RestoreReport {
        var results = prior
        let first = RestoreStepKind.allCases.firstIndex(of: start)!
        var etcdStopped = prior.contains { $0.kind == .stopEtcd && $0.status == .ok }
        var dataMoved = prior.contains { $0.kind == .moveAside }
        for kind in RestoreStepKind.allCases[first...] {
            onEvent(.stepStarted(kind))
            try? writer.append(.init(event: .stepStarted, step: kind))
            let began = ContinuousClock.now
            let outcome: Result<(StepStatus, String), any Error>
            do {
                if stopRequest.isRequested {
                    throw RestoreError(.stopped, "stopped by the operator before step \(kind.rawValue)")
                }
                outcome = .success(try await perform(kind) { line in onEvent(.output(kind, line)) })
            } catch {
                outcome = .failure(error)
            }
            let elapsed = ContinuousClock.now - began
            let milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            let result: StepResult
            switch outcome {
            case .success(let (status, detail)):
                result = StepResult(kind: kind, status: status, durationMs: milliseconds, detail: detail)
            case .failure(let error):
                result = StepResult(kind: kind, status: .failed, durationMs: milliseconds, detail: "\(error)")
            }
            results.append(result)
            try? writer.append(.init(event: .stepFinished, step: kind, status: result.status, detail: result.detail))
            onEvent(.stepFinished(result))

            guard case .failure(let error) = outcome else {
                if kind == .stopEtcd { etcdStopped = true }
                if kind == .moveAside { dataMoved = true }
                continue
            }
            var rollback: RollbackResult?
            var notes: [String] = []
            if dataMoved {
                rollback = await rollBack(reason: "step \(kind.rawValue) failed: \(error)", writer: writer, onEvent: onEvent)
            } else {
                if etcdStopped {
                    let started = try? await service.start(timeout: .seconds(plan.startTimeoutSeconds)) { line in onEvent(.output(kind, line)) }
                    notes.append(started != nil ? "nothing was changed; etcd was started again" : "nothing was changed, but etcd could not be started again: start it by hand")
                }
                try? writer.append(.init(event: .finished, status: .failed, detail: "\(error)"))
            }
            var final = report(steps: results, error: error, rollback: rollback)
            final.notes += notes
            onEvent(.finished(final))
            return final
        }
        try? writer.append(.init(event: .finished, status: .ok))
        var final = report(steps: results, error: nil, rollback: nil)
        if let pods = results.first(where: { $0.kind == .checkPods }) { final.notes.append(pods.detail) }
        onEvent(.finished(final))
        return final
    }

    /// Does one step; returns its status and a one-line detail, or throws a `RestoreError`.
    private func perform(_ kind: RestoreStepKind, output: @escaping @Sendable (String) -> Void) async throws -> (StepStatus, String) {
        switch kind {
        case .preflight:
            return (.ok, try await preflight(output: output))
        case .stopEtcd:
            return (.ok, try await service.stop(timeout: .seconds(plan.stopTimeoutSeconds), output: output))
        case .moveAside:
            return try moveAside()
        case .restore:
            return (.ok, try await restore(output: output))
        case .fixOwnership:
            return (.ok, try fixOwnership())
        case .startEtcd:
            return (.ok, try await service.start(timeout: .seconds(plan.startTimeoutSeconds), output: output))
        case .waitHealthy:
            return (.ok, try await waitHealthy(output: output))
        case .verify:
            return (.ok, try await verify())
        case .checkPods:
            return (.ok, await checkPods(output: output))
        }
    }

    private func preflight(output: @Sendable (String) -> Void) async throws -> String {
        var passed: [String] = []
        // The snapshot.
        switch plan.snapshotHealth {
        case .good:
            passed.append("snapshot verifies good (revision \(plan.snapshotRevision.map(String.init) ?? "?"), \(plan.snapshotKeys.map(String.init) ?? "?") keys)")
        case .unverified:
            passed.append("snapshot structure OK, no checksum trailer")
        default:
            guard plan.skipVerify else {
                throw RestoreError(.badSnapshot, "snapshot \(plan.snapshotPath) does not verify: \(plan.snapshotReason ?? plan.snapshotHealth.rawValue); pick another snapshot (etcd-console snapshot list)")
            }
            passed.append("snapshot does NOT verify (\(plan.snapshotReason ?? plan.snapshotHealth.rawValue)); going on because checks were forced off")
        }
        var info = stat()
        guard stat(plan.snapshotPath, &info) == 0, Int64(info.st_size) == plan.snapshotSize else {
            throw RestoreError(.badSnapshot, "snapshot \(plan.snapshotPath) changed or vanished since the plan was made")
        }
        output(passed.last!)
        // The tool.
        guard FileManager.default.isExecutableFile(atPath: plan.tool.path) else {
            throw RestoreError(.toolMissing, "the restore tool \(plan.tool.path) is gone")
        }
        passed.append(plan.tool.version)
        output(plan.tool.version)
        // Space: the restore writes about the snapshot's size; twice that leaves room for etcd to run.
        let directory = Self.nearestExisting((plan.dataDir as NSString).deletingLastPathComponent)
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else {
            throw RestoreError(.fileSystem, "cannot read free space of \(directory): \(String(cString: strerror(errno)))")
        }
        let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        let needed = 2 * plan.snapshotSize
        guard free >= needed else {
            throw RestoreError(.noSpace, "not enough free space in \(directory): \(formatBytes(Int(free))) free, a restore of this \(formatBytes(Int(plan.snapshotSize))) snapshot needs at least \(formatBytes(Int(needed))) (2x); free space there or restore into another --data-dir")
        }
        passed.append("\(formatBytes(Int(free))) free in \(directory) (need \(formatBytes(Int(needed))))")
        output(passed.last!)
        // Service control.
        switch plan.service {
        case .systemd(let unit):
            guard runner.locate("systemctl") != nil else {
                throw RestoreError(.toolMissing, "systemctl not found: etcd cannot be stopped and started for the restore (use --static-pod-manifest for a kubeadm static pod)")
            }
            passed.append("systemctl controls \(unit) (now \(await service.activeState(unit)))")
        case .staticPod(let manifest, let parked):
            guard FileManager.default.fileExists(atPath: manifest) || FileManager.default.fileExists(atPath: parked) else {
                throw RestoreError(.serviceControl, "the static pod manifest \(manifest) does not exist")
            }
            passed.append("static pod manifest \(manifest)")
        }
        output(passed.last!)
        if FileManager.default.fileExists(atPath: plan.asidePath) {
            throw RestoreError(.fileSystem, "\(plan.asidePath) already exists; wait a second and plan again")
        }
        return passed.joined(separator: "; ")
    }

    private func moveAside() throws -> (StepStatus, String) {
        let fm = FileManager.default
        var moved: [String] = []
        if fm.fileExists(atPath: plan.dataDir) {
            guard !fm.fileExists(atPath: plan.asidePath) else {
                throw RestoreError(.fileSystem, "both \(plan.dataDir) and \(plan.asidePath) exist; look at them and move one away by hand")
            }
            try Self.move(plan.dataDir, to: plan.asidePath)
            moved.append("\(plan.dataDir) -> \(plan.asidePath)")
        } else if fm.fileExists(atPath: plan.asidePath) {
            moved.append("\(plan.dataDir) was already at \(plan.asidePath)")
        }
        if let wal = plan.walDir, let walAside = plan.walAsidePath, fm.fileExists(atPath: wal) {
            do {
                try Self.move(wal, to: walAside)
                moved.append("\(wal) -> \(walAside)")
            } catch {
                if fm.fileExists(atPath: plan.asidePath) && !fm.fileExists(atPath: plan.dataDir) {
                    try? Self.move(plan.asidePath, to: plan.dataDir)
                }
                throw error
            }
        }
        if moved.isEmpty { return (.skipped, "\(plan.dataDir) does not exist: nothing to move aside") }
        return (.ok, "moved " + moved.joined(separator: "; "))
    }

    private func restore(output: @escaping @Sendable (String) -> Void) async throws -> String {
        // A dir left by a restore that was interrupted: keep it (as data), out of the way.
        for directory in [plan.dataDir, plan.walDir].compactMap({ $0 }) where FileManager.default.fileExists(atPath: directory) {
            let partial = "\(directory).partial-restore-\(SnapshotSaver.compactTimestamp(Date()))"
            try Self.move(directory, to: partial)
            output("moved the half-restored \(directory) left by an interrupted run to \(partial)")
        }
        let request = plan.restoreRequest
        output("$ \(request.description)")
        let result = try await runner.run(request, onLine: output)
        guard result.succeeded else {
            throw RestoreError(.restoreTool, "\((plan.tool.path as NSString).lastPathComponent) snapshot restore failed (exit \(result.status)\(result.timedOut ? ", timed out" : "")): \(result.tail(3))")
        }
        guard FileManager.default.fileExists(atPath: plan.dataDir + "/member/snap/db") else {
            throw RestoreError(.restoreTool, "\(plan.tool.path) reported success but \(plan.dataDir)/member/snap/db does not exist")
        }
        var detail = "restored revision \(plan.snapshotRevision.map(String.init) ?? "?") into \(plan.dataDir) as member \(plan.memberName)"
        if plan.tool.supportsBumpRevision { detail += " (revision bumped by 1000000000, compacted)" }
        return detail
    }

    private func fixOwnership() throws -> String {
        let owner = plan.ownership
        for directory in [plan.dataDir, plan.walDir].compactMap({ $0 }) {
            try Self.chownTree(directory, uid: owner.uid, gid: owner.gid)
        }
        guard chmod(plan.dataDir, mode_t(owner.mode)) == 0 else {
            throw RestoreError(.fileSystem, "could not chmod \(plan.dataDir): \(String(cString: strerror(errno)))")
        }
        return "\(plan.dataDir) owned by \(owner.display), mode \(String(owner.mode, radix: 8))"
    }

    private func waitHealthy(output: @Sendable (String) -> Void) async throws -> String {
        let began = ContinuousClock.now
        let deadline = began + .seconds(plan.startTimeoutSeconds)
        var lastError = "no answer yet"
        var lastState = ""
        while ContinuousClock.now < deadline {
            if let unit = service.unit {
                let state = await service.activeState(unit)
                if state != lastState { output("systemctl is-active \(unit): \(state)") }
                lastState = state
                if state == "failed" || state == "inactive" {
                    throw RestoreError(.unhealthy, "etcd exited after the restore (systemctl is-active \(unit): \(state)); see journalctl -u \(unit)")
                }
            }
            let client = EtcdClient(healthConfiguration)
            do {
                let status = try await client.status()
                await client.close()
                let waited = ContinuousClock.now - began
                return "etcd \(status.version) answers on \(plan.endpoints.first ?? "") after \(waited.components.seconds)s (revision \(status.header.revision))"
            } catch {
                await client.close()
                let text = "\(error)"
                if text != lastError { output(text) }
                lastError = text
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RestoreError(.unhealthy, "etcd did not answer on \(plan.endpoints.joined(separator: ",")) within \(plan.startTimeoutSeconds)s after the start: \(lastError)")
    }

    private func verify() async throws -> String {
        let client = EtcdClient(healthConfiguration)
        defer { Task { await client.close() } }
        let status: Etcdserverpb_StatusResponse
        let keys: Int
        let members: Etcdserverpb_MemberListResponse
        do {
            status = try await client.status()
            keys = try await client.count(prefix: "")
            members = try await client.memberList()
        } catch {
            throw RestoreError(.verification, "could not read the restored etcd: \(error)")
        }
        var problems: [String] = []
        if let revision = plan.snapshotRevision, status.header.revision < revision {
            problems.append("revision \(status.header.revision) is below the snapshot's \(revision)")
        }
        if let expected = plan.snapshotKeys, keys != expected {
            problems.append("\(keys) keys, the snapshot holds \(expected)")
        }
        let expectedNames = Set(plan.initialCluster.split(separator: ",").compactMap { $0.split(separator: "=").first.map(String.init) })
        let names = Set(members.members.map(\.name).filter { !$0.isEmpty })
        if !names.isEmpty, names != expectedNames {
            problems.append("members \(names.sorted().joined(separator: ",")), expected \(expectedNames.sorted().joined(separator: ","))")
        }
        let expectedPeers = Set(plan.initialAdvertisePeerURLs.split(separator: ",").map(String.init))
        if let mine = members.members.first(where: { $0.name == plan.memberName }), Set(mine.peerUrls) != expectedPeers {
            problems.append("member \(plan.memberName) has peer URLs \(mine.peerUrls.joined(separator: ",")), expected \(expectedPeers.sorted().joined(separator: ","))")
        }
        guard problems.isEmpty else {
            throw RestoreError(.verification, "the restored etcd does not match the snapshot: " + problems.joined(separator: "; "))
        }
        return "revision \(status.header.revision), \(keys) keys, members \(names.sorted().joined(separator: ","))"
    }

    private func checkPods(output: @escaping @Sendable (String) -> Void) async -> String {
        var parts: [String] = []
        let client = EtcdClient(healthConfiguration)
        do {
            let response = try await client.list(prefix: "/registry/pods/", keysOnly: true)
            var perNamespace: [String: Int] = [:]
            for kv in response.kvs {
                let path = String(decoding: kv.key, as: UTF8.self).dropFirst("/registry/pods/".count)
                if let namespace = path.split(separator: "/").first { perNamespace[String(namespace), default: 0] += 1 }
            }
            let total = perNamespace.values.reduce(0, +)
            let expected = plan.snapshotPods.values.reduce(0, +)
            for namespace in perNamespace.keys.sorted() { output("pods in \(namespace): \(perNamespace[namespace]!)") }
            parts.append("\(total) pods in \(perNamespace.count) namespaces in etcd (snapshot: \(expected))")
            let missing = plan.snapshotPods.filter { perNamespace[$0.key, default: 0] != $0.value }.keys.sorted()
            if !missing.isEmpty { parts.append("pod counts differ in \(missing.joined(separator: ","))") }
        } catch {
            parts.append("could not list pods from etcd: \(error)")
        }
        await client.close()
        parts.append(await kubectlPods(output: output))
        return parts.joined(separator: "; ")
    }

    /// `kubectl get pods -A` when kubectl and a kubeconfig exist; a soft check: a note, never a failure.
    private func kubectlPods(output: @escaping @Sendable (String) -> Void) async -> String {
        guard runner.locate("kubectl") != nil else { return "kubectl not installed: pods checked in etcd only" }
        let candidates = [environment["KUBECONFIG"], "/etc/kubernetes/admin.conf",
                          environment["HOME"].map { "\($0)/.kube/config" }].compactMap { $0 }
        guard let kubeconfig = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            return "no kubeconfig found (KUBECONFIG, /etc/kubernetes/admin.conf, ~/.kube/config): kubectl not run"
        }
        let result = try? await runner.run(ProcessRequest("kubectl", ["--kubeconfig", kubeconfig, "get", "pods", "-A", "--request-timeout=10s"],
                                                          timeout: .seconds(20)), onLine: output)
        guard let result, result.succeeded else {
            return "kubectl get pods -A did not answer (the API server may still be starting): \(result?.tail(1) ?? "could not run kubectl")"
        }
        return "kubectl get pods -A listed \(max(0, result.output.split(separator: "\n").count - 1)) pods"
    }

    private var healthConfiguration: EtcdClientConfiguration {
        var configuration = clientConfiguration
        configuration.connectTimeout = .seconds(2)
        configuration.callTimeout = .seconds(5)
        return configuration
    }

    // MARK: rollback

    private func rollBack(reason: String, writer: JournalWriter, onEvent: @escaping EventHandler) async -> RollbackResult {
        onEvent(.rollbackStarted(reason: reason))
        try? writer.append(.init(event: .rollbackStarted, detail: reason))
        let fm = FileManager.default
        var actions: [String] = []
        var problems: [String] = []
        func say(_ line: String) {
            actions.append(line)
            onEvent(.output(nil, line))
        }
        do {
            say(try await service.stop(timeout: .seconds(plan.stopTimeoutSeconds)) { line in onEvent(.output(nil, line)) })
        } catch {
            problems.append("could not stop etcd: \(error)")
        }
        var failedPath: String?
        let originalAvailable = fm.fileExists(atPath: plan.asidePath)
        if fm.fileExists(atPath: plan.dataDir) && (originalAvailable || !plan.dataDirExisted) {
            do {
                try Self.move(plan.dataDir, to: plan.failedRestorePath)
                failedPath = plan.failedRestorePath
                say("moved the restored data dir to \(plan.failedRestorePath)")
            } catch {
                problems.append("\(error)")
            }
        }
        if let wal = plan.walDir, let walAside = plan.walAsidePath, fm.fileExists(atPath: walAside), fm.fileExists(atPath: wal) {
            do {
                try Self.move(wal, to: plan.failedRestorePath + ".wal")
                say("moved the restored WAL dir to \(plan.failedRestorePath).wal")
            } catch { problems.append("\(error)") }
        }
        var originalRestored = false
        if originalAvailable && !fm.fileExists(atPath: plan.dataDir) {
            do {
                try Self.move(plan.asidePath, to: plan.dataDir)
                originalRestored = true
                say("moved the original data dir back to \(plan.dataDir)")
                if let wal = plan.walDir, let walAside = plan.walAsidePath, fm.fileExists(atPath: walAside) {
                    try Self.move(walAside, to: wal)
                    say("moved the original WAL dir back to \(wal)")
                }
            } catch { problems.append("\(error)") }
        } else if !plan.dataDirExisted {
            problems.append("there was no data dir before the restore: nothing to bring back; etcd is left stopped")
        }
        var running = false
        if originalRestored {
            do {
                say(try await service.start(timeout: .seconds(plan.startTimeoutSeconds)) { line in onEvent(.output(nil, line)) })
                say(try await waitHealthy { line in onEvent(.output(nil, line)) })
                running = true
            } catch {
                problems.append("etcd did not come back on the original data dir: \(error)")
            }
        }
        let result = RollbackResult(originalRestored: originalRestored, failedRestorePath: failedPath,
                                    etcdRunning: running, actions: actions, problems: problems)
        try? writer.append(.init(event: .rollbackFinished, status: problems.isEmpty ? .ok : .failed,
                                 detail: (actions + problems).joined(separator: "; ")))
        onEvent(.rollbackFinished(result))
        return result
    }

    // MARK: report

    private func finish(failedBeforeStart error: any Error, onEvent: EventHandler) -> RestoreReport {
        let final = report(steps: [], error: error, rollback: nil)
        onEvent(.finished(final))
        return final
    }

    private func report(steps: [StepResult], error: (any Error)?, rollback: RollbackResult?) -> RestoreReport {
        let fm = FileManager.default
        let aside = fm.fileExists(atPath: plan.asidePath) ? plan.asidePath : nil
        let succeeded = error == nil && rollback == nil
        var reminders: [String] = []
        if succeeded {
            reminders.append("restart kube-apiserver, kube-controller-manager, kube-scheduler and kubelet so they drop what they cached from after the snapshot (systemctl restart kube-apiserver kube-controller-manager kube-scheduler kubelet, or move their static pod manifests out and back)")
            if let aside { reminders.append("the old data dir is kept at \(aside); remove it yourself once the cluster is confirmed good") }
            reminders.append("take a fresh snapshot now: etcd-console snapshot save")
        } else if let rollback {
            if rollback.originalRestored { reminders.append("the original data dir is back at \(plan.dataDir)") }
            if let failed = rollback.failedRestorePath { reminders.append("the restored data dir is kept at \(failed) for inspection") }
            reminders += rollback.problems.map { "rollback problem: \($0)" }
        } else if let aside {
            reminders.append("the old data dir is at \(aside)")
        }
        var pods: [String: Int]?
        if succeeded { pods = plan.snapshotPods }
        return RestoreReport(succeeded: succeeded, snapshot: plan.snapshotPath, dataDir: plan.dataDir, steps: steps,
                             rolledBack: rollback != nil, movedAside: aside, rollback: rollback,
                             error: error.map { "\($0)" }, errorKind: (error as? RestoreError)?.kind,
                             pods: pods, notes: plan.notes, reminders: reminders)
    }

    // MARK: file system

    static func move(_ source: String, to destination: String) throws {
        guard rename(source, destination) == 0 else {
            throw RestoreError(.fileSystem, "could not move \(source) to \(destination): \(String(cString: strerror(errno)))")
        }
        JournalWriter.fsyncDirectory(of: destination)
    }

    static func chownTree(_ root: String, uid: UInt32, gid: UInt32) throws {
        var paths = [root]
        if let enumerator = FileManager.default.enumerator(atPath: root) {
            for case let relative as String in enumerator { paths.append(root + "/" + relative) }
        }
        for path in paths where lchown(path, uid, gid) != 0 {
            throw RestoreError(.fileSystem, "could not chown \(path) to \(uid):\(gid): \(String(cString: strerror(errno)))")
        }
    }

    static func nearestExisting(_ path: String) -> String {
        var current = path.isEmpty ? "/" : path
        while !FileManager.default.fileExists(atPath: current) && current != "/" {
            current = (current as NSString).deletingLastPathComponent
        }
        return current
    }
}
