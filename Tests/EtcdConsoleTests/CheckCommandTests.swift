import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `etcd-console check` against real 3-member etcd clusters on loopback (issue 16, "See the cluster").
@Suite("etcd-console check: consistency of a real 3-member cluster")
struct CheckCommandTests {
    static func check(_ cluster: EtcdCluster, _ extra: [String] = []) throws -> (CommandResult, [String: Any]) {
        let result = try ConsoleBinary.run(["check", "--endpoints", cluster.endpoints, "-o", "json"] + extra)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        return (result, json)
    }

    static func members(_ json: [String: Any]) -> [[String: Any]] { json["members"] as? [[String: Any]] ?? [] }

    @Test("A healthy cluster: every member hashed at one revision, the same keys, exit 0", arguments: [EtcdVersion.v3_4, .v3_5])
    func healthy(version: EtcdVersion) async throws {
        let cluster = try await EtcdCluster.start(version, name: "check-ok-\(version.rawValue)")
        defer { cluster.stopNow() }
        for i in 0..<20 { _ = try cluster.members[0].etcdctl(["put", "/registry/configmaps/default/c\(i)", "v\(i)"]) }
        let (result, json) = try Self.check(cluster)
        #expect(result.status == 0, "\(result.output)")
        let members = Self.members(json)
        #expect(members.map { $0["name"] as? String } == ["m1", "m2", "m3"])
        #expect(members.allSatisfy { $0["consistent"] as? Bool == true }, "\(members)")
        #expect(Set(members.compactMap { $0["hash"] as? Int }).count == 1)
        #expect(json["consistent"] as? Bool == true)
        #expect((json["revision"] as? Int ?? 0) >= 21)
        let table = try ConsoleBinary.run(["check", "--endpoints", cluster.endpoints])
        #expect(table.status == 0)
        #expect(table.stdout.contains("consistent: 3/3 members have the same keys at revision"), "\(table.stdout)")
    }

    @Test("A member restored from a different snapshot (same identity, other keys) is named as differing, exit 1")
    func divergentMember() async throws {
        // Two snapshots at the same revision with different keys, from two throwaway single members.
        let dir = try TestDirectories.make("check-diverge")
        var snapshots: [String] = []
        for (index, value) in ["a", "b"].enumerated() {
            let single = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "source\(index)"))
            defer { single.stopNow() }
            _ = try single.etcdctl(["put", "/registry/configmaps/default/settings", value])
            let path = dir.appendingPathComponent("source\(index).db").path
            let saved = try single.etcdctl(["snapshot", "save", path])
            try #require(saved.succeeded, "\(saved.output)")
            snapshots.append(path)
        }
        let sources = snapshots
        // m1 and m2 from the first, m3 from the second: the same cluster and member ids, different keys.
        let cluster = try await EtcdCluster.start(.v3_5, name: "check-diverge") { plan in
            let snapshot = plan.name == "m3" ? sources[1] : sources[0]
            let etcdutl = try #require(plan.binaries.etcdutl)
            let restored = try runCommand(etcdutl, ["snapshot", "restore", snapshot, "--name", plan.name,
                                                    "--data-dir", plan.dataDir.path, "--initial-cluster", plan.initialCluster,
                                                    "--initial-cluster-token", plan.token,
                                                    "--initial-advertise-peer-urls", plan.peerURL])
            guard restored.succeeded else { throw EtcdTestSupportError("restore failed: \(restored.output)") }
        }
        defer { cluster.stopNow() }
        let (result, json) = try Self.check(cluster)
        #expect(result.status == 1, "\(result.output)")
        let members = Self.members(json)
        #expect(members.map { $0["consistent"] as? Bool } == [true, true, false], "\(members)")
        #expect(json["consistent"] as? Bool == false)
        let findings = json["findings"] as? [[String: Any]] ?? []
        let mismatch = try #require(findings.first { $0["code"] as? String == "hash-mismatch" }, "\(findings)")
        let message = try #require(mismatch["message"] as? String)
        #expect(message.hasPrefix("m3's keys differ from m1, m2 at revision "), "\(message)")
        let table = try ConsoleBinary.run(["check", "--endpoints", cluster.endpoints])
        #expect(table.status == 1)
        #expect(table.stdout.contains("NOT CONSISTENT: 1 of 3 members differ"), "\(table.stdout)")
        #expect(table.stdout.contains("error: m3's keys differ from m1, m2"), "\(table.stdout)")
    }

    @Test("A member that stops answering (frozen) is named, within the timeout; the other two are still compared")
    func frozenMember() async throws {
        let cluster = try await EtcdCluster.start(.v3_5, name: "check-frozen")
        defer { cluster.stopNow() }
        _ = try cluster.members[0].etcdctl(["put", "/k", "v"])
        let frozen = cluster.members[2]
        kill(frozen.pid, SIGSTOP)
        defer { kill(frozen.pid, SIGCONT) }
        let started = ContinuousClock.now
        let (result, json) = try Self.check(cluster, ["--dial-timeout", "2s", "--command-timeout", "3s"])
        #expect(ContinuousClock.now - started < .seconds(45), "the check must not hang on a silent member")
        #expect(result.status == 1, "\(result.output)")
        let members = Self.members(json)
        let byName = Dictionary(uniqueKeysWithValues: members.map { ($0["name"] as? String ?? "?", $0) })
        #expect(byName["m1"]?["consistent"] as? Bool == true, "\(members)")
        #expect(byName["m2"]?["consistent"] as? Bool == true, "\(members)")
        #expect(byName["m3"]?["consistent"] is NSNull, "\(members)")
        #expect((byName["m3"]?["error"] as? String)?.isEmpty == false, "\(members)")
        let findings = json["findings"] as? [[String: Any]] ?? []
        #expect(findings.contains { $0["code"] as? String == "member-unreachable" && ($0["message"] as? String)?.hasPrefix("m3 could not be checked") == true }, "\(findings)")
    }

    @Test("The quota from the config file: a database over it is an error naming where the quota came from")
    func quotaFromConfig() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "check-quota"))
        defer { etcd.stopNow() }
        let dir = try TestDirectories.make("check-quota")
        let config = dir.appendingPathComponent("config.yaml")
        try Data("quota-backend-bytes: 16384\n".utf8).write(to: config)
        let result = try ConsoleBinary.run(["check", "--endpoints", etcd.clientURL, "--config", config.path, "-o", "json"])
        #expect(result.status == 1, "\(result.output)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(json["quotaBytes"] as? Int == 16384)
        let findings = json["findings"] as? [[String: Any]] ?? []
        let near = try #require(findings.first { $0["code"] as? String == "db-near-quota" }, "\(findings)")
        #expect(near["severity"] as? String == "error")
        #expect((near["message"] as? String)?.contains("quota (quota-backend-bytes from") == true, "\(near)")
        let bad = try ConsoleBinary.run(["check", "--endpoints", etcd.clientURL, "--quota-backend-bytes", "0"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--quota-backend-bytes must be a positive number of bytes, not 0"), "\(bad.output)")
    }
}
