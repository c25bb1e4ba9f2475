import Foundation
import Recovery

extension RestoreOptions {
    /// A restore's options from the one settings value: every restore key that a flag, the environment, the
    /// config file or discovery set (defaults are left to the planner, below the snapshot's sidecar), each with
    /// its source, so the plan shows where a value came from.
    public static func resolved(snapshotPath: String, _ resolved: ResolvedConfiguration) -> RestoreOptions {
        var options = RestoreOptions(snapshotPath: snapshotPath)
        func take(_ key: ConfigurationKey, _ field: RestoreField, _ assign: (inout RestoreOptions, String) -> Void) {
            guard let setting = resolved.chosen(key) else { return }
            assign(&options, setting.value)
            options.sources[field] = setting.source.description
        }
        take(.dataDir, .dataDir) { $0.dataDir = $1 }
        take(.walDir, .walDir) { $0.walDir = $1 }
        take(.name, .name) { $0.name = $1 }
        take(.initialCluster, .initialCluster) { $0.initialCluster = $1 }
        take(.initialClusterToken, .initialClusterToken) { $0.initialClusterToken = $1 }
        take(.initialAdvertisePeerURLs, .initialAdvertisePeerURLs) { $0.initialAdvertisePeerURLs = $1 }
        take(.restoreTool, .restoreTool) { $0.restoreTool = $1 }
        // A unit discovered is the deployment's own; one named (flag, environment, file) wins over a manifest.
        if let unit = resolved.chosen(.unit), unit.source.layer != "discovery" {
            options.unit = unit.value
            options.sources[.service] = unit.source.description
        }
        if let manifest = resolved.chosen(.staticPodManifest), manifest.source.layer != "discovery" {
            options.staticPodManifest = manifest.value
            options.unit = nil
            options.sources[.service] = manifest.source.description
        }
        return options
    }
}
