@testable import EtcdClient
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
        try await withCleanup({ await client.close() }) { () async throws in
            try await client.put("/auth-test/key", value: Array("v".utf8))
            #expect(try await client.get("/auth-test/key").map { String(decoding: $0.value, as: UTF8.self) } == "v")
        }
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
        try await withCleanup({ await client.close() }) { () async throws in
            let error = await clientError { _ = try await client.get("/auth-test/key") }
            #expect(error?.kind == .permissionDenied)
            #expect(error?.detail.contains("permission denied") == true)
        }
    }

    @Test("No user on an etcd with auth enabled asks for --user")
    func userRequired() async throws {
        let etcd = try await SharedEtcd.auth.get()
        let client = makeClient([etcd.endpoint])
        let error = await clientError { _ = try await client.get("/auth-test/key") }
        #expect(error?.kind == .authenticationRequired)
        #expect(error?.detail.contains("pass --user") == true)
    }

    @Test("An expired token is renewed transparently")
    func reauthenticates() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "ttl", auth: true, authTokenTTLSeconds: 3))
        let client = makeClient([etcd.endpoint], credentials: Self.root)
        try await client.put("/ttl/a", value: Array("1".utf8))
        let written = try await Self.afterTokenExpiry(client) { round in
            try await client.put("/ttl/b\(round)", value: Array("2".utf8))
        }
        #expect(try await client.count(prefix: "/ttl/") == 1 + written)
        await client.close()
        await etcd.stop()
    }

    @Test("A snapshot stream renews an expired token too")
    func snapshotReauthenticates() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "ttlsnap", auth: true, authTokenTTLSeconds: 3))
        let client = makeClient([etcd.endpoint], credentials: Self.root)
        try await client.put("/ttl/a", value: Array("1".utf8))
        _ = try await Self.afterTokenExpiry(client) { _ in
            var bytes = 0
            for try await chunk in try await client.snapshot() { bytes += chunk.blob.count }
            #expect(bytes > 32)
        }
        await client.close()
        await etcd.stop()
    }

    /// Leaves the client idle past the token's 3 s TTL, then runs `action`, until etcd really expired the token
    /// (the client had to authenticate again) or 60 s passed; every run of `action` must succeed. A busy etcd
    /// may expire the token late, so the idle time grows each round instead of trusting one fixed wait.
    /// Returns how many rounds ran.
    static func afterTokenExpiry(_ client: EtcdClient, _ action: (Int) async throws -> Void) async throws -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        let before = await client.authenticationCount
        var round = 0
        while clock.now < deadline {
            round += 1
            try await Task.sleep(for: .seconds(3 + 2 * round))  // idle: the token's TTL runs out only without use
            try await action(round)
            if await client.authenticationCount > before { break }
        }
        // Renewed after etcd expired the token: once on a quiet host; a busy one may see the fresh token expire
        // before the retry reaches etcd, and the client then renews again (at most 3 times per call).
        let renewals = await client.authenticationCount - before
        #expect(renewals >= 1 && renewals <= 3 * round, "renewed \(renewals) times in \(round) rounds")
        return round
    }
}
