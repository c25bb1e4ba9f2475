import Foundation

/// What an external program (systemctl) printed and how it ended.
struct ExternalResult {
    var status: Int32
    var output: String
}

/// Runs `name` found on PATH with `arguments`, stdout and stderr together; throws when it is not installed.
func runExternal(_ name: String, _ arguments: [String]) throws -> ExternalResult {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":")
        .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let path else { throw ExternalCommandError(message: "\(name) not found on PATH") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ExternalResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

func runSystemctl(_ arguments: [String]) throws -> ExternalResult {
    try runExternal("systemctl", arguments)
}

struct ExternalCommandError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
