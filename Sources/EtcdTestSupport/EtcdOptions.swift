/// How an etcd under test talks to its clients.
public enum EtcdTLS: Sendable {
    /// Plain http.
    case none
    /// https with this certificate and key; clients need no certificate.
    case server(cert: String, key: String)
    /// https with --client-cert-auth: clients must show a certificate signed by `trustedCA`.
    case mutual(cert: String, key: String, trustedCA: String)
}

/// What kind of etcd `EtcdProcess.start` runs.
public struct EtcdOptions: Sendable {
    /// The etcd release to run.
    public var version: EtcdVersion = .v3_4
    /// The member name (--name), also used in the data directory's name.
    public var name: String = "default"
    /// Plain, server-only TLS, or mutual TLS on the client port; the peer port stays plain http.
    public var tls: EtcdTLS = .none
    /// Creates root (password "rootpw", role root) and alice ("alicepw", no roles), then runs `auth enable`.
    public var auth: Bool = false
    /// --auth-token-ttl in seconds (3.4 and 3.5 both take it; etcd's default is 300).
    public var authTokenTTLSeconds: Int? = nil
    /// --quota-backend-bytes, for "database space exceeded" tests.
    public var quotaBackendBytes: Int64? = nil
    /// Flags added after all others, so they win over the defaults.
    public var extraFlags: [String] = []

    /// Options with a default for everything.
    public init(version: EtcdVersion = .v3_4, name: String = "default", tls: EtcdTLS = .none, auth: Bool = false,
                authTokenTTLSeconds: Int? = nil, quotaBackendBytes: Int64? = nil, extraFlags: [String] = []) {
        self.version = version
        self.name = name
        self.tls = tls
        self.auth = auth
        self.authTokenTTLSeconds = authTokenTTLSeconds
        self.quotaBackendBytes = quotaBackendBytes
        self.extraFlags = extraFlags
    }

    /// The password of user root when `auth` is on.
    public static let rootPassword = "rootpw"
    /// The password of user alice (no roles, so every key request is refused) when `auth` is on.
    public static let alicePassword = "alicepw"
}
