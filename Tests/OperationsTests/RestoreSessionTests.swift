import EtcdTestSupport
import Foundation
import Operations
import Recovery
import SystemSupport
import Testing

/// `etcd-console restore` and the console's wizard plan through one `RestoreSession`: the same config file,
/// environment and flags give the same plan whether the binary's `restore --dry-run` makes it or the session the
/// console builds (settings resolved by `ConfigurationResolver.resolve(...discoveryRoot:)`, the same call).
@Suite("One restore session for the restore command and the console", .serialized)
struct RestoreSessionTests {
    /// A real snapshot from a throwaway etcd 3.5.
    private func snapshot(in directory: URL) async throws -> String {
        let path = directory.appendingPathComponent("snapshot.db").path
        try await EtcdProcess.saveSnapshot(name: "saved-from", keys: 10, to: path)
        return path
    }

    @Test("The same config file, environment and flags give the same plan through the command and the console's session")
    func samePlanBothPaths() async throws {
        let directory = try TestDirectories.make("restore-session")
        defer { try? FileManager.default.removeItem(at: directory) }
        let snapshot = try await snapshot(in: directory)
        let root = directory.appendingPathComponent("host").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("config.yaml").path
        try Data("name: n1\ninitial-cluster-token: tok-7\nunit: from-file\n".utf8).write(to: URL(fileURLWithPath: config))
        let tools = (try #require(try EtcdBinaries.locate(.v3_5).etcdutl) as NSString).deletingLastPathComponent
        // Only the real tools and the system on PATH; the unit from the environment wins over the file's.
        let environment = ["PATH": "\(tools):/usr/bin:/bin", "HOME": directory.path, "ETCD_CONSOLE_UNIT": "my-etcd",
                           "ETCD_CONSOLE_CONFIG": config]
        let dataDir = directory.appendingPathComponent("data").path

        let command = try EtcdConsoleBinary.run(["restore", snapshot, "--dry-run", "-o", "json", "--data-dir", dataDir,
                                                 "--discovery-root", root], environment: environment)
        #expect(command.status == 0, "\(command.output)")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { _ in Date(timeIntervalSince1970: 0) }
        var fromCommand = try decoder.decode(RestorePlan.self, from: Data(command.stdout.utf8))

        let settings = try ConfigurationResolver.resolve(flags: [.dataDir: dataDir], environment: environment,
                                                         file: try ConfigFile.load(path: config), discoveryRoot: root)
        let session = RestoreSession(settings: settings, runner: SystemProcessRunner(environment: environment),
                                     clientConfiguration: { throw RestoreError(.invalidPlan, "not connected in this test") })
        var fromSession = try await session.plan(session.options(snapshot: snapshot))

        // Made a moment apart (a second boundary may fall between them on a busy machine): the time and the
        // names made from it are the only things allowed to differ.
        #expect(fromCommand.asidePath.hasPrefix(dataDir + ".before-restore-") && fromSession.asidePath.hasPrefix(dataDir + ".before-restore-"))
        #expect(fromCommand.failedRestorePath.hasPrefix(dataDir + ".failed-restore-") && fromSession.failedRestorePath.hasPrefix(dataDir + ".failed-restore-"))
        fromCommand.createdAt = Date(timeIntervalSince1970: 0)
        fromSession.createdAt = fromCommand.createdAt
        fromSession.asidePath = fromCommand.asidePath
        fromSession.failedRestorePath = fromCommand.failedRestorePath
        #expect(fromCommand == fromSession)
        // And the plan is the one the settings say, each value with its source.
        #expect(fromSession.dataDir == dataDir)
        #expect(fromSession.memberName == "n1")
        #expect(fromSession.initialClusterToken == "tok-7")
        #expect(fromSession.service == .systemd(unit: "my-etcd"))
        #expect(fromSession.source(.name) == "\(config):1")
        #expect(fromSession.source(.service) == "environment ETCD_CONSOLE_UNIT")
        #expect(fromSession.source(.dataDir) == "flag --data-dir")
    }

    @Test("A running member's own name wins over discovered files but not over a name the operator set")
    func runningMemberIdentity() throws {
        let discovered = ResolvedConfiguration(settings: [
            .name: ResolvedSetting(value: "vm", source: .discovery("ExecStart in /lib/systemd/system/etcd.service")),
        ])
        let member = RestoreSession.RunningMember(name: "demo", peerURLs: ["http://127.0.0.1:2380"])
        let session = RestoreSession(settings: discovered, runner: SystemProcessRunner(),
                                     clientConfiguration: { throw RestoreError(.invalidPlan, "unused") })
        let options = session.options(snapshot: "/s.db", runningMember: member)
        #expect(options.name == "demo")
        #expect(options.initialCluster == "demo=http://127.0.0.1:2380")
        #expect(options.sources[.name] == "etcd itself (member list of the running member)")

        let named = ResolvedConfiguration(settings: [.name: ResolvedSetting(value: "n1", source: .flag("--name"))])
        let operatorSession = RestoreSession(settings: named, runner: SystemProcessRunner(),
                                             clientConfiguration: { throw RestoreError(.invalidPlan, "unused") })
        #expect(operatorSession.options(snapshot: "/s.db", runningMember: member).name == "n1")
    }
}
