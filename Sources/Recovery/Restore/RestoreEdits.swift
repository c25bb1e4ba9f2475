import Foundation

/// What the operator changed in the console's wizard before confirming: each set value wins over every other
/// source (its source reads "edited in the wizard"), and the plan is computed again.
public struct RestoreEdits: Sendable, Equatable {
    public var dataDir: String?
    public var name: String?
    public var initialCluster: String?
    public var initialAdvertisePeerURLs: String?

    public init(dataDir: String? = nil, name: String? = nil, initialCluster: String? = nil,
                initialAdvertisePeerURLs: String? = nil) {
        self.dataDir = dataDir
        self.name = name
        self.initialCluster = initialCluster
        self.initialAdvertisePeerURLs = initialAdvertisePeerURLs
    }

    public static let source = "edited in the wizard"

    public var isEmpty: Bool { self == RestoreEdits() }

    /// The options with these edits on top.
    public func applied(to options: RestoreOptions) -> RestoreOptions {
        var options = options
        if let dataDir { options.dataDir = dataDir; options.sources[.dataDir] = Self.source }
        if let name { options.name = name; options.sources[.name] = Self.source }
        if let initialCluster { options.initialCluster = initialCluster; options.sources[.initialCluster] = Self.source }
        if let initialAdvertisePeerURLs {
            options.initialAdvertisePeerURLs = initialAdvertisePeerURLs
            options.sources[.initialAdvertisePeerURLs] = Self.source
        }
        return options
    }

    /// Checks what was typed; nil when acceptable, else what is wrong (shown under the form).
    public func problem() -> String? {
        if let dataDir, !dataDir.hasPrefix("/") { return "the data dir must be an absolute path, not \"\(dataDir)\"" }
        if let name, name.isEmpty || name.contains(where: { $0 == "," || $0 == "=" || $0.isWhitespace }) {
            return "the member name must be one word without , or =, not \"\(name)\""
        }
        if let peers = initialAdvertisePeerURLs {
            let urls = peers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if urls.isEmpty || urls.contains(where: { !($0.hasPrefix("http://") || $0.hasPrefix("https://")) }) {
                return "peer URLs must be http:// or https:// URLs separated by commas, not \"\(peers)\""
            }
        }
        if let cluster = initialCluster {
            let entries = cluster.split(separator: ",")
            if entries.isEmpty || entries.contains(where: { !$0.contains("=") }) {
                return "the initial cluster must be name=peer-url entries separated by commas, not \"\(cluster)\""
            }
        }
        return nil
    }
}
