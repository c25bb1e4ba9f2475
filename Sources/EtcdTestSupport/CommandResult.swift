import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a finished program left behind: its exit status and everything it printed.
public struct CommandResult: Sendable {
    /// The exit status, or 128 + the signal number when a signal ended it.
    public let status: Int32
    /// Everything written to standard output, decoded as UTF-8.
    public let stdout: String
    /// Everything written to standard error, decoded as UTF-8.
    public let stderr: String

    /// Makes a result from parts (for fakes in other tests).
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// True when the program exited with status 0.
    public var succeeded: Bool { status == 0 }

    /// Standard output and standard error, in that order, for messages and `contains` checks.
    public var output: String { stdout + stderr }
}

/// Runs a program (absolute path) to completion with env additions and stdin; captures output; throws on timeout.
public func runCommand(_ path: String, _ arguments: [String], environment: [String: String] = [:],
                       stdin: String? = nil, timeout: Duration = .seconds(60)) throws -> CommandResult {
    try runCommand(path, arguments, environment: environment, dropping: [], stdin: stdin, timeout: timeout)
}

/// Runs a program like the public `runCommand`, first dropping inherited variables whose names start with a prefix.
func runCommand(_ path: String, _ arguments: [String], environment: [String: String],
                dropping prefixes: [String], stdin: String?, timeout: Duration) throws -> CommandResult {
    guard path.hasPrefix("/") else {
        throw EtcdTestSupportError("could not run \(path): give an absolute path, not a name to search PATH for")
    }
    // Output goes to files, not pipes, so a grandchild that keeps a descriptor open cannot hang the call.
    let scratch = try TestDirectories.make("command")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outURL = scratch.appendingPathComponent("stdout")
    let errURL = scratch.appendingPathComponent("stderr")
    let inURL = scratch.appendingPathComponent("stdin")
    for (url, contents) in [(outURL, ""), (errURL, ""), (inURL, stdin ?? "")] {
        guard FileManager.default.createFile(atPath: url.path, contents: Data(contents.utf8)) else {
            throw EtcdTestSupportError("could not create \(url.path) to run \(path)")
        }
    }

    let outHandle = try FileHandle(forWritingTo: outURL)
    let errHandle = try FileHandle(forWritingTo: errURL)
    let inHandle = try FileHandle(forReadingFrom: inURL)
    defer {
        try? outHandle.close()
        try? errHandle.close()
        try? inHandle.close()
    }
    let finished = DispatchSemaphore(value: 0)
    var process = Process()
    // A script a test has just written can still be open for writing in a child another thread is forking
    // (ETXTBSY, "Text file busy"): that passes in moments, so starting is retried briefly, as the product's
    // SystemProcessRunner does.
    for attempt in 1... {
        process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = childEnvironment(adding: environment, dropping: prefixes)
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = inHandle
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
            break
        } catch let error as NSError where isTextFileBusy(error) && attempt < 40 {
            Thread.sleep(forTimeInterval: 0.05)
        } catch {
            throw EtcdTestSupportError("could not start \(path): \(error)")
        }
    }
    let pid = process.processIdentifier
    SpawnedProcesses.shared.record(process)
    defer { SpawnedProcesses.shared.forget(pid) }

    let (seconds, attoseconds) = timeout.components
    let limit = Double(seconds) + Double(attoseconds) / 1e18
    if finished.wait(timeout: .now() + limit) == .timedOut {
        sendSignal(SIGKILL, to: pid)
        finished.wait()
        throw EtcdTestSupportError(
            "\(path) \(arguments.joined(separator: " ")) did not finish within \(timeout) and was killed; "
                + "stdout: \(readText(outURL).suffix(2000)) stderr: \(readText(errURL).suffix(2000))")
    }
    let status = process.terminationReason == .uncaughtSignal
        ? 128 + process.terminationStatus : process.terminationStatus
    return CommandResult(status: status, stdout: readText(outURL), stderr: readText(errURL))
}

/// ETXTBSY, as Foundation reports a failed spawn: itself, or as the underlying error of a Cocoa file error.
private func isTextFileBusy(_ error: NSError) -> Bool {
    if error.domain == NSPOSIXErrorDomain && error.code == Int(ETXTBSY) { return true }
    return (error.userInfo[NSUnderlyingErrorKey] as? NSError).map(isTextFileBusy) ?? false
}

/// Sends a signal with kill(2), whose name EtcdProcess.kill() hides inside that type.
func sendSignal(_ signal: Int32, to pid: Int32) {
    _ = kill(pid, signal)
}

/// The file's bytes as UTF-8 text, or "" when it cannot be read.
func readText(_ url: URL) -> String {
    String(decoding: (try? Data(contentsOf: url)) ?? Data(), as: UTF8.self)
}

/// This process's environment less the variables with the given prefixes, plus the additions.
func childEnvironment(adding additions: [String: String], dropping prefixes: [String]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment.filter { name, _ in
        !prefixes.contains { name.hasPrefix($0) }
    }
    environment.merge(additions) { _, added in added }
    return environment
}

/// Runs `body`, then awaits `cleanup` whether `body` returned or threw: the async `defer` Swift does not have,
/// so a test's teardown (closing a client) finishes before the test does instead of in a detached task.
public func withCleanup<T>(_ cleanup: () async -> Void, _ body: () async throws -> T) async throws -> T {
    do {
        let result = try await body()
        await cleanup()
        return result
    } catch {
        await cleanup()
        throw error
    }
}
