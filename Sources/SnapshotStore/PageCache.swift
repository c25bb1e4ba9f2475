#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Leaving the page cache to etcd: the files we write or read are dropped from it once we are done with them,
/// so a backup does not push etcd's working set out of memory (issue 13).
///
/// `POSIX_FADV_DONTNEED` drops only clean pages that no process has mapped: pages etcd has mapped (it maps its
/// whole db) stay, dirty pages stay until written back. So dropping is always safe; it can only cost a re-read.
public enum PageCache {
    /// Drops the cached pages of the open file `fd` (the whole file).
    public static func drop(fd: Int32) {
        #if os(Linux)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        #endif
    }

    /// Drops the cached pages of the file at `path`; a file that cannot be opened is left alone.
    public static func drop(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return }
        drop(fd: fd)
    }

    /// Tells the kernel `fd` will be read once, front to back (larger read-ahead).
    static func adviseSequential(fd: Int32) {
        #if os(Linux)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
    }

    /// Starts writing back `length` bytes at `offset` of `fd` without waiting, so the final fsync has little
    /// left to do and the disk sees a steady stream instead of one burst (which would stall etcd's WAL fsyncs).
    static func startWriteback(fd: Int32, offset: Int, length: Int) {
        #if os(Linux)
        _ = syncFileRange?(fd, Int64(offset), Int64(length), syncFileRangeWrite)
        #endif
    }

    #if os(Linux)
    // sync_file_range is a GNU extension the Glibc module does not import: looked up once by name.
    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    private static let syncFileRangeWrite: UInt32 = 2  // SYNC_FILE_RANGE_WRITE
    private static let syncFileRange: SyncFileRange? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: SyncFileRange.self)
    }()
    #endif
}
