import Foundation
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The lock that keeps two `etcd-console backup` runs on one snapshot directory from overlapping:
/// `LockFile` (flock, pid and start time inside) on `<dir>/.etcd-console-backup.lock`, never waited for.
public final class BackupLock: @unchecked Sendable {
    public static let fileName = ".etcd-console-backup.lock"

    public var path: String { file.path }
    private let file: LockFile

    private init(_ file: LockFile) { self.file = file }

    /// Takes the lock or throws `.held` (with the holder's pid and start time) without waiting.
    public static func acquire(directory: String, pid: Int32 = getpid(), now: Date = Date()) throws(BackupError) -> BackupLock {
        let path = (directory as NSString).appendingPathComponent(fileName)
        let attempt: LockFile.Attempt
        do throws(LockFile.Failure) {
            attempt = try LockFile.tryAcquire(path, pid: pid, now: now)
        } catch {
            switch error {
            case .open(let error) where error.kind == .refused:
                throw BackupError(.io, error.detail)
            case .open(let error):
                let reason = error.detail.replacingOccurrences(of: "cannot create \(path): ", with: "")
                throw BackupError(.io, "could not open the lock file \(path): \(reason) (check that \(directory) exists and this user may write to it)")
            case .lock(let err):
                throw BackupError(.io, "could not lock \(path): \(errnoDescription(err))")
            }
        }
        switch attempt {
        case .acquired(let file):
            return BackupLock(file)
        case .held(let holder):
            throw BackupError(.lockHeld, "another backup (\(holder ?? "pid unknown")) is running on \(directory); this run does nothing (lock \(path))")
        }
    }

    /// Releases the lock.
    public func release() { file.release() }
}

/// RFC 3339 UTC to the second.
func iso8601(_ date: Date) -> String {
    UTCCalendar.internetDateTime(date)
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
