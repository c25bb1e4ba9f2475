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
                    "raftLag", "raftAppliedIndex", "errors", "latencyMs"] {
            #expect(member[key] != nil, "missing key \(key)")
        }
        #expect(member["name"] as? String == "console-status")
        #expect(member["endpoint"] as? String == etcd.clientURL)
        #expect(member["isLeader"] as? Bool == true)
        #expect(member["raftLag"] as? Int == 0, "the leader is 0 entries behind itself")
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

    @Test("status --watch on a 3-member cluster: a member that stops shows since when, the other two stay live")
    func watchShowsOutage() async throws {
        let cluster = try await EtcdCluster.start(.v3_5, name: "status-watch")
        defer { cluster.stopNow() }
        let dir = try TestDirectories.make("status-watch")
        let log = dir.appendingPathComponent("watch.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: ConsoleBinary.path)
        watch.arguments = ["status", "--watch", "--interval", "1", "--endpoints", cluster.endpoints,
                           "--dial-timeout", "2s", "--command-timeout", "3s"]
        watch.standardOutput = try FileHandle(forWritingTo: log)
        watch.standardError = watch.standardOutput
        try watch.run()
        defer { if watch.isRunning { watch.terminate() } }

        /// The last complete refresh in the log (a time line, then the table), polled until `condition` holds.
        func refresh(where condition: (String) -> Bool) async throws -> String {
            let deadline = ContinuousClock.now + .seconds(300)
            var last = ""
            while ContinuousClock.now < deadline {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                // Every refresh but the one being written ends with the next one's time line.
                let blocks = text.components(separatedBy: "etcd-console status · ").dropFirst().dropLast()
                last = blocks.last ?? ""
                if condition(last) { return last }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("no refresh matched in 300 s; the last: \(last)")
            return last
        }
        func row(_ block: String, _ name: String) -> String {
            block.split(separator: "\n").first { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first == Substring(name) }
                .map(String.init) ?? ""
        }
        let healthy = try await refresh { block in ["m1", "m2", "m3"].allSatisfy { row(block, $0).contains(" 3.5.") } }
        #expect(healthy.contains("LAG"), "\(healthy)")
        let stoppedAt = Date()
        cluster.members[2].stopNow()
        let degraded = try await refresh { row($0, "m3").contains("not answering since ") }
        #expect(row(degraded, "m1").contains(" 3.5."), "m1 stays live: \(degraded)")
        #expect(row(degraded, "m2").contains(" 3.5."), "m2 stays live: \(degraded)")
        #expect(!row(degraded, "m1").contains("not answering"))
        // The outage started at the first refresh after the stop: that time, not a later one, stays on the row.
        let since = try #require(row(degraded, "m3").range(of: #"not answering since (\S+)"#, options: .regularExpression))
        let stamp = String(row(degraded, "m3")[since].dropFirst("not answering since ".count))
        let started = try #require(ISO8601DateFormatter().date(from: stamp), "\(stamp)")
        #expect(started >= stoppedAt.addingTimeInterval(-1) && started <= Date(), "\(stamp)")
        let later = try await refresh { $0 != degraded && row($0, "m3").contains("not answering since ") }
        #expect(row(later, "m3").contains("not answering since \(stamp)"), "the start does not move: \(later)")
        watch.terminate()
    }

    @Test("status --watch refuses -o json and an interval under a second (usage errors, exit 2)")
    func watchUsage() throws {
        let json = try ConsoleBinary.run(["status", "--watch", "-o", "json", "--endpoints", "http://127.0.0.1:1"])
        #expect(json.status == 2)
        #expect(json.stderr.contains("--watch draws a table; for machine output run `status -o json` as often as needed"), "\(json.output)")
        let fast = try ConsoleBinary.run(["status", "--watch", "--interval", "0", "--endpoints", "http://127.0.0.1:1"])
        #expect(fast.status == 2)
        #expect(fast.stderr.contains("--interval must be at least 1 second, not 0"), "\(fast.output)")
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
