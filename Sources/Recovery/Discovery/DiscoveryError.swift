/// A discovery failure an operator can act on: which file, where in it, and why.
///
/// Reads "could not parse /etc/kubernetes/manifests/etcd.yaml line 12: mapping values are not allowed here".
public struct DiscoveryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The host path of the file (as etcd sees it, not under the discovery root).
    public var file: String
    /// 1-based line, when the problem has one.
    public var line: Int?
    public var reason: String
    /// "read" or "parse".
    public var action: String

    public init(file: String, line: Int? = nil, action: String = "parse", reason: String) {
        self.file = file
        self.line = line
        self.action = action
        self.reason = reason
    }

    public var description: String {
        let place = line.map { "\(file) line \($0)" } ?? file
        return "could not \(action) \(place): \(reason)"
    }
}
