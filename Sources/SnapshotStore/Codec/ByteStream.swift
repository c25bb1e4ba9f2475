import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The downstream end of a write pipeline stage: bytes go in, `finish()` flushes and closes the stage and
/// every stage below it. Stages compose: `ZstdCompressor(downstream: AgeEncryptor(downstream: file))`.
/// Each stage holds one bounded buffer (a few hundred KiB at most), whatever the stream's length.
public protocol ByteSink: AnyObject {
    /// Takes `bytes`; the stage may keep them in its bounded buffer until it has enough to pass on.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Flushes what is buffered, writes the stage's trailer, and finishes the downstream sink.
    func finish() throws
}

extension ByteSink {
    /// Writes a `Data` value (convenience for tests and small headers).
    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }
}

/// The upstream end of a read pipeline stage: fills a caller's buffer, returning 0 only at the end of the stream.
/// Stages compose the other way round: `ZstdDecompressor(upstream: AgeDecryptor(upstream: file))`.
public protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes; 0 means the stream ended cleanly (a damaged end throws instead).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// Reads until the buffer is full or the stream ends; returns how many bytes were read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let got = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if got == 0 { break }
            filled += got
        }
        return filled
    }

    /// Reads the whole stream into memory: for tests and small objects (manifests) only.
    public func readAll(chunkSize: Int = 64 << 10) throws -> Data {
        var result = Data()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let got = try read(into: buffer)
            if got == 0 { return result }
            result.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<got]))
        }
    }

    /// Pumps the whole stream into `sink` through one buffer of `chunkSize` bytes, then finishes the sink.
    /// Returns the number of bytes moved.
    @discardableResult
    public func pump(into sink: ByteSink, chunkSize: Int = 256 << 10) throws -> Int {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let got = try read(into: buffer)
            if got == 0 { break }
            try sink.write(UnsafeRawBufferPointer(rebasing: buffer[..<got]))
            total += got
        }
        try sink.finish()
        return total
    }
}

/// Why a compressed or encrypted stream could not be written or read, with where it went wrong.
public struct CodecError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Reading or writing the underlying file failed.
        case io
        /// zstd reported an error, or the compressed data is damaged or truncated.
        case zstd
        /// The data is not an age v1 file, or its header is malformed.
        case ageFormat
        /// An `age1...` recipient or `AGE-SECRET-KEY-1...` identity could not be parsed.
        case ageKey
        /// None of the identities can unwrap the file key.
        case ageNoMatchingIdentity
        /// The header MAC or a payload chunk failed authentication (tampered or truncated file).
        case ageAuthentication
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail }
}

/// Reads a file descriptor opened from a path; closes it on deinit.
public final class FileByteSource: ByteSource {
    public let path: String
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CodecError(.io, "could not open \(path) for reading: \(errnoDescription(errno))")
        }
        self.fd = fd
    }

    /// Reads `fd` (already open; closed on deinit); `path` names it in errors.
    public init(fd: Int32, path: String) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            let got = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if got >= 0 { return got }
            if errno == EINTR { continue }
            throw CodecError(.io, "could not read \(path): \(errnoDescription(errno))")
        }
    }
}

/// A source over bytes already in memory (manifests, tests).
public final class DataByteSource: ByteSource {
    private let data: Data
    private var offset = 0

    public init(_ data: Data) { self.data = data }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, data.count - offset)
        guard count > 0 else { return 0 }
        data.withUnsafeBytes { bytes in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
        }
        offset += count
        return count
    }
}

/// A sink that collects everything in memory (tests and small objects only).
public final class DataByteSink: ByteSink {
    public private(set) var data = Data()
    public private(set) var finished = false

    public init() {}

    public func write(_ bytes: UnsafeRawBufferPointer) throws { data.append(contentsOf: bytes) }
    public func finish() throws { finished = true }
}

/// The end of a write pipeline on disk: an `AtomicFileWriter` (`.part`, fsync, rename, 0600); `finish()` commits.
/// On a failure the caller calls `abort()` so no `.part` is left behind.
public final class AtomicFileSink: ByteSink {
    public let writer: AtomicFileWriter

    public init(path: String, mode: mode_t = 0o600) throws {
        writer = try AtomicFileWriter(path: path, mode: mode)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws { try writer.write(bytes) }
    public func finish() throws { try writer.commit() }
    public func abort() { writer.abort() }
}
