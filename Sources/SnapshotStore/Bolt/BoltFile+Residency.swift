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
///
/// One budget for the whole process: every open `BoltFile` registers its mapping, and going over the limit releases
/// all of them before the baseline is measured again. (With a limit per file, measured process-wide, each file's
/// baseline took in the other's resident pages: two files read in turn, as `diff` does, raised each other's limit
/// by a budget at every release, 171 MiB for a diff of two 1.1 GB snapshots.)
final class BoltResidency: @unchecked Sendable {
    // @unchecked: the shared state is behind `Budget.lock`; base and length are immutable.

    /// File-backed bytes the process may hold (beyond those at open) before the mapping is released.
    static let residentBudget = 4 << 20
    /// How many bytes of page visits, or how many visits, between two looks at the resident set (a visit can
    /// map far more than it reads: 64 KiB of fault-around, or a whole large folio).
    static let checkInterval = 4 << 20
    static let checkEveryVisits = 4

    /// The process-wide state: the mappings open now, the limit, what was read since the last look.
    private final class Budget: @unchecked Sendable {
        let lock = NSLock()
        var mappings: [ObjectIdentifier: (base: UnsafeMutableRawPointer, length: Int)] = [:]
        var sinceCheck = 0
        var visitsSinceCheck = 0
        /// Re-measured after every release (see `release()`).
        var limit = 0
    }
    private static let budget = Budget()

    private let base: UnsafeMutableRawPointer
    private let length: Int

    init(base: UnsafeRawPointer, length: Int) {
        self.base = UnsafeMutableRawPointer(mutating: base)
        self.length = length
        let budget = Self.budget
        budget.lock.lock()
        defer { budget.lock.unlock() }
        if budget.mappings.isEmpty { budget.limit = (Self.fileBackedResidentBytes() ?? 0) + Self.residentBudget }
        budget.mappings[ObjectIdentifier(self)] = (self.base, length)
    }

    /// Takes the mapping out of the budget: call before unmapping it, so that no release advises an address range
    /// the process may have mapped again for something else (MADV_DONTNEED empties anonymous memory).
    func unregister() {
        let budget = Self.budget
        budget.lock.lock()
        budget.mappings[ObjectIdentifier(self)] = nil
        budget.lock.unlock()
    }

    deinit { unregister() }

    /// Notes that `count` bytes at `offset` of the mapping are being read.
    @inline(__always)
    func touch(offset: Int, count: Int) {
        let budget = Self.budget
        budget.lock.lock()
        defer { budget.lock.unlock() }
        budget.sinceCheck += count
        budget.visitsSinceCheck += 1
        guard budget.sinceCheck >= Self.checkInterval || budget.visitsSinceCheck >= Self.checkEveryVisits else { return }
        budget.sinceCheck = 0
        budget.visitsSinceCheck = 0
        if let resident = Self.fileBackedResidentBytes(), resident > budget.limit {
            Self.releaseAllMappings(budget)
        }
    }

    /// Releases every open mapping and takes the file-backed resident bytes left as the new baseline. They grow for
    /// reasons of their own (library code and data faulted in as the process runs, the digest's window): with
    /// the baseline taken once at open, the resident set soon stayed above the limit, and every check released
    /// the whole mapping again, 16,787 madvise calls for one 200 MB inspect (2.95x etcdutl; issue 13).
    /// Call with `budget.lock` held.
    private static func releaseAllMappings(_ budget: Budget) {
        for mapping in budget.mappings.values { _ = madvise(mapping.base, mapping.length, MADV_DONTNEED) }
        budget.sinceCheck = 0
        budget.visitsSinceCheck = 0
        if let resident = fileBackedResidentBytes() { budget.limit = resident + residentBudget }
    }

    /// Releases this mapping's resident pages (after a full pass).
    func releaseAll() {
        let budget = Self.budget
        budget.lock.lock()
        defer { budget.lock.unlock() }
        _ = madvise(base, length, MADV_DONTNEED)
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
