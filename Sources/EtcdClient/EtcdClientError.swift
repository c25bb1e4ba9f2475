/// What went wrong talking to etcd, on which endpoint, and why, in words an operator can act on.
///
/// The one error type of this module. `kind` is for code (tests, exit codes, retry decisions);
/// `description` is for people: "could not reach https://10.0.0.5:2379: TLS handshake failed: ...".
public struct EtcdClientError: Error, Sendable, CustomStringConvertible {
    /// The reason a TLS handshake failed, as far as OpenSSL tells.
    public enum TLSFailure: Sendable, Equatable {
        /// The server's certificate is not signed by a CA we trust.
        case unknownAuthority
        /// The certificate does not name the host or IP address we connected to.
        case hostnameMismatch
        /// The certificate is expired or not yet valid.
        case expired
        /// The server wanted a client certificate and we sent none (or one it rejected).
        case clientCertificateRejected
        /// Anything else OpenSSL reported.
        case other
    }

    public enum Kind: Sendable, Equatable {
        /// The endpoint string or TLS files given are unusable.
        case invalidConfiguration
        /// The host name does not resolve.
        case unresolvable
        /// Nothing listens on the port (ECONNREFUSED).
        case connectionRefused
        /// No route to the host or network (EHOSTUNREACH, ENETUNREACH).
        case unreachable
        /// Connecting (TCP, TLS or the HTTP/2 greeting) took longer than the connect timeout.
        case connectTimeout
        /// TLS negotiation failed.
        case tlsHandshake(TLSFailure)
        /// TLS worked but the server did not agree to speak HTTP/2 (ALPN "h2").
        case alpnNotH2
        /// The call did not finish within its deadline.
        case deadlineExceeded
        /// The server closed the connection or reset the stream before the call finished.
        case connectionClosed
        /// The server broke the HTTP/2 or gRPC protocol.
        case protocolError
        /// etcd rejected the user name or password.
        case authenticationFailed
        /// etcd has authentication enabled and no user was given.
        case authenticationRequired
        /// The user lacks the permission (role) for this call.
        case permissionDenied
        /// Any other gRPC status etcd returned.
        case status(GRPCStatusCode)
        /// None of the endpoints answered; `underlying` holds each one's error.
        case noEndpointAvailable
        /// The caller cancelled the call.
        case cancelled
        /// A stream delivered no bytes for its stall timeout while the caller waited for them.
        case stalled
    }

    public var kind: Kind
    /// The endpoint as the operator wrote it, e.g. `https://10.0.0.5:2379`; empty when not tied to one.
    public var endpoint: String
    /// What happened, without the endpoint: "TLS handshake failed: certificate has expired".
    public var detail: String
    /// For `.noEndpointAvailable`: the error of each endpoint tried, in order.
    public var underlying: [EtcdClientError]

    public init(_ kind: Kind, endpoint: String, _ detail: String, underlying: [EtcdClientError] = []) {
        self.kind = kind
        self.endpoint = endpoint
        self.detail = detail
        self.underlying = underlying
    }

    /// The gRPC status code, when this error came from a gRPC status.
    public var grpcStatus: GRPCStatusCode? {
        switch kind {
        case .status(let code): return code
        case .permissionDenied: return .permissionDenied
        case .deadlineExceeded: return .deadlineExceeded
        default: return nil
        }
    }

    public var description: String {
        switch kind {
        case .noEndpointAvailable:
            let lines = underlying.map { "  - \($0.description)" }
            return ([detail] + lines).joined(separator: "\n")
        case .unresolvable, .connectionRefused, .unreachable, .connectTimeout, .tlsHandshake, .alpnNotH2:
            return "could not reach \(endpoint): \(detail)"
        default:
            return endpoint.isEmpty ? detail : "\(endpoint): \(detail)"
        }
    }
}
