import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts and stops the demo's etcd "service". Pluggable: the demo runs a real etcd either as a plain child
/// process (`ProcessServiceController`, here) or through a `systemctl` stand-in that the console's restore
/// wizard can also drive (Recovery's `PracticeSystemctl`, once merged: it only needs this conformance).
public protocol DemoServiceController: Sendable {
    /// A directory to put first on the console's PATH (a `systemctl` stand-in), or nil when there is none.
    var binDirectory: String? { get }
    /// Declares `unit` to run `command` (program first).
    func define(unit: String, command: [String]) throws
    /// Starts the unit; returns once the process runs (not necessarily serves).
    func start(unit: String) throws
    /// Stops the unit: SIGTERM, then SIGKILL after 10 seconds. Stopping a stopped unit does nothing.
    func stop(unit: String)
    /// The pid of the unit's running process, or nil.
    func pid(unit: String) -> Int32?
    /// Where the unit's output goes.
    func logPath(unit: String) -> String
}

/// Runs each unit as a child process in its own process group (so a Ctrl-C meant for the console does not
/// reach etcd), output appended to `<directory>/<unit>.log`.
public final class ProcessServiceController: DemoServiceController, @unchecked Sendable {
    public let directory: String
    private let lock = NSLock()
    private var commands: [String: [String]] = [:]
    private var pids: [String: pid_t] = [:]

    public init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public var binDirectory: String? { nil }

    public func define(unit: String, command: [String]) throws {
        guard let program = command.first, program.hasPrefix("/") else {
            throw DemoError("a unit's command must start with an absolute program path, not \(command.first ?? "nothing")")
        }
        lock.withLock { commands[unit] = command }
    }

    public func logPath(unit: String) -> String { (directory as NSString).appendingPathComponent(unit + ".log") }

    public func start(unit: String) throws {
        guard let command = lock.withLock({ commands[unit] }) else { throw DemoError("unit \(unit) is not defined") }
        if pid(unit: unit) != nil { return }
        let log = open(logPath(unit: unit), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw DemoError("could not open \(logPath(unit: unit)): \(String(cString: strerror(errno)))") }
        defer { close(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = command.map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, argv, environ)
        guard result == 0 else { throw DemoError("could not start \(command[0]): \(String(cString: strerror(result)))") }
        lock.withLock { pids[unit] = pid }
    }

    public func stop(unit: String) {
        guard let pid = lock.withLock({ pids[unit] }) else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 where !reap(pid) { usleep(100_000) }
        if !reap(pid) {
            kill(pid, SIGKILL)
            while !reap(pid) { usleep(10_000) }
        }
        lock.withLock { pids[unit] = nil }
    }

    public func pid(unit: String) -> Int32? {
        guard let pid = lock.withLock({ pids[unit] }) else { return nil }
        if reap(pid) {
            lock.withLock { pids[unit] = nil }
            return nil
        }
        return pid
    }

    /// True when the child has exited (and is reaped now).
    private func reap(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid || (result < 0 && errno == ECHILD)
    }
}

public struct DemoError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
