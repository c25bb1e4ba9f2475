import ArgumentParser
import Foundation
import Operations
import Recovery
import SnapshotStore

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Write a commented config file from discovery, or show the settings in effect and their sources.",
        discussion: """
        Precedence: flags > environment (ETCDCTL_*, ETCD_CONSOLE_*) > config file > discovery > defaults. \
        The file is /etc/etcd-console/config.yaml unless --config or ETCD_CONSOLE_CONFIG names another.

        Examples:
          etcd-console config init
          etcd-console config show -o json
        """,
        subcommands: [ConfigInitCommand.self, ConfigShowCommand.self])
}

struct ConfigInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a commented config file with what discovery finds (refuses to overwrite without --force).",
        discussion: """
        Reads how etcd runs on this host (systemd unit, kubeadm manifest, /etc/etcd config) and writes its \
        endpoints, CA, client certificate and data dir into the file, each with the place it was found; every \
        other key is listed commented out with its default. The file is written atomically with mode 0600.

        Examples:
          etcd-console config init
          etcd-console config init --dir /backup/etcd --every 1h
          # a host's disk mounted on a rescue system:
          etcd-console config init --file ./config.yaml --root /mnt/sysimage
        """)

    @Option(help: ArgumentHelp("Where to write (default /etc/etcd-console/config.yaml).", valueName: "file"))
    var file: String = ConfigFile.standardPath

    @Flag(help: "Replace an existing file.")
    var force = false

    @Option(help: ArgumentHelp("Discover etcd under this directory instead of / (a rescue system's mount).", valueName: "dir"))
    var root: String = "/"

    @Option(help: ArgumentHelp("Snapshot directory to set in the file.", valueName: "dir"))
    var dir: String?

    @Option(help: ArgumentHelp("Prometheus textfile to set in the file.", valueName: "file"))
    var metricsFile: String?

    @Option(help: ArgumentHelp("Schedule interval to set in the file (15min, 30min, 1h, 6h, 1d).", valueName: "interval"))
    var every: String?

    func run() throws {
        let path = absolutePath(file)
        if FileManager.default.fileExists(atPath: path) && !force {
            printError("error: \(path) already exists; not overwriting it (pass --force to replace it, or --file to write elsewhere)")
            throw ExitCode(1)
        }
        var flags: [ConfigurationKey: String] = [:]
        flags[.dir] = dir.map(absolutePath)
        flags[.metricsFile] = metricsFile.map(absolutePath)
        flags[.every] = every
        let deployment: EtcdDeployment?
        do { deployment = try EtcdDiscovery(root: root).discover() } catch {
            printError("warning: discovery failed, the file holds defaults only: \(error)")
            deployment = nil
        }
        let resolved = try ConfigurationResolver.resolve(flags: flags, environment: [:], file: nil, deployment: deployment)
        let origin = deployment.map { "Written by `etcd-console config init` from \(Self.describe($0))." }
            ?? "Written by `etcd-console config init`; discovery found nothing."
        let text = ConfigTemplate.render(resolved, generatedBy: origin)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try AtomicFileWriter.replace(path, with: Data(text.utf8), mode: 0o600)
        print("wrote \(path)")
        for key in ConfigurationKey.allCases {
            if let setting = resolved.settings[key], setting.source != .defaultValue {
                print("  \(key.fileKey): \(setting.value)  (\(setting.source))")
            }
        }
    }

    static func describe(_ deployment: EtcdDeployment) -> String {
        switch deployment.kind {
        case .systemd: return "the systemd unit \(deployment.described(deployment.unitFile ?? "etcd.service"))"
        case .staticPod: return "the static pod manifest \(deployment.described(deployment.manifestPath ?? "etcd.yaml"))"
        case .configFile: return "the etcd config file \(deployment.described(deployment.configFile ?? ""))"
        case .none: return "etcd's defaults (no unit, manifest or config file found)"
        }
    }
}

struct ConfigShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show every setting in effect and where it comes from (never a password).",
        discussion: """
        Examples:
          etcd-console config show
          ETCDCTL_ENDPOINTS=https://10.0.0.5:2379 etcd-console config show -o json
          etcd-console config show --config ./config.yaml --keep-last 3
        """)

    @OptionGroup var connection: ConnectionOptions
    @Option(help: ArgumentHelp("Snapshot directory.", valueName: "dir")) var dir: String?
    @Option(help: ArgumentHelp("Prometheus textfile.", valueName: "file")) var metricsFile: String?
    @Option(help: ArgumentHelp("etcd's data dir.", valueName: "dir")) var dataDir: String?
    @Option(help: ArgumentHelp("etcd's systemd unit.", valueName: "name")) var unit: String?
    @Option(help: ArgumentHelp("Schedule interval.", valueName: "interval")) var every: String?
    @OptionGroup var retention: RetentionOptions
    @OptionGroup var output: OutputOptions
    @Option(help: .hidden) var discoveryRoot: String = "/"

    func run() throws {
        var flags = retention.configurationFlags
        flags[.dir] = dir.map(absolutePath)
        flags[.metricsFile] = metricsFile.map(absolutePath)
        flags[.dataDir] = dataDir.map(absolutePath)
        flags[.unit] = unit
        flags[.every] = every
        let resolved = try connection.resolve(extra: flags, discoveryRoot: discoveryRoot)
        let rows = ConfigurationKey.allCases.compactMap { key -> SettingJSON? in
            guard let setting = resolved.settings[key] else { return nil }
            // etcdctl's "user:password" form: show the user only.
            let value = key == .user ? String(setting.value.prefix { $0 != ":" }) : setting.value
            return SettingJSON(key: key.fileKey, value: value, layer: setting.source.layer,
                               source: setting.source.description)
        }
        let policy = resolved.retentionPolicy
        let password = Self.passwordSource(resolved)
        let remote = Self.remoteCredentials(resolved)
        switch output.output {
        case .json:
            try printJSON(ConfigShowJSON(settings: rows, retentionPolicy: policy, password: password, remoteCredentials: remote))
        case .table:
            print(renderTable(["KEY", "VALUE", "SOURCE"], rows.map { [$0.key, $0.value, $0.source] }), terminator: "")
            if ConfigurationKey.retentionKeys.allSatisfy({ resolved.settings[$0] == nil }) {
                print("retention: the default policy (keep-last 6, hourly 24, daily 7, weekly 4, monthly 3)")
            }
            print("password: \(password)")
            if let remote { print("remote credentials: \(remote)") }
        }
    }

    /// The S3 credentials a remote would use, secrets masked; nil when no remote is configured.
    static func remoteCredentials(_ resolved: ResolvedConfiguration) -> String? {
        guard resolved[.remoteEndpoint] != nil else { return nil }
        let env = ProcessInfo.processInfo.environment
        do {
            return try OffsiteSettings.from(resolved, environment: env, home: env["HOME"] ?? NSHomeDirectory())?.credentials.description
        } catch {
            return "not usable: \(error)"
        }
    }

    /// Where the password would come from, never the password itself.
    static func passwordSource(_ resolved: ResolvedConfiguration) -> String {
        guard let user = resolved[.user] else { return "none (no user)" }
        if user.contains(":") { return "given with the user name (visible in ps; prefer ETCDCTL_PASSWORD)" }
        if ProcessInfo.processInfo.environment["ETCDCTL_PASSWORD"] != nil { return "environment ETCDCTL_PASSWORD (set, not shown)" }
        if let file = resolved[.passwordFile] { return "file \(file) (not shown)" }
        return "asked on the terminal"
    }
}

struct SettingJSON: Encodable {
    var key: String
    var value: String
    var layer: String
    var source: String
}

struct ConfigShowJSON: Encodable {
    var settings: [SettingJSON]
    var retentionPolicy: RetentionPolicy
    var password: String
    var remoteCredentials: String?
}
