import Foundation
import Recovery
import Yams

/// A parsed `/etc/etcd-console/config.yaml`: each key that the file sets, with its line.
///
/// The file is a YAML mapping whose keys are the long flag names; the retention counts sit under
/// `retention:` and the interval under `schedule:`. Unknown keys and values of the wrong type are errors
/// that name the key and the line: a typo in a backup configuration must not be silently ignored.
public struct ConfigFile: Sendable, Equatable {
    public struct Value: Sendable, Equatable {
        public var text: String
        public var line: Int

        public init(text: String, line: Int) {
            self.text = text
            self.line = line
        }
    }

    /// The standard place: `/etc/etcd-console/config.yaml`.
    public static let standardPath = "/etc/etcd-console/config.yaml"
    /// The variable that names another file (`--config` wins over it).
    public static let environmentVariable = "ETCD_CONSOLE_CONFIG"

    public var path: String
    public var values: [ConfigurationKey: Value]

    public init(path: String, values: [ConfigurationKey: Value]) {
        self.path = path
        self.values = values
    }

    /// Reads and checks the file at `path`.
    public static func load(path: String) throws(ConfigurationError) -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path)
                ? "permission denied (run as a user who may read it, usually root)" : "no such file"
            throw ConfigurationError(file: path, line: nil, "could not read \(path): \(reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, line: nil, "could not read \(path): not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    /// Parses config text; `path` only names the file in errors and sources.
    public static func parse(_ text: String, path: String) throws(ConfigurationError) -> ConfigFile {
        let root: Node?
        do {
            root = try EtcdDiscovery.parseYAML(text, file: path)
        } catch let error as DiscoveryError {
            throw ConfigurationError(file: path, line: error.line, "\(path)\(error.line.map { ":\($0)" } ?? ""): not valid YAML: \(error.reason)")
        } catch {
            throw ConfigurationError(file: path, line: nil, "\(path): not valid YAML: \(error)")
        }
        guard let root else { return ConfigFile(path: path, values: [:]) }  // empty or only comments
        guard let mapping = root.mapping else {
            throw ConfigurationError(file: path, line: root.mark?.line,
                                     "\(path):\(root.mark?.line ?? 1): the file must be a mapping of keys to values (key: value)")
        }
        var values: [ConfigurationKey: Value] = [:]
        try read(mapping, section: nil, path: path, into: &values)
        return ConfigFile(path: path, values: values)
    }

    /// Sections of the file, by their dotted path (`remote.retention` sits under `remote:`).
    private static let sections = ["retention", "schedule", "remote", "remote.retention", "bundle"]

    private static func read(_ mapping: Node.Mapping, section: String?, path: String,
                             into values: inout [ConfigurationKey: Value]) throws(ConfigurationError) {
        for (keyNode, valueNode) in mapping {
            let line = keyNode.mark?.line ?? 1
            func fail(_ message: String) -> ConfigurationError {
                ConfigurationError(file: path, line: line, "\(path):\(line): \(message)")
            }
            guard let name = keyNode.scalar?.string else { throw fail("a key must be a plain name") }
            let dotted = section.map { "\($0).\(name)" } ?? name
            if sections.contains(dotted) {
                if valueNode.null != nil { continue }  // "retention:" with nothing under it
                guard let inner = valueNode.mapping else {
                    throw fail("\(dotted) must be a mapping (indented keys under \"\(name):\"), not a single value")
                }
                try read(inner, section: dotted, path: path, into: &values)
                continue
            }
            guard let key = ConfigurationKey.inFile(name, section: section) else {
                throw fail("unknown key \"\(dotted)\"" + suggestion(for: name, section: section))
            }
            let text: String
            switch valueNode {
            case .scalar(let scalar):
                text = scalar.string
            case .sequence(let sequence) where key.kind == .list || key.kind == .ageRecipients || key.kind == .pathList:
                var items: [String] = []
                for item in sequence {
                    guard let value = item.scalar?.string else {
                        throw fail("\(dotted) must be a list of \(key.kind == .list ? "URLs" : key.kind == .pathList ? "paths" : "age recipients")")
                    }
                    items.append(value)
                }
                text = items.joined(separator: ",")
            default:
                throw fail("\(dotted) must be a single value, not a \(valueNode.mapping != nil ? "mapping" : "list")")
            }
            switch key.normalize(text) {
            case .success(let normal): values[key] = Value(text: normal, line: line)
            case .failure(let error): throw fail("\(dotted) \(error.reason)")
            }
        }
    }

    /// "; did you mean "retention.keep-last"?" for a near miss, with the list of known keys otherwise.
    private static func suggestion(for name: String, section: String?) -> String {
        let candidates = ConfigurationKey.allCases.filter { $0.section == section }.map(\.nameInSection)
            + sections.filter { ($0.contains(".") ? String($0[..<$0.lastIndex(of: ".")!]) : nil) == section }
                .map { String($0.split(separator: ".").last!) }
        if let close = candidates.min(by: { editDistance($0, name) < editDistance($1, name) }),
           editDistance(close, name) <= 2 {
            return "; did you mean \"\(section.map { "\($0).\(close)" } ?? close)\"?"
        }
        if section == nil, let owner = ConfigurationKey.allCases.first(where: { $0.nameInSection == name })?.section {
            return "; it belongs under \"\(owner):\""
        }
        return " (known keys here: \(candidates.joined(separator: ", ")))"
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}

/// A configuration problem: which file (or variable) and line, and what to fix.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String?
    public var line: Int?
    public var message: String

    public init(file: String?, line: Int?, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { message }
}
