import EtcdClient
import EtcdTestSupport
import Foundation
import Practice
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16: a whole 3-member cluster restored from one snapshot by `restore --cluster`, each member on its own
/// test host: a real OpenSSH sshd on 127.0.0.2-4 (its own port, host key and client key made here), the host's own
/// practice systemctl running its real etcd 3.5 member on that address. The coordinator reaches every host with the
/// system's ssh/scp, host keys checked against a known_hosts file holding only these hosts.
@Suite("restore --cluster over SSH", .serialized)
struct ClusterRestoreTests {
    @Test("All three members restored from one snapshot: every key back, the later key gone, hashKV equal, a new cluster id, old data dirs kept; a coordinator killed mid-run is finished by --resume")
    func fullRestore() async throws {
        let lab = try await HALab.make()
        defer { lab.tearDown() }
        let restore = try lab.restore(["--yes", "-o", "json"])
        #expect(restore.status == 0, "\(restore.output)")
        let report = try ConsoleBinary.json(restore)
        #expect(report["succeeded"] as? Bool == true, "\(restore.stdout)")
        #expect(report["consistent"] as? Bool == true, "\(restore.stdout)")
        let token = try #require(report["token"] as? String)
        #expect(token.hasPrefix("etcd-console-") && token != HALab.oldToken)
        let hosts = try #require(report["hosts"] as? [[String: Any]])
        #expect(hosts.map { $0["phase"] as? String } == ["started", "started", "started"], "\(hosts)")

        // Every key of the snapshot, on every member; the key written after the snapshot is gone.
        for member in lab.members {
            let client = lab.client([member.clientURL])
            #expect(try await client.count(prefix: "/registry/test/") == HALab.keys, "\(member.name)")
            #expect(try await client.get("/after-snapshot") == nil, "\(member.name)")
            await client.close()
        }
        // hashKV equal on every member at one revision, asked here, not taken from the report.
        let all = lab.client(lab.members.map(\.clientURL))
        let revision = try await all.status(of: try Endpoint(parsing: lab.members[0].clientURL)).header.revision
        var hashes: Set<UInt32> = []
        for member in lab.members {
            hashes.insert(try await all.hashKV(revision: revision, endpoint: try Endpoint(parsing: member.clientURL)).hash)
        }
        #expect(hashes.count == 1, "hashKV differs: \(hashes)")
        let list = try await all.memberList()
        #expect(String(list.header.clusterID, radix: 16) != lab.oldClusterID)
        #expect(Set(list.members.map(\.name)) == ["m1", "m2", "m3"])
        await all.close()
        // Each host's old data dir was moved aside, not deleted; the snapshot was placed on each host.
        for member in lab.members {
            let siblings = try FileManager.default.contentsOfDirectory(atPath: member.directory.path)
            #expect(siblings.contains { $0.hasPrefix("data.before-restore-") }, "\(member.name): \(siblings)")
            #expect(FileManager.default.fileExists(atPath: member.backups + "/" + (lab.snapshot as NSString).lastPathComponent))
        }

        // The coordinator dies once every host is restored (its journal says so): restore --cluster --resume
        // finishes from the journal: every member started, checked.
        let output = lab.root.appendingPathComponent("killed-run.log").path
        let arguments = [EtcdConsoleBinary.path] + lab.restoreArguments(["--yes"], survivor: nil)
        let coordinator = try CleanSpawn.spawn(arguments, environment: lab.restoreEnvironment, output: output)
        let deadline = ContinuousClock.now + .seconds(180)
        var prepared = false
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: lab.journal, encoding: .utf8)) ?? ""
            if text.components(separatedBy: "\"phase\" : \"prepared\"").count == 4 { prepared = true; break }
            var status: Int32 = 0
            if waitpid(coordinator, &status, WNOHANG) == coordinator { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        kill(coordinator, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(coordinator, &status, 0)
        #expect(prepared, "the journal never showed every host prepared: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        // The killed coordinator's ssh sessions may go on (they are in process groups of their own): a host's
        // `restore --resume` it had started runs on while the resume below starts its own there. The host journal's
        // lock makes the second wait and then find the journal ended, which the coordinator takes as done.
        let resumed = try EtcdConsoleBinary.run(lab.restoreArguments(["--yes", "--resume", "-o", "json"], survivor: nil, snapshot: false),
                                                environment: lab.restoreEnvironment, timeout: .seconds(240))
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try ConsoleBinary.json(resumed)["consistent"] as? Bool == true, "\(resumed.stdout)")
        for member in lab.members {
            let client = lab.client([member.clientURL])
            #expect(try await client.count(prefix: "/registry/test/") == HALab.keys, "\(member.name)")
            await client.close()
        }
    }

    @Test("One host unreachable over SSH: refused before anything changes, on every host; --from-survivor naming no member: a clear error")
    func unreachableHost() async throws {
        let lab = try await HALab.make()
        defer { lab.tearDown() }
        let unknown = try lab.restore(["--yes"], survivor: "m9")
        #expect(unknown.status == 1, "\(unknown.output)")
        #expect(unknown.stderr.contains("the survivor m9 is not a member in the inventory"), "\(unknown.stderr)")
        #expect(lab.members.allSatisfy { $0.practice.pid(unit: "etcd") != nil })
        lab.members[2].ssh.stop()
        let restore = try lab.restore(["--yes"])
        #expect(restore.status == 1, "\(restore.output)")
        #expect(restore.stdout.contains("m3 (root@127.0.0.4:\(lab.members[2].ssh.port)) cannot be reached over SSH"), "\(restore.stdout)")
        #expect(restore.stdout.contains("nothing was changed on any host"), "\(restore.stdout)")
        // The old cluster still serves the key written after the snapshot; no host has a restore journal.
        let client = lab.client(lab.members.map(\.clientURL))
        #expect(try await client.get("/after-snapshot") != nil)
        #expect(String(try await client.memberList().header.clusterID, radix: 16) == lab.oldClusterID)
        await client.close()
        for member in lab.members {
            #expect(!FileManager.default.fileExists(atPath: member.dataDir + ".restore-journal"), "\(member.name)")
        }
    }

    @Test("The third host's restore fails after two were restored: every host rolled back, the old cluster runs with its data")
    func failureOnThirdHostRollsBackAll() async throws {
        let lab = try await HALab.make(failingRestoreOn: "m3")
        defer { lab.tearDown() }
        let restore = try lab.restore(["--yes"], timeout: .seconds(300))
        #expect(restore.status == 1, "\(restore.output)")
        #expect(restore.stdout.contains("m3 (root@127.0.0.4:\(lab.members[2].ssh.port)): the restore failed"), "\(restore.stdout)")
        #expect(restore.stdout.contains("simulated: no space left on device"), "\(restore.stdout)")
        #expect(restore.stdout.contains("every host was rolled back"), "\(restore.stdout)")
        // The old cluster: same id, every member back on its original data (the later key is there), consistent.
        let client = lab.client(lab.members.map(\.clientURL))
        #expect(String(try await client.memberList().header.clusterID, radix: 16) == lab.oldClusterID)
        for member in lab.members {
            let one = lab.client([member.clientURL])
            #expect(try await one.get("/after-snapshot") != nil, "\(member.name)")
            await one.close()
        }
        let check = try await ClusterCheckProbe.hashes(client, urls: lab.members.map(\.clientURL))
        #expect(Set(check).count == 1, "\(check)")
        await client.close()
        // The restored data dirs of m1 and m2 were kept, not deleted.
        for member in lab.members.prefix(2) {
            let siblings = try FileManager.default.contentsOfDirectory(atPath: member.directory.path)
            #expect(siblings.contains { $0.hasPrefix("data.failed-restore-") }, "\(member.name): \(siblings)")
        }
        // The coordinator's journal is finished: a second run is not refused for it.
        let journal = try #require(FileManager.default.contents(atPath: lab.journal))
        #expect(String(decoding: journal, as: UTF8.self).contains("\"finished\" : true"))
    }

    @Test("Lost quorum: two members stopped and their disks wiped; every member restored from the survivor's data: every key, the later one too")
    func lostQuorumFromSurvivor() async throws {
        let lab = try await HALab.make()
        defer { lab.tearDown() }
        for member in lab.members.suffix(2) {
            let stopped = try spawnAndWait([member.practice.executable, "stop", "etcd"])
            #expect(stopped.status == 0, "\(stopped.output)")
            try FileManager.default.moveItem(atPath: member.dataDir, toPath: member.dataDir + ".lost-disk")
        }
        // A dry run changes nothing: the survivor keeps running.
        let dry = try lab.restore(["--dry-run"], survivor: "m1")
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.stdout.contains("nothing was changed (the survivor's etcd keeps running)"), "\(dry.output)")
        #expect(lab.members[0].practice.pid(unit: "etcd") != nil)

        // `newest`: each member's db inspected on its host; only m1 has one.
        let restore = try lab.restore(["--yes", "-o", "json"], survivor: "newest", timeout: .seconds(300))
        #expect(restore.stderr.contains("newest data: m1 at revision "), "\(restore.stderr)")
        #expect(restore.stderr.contains("  m2: \(lab.members[1].dataDir)/member/snap/db cannot be read"), "\(restore.stderr)")
        #expect(restore.status == 0, "\(restore.output)")
        let report = try ConsoleBinary.json(restore)
        #expect(report["succeeded"] as? Bool == true, "\(restore.stdout)")
        #expect(report["consistent"] as? Bool == true, "\(restore.stdout)")
        #expect((report["snapshot"] as? String)?.contains("/survivor-m1-") == true, "\(restore.stdout)")
        for member in lab.members {
            let client = lab.client([member.clientURL])
            #expect(try await client.count(prefix: "/registry/test/") == HALab.keys, "\(member.name)")
            // Written after the last snapshot: only the survivor's own data has it.
            #expect(try await client.get("/after-snapshot") != nil, "\(member.name)")
            await client.close()
        }
        let all = lab.client(lab.members.map(\.clientURL))
        #expect(Set(try await all.memberList().members.map(\.name)) == ["m1", "m2", "m3"])
        await all.close()
        // The survivor's own data dir is kept beside the restored one.
        let siblings = try FileManager.default.contentsOfDirectory(atPath: lab.members[0].directory.path)
        #expect(siblings.contains { $0.hasPrefix("data.before-restore-") }, "\(siblings)")
    }

    @Test("The console's :cluster at 80x24: one column per host, yes, every member restored (the inventory from cluster-inventory); then quorum lost, :recover restores all from the newest member's data")
    func console() async throws {
        let lab = try await HALab.make()
        defer { lab.tearDown() }
        let coordinator = (lab.snapshot as NSString).deletingLastPathComponent
        let config = coordinator + "/config.yaml"
        try Data("cluster-inventory: \(lab.inventory)\n".utf8).write(to: URL(fileURLWithPath: config))
        let tmux = try TmuxSession(["--endpoints", lab.members[0].clientURL, "--dir", coordinator, "--data-dir", "/nonexistent"],
                                   environment: ["ETCD_CONSOLE_CONFIG": config])
        defer { tmux.kill() }
        try await tmux.waitFor("3/3 members healthy")
        try tmux.press("2")
        try await tmux.waitFor("cluster-before")
        try tmux.press(":", "cluster", "Enter")
        // One column per host, side by side.
        let plan = try await tmux.waitUntil("the plan with a column per host") { screen in
            screen.contains("Cluster restore: plan")
                && screen.split(separator: "\n").contains { $0.contains("m1") && $0.contains("m2") && $0.contains("m3") }
        }
        #expect(plan.contains("members from the inventory"), "\(plan)")
        try tmux.press("Enter")
        try await tmux.waitFor("type yes")
        try tmux.press("yes", "Enter")
        let done = try await tmux.waitUntil("the restore's verdict") { $0.contains("Restored every member") || $0.contains("FAILED") }
        #expect(done.contains("Restored every member: hashKV equal"), "\(done)")
        #expect(done.split(separator: "\n").contains { $0.split(separator: " ").filter { $0 == "started" }.count == 3 }, "\(done)")
        for member in lab.members {
            let client = lab.client([member.clientURL])
            #expect(try await client.count(prefix: "/registry/test/") == HALab.keys, "\(member.name)")
            #expect(try await client.get("/after-snapshot") == nil, "\(member.name)")
            await client.close()
        }

        // Then quorum is lost: m2 and m3 stop and lose their disks. :recover finds m1's data the newest and
        // restores every member from it, with the key written after the restore.
        let writer = lab.client(lab.members.map(\.clientURL))
        _ = try await writer.put("/after-restore", value: Data("only in m1's data".utf8))
        await writer.close()
        for member in lab.members.suffix(2) {
            _ = try spawnAndWait([member.practice.executable, "stop", "etcd"])
            try FileManager.default.moveItem(atPath: member.dataDir, toPath: member.dataDir + ".lost-disk")
        }
        try tmux.press(":", "recover", "Enter")
        let recovery = try await tmux.waitUntil("the recovery plan") { $0.contains("Quorum recovery: plan") && $0.contains("the newest") }
        #expect(recovery.contains("m1's data (revision "), "\(recovery)")
        try tmux.press("Enter")
        try await tmux.waitFor("type yes")
        try tmux.press("yes", "Enter")
        let recovered = try await tmux.waitUntil("the recovery's verdict") { $0.contains("Quorum recovery: finished") }
        #expect(recovered.contains("Restored every member: hashKV equal"), "\(recovered)")
        for member in lab.members {
            let client = lab.client([member.clientURL])
            #expect(try await client.get("/after-restore") != nil, "\(member.name)")
            await client.close()
        }
    }

    @Test("Bad inventories get a clear error and change nothing")
    func badInventory() throws {
        let directory = try TestDirectories.make("ha-inventory")
        let snapshot = directory.appendingPathComponent("s.db").path
        FileManager.default.createFile(atPath: snapshot, contents: Data("x".utf8))
        let cases: [(String, String)] = [
            ("members: []\n", "has no members: list"),
            ("members:\n  - name: a\n    host: h1\n    peer-urls: http://h1:2380\n", "names 1 member: a cluster restore is for 2 or more"),
            ("members:\n  - name: a\n    host: h1\n    peer-urls: http://h1:2380\n  - name: a\n    host: h2\n    peer-urls: http://h2:2380\n", "names the member a twice"),
            ("members:\n  - name: a\n    host: h1\n    peer-urls: h1:2380\n  - name: b\n    host: h2\n    peer-urls: http://h2:2380\n", "a peer-urls \"h1:2380\" is not a URL like https://10.0.0.2:2380"),
            ("members:\n  - name: a\n    peer-urls: http://h1:2380\n", "member a has no host"),
            ("members:\n  - name: a\n    host: h1\n    peer-urls: http://h1:2380\n    datadir: /x\n", "member 1 has an unknown key datadir"),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let file = directory.appendingPathComponent("inventory-\(index).yaml").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            let result = try ConsoleBinary.run(["restore", snapshot, "--cluster", "--inventory", file, "--yes",
                                                "--cluster-journal", directory.appendingPathComponent("j.json").path])
            #expect(result.status == 1, "\(text): \(result.output)")
            #expect(result.stderr.contains(expected), "\(text): \(result.stderr)")
        }
        // A planted symlink is not followed.
        let link = directory.appendingPathComponent("link.yaml").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory.appendingPathComponent("inventory-0.yaml").path)
        let linked = try ConsoleBinary.run(["restore", snapshot, "--cluster", "--inventory", link, "--yes"])
        #expect(linked.status == 1 && linked.stderr.contains("it is a symbolic link"), "\(linked.output)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("j.json").path))
    }
}

/// hashKV of each member at the revision of the first.
enum ClusterCheckProbe {
    static func hashes(_ client: EtcdClient, urls: [String]) async throws -> [UInt32] {
        let revision = try await client.status(of: try Endpoint(parsing: urls[0])).header.revision
        var result: [UInt32] = []
        for url in urls { result.append(try await client.hashKV(revision: revision, endpoint: try Endpoint(parsing: url)).hash) }
        return result
    }
}

/// Three test hosts, each an sshd on 127.0.0.N and a practice systemctl running member mN of one etcd 3.5 cluster
/// on that address; 40 keys, a snapshot saved from m1, then one more key (which a restore must not bring back).
final class HALab: @unchecked Sendable {
    static let keys = 40
    static let oldToken = "etcd-console-ha-old"

    struct Member {
        var name: String
        var address: String
        var directory: URL
        var practice: PracticeSystemctl
        var ssh: SSHTestHost
        var clientURL: String
        var peerURL: String
        var dataDir: String { directory.appendingPathComponent("data").path }
        var backups: String { directory.appendingPathComponent("backups").path }
    }

    let members: [Member]
    let sshClient: SSHTestHost.Client
    let root: URL
    let snapshot: String
    let inventory: String
    let journal: String
    let oldClusterID: String
    let binaries: EtcdBinaries

    private init(members: [Member], sshClient: SSHTestHost.Client, root: URL, snapshot: String, inventory: String,
                 journal: String, oldClusterID: String, binaries: EtcdBinaries) {
        self.members = members
        self.sshClient = sshClient
        self.root = root
        self.snapshot = snapshot
        self.inventory = inventory
        self.journal = journal
        self.oldClusterID = oldClusterID
        self.binaries = binaries
    }

    static func make(failingRestoreOn failing: String? = nil) async throws -> HALab {
        let binaries = try EtcdBinaries.locate(.v3_5)
        let etcdutl = try #require(binaries.etcdutl)
        let root = try TestDirectories.make("ha-lab")
        let sshClient = try SSHTestHost.Client.make()
        let ports = try LoopbackPorts.pick(6)
        let names = ["m1", "m2", "m3"]
        let addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        let peers = names.indices.map { "http://\(addresses[$0]):\(ports[2 * $0 + 1])" }
        let clients = names.indices.map { "http://\(addresses[$0]):\(ports[2 * $0])" }
        let initialCluster = zip(names, peers).map { "\($0)=\($1)" }.joined(separator: ",")
        var members: [Member] = []
        for index in names.indices {
            let directory = root.appendingPathComponent(names[index])
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let practice = try PracticeSystemctl.install(in: directory.appendingPathComponent("practice").path)
            let dataDir = directory.appendingPathComponent("data").path
            try practice.define(unit: "etcd", command: [
                binaries.etcd, "--name", names[index], "--data-dir", dataDir,
                "--listen-client-urls", clients[index], "--advertise-client-urls", clients[index],
                "--listen-peer-urls", peers[index], "--initial-advertise-peer-urls", peers[index],
                "--initial-cluster", initialCluster, "--initial-cluster-token", oldToken,
                "--heartbeat-interval", "100", "--election-timeout", "1000",
            ])
            let path = "\(practice.binDirectory):/usr/sbin:/usr/bin:/sbin:/bin"
            // Each host's own (empty) config file, so nothing of this machine's /etc/etcd-console applies.
            let config = directory.appendingPathComponent("config.yaml").path
            FileManager.default.createFile(atPath: config, contents: Data("{}\n".utf8))
            let ssh = try await SSHTestHost.start(address: addresses[index], client: sshClient, path: path,
                                                  environment: ["ETCD_CONSOLE_CONFIG": config, "HOME": directory.path])
            members.append(Member(name: names[index], address: addresses[index], directory: directory, practice: practice,
                                  ssh: ssh, clientURL: clients[index], peerURL: peers[index]))
        }
        // A member of a new cluster is ready only once a quorum runs: start all three together.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for member in members {
                group.addTask {
                    // spawnAndWait, not Foundation's Process: the etcd it leaves running must not inherit this
                    // process's descriptors (see spawnAndWait).
                    let started = try spawnAndWait([member.practice.executable, "start", "etcd"])
                    guard started.status == 0 else { throw EtcdTestSupportError("\(member.name) did not start: \(started.output)") }
                }
            }
            try await group.waitForAll()
        }
        let lab0 = clientFor(clients)
        for number in 0..<keys { _ = try await lab0.put("/registry/test/key-\(number)", value: Data("value \(number)".utf8)) }
        let oldID = String(try await lab0.memberList().header.clusterID, radix: 16)
        let local = root.appendingPathComponent("coordinator")
        try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
        let snapshot = local.appendingPathComponent("cluster-before.db").path
        let saved = try EtcdConsoleBinary.run(["snapshot", "save", "--file", snapshot, "--endpoints", clients[0]])
        guard saved.status == 0 else { throw EtcdTestSupportError("snapshot save failed: \(saved.output)") }
        _ = try await lab0.put("/after-snapshot", value: Data("written after the snapshot".utf8))
        await lab0.close()

        var yaml = "ssh-user: root\netcd-console: \(EtcdConsoleBinary.path)\nssh-options:\n"
            + sshClient.options.map { "  - \($0)\n" }.joined() + "members:\n"
        for (index, member) in members.enumerated() {
            var tool = etcdutl
            if member.name == failing {
                // Answers `version` as etcdutl does (the plan checks it), fails the restore itself.
                tool = member.directory.appendingPathComponent("etcdutl-failing").path
                try Data("#!/bin/sh\nif [ \"$1\" = snapshot ] && [ \"$2\" = restore ]; then echo 'simulated: no space left on device' >&2; exit 1; fi\nexec \(etcdutl) \"$@\"\n".utf8)
                    .write(to: URL(fileURLWithPath: tool))
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tool)
            }
            yaml += """
              - name: \(member.name)
                host: \(member.address)
                ssh-port: \(member.ssh.port)
                peer-urls: \(member.peerURL)
                client-urls: \(member.clientURL)
                data-dir: \(member.dataDir)
                unit: etcd
                restore-tool: \(tool)
                snapshot-dir: \(member.backups)

            """
            _ = index
        }
        let inventory = local.appendingPathComponent("cluster.yaml").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: inventory))
        return HALab(members: members, sshClient: sshClient, root: root, snapshot: snapshot, inventory: inventory,
                     journal: local.appendingPathComponent("cluster-journal.json").path, oldClusterID: oldID, binaries: binaries)
    }

    static func clientFor(_ urls: [String]) -> EtcdClient {
        EtcdClient(EtcdClientConfiguration(endpoints: urls.compactMap { try? Endpoint(parsing: $0) }))
    }

    func client(_ urls: [String]) -> EtcdClient { Self.clientFor(urls) }

    /// `etcd-console restore SNAPSHOT --cluster` with this lab's inventory, keys and journal.
    func restore(_ extra: [String], survivor: String? = nil, timeout: Duration = .seconds(240)) throws -> CommandResult {
        try EtcdConsoleBinary.run(restoreArguments(extra, survivor: survivor), environment: restoreEnvironment, timeout: timeout)
    }

    /// `restore SNAPSHOT --cluster` (or `--from-survivor`, or neither for --resume/--rollback) with this lab's
    /// inventory, keys and journal.
    func restoreArguments(_ extra: [String], survivor: String?, snapshot withSnapshot: Bool = true) -> [String] {
        var arguments = ["restore"] + (survivor.map { ["--from-survivor", $0] } ?? (withSnapshot ? [snapshot] : []))
            + ["--cluster", "--inventory", inventory, "--cluster-journal", journal, "--discovery-root", root.path]
        for option in sshClient.options { arguments += ["--ssh-option", option] }
        return arguments + extra
    }

    var restoreEnvironment: [String: String] {
        let config = root.appendingPathComponent("coordinator/config.yaml").path
        if !FileManager.default.fileExists(atPath: config) { FileManager.default.createFile(atPath: config, contents: Data("{}\n".utf8)) }
        return ["ETCD_CONSOLE_CONFIG": config, "ETCD_CONSOLE_DIR": root.appendingPathComponent("coordinator").path]
    }

    func tearDown() {
        for member in members {
            _ = try? spawnAndWait([member.practice.executable, "stop", "etcd"])
            member.ssh.stop()
        }
    }
}
