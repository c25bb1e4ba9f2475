import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One etcd client URL: `http://host:port` (h2c with prior knowledge) or `https://host:port` (TLS, ALPN h2).
///
/// Accepts what etcdctl accepts in `--endpoints`: a URL, or `host:port` whose scheme is https when
/// TLS files are given and http otherwise. IPv6 hosts are written in brackets: `https://[::1]:2379`.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var secure: Bool
    public var host: String
    public var port: Int

    public init(secure: Bool, host: String, port: Int) {
        self.secure = secure
        self.host = host
        self.port = port
    }

    /// Parses one endpoint. `defaultSecure` decides the scheme for `host:port` without one.
    public init(parsing text: String, defaultSecure: Bool = false) throws(EtcdClientError) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var secure = defaultSecure
        if rest.hasPrefix("https://") {
            secure = true
            rest = rest.dropFirst(8)
        } else if rest.hasPrefix("http://") {
            secure = false
            rest = rest.dropFirst(7)
        } else if rest.contains("://") {
            throw EtcdClientError(.invalidConfiguration, endpoint: text,
                                  "unsupported scheme (use http:// or https://)")
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw EtcdClientError(.invalidConfiguration, endpoint: text, "unterminated [IPv6] address")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else {
            throw EtcdClientError(.invalidConfiguration, endpoint: text, "no host in endpoint")
        }
        var port = 2379
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw EtcdClientError(.invalidConfiguration, endpoint: text, "invalid port \"\(portText)\"")
            }
            port = p
        }
        self.init(secure: secure, host: String(host), port: port)
    }

    /// Parses a comma-separated list as `--endpoints a,b,c` takes it.
    public static func parseList(_ text: String, defaultSecure: Bool = false) throws(EtcdClientError) -> [Endpoint] {
        var result: [Endpoint] = []
        for part in text.split(separator: ",") where !part.trimmingCharacters(in: .whitespaces).isEmpty {
            result.append(try Endpoint(parsing: String(part), defaultSecure: defaultSecure))
        }
        guard !result.isEmpty else {
            throw EtcdClientError(.invalidConfiguration, endpoint: text, "no endpoints given")
        }
        return result
    }

    /// True when the host is a literal IPv4 or IPv6 address (verified against IP SANs, no SNI).
    public var hostIsIPAddress: Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// `host:port` as sent in `:authority`.
    public var authority: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public var description: String { (secure ? "https://" : "http://") + authority }
}

/// TLS settings for `https://` endpoints. Verification of the server certificate and its host name
/// or IP address is on unless `insecureSkipVerify` is set.
public struct TLSConfiguration: Sendable, Equatable {
    /// PEM file of CA certificates that sign the server's certificate; nil uses the system store.
    public var caFile: String?
    /// PEM client certificate (chain) for mutual TLS.
    public var certificateFile: String?
    /// PEM private key of the client certificate.
    public var keyFile: String?
    /// Skip verifying the server certificate (`--insecure-skip-tls-verify`); never the default.
    public var insecureSkipVerify: Bool
    /// Name to verify and send as SNI instead of the endpoint's host.
    public var serverName: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
                insecureSkipVerify: Bool = false, serverName: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.insecureSkipVerify = insecureSkipVerify
        self.serverName = serverName
    }
}

/// A user name and password for etcd's authentication. The password is never printed.
public struct Credentials: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var password: String
    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }
    public var description: String { "\(user):<redacted>" }
}

/// Everything an `EtcdClient` needs to reach a cluster.
public struct EtcdClientConfiguration: Sendable {
    public var endpoints: [Endpoint]
    public var tls: TLSConfiguration
    public var credentials: Credentials?
    /// Limit for TCP connect, TLS handshake and the HTTP/2 greeting together, per endpoint.
    public var connectTimeout: Duration
    /// Limit for each unary call (sent as `grpc-timeout` and enforced locally).
    public var callTimeout: Duration
    /// HTTP/2 stream window (SETTINGS_INITIAL_WINDOW_SIZE): how much a stream may have in flight
    /// before the consumer takes it. Bounds the memory a slow snapshot consumer costs.
    public var streamWindowSize: Int32
    /// HTTP/2 connection window.
    public var connectionWindowSize: Int32
    /// A snapshot stream that delivers no bytes for this long while we wait for them ends with `.stalled`
    /// (etcd stopped, a network path went silent). Not a total deadline: a large snapshot may take hours.
    /// nil waits for ever.
    public var snapshotStallTimeout: Duration?

    public init(endpoints: [Endpoint], tls: TLSConfiguration = TLSConfiguration(),
                credentials: Credentials? = nil, connectTimeout: Duration = .seconds(5),
                callTimeout: Duration = .seconds(5), streamWindowSize: Int32 = 4 << 20,
                connectionWindowSize: Int32 = 8 << 20, snapshotStallTimeout: Duration? = .seconds(30)) {
        self.endpoints = endpoints
        self.tls = tls
        self.credentials = credentials
        self.connectTimeout = connectTimeout
        self.callTimeout = callTimeout
        self.streamWindowSize = streamWindowSize
        self.connectionWindowSize = connectionWindowSize
        self.snapshotStallTimeout = snapshotStallTimeout
    }
}
