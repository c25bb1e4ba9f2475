import Foundation

/// Certificates made with the openssl CLI at test time: EC P-256 keys (PKCS#8 PEM), SHA-256, absolute paths.
// Certificates are valid for ten years from now unless named otherwise; P-256 keys take milliseconds to make.
public struct TestCertificates: Sendable {
    /// The directory that holds every file below, plus the openssl config that made them.
    public let directory: URL
    /// The CA that signs the good certificates.
    public let caCert: String, caKey: String
    /// The server's pair: SAN DNS:localhost and IP:127.0.0.1, serverAuth and clientAuth EKU, signed by the CA.
    public let serverCert: String, serverKey: String
    /// A client pair with CN=root (etcd maps it to user root under --client-cert-auth), clientAuth EKU.
    public let clientCert: String, clientKey: String
    /// An unrelated CA, for "signed by unknown authority" tests.
    public let otherCACert: String
    /// A client pair with CN=root signed by the unrelated CA.
    public let otherClientCert: String, otherClientKey: String
    /// A server pair signed by the CA whose only SAN is DNS:wrong.example.
    public let wrongHostCert: String, wrongHostKey: String
    /// A server pair signed by the CA, SAN localhost and 127.0.0.1, valid only 2020-01-01 to 2020-01-02.
    public let expiredCert: String, expiredKey: String

    /// Makes the set once per process in a fresh TestDirectories directory and hands the same set out afterwards.
    public static func make() throws -> TestCertificates {
        try cache.withLock { made in
            if let certificates = made { return certificates }
            let certificates = try generate(in: TestDirectories.make("certificates"))
            made = certificates
            return certificates
        }
    }

    private static let cache = Locked<TestCertificates?>(nil)

    /// Writes the config and runs openssl for each file; every failure names the openssl command and its output.
    private static func generate(in directory: URL) throws -> TestCertificates {
        let maker = CertificateMaker(directory: directory)
        try maker.prepare()

        let ca = try maker.selfSignedCA("ca", commonName: "etcd-console test CA")
        let otherCA = try maker.selfSignedCA("other-ca", commonName: "etcd-console unrelated CA")
        let server = try maker.leaf("server", commonName: "localhost", extensions: "server_ext", signedBy: ca)
        let client = try maker.leaf("client", commonName: "root", extensions: "client_ext", signedBy: ca)
        let otherClient = try maker.leaf("other-client", commonName: "root", extensions: "client_ext",
                                         signedBy: otherCA)
        let wrongHost = try maker.leaf("wrong-host", commonName: "wrong.example", extensions: "wrong_host_ext",
                                       signedBy: ca)
        let expired = try maker.expiredLeaf("expired", commonName: "localhost", extensions: "server_ext",
                                            signedBy: ca)

        return TestCertificates(directory: directory,
                                caCert: ca.cert, caKey: ca.key,
                                serverCert: server.cert, serverKey: server.key,
                                clientCert: client.cert, clientKey: client.key,
                                otherCACert: otherCA.cert,
                                otherClientCert: otherClient.cert, otherClientKey: otherClient.key,
                                wrongHostCert: wrongHost.cert, wrongHostKey: wrongHost.key,
                                expiredCert: expired.cert, expiredKey: expired.key)
    }
}

/// Runs the openssl CLI to make keys and certificates in one directory.
struct CertificateMaker {
    /// A certificate and its key, as absolute paths.
    struct Pair {
        let cert: String
        let key: String
    }

    let directory: URL

    private var config: String { path("openssl.cnf") }

    /// The openssl config: extension sections for each kind of certificate and a minimal `openssl ca` setup.
    var configText: String { """
        [ req ]
        distinguished_name = req_dn
        prompt = no

        [ req_dn ]
        CN = unused

        [ ca_ext ]
        basicConstraints = critical, CA:TRUE
        keyUsage = critical, keyCertSign, cRLSign
        subjectKeyIdentifier = hash

        [ server_ext ]
        basicConstraints = critical, CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = serverAuth, clientAuth
        subjectAltName = DNS:localhost, IP:127.0.0.1
        subjectKeyIdentifier = hash
        authorityKeyIdentifier = keyid

        [ client_ext ]
        basicConstraints = critical, CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = clientAuth
        subjectKeyIdentifier = hash
        authorityKeyIdentifier = keyid

        [ apiserver_ext ]
        basicConstraints = critical, CA:FALSE
        keyUsage = critical, digitalSignature, keyEncipherment
        extendedKeyUsage = serverAuth
        subjectAltName = DNS:kubernetes, DNS:kubernetes.default, DNS:master-1, IP:10.96.0.1, IP:10.0.0.5
        subjectKeyIdentifier = hash
        authorityKeyIdentifier = keyid

        [ wrong_host_ext ]
        basicConstraints = critical, CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = serverAuth, clientAuth
        subjectAltName = DNS:wrong.example
        subjectKeyIdentifier = hash
        authorityKeyIdentifier = keyid

        [ ca ]
        default_ca = test_ca

        [ test_ca ]
        dir = \(directory.path)
        database = $dir/ca-index.txt
        new_certs_dir = $dir/ca-issued
        serial = $dir/ca-serial
        default_md = sha256
        policy = policy_any
        unique_subject = no
        copy_extensions = none

        [ policy_any ]
        commonName = supplied

        """
    }

    /// Writes the config and the bookkeeping files `openssl ca` wants.
    func prepare() throws {
        try write(configText, to: "openssl.cnf")
        try write("", to: "ca-index.txt")
        try write(Self.randomSerial() + "\n", to: "ca-serial")
        do {
            try FileManager.default.createDirectory(atPath: path("ca-issued"), withIntermediateDirectories: true)
        } catch {
            throw EtcdTestSupportError("could not create \(path("ca-issued")): \(error)")
        }
    }

    /// A self-signed CA certificate with basicConstraints CA:TRUE.
    func selfSignedCA(_ name: String, commonName: String) throws -> Pair {
        let pair = Pair(cert: path("\(name).crt"), key: path("\(name).key"))
        try openssl(["req", "-x509", "-new", "-config", config, "-newkey", "ec",
                     "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", pair.key, "-out", pair.cert,
                     "-subj", "/CN=\(commonName)", "-days", "3650", "-sha256", "-extensions", "ca_ext",
                     "-set_serial", "0x" + Self.randomSerial()])
        return pair
    }

    /// A certificate signed by `issuer`, valid from now for ten years (or `days`).
    func leaf(_ name: String, commonName: String, extensions: String, signedBy issuer: Pair, days: Int = 3650) throws -> Pair {
        let (pair, request) = try keyAndRequest(name, commonName: commonName)
        try openssl(["x509", "-req", "-in", request, "-CA", issuer.cert, "-CAkey", issuer.key,
                     "-set_serial", "0x" + Self.randomSerial(), "-days", String(days), "-sha256",
                     "-extfile", config, "-extensions", extensions, "-out", pair.cert])
        return pair
    }

    /// A certificate signed by `issuer`, valid only 2020-01-01 to 2020-01-02 (`openssl ca` can backdate; x509 cannot).
    func expiredLeaf(_ name: String, commonName: String, extensions: String, signedBy issuer: Pair) throws -> Pair {
        let (pair, request) = try keyAndRequest(name, commonName: commonName)
        try openssl(["ca", "-config", config, "-batch", "-notext", "-in", request, "-out", pair.cert,
                     "-cert", issuer.cert, "-keyfile", issuer.key, "-md", "sha256",
                     "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extensions", extensions])
        return pair
    }

    /// A new P-256 key and a signing request for it.
    private func keyAndRequest(_ name: String, commonName: String) throws -> (Pair, String) {
        let pair = Pair(cert: path("\(name).crt"), key: path("\(name).key"))
        let request = path("\(name).csr")
        try openssl(["req", "-new", "-config", config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", pair.key, "-out", request, "-subj", "/CN=\(commonName)"])
        return (pair, request)
    }

    /// Runs openssl and throws its output when it fails.
    private func openssl(_ arguments: [String]) throws {
        let result = try runCommand(try Self.opensslPath(), arguments, timeout: .seconds(60))
        guard result.succeeded else {
            throw EtcdTestSupportError(
                "could not make test certificates: openssl \(arguments.joined(separator: " ")) exited "
                    + "\(result.status): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// The openssl program: the first on PATH, else /usr/bin/openssl.
    static func opensslPath() throws -> String {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in directories + ["/usr/bin"] where !directory.isEmpty {
            let candidate = "\(directory)/openssl"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw EtcdTestSupportError("openssl not found on PATH or in /usr/bin: run scripts/setup")
    }

    /// 16 random hex digits with the top bit clear, so the serial stays a positive 63-bit number.
    static func randomSerial() -> String {
        let value = UInt64.random(in: 1...UInt64(Int64.max))
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    private func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    private func write(_ text: String, to name: String) throws {
        do {
            try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        } catch {
            throw EtcdTestSupportError("could not write \(path(name)): \(error)")
        }
    }
}
