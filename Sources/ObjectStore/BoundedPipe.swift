import Foundation
import SnapshotStore

/// Joins a push stage to a pull stage across two threads with a bounded buffer: the producer (GetObject's
/// sink) blocks when `capacity` bytes wait unread, the consumer (a decoder's source) blocks when none do.
/// A failure on either side reaches the other: `fail(_:)` makes the reader throw; `close()` by the reader
/// makes the producer's next write throw, which stops the transfer.
public final class BoundedPipe: ByteSink, ByteSource, @unchecked Sendable {
    public let capacity: Int
    private let condition = NSCondition()
    private var buffer: [UInt8] = []
    private var head = 0
    private var finished = false
    private var failure: Error?
    private var readerClosed = false

    public init(capacity: Int = 1 << 20) {
        self.capacity = capacity
        buffer.reserveCapacity(capacity)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        condition.lock()
        defer { condition.unlock() }
        while offset < bytes.count {
            while buffer.count - head >= capacity && !readerClosed { condition.wait() }
            if readerClosed { throw CodecError(.io, "the reader stopped reading") }
            if head > 0 && head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            } else if head > capacity {
                buffer.removeFirst(head)
                head = 0
            }
            let take = min(capacity - (buffer.count - head), bytes.count - offset)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
            offset += take
            condition.broadcast()
        }
    }

    public func finish() throws {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// The producer failed: the reader's next read throws `error` at once (buffered bytes are dropped: a
    /// failed download is not to be trusted).
    public func fail(_ error: Error) {
        condition.lock()
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    /// The reader is done (or gave up): the producer's next write throws.
    public func close() {
        condition.lock()
        readerClosed = true
        condition.broadcast()
        condition.unlock()
    }

    public func read(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        guard target.count > 0 else { return 0 }
        condition.lock()
        defer { condition.unlock() }
        while buffer.count == head && !finished && failure == nil { condition.wait() }
        if let failure { throw failure }
        let count = min(target.count, buffer.count - head)
        if count == 0 { return 0 }
        buffer.withUnsafeBytes { bytes in
            target.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[head..<(head + count)]))
        }
        head += count
        condition.broadcast()
        return count
    }
}

/// A GetObject as a pull source: the download runs on its own thread into a `BoundedPipe`, so readers
/// (AgeDecryptor, ZstdDecompressor, verify) pull from it with bounded memory and nothing written to disk.
public final class S3ObjectSource: ByteSource, @unchecked Sendable {
    private let pipe: BoundedPipe
    private let done = DispatchSemaphore(value: 0)

    public init(client: S3Client, bucket: String, key: String, bufferSize: Int = 1 << 20) {
        let pipe = BoundedPipe(capacity: bufferSize)
        self.pipe = pipe
        let done = self.done
        let thread = Thread {
            do {
                try client.getObject(bucket: bucket, key: key, into: pipe)
            } catch {
                pipe.fail(error)
            }
            done.signal()
        }
        thread.name = "etcd-console GetObject \(key)"
        thread.start()
    }

    deinit {
        pipe.close()
        done.wait()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try pipe.read(into: buffer)
    }
}
