import Foundation
import SnapshotStore

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
    /// `restore --cluster` and the console's `:cluster`: the members and their hosts (an inventory YAML file).
    case clusterInventory = "cluster-inventory"
    /// The backend quota etcd runs with (`--quota-backend-bytes`), for the doctor.
    case quotaBackendBytes = "quota-backend-bytes"
    /// Local snapshots as `.db.zst` (issue 14): `compression: zstd`, `compression-level: 3`.
    case compression
    case compressionLevel = "compression-level"
    case keepLast = "keep-last"
    case hourly, daily, weekly, monthly
    case every
    /// The `remote:` section (issue 14): where offsite copies go and how they are packed.
    case remoteEndpoint = "remote-endpoint"
    case remoteBucket = "remote-bucket"
    case remotePrefix = "remote-prefix"
    case remoteRegion = "remote-region"
    case remotePathStyle = "remote-path-style"
    case remoteCAFile = "remote-ca-file"
    case remoteCredentialsFile = "remote-credentials-file"
    case remoteProfile = "remote-profile"
    case remoteAgeRecipients = "remote-age-recipients"
    case remoteAgeIdentityFile = "remote-age-identity-file"
    case remoteCompressionLevel = "remote-compression-level"
    /// `remote.bundle-unencrypted: true` lets bundles (private keys!) go offsite when no age recipient is set.
    case remoteBundleUnencrypted = "remote-bundle-unencrypted"
    /// `remote.retention:`, the remote copies' own policy.
    case remoteKeepLast = "remote-keep-last"
    case remoteHourly = "remote-hourly"
    case remoteDaily = "remote-daily"
    case remoteWeekly = "remote-weekly"
    case remoteMonthly = "remote-monthly"
    /// The `bundle:` section (issue 15): the control-plane files kept with every backup.
    case bundleEnabled = "bundle-enabled"
    case bundleKubernetesDir = "bundle-kubernetes-dir"
    case bundleEncryptionConfig = "bundle-encryption-config"
    case bundleKubeadmConfig = "bundle-kubeadm-config"
    case bundleExtra = "bundle-extra"

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
        /// An http:// or https:// URL with no path (the S3 endpoint).
        case url
        /// An S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens.
        case bucket
        /// A key prefix inside the bucket: no leading or trailing "/" kept, may be empty.
        case keyPrefix
        /// age X25519 recipients (`age1...`), a YAML list or comma-separated.
        case ageRecipients
        /// A zstd compression level, 1-19.
        case compressionLevel
        /// Absolute paths, a YAML list or comma-separated.
        case pathList
        /// How local snapshots are stored: none or zstd.
        case codec
    }

    public var kind: Kind {
        switch self {
        case .endpoints: return .list
        case .cacert, .cert, .key, .passwordFile, .dir, .metricsFile, .dataDir, .walDir, .staticPodManifest,
             .restoreTool, .clusterInventory: return .path
        case .user, .unit, .name, .initialCluster, .initialAdvertisePeerURLs, .initialClusterToken: return .text
        case .keepLast, .hourly, .daily, .weekly, .monthly, .quotaBackendBytes: return .count
        case .insecureSkipTLSVerify: return .flag
        case .dialTimeout, .commandTimeout, .stallTimeout: return .duration
        case .every: return .interval
        case .compression: return .codec
        case .compressionLevel: return .compressionLevel
        case .remoteEndpoint: return .url
        case .remoteBucket: return .bucket
        case .remotePrefix: return .keyPrefix
        case .remoteRegion, .remoteProfile: return .text
        case .remotePathStyle, .remoteBundleUnencrypted: return .flag
        case .remoteCAFile, .remoteCredentialsFile, .remoteAgeIdentityFile: return .path
        case .remoteAgeRecipients: return .ageRecipients
        case .remoteCompressionLevel: return .compressionLevel
        case .remoteKeepLast, .remoteHourly, .remoteDaily, .remoteWeekly, .remoteMonthly: return .count
        case .bundleEnabled: return .flag
        case .bundleKubernetesDir, .bundleEncryptionConfig, .bundleKubeadmConfig: return .path
        case .bundleExtra: return .pathList
        }
    }

    /// The command-line flag, e.g. `--keep-last`.
    public var flag: String { "--" + rawValue }

    /// Where the key sits in the config file: a section (`retention`, `schedule`) or the top level.
    public var section: String? {
        switch self {
        case .keepLast, .hourly, .daily, .weekly, .monthly: return "retention"
        case .every: return "schedule"
        case .remoteKeepLast, .remoteHourly, .remoteDaily, .remoteWeekly, .remoteMonthly: return "remote.retention"
        default:
            if rawValue.hasPrefix("bundle-") { return "bundle" }
            return rawValue.hasPrefix("remote-") ? "remote" : nil
        }
    }

    /// The key's name inside its section: `endpoint` for `remote.endpoint` (whose flag is `--remote-endpoint`).
    public var nameInSection: String {
        if rawValue.hasPrefix("bundle-") { return String(rawValue.dropFirst("bundle-".count)) }
        return rawValue.hasPrefix("remote-") ? String(rawValue.dropFirst("remote-".count)) : rawValue
    }

    /// The dotted name in the config file, e.g. `retention.keep-last`, used in messages.
    public var fileKey: String { section.map { "\($0).\(nameInSection)" } ?? rawValue }

    /// The key named `name` in `section` of the config file.
    public static func inFile(_ name: String, section: String?) -> ConfigurationKey? {
        allCases.first { $0.section == section && $0.nameInSection == name }
    }

    /// Other variables read for this key when its own is not set: the AWS CLI's names for the endpoint and region.
    public var alternateEnvironmentVariables: [String] {
        switch self {
        case .remoteEndpoint: return ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        case .remoteRegion: return ["AWS_REGION", "AWS_DEFAULT_REGION"]
        default: return []
        }
    }

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

    /// `remote.retention`'s keys, in the same order as `retentionKeys`.
    public static let remoteRetentionKeys: [ConfigurationKey] = [.remoteKeepLast, .remoteHourly, .remoteDaily,
                                                                 .remoteWeekly, .remoteMonthly]

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
        case .url:
            guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  let host = url.host, !host.isEmpty else {
                return .failure(.init("must be an http:// or https:// URL such as https://s3.example.com or http://127.0.0.1:8333, not \"\(trimmed)\""))
            }
            guard url.path.isEmpty || url.path == "/", url.query == nil else {
                return .failure(.init("must be only scheme://host[:port], not \"\(trimmed)\" (put the bucket in remote.bucket and the path in remote.prefix)"))
            }
            return .success(trimmed.hasSuffix("/") ? String(trimmed.dropLast()) : trimmed)
        case .bucket:
            let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
            guard (3...63).contains(trimmed.count), trimmed.allSatisfy({ allowed.contains($0) }),
                  let first = trimmed.first, let last = trimmed.last, first != "-", first != ".", last != "-", last != "." else {
                return .failure(.init("must be an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit), not \"\(trimmed)\""))
            }
            return .success(trimmed)
        case .keyPrefix:
            let inner = trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if inner.contains("//") || inner.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }) {
                return .failure(.init("must be a key prefix such as etcd/prod (no empty, \".\" or \"..\" parts), not \"\(trimmed)\""))
            }
            return .success(inner)
        case .ageRecipients:
            let items = trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if items.isEmpty { return .failure(.init("must list at least one age recipient (age1...)")) }
            for item in items {
                do { _ = try AgeRecipient(item) } catch {
                    return .failure(.init("must list age X25519 recipients (age1..., as age-keygen prints them); \"\(item)\" is not one: \(error)"))
                }
            }
            return .success(items.joined(separator: ","))
        case .pathList:
            let items = trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if let relative = items.first(where: { !$0.hasPrefix("/") }) {
                return .failure(.init("must list absolute paths (starting with /), not \"\(relative)\""))
            }
            return .success(items.joined(separator: ","))
        case .codec:
            switch trimmed.lowercased() {
            case "none", "zstd": return .success(trimmed.lowercased())
            default: return .failure(.init("must be none or zstd, not \"\(trimmed)\""))
            }
        case .compressionLevel:
            guard let value = Int(trimmed), (1...19).contains(value) else {
                return .failure(.init("must be a zstd level from 1 (fastest) to 19 (smallest), not \"\(trimmed)\""))
            }
            return .success(String(value))
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
