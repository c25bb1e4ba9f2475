import EtcdClient
import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The one place files are written atomically: `<path>.part` created exclusively with the given
/// mode, written through a buffer, fsynced, renamed over nothing (an existing target is an error),
/// and the directory fsynced so the rename survives a power loss. `abort()` (or a failed commit)
/// removes the `.part`; the final name only ever holds complete, synced data.
public final class AtomicFileWriter {
    public let path: String
    public var partPath: String { path + ".part" }
    private var fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    /// Bytes handed to `write` so far.
    public private(set) var bytesWritten = 0
    /// Bytes written to the file so far, and how far writeback has been started (`PageCache.startWriteback`).
    private var bytesOnDisk = 0
    private var writebackStarted = 0
    static let writebackStep = 8 << 20
    private var finished = false

    /// Creates `<path>.part`. Fails when `path` exists or another writer holds the `.part`.
    public init(path: String, mode: mode_t = 0o600, bufferSize: Int = 1 << 20) throws(SnapshotStoreError) {
        self.path = path
        try SafeFile.refuseLink(at: path)
        if SafeFile.exists(path) {
            throw SnapshotStoreError(.exists, path: path, "\(path) already exists; snapshots are never overwritten")
        }
        let fd: Int32
        do throws(SnapshotStoreError) {
            fd = try SafeFile.open(path + ".part", flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        } catch where error.kind == .exists {
            throw SnapshotStoreError(.exists, path: path,
                                     "\(path).part exists: another save is running or one crashed; remove it if no save is running")
        }
        guard PartFiles.register(path + ".part") else {
            close(fd)
            unlink(path + ".part")
            throw SnapshotStoreError(.cancelled, path: path, "etcd-console is ending; \(path) was not started")
        }
        fchmod(fd, mode)  // not subject to the umask
        self.fd = fd
        self.buffer = .allocate(byteCount: bufferSize, alignment: 4096)
    }

    deinit {
        if !finished { abort() }
        buffer.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(SnapshotStoreError) {
        var offset = 0
        while offset < bytes.count {
            let n = min(buffer.count - buffered, bytes.count - offset)
            UnsafeMutableRawBufferPointer(rebasing: buffer[buffered..<(buffered + n)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
            buffered += n
            offset += n
            if buffered == buffer.count { try drain() }
        }
        bytesWritten += bytes.count
    }

    public func write(_ data: Data) throws(SnapshotStoreError) {
        let result = data.withUnsafeBytes { bytes in Result { () throws(SnapshotStoreError) in try write(bytes) } }
        try result.get()
    }

    private func drain() throws(SnapshotStoreError) {
        var offset = 0
        while offset < buffered {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffered - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.error(errno, "cannot write \(partPath) after \(formatBytes(bytesWritten - buffered + offset))", path: path)
            }
            offset += n
        }
        bytesOnDisk += buffered
        buffered = 0
        // Start writeback as the file grows, so the fsync at the end has little left and the disk sees a
        // steady stream rather than one burst competing with etcd's WAL fsyncs (issue 13).
        if bytesOnDisk - writebackStarted >= Self.writebackStep {
            PageCache.startWriteback(fd: fd, offset: writebackStarted, length: bytesOnDisk - writebackStarted)
            writebackStarted = bytesOnDisk
        }
    }

    /// Flushes, fsyncs, renames to the final name and fsyncs the directory.
    public func commit() throws(SnapshotStoreError) {
        do throws(SnapshotStoreError) {
            try drain()
            if fsync(fd) != 0 { throw Self.error(errno, "could not fsync \(partPath)", path: path) }
            close(fd)
            fd = -1
            try SafeFile.refuseLink(at: path)
            if SafeFile.exists(path) {
                throw SnapshotStoreError(.exists, path: path, "\(path) appeared while saving; not overwriting it")
            }
            var renamed: Int32 = -1
            var renameErrno: Int32 = 0
            let proceeded = PartFiles.finishing(partPath) {
                renamed = rename(partPath, path)
                renameErrno = errno
            }
            guard proceeded else {
                throw SnapshotStoreError(.cancelled, path: path, "etcd-console is ending; the save was stopped and nothing was saved")
            }
            if renamed != 0 { throw Self.error(renameErrno, "could not rename \(partPath) to \(path)", path: path) }
            finished = true
            try Self.syncDirectory(of: path)
        } catch {
            if !finished { abort() }
            throw error
        }
    }

    /// Closes and removes the `.part`. Safe to call more than once.
    public func abort() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        if !finished {
            unlink(partPath)
            PartFiles.unregister(partPath)
            finished = true
        }
    }

    /// Writes small contents (a sidecar, a metrics file) atomically in one go, replacing `path`.
    /// Refuses (`.refused`, naming the path) when `path` or its `.part` is a symbolic link or not a regular file.
    public static func replace(_ path: String, with data: Data, mode: mode_t = 0o600) throws(SnapshotStoreError) {
        let tmp = path + ".part"
        try SafeFile.refuseLink(at: path)
        try SafeFile.refuseLink(at: tmp)
        unlink(tmp)
        let fd = try SafeFile.open(tmp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        fchmod(fd, mode)
        let ok = data.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
        let err = errno
        if !ok || fsync(fd) != 0 {
            close(fd)
            unlink(tmp)
            throw error(ok ? errno : err, "cannot write \(tmp)", path: path)
        }
        close(fd)
        do throws(SnapshotStoreError) { try SafeFile.refuseLink(at: path) } catch { unlink(tmp); throw error }
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw error(e, "could not rename \(tmp) to \(path)", path: path)
        }
        try syncDirectory(of: path)
    }

    static func syncDirectory(of path: String) throws(SnapshotStoreError) {
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd < 0 { throw error(errno, "could not open directory \(dir) to fsync it", path: path) }
        defer { close(dfd) }
        if fsync(dfd) != 0 { throw error(errno, "could not fsync directory \(dir)", path: path) }
    }

    static func error(_ err: Int32, _ what: String, path: String) -> SnapshotStoreError {
        let reason = errnoDescription(err)
        switch err {
        case ENOSPC, EDQUOT:
            return SnapshotStoreError(.noSpace, path: path, "\(what): \(reason) (the disk is full; free space or choose another --dir)")
        case EACCES, EPERM, EROFS:
            return SnapshotStoreError(.io, path: path, "\(what): \(reason) (check the directory's owner and mode, or run as a user who may write there)")
        default:
            return SnapshotStoreError(.io, path: path, "\(what): \(reason)")
        }
    }
}
