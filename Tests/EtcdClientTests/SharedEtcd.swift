import EtcdClient
import EtcdTestSupport
import Foundation

/// One real etcd per configuration, started on first use and shared by the tests of this process
/// (EtcdTestSupport kills it at exit). Tests that stop, kill or pause etcd start their own.
actor SharedEtcd {
    private let options: @Sendable () throws -> EtcdOptions
    private var starting: Task<EtcdProcess, Error>?

    init(_ options: @escaping @Sendable () throws -> EtcdOptions) { self.options = options }

    /// The shared etcd; callers arriving while it starts wait for the same start.
    func get() async throws -> EtcdProcess {
        if let starting { return try await starting.value }
        let options = self.options
        let task = Task { try await EtcdProcess.start(try options()) }
        starting = task
        return try await task.value
    }

    static let plain34 = SharedEtcd { EtcdOptions(version: .v3_4, name: "plain34") }
    static let plain35 = SharedEtcd { EtcdOptions(version: .v3_5, name: "plain35") }
    static let mutualTLS = SharedEtcd {
        let certs = try TestCertificates.make()
        return EtcdOptions(version: .v3_5, name: "mtls",
                           tls: .mutual(cert: certs.serverCert, key: certs.serverKey, trustedCA: certs.caCert))
    }
    static let auth = SharedEtcd { EtcdOptions(version: .v3_4, name: "auth", auth: true) }

    static func plain(_ version: EtcdVersion) -> SharedEtcd { version == .v3_4 ? plain34 : plain35 }
}

extension EtcdProcess {
    var endpoint: Endpoint { try! Endpoint(parsing: clientURL) }
}

/// A client for `etcd` with short timeouts, so failing tests fail fast.
func makeClient(_ endpoints: [Endpoint], tls: TLSConfiguration = TLSConfiguration(), credentials: Credentials? = nil,
                connectTimeout: Duration = .seconds(3), callTimeout: Duration = .seconds(5),
                streamWindowSize: Int32 = 4 << 20) -> EtcdClient {
    EtcdClient(EtcdClientConfiguration(endpoints: endpoints, tls: tls, credentials: credentials,
                                       connectTimeout: connectTimeout, callTimeout: callTimeout,
                                       streamWindowSize: streamWindowSize))
}

/// The error a call threw, as EtcdClientError (nil when it succeeded or threw something else).
func clientError(_ body: () async throws -> Void) async -> EtcdClientError? {
    do {
        try await body()
        return nil
    } catch let error as EtcdClientError {
        return error
    } catch {
        return nil
    }
}

/// Writes `count` values of `size` bytes under `prefix` so snapshots have some weight.
func fill(_ client: EtcdClient, prefix: String, count: Int, size: Int) async throws {
    var value = [UInt8](repeating: 0, count: size)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for i in 0..<count {
        for j in stride(from: 0, to: size, by: 8) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            value[j] = UInt8(truncatingIfNeeded: state >> 33)
        }
        try await client.put("\(prefix)\(String(format: "%06d", i))", value: value)
    }
}
