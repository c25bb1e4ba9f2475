import EtcdClient
import Foundation
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

// The run loop and the journal. The steps are in +Steps, the rollback in +Rollback, the report in +Report;
// every side effect goes through the injected edges (RestoreEdges.swift) or the process runner.

/// Runs a `RestorePlan` step by step, journaling each step, reporting progress as events, and rolling back
/// by itself when a step fails after the data dir was moved aside.
///
/// Contracts:
/// - The old data dir is moved aside (`plan.asidePath`), never deleted; a failed restore is moved to
///   `plan.failedRestorePath`, never deleted.
/// - Every external command goes through `runner` (systemctl, etcdutl/etcdctl, kubectl) with a timeout; every
///   file system change through `fileSystem`, every etcd check through `probe`, every wait through `clock`.
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
    /// One member of a cluster restore (`restore --no-start`): the run ends before "start etcd", leaving the journal
    /// open at that step (`resume` starts it); a failed step leaves the journal open too, for the coordinator to roll
    /// every member back together; a rollback (`--rollback --no-start`) does not start etcd. A member of a
    /// multi-member cluster only becomes ready once a quorum runs, so the coordinator starts every member together.
    public var leaveStopped = false
    /// How long a resume or rollback waits for another run holding the journal's lock (`RestoreLock`).
    public var lockWait: Duration = .seconds(900)
    /// Checked before each step.
    public let stopRequest: StopRequest
    let runner: any ProcessRunner
    let environment: [String: String]
    let probe: any EtcdHealthProbe
    let fileSystem: any RestoreFileSystem
    let clock: any RestoreClock
    let service: ServiceControl

    /// The executor on this host: `clientConfiguration` reaches the restored etcd for the health checks (its
    /// endpoints should be the plan's). `environment` is where kubectl's kubeconfig is looked up (KUBECONFIG, HOME).
    public init(plan: RestorePlan, runner: any ProcessRunner, clientConfiguration: EtcdClientConfiguration,
                environment: [String: String] = ProcessInfo.processInfo.environment, stopRequest: StopRequest = StopRequest()) {
        self.init(plan: plan, runner: runner, probe: LiveEtcdHealthProbe(clientConfiguration: clientConfiguration),
                  fileSystem: LiveRestoreFileSystem(), clock: LiveRestoreClock(), environment: environment,
                  stopRequest: stopRequest)
    }

    /// The executor with every edge injected: the etcd probe, the file system and the clock (the fakes in
    /// `Practice` make every branch testable without etcd or processes).
    public init(plan: RestorePlan, runner: any ProcessRunner, probe: any EtcdHealthProbe,
                fileSystem: any RestoreFileSystem, clock: any RestoreClock,
                environment: [String: String] = [:], stopRequest: StopRequest = StopRequest()) {
        self.plan = plan
        self.stopRequest = stopRequest
        self.runner = runner
        self.environment = environment
        self.probe = probe
        self.fileSystem = fileSystem
        self.clock = clock
        self.service = ServiceControl(target: plan.service, runner: runner, endpoints: plan.endpoints,
                                      fileSystem: fileSystem, probe: probe, clock: clock)
    }

    public typealias EventHandler = @Sendable (RestoreEvent) -> Void

    /// Runs the whole plan. The report says what happened; nothing is thrown.
    public func run(onEvent: @escaping EventHandler = { _ in }) async -> RestoreReport {
        // The lock first, then the journal check: two new restores started at once must not both pass it.
        let lock: LockFile
        do throws(RestoreError) {
            switch try RestoreLock.tryAcquire(journalPath: plan.journalPath) {
            case .acquired(let acquired): lock = acquired
            case .held(let holder):
                return finish(failedBeforeStart: RestoreError(.journal, "another etcd-console restore (\(holder ?? "pid unknown")) is running on \(plan.dataDir) now; let it end, then see `etcd-console doctor`"),
                              onEvent: onEvent)
            }
        } catch {
            return finish(failedBeforeStart: error, onEvent: onEvent)
        }
        defer { lock.release() }
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
    public func resume(_ found: RestoreJournal, onEvent: @escaping EventHandler = { _ in }) async -> RestoreReport {
        let journal: RestoreJournal
        let lock: LockFile
        switch await lockAndReload(found, onEvent: onEvent) {
        case .ended(let report): return report
        case .locked(let current, let held): (journal, lock) = (current, held)
        }
        defer { lock.release() }
        if journal.rollbackStarted { return await rollBack(journal, onEvent: onEvent) }
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
        switch await lockAndReload(journal, onEvent: onEvent) {
        case .ended(let report): return report
        case .locked(let current, let lock):
            defer { lock.release() }
            return await rollBack(current, onEvent: onEvent)
        }
    }

    /// The journal's lock, waited for up to `lockWait` (another run of this journal may be at work: a killed
    /// coordinator's resume goes on over its ssh session), then the journal read again: the other run may have
    /// finished it. A finished journal is the error the CLI gives when there is none ("no unfinished restore
    /// journal ..."), which a cluster coordinator takes as done.
    private enum Locked {
        case locked(RestoreJournal, LockFile)
        case ended(RestoreReport)
    }

    private func lockAndReload(_ journal: RestoreJournal, onEvent: @escaping EventHandler) async -> Locked {
        var waitedFor: String?
        do {
            let lock = try await RestoreLock.acquire(journalPath: journal.path, timeout: lockWait) { holder in
                waitedFor = holder
                onEvent(.output(nil, "waiting for another etcd-console restore (\(holder)) working on \(journal.path)"))
            }
            let current = try RestoreJournal.load(path: journal.path)
            guard !current.isFinished else {
                lock.release()
                let who = waitedFor.map { "another etcd-console restore (\($0)) ended it while this one waited" } ?? "it ended before this run began"
                return .ended(finish(failedBeforeStart: RestoreError(.journal, "no unfinished restore journal at \(journal.path) any more: \(who)"),
                                     onEvent: onEvent))
            }
            return .locked(current, lock)
        } catch {
            return .ended(finish(failedBeforeStart: error, onEvent: onEvent))
        }
    }

    private func rollBack(_ journal: RestoreJournal, onEvent: @escaping EventHandler) async -> RestoreReport {
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

    func execute(from start: RestoreStepKind, prior: [StepResult], writer: JournalWriter,
                         onEvent: @escaping EventHandler) async -> RestoreReport {
        var results = prior
        let first = RestoreStepKind.allCases.firstIndex(of: start)!
        var etcdStopped = prior.contains { $0.kind == .stopEtcd && $0.status == .ok }
        var dataMoved = prior.contains { $0.kind == .moveAside }
        for kind in RestoreStepKind.allCases[first...] {
            if leaveStopped && kind == .startEtcd {
                // Prepared, not started: the journal stays open before this step ("stopped before step
                // start-etcd"), so `restore --resume` starts it and `restore --rollback` undoes it.
                var final = report(steps: results, error: nil, rollback: nil)
                final.notes.append("etcd is left stopped on the restored data dir: every member is prepared before any starts; restore --resume starts it")
                onEvent(.finished(final))
                return final
            }
            onEvent(.stepStarted(kind))
            try? writer.append(.init(event: .stepStarted, step: kind))
            let began = clock.now
            let outcome: Result<(StepStatus, String), any Error>
            do {
                if stopRequest.isRequested {
                    throw RestoreError(.stopped, "stopped by the operator before step \(kind.rawValue)")
                }
                outcome = .success(try await perform(kind) { line in onEvent(.output(kind, line)) })
            } catch {
                outcome = .failure(error)
            }
            let elapsed = clock.now - began
            let milliseconds = elapsed.wholeMilliseconds
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
            if leaveStopped {
                // One member of a cluster restore: the coordinator rolls every host back together (a member of
                // the old cluster starts only with a quorum of them), so the journal stays open for it.
                notes.append("left for the cluster restore to roll back together with the other members (restore --rollback here does it for this member alone)")
            } else if dataMoved {
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
}
