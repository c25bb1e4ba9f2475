#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Bounded memory for a mapped database (issue 13).
///
/// The file stays mapped whole, so every pointer the reader hands out (keys, values, the slices a
/// `LiveKeyIndex` keeps) stays valid for the object's life. What is bounded is the resident set: as the reader
/// visits pages it counts them, and every `checkInterval` bytes it reads how much of the process's memory is
/// file-backed (`/proc/self/statm`); above `residentBudget` (plus what was there at open: libraries) the mapping's
/// pages are released with `madvise(MADV_DONTNEED)`. For a read-only shared file mapping that only unmaps the
/// pages from this process: the addresses stay valid, and a later access maps the page again from the page cache
/// (or disk). Measuring instead of predicting covers what counting cannot see: the kernel mapping whole large
/// folios or 64 KiB around each fault, and reads through pointers kept from earlier. So a walk over an 8 GB file
/// holds about `residentBudget` of it at any time instead of the whole file.
final class BoltResidency: @unchecked Sendable {
    // @unchecked: all mutable state is behind `lock`.

    /// File-backed bytes the process may hold (beyond those at open) before the mapping is released.
    static let residentBudget = 4 << 20
    /// How many bytes of page visits, or how many visits, between two looks at the resident set (a visit can
    /// map far more than it reads: 64 KiB of fault-around, or a whole large folio).
    static let checkInterval = 4 << 20
    static let checkEveryVisits = 16

    private let lock = NSLock()
    private var sinceCheck = 0
    private var visitsSinceCheck = 0
    private let base: UnsafeMutableRawPointer
    private let length: Int
    /// Re-measured after every release (see `release()`).
    private var limit: Int

    init(base: UnsafeRawPointer, length: Int) {
        self.base = UnsafeMutableRawPointer(mutating: base)
        self.length = length
        limit = (Self.fileBackedResidentBytes() ?? 0) + Self.residentBudget
    }

    /// Notes that `count` bytes at `offset` of the mapping are being read.
    @inline(__always)
    func touch(offset: Int, count: Int) {
        lock.lock()
        defer { lock.unlock() }
        sinceCheck += count
        visitsSinceCheck += 1
        guard sinceCheck >= Self.checkInterval || visitsSinceCheck >= Self.checkEveryVisits else { return }
        sinceCheck = 0
        visitsSinceCheck = 0
        if let resident = Self.fileBackedResidentBytes(), resident > limit {
            release()
        }
    }

    /// Releases the mapping and takes the file-backed resident bytes left as the new baseline. They grow for
    /// reasons of their own (library code and data faulted in as the process runs, the digest's window): with
    /// the baseline taken once at open, the resident set soon stayed above the limit, and every check released
    /// the whole mapping again, 16,787 madvise calls for one 200 MB inspect (2.95x etcdutl; issue 13).
    private func release() {
        _ = madvise(base, length, MADV_DONTNEED)
        sinceCheck = 0
        visitsSinceCheck = 0
        if let resident = Self.fileBackedResidentBytes() { limit = resident + Self.residentBudget }
    }

    /// Releases the mapping's resident pages (after a full pass).
    func releaseAll() {
        lock.lock()
        defer { lock.unlock() }
        release()
    }

    /// The process's file-backed resident bytes (statm's third field, "shared": RssFile + RssShmem), or nil
    /// where /proc is not available.
    static func fileBackedResidentBytes() -> Int? {
        #if os(Linux)
        let fd = statmDescriptor
        guard fd >= 0 else { return nil }
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                      UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buffer) { raw -> Int? in
            let read = pread(fd, raw.baseAddress, raw.count, 0)
            guard read > 0 else { return nil }
            var field = 0
            var value = 0
            for index in 0..<read {
                let byte = raw[index]
                if byte == UInt8(ascii: " ") {
                    if field == 2 { return value * pageBytes }
                    field += 1
                    value = 0
                } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    value = value * 10 + Int(byte - UInt8(ascii: "0"))
                }
            }
            return nil
        }
        #else
        return nil
        #endif
    }

    private static let statmDescriptor: Int32 = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
    private static let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))
}

extension BoltFile {
    /// Releases the pages of the mapping this process holds and, with `dropPageCache`, drops the file from the
    /// page cache: call it when a pass over the file is done and it will not be read again soon (verify,
    /// inspect). Pointers handed out stay valid; reading through them later reads the file again.
    public func releaseMemory(dropPageCache: Bool) {
        residency.releaseAll()
        if dropPageCache { PageCache.drop(fd: fd) }
    }

    /// Counts bytes read through a pointer the reader handed out earlier (a value kept in an index and read
    /// later), so that memory stays bounded while a caller reads them.
    @inline(__always)
    func noteRead(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress else { return }
        let offset = start - base
        guard offset >= 0, offset < mappedLength else { return }
        residency.touch(offset: offset, count: min(bytes.count, mappedLength - offset))
    }
}
