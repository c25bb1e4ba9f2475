import Foundation
import SnapshotStore
import SystemSupport

/// The lock that keeps two runs off one restore journal: `LockFile` (flock, pid and start time inside) on
/// `<journal>.lock`, held by a restore, a resume or a rollback from its first journal record to its last.
///
/// Why: a cluster coordinator killed mid-run leaves its ssh sessions resuming their hosts; a new
/// `restore --cluster --resume` then resumes the same hosts. Without the lock both runs started etcd and the
/// second `systemctl start` failed. With it the second waits, then finds the journal finished.
enum RestoreLock {
    static func path(forJournal journalPath: String) -> String { journalPath + ".lock" }

    /// Takes the lock without waiting; `.held` names the holder. Throws `RestoreError(.journal)` when the
    /// lock file cannot be opened or locked.
    static func tryAcquire(journalPath: String) throws(RestoreError) -> LockFile.Attempt {
        let path = path(forJournal: journalPath)
        do throws(LockFile.Failure) {
            return try LockFile.tryAcquire(path)
        } catch {
            switch error {
            case .open(let error): throw RestoreError(.journal, "could not open the restore lock \(path): \(error.detail)")
            case .lock(let err): throw RestoreError(.journal, "could not lock \(path): \(errnoDescription(err))")
            }
        }
    }

    /// Waits for the lock up to `timeout` (real time: the holder is a real process), polling every 200 ms;
    /// `onWait` is told once, with the holder, when it has to wait. Throws `RestoreError(.journal)` naming
    /// the holder when the time runs out.
    static func acquire(journalPath: String, timeout: Duration,
                        onWait: (String) -> Void = { _ in }) async throws(RestoreError) -> LockFile {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var waiting = false
        while true {
            switch try tryAcquire(journalPath: journalPath) {
            case .acquired(let lock):
                return lock
            case .held(let holder):
                let holder = holder ?? "pid unknown"
                if !waiting {
                    waiting = true
                    onWait(holder)
                }
                guard clock.now < deadline else {
                    throw RestoreError(.journal, "another etcd-console restore (\(holder)) still holds \(path(forJournal: journalPath)) after \(formatDuration(timeout)); let it finish (or stop it), then run this again")
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
