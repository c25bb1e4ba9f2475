import EtcdTestSupport
import Foundation
import Testing

/// The built `etcd-console` (EtcdTestSupport's `EtcdConsoleBinary`) plus JSON parsing of its output.
enum ConsoleBinary {
    static var path: String { EtcdConsoleBinary.path }

    static func run(_ arguments: [String], environment: [String: String] = [:],
                    timeout: Duration = .seconds(60)) throws -> CommandResult {
        try EtcdConsoleBinary.run(arguments, environment: environment, timeout: timeout)
    }

    /// Parses stdout as a JSON object.
    static func json(_ result: CommandResult) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(result.stdout)")
    }
}
