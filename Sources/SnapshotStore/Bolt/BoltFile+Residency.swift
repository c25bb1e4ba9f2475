#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Bounded memory for a mapped database (issue 13).
///
/// The file stays mapped whole, so every pointer the reader hands out (keys, values, the slices a
/// `LiveKeyIndex` keeps) stays valid for the object's life. What is bounded is the resident set: each page the
/// reader visits is counted (at least 64 KiB, the kernel's fault-around), and once `residentBudget` bytes have
/// been touched the 2 MiB windows they lie in are released with `madvise(MADV_DONTNEED)`. For a read-only shared
/// file mapping that only unmaps the pages from this process: the addresses stay valid, and a later access maps
/// the page again from the page cache (or disk). So a walk over an 8 GB file holds about `residentBudget` of it
/// in the process at any time, instead of the whole file.
final class BoltResidency: @unchecked Sendable {
    // @unchecked: all mutable state is behind `lock`.

    /// Bytes of the mapping a reader may hold resident before the windows it touched are released.
    static let residentBudget = 24 << 20
    /// What one page visit can map: the kernel maps up to 16 pages around a fault (fault_around_bytes).
    static let minimumTouch = 64 << 10
    static let windowShift = 21  // 2 MiB windows

    private let lock = NSLock()
    private var windows: [Int] = []
    private var touched = 0
    private let base: UnsafeMutableRawPointer
    private let length: Int

    init(base: UnsafeRawPointer, length: Int) {
        self.base = UnsafeMutableRawPointer(mutating: base)
        self.length = length
        windows.reserveCapacity(Self.residentBudget / Self.minimumTouch + 2)
    }

    /// Notes that `count` bytes at `offset` of the mapping are being read.
    @inline(__always)
    func touch(offset: Int, count: Int) {
        let first = offset >> Self.windowShift
        let last = (offset + max(count, 1) - 1) >> Self.windowShift
        lock.lock()
        defer { lock.unlock() }
        if windows.last != first { windows.append(first) }
        if last != first {
            for window in (first + 1)...last { windows.append(window) }
        }
        touched += max(count, Self.minimumTouch)
        if touched >= Self.residentBudget { releaseLocked() }
    }

    /// Releases every window touched since the last release.
    func release() {
        lock.lock()
        defer { lock.unlock() }
        releaseLocked()
    }

    /// Releases the whole mapping's resident pages (after a full walk).
    func releaseAll() {
        lock.lock()
        defer { lock.unlock() }
        _ = madvise(base, length, MADV_DONTNEED)
        windows.removeAll(keepingCapacity: true)
        touched = 0
    }

    private func releaseLocked() {
        windows.sort()
        var index = 0
        while index < windows.count {
            let start = windows[index]
            var end = start
            while index + 1 < windows.count, windows[index + 1] <= end + 1 {
                index += 1
                end = max(end, windows[index])
            }
            let from = start << Self.windowShift
            let to = min(length, (end + 1) << Self.windowShift)
            if from < to { _ = madvise(base + from, to - from, MADV_DONTNEED) }
            index += 1
        }
        windows.removeAll(keepingCapacity: true)
        touched = 0
    }
}

extension BoltFile {
    /// Releases the pages of the mapping this process holds and drops the file from the page cache: call it
    /// when a pass over the file is done and it will not be read again soon (verify, inspect). Pointers handed
    /// out stay valid; reading through them later reads the file again.
    public func releaseMemory(dropPageCache: Bool) {
        residency.releaseAll()
        if dropPageCache { PageCache.drop(fd: fd) }
    }
}

extension BoltFile {
    /// Counts bytes read through a pointer the reader handed out earlier (a value kept in an index and read
    /// later), so that they too are released as the reading moves on.
    @inline(__always)
    func noteRead(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress else { return }
        let offset = start - base
        guard offset >= 0, offset < mappedLength else { return }
        residency.touch(offset: offset, count: min(bytes.count, mappedLength - offset))
    }
}
