import EtcdClient
import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Connection failures name the endpoint and what to do")
struct ConnectionFailureTests {
    @Test("A port nobody listens on is reported as refused")
    func refused() async throws {
        let port = try TestSockets.unusedPort()
        let client = makeClient([Endpoint(secure: false, host: "127.0.0.1", port: port)])
        let error = await clientError { _ = try await client.status() }
        #expect(error?.kind == .connectionRefused)
        #expect(error?.description == "could not reach http://127.0.0.1:\(port): connection refused (is etcd running and listening on port \(port)?)")
    }

    @Test("A host name that does not resolve is reported as such")
    func unresolvable() async throws {
        let client = makeClient([try Endpoint(parsing: "http://no-such-host.invalid:2379")])
        let error = await clientError { _ = try await client.status() }
        #expect(error?.kind == .unresolvable)
        #expect(error?.description.hasPrefix("could not reach http://no-such-host.invalid:2379: cannot resolve host \"no-such-host.invalid\"") == true)
    }

    @Test("A TCP connect that never completes times out after the connect timeout")
    func connectTimeout() async throws {
        let listener = try TestSockets.listener(backlog: 0)
        let fillers = TestSockets.fillBacklog(port: listener.port)
        defer { fillers.forEach { close($0) }; close(listener.fd) }
        let client = makeClient([Endpoint(secure: false, host: "127.0.0.1", port: listener.port)],
                                connectTimeout: .milliseconds(700))
        let started = ContinuousClock.now
        let error = await clientError { _ = try await client.status() }
        let elapsed = ContinuousClock.now - started
        #expect(error?.kind == .connectTimeout)
        #expect(error?.detail.contains("timed out after 700ms") == true)
        // The timeout was waited out. No upper bound: with every core busy, resuming a test can take seconds
        // (speed lives in scripts/bench, not in unit tests); the message shows which timeout fired.
        #expect(elapsed >= .milliseconds(650))
    }

    @Test("A server that accepts but never speaks HTTP/2 times out waiting for the greeting")
    func silentServer() async throws {
        let server = try TestSockets.SilentServer()
        defer { server.stop() }
        let client = makeClient([Endpoint(secure: false, host: "127.0.0.1", port: server.listener.port)],
                                connectTimeout: .milliseconds(500))
        let error = await clientError { _ = try await client.status() }
        #expect(error?.kind == .connectTimeout)
        #expect(error?.detail == "no HTTP/2 greeting from the server within 500ms")
    }

    @Test("A silent server on an https endpoint times out in the TLS handshake")
    func silentTLSServer() async throws {
        let server = try TestSockets.SilentServer()
        defer { server.stop() }
        let client = makeClient([Endpoint(secure: true, host: "127.0.0.1", port: server.listener.port)],
                                connectTimeout: .milliseconds(500))
        let error = await clientError { _ = try await client.status() }
        #expect(error?.kind == .connectTimeout)
        #expect(error?.detail == "TLS handshake timed out after 500ms")
    }

    @Test("All endpoints failing lists each one's reason")
    func allEndpointsFail() async throws {
        let a = try TestSockets.unusedPort()
        let client = makeClient([Endpoint(secure: false, host: "127.0.0.1", port: a),
                                 try Endpoint(parsing: "no-such-host.invalid:2379")])
        let error = await clientError { _ = try await client.status() }
        #expect(error?.kind == .noEndpointAvailable)
        #expect(error?.underlying.map(\.kind) == [.connectionRefused, .unresolvable])
        #expect(error?.description.contains("none of the 2 endpoints answered") == true)
    }

    @Test("A call on a member that stops answering ends at its deadline")
    func callDeadline() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "frozen"))
        defer { etcd.stopNow() }
        let client = makeClient([etcd.endpoint], callTimeout: .milliseconds(600))
        _ = try await client.status()          // connected
        kill(etcd.pid, SIGSTOP)
        try await waitUntilStopped(etcd.pid)
        let started = ContinuousClock.now
        let error = await clientError { _ = try await client.status() }
        let elapsed = ContinuousClock.now - started
        kill(etcd.pid, SIGCONT)
        #expect(error?.kind == .deadlineExceeded)
        #expect(error?.detail == "/etcdserverpb.Maintenance/Status timed out after 600ms")
        #expect(elapsed >= .milliseconds(550))
        // The connection stays usable once etcd answers again.
        let status = try await client.status()
        #expect(status.version.hasPrefix("3.4."))
    }

    @Test("Plain HTTP/2 against a TLS port says the server did not answer in HTTP/2")
    func plaintextToTLSPort() async throws {
        let etcd = try await SharedEtcd.mutualTLS.get()
        var endpoint = etcd.endpoint
        endpoint.secure = false
        let client = makeClient([endpoint])
        let error = await clientError { _ = try await client.status() }
        #expect(error?.kind == .protocolError, "\(String(describing: error))")
        #expect(error?.detail.hasPrefix("the server did not answer in HTTP/2") == true)
        #expect(error?.detail.hasSuffix("is it serving TLS? use https:// and --cacert") == true)
    }
}

/// Waits until the kernel reports the process as stopped (state T): SIGSTOP is delivered asynchronously.
func waitUntilStopped(_ pid: Int32) async throws {
    for _ in 0..<500 {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        if let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "T" { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("process \(pid) did not stop")
}
