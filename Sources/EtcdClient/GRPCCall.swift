import Foundation
import SystemSupport

/// One gRPC call in flight, shared by the caller (who reads messages) and the connection's I/O thread
/// (which writes them). Messages go through a small queue; for streaming calls the HTTP/2 window is
/// only reopened when the caller has taken a message, so a slow reader holds back the server
/// instead of growing memory (back-pressure).
final class GRPCCall: @unchecked Sendable {
    let path: String
    let metadata: [(String, String)]
    let body: [UInt8]
    let timeout: Duration?
    let deadline: ContinuousClock.Instant?
    /// Unary calls reopen the window as bytes arrive; streaming calls when the caller takes a message.
    let consumesOnReceipt: Bool
    /// No bytes for this long while the caller waits: the call ends with `.stalled` (see `isStalled`).
    let stallTimeout: Duration?

    // Owned by the I/O thread.
    var streamID: Int32 = -1
    var bodyOffset = 0
    var responseHeaders: [(String, String)] = []
    var trailers: [(String, String)] = []
    var sawResponseHeaders = false
    var decoder = GRPCMessageDecoder()
    /// DATA bytes received (I/O thread writes under the lock; anyone may read `bytesReceivedShared`).
    private(set) var bytesReceived = 0

    // Shared, under `lock`.
    private let lock = NSLock()
    private var queue: [[UInt8]] = []
    private var queueHead = 0
    private var outcome: Result<Void, EtcdClientError>?
    private var waiter: CheckedContinuation<[UInt8]?, Error>?
    private var cancelled = false
    /// The last time bytes arrived or the caller began to wait, whichever is later.
    private var lastProgress = ContinuousClock.now
    /// Called with the byte count of each message the caller takes (streaming calls only).
    var onConsume: (@Sendable (GRPCCall, Int) -> Void)?
    /// Called once when the caller gives up on the call.
    var onCancel: (@Sendable (GRPCCall) -> Void)?

    init(path: String, metadata: [(String, String)], body: [UInt8], timeout: Duration?, streaming: Bool,
         stallTimeout: Duration? = nil) {
        self.path = path
        self.metadata = metadata
        self.body = body
        self.timeout = timeout
        self.deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        self.consumesOnReceipt = !streaming
        self.stallTimeout = stallTimeout
    }

    func addReceived(_ n: Int) {
        lock.withLock {
            bytesReceived += n
            lastProgress = .now
        }
    }

    /// True when the caller is waiting for a message and no bytes came for `stallTimeout` (I/O thread). Time
    /// the caller spends elsewhere (writing to a slow disk, with the window closed) does not count: the
    /// clock starts again when it comes back to wait.
    func isStalled(now: ContinuousClock.Instant) -> Bool {
        guard let stallTimeout else { return false }
        return lock.withLock { waiter != nil && outcome == nil && !cancelled && now - lastProgress >= stallTimeout }
    }

    var bytesReceivedShared: Int { lock.withLock { bytesReceived } }

    /// True once the call has an outcome (I/O thread).
    var isFinished: Bool { lock.withLock { outcome != nil } }

    /// Hands a complete message to the caller (I/O thread).
    func deliver(_ message: [UInt8]) {
        lock.lock()
        if outcome != nil || cancelled {
            lock.unlock()
            return
        }
        if let waiter {
            self.waiter = nil
            lock.unlock()
            if !consumesOnReceipt { onConsume?(self, message.count + 5) }
            waiter.resume(returning: message)
        } else {
            queue.append(message)
            lock.unlock()
        }
    }

    /// Ends the call: success after the last message, or an error (I/O thread). Only the first outcome counts.
    func finish(_ result: Result<Void, EtcdClientError>) {
        lock.lock()
        if outcome != nil {
            lock.unlock()
            return
        }
        outcome = result
        let waiter = self.waiter
        self.waiter = nil
        lock.unlock()
        guard let waiter else { return }
        switch result {
        case .success: waiter.resume(returning: nil)
        case .failure(let error): waiter.resume(throwing: error)
        }
    }

    /// The next message, or nil when the call ended successfully. Throws the call's error.
    func next() async throws -> [UInt8]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, Error>) in
                lock.lock()
                if queueHead < queue.count {
                    let message = queue[queueHead]
                    queue[queueHead] = []
                    queueHead += 1
                    if queueHead == queue.count {
                        queue.removeAll(keepingCapacity: true)
                        queueHead = 0
                    }
                    lock.unlock()
                    if !consumesOnReceipt { onConsume?(self, message.count + 5) }
                    continuation.resume(returning: message)
                    return
                }
                if cancelled {
                    lock.unlock()
                    continuation.resume(throwing: EtcdClientError(.cancelled, endpoint: "", "\(path) was cancelled"))
                    return
                }
                if let outcome {
                    lock.unlock()
                    switch outcome {
                    case .success: continuation.resume(returning: nil)
                    case .failure(let error): continuation.resume(throwing: error)
                    }
                    return
                }
                waiter = continuation
                lastProgress = max(lastProgress, .now)
                lock.unlock()
            }
        } onCancel: {
            cancel()
        }
    }

    /// The caller stops reading: the stream is reset with CANCEL and a waiting reader gets `.cancelled`.
    func cancel() {
        lock.lock()
        if cancelled || outcome != nil {
            lock.unlock()
            return
        }
        cancelled = true
        let waiter = self.waiter
        self.waiter = nil
        queue.removeAll()
        queueHead = 0
        lock.unlock()
        onCancel?(self)
        waiter?.resume(throwing: EtcdClientError(.cancelled, endpoint: "", "\(path) was cancelled"))
    }

    /// The gRPC outcome from the headers and trailers of a closed stream (I/O thread).
    func statusResult(resetCode: HTTP2ErrorCode, endpoint: String) -> Result<Void, EtcdClientError> {
        func value(_ name: String) -> String? {
            trailers.first { $0.0 == name }?.1 ?? responseHeaders.first { $0.0 == name }?.1
        }
        if let httpStatus = responseHeaders.first(where: { $0.0 == ":status" })?.1, httpStatus != "200" {
            return .failure(EtcdClientError(.protocolError, endpoint: endpoint,
                                            "\(path): HTTP status \(httpStatus) instead of a gRPC response"))
        }
        guard let statusText = value("grpc-status") else {
            if resetCode != .noError {
                let status = resetCode.grpcStatus
                return .failure(EtcdClientError(status == .internal ? .connectionClosed : .status(status),
                                                endpoint: endpoint,
                                                "\(path): stream reset by the server (\(resetCode)) after \(formatBytes(bytesReceived))"))
            }
            return .failure(EtcdClientError(.protocolError, endpoint: endpoint, "\(path): response ended without grpc-status"))
        }
        guard let code = Int(statusText) else {
            return .failure(EtcdClientError(.protocolError, endpoint: endpoint, "\(path): bad grpc-status \"\(statusText)\""))
        }
        if code == 0 {
            if decoder.bufferedBytes > 0 {
                return .failure(EtcdClientError(.protocolError, endpoint: endpoint,
                                                "\(path): response ended inside a message (\(decoder.bufferedBytes) bytes left over)"))
            }
            return .success(())
        }
        let message = value("grpc-message").map(GRPCFraming.percentDecoded) ?? ""
        return .failure(EtcdClientError.fromStatus(GRPCStatusCode(rawValue: code), message: message, endpoint: endpoint))
    }
}

extension EtcdClientError {
    /// Maps a gRPC status from etcd to an error kind, recognising etcd's auth and permission errors.
    static func fromStatus(_ code: GRPCStatusCode, message: String, endpoint: String) -> EtcdClientError {
        let text = message.isEmpty ? "\(code)" : message
        switch code {
        case .permissionDenied:
            return EtcdClientError(.permissionDenied, endpoint: endpoint,
                                   "permission denied (\(text)): the user's roles do not allow this; grant a role with access or use root")
        case .deadlineExceeded:
            return EtcdClientError(.deadlineExceeded, endpoint: endpoint, "etcd gave up: \(text)")
        case .invalidArgument where message.contains("authentication failed"):
            return EtcdClientError(.authenticationFailed, endpoint: endpoint,
                                   "authentication failed: wrong user name or password (\(text))")
        case .invalidArgument where message.contains("user name is empty"),
             .unauthenticated where message.contains("user name is empty"):
            return EtcdClientError(.authenticationRequired, endpoint: endpoint,
                                   "etcd has authentication enabled: pass --user (and the password via ETCDCTL_PASSWORD or the prompt)")
        case .failedPrecondition where message.contains("authentication is not enabled"):
            return EtcdClientError(.status(code), endpoint: endpoint,
                                   "authentication is not enabled on this etcd: drop --user (\(text))")
        default:
            return EtcdClientError(.status(code), endpoint: endpoint, "etcd returned \(code): \(text)")
        }
    }
}
