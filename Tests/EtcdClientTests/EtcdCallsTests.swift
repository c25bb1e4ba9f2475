import EtcdClient
import EtcdTestSupport
import Foundation
import Testing

@Suite("Calls against a real etcd 3.4 and 3.5")
struct EtcdCallsTests {
    @Test("Status reports the member's version, database size and raft indexes", arguments: EtcdVersion.allCases)
    func status(version: EtcdVersion) async throws {
        let etcd = try await SharedEtcd.plain(version).get()
        let client = makeClient([etcd.endpoint])
        try await withCleanup({ await client.close() }) { () async throws in
            let status = try await client.status()
            #expect(status.version.hasPrefix(version.rawValue + "."))
            #expect(status.dbSize > 0)
            #expect(status.leader == status.header.memberID)
            #expect(status.raftIndex > 0)
            #expect(status.raftAppliedIndex > 0)
            #expect(status.dbSizeInUse > 0)
        }
    }

    @Test("MemberList names the member and its client URL", arguments: EtcdVersion.allCases)
    func memberList(version: EtcdVersion) async throws {
        let etcd = try await SharedEtcd.plain(version).get()
        let client = makeClient([etcd.endpoint])
        try await withCleanup({ await client.close() }) { () async throws in
            let members = try await client.memberList().members
            #expect(members.count == 1)
            #expect(members.first?.name == etcd.options.name)
            #expect(members.first?.clientUrls == [etcd.clientURL])
        }
    }

    @Test("Alarm GET returns no alarms on a healthy member", arguments: EtcdVersion.allCases)
    func alarms(version: EtcdVersion) async throws {
        let etcd = try await SharedEtcd.plain(version).get()
        let client = makeClient([etcd.endpoint])
        try await withCleanup({ await client.close() }) { () async throws in
            #expect(try await client.alarms().isEmpty)
        }
    }

    @Test("Put then Range: one key, a prefix with keys_only and limit, and count_only", arguments: EtcdVersion.allCases)
    func putAndRange(version: EtcdVersion) async throws {
        let etcd = try await SharedEtcd.plain(version).get()
        let client = makeClient([etcd.endpoint])
        try await withCleanup({ await client.close() }) { () async throws in
            let prefix = "/registry/pods/calls-\(UUID().uuidString.prefix(8))/"
            for i in 0..<5 { try await client.put("\(prefix)pod-\(i)", value: Array("value-\(i)".utf8)) }

            let one = try await client.get("\(prefix)pod-3")
            #expect(one.map { String(decoding: $0.value, as: UTF8.self) } == "value-3")
            #expect(try await client.get("\(prefix)missing") == nil)

            let page = try await client.list(prefix: prefix, keysOnly: true, limit: 2)
            #expect(page.kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["\(prefix)pod-0", "\(prefix)pod-1"])
            #expect(page.kvs.allSatisfy { $0.value.isEmpty })
            #expect(page.more)
            #expect(page.count == 5)

            #expect(try await client.count(prefix: prefix) == 5)
            // etcdctl sees what we wrote.
            let viaEtcdctl = try etcd.etcdctl(["get", "\(prefix)pod-4", "--print-value-only"])
            #expect(viaEtcdctl.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "value-4")
        }
    }

    @Test("A gRPC error from etcd carries its status code and message")
    func grpcStatusFromEtcd() async throws {
        let etcd = try await SharedEtcd.plain34.get()
        let client = makeClient([etcd.endpoint])
        try await withCleanup({ await client.close() }) { () async throws in
            let error = await clientError { try await client.put("", value: [1]) }
            #expect(error?.kind == .status(.invalidArgument))
            #expect(error?.detail.contains("key is not provided") == true)
            #expect(error?.description.contains(etcd.clientURL) == true)
        }
    }

    @Test("The first endpoint that answers is used; the dead one before it is skipped")
    func firstAnsweringEndpoint() async throws {
        let etcd = try await SharedEtcd.plain34.get()
        let dead = Endpoint(secure: false, host: "127.0.0.1", port: try TestSockets.unusedPort())
        let client = makeClient([dead, etcd.endpoint])
        try await withCleanup({ await client.close() }) { () async throws in
            let status = try await client.status()
            #expect(status.version.hasPrefix("3.4."))
        }
    }

    @Test("Cluster status lists the member with its name, endpoint and latency")
    func clusterStatus() async throws {
        let etcd = try await SharedEtcd.plain35.get()
        let client = makeClient([etcd.endpoint])
        try await withCleanup({ await client.close() }) { () async throws in
            let members = try await client.clusterStatus()
            #expect(members.count == 1)
            let member = try #require(members.first)
            #expect(member.name == etcd.options.name)
            #expect(member.endpoint == etcd.clientURL)
            #expect(member.isLeader == true)
            #expect(member.latency != nil)
            #expect(member.errors.isEmpty)
        }
    }
}
