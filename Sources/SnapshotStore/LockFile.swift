import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on a file opened without following a link (mode 0600): the backup run lock and the
/// restore journal lock. The kernel drops it when the process exits, however it exits, so a crashed run never
/// leaves a stale lock. The holder writes its pid and start time into the file (in place: replacing the file
/// by rename would give the next run a different inode to lock) so a refused or waiting run can say who
/// holds it. flock locks belong to the open file, so two runs in one process exclude each other too.
public final class LockFile: @unchecked Sendable {
    public enum Attempt: Sendable {
        case acquired(LockFile)
        /// Held by another run: "pid N, started T" when the holder wrote it.
        case held(holder: String?)
    }

    public enum Failure: Error, Sendable {
        /// The file could not be opened (SafeFile's error: a planted link, a missing directory...).
        case open(SnapshotStoreError)
        /// flock failed for another reason than being held.
        case lock(errno: Int32)
    }

    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { release() }

    /// Takes the lock without waiting.
    public static func tryAcquire(_ path: String, pid: Int32 = getpid(), now: Date = Date()) throws(Failure) -> Attempt {
        let fd: Int32
        do throws(SnapshotStoreError) {
            fd = try SafeFile.open(path, flags: O_RDWR | O_CREAT, mode: 0o600)
        } catch {
            throw .open(error)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let err = errno
            let holder = readHolder(fd)
            close(fd)
            guard err == EWOULDBLOCK else { throw .lock(errno: err) }
            return .held(holder: holder)
        }
        let text = "\(pid) \(UTCCalendar.internetDateTime(now))\n"
        ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        return .acquired(LockFile(path: path, fd: fd))
    }

    /// Releases the lock (the file stays: removing it would race with a run that just opened it).
    public func release() {
        guard fd >= 0 else { return }
        ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    /// Who holds the lock at `path`, read without taking it (a probe that took it, even for an instant, could
    /// refuse a run starting then): the pid and start time the holder wrote, when that process is alive. A
    /// released lock is empty; a killed holder's text stays, but its pid is gone.
    public static func holder(_ path: String) -> String? {
        guard let fd = try? SafeFile.open(path, flags: O_RDONLY) else { return nil }
        defer { close(fd) }
        guard let holder = readHolder(fd), let pid = Int32(holder.dropFirst(4).prefix { $0 != "," }),
              kill(pid, 0) == 0 || errno == EPERM else { return nil }
        return holder
    }

    private static func readHolder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let parts = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: " ", maxSplits: 1)
        guard parts.count == 2, Int32(parts[0]) != nil else { return nil }
        return "pid \(parts[0]), started \(parts[1])"
    }
}
