/// Why an object store request failed, with the operation, the bucket/key and the endpoint it concerns.
public struct ObjectStoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The service answered with an S3 error code (InvalidAccessKeyId, SignatureDoesNotMatch, NoSuchBucket, ...).
        case s3(code: String, status: Int)
        /// No TCP connection could be made (refused, no route, name not resolved, timed out).
        case unreachable
        /// The TLS handshake or certificate verification failed.
        case tls
        /// No usable credentials: missing variables, unreadable or incomplete credentials file, unknown profile.
        case credentials
        /// The request was malformed before it was sent, or the answer could not be understood.
        case protocolError
        /// Reading the body to send or writing the body received failed (the sink's own error text).
        case stream
        /// The endpoint, bucket or key given is not usable.
        case configuration
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The S3 error code when the service sent one.
    public var s3Code: String? {
        if case .s3(let code, _) = kind { return code }
        return nil
    }

    public var description: String { detail }
}
