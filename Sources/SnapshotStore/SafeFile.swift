import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one way etcd-console opens a file it writes (snapshots and their `.part`, sidecars, the catalog cache,
/// the backup lock, progress record and history, the metrics textfile, the restore journal): never through a
/// symbolic link and never a FIFO or device.
///
/// The last path component is opened with `openat(2)` relative to its directory with `O_NOFOLLOW` (and
/// `O_CREAT | O_EXCL` where a new file is made), so a link planted under one of our names (by a user who could
/// write to the directory once) cannot redirect a root process's write onto `/etc/shadow`. Links higher up the
/// path (`/var/lib/etcd-backup -> /srv/backup`) are the operator's choice and are followed. A refusal names the
/// path: "refusing to open /x/.etcd-console-backup.lock: it is a symbolic link".
public enum SafeFile {
    /// Opens `path` for writing (or reading and writing) without following a link at its last component.
    /// `flags` are `O_WRONLY`/`O_RDWR` plus `O_CREAT`, `O_EXCL`, `O_APPEND`, `O_TRUNC` as needed; `O_NOFOLLOW` and
    /// `O_CLOEXEC` are always added. Anything but a regular file is refused. Returns the descriptor.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws(SnapshotStoreError) -> Int32 {
        let (directory, name) = split(path)
        let dfd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd < 0 { throw AtomicFileWriter.error(errno, flags & O_CREAT != 0 ? "cannot create \(path)" : "cannot open \(path)", path: path) }
        defer { close(dfd) }
        // O_NONBLOCK: opening a FIFO for writing must not wait for a reader; it is refused below anyway.
        let fd = openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode)
        if fd < 0 {
            let err = errno
            if err == ELOOP || ((err == EEXIST || err == ENXIO || err == ENOTDIR) && isSymbolicLink(dfd, name)) {
                throw symlinkRefusal(path)
            }
            if err == ENXIO || (err == EEXIST && !isRegular(dfd, name)) { throw notRegularRefusal(path) }
            if err == EEXIST {
                throw SnapshotStoreError(.exists, path: path, "cannot create \(path): it already exists")
            }
            throw AtomicFileWriter.error(err, flags & O_CREAT != 0 ? "cannot create \(path)" : "cannot open \(path)", path: path)
        }
        var info = stat()
        if fstat(fd, &info) != 0 || info.st_mode & S_IFMT != S_IFREG {
            close(fd)
            throw notRegularRefusal(path)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// Throws when `path` exists and is a symbolic link (or another non-regular file): called before a rename
    /// over a final name, which would otherwise silently replace whatever stands there.
    public static func refuseLink(at path: String) throws(SnapshotStoreError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFLNK: throw symlinkRefusal(path)
        default: throw notRegularRefusal(path)
        }
    }

    /// True when `path` exists (without following a link there) .
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func symlinkRefusal(_ path: String) -> SnapshotStoreError {
        SnapshotStoreError(.refused, path: path, "refusing to open \(path): it is a symbolic link (etcd-console never "
            + "writes through a link; remove it, and find out who planted it)")
    }

    static func notRegularRefusal(_ path: String) -> SnapshotStoreError {
        SnapshotStoreError(.refused, path: path, "refusing to open \(path): it is not a regular file (remove it or choose another path)")
    }

    private static func isSymbolicLink(_ dfd: Int32, _ name: String) -> Bool {
        var info = stat()
        return fstatat(dfd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    private static func isRegular(_ dfd: Int32, _ name: String) -> Bool {
        var info = stat()
        return fstatat(dfd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    private static func split(_ path: String) -> (directory: String, name: String) {
        let directory = (path as NSString).deletingLastPathComponent
        return (directory.isEmpty ? "." : directory, (path as NSString).lastPathComponent)
    }
}

extension SafeFile {
    /// Checks a directory etcd-console writes into (`what` names it for messages: "the snapshot directory").
    ///
    /// Refuses (`.refused`) a directory other users can write to (mode & 0o022) or that belongs to a user other
    /// than root and the user running etcd-console: either could plant links or swap files there. Returns a
    /// warning when `warnIfListable` and others can list it (mode & 0o005), since snapshots hold Secrets; nil when
    /// all is well or the directory does not exist (it will be created 0700).
    public static func checkDirectory(_ directory: String, what: String = "the snapshot directory",
                                      warnIfListable: Bool = true) throws(SnapshotStoreError) -> String? {
        var info = stat()
        guard stat(directory, &info) == 0 else { return nil }
        let mode = info.st_mode & 0o7777
        let octal = "0" + String(mode, radix: 8)
        let me = geteuid()
        if info.st_uid != 0 && info.st_uid != me {
            let owner = userName(info.st_uid).map { "\($0) (uid \(info.st_uid))" } ?? "uid \(info.st_uid)"
            let myself = userName(me) ?? String(me)
            throw SnapshotStoreError(.refused, path: directory,
                "refusing to use \(what) \(directory): it belongs to \(owner), not to root or to the user running "
                + "etcd-console, so its owner could plant or swap files there; run chown \(myself) \(directory) && chmod 700 \(directory)")
        }
        if mode & 0o022 != 0 {
            throw SnapshotStoreError(.refused, path: directory,
                "refusing to use \(what) \(directory): other users can write to it (mode \(octal)), so they could "
                + "plant or swap files there; run chmod 700 \(directory)")
        }
        if warnIfListable && mode & 0o005 != 0 {
            return "others can list \(what) \(directory) (mode \(octal)) and the snapshots in it hold Kubernetes "
                + "Secrets; run chmod 700 \(directory)"
        }
        return nil
    }

    /// Creates `directory` (and missing parents) with mode 0700, whatever the umask.
    public static func createDirectory(_ directory: String) throws(SnapshotStoreError) {
        var info = stat()
        if stat(directory, &info) == 0 { return }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != directory { try createDirectory(parent) }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw AtomicFileWriter.error(errno, "could not create the directory \(directory)", path: directory)
        }
        _ = chmod(directory, 0o700)
    }

    private static func userName(_ uid: uid_t) -> String? {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }
}
