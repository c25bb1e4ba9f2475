import Foundation

/// One setting of etcd-console, named the same way everywhere: the long flag (`--keep-last`), the key in the
/// config file (`retention.keep-last`) and an environment variable (`ETCD_CONSOLE_KEEP_LAST`, or etcdctl's
/// `ETCDCTL_*` name for the connection settings etcdctl users already export).
public enum ConfigurationKey: String, CaseIterable, Sendable, Codable, Comparable {
    case endpoints, cacert, cert, key, user
    case passwordFile = "password-file"
    case insecureSkipTLSVerify = "insecure-skip-tls-verify"
    case dialTimeout = "dial-timeout"
    case commandTimeout = "command-timeout"
    case stallTimeout = "stall-timeout"
    case dir
    case metricsFile = "metrics-file"
    case dataDir = "data-dir"
    case walDir = "wal-dir"
    case unit
    case staticPodManifest = "static-pod-manifest"
    /// The member identity a restore gives etcd (named as etcd's flags).
    case name
    case initialCluster = "initial-cluster"
    case initialAdvertisePeerURLs = "initial-advertise-peer-urls"
    case initialClusterToken = "initial-cluster-token"
    case restoreTool = "restore-tool"
    /// The backend quota etcd runs with (`--quota-backend-bytes`), for the doctor.
    case quotaBackendBytes = "quota-backend-bytes"
    case keepLast = "keep-last"
    case hourly, daily, weekly, monthly
    case every

    /// What kind of value a key holds; every layer's text is checked and normalised by its kind.
    public enum Kind: Sendable {
        /// Comma-separated list (a YAML list in the file).
        case list
        /// An absolute path.
        case path
        /// Free text (a user name, a unit name).
        case text
        /// A whole number, 0 or more.
        case count
        /// true or false.
        case flag
        /// "500ms", "3s", "2m": a timeout.
        case duration
        /// "15min", "30min", "1h", "6h", "1d": how often backups run.
        case interval
    }

    public var kind: Kind {
        switch self {
        case .endpoints: return .list
        case .cacert, .cert, .key, .passwordFile, .dir, .metricsFile, .dataDir, .walDir, .staticPodManifest,
             .restoreTool: return .path
        case .user, .unit, .name, .initialCluster, .initialAdvertisePeerURLs, .initialClusterToken: return .text
        case .keepLast, .hourly, .daily, .weekly, .monthly, .quotaBackendBytes: return .count
        case .insecureSkipTLSVerify: return .flag
        case .dialTimeout, .commandTimeout, .stallTimeout: return .duration
        case .every: return .interval
        }
    }

    /// The command-line flag, e.g. `--keep-last`.
    public var flag: String { "--" + rawValue }

    /// Where the key sits in the config file: a section (`retention`, `schedule`) or the top level.
    public var section: String? {
        switch self {
        case .keepLast, .hourly, .daily, .weekly, .monthly: return "retention"
        case .every: return "schedule"
        default: return nil
        }
    }

    /// The dotted name in the config file, e.g. `retention.keep-last`, used in messages.
    public var fileKey: String { section.map { "\($0).\(rawValue)" } ?? rawValue }

    /// The environment variable read for this key.
    public var environmentVariable: String {
        switch self {
        case .endpoints, .cacert, .cert, .key, .user, .insecureSkipTLSVerify, .dialTimeout, .commandTimeout:
            return "ETCDCTL_" + snakeName
        default:
            return "ETCD_CONSOLE_" + snakeName
        }
    }

    private var snakeName: String { rawValue.uppercased().replacingOccurrences(of: "-", with: "_") }

    /// The keys a restore takes from the resolver (the rest of its plan comes from the snapshot and the host).
    public static let restoreKeys: [ConfigurationKey] = [.dataDir, .walDir, .unit, .staticPodManifest, .name,
                                                         .initialCluster, .initialAdvertisePeerURLs,
                                                         .initialClusterToken, .restoreTool]

    /// The retention keys, which together make a `RetentionPolicy`.
    public static let retentionKeys: [ConfigurationKey] = [.keepLast, .hourly, .daily, .weekly, .monthly]

    public static func < (a: ConfigurationKey, b: ConfigurationKey) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Checks `text` against the key's kind and returns it in a normal form (lists without blanks, "true"/"false"),
    /// or the reason it is not acceptable ("must be a whole number 0 or more, not \"six\"").
    public func normalize(_ text: String) -> Result<String, ConfigurationValueError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch kind {
        case .list:
            let items = trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if items.isEmpty { return .failure(.init("must list at least one URL, e.g. https://10.0.0.5:2379")) }
            return .success(items.joined(separator: ","))
        case .path:
            guard trimmed.hasPrefix("/") else {
                return .failure(.init("must be an absolute path (starting with /), not \"\(trimmed)\""))
            }
            return .success(trimmed)
        case .text:
            if trimmed.isEmpty { return .failure(.init("must not be empty")) }
            return .success(trimmed)
        case .count:
            guard let value = Int(trimmed), value >= 0 else {
                return .failure(.init("must be a whole number 0 or more, not \"\(trimmed)\""))
            }
            return .success(String(value))
        case .flag:
            switch trimmed.lowercased() {
            case "true", "yes", "1": return .success("true")
            case "false", "no", "0": return .success("false")
            default: return .failure(.init("must be true or false, not \"\(trimmed)\""))
            }
        case .duration:
            guard Self.parseDuration(trimmed) != nil else {
                return .failure(.init("must be a duration such as 500ms, 3s or 2m, not \"\(trimmed)\""))
            }
            return .success(trimmed)
        case .interval:
            switch ScheduleInterval.parse(trimmed) {
            case .success(let interval): return .success(interval.description)
            case .failure(let error): return .failure(error)
            }
        }
    }

    /// "500ms", "3s", "2m", "1h" or a bare number of seconds; nil when not a positive duration.
    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value > 0 { return .milliseconds(Int64(value * scale * 1000)) }
        }
        if let value = Double(text), value > 0 { return .milliseconds(Int64(value * 1000)) }
        return nil
    }
}

/// Why a value is not acceptable for a key; the caller adds where the value came from.
public struct ConfigurationValueError: Error, Sendable, Equatable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}
