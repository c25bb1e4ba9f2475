import Operations
import Recovery
import SnapshotStore
import Testing

@Suite("Configuration precedence")
struct ConfigurationResolverTests {
    static let filePath = "/etc/etcd-console/config.yaml"

    /// A kubeadm-shaped deployment as discovery reports it.
    static let kubeadm = EtcdDeployment(
        kind: .staticPod, manifestPath: "/etc/kubernetes/manifests/etcd.yaml",
        settings: [
            .advertiseClientURLs: EtcdSetting(value: "https://10.0.0.5:2379", source: "/etc/kubernetes/manifests/etcd.yaml (command)"),
            .listenClientURLs: EtcdSetting(value: "https://127.0.0.1:2379,https://10.0.0.5:2379", source: "/etc/kubernetes/manifests/etcd.yaml (command)"),
            .trustedCAFile: EtcdSetting(value: "/etc/kubernetes/pki/etcd/ca.crt", source: "/etc/kubernetes/manifests/etcd.yaml (command)"),
            .certFile: EtcdSetting(value: "/etc/kubernetes/pki/etcd/server.crt", source: "/etc/kubernetes/manifests/etcd.yaml (command)"),
            .keyFile: EtcdSetting(value: "/etc/kubernetes/pki/etcd/server.key", source: "/etc/kubernetes/manifests/etcd.yaml (command)"),
            .clientCertAuth: EtcdSetting(value: "true", source: "/etc/kubernetes/manifests/etcd.yaml (command)"),
            .dataDir: EtcdSetting(value: "/var/lib/etcd", source: "/etc/kubernetes/manifests/etcd.yaml (command)"),
            .name: EtcdSetting(value: "default", source: "default"),
        ])

    static func file(_ text: String) throws -> ConfigFile { try ConfigFile.parse(text, path: filePath) }

    enum Layer: String, CaseIterable { case flag, environment, file, discovery, none }

    /// For each key, one value per layer; the highest layer present must win, with its source.
    @Test("The highest layer that sets a value wins, and the source says which", arguments: [
        (Layer.flag, "https://1.1.1.1:2379", "flag --endpoints"),
        (Layer.environment, "https://2.2.2.2:2379", "environment ETCDCTL_ENDPOINTS"),
        (Layer.file, "https://3.3.3.3:2379", "/etc/etcd-console/config.yaml:1"),
        (Layer.discovery, "https://10.0.0.5:2379", "discovered: /etc/kubernetes/manifests/etcd.yaml (command)"),
        (Layer.none, "https://127.0.0.1:2379", "default"),
    ])
    func endpointsPrecedence(top: Layer, expected: String, source: String) throws {
        let layers = Layer.allCases.drop { $0 != top }
        let flags: [ConfigurationKey: String] = layers.contains(.flag) ? [.endpoints: "https://1.1.1.1:2379"] : [:]
        let env = layers.contains(.environment) ? ["ETCDCTL_ENDPOINTS": "https://2.2.2.2:2379"] : [:]
        let file = layers.contains(.file) ? try Self.file("endpoints: [https://3.3.3.3:2379]\ncacert: /file/ca.crt\n") : nil
        let deployment = layers.contains(.discovery) ? Self.kubeadm : nil
        // The default is https because a CA is set somewhere (or not, for .none: then http).
        let resolved = try ConfigurationResolver.resolve(flags: flags, environment: env, file: file, deployment: deployment)
        let expectedValue = top == .none ? "http://127.0.0.1:2379" : expected
        #expect(resolved[.endpoints] == expectedValue)
        #expect(resolved.settings[.endpoints]?.source.description == source)
    }

    @Test("Each key resolves on its own: a flag for one key does not hide the file's other keys")
    func perKey() throws {
        let file = try Self.file("dir: /file/backups\nmetrics-file: /file/m.prom\nretention:\n  keep-last: 10\n  daily: 7\n")
        let resolved = try ConfigurationResolver.resolve(
            flags: [.keepLast: "3"], environment: ["ETCD_CONSOLE_DIR": "/env/backups"], file: file, deployment: Self.kubeadm)
        #expect(resolved.snapshotDirectory == "/env/backups")
        #expect(resolved.settings[.dir]?.source == .environment("ETCD_CONSOLE_DIR"))
        #expect(resolved[.metricsFile] == "/file/m.prom")
        #expect(resolved.settings[.metricsFile]?.source == .file(path: Self.filePath, line: 2))
        #expect(resolved.retentionPolicy == RetentionPolicy(keepLast: 3, daily: 7))
        #expect(resolved[.cacert] == "/etc/kubernetes/pki/etcd/ca.crt")
        #expect(resolved[.cert] == "/etc/kubernetes/pki/etcd/server.crt")
        #expect(resolved[.dataDir] == "/var/lib/etcd")
        #expect(resolved[.dialTimeout] == "3s")
        #expect(resolved.settings[.dialTimeout]?.source == .defaultValue)
    }

    @Test("With no retention key anywhere the default policy applies; the default interval is not 'configured'")
    func defaults() throws {
        let resolved = try ConfigurationResolver.resolve(flags: [:], environment: [:], file: nil, deployment: nil)
        #expect(resolved.retentionPolicy == .default)
        #expect(resolved.interval == .standard)
        #expect(!resolved.intervalIsConfigured)
        #expect(resolved.snapshotDirectory == "/var/lib/etcd-backup")
        #expect(resolved[.endpoints] == "http://127.0.0.1:2379")
        let configured = try ConfigurationResolver.resolve(flags: [:], environment: [:],
                                                           file: try Self.file("schedule:\n  every: 1h\n"), deployment: nil)
        #expect(configured.intervalIsConfigured)
        #expect(configured.interval.seconds == 3600)
    }

    @Test("Discovery: a wildcard listen address becomes 127.0.0.1; no client certificate unless etcd asks for one")
    func discovery() throws {
        let plain = EtcdDeployment(kind: .systemd, unitName: "etcd", unitFile: "/etc/systemd/system/etcd.service", settings: [
            .listenClientURLs: EtcdSetting(value: "http://0.0.0.0:2379", source: "ExecStart in /etc/systemd/system/etcd.service"),
            .advertiseClientURLs: EtcdSetting(value: "http://localhost:2379", source: "default"),
            .certFile: EtcdSetting(value: "/etc/etcd/server.pem", source: "ExecStart in /etc/systemd/system/etcd.service"),
            .keyFile: EtcdSetting(value: "/etc/etcd/server-key.pem", source: "ExecStart in /etc/systemd/system/etcd.service"),
        ])
        let resolved = try ConfigurationResolver.resolve(flags: [:], environment: [:], file: nil, deployment: plain)
        #expect(resolved[.endpoints] == "http://127.0.0.1:2379")
        #expect(resolved.settings[.endpoints]?.source == .discovery("ExecStart in /etc/systemd/system/etcd.service"))
        #expect(resolved[.cert] == nil)
        #expect(resolved[.key] == nil)
        #expect(resolved[.unit] == "etcd")
        #expect(resolved.settings[.unit]?.source == .discovery("/etc/systemd/system/etcd.service"))
    }

    @Test("Bad values in the environment or flags are refused naming the variable or flag", arguments: [
        ([:], ["ETCD_CONSOLE_KEEP_LAST": "many"], "ETCD_CONSOLE_KEEP_LAST must be a whole number 0 or more, not \"many\""),
        ([:], ["ETCD_CONSOLE_EVERY": "45min"], "ETCD_CONSOLE_EVERY \"45min\" does not divide an hour or a day evenly"),
        ([:], ["ETCDCTL_DIAL_TIMEOUT": "later"], "ETCDCTL_DIAL_TIMEOUT must be a duration such as 500ms, 3s or 2m, not \"later\""),
        ([ConfigurationKey.dir: "relative/dir"], [:], "--dir must be an absolute path (starting with /), not \"relative/dir\""),
        ([:], ["ETCDCTL_CERT": "/x/client.crt"], "cert is set (environment ETCDCTL_CERT) but key is not: a client certificate needs both"),
    ] as [([ConfigurationKey: String], [String: String], String)])
    func refused(flags: [ConfigurationKey: String], env: [String: String], expected: String) {
        do {
            _ = try ConfigurationResolver.resolve(flags: flags, environment: env, file: nil, deployment: nil)
            Issue.record("accepted \(flags) \(env)")
        } catch {
            #expect(error.message.hasPrefix(expected), "\(error.message)")
        }
    }

    @Test("An empty variable counts as unset")
    func emptyVariable() throws {
        let resolved = try ConfigurationResolver.resolve(flags: [:], environment: ["ETCD_CONSOLE_DIR": ""],
                                                         file: try Self.file("dir: /file/dir\n"), deployment: nil)
        #expect(resolved.snapshotDirectory == "/file/dir")
    }

    @Test("config init's template reads back as the values it was written from")
    func templateRoundTrip() throws {
        let resolved = try ConfigurationResolver.resolve(flags: [.dir: "/backup/etcd", .every: "1h", .metricsFile: "/var/lib/x/etcd.prom"],
                                                         environment: [:], file: nil, deployment: Self.kubeadm)
        let text = ConfigTemplate.render(resolved, generatedBy: "test")
        let file = try ConfigFile.parse(text, path: Self.filePath)
        for key in [ConfigurationKey.endpoints, .cacert, .cert, .key, .dir, .every, .metricsFile, .dataDir] {
            #expect(file.values[key]?.text == resolved[key], "\(key): \(text)")
        }
        // Defaults stay commented out, so a later default change reaches this host.
        #expect(file.values[.dialTimeout] == nil)
        #expect(file.values[.keepLast] == nil)
        #expect(text.contains("#dial-timeout: 3s"))
        #expect(text.contains("cacert: /etc/kubernetes/pki/etcd/ca.crt   # discovered: /etc/kubernetes/manifests/etcd.yaml (command)"))
    }
}
