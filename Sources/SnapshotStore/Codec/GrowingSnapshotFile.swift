import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// A snapshot being saved, read as it lands in its `.part` file: what lets the offsite upload run beside the save
/// (issue 14) without ever slowing it. The save writes at its own pace and only tells this object that the file
/// exists and, at the end, how it went; the reader follows the file, waiting when it has caught up, and sees the
/// end of the stream only once the saved file verified good (a failed or damaged save makes the reader throw, so
/// the upload is aborted and nothing is left in the bucket).
///
/// Reading the file rather than taking the bytes from the save's loop is the point: a slow or silent object store
/// makes the upload lag, never the save (whose etcd stream has a stall timeout of its own).
public final class GrowingSnapshotFile: @unchecked Sendable {
    public enum Outcome: Sendable {
        /// Saved and verified: the file's final size (db + trailer) and the SHA-256 the trailer holds.
        case good(size: Int64, trailer: [UInt8])
        /// The save failed, was interrupted or does not verify.
        case failed(String)
    }

    private let condition = NSCondition()
    private var partPath: String?
    private var member: SnapshotSaver.Source?
    private var outcome: Outcome?
    private var readFD: Int32 = -1
    private var openFailure: String?

    public init() {}

    // MARK: the save's side

    /// The `.part` file exists (called by the saver right after creating it) and the member it comes from.
    /// The file is opened for reading here, at once: a small snapshot can be saved, verified and renamed before
    /// the reader's thread gets to it (the open descriptor follows the file through the rename).
    public func opened(partPath: String, source: SnapshotSaver.Source) {
        let fd: Int32
        var failure: String?
        do throws(SnapshotStoreError) {
            fd = try SafeFile.open(partPath, flags: O_RDONLY)
        } catch {
            fd = -1
            failure = error.detail
        }
        condition.withLock {
            self.partPath = partPath
            self.member = source
            self.readFD = fd
            self.openFailure = failure
            condition.broadcast()
        }
    }

    deinit { if readFD >= 0 { close(readFD) } }

    /// How the save ended; the first call counts.
    public func finished(_ outcome: Outcome) {
        condition.withLock {
            if self.outcome == nil { self.outcome = outcome }
            condition.broadcast()
        }
    }

    // MARK: the reader's side

    /// Waits until the save has opened its file: the path and the member, or throws `CodecError(.io)` when the
    /// save ended first.
    public func waitForFile() throws -> (partPath: String, source: SnapshotSaver.Source) {
        try condition.withLock {
            while true {
                if let partPath, let member { return (partPath, member) }
                if case .failed(let reason)? = outcome { throw CodecError(.io, "the save failed: \(reason)") }
                if outcome != nil { throw CodecError(.io, "the save ended without telling which file it wrote") }
                condition.wait()
            }
        }
    }

    /// A source of the file's bytes (opened without following a link), ending where the verified file ends.
    public func reader() throws -> ByteSource {
        let (path, _) = try waitForFile()
        let (fd, failure) = condition.withLock { (readFD >= 0 ? dup(readFD) : -1, openFailure) }
        guard fd >= 0 else {
            throw CodecError(.io, "could not follow \(path) as it is saved: \(failure ?? errnoDescription(errno))")
        }
        return Reader(file: self, fd: fd, path: path)
    }

    fileprivate func currentOutcome(waitingUpTo timeout: TimeInterval) -> Outcome? {
        condition.withLock {
            if outcome == nil { _ = condition.wait(until: Date(timeIntervalSinceNow: timeout)) }
            return outcome
        }
    }

    private final class Reader: ByteSource {
        let file: GrowingSnapshotFile
        let fd: Int32
        let path: String
        var offset: Int64 = 0
        /// The last 32 bytes read: the trailer, once the end is reached.
        var tail: [UInt8] = []

        init(file: GrowingSnapshotFile, fd: Int32, path: String) {
            self.file = file
            self.fd = fd
            self.path = path
        }

        deinit { close(fd) }

        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            guard buffer.count > 0 else { return 0 }
            while true {
                // The outcome first: once it is known no more bytes come, so what pread returns next is all.
                let outcome = file.currentOutcome(waitingUpTo: 0)
                let got = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
                if got < 0 {
                    if errno == EINTR { continue }
                    throw CodecError(.io, "could not read \(path) as it is saved: \(errnoDescription(errno))")
                }
                if got > 0 {
                    offset += Int64(got)
                    remember(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
                    return got
                }
                switch outcome {
                case .failed(let reason)?:
                    throw CodecError(.io, "the save failed: \(reason)")
                case .good(let size, let trailer)?:
                    guard offset == size else {
                        throw CodecError(.io, "\(path) ended at \(offset) bytes, but the save wrote \(size)")
                    }
                    guard tail == trailer else {
                        throw CodecError(.io, "the last 32 bytes read from \(path) are not the SHA-256 trailer the save verified")
                    }
                    return 0
                case nil:
                    // Caught up with the save: wait for more bytes (or its end), a short wait at a time.
                    _ = file.currentOutcome(waitingUpTo: 0.02)
                }
            }
        }

        private func remember(_ bytes: UnsafeRawBufferPointer) {
            if bytes.count >= 32 {
                tail = Array(bytes[(bytes.count - 32)...])
            } else {
                tail = Array((tail + bytes).suffix(32))
            }
        }
    }
}
