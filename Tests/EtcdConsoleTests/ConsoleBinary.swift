import EtcdTestSupport
import Foundation
import Testing

/// The built `etcd-console` executable, run as an operator would run it.
enum ConsoleBinary {
    /// Next to the test bundle in the build directory (`swift build --build-tests` builds both).
    static let path: String = {
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundleDir.appendingPathComponent("etcd-console").path,
                          URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                              .deletingLastPathComponent().appendingPathComponent(".build/debug/etcd-console").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }()

    /// Runs `etcd-console` with arguments; ETCDCTL_* from the test's own environment are not passed on.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try #require(FileManager.default.isExecutableFile(atPath: path), "etcd-console not built at \(path): run swift build")
        return try runCommand("/usr/bin/env", ["-u", "ETCDCTL_ENDPOINTS", "-u", "ETCDCTL_CACERT", "-u", "ETCDCTL_CERT",
                                               "-u", "ETCDCTL_KEY", "-u", "ETCDCTL_USER", "-u", "ETCDCTL_PASSWORD"]
                                  + environment.map { "\($0.key)=\($0.value)" } + [path] + arguments)
    }

    /// Parses stdout as a JSON object.
    static func json(_ result: CommandResult) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(result.stdout)")
    }
}
