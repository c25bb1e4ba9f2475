import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Fresh scratch directories under one root per test process, removed when the process exits.
public enum TestDirectories {
    /// Every test process's root lives here; scripts/test uses this path to find leftover etcd processes.
    public static let base = "/tmp/etcd-console-tests"

    /// This process's root: /tmp/etcd-console-tests/<pid>.
    public static let root = URL(fileURLWithPath: "\(base)/\(getpid())", isDirectory: true)

    /// A fresh directory under /tmp/etcd-console-tests/<pid>/ (scripts/test's marker for leftovers), removed at exit.
    public static func make(_ prefix: String) throws -> URL {
        ExitCleanup.install()
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw EtcdTestSupportError("could not create the test root \(root.path): \(error)")
        }
        let safe = prefix.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" }
        var template = Array("\(root.path)/\(String(safe))-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw EtcdTestSupportError(
                "could not create a directory under \(root.path): \(String(cString: strerror(errno)))")
        }
        return URL(fileURLWithPath: String(cString: made), isDirectory: true)
    }
}

/// Every child process this library started and has not yet seen finish, so exit can end them.
final class SpawnedProcesses: @unchecked Sendable {
    /// The one list for this process.
    static let shared = SpawnedProcesses()

    private let lock = NSLock()
    private var running: [Int32: Process] = [:]
    /// Children spawned without Foundation's Process (sshd: it closes every inherited descriptor, which
    /// Foundation takes for its exit and then blocks its monitor thread waiting for it).
    private var spawned: Set<Int32> = []

    func record(pid: Int32) {
        ExitCleanup.install()
        lock.withLock { _ = spawned.insert(pid) }
    }

    func forget(pid: Int32) {
        lock.withLock { _ = spawned.remove(pid) }
    }

    /// Remembers a started process until `forget` or exit.
    func record(_ process: Process) {
        ExitCleanup.install()
        lock.withLock { running[process.processIdentifier] = process }
    }

    /// Drops a process that has finished or been waited for.
    func forget(_ pid: Int32) {
        lock.withLock { _ = running.removeValue(forKey: pid) }
    }

    /// Sends SIGKILL to every recorded process that Foundation has not yet seen exit.
    func killAll() {
        for pid in lock.withLock({ Array(spawned) }) { sendSignal(SIGKILL, to: pid) }
        let processes = lock.withLock { Array(running.values) }
        for process in processes where process.isRunning {
            sendSignal(SIGKILL, to: process.processIdentifier)
        }
    }
}

/// The exit hook: kills what is still running and removes this process's test root.
enum ExitCleanup {
    private static let installed: Void = {
        atexit { ExitCleanup.run() }
    }()

    /// Registers the exit hook once per process.
    static func install() {
        _ = installed
    }

    /// Runs at exit; ETCD_CONSOLE_KEEP_TEST_DIRS=1 keeps the directories for a post-mortem.
    static func run() {
        SpawnedProcesses.shared.killAll()
        if ProcessInfo.processInfo.environment["ETCD_CONSOLE_KEEP_TEST_DIRS"] == "1" {
            return
        }
        for _ in 0..<3 {
            // A process killed a moment ago may still be writing its last file; try again briefly.
            if (try? FileManager.default.removeItem(at: TestDirectories.root)) != nil { return }
            if !FileManager.default.fileExists(atPath: TestDirectories.root.path) { return }
            usleep(100_000)
        }
    }
}
