import EtcdTestSupport
import Foundation
import Testing

@Suite("etcd-console status, end to end against a real etcd")
struct StatusCommandTests {
    static let etcd = SharedProcess(EtcdOptions(version: .v3_5, name: "console-status"))

    @Test("JSON has one member with every documented key, and its id matches etcdctl's")
    func json() async throws {
        let etcd = try await Self.etcd.get()
        let result = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL, "-o", "json"])
        #expect(result.status == 0, "\(result.output)")
        let report = try ConsoleBinary.json(result)
        let members = try #require(report["members"] as? [[String: Any]])
        #expect(members.count == 1)
        let member = try #require(members.first)
        for key in ["name", "id", "endpoint", "version", "isLeader", "dbSize", "dbSizeInUse", "raftTerm", "raftIndex",
                    "raftAppliedIndex", "errors", "latencyMs"] {
            #expect(member[key] != nil, "missing key \(key)")
        }
        #expect(member["name"] as? String == "console-status")
        #expect(member["endpoint"] as? String == etcd.clientURL)
        #expect(member["isLeader"] as? Bool == true)
        #expect((member["version"] as? String)?.hasPrefix("3.5.") == true)
        let list = try etcd.etcdctl(["member", "list", "-w", "simple"])
        let etcdctlID = list.stdout.split(separator: ",").first.map(String.init)
        #expect(member["id"] as? String == etcdctlID)
    }

    @Test("The table shows the member row; ETCDCTL_ENDPOINTS is honoured")
    func tableFromEnvironment() async throws {
        let etcd = try await Self.etcd.get()
        let result = try ConsoleBinary.run(["status"], environment: ["ETCDCTL_ENDPOINTS": etcd.clientURL])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ENDPOINT") == true)
        #expect(lines.count == 2)
        #expect(lines.last?.contains("console-status") == true)
        #expect(lines.last?.contains(etcd.clientURL) == true)
    }

    @Test("No endpoint answering exits 1 and says which endpoint and why")
    func unreachable() throws {
        let result = try ConsoleBinary.run(["status", "--endpoints", "http://127.0.0.1:9,http://127.0.0.1:11"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("error: none of the 2 endpoints answered:"))
        #expect(result.stderr.contains("could not reach http://127.0.0.1:9: connection refused"))
    }

    @Test("Usage errors exit 2")
    func usage() throws {
        let result = try ConsoleBinary.run(["status", "--dial-timeout", "soon"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--dial-timeout: \"soon\" is not a duration"))
    }

    @Test("Mutual TLS via flags works; without the client certificate the TLS reason is printed")
    func tls() async throws {
        let certs = try TestCertificates.make()
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "console-tls",
                                                           tls: .mutual(cert: certs.serverCert, key: certs.serverKey, trustedCA: certs.caCert)))
        defer { etcd.stopNow() }
        let ok = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL, "--cacert", certs.caCert,
                                        "--cert", certs.clientCert, "--key", certs.clientKey])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.stdout.contains("console-tls"))
        let viaEnv = try ConsoleBinary.run(["status", "-o", "json"], environment: [
            "ETCDCTL_ENDPOINTS": etcd.clientURL, "ETCDCTL_CACERT": certs.caCert,
            "ETCDCTL_CERT": certs.clientCert, "ETCDCTL_KEY": certs.clientKey])
        #expect(viaEnv.status == 0, "\(viaEnv.output)")
        let refused = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL, "--cacert", certs.caCert])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("TLS handshake failed: the server rejected the client certificate or requires one"))
    }

    @Test("A user's password comes from ETCDCTL_PASSWORD and is never printed; none and no terminal is a usage error")
    func auth() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "console-auth", auth: true))
        defer { etcd.stopNow() }
        let ok = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL, "--user", "root"],
                                       environment: ["ETCDCTL_PASSWORD": EtcdOptions.rootPassword])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(!ok.output.contains(EtcdOptions.rootPassword))
        let wrong = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL, "--user", "root"],
                                          environment: ["ETCDCTL_PASSWORD": "not-the-password"])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("authentication failed: wrong user name or password"))
        #expect(!wrong.output.contains("not-the-password"))
        let none = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL, "--user", "root"])
        #expect(none.status == 2)
        #expect(none.stderr.contains("no password for user root: set ETCDCTL_PASSWORD"))
    }
}

/// One etcd shared by a suite's tests, started on first use.
actor SharedProcess {
    private let options: EtcdOptions
    private var task: Task<EtcdProcess, Error>?

    init(_ options: EtcdOptions) { self.options = options }

    func get() async throws -> EtcdProcess {
        if let task { return try await task.value }
        let options = options
        let task = Task { try await EtcdProcess.start(options) }
        self.task = task
        return try await task.value
    }
}
