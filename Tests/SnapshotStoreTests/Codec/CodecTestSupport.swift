import EtcdTestSupport
import Foundation
@testable import SnapshotStore

/// Bytes that compress somewhat (like a bbolt file: repeated keys, random values), deterministic per seed.
func codecSample(_ count: Int, seed: UInt64 = 14) -> Data {
    var random = SeededRandom(seed: seed)
    var bytes = [UInt8]()
    bytes.reserveCapacity(count)
    let words = (0..<64).map { Array("/registry/pods/default/pod-\($0)/".utf8) }
    while bytes.count < count {
        if random.next(below: 3) == 0 {
            bytes.append(contentsOf: random.bytes(random.next(below: 200)))
        } else {
            bytes.append(contentsOf: words[random.next(below: words.count)])
        }
    }
    return Data(bytes.prefix(count))
}

/// A Debian tool named by path (never found on PATH: pip puts broken wrappers there on this machine).
func debianTool(_ name: String) throws -> String {
    let path = "/usr/bin/\(name)"
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw EtcdTestSupportError("\(path) is missing: run scripts/setup (apt packages age, zstd)")
    }
    return path
}

/// Runs a tool and throws with its output when it fails.
@discardableResult
func runTool(_ path: String, _ arguments: [String]) throws -> CommandResult {
    let result = try runCommand(path, arguments)
    guard result.succeeded else {
        throw EtcdTestSupportError("\(path) \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output)")
    }
    return result
}

/// Runs `body` expecting a CodecError and returns it.
func expectCodecError(_ body: () throws -> Void) -> CodecError? {
    do {
        try body()
        return nil
    } catch let error as CodecError {
        return error
    } catch {
        return CodecError(.io, "unexpected error type: \(error)")
    }
}
