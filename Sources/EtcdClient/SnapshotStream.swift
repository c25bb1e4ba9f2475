import Foundation

/// One piece of a snapshot as etcd sends it.
public struct SnapshotChunk: Sendable {
    /// Bytes of the database file (or, for the last chunk, the 32-byte SHA-256 trailer).
    public var blob: Data
    /// What etcd says is still to come after this chunk.
    public var remainingBytes: UInt64
}

/// The Maintenance/Snapshot server stream as an async sequence of chunks.
///
/// Memory stays bounded however large the database is: the HTTP/2 window only reopens as chunks
/// are taken, so a slow consumer (a slow disk) slows etcd down instead of filling memory.
/// Stop iterating (or cancel the task) and the stream is reset with CANCEL.
public final class SnapshotStream: AsyncSequence, Sendable {
    public typealias Element = SnapshotChunk
    private let call: GRPCCall
    /// The endpoint the snapshot comes from.
    public let endpoint: Endpoint

    /// The first message, already taken by `EtcdClient.snapshot` (nil: the stream ended at once); handed out
    /// by the first `next()`.
    private let first: FirstMessage

    init(call: GRPCCall, endpoint: Endpoint, first: [UInt8]?) {
        self.call = call
        self.endpoint = endpoint
        self.first = FirstMessage(first)
    }

    /// The first message, taken once.
    final class FirstMessage: @unchecked Sendable {
        private let lock = NSLock()
        private var message: [UInt8]??

        init(_ message: [UInt8]?) { self.message = .some(message) }

        /// `.some(message or nil)` the first time, then nil.
        func take() -> [UInt8]?? {
            lock.withLock {
                defer { message = nil }
                return message
            }
        }
    }

    deinit { call.cancel() }

    /// Stops the stream (RST_STREAM CANCEL) if it is still running.
    public func cancel() { call.cancel() }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: SnapshotStream

        public mutating func next() async throws -> SnapshotChunk? {
            let taken: [UInt8]?
            if let first = stream.first.take() { taken = first } else { taken = try await stream.call.next() }
            guard let message = taken else { return nil }
            do {
                let response = try Etcdserverpb_SnapshotResponse(serializedBytes: message)
                return SnapshotChunk(blob: response.blob, remainingBytes: response.remainingBytes)
            } catch {
                stream.call.cancel()
                throw EtcdClientError(.protocolError, endpoint: stream.endpoint.description,
                                      "snapshot stream: cannot decode a message: \(error)")
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

extension SnapshotStream {
    /// DATA bytes received so far, consumed or not (tests check back-pressure with it).
    var bytesReceivedForTesting: Int { call.bytesReceivedShared }
}
