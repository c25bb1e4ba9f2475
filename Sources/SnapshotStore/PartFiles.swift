import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The `.part` files this process is writing right now (`AtomicFileWriter` registers each), so a process that
/// ends before its save does (the console quitting mid-save, SIGTERM, SIGHUP, its terminal gone) removes them:
/// a save that did not finish leaves nothing behind, however the process ends.
///
/// `removeAll()` also closes the registry: from then on no new `.part` is started and no save is renamed to its
/// final name, so nothing appears after the cleanup. A rename that already happened stays (a complete snapshot).
public enum PartFiles {
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var paths: Set<String> = []
        var closing = false
    }

    private static let state = State()

    /// Records `path`; false when the process is ending (the caller must not start writing).
    static func register(_ path: String) -> Bool {
        state.lock.withLock {
            guard !state.closing else { return false }
            state.paths.insert(path)
            return true
        }
    }

    static func unregister(_ path: String) {
        _ = state.lock.withLock { state.paths.remove(path) }
    }

    /// Runs `rename` (moving `path` to its final name) unless the process is ending; false when it is.
    static func finishing(_ path: String, _ rename: () -> Void) -> Bool {
        state.lock.withLock {
            guard !state.closing else { return false }
            rename()
            state.paths.remove(path)
            return true
        }
    }

    /// The `.part` files being written, sorted.
    public static var inProgress: [String] { state.lock.withLock { state.paths.sorted() } }

    /// Removes every `.part` being written and refuses new saves and renames from now on. Returns the paths
    /// removed. Safe to call more than once and from any thread (a signal handler's dispatch queue).
    @discardableResult
    public static func removeAll() -> [String] {
        state.lock.withLock {
            state.closing = true
            let removed = state.paths.sorted()
            for path in removed { unlink(path) }
            state.paths.removeAll()
            return removed
        }
    }
}
