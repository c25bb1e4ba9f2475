import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One external command to run: a program name (looked up on the runner's PATH) or an absolute path.
public struct ProcessRequest: Sendable, Equatable, CustomStringConvertible {
    public var program: String
    public var arguments: [String]
    /// Variables added to (or replacing) the runner's environment for this command.
    public var environment: [String: String]
    public var timeout: Duration

    public init(_ program: String, _ arguments: [String], environment: [String: String] = [:],
                timeout: Duration = .seconds(60)) {
        self.program = program
        self.arguments = arguments
        self.environment = environment
        self.timeout = timeout
    }

    /// The command as an operator would type it (words with spaces or quotes are single-quoted).
    public var description: String {
        let prefix = environment.keys.sorted().map { "\($0)=\(shellQuoted(environment[$0]!))" }
        return (prefix + [program] + arguments.map(shellQuoted)).joined(separator: " ")
    }
}

/// Quotes `word` for a POSIX shell when it needs it.
public func shellQuoted(_ word: String) -> String {
    let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_./=:,@%+"))
    if !word.isEmpty && word.unicodeScalars.allSatisfy({ safe.contains($0) }) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// How a command ended: its exit status and everything it wrote (stdout and stderr interleaved).
public struct ProcessOutcome: Sendable, Equatable {
    public var status: Int32
    public var output: String
    public var timedOut: Bool

    public init(status: Int32, output: String, timedOut: Bool = false) {
        self.status = status
        self.output = output
        self.timedOut = timedOut
    }

    public var succeeded: Bool { status == 0 && !timedOut }

    /// The last lines of the output, for an error message.
    public func tail(_ lines: Int = 5) -> String {
        output.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }
}

/// Runs external commands (systemctl, etcdutl, etcdctl, kubectl) for the restore executor. The real one
/// is `SystemProcessRunner`; tests of plans and UIs use `ScriptedProcessRunner`.
public protocol ProcessRunner: Sendable {
    /// Runs the command to its end or its timeout (then kills it), calling `onLine` for each output line.
    /// Throws `ProcessLaunchError` only when the program cannot be started at all.
    func run(_ request: ProcessRequest, onLine: @escaping @Sendable (String) -> Void) async throws -> ProcessOutcome
    /// The absolute path `program` resolves to on this runner's PATH, or nil.
    func locate(_ program: String) -> String?
    /// Every absolute path `program` resolves to, in PATH order (a broken first one need not hide the next).
    func locateAll(_ program: String) -> [String]
    /// The directories a bare program name is looked up in, for messages ("looked in: ...").
    var searchPath: [String] { get }
}

extension ProcessRunner {
    public func locateAll(_ program: String) -> [String] { locate(program).map { [$0] } ?? [] }
    public var searchPath: [String] { ["PATH"] }

    public func run(_ request: ProcessRequest) async throws -> ProcessOutcome {
        try await run(request, onLine: { _ in })
    }
}

/// Runs real processes with posix_spawn: stdin /dev/null, stdout and stderr into one pipe, in their own
/// process group (killed with SIGKILL at the timeout), SIGPIPE back to default. It waits for the process
/// itself, not for its output to end, so a daemon a command starts (`systemctl start`) that keeps an
/// inherited descriptor cannot make the runner hang.
public struct SystemProcessRunner: ProcessRunner {
    public let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func locate(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        return locateAll(program).first
    }

    public var searchPath: [String] {
        let path = environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    public func locateAll(_ program: String) -> [String] {
        if program.contains("/") { return locate(program).map { [$0] } ?? [] }
        var found: [String] = []
        for directory in searchPath {
            let candidate = "\(directory)/\(program)"
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate), !found.contains(candidate) {
                found.append(candidate)
            }
        }
        return found
    }

    public func run(_ request: ProcessRequest, onLine: @escaping @Sendable (String) -> Void) async throws -> ProcessOutcome {
        guard let executable = locate(request.program) else {
            throw ProcessLaunchError("\(request.program) not found (PATH=\(environment["PATH"] ?? ""))")
        }
        let variables = environment.merging(request.environment) { _, new in new }
        let timeout = request.timeout
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try Self.spawnAndWait(executable, request.arguments, variables, timeout, onLine))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }

    /// The descriptors open in this process now (from /proc/self/fd).
    static func openDescriptors() -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return [] }
        return names.compactMap { Int32($0) }.filter { fcntl($0, F_GETFD) >= 0 }
    }

    private static func spawnAndWait(_ executable: String, _ arguments: [String], _ environment: [String: String],
                                     _ timeout: Duration, _ onLine: @escaping @Sendable (String) -> Void) throws -> ProcessOutcome {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw ProcessLaunchError("could not start \(executable): pipe: \(errnoDescription(errno))")
        }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        // The child gets only 0, 1 and 2: a daemon it starts must not keep a descriptor of ours (a caller waiting
        // for one of them to close would wait for the daemon).
        for fd in Self.openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGINT)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        // ETXTBSY: a script written a moment ago is still open for writing in a child another thread of this
        // process is forking; that descriptor closes at the child's exec, so try again briefly.
        var spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        for _ in 0..<40 where spawned == ETXTBSY {
            usleep(25_000)
            spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw ProcessLaunchError("could not start \(executable): \(errnoDescription(spawned))")
        }

        let child = pid
        let collector = OutputCollector(onLine: onLine)
        let exited = Locked<Int32?>(nil)
        let waiter = Thread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            exited.withLock { $0 = status }
        }
        waiter.start()

        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let deadline = Date().addingTimeInterval(seconds)
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        var open = true
        while true {
            if open {
                var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 100) > 0 {
                    let count = read(fds[0], &buffer, buffer.count)
                    if count > 0 { collector.append(Data(buffer[0..<count])); continue }
                    if count == 0 { open = false }
                }
            } else {
                usleep(20_000)
            }
            if exited.withLock({ $0 }) != nil {
                // Take what is already in the pipe, then stop: a daemon may hold its write end forever.
                _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
                while open {
                    let count = read(fds[0], &buffer, buffer.count)
                    if count <= 0 { break }
                    collector.append(Data(buffer[0..<count]))
                }
                break
            }
            if !timedOut && Date() >= deadline {
                timedOut = true
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
            }
        }
        close(fds[0])
        collector.finish()
        let status = exited.withLock { $0 } ?? 0
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ProcessOutcome(status: exitStatus, output: collector.text, timedOut: timedOut)
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&value) } }
}

/// Collects a child's output and hands out complete lines as they arrive.
private final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var pending = Data()
    private let onLine: @Sendable (String) -> Void

    init(onLine: @escaping @Sendable (String) -> Void) { self.onLine = onLine }

    func append(_ chunk: Data) {
        var lines: [String] = []
        lock.withLock {
            data.append(chunk)
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
            }
        }
        lines.forEach(onLine)
    }

    func finish() {
        let last: String? = lock.withLock {
            defer { pending.removeAll() }
            return pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self)
        }
        if let last { onLine(last) }
    }

    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

/// A program could not be started at all (not found, not executable, no pipe): the restore reports it as a
/// missing tool (`RestoreError.Kind.toolMissing`).
public struct ProcessLaunchError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
