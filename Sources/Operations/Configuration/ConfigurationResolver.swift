import Foundation
import Recovery
import SnapshotStore

/// Where a resolved value came from, for `config show` and for messages.
public enum ConfigurationSource: Sendable, Equatable, CustomStringConvertible {
    case flag(String)
    case environment(String)
    case file(path: String, line: Int)
    /// Discovered from how etcd runs here; the text says where (unit file, manifest, ...).
    case discovery(String)
    case defaultValue

    public var description: String {
        switch self {
        case .flag(let flag): return "flag \(flag)"
        case .environment(let name): return "environment \(name)"
        case .file(let path, let line): return "\(path):\(line)"
        case .discovery(let source): return "discovered: \(source)"
        case .defaultValue: return "default"
        }
    }

    /// A short word for tables and JSON: flag, environment, file, discovery, default.
    public var layer: String {
        switch self {
        case .flag: return "flag"
        case .environment: return "environment"
        case .file: return "file"
        case .discovery: return "discovery"
        case .defaultValue: return "default"
        }
    }
}

public struct ResolvedSetting: Sendable, Equatable {
    public var value: String
    public var source: ConfigurationSource

    public init(value: String, source: ConfigurationSource) {
        self.value = value
        self.source = source
    }
}

/// Every setting after precedence, each with its source. Keys without a value anywhere are absent.
public struct ResolvedConfiguration: Sendable, Equatable {
    public var settings: [ConfigurationKey: ResolvedSetting]
    /// What discovery found (run once per command; nil when it was not run or failed).
    public var deployment: EtcdDeployment?

    public init(settings: [ConfigurationKey: ResolvedSetting], deployment: EtcdDeployment? = nil) {
        self.settings = settings
        self.deployment = deployment
    }

    /// A value only when someone or discovery chose it (not a default), e.g. for a restore's options.
    public func chosen(_ key: ConfigurationKey) -> ResolvedSetting? {
        guard let setting = settings[key], setting.source != .defaultValue else { return nil }
        return setting
    }

    public subscript(_ key: ConfigurationKey) -> String? { settings[key]?.value }

    public var endpoints: [String] { (self[.endpoints] ?? "").split(separator: ",").map(String.init) }
    /// The endpoints come from a flag or the environment (`--endpoints`, ETCDCTL_ENDPOINTS), not the config file or
    /// the default: a restore then checks health there instead of on the plan's (discovered) endpoints.
    public var endpointsNamedByOperator: Bool { ["flag", "environment"].contains(settings[.endpoints]?.source.layer) }
    public var snapshotDirectory: String { self[.dir] ?? SnapshotCatalog.defaultDirectory }
    public var insecureSkipTLSVerify: Bool { self[.insecureSkipTLSVerify] == "true" }
    public var dialTimeout: Duration { self[.dialTimeout].flatMap(ConfigurationKey.parseDuration) ?? .seconds(3) }
    public var commandTimeout: Duration { self[.commandTimeout].flatMap(ConfigurationKey.parseDuration) ?? .seconds(5) }
    /// How long a snapshot stream may deliver nothing before the save gives up (not a total deadline).
    public var stallTimeout: Duration { self[.stallTimeout].flatMap(ConfigurationKey.parseDuration) ?? .seconds(30) }

    /// The schedule interval; always set (a default applies).
    public var interval: ScheduleInterval {
        self[.every].flatMap { try? ScheduleInterval.parse($0).get() } ?? .standard
    }

    /// True when the interval was chosen by someone (flag, environment or file), not the default.
    public var intervalIsConfigured: Bool {
        guard let source = settings[.every]?.source else { return false }
        return source != .defaultValue
    }

    /// The retention policy: the retention keys that are set, or the default policy when none is.
    public var retentionPolicy: RetentionPolicy {
        func count(_ key: ConfigurationKey) -> Int? { self[key].flatMap { Int($0) } }
        if ConfigurationKey.retentionKeys.allSatisfy({ settings[$0] == nil }) { return .default }
        return RetentionPolicy(keepLast: count(.keepLast), hourly: count(.hourly), daily: count(.daily),
                               weekly: count(.weekly), monthly: count(.monthly))
    }
}

/// Precedence, highest first: command-line flags, environment (`ETCDCTL_*`, `ETCD_CONSOLE_*`), the config file,
/// discovery (how etcd runs on this host), defaults. Pure: the caller reads the file, the environment and the
/// deployment and passes them in.
public enum ConfigurationResolver {
    /// The defaults, applied last. Endpoints default to 127.0.0.1:2379, https when any TLS file is set.
    public static let defaults: [ConfigurationKey: String] = [
        .dir: SnapshotCatalog.defaultDirectory, .dialTimeout: "3s", .commandTimeout: "5s", .stallTimeout: "30s",
        .every: ScheduleInterval.standard.description, .dataDir: "/var/lib/etcd", .unit: "etcd",
    ]

    public static func resolve(flags: [ConfigurationKey: String], environment: [String: String],
                               file: ConfigFile?, deployment: EtcdDeployment?) throws(ConfigurationError) -> ResolvedConfiguration {
        let discovered = deployment.map(discoveredValues) ?? [:]
        var settings: [ConfigurationKey: ResolvedSetting] = [:]
        for key in ConfigurationKey.allCases {
            if let text = flags[key] {
                settings[key] = ResolvedSetting(value: try checked(key, text, from: key.flag), source: .flag(key.flag))
            } else if let text = environment[key.environmentVariable], !text.isEmpty {
                settings[key] = ResolvedSetting(value: try checked(key, text, from: key.environmentVariable),
                                                source: .environment(key.environmentVariable))
            } else if let name = key.alternateEnvironmentVariables.first(where: { !(environment[$0] ?? "").isEmpty }) {
                settings[key] = ResolvedSetting(value: try checked(key, environment[name]!, from: name),
                                                source: .environment(name))
            } else if let value = file?.values[key], let file {
                settings[key] = ResolvedSetting(value: value.text, source: .file(path: file.path, line: value.line))
            } else if let found = discovered[key] {
                settings[key] = found
            } else if let value = defaults[key] {
                settings[key] = ResolvedSetting(value: value, source: .defaultValue)
            }
        }
        if settings[.endpoints] == nil {
            let secure = settings[.cacert] != nil || settings[.cert] != nil || settings[.insecureSkipTLSVerify]?.value == "true"
            settings[.endpoints] = ResolvedSetting(value: secure ? "https://127.0.0.1:2379" : "http://127.0.0.1:2379",
                                                   source: .defaultValue)
        }
        if (settings[.cert] == nil) != (settings[.key] == nil) {
            let (given, missing) = settings[.cert] != nil ? (ConfigurationKey.cert, ConfigurationKey.key) : (.key, .cert)
            throw ConfigurationError(file: nil, line: nil,
                                     "\(given.rawValue) is set (\(settings[given]!.source)) but \(missing.rawValue) is not: a client certificate needs both; set \(missing.flag), \(missing.environmentVariable) or \(missing.rawValue) in the config file")
        }
        return ResolvedConfiguration(settings: settings, deployment: deployment)
    }

    /// The unit named by flags, environment or the config file (before discovery, which looks for it), or nil.
    public static func unitBeforeDiscovery(flags: [ConfigurationKey: String], environment: [String: String],
                                           file: ConfigFile?) -> String? {
        if let unit = flags[.unit], !unit.isEmpty { return unit }
        if let unit = environment[ConfigurationKey.unit.environmentVariable], !unit.isEmpty { return unit }
        return file?.values[.unit]?.text
    }

    private static func checked(_ key: ConfigurationKey, _ text: String, from origin: String) throws(ConfigurationError) -> String {
        switch key.normalize(text) {
        case .success(let value): return value
        case .failure(let error): throw ConfigurationError(file: nil, line: nil, "\(origin) \(error.reason)")
        }
    }

    /// What discovery says etcd-console should use: the URLs etcd serves clients on (a wildcard listen address
    /// becomes 127.0.0.1), the CA that signs etcd's certificate, and, when etcd asks clients for a certificate,
    /// etcd's own certificate and key (kubeadm's server certificate is valid for client authentication too).
    /// Settings that discovery only filled with etcd's defaults are left to our defaults.
    static func discoveredValues(_ deployment: EtcdDeployment) -> [ConfigurationKey: ResolvedSetting] {
        var values: [ConfigurationKey: ResolvedSetting] = [:]
        func take(_ key: ConfigurationKey, _ name: EtcdSetting.Name, transform: (String) -> String? = { $0 }) {
            guard let setting = deployment.settings[name], setting.source != "default",
                  let value = transform(setting.value), case .success(let normal) = key.normalize(value) else { return }
            values[key] = ResolvedSetting(value: normal, source: .discovery(setting.source))
        }
        let advertised = (deployment.settings[.advertiseClientURLs]?.source ?? "default") != "default"
        take(.endpoints, advertised ? .advertiseClientURLs : .listenClientURLs) { urls in
            let list = urls.split(separator: ",").map { url -> String in
                url.trimmingCharacters(in: .whitespaces)
                    .replacingOccurrences(of: "//0.0.0.0", with: "//127.0.0.1")
                    .replacingOccurrences(of: "//[::]", with: "//127.0.0.1")
            }
            return list.joined(separator: ",")
        }
        take(.cacert, .trustedCAFile)
        if deployment.clientCertAuth {
            take(.cert, .certFile)
            take(.key, .keyFile)
        }
        take(.dataDir, .dataDir)
        take(.walDir, .walDir)
        take(.name, .name)
        take(.initialCluster, .initialCluster)
        take(.initialAdvertisePeerURLs, .initialAdvertisePeerURLs)
        take(.initialClusterToken, .initialClusterToken)
        take(.quotaBackendBytes, .quotaBackendBytes)
        if deployment.kind == .staticPod, let manifest = deployment.manifestPath {
            values[.staticPodManifest] = ResolvedSetting(value: manifest, source: .discovery("kubeadm static pod"))
        }
        if deployment.kind == .systemd, let unit = deployment.unitName, let file = deployment.unitFile {
            values[.unit] = ResolvedSetting(value: unit, source: .discovery(file))
        }
        return values
    }
}
