#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The SHA-256 of a file's first `length` bytes, computed on a thread of its own so the caller can walk the
/// database meanwhile. The bytes are read through a private read-only mapping in large chunks, with
/// sequential read-ahead advice: no copy into a buffer, and on a cold file the kernel reads ahead of the hasher.
final class ChecksumJob: @unchecked Sendable {
    // @unchecked: `outcome` is written once by the worker before `done` is signalled and read only after
    // `wait()` returns; the semaphore orders the two.

    struct ReadProblem: Error {
        let message: String
    }

    /// How much is handed to SHA-256 at a time.
    static let chunkSize = 8 << 20

    private let done = DispatchSemaphore(value: 0)
    private var outcome: Result<[UInt8], ReadProblem> = .failure(ReadProblem(message: "not computed"))

    /// Starts hashing; `fd` must stay open until `wait()` returns.
    static func start(fd: Int32, length: Int) -> ChecksumJob {
        let job = ChecksumJob()
        let thread = Thread {
            job.outcome = digest(fd: fd, length: length)
            job.done.signal()
        }
        thread.name = "snapshot-sha256"
        thread.start()
        return job
    }

    func wait() -> Result<[UInt8], ReadProblem> {
        done.wait()
        return outcome
    }

    /// The digest of the first `length` bytes of `fd`, on the calling thread.
    static func digest(fd: Int32, length: Int) -> Result<[UInt8], ReadProblem> {
        let hasher = SHA256Hasher()
        guard length > 0 else { return .success(hasher.finalize()) }
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            return digestByReading(fd: fd, length: length, into: hasher)
        }
        defer { munmap(mapping, length) }
        _ = madvise(mapping, length, MADV_SEQUENTIAL)
        var offset = 0
        while offset < length {
            let count = min(chunkSize, length - offset)
            hasher.update(UnsafeRawBufferPointer(start: mapping + offset, count: count))
            offset += count
        }
        return .success(hasher.finalize())
    }

    /// The fallback when the file cannot be mapped: large preads into one buffer.
    private static func digestByReading(fd: Int32, length: Int, into hasher: SHA256Hasher) -> Result<[UInt8], ReadProblem> {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < length {
            let read = pread(fd, buffer.baseAddress, min(chunkSize, length - offset), off_t(offset))
            if read < 0, errno == EINTR { continue }
            if read < 0 { return .failure(ReadProblem(message: String(cString: strerror(errno)))) }
            if read == 0 { return .failure(ReadProblem(message: "the file ended at byte \(offset) while it was being read")) }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<read]))
            offset += read
        }
        return .success(hasher.finalize())
    }
}
