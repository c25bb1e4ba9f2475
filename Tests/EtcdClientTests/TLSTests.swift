import EtcdClient
import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("TLS: verification on by default, mutual TLS, and handshake failures with OpenSSL's reason")
struct TLSTests {
    let certs: TestCertificates

    init() throws { certs = try TestCertificates.make() }

    var goodTLS: TLSConfiguration {
        TLSConfiguration(caFile: certs.caCert, certificateFile: certs.clientCert, keyFile: certs.clientKey)
    }

    @Test("Mutual TLS with the right CA and client certificate works, by IP and by host name")
    func mutualTLS() async throws {
        let etcd = try await SharedEtcd.mutualTLS.get()
        let byIP = makeClient([etcd.endpoint], tls: goodTLS)
        try await withCleanup({ await byIP.close() }) { () async throws in
            #expect(try await byIP.status().version.hasPrefix("3.5."))
            let byName = makeClient([Endpoint(secure: true, host: "localhost", port: etcd.endpoint.port)], tls: goodTLS)
            try await withCleanup({ await byName.close() }) { () async throws in
                #expect(try await byName.memberList().members.count == 1)
            }
        }
    }

    @Test("A server certificate from an unknown CA is refused and the CA file is named")
    func unknownCA() async throws {
        let etcd = try await SharedEtcd.mutualTLS.get()
        let tls = TLSConfiguration(caFile: certs.otherCACert, certificateFile: certs.clientCert, keyFile: certs.clientKey)
        let error = await clientError { _ = try await makeClient([etcd.endpoint], tls: tls).status() }
        #expect(error?.kind == .tlsHandshake(.unknownAuthority))
        #expect(error?.description.contains("TLS handshake failed: certificate signed by unknown authority (CA file \(certs.otherCACert))") == true)
    }

    @Test("--insecure-skip-tls-verify connects despite an unknown CA")
    func insecureSkipVerify() async throws {
        let etcd = try await SharedEtcd.mutualTLS.get()
        let tls = TLSConfiguration(caFile: certs.otherCACert, certificateFile: certs.clientCert, keyFile: certs.clientKey,
                                   insecureSkipVerify: true)
        let client = makeClient([etcd.endpoint], tls: tls)
        try await withCleanup({ await client.close() }) { () async throws in
            #expect(try await client.status().version.hasPrefix("3.5."))
        }
    }

    @Test("No client certificate when etcd requires one is reported as such")
    func missingClientCertificate() async throws {
        let etcd = try await SharedEtcd.mutualTLS.get()
        let error = await clientError {
            _ = try await makeClient([etcd.endpoint], tls: TLSConfiguration(caFile: certs.caCert)).status()
        }
        #expect(error?.kind == .tlsHandshake(.clientCertificateRejected))
        #expect(error?.detail.contains("pass --cert and --key") == true)
    }

    @Test("A client certificate from a CA etcd does not trust is rejected")
    func untrustedClientCertificate() async throws {
        let etcd = try await SharedEtcd.mutualTLS.get()
        let tls = TLSConfiguration(caFile: certs.caCert, certificateFile: certs.otherClientCert, keyFile: certs.otherClientKey)
        let error = await clientError { _ = try await makeClient([etcd.endpoint], tls: tls).status() }
        #expect(error?.kind == .tlsHandshake(.clientCertificateRejected))
    }

    @Test("A certificate for another host name is refused, naming the names it has")
    func hostnameMismatch() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "wronghost",
                                                           tls: .server(cert: certs.wrongHostCert, key: certs.wrongHostKey)))
        defer { etcd.stopNow() }
        let byIP = await clientError { _ = try await makeClient([etcd.endpoint], tls: TLSConfiguration(caFile: certs.caCert)).status() }
        #expect(byIP?.kind == .tlsHandshake(.hostnameMismatch))
        #expect(byIP?.detail.contains("not valid for 127.0.0.1 (it names DNS:wrong.example)") == true, "\(String(describing: byIP))")
        let byName = await clientError {
            _ = try await makeClient([Endpoint(secure: true, host: "localhost", port: etcd.endpoint.port)],
                                     tls: TLSConfiguration(caFile: certs.caCert)).status()
        }
        #expect(byName?.kind == .tlsHandshake(.hostnameMismatch))
        // The name in the certificate is accepted when asked for explicitly.
        let named = makeClient([etcd.endpoint], tls: TLSConfiguration(caFile: certs.caCert, serverName: "wrong.example"))
        try await withCleanup({ await named.close() }) { () async throws in
            #expect(try await named.status().version.hasPrefix("3.4."))
        }
    }

    @Test("An expired server certificate is refused with its validity dates")
    func expired() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "expired",
                                                           tls: .server(cert: certs.expiredCert, key: certs.expiredKey)))
        defer { etcd.stopNow() }
        let error = await clientError { _ = try await makeClient([etcd.endpoint], tls: TLSConfiguration(caFile: certs.caCert)).status() }
        #expect(error?.kind == .tlsHandshake(.expired))
        #expect(error?.detail.contains("certificate has expired") == true)
        #expect(error?.detail.contains("2020") == true, "\(String(describing: error))")
    }

    @Test("A TLS server that does not offer HTTP/2 by ALPN is refused")
    func alpnNotH2() async throws {
        let port = try TestSockets.unusedPort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", certs.serverCert, "-key", certs.serverKey,
                            "-alpn", "http/1.1", "-quiet"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        server.standardInput = Pipe()
        try server.run()
        // SIGKILL: Process.terminate() left s_server running on Linux.
        defer { kill(server.processIdentifier, SIGKILL) }
        // Wait until it listens.
        for _ in 0..<50 {
            if (try? TestSockets.probe(port: port)) == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let error = await clientError {
            _ = try await makeClient([Endpoint(secure: true, host: "127.0.0.1", port: port)],
                                     tls: TLSConfiguration(caFile: certs.caCert)).status()
        }
        #expect(error?.kind == .alpnNotH2, "\(String(describing: error))")
        #expect(error?.detail.contains("does not speak HTTP/2 over TLS") == true)
    }

    @Test("Unreadable or mismatched TLS files are configuration errors naming the file")
    func badFiles() async throws {
        let etcd = try await SharedEtcd.mutualTLS.get()
        let missing = await clientError {
            _ = try await makeClient([etcd.endpoint], tls: TLSConfiguration(caFile: "/nonexistent/ca.pem")).status()
        }
        #expect(missing?.kind == .invalidConfiguration)
        #expect(missing?.detail == "cannot read CA file /nonexistent/ca.pem")
        let mismatched = await clientError {
            _ = try await makeClient([etcd.endpoint], tls: TLSConfiguration(caFile: certs.caCert, certificateFile: certs.clientCert,
                                                                            keyFile: certs.otherClientKey)).status()
        }
        #expect(mismatched?.kind == .invalidConfiguration)
        #expect(mismatched?.detail.contains("does not match") == true || mismatched?.detail.contains("cannot load client key") == true)
    }
}
