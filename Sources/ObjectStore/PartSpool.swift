import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One multipart part held in an unlinked temporary file instead of memory, with its SHA-256 (for SigV4) and
/// MD5 (Content-MD5) computed as the bytes arrive. The file is created in `directory` (the snapshot's own, on
/// disk: /tmp may be RAM) with O_TMPFILE, so it has no name to plant a link on and vanishes with the process;
/// its pages are dropped from the page cache after each part is sent. Memory: no part buffer at all (issue 13's
/// 64 MiB bound with 16 MiB parts).
final class PartSpool {
    let fd: Int32
    let directory: String
    private(set) var count = 0
    private var sha256 = SHA256()
    private var md5 = Insecure.MD5()

    /// O_TMPFILE as Linux defines it (__O_TMPFILE | O_DIRECTORY); Glibc's macro does not import.
    private static let tmpfileFlag: Int32 = 0o20000000 | O_DIRECTORY

    init(directory: String) throws(ObjectStoreError) {
        let fd = open(directory, Self.tmpfileFlag | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            throw ObjectStoreError(.stream, "could not make a temporary file for the upload's parts in \(directory): \(why)")
        }
        self.fd = fd
        self.directory = directory
    }

    deinit { close(fd) }

    func append(_ bytes: UnsafeRawBufferPointer) throws(ObjectStoreError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(count + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let why = String(cString: strerror(errno))
                throw ObjectStoreError(.stream, "could not write the upload's part to a temporary file in \(directory): \(why)")
            }
            done += n
        }
        sha256.update(bufferPointer: bytes)
        md5.update(bufferPointer: bytes)
        count += bytes.count
    }

    /// The part as the S3 client sends it: the file, its length and both digests.
    func body() -> SpooledBody {
        SpooledBody(fd: fd, length: count, sha256Hex: SigV4Signer.hex(sha256.finalize()),
                    md5Base64: Data(md5.finalize()).base64EncodedString())
    }

    /// Empties the file for the next part and drops its pages from the page cache.
    func reset() {
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        _ = ftruncate(fd, 0)
        count = 0
        sha256 = SHA256()
        md5 = Insecure.MD5()
    }
}

/// A request body read from a file descriptor from offset 0, with its digests already known.
struct SpooledBody {
    var fd: Int32
    var length: Int
    var sha256Hex: String
    var md5Base64: String
}
