#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SystemSupport

/// The SHA-256 of a file's first `length` bytes, computed on a thread of its own so the caller can walk the
/// database meanwhile. The bytes are read through read-only mapped windows of `chunkSize`, one at a time, with
/// sequential read-ahead advice: no copy into a buffer, bounded memory, and the kernel reads ahead of the hasher.
final class ChecksumJob: @unchecked Sendable {
    // @unchecked: `outcome` is written once by the worker before `done` is signalled and read only after
    // `wait()` returns; the semaphore orders the two.

    struct ReadProblem: Error {
        let message: String
    }

    /// How much is handed to SHA-256 at a time.
    static let chunkSize = 4 << 20

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

    /// The digest of the first `length` bytes of `fd`, on the calling thread. Each `chunkSize` window is mapped,
    /// hashed and unmapped in turn, so the process never holds more than one window of the file (issue 13:
    /// bounded memory at any size), and the kernel reads ahead of the hasher (sequential advice).
    static func digest(fd: Int32, length: Int) -> Result<[UInt8], ReadProblem> {
        let hasher = SHA256Hasher()
        guard length > 0 else { return .success(hasher.finalize()) }
        PageCache.adviseSequential(fd: fd)
        var offset = 0
        while offset < length {
            let count = min(chunkSize, length - offset)
            guard let window = mmap(nil, count, PROT_READ, MAP_SHARED, fd, off_t(offset)), window != MAP_FAILED else {
                return digestByReading(fd: fd, from: offset, length: length, into: hasher)
            }
            _ = madvise(window, count, MADV_SEQUENTIAL)
            hasher.update(UnsafeRawBufferPointer(start: window, count: count))
            munmap(window, count)
            offset += count
        }
        return .success(hasher.finalize())
    }

    /// The fallback when the file cannot be mapped: large preads into one buffer.
    private static func digestByReading(fd: Int32, from start: Int, length: Int, into hasher: SHA256Hasher) -> Result<[UInt8], ReadProblem> {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var offset = start
        while offset < length {
            let read = pread(fd, buffer.baseAddress, min(buffer.count, length - offset), off_t(offset))
            if read < 0, errno == EINTR { continue }
            if read < 0 { return .failure(ReadProblem(message: errnoDescription(errno))) }
            if read == 0 { return .failure(ReadProblem(message: "the file ended at byte \(offset) while it was being read")) }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<read]))
            offset += read
        }
        return .success(hasher.finalize())
    }
}
