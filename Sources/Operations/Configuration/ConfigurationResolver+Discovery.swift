import Foundation
import Recovery

extension ConfigurationResolver {
    /// Every setting of one command, discovery included: flags over environment over the config file over
    /// discovery over defaults. Discovery runs once, here, for the unit the operator named (flags > environment >
    /// file, else etcd) and the data dir they named; a host where nothing is found resolves to the defaults.
    /// The `restore` command and the console both resolve through this, so they see the same settings.
    public static func resolve(flags: [ConfigurationKey: String], environment: [String: String], file: ConfigFile?,
                               discoveryRoot: String) throws(ConfigurationError) -> ResolvedConfiguration {
        let unit = unitBeforeDiscovery(flags: flags, environment: environment, file: file) ?? "etcd"
        var overrides: [EtcdSetting.Name: String] = [:]
        if let dataDir = flags[.dataDir]
            ?? environment[ConfigurationKey.dataDir.environmentVariable].flatMap({ $0.isEmpty ? nil : $0 })
            ?? file?.values[.dataDir]?.text {
            overrides[.dataDir] = dataDir
        }
        let deployment = try? EtcdDiscovery(root: discoveryRoot, unit: unit).discover(overrides: overrides)
        return try resolve(flags: flags, environment: environment, file: file, deployment: deployment)
    }
}
