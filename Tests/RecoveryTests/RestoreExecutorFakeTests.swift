import Foundation
import Practice
import Testing
@testable import Recovery
import SnapshotStore

/// Every branch of the executor's run loop and rollback, on fakes (`FakeRestoreHost`): failure at each step
/// before and after the move, the rollback failing itself, resume after each journaled step, etcd failing to
/// start, verify mismatches. The same branches on real etcd are in `RestoreTests` and `RestoreCommandTests`.
@Suite("Restore executor on fakes: every rollback branch")
struct RestoreExecutorFakeTests {
    typealias Call = FakeRestoreHost.Call

    // MARK: the happy path

    @Test("A restore that goes well runs every step once, in order, and changes the file system as planned")
    func happyPath() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let (executor, runner) = host.executor(host.happyPath)
        let events = EventLog()
        let report = await executor.run(onEvent: events.handler)

        #expect(report.succeeded, "\(report.summary)")
        #expect(events.startedSteps == RestoreStepKind.allCases)
        #expect(report.steps.allSatisfy { $0.status == .ok })
        #expect(host.fileSystem.changes == [
            "move \(host.dataDir) -> \(host.plan.asidePath)",
            "chown \(host.dataDir) 998:998",
            "chmod \(host.dataDir) 0700",
        ])
        #expect(host.fileSystem.exists(host.plan.asidePath + "/member/wal/0.wal"), "the old data dir is kept whole")
        #expect(report.movedAside == host.plan.asidePath)
        #expect(report.steps.first { $0.kind == .checkPods }?.detail
            .hasPrefix("2 pods in 2 namespaces in etcd (snapshot: 2); kubectl not installed") == true)
        #expect(runner.unmet.isEmpty)
        #expect(try host.journal().isFinished)
    }

    // MARK: one member of a cluster restore (`restore --no-start`)

    @Test("--no-start: every step up to the start runs, etcd is not started, the journal stays open before start-etcd; resume starts it")
    func leaveStoppedThenResume() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let upToStart = RestoreStepKind.allCases.prefix { $0 != .startEtcd }.flatMap(host.calls(for:))
        var (executor, runner) = host.executor(upToStart)
        executor.leaveStopped = true
        let report = await executor.run()
        #expect(report.succeeded, "\(report.summary)")
        #expect(report.steps.map(\.kind) == Array(RestoreStepKind.allCases.prefix { $0 != .startEtcd }))
        #expect(report.notes.contains { $0.hasPrefix("etcd is left stopped on the restored data dir") }, "\(report.notes)")
        #expect(runner.unmet.isEmpty)
        #expect(!runner.requests.contains { $0.arguments.first == "start" }, "etcd is never started")
        let journal = try host.journal()
        #expect(!journal.isFinished && journal.resumeStep == .startEtcd, "\(journal.summary)")

        let rest = RestoreStepKind.allCases.drop { $0 != .startEtcd }.flatMap(host.calls(for:))
        let (resumer, resumeRunner) = host.executor(rest)
        let resumed = await resumer.resume(journal)
        #expect(resumed.succeeded, "\(resumed.summary)")
        #expect(resumeRunner.unmet.isEmpty)
        #expect(try host.journal().isFinished)
    }

    @Test("--no-start: a failed step after the move does not roll back alone; the journal stays open for the coordinator, whose rollback starts the original")
    func leaveStoppedFailureLeavesJournal() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        var (executor, _) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop
                                          + [host.restoreTool(status: 1, output: "no space left on device", writes: [])])
        executor.leaveStopped = true
        let report = await executor.run()
        #expect(!report.succeeded && !report.rolledBack, "\(report.summary)")
        #expect(report.notes.contains { $0.hasPrefix("left for the cluster restore to roll back together with the other members") }, "\(report.notes)")
        #expect(host.fileSystem.exists(host.plan.asidePath), "the original stays aside until the coordinator's rollback")
        let journal = try host.journal()
        #expect(!journal.isFinished)

        let (rollbacker, runner) = host.executor(FakeRestoreHost.rollback)
        let rolled = await rollbacker.rollback(journal)
        #expect(rolled.rollback?.originalRestored == true && rolled.rollback?.etcdRunning == true, "\(rolled.summary)")
        #expect(runner.unmet.isEmpty)
        #expect(host.fileSystem.exists(host.dataDir) && !host.fileSystem.exists(host.plan.asidePath))
    }

    @Test("A rollback of a run stopped before the move finds the original in place and starts it")
    func rollbackBeforeMoveStartsOriginal() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        var (executor, _) = host.executor(FakeRestoreHost.preflight + [Call("systemctl", ["stop", "etcd"], status: 1, output: "Access denied")])
        executor.leaveStopped = true
        _ = await executor.run()
        let journal = try host.journal()
        #expect(!journal.isFinished && !journal.movedAside)
        let (rollbacker, runner) = host.executor(FakeRestoreHost.rollback)
        let rolled = await rollbacker.rollback(journal)
        #expect(rolled.rollback?.originalRestored == true && rolled.rollback?.etcdRunning == true, "\(rolled.summary)")
        #expect(rolled.rollback?.actions.contains("the data dir \(host.dataDir) was never moved: it is the original") == true, "\(rolled.rollback?.actions ?? [])")
        #expect(runner.unmet.isEmpty)
        #expect(host.fileSystem.changes.isEmpty, "nothing was moved")
    }

    // MARK: failures before the move: nothing changed, etcd started again when it was stopped

    @Test("Not enough free space fails preflight: no command runs, nothing moves, no rollback")
    func preflightNoSpace() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        host.fileSystem.setFreeBytes(1000)
        let (executor, runner) = host.executor([])
        let report = await executor.run()

        #expect(!report.succeeded)
        #expect(report.errorKind == .noSpace)
        #expect(report.error?.hasPrefix("not enough free space in \(host.root): ") == true, "\(report.error ?? "")")
        #expect(report.error?.hasSuffix("(2x); free space there or restore into another --data-dir") == true)
        #expect(!report.rolledBack)
        #expect(host.fileSystem.changes.isEmpty)
        #expect(runner.requests.isEmpty)
    }

    @Test("A snapshot that changed since the plan fails preflight, naming it")
    func preflightSnapshotChanged() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        host.fileSystem.create(FakeRestoreHost.snapshot, size: 10)
        let (executor, _) = host.executor([])
        let report = await executor.run()

        #expect(report.errorKind == .badSnapshot)
        #expect(report.error == "snapshot \(FakeRestoreHost.snapshot) changed or vanished since the plan was made")
        #expect(host.fileSystem.changes.isEmpty)
    }

    @Test("systemctl stop failing ends the restore with nothing changed and no rollback")
    func stopFails() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + [
            Call("systemctl", ["stop", "etcd"], status: 1, output: "Failed to stop etcd.service: Access denied"),
        ])
        let report = await executor.run()

        #expect(report.errorKind == .serviceControl)
        #expect(report.error == "systemctl stop etcd failed (exit 1): Failed to stop etcd.service: Access denied")
        #expect(!report.rolledBack)
        #expect(report.notes.isEmpty)
        #expect(host.fileSystem.changes.isEmpty)
        #expect(runner.unmet.isEmpty)
    }

    @Test("The move failing after etcd stopped starts etcd again on the untouched data dir")
    func moveFailsEtcdStartedAgain() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        host.fileSystem.failMove(from: host.dataDir, to: host.plan.asidePath, reason: "Invalid cross-device link")
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop + FakeRestoreHost.start)
        let report = await executor.run()

        #expect(report.errorKind == .fileSystem)
        #expect(report.error == "could not move \(host.dataDir) to \(host.plan.asidePath): Invalid cross-device link")
        #expect(!report.rolledBack)
        #expect(report.notes == ["nothing was changed; etcd was started again"])
        #expect(host.fileSystem.exists(host.originalMarker))
        #expect(runner.unmet.isEmpty)
        #expect(try host.journal().isFinished)
    }

    @Test("The move failing and etcd not starting again says to start it by hand")
    func moveFailsEtcdDoesNotStartAgain() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        host.fileSystem.failMove(from: host.dataDir, to: host.plan.asidePath)
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop + [
            Call("systemctl", ["start", "etcd"], status: 1, output: "Job for etcd.service failed."),
        ])
        let report = await executor.run()

        #expect(report.notes == ["nothing was changed, but etcd could not be started again: start it by hand"])
        #expect(!report.rolledBack)
        #expect(runner.unmet.isEmpty)
    }

    // MARK: failures after the move: rolled back

    @Test("The restore tool failing after the move rolls back: original back, etcd running")
    func restoreToolFails() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop
            + [host.restoreTool(status: 1, output: "Error: snapshot file integrity check failed", writes: [])]
            + FakeRestoreHost.rollback)
        let events = EventLog()
        let report = await executor.run(onEvent: events.handler)

        #expect(report.errorKind == .restoreTool)
        #expect(report.error == "etcdutl snapshot restore failed (exit 1): Error: snapshot file integrity check failed")
        #expect(report.rolledBack)
        #expect(events.rollbackStarted)
        let rollback = try #require(report.rollback)
        #expect(rollback.originalRestored)
        #expect(rollback.etcdRunning)
        #expect(rollback.failedRestorePath == nil, "the tool left nothing to keep")
        #expect(rollback.problems.isEmpty)
        #expect(host.fileSystem.exists(host.originalMarker))
        #expect(report.reminders.contains("the original data dir is back at \(host.dataDir)"))
        #expect(runner.unmet.isEmpty)
        let journal = try host.journal()
        #expect(journal.isFinished)
        #expect(journal.rollbackStarted)
        #expect(journal.status(of: .restore) == .failed)
    }

    @Test("A restore tool that leaves a half-written dir: the rollback keeps it at the failed-restore path")
    func restoreToolLeavesHalfWrittenDir() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let half = host.dataDir + "/member/snap/db.tmp"
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop
            + [host.restoreTool(status: 2, output: "panic: write /var/lib/etcd: no space left on device", writes: [half])]
            + FakeRestoreHost.rollback)
        let report = await executor.run()

        let rollback = try #require(report.rollback)
        #expect(rollback.failedRestorePath == host.plan.failedRestorePath)
        #expect(host.fileSystem.exists(host.plan.failedRestorePath + "/member/snap/db.tmp"))
        #expect(host.fileSystem.exists(host.originalMarker))
        #expect(report.reminders.contains("the restored data dir is kept at \(host.plan.failedRestorePath) for inspection"))
        #expect(runner.unmet.isEmpty)
    }

    @Test("A restore tool that says it succeeded but wrote no db is a failure, rolled back")
    func restoreToolWritesNothing() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop
            + [host.restoreTool(writes: [])] + FakeRestoreHost.rollback)
        let report = await executor.run()

        #expect(report.error == "\(FakeRestoreHost.tool) reported success but \(host.dataDir)/member/snap/db does not exist")
        #expect(report.rollback?.originalRestored == true)
        #expect(runner.unmet.isEmpty)
    }

    @Test("chown failing in fix-ownership rolls back, keeping the restored dir")
    func fixOwnershipFails() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        host.fileSystem.failChown(host.dataDir)
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop + [host.restoreTool()]
            + FakeRestoreHost.rollback)
        let report = await executor.run()

        #expect(report.errorKind == .fileSystem)
        #expect(report.error == "could not chown \(host.dataDir) to 998:998: Operation not permitted")
        #expect(report.rollback?.failedRestorePath == host.plan.failedRestorePath)
        #expect(report.rollback?.etcdRunning == true)
        #expect(host.fileSystem.exists(host.originalMarker))
        #expect(runner.unmet.isEmpty)
    }

    @Test("etcd failing to start after the restore rolls back and starts it on the original")
    func startFails() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop + [host.restoreTool()]
            + [Call("systemctl", ["start", "etcd"], status: 1, output: "Job for etcd.service failed because the control process exited with error code.")]
            + FakeRestoreHost.rollback)
        let report = await executor.run()

        #expect(report.errorKind == .serviceControl)
        #expect(report.error == "systemctl start etcd failed (exit 1): Job for etcd.service failed because the control process exited with error code.; see journalctl -u etcd")
        #expect(report.rollback?.originalRestored == true)
        #expect(report.rollback?.etcdRunning == true)
        #expect(report.rollback?.actions.contains("moved the restored data dir to \(host.plan.failedRestorePath)") == true)
        #expect(runner.unmet.isEmpty)
    }

    @Test("etcd exiting after its start (is-active: failed) rolls back")
    func etcdExitsAfterStart() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop + [host.restoreTool()]
            + FakeRestoreHost.start + [FakeRestoreHost.isActive("failed")] + FakeRestoreHost.rollback)
        let report = await executor.run()

        #expect(report.errorKind == .unhealthy)
        #expect(report.error == "etcd exited after the restore (systemctl is-active etcd: failed); see journalctl -u etcd")
        #expect(report.rollback?.etcdRunning == true)
        #expect(runner.unmet.isEmpty)
    }

    @Test("etcd never answering within the start timeout rolls back; the wait takes fake time, not real time")
    func etcdNeverAnswers() async throws {
        let host = try FakeRestoreHost(startTimeoutSeconds: 2)
        defer { host.remove() }
        host.etcdAnswersOnlyOnTheOriginal()
        // 2 s of 100 ms polls, each asking systemd first.
        let polls = Array(repeating: FakeRestoreHost.isActive("active"), count: 20)
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop + [host.restoreTool()]
            + FakeRestoreHost.start + polls + FakeRestoreHost.rollback)
        let report = await executor.run()

        #expect(report.errorKind == .unhealthy)
        #expect(report.error == "etcd did not answer on \(FakeRestoreHost.endpoint) within 2s after the start: could not reach etcd: connection refused (fake etcd is down)")
        #expect(host.clock.waited == .seconds(2))
        #expect(report.rollback?.etcdRunning == true, "etcd answers again on the original data dir")
        #expect(runner.unmet.isEmpty)
    }

    @Test("A verify mismatch rolls back, naming what differs", arguments: [
        (FakeRestoreHost.goodState(members: ["demo"]), "members demo, expected vm"),
        (FakeRestoreHost.goodState(keys: 399), "399 keys, the snapshot holds 400"),
        (FakeRestoreHost.goodState(revision: 10), "revision 10 is below the snapshot's 900"),
    ])
    func verifyMismatch(state: RestoredEtcdState, problem: String) async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        host.probe.setState { state }
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop + [host.restoreTool()]
            + FakeRestoreHost.start + FakeRestoreHost.healthy + FakeRestoreHost.rollback)
        let report = await executor.run()

        #expect(report.errorKind == .verification)
        #expect(report.error == "the restored etcd does not match the snapshot: \(problem)")
        #expect(report.rolledBack)
        #expect(report.rollback?.originalRestored == true)
        #expect(report.status(.verify) == .failed)
        #expect(report.status(.checkPods) == nil, "no step runs after the failed one")
        #expect(runner.unmet.isEmpty)
    }

    @Test("A stop requested after the move ends the restore between steps and rolls back")
    func stopRequestedAfterMove() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let stop = RestoreExecutor.StopRequest()
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop + FakeRestoreHost.rollback,
                                               stopRequest: stop)
        let report = await executor.run { event in
            if case .stepFinished(let result) = event, result.kind == .moveAside { stop.request() }
        }

        #expect(report.errorKind == .stopped)
        #expect(report.error == "stopped by the operator before step restore")
        #expect(report.rollback?.originalRestored == true)
        #expect(runner.unmet.isEmpty)
    }

    // MARK: the rollback failing itself

    @Test("The original not moving back: the rollback says so, does not start etcd, and the report names the problem")
    func rollbackCannotMoveOriginalBack() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        host.fileSystem.failMove(from: host.plan.asidePath, to: host.dataDir, reason: "Read-only file system")
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop
            + [host.restoreTool(status: 1, output: "Error: bad snapshot", writes: [])] + FakeRestoreHost.stop)
        let report = await executor.run()

        let rollback = try #require(report.rollback)
        let problem = "could not move \(host.plan.asidePath) to \(host.dataDir): Read-only file system"
        #expect(rollback.problems == [problem])
        #expect(!rollback.originalRestored)
        #expect(!rollback.etcdRunning)
        #expect(report.reminders.contains("rollback problem: \(problem)"))
        #expect(host.fileSystem.exists(host.plan.asidePath + "/member/wal/0.wal"), "the original is still kept aside")
        #expect(runner.unmet.isEmpty, "etcd is not started with no data dir")
        #expect(try host.journal().records.last?.status == .failed)
    }

    @Test("etcd not coming back on the original: the rollback names it and says etcd is not running")
    func rollbackEtcdDoesNotComeBack() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop
            + [host.restoreTool(status: 1, output: "Error: bad snapshot", writes: [])] + FakeRestoreHost.stop
            + [Call("systemctl", ["start", "etcd"], status: 1, output: "Job for etcd.service failed.")])
        let report = await executor.run()

        let rollback = try #require(report.rollback)
        #expect(rollback.originalRestored)
        #expect(!rollback.etcdRunning)
        #expect(rollback.problems == ["etcd did not come back on the original data dir: systemctl start etcd failed (exit 1): Job for etcd.service failed.; see journalctl -u etcd"])
        #expect(runner.unmet.isEmpty)
    }

    @Test("systemctl stop failing in the rollback is a problem, and the rollback goes on")
    func rollbackStopFails() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop + [host.restoreTool()]
            + FakeRestoreHost.start + [FakeRestoreHost.isActive("failed")]
            + [Call("systemctl", ["stop", "etcd"], status: 5, output: "Failed to stop etcd.service: Unit etcd.service not loaded.")]
            + FakeRestoreHost.start + FakeRestoreHost.healthy)
        let report = await executor.run()

        let rollback = try #require(report.rollback)
        #expect(rollback.problems == ["could not stop etcd: systemctl stop etcd failed (exit 5): Failed to stop etcd.service: Unit etcd.service not loaded."])
        #expect(rollback.originalRestored)
        #expect(rollback.etcdRunning)
        #expect(runner.unmet.isEmpty)
    }

    @Test("No data dir before the restore: the rollback keeps the failed one and leaves etcd stopped, saying why")
    func rollbackWithNoOriginal() async throws {
        let host = try FakeRestoreHost(dataDirExisted: false)
        defer { host.remove() }
        let half = host.dataDir + "/member/snap/db.tmp"
        let (executor, runner) = host.executor(FakeRestoreHost.preflight + FakeRestoreHost.stop
            + [host.restoreTool(status: 1, output: "Error: bad snapshot", writes: [half])] + FakeRestoreHost.stop)
        let report = await executor.run()

        #expect(report.status(.moveAside) == .skipped)
        let rollback = try #require(report.rollback)
        #expect(rollback.failedRestorePath == host.plan.failedRestorePath)
        #expect(rollback.problems == ["there was no data dir before the restore: nothing to bring back; etcd is left stopped"])
        #expect(!rollback.etcdRunning)
        #expect(runner.unmet.isEmpty)
    }

    // MARK: resume and rollback from the journal

    /// Writes the journal a process killed after `last` finished leaves, and arranges the file system as it left it.
    private func interrupt(_ host: FakeRestoreHost, after last: RestoreStepKind?, during: RestoreStepKind? = nil) throws {
        let writer = try JournalWriter(path: host.plan.journalPath, truncate: true)
        try writer.append(.init(event: .planned, pid: 4242, plan: host.plan))
        let done = last.map { kind in RestoreStepKind.allCases.prefix(while: { $0 != kind }) + [kind] } ?? []
        for kind in done {
            try writer.append(.init(event: .stepStarted, step: kind))
            try writer.append(.init(event: .stepFinished, step: kind, status: .ok))
            if kind == .moveAside { try host.fileSystem.move(host.dataDir, to: host.plan.asidePath) }
            if kind == .restore { host.fileSystem.create(host.restoredMarker) }
        }
        if let during { try writer.append(.init(event: .stepStarted, step: during)) }
    }

    @Test("Resume after each journaled step runs only the steps after it", arguments: RestoreStepKind.allCases)
    func resumeAfterStep(last: RestoreStepKind) async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        try interrupt(host, after: last)
        let remaining = Array(RestoreStepKind.allCases.drop(while: { $0 != last }).dropFirst())
        let (executor, runner) = host.executor(remaining.flatMap(host.calls(for:)))
        let journal = try #require(RestoreJournal.unfinished(dataDir: host.dataDir))
        #expect(journal.resumeStep == remaining.first)
        let events = EventLog()
        let report = await executor.resume(journal, onEvent: events.handler)

        #expect(report.succeeded, "\(report.summary)")
        #expect(events.startedSteps == remaining)
        #expect(report.steps.map(\.kind) == RestoreStepKind.allCases)
        #expect(report.steps.filter { !remaining.contains($0.kind) }.allSatisfy { $0.detail == "done before the interruption" })
        #expect(host.fileSystem.exists(host.restoredMarker) && !host.fileSystem.exists(host.originalMarker))
        #expect(host.fileSystem.exists(host.plan.asidePath + "/member/wal/0.wal"))
        #expect(runner.unmet.isEmpty)
        #expect(RestoreJournal.unfinished(dataDir: host.dataDir) == nil)
    }

    @Test("Resume after a kill during the restore tool keeps its half-written dir aside and restores again")
    func resumeDuringRestore() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        try interrupt(host, after: .moveAside, during: .restore)
        host.fileSystem.create(host.dataDir + "/member/snap/db.tmp")
        let journal = try #require(RestoreJournal.unfinished(dataDir: host.dataDir))
        #expect(journal.interruptedStep == .restore)
        let remaining = Array(RestoreStepKind.allCases.drop(while: { $0 != .restore }))
        let (executor, runner) = host.executor(remaining.flatMap(host.calls(for:)))
        let report = await executor.resume(journal)

        #expect(report.succeeded, "\(report.summary)")
        let partial = host.dataDir + ".partial-restore-" + SnapshotSaver.compactTimestamp(host.clock.date)
        #expect(host.fileSystem.changes.contains("move \(host.dataDir) -> \(partial)"))
        #expect(host.fileSystem.exists(partial + "/member/snap/db.tmp"), "the half-restored dir is kept, not deleted")
        #expect(runner.unmet.isEmpty)
    }

    @Test("A journal whose rollback had started is rolled back on resume, not resumed")
    func resumeOfARollbackRollsBack() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        try interrupt(host, after: .restore)
        let writer = try JournalWriter(path: host.plan.journalPath, truncate: false)
        try writer.append(.init(event: .rollbackStarted, detail: "step fix-ownership failed"))
        let journal = try host.journal()
        let (executor, runner) = host.executor(FakeRestoreHost.rollback)
        let events = EventLog()
        let report = await executor.resume(journal, onEvent: events.handler)

        #expect(events.startedSteps.isEmpty)
        #expect(report.rollback?.originalRestored == true)
        #expect(report.rollback?.failedRestorePath == host.plan.failedRestorePath)
        #expect(host.fileSystem.exists(host.originalMarker))
        #expect(runner.unmet.isEmpty)
        #expect(RestoreJournal.unfinished(dataDir: host.dataDir) == nil)
    }

    @Test("restore --rollback of a journal killed after the move brings the original back and starts etcd")
    func rollbackFromJournal() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        try interrupt(host, after: .moveAside)
        let (executor, runner) = host.executor(FakeRestoreHost.rollback)
        let report = await executor.rollback(try host.journal())

        #expect(report.rolledBack)
        #expect(report.rollback?.failedRestorePath == nil, "nothing was restored yet")
        #expect(report.rollback?.etcdRunning == true)
        #expect(host.fileSystem.changes.last == "move \(host.plan.asidePath) -> \(host.dataDir)")
        #expect(runner.unmet.isEmpty)
    }

    @Test("An unfinished journal blocks a new run, naming --resume and --rollback; nothing runs")
    func unfinishedJournalBlocks() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        try interrupt(host, after: .stopEtcd)
        let (executor, runner) = host.executor([])
        let report = await executor.run()

        #expect(report.errorKind == .journal)
        #expect(report.error?.hasSuffix(": resume it (restore --resume) or roll it back (restore --rollback) first") == true)
        #expect(report.error?.contains("stopped before step move-data-dir") == true)
        #expect(runner.requests.isEmpty)
    }

    // MARK: one run of a journal at a time (RestoreLock)

    enum LockedCall: String, CaseIterable, Sendable { case resume, rollback }

    @Test("A resume or rollback while another run holds the journal's lock waits, runs nothing, then finds the journal ended by the other run and says so",
          arguments: LockedCall.allCases)
    func waitsForTheOtherRun(call: LockedCall) async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        try interrupt(host, after: .restore)
        let journal = try host.journal()
        guard case .acquired(let other) = try RestoreLock.tryAcquire(journalPath: host.plan.journalPath) else {
            Issue.record("the lock should be free")
            return
        }
        let (executor, runner) = host.executor([])
        let events = EventLog()
        let waiting = Task { call == .resume ? await executor.resume(journal, onEvent: events.handler)
                                             : await executor.rollback(journal, onEvent: events.handler) }
        let deadline = ContinuousClock.now + .seconds(20)
        while !events.outputs.contains(where: { $0.hasPrefix("waiting for another etcd-console restore (pid \(getpid()), started ") }),
              ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(events.outputs.contains { $0.hasSuffix("working on \(host.plan.journalPath)") }, "\(events.outputs)")
        #expect(runner.requests.isEmpty, "nothing runs while the other run holds the lock")
        // The other run ends the restore, then lets go.
        try JournalWriter(path: host.plan.journalPath, truncate: false).append(.init(event: .finished, status: .ok))
        other.release()
        let report = await waiting.value

        #expect(!report.succeeded && report.errorKind == .journal)
        #expect(report.error?.hasPrefix("no unfinished restore journal at \(host.plan.journalPath) any more: another etcd-console restore (pid \(getpid())") == true,
                "\(report.error ?? "")")
        #expect(report.error?.hasSuffix("ended it while this one waited") == true)
        #expect(runner.requests.isEmpty)
        #expect(try host.journal().records.last?.event == .finished, "nothing appended after the other run's end")
    }

    @Test("A resume whose journal is still locked after lockWait gives up naming the holder; nothing runs")
    func givesUpWaiting() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        try interrupt(host, after: .moveAside)
        guard case .acquired(let other) = try RestoreLock.tryAcquire(journalPath: host.plan.journalPath) else {
            Issue.record("the lock should be free")
            return
        }
        defer { other.release() }
        var (executor, runner) = host.executor([])
        executor.lockWait = .seconds(1)
        let report = await executor.resume(try host.journal())

        #expect(report.errorKind == .journal)
        #expect(report.error == "another etcd-console restore (pid \(getpid()), started \(report.error.flatMap(Self.started) ?? "?")) still holds \(host.plan.journalPath).lock after 1s; let it finish (or stop it), then run this again",
                "\(report.error ?? "")")
        #expect(runner.requests.isEmpty)
        #expect(try host.journal().resumeStep == .restore, "the journal is as it was")
    }

    @Test("A new restore while another run holds the lock is refused at once, naming the holder; the other's journal is untouched")
    func newRunRefusedWhileLocked() async throws {
        let host = try FakeRestoreHost()
        defer { host.remove() }
        try interrupt(host, after: .stopEtcd)
        let before = try Data(contentsOf: URL(fileURLWithPath: host.plan.journalPath))
        guard case .acquired(let other) = try RestoreLock.tryAcquire(journalPath: host.plan.journalPath) else {
            Issue.record("the lock should be free")
            return
        }
        defer { other.release() }
        let (executor, runner) = host.executor([])
        let report = await executor.run()

        #expect(report.errorKind == .journal)
        #expect(report.error?.hasPrefix("another etcd-console restore (pid \(getpid()), started ") == true, "\(report.error ?? "")")
        #expect(report.error?.hasSuffix(") is running on \(host.dataDir) now; let it end, then see `etcd-console doctor`") == true)
        #expect(runner.requests.isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: host.plan.journalPath)) == before)
    }

    /// The start time in "(pid N, started T)".
    private static func started(_ text: String) -> String? {
        guard let start = text.range(of: ", started ")?.upperBound, let end = text[start...].firstIndex(of: ")") else { return nil }
        return String(text[start..<end])
    }
}
