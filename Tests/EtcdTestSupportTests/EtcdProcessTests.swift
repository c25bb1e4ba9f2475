import EtcdTestSupport
import Foundation
import Testing

@Suite("Real etcd processes")
struct EtcdProcessTests {
    @Test("A plaintext etcd starts and etcdctl can put and get a key", arguments: EtcdVersion.allCases)
    func plaintextPutGet(version: EtcdVersion) async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version))
        #expect(etcd.clientURL.hasPrefix("http://127.0.0.1:"))

        let put = try etcd.etcdctl(["put", "/registry/greeting", "hello \(version.rawValue)"])
        #expect(put.status == 0, "\(put.output)")
        let get = try etcd.etcdctl(["get", "/registry/greeting", "--print-value-only"])
        #expect(get.status == 0, "\(get.output)")
        #expect(get.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "hello \(version.rawValue)")

        let reported = try etcd.etcdctl(["version"])
        #expect(reported.stdout.contains("etcdctl version: \(version.rawValue)."), "\(reported.output)")
        await etcd.stop()
    }

    @Test("Mutual TLS: etcdctl works with the client certificate and is refused without one",
          arguments: EtcdVersion.allCases)
    func mutualTLS(version: EtcdVersion) async throws {
        let certificates = try TestCertificates.make()
        let etcd = try await EtcdProcess.start(EtcdOptions(
            version: version,
            tls: .mutual(cert: certificates.serverCert, key: certificates.serverKey,
                         trustedCA: certificates.caCert)))
        #expect(etcd.clientURL.hasPrefix("https://127.0.0.1:"))

        let put = try etcd.etcdctl(["put", "k", "v"])
        #expect(put.status == 0, "\(put.output)")

        // A refused handshake is retried until the command timeout; etcdctl only says "context deadline
        // exceeded", so the reason is read from etcd's log.
        let withoutCertificate = try runCommand(
            etcd.binaries.etcdctl,
            ["--endpoints=\(etcd.clientURL)", "--cacert=\(certificates.caCert)", "--dial-timeout=1s",
             "--command-timeout=1s", "get", "k"],
            environment: ["ETCDCTL_API": "3"])
        #expect(withoutCertificate.status != 0)
        #expect(withoutCertificate.stderr.contains("context deadline exceeded"), "\(withoutCertificate.output)")
        #expect(try logText(etcd).contains("tls: client didn't provide a certificate"))

        let unknownCA = try runCommand(
            etcd.binaries.etcdctl,
            ["--endpoints=\(etcd.clientURL)", "--cacert=\(certificates.caCert)",
             "--cert=\(certificates.otherClientCert)", "--key=\(certificates.otherClientKey)",
             "--dial-timeout=1s", "--command-timeout=1s", "get", "k"],
            environment: ["ETCDCTL_API": "3"])
        #expect(unknownCA.status != 0)
        #expect(try logText(etcd).contains(
            "tls: failed to verify client certificate: x509: certificate signed by unknown authority"))
        await etcd.stop()
    }

    @Test("Server-only TLS serves https and etcdctl trusts the test CA")
    func serverTLS() async throws {
        let certificates = try TestCertificates.make()
        let etcd = try await EtcdProcess.start(EtcdOptions(
            version: .v3_5, tls: .server(cert: certificates.serverCert, key: certificates.serverKey)))
        let put = try etcd.etcdctl(["put", "k", "v"])
        #expect(put.status == 0, "\(put.output)")
        await etcd.stop()
    }

    @Test("An etcd with an expired certificate still starts, and etcdctl refuses it",
          arguments: EtcdVersion.allCases)
    func expiredServerCertificate(version: EtcdVersion) async throws {
        let certificates = try TestCertificates.make()
        let etcd = try await EtcdProcess.start(EtcdOptions(
            version: version, tls: .server(cert: certificates.expiredCert, key: certificates.expiredKey)))
        let get = try etcd.etcdctl(["--dial-timeout=1s", "--command-timeout=1s", "get", "k"])
        #expect(get.status != 0)
        #expect(try logText(etcd).contains("remote error: tls: bad certificate"))
        await etcd.stop()
    }

    @Test("An etcd whose certificate names another host still starts, and etcdctl refuses it")
    func wrongHostServerCertificate() async throws {
        let certificates = try TestCertificates.make()
        let etcd = try await EtcdProcess.start(EtcdOptions(
            version: .v3_5, tls: .server(cert: certificates.wrongHostCert, key: certificates.wrongHostKey)))
        let get = try etcd.etcdctl(["--dial-timeout=1s", "--command-timeout=1s", "get", "k"])
        #expect(get.status != 0)
        #expect(try logText(etcd).contains("remote error: tls: bad certificate"))
        await etcd.stop()
    }

    @Test("With auth, root may write and alice is refused", arguments: EtcdVersion.allCases)
    func auth(version: EtcdVersion) async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version, auth: true, authTokenTTLSeconds: 30))
        let put = try etcd.etcdctl(["put", "secret", "s3cr3t"])
        #expect(put.status == 0, "\(put.output)")
        let rootGet = try etcd.etcdctl(["get", "secret", "--print-value-only"])
        #expect(rootGet.stdout.contains("s3cr3t"), "\(rootGet.output)")

        let aliceGet = try etcd.etcdctl(["--user=alice:\(EtcdOptions.alicePassword)", "get", "secret"])
        #expect(aliceGet.status != 0)
        #expect(aliceGet.stderr.contains("etcdserver: permission denied"), "\(aliceGet.output)")
        #expect(!aliceGet.stdout.contains("s3cr3t"))

        let anonymous = try runCommand(etcd.binaries.etcdctl, ["--endpoints=\(etcd.clientURL)", "get", "secret"],
                                       environment: ["ETCDCTL_API": "3"])
        #expect(anonymous.status != 0)
        #expect(anonymous.stderr.contains("etcdserver: user name is empty"), "\(anonymous.output)")

        let wrongPassword = try etcd.etcdctl(["--user=root:nope", "get", "secret"])
        #expect(wrongPassword.stderr.contains("authentication failed, invalid user ID or password"),
                "\(wrongPassword.output)")
        await etcd.stop()
    }

    @Test("Mutual TLS and auth together: etcdctl logs in as root over the client certificate")
    func mutualTLSWithAuth() async throws {
        let certificates = try TestCertificates.make()
        let etcd = try await EtcdProcess.start(EtcdOptions(
            version: .v3_5,
            tls: .mutual(cert: certificates.serverCert, key: certificates.serverKey, trustedCA: certificates.caCert),
            auth: true))
        let put = try etcd.etcdctl(["put", "k", "v"])
        #expect(put.status == 0, "\(put.output)")
        await etcd.stop()
    }

    @Test("kill() ends etcd at once and restart() brings back the same data", arguments: EtcdVersion.allCases)
    func killAndRestart(version: EtcdVersion) async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version))
        #expect(try etcd.etcdctl(["put", "survives", "yes"]).status == 0)
        let firstPID = etcd.pid
        etcd.kill()
        #expect(await etcd.waitUntilExited(timeout: .seconds(5)))
        #expect(Glibc.kill(firstPID, 0) != 0)
        let refused = try etcd.etcdctl(["--dial-timeout=1s", "--command-timeout=2s", "get", "survives"])
        #expect(refused.status != 0)

        try await etcd.restart()
        #expect(etcd.pid != firstPID)
        let get = try etcd.etcdctl(["get", "survives", "--print-value-only"])
        #expect(get.stdout.contains("yes"), "\(get.output)")
        await etcd.stop()
        #expect(await etcd.waitUntilExited(timeout: .seconds(1)))
    }

    @Test("A full backend raises NOSPACE, and etcd still restarts with the alarm raised",
          arguments: EtcdVersion.allCases)
    func quota(version: EtcdVersion) async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version, quotaBackendBytes: 1 << 20))
        let value = String(repeating: "x", count: 200_000)
        var refused: CommandResult?
        for index in 0..<40 {
            let put = try etcd.etcdctl(["put", "big/\(index)"], stdin: value)
            if put.status != 0 {
                refused = put
                break
            }
        }
        let failure = try #require(refused, "40 puts of 200 kB never filled a 1 MiB quota")
        #expect(failure.stderr.contains("etcdserver: mvcc: database space exceeded"), "\(failure.output)")
        let alarms = try etcd.etcdctl(["alarm", "list"])
        #expect(alarms.stdout.contains("alarm:NOSPACE"), "\(alarms.output)")

        try await etcd.restart()
        let get = try etcd.etcdctl(["get", "big/0", "--keys-only"])
        #expect(get.stdout.contains("big/0"), "\(get.output)")
        await etcd.stop()
    }

    @Test("A flag etcd does not know fails the start with etcd's own words")
    func badFlag() async throws {
        let error = await #expect(throws: EtcdTestSupportError.self) {
            try await EtcdProcess.start(EtcdOptions(extraFlags: ["--no-such-flag"]))
        }
        #expect(error?.message.contains("exited with status") == true, "\(String(describing: error))")
        #expect(error?.message.contains("no-such-flag") == true, "\(String(describing: error))")
    }

    @Test("A snapshot saved with etcdctl is read and restored by etcdutl (3.5) or etcdctl (3.4)",
          arguments: EtcdVersion.allCases)
    func snapshotStatus(version: EtcdVersion) async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version))
        #expect(try etcd.etcdctl(["put", "a", "1"]).status == 0)
        let file = try TestDirectories.make("snapshot").appendingPathComponent("db").path
        let save = try etcd.etcdctl(["snapshot", "save", file])
        #expect(save.status == 0, "\(save.output)")
        let status = try etcd.etcdutl(["snapshot", "status", file, "--write-out=json"])
        #expect(status.status == 0, "\(status.output)")
        #expect(status.stdout.contains("\"totalKey\""), "\(status.output)")

        let restored = try TestDirectories.make("restored").appendingPathComponent("data")
        let restore = try etcd.etcdutl(["snapshot", "restore", file, "--data-dir", restored.path])
        #expect(restore.status == 0, "\(restore.output)")
        #expect(FileManager.default.fileExists(atPath: restored.appendingPathComponent("member/snap/db").path))
        await etcd.stop()
    }
}

/// Everything etcd has logged so far.
private func logText(_ etcd: EtcdProcess) throws -> String {
    String(decoding: try Data(contentsOf: etcd.logFile), as: UTF8.self)
}

@Suite("Test certificates")
struct TestCertificatesTests {
    private func openssl(_ arguments: [String]) throws -> CommandResult {
        try runCommand("/usr/bin/openssl", arguments)
    }

    @Test("The expired certificate is expired and was signed by the test CA")
    func expired() throws {
        let certificates = try TestCertificates.make()
        let checkEnd = try openssl(["x509", "-in", certificates.expiredCert, "-noout", "-checkend", "0"])
        #expect(checkEnd.status != 0, "\(checkEnd.output)")
        #expect(checkEnd.stdout.contains("Certificate will expire"))
        let dates = try openssl(["x509", "-in", certificates.expiredCert, "-noout", "-dates"])
        #expect(dates.stdout.contains("notBefore=Jan  1 00:00:00 2020 GMT"), "\(dates.output)")
        #expect(dates.stdout.contains("notAfter=Jan  2 00:00:00 2020 GMT"), "\(dates.output)")
        let verify = try openssl(["verify", "-no_check_time", "-CAfile", certificates.caCert,
                                  certificates.expiredCert])
        #expect(verify.status == 0, "\(verify.output)")
    }

    @Test("The wrong-host certificate names only wrong.example")
    func wrongHost() throws {
        let certificates = try TestCertificates.make()
        let text = try openssl(["x509", "-in", certificates.wrongHostCert, "-noout", "-ext", "subjectAltName"])
        #expect(text.stdout.contains("DNS:wrong.example"), "\(text.output)")
        #expect(!text.stdout.contains("localhost"))
        #expect(!text.stdout.contains("127.0.0.1"))
        let hostCheck = try openssl(["x509", "-in", certificates.wrongHostCert, "-noout", "-checkhost", "localhost"])
        #expect(hostCheck.stdout.contains("does NOT match"), "\(hostCheck.output)")
    }

    @Test("Good certificates chain to their CA and the unrelated CA does not vouch for them")
    func chains() throws {
        let certificates = try TestCertificates.make()
        for cert in [certificates.serverCert, certificates.clientCert, certificates.wrongHostCert] {
            let verify = try openssl(["verify", "-CAfile", certificates.caCert, cert])
            #expect(verify.status == 0, "\(verify.output)")
            let other = try openssl(["verify", "-CAfile", certificates.otherCACert, cert])
            #expect(other.status != 0)
        }
        let otherClient = try openssl(["verify", "-CAfile", certificates.otherCACert, certificates.otherClientCert])
        #expect(otherClient.status == 0, "\(otherClient.output)")
        let subject = try openssl(["x509", "-in", certificates.clientCert, "-noout", "-subject"])
        #expect(subject.stdout.contains("CN = root"), "\(subject.output)")
        let server = try openssl(["x509", "-in", certificates.serverCert, "-noout", "-ext",
                                  "subjectAltName,extendedKeyUsage"])
        #expect(server.stdout.contains("DNS:localhost"), "\(server.output)")
        #expect(server.stdout.contains("IP Address:127.0.0.1"), "\(server.output)")
        #expect(server.stdout.contains("TLS Web Server Authentication, TLS Web Client Authentication"))
    }

    @Test("The set is made once per process")
    func cached() throws {
        #expect(try TestCertificates.make().directory == TestCertificates.make().directory)
    }
}

@Suite("Commands and directories")
struct CommandTests {
    @Test("runCommand passes stdin and environment and reports the exit status")
    func stdinAndEnvironment() throws {
        let result = try runCommand("/bin/sh", ["-c", "cat; echo \"$GREETING\" >&2; exit 3"],
                                    environment: ["GREETING": "hi"], stdin: "piped")
        #expect(result.status == 3)
        #expect(result.stdout == "piped")
        #expect(result.stderr == "hi\n")
    }

    @Test("runCommand kills a program that outlives its timeout")
    func timeout() throws {
        let started = ContinuousClock.now
        #expect(throws: EtcdTestSupportError.self) {
            try runCommand("/bin/sleep", ["30"], timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test("runCommand refuses a bare program name")
    func relativePath() {
        #expect(throws: EtcdTestSupportError.self) { try runCommand("sleep", ["0"]) }
    }

    @Test("Test directories are fresh and live under this process's root")
    func directories() throws {
        let first = try TestDirectories.make("x")
        let second = try TestDirectories.make("x")
        #expect(first != second)
        #expect(first.path.hasPrefix("/tmp/etcd-console-tests/\(getpid())/x-"))
        #expect(FileManager.default.fileExists(atPath: second.path))
    }

    @Test("Both etcd releases are found, 3.5 with etcdutl")
    func binaries() throws {
        let v34 = try EtcdBinaries.locate(.v3_4)
        #expect(v34.etcd == "/usr/bin/etcd" && v34.etcdutl == nil)
        let v35 = try EtcdBinaries.locate(.v3_5)
        #expect(v35.etcdutl != nil)
        let version = try runCommand(v35.etcd, ["--version"])
        #expect(version.stdout.contains("etcd Version: 3.5."), "\(version.output)")
    }
}
