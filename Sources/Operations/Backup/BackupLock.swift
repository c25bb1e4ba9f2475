import Foundation
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The lock that keeps two `etcd-console backup` runs on one snapshot directory from overlapping:
/// `flock(LOCK_EX | LOCK_NB)` on `<dir>/.etcd-console-backup.lock`. The kernel drops it when the process
/// exits, however it exits, so a crashed run never leaves a stale lock. The holder writes its pid and start
/// time into the file (in place: replacing the file by rename would give the next run a different inode to
/// lock) so a refused run can say who holds it.
public final class BackupLock: @unchecked Sendable {
    public static let fileName = ".etcd-console-backup.lock"

    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { release() }

    /// Takes the lock or throws `.held` (with the holder's pid and start time) without waiting.
    public static func acquire(directory: String, pid: Int32 = getpid(), now: Date = Date()) throws(BackupError) -> BackupLock {
        let path = (directory as NSString).appendingPathComponent(fileName)
        let fd: Int32
        do throws(SnapshotStoreError) {
            fd = try SafeFile.open(path, flags: O_RDWR | O_CREAT, mode: 0o600)
        } catch where error.kind == .refused {
            throw BackupError(.io, error.detail)
        } catch {
            let reason = error.detail.replacingOccurrences(of: "cannot create \(path): ", with: "")
            throw BackupError(.io, "could not open the lock file \(path): \(reason) (check that \(directory) exists and this user may write to it)")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            let holder = readHolder(fd)
            close(fd)
            if err == EWOULDBLOCK {
                let who = holder.map { "pid \($0.pid), started \($0.started)" } ?? "pid unknown"
                throw BackupError(.lockHeld, "another backup (\(who)) is running on \(directory); this run does nothing (lock \(path))")
            }
            throw BackupError(.io, "could not lock \(path): \(errnoDescription(err))")
        }
        let text = "\(pid) \(iso8601(now))\n"
        ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        return BackupLock(path: path, fd: fd)
    }

    /// Releases the lock (the file stays: removing it would race with a run that just opened it).
    public func release() {
        guard fd >= 0 else { return }
        ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    private static func readHolder(_ fd: Int32) -> (pid: String, started: String)? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let parts = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: " ", maxSplits: 1)
        guard parts.count == 2, Int32(parts[0]) != nil else { return nil }
        return (String(parts[0]), String(parts[1]))
    }
}

/// RFC 3339 UTC to the second.
func iso8601(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

/// A backup run failure, with the step it happened in.
public struct BackupError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Another run holds the lock.
        case lockHeld
        /// A file or directory could not be created, read or written.
        case io
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
