/// A gRPC status code as sent by etcd in the `grpc-status` trailer.
///
/// Shaped like swift-system's `Errno`: a raw value with named constants, each documented in one line.
public struct GRPCStatusCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Not an error; returned on success. (OK)
    public static let ok = GRPCStatusCode(rawValue: 0)
    /// The operation was cancelled, typically by the caller. (CANCELLED)
    public static let cancelled = GRPCStatusCode(rawValue: 1)
    /// Unknown error. (UNKNOWN)
    public static let unknown = GRPCStatusCode(rawValue: 2)
    /// The client specified an invalid argument. (INVALID_ARGUMENT)
    public static let invalidArgument = GRPCStatusCode(rawValue: 3)
    /// The deadline expired before the operation could complete. (DEADLINE_EXCEEDED)
    public static let deadlineExceeded = GRPCStatusCode(rawValue: 4)
    /// Some requested entity was not found. (NOT_FOUND)
    public static let notFound = GRPCStatusCode(rawValue: 5)
    /// The entity that a client attempted to create already exists. (ALREADY_EXISTS)
    public static let alreadyExists = GRPCStatusCode(rawValue: 6)
    /// The caller does not have permission to execute the operation. (PERMISSION_DENIED)
    public static let permissionDenied = GRPCStatusCode(rawValue: 7)
    /// Some resource has been exhausted, such as the space quota. (RESOURCE_EXHAUSTED)
    public static let resourceExhausted = GRPCStatusCode(rawValue: 8)
    /// The system is not in a state required for the operation. (FAILED_PRECONDITION)
    public static let failedPrecondition = GRPCStatusCode(rawValue: 9)
    /// The operation was aborted. (ABORTED)
    public static let aborted = GRPCStatusCode(rawValue: 10)
    /// The operation was attempted past the valid range. (OUT_OF_RANGE)
    public static let outOfRange = GRPCStatusCode(rawValue: 11)
    /// The operation is not implemented or supported. (UNIMPLEMENTED)
    public static let unimplemented = GRPCStatusCode(rawValue: 12)
    /// An internal invariant was broken. (INTERNAL)
    public static let `internal` = GRPCStatusCode(rawValue: 13)
    /// The service is currently unavailable. (UNAVAILABLE)
    public static let unavailable = GRPCStatusCode(rawValue: 14)
    /// Unrecoverable data loss or corruption. (DATA_LOSS)
    public static let dataLoss = GRPCStatusCode(rawValue: 15)
    /// The request does not have valid authentication credentials. (UNAUTHENTICATED)
    public static let unauthenticated = GRPCStatusCode(rawValue: 16)

    private static let names = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    ]

    /// The canonical upper-case name, e.g. `PERMISSION_DENIED`.
    public var description: String {
        Self.names.indices.contains(rawValue) ? Self.names[rawValue] : "code \(rawValue)"
    }
}

/// An HTTP/2 error code (RFC 9113 section 7) as carried by RST_STREAM and GOAWAY frames.
public struct HTTP2ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Graceful shutdown. (NGHTTP2_NO_ERROR)
    public static let noError = HTTP2ErrorCode(rawValue: 0x0)
    /// Protocol error detected. (NGHTTP2_PROTOCOL_ERROR)
    public static let protocolError = HTTP2ErrorCode(rawValue: 0x1)
    /// Implementation fault. (NGHTTP2_INTERNAL_ERROR)
    public static let internalError = HTTP2ErrorCode(rawValue: 0x2)
    /// Flow-control limits exceeded. (NGHTTP2_FLOW_CONTROL_ERROR)
    public static let flowControlError = HTTP2ErrorCode(rawValue: 0x3)
    /// Settings not acknowledged. (NGHTTP2_SETTINGS_TIMEOUT)
    public static let settingsTimeout = HTTP2ErrorCode(rawValue: 0x4)
    /// Frame received for a closed stream. (NGHTTP2_STREAM_CLOSED)
    public static let streamClosed = HTTP2ErrorCode(rawValue: 0x5)
    /// Frame size incorrect. (NGHTTP2_FRAME_SIZE_ERROR)
    public static let frameSizeError = HTTP2ErrorCode(rawValue: 0x6)
    /// Stream not processed. (NGHTTP2_REFUSED_STREAM)
    public static let refusedStream = HTTP2ErrorCode(rawValue: 0x7)
    /// Stream cancelled. (NGHTTP2_CANCEL)
    public static let cancel = HTTP2ErrorCode(rawValue: 0x8)
    /// Compression state not updated. (NGHTTP2_COMPRESSION_ERROR)
    public static let compressionError = HTTP2ErrorCode(rawValue: 0x9)
    /// TCP connection error for CONNECT method. (NGHTTP2_CONNECT_ERROR)
    public static let connectError = HTTP2ErrorCode(rawValue: 0xa)
    /// Processing capacity exceeded. (NGHTTP2_ENHANCE_YOUR_CALM)
    public static let enhanceYourCalm = HTTP2ErrorCode(rawValue: 0xb)
    /// Negotiated TLS parameters not acceptable. (NGHTTP2_INADEQUATE_SECURITY)
    public static let inadequateSecurity = HTTP2ErrorCode(rawValue: 0xc)
    /// Use HTTP/1.1 for the request. (NGHTTP2_HTTP_1_1_REQUIRED)
    public static let http11Required = HTTP2ErrorCode(rawValue: 0xd)

    private static let names = [
        "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
        "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
        "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
    ]

    public var description: String {
        Int(rawValue) < Self.names.count ? Self.names[Int(rawValue)] : "error code \(rawValue)"
    }

    /// The gRPC status a client reports when a stream is reset with this code (gRPC's HTTP/2 mapping).
    public var grpcStatus: GRPCStatusCode {
        switch self {
        case .refusedStream: return .unavailable
        case .cancel: return .cancelled
        case .enhanceYourCalm: return .resourceExhausted
        case .inadequateSecurity: return .permissionDenied
        default: return .internal
        }
    }
}
