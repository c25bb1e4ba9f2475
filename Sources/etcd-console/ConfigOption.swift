import ArgumentParser
import Foundation
import Operations
import Recovery

/// `--config FILE`: the config file to read instead of `ETCD_CONSOLE_CONFIG` or /etc/etcd-console/config.yaml.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Config file (env ETCD_CONSOLE_CONFIG; default /etc/etcd-console/config.yaml when it exists).", valueName: "file"))
    var config: String?

    /// The config file in effect, or nil when none is named and the standard one does not exist. A file named
    /// by `--config` or `ETCD_CONSOLE_CONFIG` must exist; the standard one is skipped with a warning when this
    /// user may not read it (a non-root `status` still works).
    func load(environment env: [String: String]) throws -> ConfigFile? {
        if let named = config ?? env[ConfigFile.environmentVariable].flatMap({ $0.isEmpty ? nil : $0 }) {
            return try ConfigFile.load(path: absolutePath(named))
        }
        let standard = ConfigFile.standardPath
        guard FileManager.default.fileExists(atPath: standard) else { return nil }
        guard FileManager.default.isReadableFile(atPath: standard) else {
            printError("warning: cannot read \(standard) as this user; going on without it")
            return nil
        }
        return try ConfigFile.load(path: standard)
    }

    /// The path of the config file `load` reads, or nil when there is none (for the bundle, which keeps it).
    func path(environment env: [String: String]) -> String? {
        if let named = config ?? env[ConfigFile.environmentVariable].flatMap({ $0.isEmpty ? nil : $0 }) {
            return absolutePath(named)
        }
        return FileManager.default.isReadableFile(atPath: ConfigFile.standardPath) ? ConfigFile.standardPath : nil
    }

    /// Flags over environment over the config file over discovery over defaults.
    func resolve(flags: [ConfigurationKey: String],
                 environment env: [String: String] = ProcessInfo.processInfo.environment,
                 discoveryRoot: String = "/") throws -> ResolvedConfiguration {
        try ConfigurationResolver.resolve(flags: flags, environment: env, file: try load(environment: env),
                                          discoveryRoot: discoveryRoot)
    }
}
