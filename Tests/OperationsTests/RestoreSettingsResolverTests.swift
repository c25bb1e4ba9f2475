import Operations
import Recovery
import Testing

/// The restore keys in the one resolver: for each, a flag beats the environment beats the config file beats
/// discovery beats the default, each with its source; and `RestoreOptions.resolved` passes exactly those on.
@Suite("Settings resolver: the keys restore and doctor use")
struct RestoreSettingsResolverTests {
    static let path = "/etc/etcd-console/config.yaml"
    static let unitSource = "ExecStart in /etc/systemd/system/etcd.service"

    /// A systemd deployment that sets every restore setting discovery knows.
    static let unit = EtcdDeployment(
        kind: .systemd, unitName: "etcd", unitFile: "/etc/systemd/system/etcd.service",
        settings: [
            .dataDir: EtcdSetting(value: "/disc/data", source: unitSource),
            .walDir: EtcdSetting(value: "/disc/wal", source: unitSource),
            .name: EtcdSetting(value: "disc-name", source: unitSource),
            .initialCluster: EtcdSetting(value: "disc-name=http://10.9.9.9:2380", source: unitSource),
            .initialAdvertisePeerURLs: EtcdSetting(value: "http://10.9.9.9:2380", source: unitSource),
            .initialClusterToken: EtcdSetting(value: "disc-token", source: unitSource),
            .quotaBackendBytes: EtcdSetting(value: "8589934592", source: unitSource),
        ], etcdProgram: "/usr/local/bin/etcd")

    enum Layer: String, CaseIterable { case flag, environment, file, discovery }

    /// key, a value per layer (flag, environment, file, discovery; nil: that layer has none), the default.
    static let cases: [(ConfigurationKey, [String?], String?)] = [
        (.dataDir, ["/flag/data", "/env/data", "/file/data", "/disc/data"], "/var/lib/etcd"),
        (.walDir, ["/flag/wal", "/env/wal", "/file/wal", "/disc/wal"], nil),
        (.unit, ["flag-unit", "env-unit", "file-unit", "etcd"], "etcd"),
        (.staticPodManifest, ["/flag/etcd.yaml", "/env/etcd.yaml", "/file/etcd.yaml", nil], nil),
        (.name, ["flag-name", "env-name", "file-name", "disc-name"], nil),
        (.initialCluster, ["f=http://1.1.1.1:2380", "e=http://2.2.2.2:2380", "i=http://3.3.3.3:2380", "disc-name=http://10.9.9.9:2380"], nil),
        (.initialAdvertisePeerURLs, ["http://1.1.1.1:2380", "http://2.2.2.2:2380", "http://3.3.3.3:2380", "http://10.9.9.9:2380"], nil),
        (.initialClusterToken, ["flag-token", "env-token", "file-token", "disc-token"], nil),
        (.restoreTool, ["/flag/etcdutl", "/env/etcdutl", "/file/etcdutl", nil], nil),
        (.quotaBackendBytes, ["1024", "2048", "4096", "8589934592"], nil),
    ]

    @Test("Per key, the highest layer wins with its source; then the next layer down when it is absent",
          arguments: cases.indices)
    func precedence(index: Int) throws {
        let (key, values, fallback) = Self.cases[index]
        for top in Layer.allCases.indices {
            var flags: [ConfigurationKey: String] = [:]
            var environment: [String: String] = [:]
            var fileText = ""
            if top <= 0, let value = values[0] { flags[key] = value }
            if top <= 1, let value = values[1] { environment[key.environmentVariable] = value }
            if top <= 2, let value = values[2] { fileText = "\(key.rawValue): \(value)\n" }
            let file = try ConfigFile.parse(fileText, path: Self.path)
            let resolved = try ConfigurationResolver.resolve(flags: flags, environment: environment, file: file, deployment: Self.unit)
            let expected: (String?, String)
            switch top {
            case 0: expected = (values[0], "flag \(key.flag)")
            case 1: expected = (values[1], "environment \(key.environmentVariable)")
            case 2: expected = (values[2], "\(Self.path):1")
            default:
                let discovered = key == .unit ? "discovered: /etc/systemd/system/etcd.service" : "discovered: \(Self.unitSource)"
                expected = values[3].map { ($0, discovered) } ?? (fallback, "default")
            }
            #expect(resolved[key] == expected.0, "\(key) with the top layer \(Layer.allCases[top])")
            if expected.0 != nil {
                #expect(resolved.settings[key]?.source.description == expected.1, "\(key) with the top layer \(Layer.allCases[top])")
            }
        }
    }

    @Test("The environment variables are ETCD_CONSOLE_<KEY>")
    func variables() {
        #expect(ConfigurationKey.dataDir.environmentVariable == "ETCD_CONSOLE_DATA_DIR")
        #expect(ConfigurationKey.unit.environmentVariable == "ETCD_CONSOLE_UNIT")
        #expect(ConfigurationKey.restoreTool.environmentVariable == "ETCD_CONSOLE_RESTORE_TOOL")
        #expect(ConfigurationKey.initialCluster.environmentVariable == "ETCD_CONSOLE_INITIAL_CLUSTER")
    }

    @Test("A bad value names the key and where it came from")
    func badValues() throws {
        #expect(throws: ConfigurationError.self) {
            try ConfigurationResolver.resolve(flags: [:], environment: ["ETCD_CONSOLE_RESTORE_TOOL": "etcdutl"], file: nil, deployment: nil)
        }
        do {
            _ = try ConfigurationResolver.resolve(flags: [:], environment: ["ETCD_CONSOLE_QUOTA_BACKEND_BYTES": "8G"], file: nil, deployment: nil)
        } catch {
            #expect("\(error)".contains("ETCD_CONSOLE_QUOTA_BACKEND_BYTES must be a whole number 0 or more, not \"8G\""), "\(error)")
        }
        #expect(throws: ConfigurationError.self) { try ConfigFile.parse("wal-dir: relative/wal\n", path: Self.path) }
    }

    @Test("The unit named before discovery: flag, else environment, else the file")
    func unitForDiscovery() throws {
        let file = try ConfigFile.parse("unit: file-unit\n", path: Self.path)
        #expect(ConfigurationResolver.unitBeforeDiscovery(flags: [.unit: "flag-unit"], environment: ["ETCD_CONSOLE_UNIT": "env-unit"], file: file) == "flag-unit")
        #expect(ConfigurationResolver.unitBeforeDiscovery(flags: [:], environment: ["ETCD_CONSOLE_UNIT": "env-unit"], file: file) == "env-unit")
        #expect(ConfigurationResolver.unitBeforeDiscovery(flags: [:], environment: [:], file: file) == "file-unit")
        #expect(ConfigurationResolver.unitBeforeDiscovery(flags: [:], environment: [:], file: nil) == nil)
    }

    @Test("Restore options carry every chosen value with its source, and leave defaults to the planner")
    func restoreOptions() throws {
        let file = try ConfigFile.parse("data-dir: /srv/etcd\nunit: my-etcd\n", path: Self.path)
        let resolved = try ConfigurationResolver.resolve(flags: [.name: "flag-name"], environment: ["ETCD_CONSOLE_RESTORE_TOOL": "/opt/etcdutl"],
                                                         file: file, deployment: Self.unit)
        let options = RestoreOptions.resolved(snapshotPath: "/b/s.db", resolved)
        #expect(options.dataDir == "/srv/etcd" && options.sources[.dataDir] == "\(Self.path):1")
        #expect(options.unit == "my-etcd" && options.sources[.service] == "\(Self.path):2")
        #expect(options.name == "flag-name" && options.sources[.name] == "flag --name")
        #expect(options.restoreTool == "/opt/etcdutl" && options.sources[.restoreTool] == "environment ETCD_CONSOLE_RESTORE_TOOL")
        #expect(options.initialClusterToken == "disc-token" && options.sources[.initialClusterToken] == "discovered: \(Self.unitSource)")
        let none = RestoreOptions.resolved(snapshotPath: "/b/s.db", try ConfigurationResolver.resolve(flags: [:], environment: [:], file: nil, deployment: nil))
        #expect(none.dataDir == nil && none.unit == nil && none.name == nil && none.sources.isEmpty)
    }
}
