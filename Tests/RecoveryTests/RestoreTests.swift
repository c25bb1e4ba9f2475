import EtcdClient
import EtcdTestSupport
import Foundation
import SystemSupport
import Testing
@testable import Recovery
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

/// Restores with real etcd 3.4 (etcdctl restores) and 3.5 (etcdutl restores), run as a unit by the
/// practice systemctl. Serialized: each test runs etcd twice and the restore tool once on 2 cores.
@Suite("Restore end to end", .serialized)
struct RestoreTests {
    @Test("A full restore after the data dir was deleted brings every key and pod back", arguments: [EtcdVersion.v3_4, .v3_5])
    func restoreAfterDataDirLoss(version: EtcdVersion) async throws {
        let lab = try await RestoreLab.make(version)
        defer { lab.tearDownNow() }
        try FileManager.default.removeItem(atPath: lab.dataDir)

        let plan = try await lab.plan()
        #expect(plan.tool.kind == (version == .v3_4 ? .etcdctl : .etcdutl))
        #expect(!plan.dataDirExisted)
        let events = EventLog()
        let report = await (try lab.executor(plan)).run(onEvent: events.handler)

        #expect(report.succeeded, "\(report.summary)")
        #expect(report.steps.map(\.kind) == RestoreStepKind.allCases)
        #expect(report.status(.moveAside) == .skipped)
        #expect(report.steps.filter { $0.kind != .moveAside }.allSatisfy { $0.status == .ok })
        #expect(events.startedSteps == RestoreStepKind.allCases)
        let contents = try await lab.contents()
        #expect(contents.keys == lab.snapshotKeys)
        #expect(!contents.hasAfterSnapshotKey)
        #expect(contents.pods == lab.snapshotPods)
        #expect(!lab.snapshotPods.isEmpty)
        #expect(try await lab.isActive() == "active")
        #expect(try RestoreJournal.load(path: plan.journalPath).isFinished)
        #expect(RestoreJournal.unfinished(dataDir: lab.dataDir) == nil)
    }

    @Test("A restore over a working data dir moves it aside, keeps it whole, and restores the snapshot's keys", arguments: [EtcdVersion.v3_4, .v3_5])
    func restoreMovesOldDataDirAside(version: EtcdVersion) async throws {
        let lab = try await RestoreLab.make(version)
        defer { lab.tearDownNow() }
        let plan = try await lab.plan()
        let report = await (try lab.executor(plan)).run()

        #expect(report.succeeded, "\(report.summary)")
        #expect(report.movedAside == plan.asidePath)
        #expect(plan.asidePath.hasPrefix(lab.dataDir + ".before-restore-"))
        #expect(FileManager.default.fileExists(atPath: plan.asidePath + "/member/snap/db"))
        #expect(!(try await lab.contents().hasAfterSnapshotKey))
        #expect(try await lab.contents().keys == lab.snapshotKeys)
        // The kept dir still holds the newer data: etcdutl/etcd reads it.
        let status = try runCommand(lab.etcd.binaries.etcdutl ?? lab.etcd.binaries.etcdctl,
                                    ["snapshot", "status", plan.asidePath + "/member/snap/db", "-w", "json"],
                                    environment: ["ETCDCTL_API": "3"])
        #expect(status.succeeded, "\(status.output)")
        #expect(report.reminders.contains { $0.contains("kube-apiserver") })
    }

    @Test("The founding failure (db behind the newest .snap, no .snap.db): doctor names it, restore fixes it")
    func foundingFailureFixedByRestore() async throws {
        let lab = try await RestoreLab.make(.v3_5, extraFlags: ["--snapshot-count", "50"])
        defer { lab.tearDownNow() }
        try await lab.systemctl("stop")
        try makeDatabaseBehindSnapshot(dataDir: lab.dataDir)
        let broken = try await lab.runner.run(ProcessRequest("systemctl", ["start", RestoreLab.unit]))
        #expect(!broken.succeeded, "etcd started on the broken data dir: \(broken.output)")
        let log = try String(contentsOfFile: lab.practice.logPath(unit: RestoreLab.unit), encoding: .utf8)
        #expect(log.contains("failed to find database snapshot file") || log.contains("snapshot file doesn't exist"))
        let diagnosis = DataDirDoctor(dataDir: lab.dataDir, now: Date()).examine()
        #expect(diagnosis.severity("snap-db-missing") == .critical, "\(diagnosis.summary)")

        let plan = try await lab.plan()
        let report = await (try lab.executor(plan)).run()
        #expect(report.succeeded, "\(report.summary)")
        #expect(try await lab.isActive() == "active")
        #expect(try await lab.contents().keys == lab.snapshotKeys)
        let after = DataDirDoctor(dataDir: lab.dataDir, now: Date()).examine()
        #expect(!after.hasCritical, "\(after.summary)")
        // The broken dir is kept, as it was, for a post-mortem.
        #expect(DataDirDoctor(dataDir: plan.asidePath, now: Date()).examine().severity("snap-db-missing") == .critical)
    }

    @Test("The restore tool failing (corrupt snapshot, checks forced off) rolls back: original data dir in place, etcd running", arguments: [EtcdVersion.v3_4, .v3_5])
    func restoreToolFailureRollsBack(version: EtcdVersion) async throws {
        let lab = try await RestoreLab.make(version)
        defer { lab.tearDownNow() }
        let corrupt = lab.root.appendingPathComponent("corrupt.db").path
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: lab.snapshot)))
        for i in stride(from: bytes.count / 3, to: bytes.count / 3 + 4096, by: 1) { bytes[i] ^= 0x5a }
        try Data(bytes).write(to: URL(fileURLWithPath: corrupt))

        let refused = try await lab.plan(lab.options(snapshot: corrupt))
        #expect(refused.snapshotHealth == .corrupt)
        let refusedReport = await (try lab.executor(refused)).run()
        #expect(refusedReport.errorKind == .badSnapshot)
        #expect(refusedReport.steps.map(\.kind) == [.preflight])
        #expect(try await lab.contents().hasAfterSnapshotKey)

        let plan = try await lab.plan(lab.options(snapshot: corrupt, skipVerify: true))
        let events = EventLog()
        let report = await (try lab.executor(plan)).run(onEvent: events.handler)
        #expect(!report.succeeded)
        #expect(report.errorKind == .restoreTool, "\(report.summary)")
        #expect(report.status(.restore) == .failed)
        #expect(report.rolledBack)
        #expect(events.rollbackStarted)
        let rollback = try #require(report.rollback)
        #expect(rollback.originalRestored && rollback.etcdRunning, "\(rollback)")
        #expect(rollback.problems.isEmpty, "\(rollback.problems)")
        #expect(report.movedAside == nil)
        #expect(!FileManager.default.fileExists(atPath: plan.asidePath))
        #expect(try await lab.isActive() == "active")
        #expect(try await lab.contents().hasAfterSnapshotKey, "the original data is not back")
        #expect(try RestoreJournal.load(path: plan.journalPath).isFinished)
    }

    @Test("etcd failing to start after the restore rolls back: the restored dir is kept, the original comes back")
    func startFailureRollsBack() async throws {
        let lab = try await RestoreLab.make(.v3_5)
        defer { lab.tearDownNow() }
        let plan = try await lab.plan()
        // The unit was edited since etcd last started (a real way for a start after a restore to fail): it
        // now passes a flag etcd does not know. The operator fixes the unit as the rollback begins.
        let practice = lab.practice
        let good = lab.etcd.commandLine
        let events = EventLog { event in
            switch event {
            case .stepFinished(let result) where result.kind == .fixOwnership:
                try? practice.define(unit: RestoreLab.unit, command: good + ["--no-such-flag"])
            case .rollbackStarted:
                try? practice.define(unit: RestoreLab.unit, command: good)
            default:
                break
            }
        }
        let report = await (try lab.executor(plan)).run(onEvent: events.handler)
        #expect(report.status(.startEtcd) == .failed, "\(report.summary)")
        #expect(report.errorKind == .serviceControl)
        #expect(report.rolledBack)
        let rollback = try #require(report.rollback)
        #expect(rollback.originalRestored && rollback.etcdRunning, "\(rollback)")
        #expect(rollback.failedRestorePath == plan.failedRestorePath)
        #expect(FileManager.default.fileExists(atPath: plan.failedRestorePath + "/member/snap/db"))
        #expect(try await lab.contents().hasAfterSnapshotKey)
        #expect(report.reminders.contains { $0.contains(plan.failedRestorePath) })
    }

    @Test("A stop requested after the move (Ctrl-C) ends the restore between steps and rolls back")
    func stopRequestRollsBack() async throws {
        let lab = try await RestoreLab.make(.v3_4)
        defer { lab.tearDownNow() }
        let plan = try await lab.plan()
        let stop = RestoreExecutor.StopRequest()
        let events = EventLog { event in
            if case .stepFinished(let result) = event, result.kind == .moveAside { stop.request() }
        }
        let executor = RestoreExecutor(plan: plan, runner: lab.runner, clientConfiguration: try lab.clientConfiguration,
                                       environment: lab.environment, stopRequest: stop)
        let report = await executor.run(onEvent: events.handler)
        #expect(report.errorKind == .stopped, "\(report.summary)")
        #expect(report.status(.restore) == .failed)
        #expect(report.rolledBack)
        #expect(report.rollback?.originalRestored == true)
        #expect(try await lab.contents().hasAfterSnapshotKey)
        #expect(try await lab.isActive() == "active")
    }

    @Test("Not enough free space for the restore is refused in preflight and nothing changes")
    func noFreeSpaceRefusedInPreflight() async throws {
        let lab = try await RestoreLab.make(.v3_5)
        defer { lab.tearDownNow() }
        let small = lab.root.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: lab.snapshot)[.size] as? Int)
        try #require(size > 600_000, "the snapshot is too small (\(size) bytes) for a 1 MiB tmpfs to be too small")
        let mount = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", small.path])
        try #require(mount.succeeded, "mount tmpfs failed: \(mount.output)")
        defer { _ = try? runCommand("/bin/umount", ["-l", small.path]) }
        let dataDir = small.appendingPathComponent("etcd").path
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: dataDir + "/marker"))

        let plan = try await lab.plan(lab.options(dataDir: dataDir))
        let report = await (try lab.executor(plan)).run()
        #expect(report.errorKind == .noSpace, "\(report.summary)")
        #expect(report.steps.map(\.kind) == [.preflight])
        #expect(report.error?.contains("not enough free space") == true)
        #expect(!report.rolledBack)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dataDir) == ["marker"])
        #expect(try await lab.isActive() == "active")
    }

    @Test("A static pod is stopped by parking its manifest and started by putting it back (a kubelet stand-in runs etcd)")
    func staticPodRestore() async throws {
        let lab = try await RestoreLab.make(.v3_4)
        defer { lab.tearDownNow() }
        try await lab.systemctl("stop")
        // The kubelet cannot run here: a loop that, like it, runs etcd while the manifest is in manifests/.
        let manifests = lab.root.appendingPathComponent("kubernetes/manifests")
        try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
        let manifest = manifests.appendingPathComponent("etcd.yaml").path
        try Data("apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n".utf8).write(to: URL(fileURLWithPath: manifest))
        let kubelet = Process()
        kubelet.executableURL = URL(fileURLWithPath: "/bin/bash")
        kubelet.arguments = ["-c", "while :; do if [ -f '\(manifest)' ]; then systemctl is-active etcd >/dev/null || systemctl start etcd >/dev/null 2>&1; else systemctl stop etcd; fi; sleep 0.2; done"]
        kubelet.environment = lab.environment
        kubelet.standardOutput = FileHandle.nullDevice
        kubelet.standardError = FileHandle.nullDevice
        try kubelet.run()
        defer { kill(kubelet.processIdentifier, SIGKILL) }
        for _ in 0..<300 where try await lab.isActive() != "active" { try await Task.sleep(for: .milliseconds(100)) }
        try #require(try await lab.isActive() == "active")

        var options = lab.options()
        options.unit = nil
        options.staticPodManifest = manifest
        let plan = try await lab.plan(options)
        let parked = lab.root.appendingPathComponent("kubernetes/etcd.yaml.parked-by-etcd-console").path
        #expect(plan.service == .staticPod(manifest: manifest, parkedAt: parked))
        let report = await (try lab.executor(plan)).run()
        #expect(report.succeeded, "\(report.summary)")
        #expect(report.steps.first { $0.kind == .stopEtcd }?.detail.contains("closed") == true)
        #expect(FileManager.default.fileExists(atPath: manifest))
        #expect(!FileManager.default.fileExists(atPath: parked))
        #expect(try await lab.contents().keys == lab.snapshotKeys)
    }

    @Test("An unfinished journal blocks a new restore until it is resumed or rolled back")
    func unfinishedJournalBlocksNewRun() async throws {
        let lab = try await RestoreLab.make(.v3_4)
        defer { lab.tearDownNow() }
        let plan = try await lab.plan()
        let writer = try JournalWriter(path: plan.journalPath, truncate: true)
        try writer.append(.init(event: .planned, pid: 1, plan: plan))
        try writer.append(.init(event: .stepStarted, step: .preflight))
        // A line cut short by a crash is ignored.
        try Data("{\"at\":\"2026-".utf8).write(to: URL(fileURLWithPath: plan.journalPath + ".tmp"))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: plan.journalPath))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"at\":\"2026-".utf8))
        try handle.close()

        let journal = try #require(RestoreJournal.unfinished(dataDir: lab.dataDir))
        #expect(journal.interruptedStep == .preflight)
        #expect(journal.resumeStep == .preflight)
        let blocked = await (try lab.executor(try await lab.plan())).run()
        #expect(blocked.errorKind == .journal)
        #expect(blocked.steps.isEmpty)
        #expect(blocked.error?.contains("--resume") == true)

        let resumed = await (try lab.executor(journal.plan)).resume(journal)
        #expect(resumed.succeeded, "\(resumed.summary)")
        #expect(RestoreJournal.unfinished(dataDir: lab.dataDir) == nil)
        #expect(try await lab.contents().keys == lab.snapshotKeys)
    }
}
