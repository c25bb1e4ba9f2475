import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SwiftProtobuf

/// A client for etcd's v3 gRPC API over our own HTTP/2 (libnghttp2) and TLS (OpenSSL) transport.
///
/// Calls go to the first endpoint that answers (in the order given) unless an endpoint is named,
/// so `status(of:)` can ask every member in turn. With credentials, the client authenticates on
/// first use, sends the token as the `token` header and authenticates again once when etcd says
/// the token is invalid (it expired or the member restarted). Call `close()` when done.
public actor EtcdClient {
    public nonisolated let configuration: EtcdClientConfiguration
    private var connections: [Endpoint: HTTP2Connection] = [:]
    private var connecting: [Endpoint: Task<HTTP2Connection, Error>] = [:]
    private var token: String?
    /// The endpoint that answered last; tried first next time.
    private var preferred: Endpoint?
    /// Authenticate calls that succeeded (tests check that an expired token is renewed).
    private(set) var authenticationCount = 0

    public init(_ configuration: EtcdClientConfiguration) {
        self.configuration = configuration
        _ = Self.ignoreSIGPIPE
    }

    /// OpenSSL writes to the socket with write(2), which raises SIGPIPE when etcd has closed the
    /// connection; that would kill the whole process. Ignore it (as Go's runtime does) and read EPIPE.
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    deinit {
        for connection in connections.values { connection.close() }
    }

    /// Closes every connection. Calls still running end with `.cancelled`.
    public func close() {
        for connection in connections.values { connection.close() }
        connections.removeAll()
    }

    // MARK: Calls

    /// Maintenance/Status of one member: version, db size, leader, raft indexes, errors.
    public func status(of endpoint: Endpoint? = nil) async throws -> Etcdserverpb_StatusResponse {
        try await unary("/etcdserverpb.Maintenance/Status", Etcdserverpb_StatusRequest(), endpoint: endpoint)
    }

    /// Cluster/MemberList.
    public func memberList(endpoint: Endpoint? = nil) async throws -> Etcdserverpb_MemberListResponse {
        try await unary("/etcdserverpb.Cluster/MemberList", Etcdserverpb_MemberListRequest(), endpoint: endpoint)
    }

    /// Maintenance/HashKV: the hash of one member's keys up to `revision` (0: its latest), as
    /// `etcdctl endpoint hashkv` asks it. Members with equal hashes at one revision hold the same keys.
    public func hashKV(revision: Int64, endpoint: Endpoint) async throws -> Etcdserverpb_HashKVResponse {
        var request = Etcdserverpb_HashKVRequest()
        request.revision = revision
        return try await unary("/etcdserverpb.Maintenance/HashKV", request, endpoint: endpoint)
    }

    /// Maintenance/Alarm GET: the alarms raised in the cluster (NOSPACE, CORRUPT).
    public func alarms(endpoint: Endpoint? = nil) async throws -> [Etcdserverpb_AlarmMember] {
        var request = Etcdserverpb_AlarmRequest()
        request.action = .get
        let response: Etcdserverpb_AlarmResponse = try await unary("/etcdserverpb.Maintenance/Alarm", request, endpoint: endpoint)
        return response.alarms
    }

    /// KV/Range of one key; nil when it does not exist.
    public func get(_ key: String) async throws -> Mvccpb_KeyValue? {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data(key.utf8)
        let response: Etcdserverpb_RangeResponse = try await unary("/etcdserverpb.KV/Range", request)
        return response.kvs.first
    }

    /// KV/Range over a prefix, in key order. `limit` 0 means all; `keysOnly` leaves values empty.
    public func list(prefix: String, keysOnly: Bool = false, limit: Int = 0) async throws -> Etcdserverpb_RangeResponse {
        var request = Etcdserverpb_RangeRequest()
        let (key, end) = Self.prefixRange(prefix)
        request.key = key
        request.rangeEnd = end
        request.keysOnly = keysOnly
        request.limit = Int64(limit)
        return try await unary("/etcdserverpb.KV/Range", request)
    }

    /// KV/Range with count_only: how many keys start with `prefix` ("" counts every key).
    public func count(prefix: String) async throws -> Int {
        var request = Etcdserverpb_RangeRequest()
        let (key, end) = Self.prefixRange(prefix)
        request.key = key
        request.rangeEnd = end
        request.countOnly = true
        let response: Etcdserverpb_RangeResponse = try await unary("/etcdserverpb.KV/Range", request)
        return Int(response.count)
    }

    /// KV/Put. Returns the revision of the write.
    @discardableResult
    public func put(_ key: String, value: some DataProtocol) async throws -> Int64 {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value)
        let response: Etcdserverpb_PutResponse = try await unary("/etcdserverpb.KV/Put", request)
        return response.header.revision
    }

    /// Maintenance/Snapshot: the backend database as a stream of chunks (see `SnapshotStream`).
    /// No total deadline applies (a large snapshot takes as long as it takes); a stream that delivers no bytes for
    /// `configuration.snapshotStallTimeout` while the caller waits ends with `.stalled`. The stream is cancelled
    /// when the caller stops reading it. An expired token is renewed, as for unary calls: the first
    /// message is awaited here, so an "invalid auth token" answer starts the stream again after authenticating.
    public func snapshot(endpoint: Endpoint? = nil) async throws -> SnapshotStream {
        let path = "/etcdserverpb.Maintenance/Snapshot"
        let body: [UInt8] = try Etcdserverpb_SnapshotRequest().serializedBytes()
        let stall = configuration.snapshotStallTimeout
        let (connection, call) = try await startCall(path, body: body, endpoint: endpoint, timeout: nil, streaming: true,
                                                     stallTimeout: stall)
        var attempt = 0
        var current = call
        while true {
            do {
                let first = try await current.next()
                return SnapshotStream(call: current, endpoint: connection.endpoint, first: first)
            } catch let error as EtcdClientError where isInvalidToken(error) && configuration.credentials != nil
                && attempt < Self.reauthenticationAttempts {
                attempt += 1
                token = nil
                try await authenticate(on: connection)
                (_, current) = try await startCall(path, body: body, endpoint: connection.endpoint, timeout: nil,
                                                   streaming: true, stallTimeout: stall)
            }
        }
    }

    /// The key range covering every key that starts with `prefix` (all keys for "").
    static func prefixRange(_ prefix: String) -> (Data, Data) {
        if prefix.isEmpty { return (Data([0]), Data([0])) }
        var end = Array(prefix.utf8)
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return (Data(prefix.utf8), Data(end))
            }
            end.removeLast()
        }
        return (Data(prefix.utf8), Data([0]))
    }

    // MARK: Plumbing

    private func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String, _ request: Request, endpoint: Endpoint? = nil
    ) async throws -> Response {
        let body: [UInt8] = try request.serializedBytes()
        let (connection, call) = try await startCall(path, body: body, endpoint: endpoint,
                                                     timeout: configuration.callTimeout, streaming: false)
        var attempt = 0
        var current = call
        while true {
            do {
                return try await Self.singleResponse(current, path: path, endpoint: connection.endpoint)
            } catch let error as EtcdClientError where isInvalidToken(error) && configuration.credentials != nil
                && attempt < Self.reauthenticationAttempts {
                // The token expired or the member restarted: authenticate again and retry. More than once only
                // when the fresh token was already refused too (a short --auth-token-ttl on a host so busy that
                // the retry came after it ran out).
                attempt += 1
                token = nil
                try await authenticate(on: connection)
                (_, current) = try await startCall(path, body: body, endpoint: connection.endpoint,
                                                   timeout: configuration.callTimeout, streaming: false)
            }
        }
    }

    /// How many times one call authenticates again after "invalid auth token" before it gives up.
    static let reauthenticationAttempts = 3

    /// The one message of a unary call, read to the end so an error status in the trailers is not missed.
    private static func singleResponse<Response: SwiftProtobuf.Message>(_ call: GRPCCall, path: String,
                                                                        endpoint: Endpoint) async throws -> Response {
        guard let message = try await call.next() else {
            throw EtcdClientError(.protocolError, endpoint: endpoint.description, "\(path): no response message")
        }
        while try await call.next() != nil {}
        do {
            return try Response(serializedBytes: message)
        } catch {
            throw EtcdClientError(.protocolError, endpoint: endpoint.description, "\(path): cannot decode response: \(error)")
        }
    }

    private func isInvalidToken(_ error: EtcdClientError) -> Bool {
        guard case .status(let code) = error.kind else { return false }
        // The snapshot stream of etcd 3.5 reports it as UNKNOWN "auth: invalid auth token" (not converted to a
        // gRPC status like the unary calls' "etcdserver: invalid auth token").
        return (code == .unauthenticated || code == .invalidArgument || code == .unknown) && error.detail.contains("invalid auth token")
    }

    /// Opens (or reuses) a connection, authenticates when needed and starts the call on it.
    private func startCall(_ path: String, body: [UInt8], endpoint: Endpoint?, timeout: Duration?,
                           streaming: Bool, stallTimeout: Duration? = nil) async throws -> (HTTP2Connection, GRPCCall) {
        let connection = try await connection(to: endpoint)
        if configuration.credentials != nil && token == nil {
            try await authenticate(on: connection)
        }
        var metadata: [(String, String)] = []
        if let token { metadata.append(("token", token)) }
        let call = GRPCCall(path: path, metadata: metadata, body: GRPCFraming.frame(body),
                            timeout: timeout, streaming: streaming, stallTimeout: stallTimeout)
        connection.start(call)
        return (connection, call)
    }

    private func authenticate(on connection: HTTP2Connection) async throws {
        guard let credentials = configuration.credentials else { return }
        var request = Etcdserverpb_AuthenticateRequest()
        request.name = credentials.user
        request.password = credentials.password
        let call = GRPCCall(path: "/etcdserverpb.Auth/Authenticate", metadata: [],
                            body: GRPCFraming.frame(try request.serializedBytes()),
                            timeout: configuration.callTimeout, streaming: false)
        connection.start(call)
        let response: Etcdserverpb_AuthenticateResponse = try await Self.singleResponse(call, path: call.path, endpoint: connection.endpoint)
        token = response.token
        authenticationCount += 1
    }

    /// A live connection to `endpoint`, or to the first endpoint that answers when nil.
    private func connection(to endpoint: Endpoint?) async throws -> HTTP2Connection {
        if let endpoint { return try await open(endpoint) }
        var order = configuration.endpoints
        if let preferred, let index = order.firstIndex(of: preferred) {
            order.remove(at: index)
            order.insert(preferred, at: 0)
        }
        var failures: [EtcdClientError] = []
        for candidate in order {
            do {
                let connection = try await open(candidate)
                preferred = candidate
                return connection
            } catch let error as EtcdClientError {
                failures.append(error)
            }
        }
        if failures.count == 1 { throw failures[0] }
        throw EtcdClientError(.noEndpointAvailable, endpoint: "",
                              "none of the \(failures.count) endpoints answered:", underlying: failures)
    }

    private func open(_ endpoint: Endpoint) async throws -> HTTP2Connection {
        if let existing = connections[endpoint] {
            if existing.isUsable { return existing }
            existing.close()
            connections[endpoint] = nil
        }
        if let pending = connecting[endpoint] { return try await pending.value }
        let configuration = self.configuration
        let task = Task { try await HTTP2Connection.open(endpoint, configuration: configuration) }
        connecting[endpoint] = task
        defer { connecting[endpoint] = nil }
        let connection = try await task.value
        connections[endpoint] = connection
        return connection
    }
}
