import EtcdClient
import EtcdTestSupport
import Foundation
import Testing

@Suite("Authentication: token header, wrong password, missing role, token expiry")
struct AuthTests {
    static let root = Credentials(user: "root", password: EtcdOptions.rootPassword)

    @Test("root authenticates and its token works for reads and writes")
    func rootWorks() async throws {
        let etcd = try await SharedEtcd.auth.get()
        let client = makeClient([etcd.endpoint], credentials: Self.root)
        defer { Task { await client.close() } }
        try await client.put("/auth-test/key", value: Array("v".utf8))
        #expect(try await client.get("/auth-test/key").map { String(decoding: $0.value, as: UTF8.self) } == "v")
    }

    @Test("A wrong password is reported as failed authentication")
    func wrongPassword() async throws {
        let etcd = try await SharedEtcd.auth.get()
        let client = makeClient([etcd.endpoint], credentials: Credentials(user: "root", password: "wrong"))
        let error = await clientError { _ = try await client.status() }
        #expect(error?.kind == .authenticationFailed)
        #expect(error?.detail.hasPrefix("authentication failed: wrong user name or password") == true)
        #expect(error?.description.contains("wrong\"") == false)
    }

    @Test("A user without a role is denied, and the error says so")
    func permissionDenied() async throws {
        let etcd = try await SharedEtcd.auth.get()
        let client = makeClient([etcd.endpoint], credentials: Credentials(user: "alice", password: EtcdOptions.alicePassword))
        defer { Task { await client.close() } }
        let error = await clientError { _ = try await client.get("/auth-test/key") }
        #expect(error?.kind == .permissionDenied)
        #expect(error?.detail.contains("permission denied") == true)
    }

    @Test("No user on an etcd with auth enabled asks for --user")
    func userRequired() async throws {
        let etcd = try await SharedEtcd.auth.get()
        let client = makeClient([etcd.endpoint])
        let error = await clientError { _ = try await client.get("/auth-test/key") }
        #expect(error?.kind == .authenticationRequired)
        #expect(error?.detail.contains("pass --user") == true)
    }

    @Test("An expired token is renewed once, transparently")
    func reauthenticates() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "ttl", auth: true, authTokenTTLSeconds: 3))
        defer { Task { await etcd.stop() } }
        let client = makeClient([etcd.endpoint], credentials: Self.root)
        defer { Task { await client.close() } }
        try await client.put("/ttl/a", value: Array("1".utf8))
        try await Task.sleep(for: .seconds(6))   // the simple token expires 3 s after its last use
        try await client.put("/ttl/b", value: Array("2".utf8))
        #expect(try await client.count(prefix: "/ttl/") == 2)
    }
}
