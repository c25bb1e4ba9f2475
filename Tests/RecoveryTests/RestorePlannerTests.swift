import EtcdTestSupport
import Foundation
import Practice
import SystemSupport
import Testing
@testable import Recovery

/// Plans made with a scripted process runner: which tool, which flags, which commands, which notes.
@Suite("Restore planner")
struct RestorePlannerTests {
    /// A file that is not a snapshot: planning still works (preflight is what refuses it).
    private func junkSnapshot() throws -> String {
        let path = try TestDirectories.make("planner").appendingPathComponent("junk.db").path
        try Data(repeating: 7, count: 8192).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func deployment() -> EtcdDeployment {
        let source = "ExecStart in /etc/systemd/system/etcd.service"
        var settings: [EtcdSetting.Name: EtcdSetting] = [:]
        settings[.name] = EtcdSetting(value: "master-1", source: source)
        settings[.dataDir] = EtcdSetting(value: "/var/lib/etcd", source: source)
        settings[.initialAdvertisePeerURLs] = EtcdSetting(value: "https://10.0.0.5:2380", source: source)
        settings[.initialCluster] = EtcdSetting(value: "master-1=https://10.0.0.5:2380", source: source)
        settings[.initialClusterToken] = EtcdSetting(value: "tok", source: source)
        settings[.advertiseClientURLs] = EtcdSetting(value: "https://10.0.0.5:2379", source: source)
        return EtcdDeployment(kind: .systemd, unitName: "etcd", settings: settings, runAsUser: "etcd")
    }

    @Test("etcdutl that knows --bump-revision restores with it, with the discovered member settings")
    func etcdutlWithBump() async throws {
        let runner = ScriptedProcessRunner.failingTest(installed: ["etcdutl": "/usr/local/bin/etcdutl", "etcdctl": "/usr/bin/etcdctl"], expectations: [
            .init("etcdutl", ["version"], output: "etcdutl version: 3.5.12\nAPI version: 3.5"),
            .init("etcdutl", ["snapshot", "restore", "--help"], output: "  --bump-revision uint\n  --mark-compacted\n"),
        ])
        let plan = try await RestorePlanner(runner: runner).plan(deployment: deployment(), options: RestoreOptions(snapshotPath: try junkSnapshot()),
                                                                 now: Date(timeIntervalSince1970: 1_795_000_000))
        #expect(runner.problems.isEmpty && runner.unmet.isEmpty)
        #expect(plan.tool == RestoreTool(kind: .etcdutl, path: "/usr/local/bin/etcdutl", version: "etcdutl version: 3.5.12", supportsBumpRevision: true))
        #expect(plan.restoreArguments == ["snapshot", "restore", plan.snapshotPath, "--data-dir", "/var/lib/etcd", "--name", "master-1",
                                          "--initial-cluster", "master-1=https://10.0.0.5:2380", "--initial-cluster-token", "tok",
                                          "--initial-advertise-peer-urls", "https://10.0.0.5:2380",
                                          "--bump-revision", "1000000000", "--mark-compacted"])
        #expect(plan.restoreRequest.environment.isEmpty)
        #expect(plan.asidePath == "/var/lib/etcd.before-restore-20261118T110640Z")
        #expect(plan.service == .systemd(unit: "etcd"))
        #expect(plan.endpoints == ["https://10.0.0.5:2379"])
        #expect(plan.snapshotHealth == .corrupt)
        #expect(!plan.notes.contains { $0.contains("bump-revision") })
        #expect(plan.steps.first { $0.kind == .stopEtcd }?.commands.first == "systemctl stop etcd")
    }

    @Test("A raw member db copy (good, but no checksum trailer) is restored with --skip-hash-check; a snapshot with its trailer is not")
    func rawDatabaseSkipsHashCheck() async throws {
        let runner = ScriptedProcessRunner.failingTest(installed: ["etcdutl": "/usr/bin/etcdutl"], expectations: [
            .init("etcdutl", ["version"], output: "etcdutl version: 3.5.9"),
            .init("etcdutl", ["snapshot", "restore", "--help"], output: ""),
        ])
        var plan = try await RestorePlanner(runner: runner).plan(deployment: deployment(), options: RestoreOptions(snapshotPath: try junkSnapshot()))
        #expect(plan.snapshotHasTrailer == false)
        plan.snapshotHealth = .good
        #expect(plan.restoreArguments.last == "--skip-hash-check")
        plan.snapshotHasTrailer = true
        #expect(!plan.restoreArguments.contains("--skip-hash-check"))
        plan.snapshotHasTrailer = nil  // a journal written before the field existed: health alone decides
        #expect(!plan.restoreArguments.contains("--skip-hash-check"))
        plan.snapshotHealth = .unverified
        #expect(plan.restoreArguments.last == "--skip-hash-check")
    }

    @Test("Without etcdutl, etcdctl restores with ETCDCTL_API=3, and a tool without --bump-revision is named in a note")
    func etcdctlFallback() async throws {
        let runner = ScriptedProcessRunner.failingTest(installed: ["etcdctl": "/usr/bin/etcdctl"], expectations: [
            .init("etcdctl", ["version"], output: "etcdctl version: 3.4.23\nAPI version: 3.4"),
            .init("etcdctl", ["snapshot", "restore", "--help"], output: "--data-dir\n--skip-hash-check\n"),
        ])
        let plan = try await RestorePlanner(runner: runner).plan(deployment: deployment(), options: RestoreOptions(snapshotPath: try junkSnapshot(), name: "other"))
        #expect(plan.tool.kind == .etcdctl)
        #expect(plan.restoreRequest.environment == ["ETCDCTL_API": "3"])
        #expect(!plan.restoreArguments.contains("--bump-revision"))
        #expect(plan.restoreArguments.contains("other"))
        #expect(plan.notes.contains { $0.contains("etcdctl version: 3.4.23 has no --bump-revision") })
        #expect(runner.requests.allSatisfy { $0.environment == ["ETCDCTL_API": "3"] })
    }

    @Test("A static pod is stopped by parking its manifest outside the manifests directory")
    func staticPod() async throws {
        let runner = ScriptedProcessRunner.failingTest(installed: ["etcdutl": "/usr/bin/etcdutl"], expectations: [
            .init("etcdutl", ["version"], output: "etcdutl version: 3.5.9"),
            .init("etcdutl", ["snapshot", "restore", "--help"], output: ""),
        ])
        let plan = try await RestorePlanner(runner: runner).plan(
            deployment: EtcdDeployment(kind: .staticPod, manifestPath: "/etc/kubernetes/manifests/etcd.yaml"),
            options: RestoreOptions(snapshotPath: try junkSnapshot()))
        #expect(plan.service == .staticPod(manifest: "/etc/kubernetes/manifests/etcd.yaml", parkedAt: "/etc/kubernetes/etcd.yaml.parked-by-etcd-console"))
        #expect(plan.steps.first { $0.kind == .stopEtcd }?.commands.first == "mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/etcd.yaml.parked-by-etcd-console")
        #expect(plan.dataDir == "/var/lib/etcd")
        #expect(plan.memberName == "default")
        #expect(plan.initialCluster == "default=http://localhost:2380")
    }

    @Test("No restore tool installed is a clear error naming what to install")
    func noTool() async throws {
        let runner = ScriptedProcessRunner.failingTest(installed: [:], expectations: [])
        await #expect {
            try await RestorePlanner(runner: runner).plan(deployment: deployment(), options: RestoreOptions(snapshotPath: try junkSnapshot()))
        } throws: { error in
            (error as? RestoreError)?.kind == .toolMissing && "\(error)".contains("neither etcdutl nor etcdctl")
        }
    }

    @Test("A missing snapshot file is a bad-snapshot error")
    func missingSnapshot() async throws {
        let runner = ScriptedProcessRunner.failingTest(installed: [:], expectations: [])
        await #expect {
            try await RestorePlanner(runner: runner).plan(deployment: deployment(), options: RestoreOptions(snapshotPath: "/nonexistent/snap.db"))
        } throws: { error in
            (error as? RestoreError)?.kind == .badSnapshot && "\(error)".contains("/nonexistent/snap.db")
        }
    }

    @Test("The scripted runner reports calls out of order and expectations never met")
    func scriptedRunnerFails() async throws {
        let runner = ScriptedProcessRunner(installed: ["systemctl": "/bin/systemctl"], expectations: [
            .init("systemctl", ["stop", "etcd"]), .init("systemctl", ["start", "etcd"]),
        ])
        let outcome = try await runner.run(ProcessRequest("systemctl", ["start", "etcd"]))
        #expect(outcome.status == 127)
        #expect(runner.problems.count == 1)
        #expect(runner.unmet.count == 2)
    }

    @Test("The scripted runner calls onUnexpected once, at the first unexpected call (failingTest makes that a test failure)")
    func scriptedRunnerFailsFast() async throws {
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var messages: [String] = []
        }
        let seen = Seen()
        let runner = ScriptedProcessRunner(installed: ["systemctl": "/bin/systemctl"], expectations: [.init("systemctl", ["stop", "etcd"])],
                                           onUnexpected: { message in seen.lock.withLock { seen.messages.append(message) } })
        _ = try await runner.run(ProcessRequest("systemctl", ["start", "etcd"]))
        _ = try await runner.run(ProcessRequest("systemctl", ["restart", "etcd"]))
        let messages = seen.lock.withLock { seen.messages }
        #expect(messages.count == 1)
        #expect(messages.first?.hasPrefix("scripted runner: expected systemctl stop etcd, got ") == true, "\(messages)")
    }
}
