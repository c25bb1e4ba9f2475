import Foundation
import SnapshotStore

/// A pass-through write stage that hashes and counts what goes through it (the object's SHA-256 and size as
/// uploaded, or the snapshot's as read).
final class DigestingSink: ByteSink {
    private let downstream: ByteSink
    private let hasher = SHA256Hasher()
    private(set) var count: Int64 = 0
    private(set) var digest: String?

    init(downstream: ByteSink) { self.downstream = downstream }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bytes)
        count += Int64(bytes.count)
        try downstream.write(bytes)
    }

    func finish() throws {
        digest = hasher.finalize().hexString
        try downstream.finish()
    }
}

/// A pass-through read stage that hashes and counts what is read through it; `drain()` reads the rest, so the
/// whole object's SHA-256 can be reported even when a later stage gave up on it.
final class DigestingSource: ByteSource {
    private let upstream: ByteSource
    private var hasher: SHA256Hasher? = SHA256Hasher()
    private(set) var count: Int64 = 0
    private(set) var digest: String?
    var progress: ((Int64) -> Void)?

    init(upstream: ByteSource) { self.upstream = upstream }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let got = try upstream.read(into: buffer)
        if got == 0 {
            if let hasher { digest = hasher.finalize().hexString }
            hasher = nil
        } else {
            hasher?.update(UnsafeRawBufferPointer(rebasing: buffer[..<got]))
            count += Int64(got)
            progress?(count)
        }
        return got
    }

    /// Reads to the end of the stream and returns the SHA-256 of everything read (nil if reading failed).
    func drain() -> String? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while hasher != nil {
            guard let got = try? read(into: buffer) else { return nil }
            if got == 0 { break }
        }
        return digest
    }
}

/// The end of a download that checks without keeping: the snapshot's SHA-256 and size, and etcd's trailer
/// (the last 32 bytes are the SHA-256 of everything before them), with 32 bytes held back at a time.
final class SnapshotDigestSink: ByteSink {
    private let whole = SHA256Hasher()
    private let body = SHA256Hasher()
    private var tail: [UInt8] = []
    private(set) var count: Int64 = 0
    private(set) var digest: String?
    /// True when the last 32 bytes are the SHA-256 of the bytes before them.
    private(set) var trailerMatches = false
    /// Where the bytes also go (a file being pulled), or nil.
    private let downstream: ByteSink?

    init(downstream: ByteSink? = nil) { self.downstream = downstream }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        whole.update(bytes)
        count += Int64(bytes.count)
        tail.append(contentsOf: bytes)
        if tail.count > 32 {
            let release = tail.count - 32
            tail.withUnsafeBytes { body.update(UnsafeRawBufferPointer(rebasing: $0[..<release])) }
            tail.removeFirst(release)
        }
        try downstream?.write(bytes)
    }

    func finish() throws {
        digest = whole.finalize().hexString
        trailerMatches = tail.count == 32 && body.finalize() == tail
        try downstream?.finish()
    }
}

/// The end of a pull: an `AtomicFileWriter` whose `finish()` does not commit, so the caller commits only after
/// the checksums match (and aborts otherwise: no `.part` left behind).
final class UncommittedFileSink: ByteSink {
    let writer: AtomicFileWriter
    init(path: String) throws { writer = try AtomicFileWriter(path: path, mode: 0o600) }
    func write(_ bytes: UnsafeRawBufferPointer) throws { try writer.write(bytes) }
    func finish() throws {}
}
