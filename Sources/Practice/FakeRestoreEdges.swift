import Foundation
import Recovery

// Fakes of the restore executor's edges (`RestoreFileSystem`, `EtcdHealthProbe`, `RestoreClock`), shipped
// here beside the scripted runner so every test of a restore uses the same ones.

/// An in-memory file system: a set of paths (a directory exists while anything below it does), moves that
/// can be made to fail one by one, free space and sizes as set. Not a general file system: enough for the
/// executor's moves, checks and chown.
public final class FakeRestoreFileSystem: RestoreFileSystem, @unchecked Sendable {
    private let lock = NSLock()
    private var paths: Set<String>
    private var sizes: [String: Int64] = [:]
    private var executables: Set<String> = []
    private var moveFailures: [String: String] = [:]
    private var chownFailures: [String: String] = [:]
    private var log: [String] = []
    private var freeBytes: Int64

    public init(paths: [String] = [], freeBytes: Int64 = 100 << 30) {
        self.paths = Set(paths)
        self.freeBytes = freeBytes
    }

    // MARK: arranging

    /// Makes `path` (and so its parents) exist.
    public func create(_ path: String, size: Int64? = nil, executable: Bool = false) {
        lock.withLock {
            paths.insert(path)
            if let size { sizes[path] = size }
            if executable { executables.insert(path) }
        }
    }

    /// The next move of `source` to `destination` fails with `reason` (the errno text), once.
    public func failMove(from source: String, to destination: String, reason: String = "Permission denied") {
        lock.withLock { moveFailures[source + "\u{0}" + destination] = reason }
    }

    /// Every chown of `path` fails with `reason`.
    public func failChown(_ path: String, reason: String = "Operation not permitted") {
        lock.withLock { chownFailures[path] = reason }
    }

    public func setFreeBytes(_ bytes: Int64) { lock.withLock { freeBytes = bytes } }

    /// What changed, in order: "move A -> B", "chown P 0:0", "chmod P 0700".
    public var changes: [String] { lock.withLock { log } }

    /// The paths below `directory` (relative), sorted: what a directory holds.
    public func contents(of directory: String) -> [String] {
        lock.withLock {
            paths.filter { $0.hasPrefix(directory + "/") }.map { String($0.dropFirst(directory.count + 1)) }.sorted()
        }
    }

    // MARK: RestoreFileSystem

    public func exists(_ path: String) -> Bool { lock.withLock { existsLocked(path) } }

    private func existsLocked(_ path: String) -> Bool {
        paths.contains(path) || paths.contains { $0.hasPrefix(path + "/") }
    }

    public func isExecutable(_ path: String) -> Bool { lock.withLock { executables.contains(path) } }

    public func size(of path: String) -> Int64? { lock.withLock { sizes[path] } }

    public func freeSpace(near path: String) throws -> (directory: String, bytes: Int64) {
        lock.withLock {
            var directory = path.isEmpty ? "/" : path
            while !existsLocked(directory) && directory != "/" {
                directory = (directory as NSString).deletingLastPathComponent
            }
            return (directory, freeBytes)
        }
    }

    public func move(_ source: String, to destination: String) throws {
        try lock.withLock {
            let key = source + "\u{0}" + destination
            if let reason = moveFailures.removeValue(forKey: key) {
                throw RestoreError(.fileSystem, "could not move \(source) to \(destination): \(reason)")
            }
            guard existsLocked(source) else {
                throw RestoreError(.fileSystem, "could not move \(source) to \(destination): No such file or directory")
            }
            guard !existsLocked(destination) else {
                throw RestoreError(.fileSystem, "could not move \(source) to \(destination): Directory not empty")
            }
            let moved = paths.filter { $0 == source || $0.hasPrefix(source + "/") }
            for path in moved {
                paths.remove(path)
                let renamed = destination + path.dropFirst(source.count)
                paths.insert(renamed)
                if let size = sizes.removeValue(forKey: path) { sizes[renamed] = size }
                if executables.remove(path) != nil { executables.insert(renamed) }
            }
            log.append("move \(source) -> \(destination)")
        }
    }

    public func chownTree(_ root: String, uid: UInt32, gid: UInt32) throws {
        try lock.withLock {
            if let reason = chownFailures[root] {
                throw RestoreError(.fileSystem, "could not chown \(root) to \(uid):\(gid): \(reason)")
            }
            guard existsLocked(root) else {
                throw RestoreError(.fileSystem, "could not chown \(root) to \(uid):\(gid): No such file or directory")
            }
            log.append("chown \(root) \(uid):\(gid)")
        }
    }

    public func chmod(_ path: String, mode: UInt16) throws {
        try lock.withLock {
            guard existsLocked(path) else {
                throw RestoreError(.fileSystem, "could not chmod \(path): No such file or directory")
            }
            log.append("chmod \(path) \(DirectoryOwnership.octal(mode))")
        }
    }
}

/// An etcd that answers as the test says: `answers` decides, at each call, whether etcd is up (a test ties it
/// to which data dir is in place); `state` is what the verify step reads; `open` is which endpoints still
/// accept connections after a stop.
public final class FakeEtcdHealthProbe: EtcdHealthProbe, @unchecked Sendable {
    /// The error a probe of a down etcd throws.
    public struct Down: Error, CustomStringConvertible {
        public init() {}
        public var description: String { "could not reach etcd: connection refused (fake etcd is down)" }
    }

    private let lock = NSLock()
    private var answersRule: @Sendable () -> Bool
    private var stateRule: @Sendable () -> RestoredEtcdState
    private var podKeys: [String]
    private var openEndpoints: Set<String> = []
    private var healthCalls = 0

    public init(answers: @escaping @Sendable () -> Bool = { true },
                state: @escaping @Sendable () -> RestoredEtcdState,
                podKeys: [String] = []) {
        self.answersRule = answers
        self.stateRule = state
        self.podKeys = podKeys
    }

    public func setAnswers(_ rule: @escaping @Sendable () -> Bool) { lock.withLock { answersRule = rule } }
    public func setState(_ rule: @escaping @Sendable () -> RestoredEtcdState) { lock.withLock { stateRule = rule } }
    /// Something keeps answering on `endpoint` (another process holds the port).
    public func keepOpen(_ endpoint: String) { lock.withLock { _ = openEndpoints.insert(endpoint) } }
    /// How often `health` was asked.
    public var healthChecks: Int { lock.withLock { healthCalls } }

    private var isUp: Bool {
        let rule = lock.withLock { answersRule }
        return rule()
    }

    public func health() async throws -> EtcdHealth {
        lock.withLock { healthCalls += 1 }
        guard isUp else { throw Down() }
        let state = lock.withLock { stateRule }()
        return EtcdHealth(version: "3.5.0-fake", revision: state.revision)
    }

    public func restoredState() async throws -> RestoredEtcdState {
        guard isUp else { throw Down() }
        return lock.withLock { stateRule }()
    }

    public func keys(prefix: String) async throws -> [String] {
        guard isUp else { throw Down() }
        return lock.withLock { podKeys.filter { $0.hasPrefix(prefix) } }
    }

    public func accepts(_ endpoint: String) -> Bool { lock.withLock { openEndpoints.contains(endpoint) } }
}

/// A clock that moves only when the code under test sleeps: a 60 s wait takes no time, and its deadline is
/// reached exactly.
public final class FakeRestoreClock: RestoreClock, @unchecked Sendable {
    private let lock = NSLock()
    private let start = ContinuousClock.now
    private let startDate: Date
    private var elapsed: Duration = .zero

    public init(date: Date = Date(timeIntervalSince1970: 1_800_000_000)) { startDate = date }

    public var now: ContinuousClock.Instant { lock.withLock { start + elapsed } }

    public var date: Date {
        lock.withLock {
            let (seconds, attoseconds) = elapsed.components
            return startDate.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
        }
    }

    /// How much fake time the code under test waited.
    public var waited: Duration { lock.withLock { elapsed } }

    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        lock.withLock { elapsed += duration }
        await Task.yield()
    }
}
