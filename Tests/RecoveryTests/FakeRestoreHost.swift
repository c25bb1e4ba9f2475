import EtcdTestSupport
import Foundation
import Practice
import SystemSupport
import Testing
@testable import Recovery
import SnapshotStore

/// A host for the restore executor made of fakes: an in-memory file system holding the data dir, a scripted
/// systemctl and restore tool (failing the test at the first unexpected call), an etcd probe and a clock that
/// only moves when the executor waits. The journal is a real file in a temp directory: it is how resume and
/// rollback learn what happened. No etcd and no processes: each test takes milliseconds.
///
/// The original data dir holds `member/wal/0.wal`, the restored one `member/snap/db` only, so a test can tell
/// which one is in place.
struct FakeRestoreHost {
    static let endpoint = "http://127.0.0.1:2379"
    static let peerURL = "http://127.0.0.1:2380"
    static let tool = "/usr/bin/etcdutl"
    static let snapshot = "/var/backups/etcd/etcd-20260101T000000Z.db"
    static let unit = "etcd"

    let root: String
    let fileSystem: FakeRestoreFileSystem
    let probe: FakeEtcdHealthProbe
    let clock: FakeRestoreClock
    let plan: RestorePlan

    var dataDir: String { plan.dataDir }
    var originalMarker: String { dataDir + "/member/wal/0.wal" }
    var restoredMarker: String { dataDir + "/member/snap/db" }

    /// The state a good restore leaves: the snapshot's keys, a revision above it, the planned member.
    static func goodState(members: [String] = ["vm"], keys: Int = 400, revision: Int64 = 1_000_000_900) -> RestoredEtcdState {
        RestoredEtcdState(revision: revision, keys: keys, members: members.map { EtcdMemberFacts(name: $0, peerURLs: [peerURL]) })
    }

    init(dataDirExisted: Bool = true, startTimeoutSeconds: Int = 60) throws {
        root = try TestDirectories.make("fake-restore").path
        let dataDir = root + "/etcd"
        fileSystem = FakeRestoreFileSystem(paths: [])
        fileSystem.create(Self.snapshot, size: 4096)
        fileSystem.create(Self.tool, executable: true)
        if dataDirExisted {
            fileSystem.create(dataDir + "/member/wal/0.wal")
            fileSystem.create(dataDir + "/member/snap/db")
        } else {
            fileSystem.create(root + "/.keep")
        }
        probe = FakeEtcdHealthProbe(state: { Self.goodState() },
                                    podKeys: ["/registry/pods/default/web-1", "/registry/pods/kube-system/dns-1"])
        clock = FakeRestoreClock()
        plan = RestorePlan(
            createdAt: Date(timeIntervalSince1970: 1_800_000_000), snapshotPath: Self.snapshot, snapshotSize: 4096,
            snapshotHealth: .good, snapshotReason: nil, snapshotRevision: 900, snapshotKeys: 400,
            snapshotPods: ["default": 1, "kube-system": 1], skipVerify: false,
            dataDir: dataDir, walDir: nil, dataDirExisted: dataDirExisted,
            asidePath: dataDir + ".before-restore-20260101T000000Z", walAsidePath: nil,
            failedRestorePath: dataDir + ".failed-restore-20260101T000000Z",
            ownership: DirectoryOwnership(uid: 998, gid: 998, mode: 0o700, display: "etcd:etcd"),
            memberName: "vm", initialCluster: "vm=\(Self.peerURL)", initialClusterToken: "etcd-cluster",
            initialAdvertisePeerURLs: Self.peerURL, service: .systemd(unit: Self.unit),
            tool: RestoreTool(kind: .etcdutl, path: Self.tool, version: "etcdutl version: 3.5.0", supportsBumpRevision: true),
            endpoints: [Self.endpoint], stopTimeoutSeconds: 60, startTimeoutSeconds: startTimeoutSeconds,
            steps: [], notes: [], sources: nil, warnings: nil, snapshotHasTrailer: true)
    }

    /// etcd answers only while the original data dir is in place (the restored one never comes up).
    func etcdAnswersOnlyOnTheOriginal() {
        let fileSystem = fileSystem, marker = originalMarker
        probe.setAnswers { fileSystem.exists(marker) }
    }

    func executor(_ expectations: [ScriptedProcessRunner.Expectation],
                  stopRequest: RestoreExecutor.StopRequest = .init()) -> (RestoreExecutor, ScriptedProcessRunner) {
        let runner = ScriptedProcessRunner.failingTest(installed: ["systemctl": "/usr/bin/systemctl"], expectations: expectations)
        let executor = RestoreExecutor(plan: plan, runner: runner, probe: probe, fileSystem: fileSystem, clock: clock,
                                       environment: [:], stopRequest: stopRequest)
        return (executor, runner)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    // MARK: what the scripted commands are, step by step

    typealias Call = ScriptedProcessRunner.Expectation

    static func isActive(_ state: String) -> Call {
        Call("systemctl", ["is-active", unit], status: state == "active" ? 0 : 3, output: state + "\n")
    }

    static var preflight: [Call] { [isActive("active")] }
    static var stop: [Call] { [Call("systemctl", ["stop", unit]), isActive("inactive")] }
    static var start: [Call] { [Call("systemctl", ["start", unit])] }
    static var healthy: [Call] { [isActive("active")] }

    /// The restore tool: by default it writes the restored data dir.
    func restoreTool(status: Int32 = 0, output: String = "", writes: [String]? = nil) -> Call {
        let fileSystem = fileSystem
        let written = writes ?? [restoredMarker]
        return Call("etcdutl", plan.restoreArguments, status: status, output: output,
                    then: { for path in written { fileSystem.create(path) } })
    }

    /// The commands each step runs when it goes well.
    func calls(for step: RestoreStepKind) -> [Call] {
        switch step {
        case .preflight: Self.preflight
        case .stopEtcd: Self.stop
        case .moveAside, .fixOwnership, .verify, .checkPods: []
        case .restore: [restoreTool()]
        case .startEtcd: Self.start
        case .waitHealthy: Self.healthy
        }
    }

    /// A whole restore that goes well.
    var happyPath: [Call] { RestoreStepKind.allCases.flatMap(calls(for:)) }

    /// A rollback that goes well: stop, start on the original, healthy.
    static var rollback: [Call] { stop + start + healthy }

    func journal() throws -> RestoreJournal { try RestoreJournal.load(path: plan.journalPath) }
}
