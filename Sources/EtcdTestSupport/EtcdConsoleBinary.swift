import Foundation

/// The built `etcd-console` executable, run as an operator would run it: shared by every test target
/// that runs the binary end to end.
public enum EtcdConsoleBinary {
    /// Next to the test bundle in the build directory (`swift build --build-tests` builds both), else `.build/debug`.
    public static let path: String = {
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundleDir.appendingPathComponent("etcd-console").path,
                          URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                              .deletingLastPathComponent().appendingPathComponent(".build/debug/etcd-console").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }()

    /// Runs `etcd-console`; `ETCDCTL_*` connection variables of the test's own environment are not passed on,
    /// only those given in `environment`. `timeout` bounds the whole run (a fill of tens of MB on a loaded host
    /// can take minutes: give it more).
    public static func run(_ arguments: [String], environment: [String: String] = [:],
                           timeout: Duration = .seconds(60)) throws -> CommandResult {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw EtcdTestSupportError("etcd-console not built at \(path): run swift build")
        }
        let unset = ["ETCDCTL_ENDPOINTS", "ETCDCTL_CACERT", "ETCDCTL_CERT", "ETCDCTL_KEY", "ETCDCTL_USER", "ETCDCTL_PASSWORD"]
            .flatMap { ["-u", $0] }
        return try runCommand("/usr/bin/env", unset + environment.map { "\($0.key)=\($0.value)" } + [path] + arguments,
                              timeout: timeout)
    }
}
