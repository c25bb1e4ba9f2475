import Foundation
import Testing
@testable import Recovery

@Suite("Discovery of the local etcd")
struct DiscoveryTests {
    @Test("A binary install's unit with a long ExecStart over continued lines gives every flag and its source")
    func binaryInstall() throws {
        let unit = "/etc/systemd/system/etcd.service"
        let found = try withFakeHost([unit: DiscoverySamples.binaryInstallUnit]) { try $0.discover() }
        let fromExecStart = "ExecStart in \(unit)"

        #expect(found.kind == .systemd)
        #expect(found.unitName == "etcd")
        #expect(found.unitFile == unit)
        #expect(found.runAsUser == "root")
        #expect(found.settings[.name] == EtcdSetting(value: "controller-0", source: fromExecStart))
        #expect(found.settings[.dataDir] == EtcdSetting(value: "/var/lib/etcd", source: fromExecStart))
        #expect(found.settings[.walDir] == EtcdSetting(value: "/var/lib/etcd/member/wal", source: "default"))
        #expect(found.clientURLs == ["https://10.240.0.10:2379", "https://127.0.0.1:2379"])
        #expect(found.advertiseClientURLs == ["https://10.240.0.10:2379"])
        #expect(found.peerURLs == ["https://10.240.0.10:2380"])
        #expect(found.initialAdvertisePeerURLs == ["https://10.240.0.10:2380"])
        #expect(found.settings[.initialCluster] == EtcdSetting(
            value: "controller-0=https://10.240.0.10:2380,controller-1=https://10.240.0.11:2380,controller-2=https://10.240.0.12:2380",
            source: fromExecStart))
        #expect(found.settings[.initialClusterToken] == EtcdSetting(value: "etcd-cluster-0", source: fromExecStart))
        #expect(found.settings[.initialClusterState] == EtcdSetting(value: "new", source: fromExecStart))
        #expect(found.certFile == "/etc/etcd/kubernetes.pem")
        #expect(found.keyFile == "/etc/etcd/kubernetes-key.pem")
        #expect(found.trustedCAFile == "/etc/etcd/ca.pem")
        #expect(found.peerCertFile == "/etc/etcd/kubernetes.pem")
        #expect(found.peerKeyFile == "/etc/etcd/kubernetes-key.pem")
        #expect(found.peerTrustedCAFile == "/etc/etcd/ca.pem")
        #expect(found.settings[.clientCertAuth] == EtcdSetting(value: "true", source: fromExecStart))
        #expect(found.clientCertAuth)
        #expect(found.settings[.peerClientCertAuth]?.value == "true")
        #expect(found.settings[.certFile]?.source == fromExecStart)
        #expect(found.settings[.configFile] == nil)
    }

    @Test("Debian's unit reads /etc/default/etcd, expands $DAEMON_ARGS and runs as User=etcd")
    func debianPackage() throws {
        let unit = "/lib/systemd/system/etcd.service"
        let found = try withFakeHost([
            unit: DiscoverySamples.debianUnit,
            "/etc/default/etcd": DiscoverySamples.debianDefaults,
            "/etc/hostname": "deb-host\n",
        ]) { try $0.discover() }
        let fromDefaults = "EnvironmentFile /etc/default/etcd"
        let viaArgs = "ExecStart in \(unit) via $DAEMON_ARGS (EnvironmentFile /etc/default/etcd)"

        #expect(found.kind == .systemd)
        #expect(found.unitFile == unit)
        #expect(found.runAsUser == "etcd")
        #expect(found.settings[.name] == EtcdSetting(value: "deb-master", source: fromDefaults))
        #expect(found.settings[.dataDir] == EtcdSetting(value: "/srv/etcd", source: fromDefaults))
        #expect(found.settings[.listenClientURLs] == EtcdSetting(
            value: "http://10.0.0.7:2379,http://127.0.0.1:2379", source: fromDefaults))
        #expect(found.settings[.advertiseClientURLs] == EtcdSetting(value: "http://10.0.0.7:2379", source: fromDefaults))
        #expect(found.settings[.initialClusterToken] == EtcdSetting(value: "deb-cluster", source: viaArgs))
        #expect(found.settings[.listenPeerURLs] == EtcdSetting(value: "http://10.0.0.7:2380", source: viaArgs))
        #expect(found.settings[.initialAdvertisePeerURLs] == EtcdSetting(value: "http://localhost:2380", source: "default"))
        #expect(found.settings[.initialCluster] == EtcdSetting(value: "deb-master=http://localhost:2380", source: "default"))
        #expect(found.notes.isEmpty)
    }

    @Test("Debian's unit without /etc/default/etcd uses its own Environment= lines and %H")
    func debianPackageWithoutDefaults() throws {
        let unit = "/lib/systemd/system/etcd.service"
        let found = try withFakeHost([unit: DiscoverySamples.debianUnit, "/etc/hostname": "deb-host\n"]) {
            try $0.discover()
        }
        #expect(found.settings[.name] == EtcdSetting(value: "deb-host", source: "Environment=ETCD_NAME in \(unit)"))
        #expect(found.settings[.dataDir] == EtcdSetting(value: "/var/lib/etcd/default",
                                                        source: "Environment=ETCD_DATA_DIR in \(unit)"))
        #expect(found.settings[.listenClientURLs] == EtcdSetting(value: "http://localhost:2379", source: "default"))
        #expect(found.notes.isEmpty, "the EnvironmentFile is optional (leading -)")
    }

    @Test("kubeadm's static pod manifest gives the etcd container's flags")
    func kubeadmStaticPod() throws {
        let manifest = "/etc/kubernetes/manifests/etcd.yaml"
        let found = try withFakeHost([manifest: DiscoverySamples.kubeadmManifest]) { try $0.discover() }
        let fromCommand = "\(manifest) (command)"

        #expect(found.kind == .staticPod)
        #expect(found.manifestPath == manifest)
        #expect(found.unitFile == nil)
        #expect(found.runAsUser == "root")
        #expect(found.settings[.name] == EtcdSetting(value: "master1", source: fromCommand))
        #expect(found.settings[.dataDir] == EtcdSetting(value: "/var/lib/etcd", source: fromCommand))
        #expect(found.walDir == "/var/lib/etcd/member/wal")
        #expect(found.advertiseClientURLs == ["https://10.0.0.5:2379"])
        #expect(found.clientURLs == ["https://127.0.0.1:2379", "https://10.0.0.5:2379"])
        #expect(found.peerURLs == ["https://10.0.0.5:2380"])
        #expect(found.settings[.initialAdvertisePeerURLs] == EtcdSetting(value: "https://10.0.0.5:2380", source: fromCommand))
        #expect(found.settings[.initialCluster] == EtcdSetting(value: "master1=https://10.0.0.5:2380", source: fromCommand))
        #expect(found.settings[.initialClusterToken] == EtcdSetting(value: "etcd-cluster", source: "default"))
        #expect(found.settings[.certFile] == EtcdSetting(value: "/etc/kubernetes/pki/etcd/server.crt", source: fromCommand))
        #expect(found.keyFile == "/etc/kubernetes/pki/etcd/server.key")
        #expect(found.trustedCAFile == "/etc/kubernetes/pki/etcd/ca.crt")
        #expect(found.clientCertAuth)
        #expect(found.peerCertFile == "/etc/kubernetes/pki/etcd/peer.crt")
        #expect(found.peerKeyFile == "/etc/kubernetes/pki/etcd/peer.key")
        #expect(found.peerTrustedCAFile == "/etc/kubernetes/pki/etcd/ca.crt")
    }

    @Test("Drop-ins apply in name order: Environment= sets ETCD_DATA_DIR and an empty ExecStart= resets the command")
    func dropIns() throws {
        let unit = "/lib/systemd/system/etcd.service"
        let dataDirDropIn = "/etc/systemd/system/etcd.service.d/10-data-dir.conf"
        let execDropIn = "/etc/systemd/system/etcd.service.d/20-exec.conf"
        let found = try withFakeHost([
            unit: """
            [Service]
            User=etcd
            WorkingDirectory=/var/lib/etcd
            ExecStart=/usr/bin/etcd --name packaged --data-dir=/var/lib/etcd/packaged
            """,
            dataDirDropIn: """
            [Service]
            Environment="ETCD_DATA_DIR=/data/etcd" "ETCD_INITIAL_CLUSTER_TOKEN=tok en"
            """,
            execDropIn: """
            # local build of etcd
            [Service]
            ExecStart=
            ExecStart=/opt/etcd/bin/etcd --name node-a \\
                --wal-dir wal
            """,
            // A same-named drop-in under /lib is replaced by the one in /etc.
            "/lib/systemd/system/etcd.service.d/20-exec.conf": "[Service]\nExecStart=/usr/bin/etcd --name shadowed\n",
        ]) { try $0.discover() }

        #expect(found.kind == .systemd)
        #expect(found.unitFile == unit)
        #expect(found.runAsUser == "etcd")
        #expect(found.settings[.name] == EtcdSetting(value: "node-a", source: "ExecStart in \(execDropIn)"))
        #expect(found.settings[.dataDir] == EtcdSetting(value: "/data/etcd",
                                                        source: "Environment=ETCD_DATA_DIR in \(dataDirDropIn)"))
        #expect(found.settings[.initialClusterToken] == EtcdSetting(
            value: "tok en", source: "Environment=ETCD_INITIAL_CLUSTER_TOKEN in \(dataDirDropIn)"))
        #expect(found.settings[.walDir] == EtcdSetting(value: "/var/lib/etcd/wal", source: "ExecStart in \(execDropIn)"),
                "a relative --wal-dir is resolved against WorkingDirectory=")
    }

    @Test("Flags override ETCD_* variables, and ${VAR} is expanded inside a flag")
    func flagsOverrideEnvironment() throws {
        let unit = "/etc/systemd/system/etcd.service"
        let found = try withFakeHost([unit: #"""
            [Service]
            Environment=ETCD_NAME=from-env ETCD_DATA_DIR=/env/data NODE_IP=10.1.1.1
            ExecStart=-/usr/local/bin/etcd --name "from flag" \
              -listen-client-urls=https://${NODE_IP}:2379
            """#]) { try $0.discover() }
        #expect(found.settings[.name] == EtcdSetting(value: "from flag", source: "ExecStart in \(unit)"))
        #expect(found.settings[.dataDir] == EtcdSetting(value: "/env/data", source: "Environment=ETCD_DATA_DIR in \(unit)"))
        #expect(found.settings[.listenClientURLs] == EtcdSetting(
            value: "https://10.1.1.1:2379", source: "ExecStart in \(unit) via $NODE_IP (Environment=NODE_IP in \(unit))"))
    }

    @Test("With --config-file etcd reads the YAML and ignores its other flags and variables")
    func configFileFlag() throws {
        let unit = "/etc/systemd/system/etcd.service"
        let config = "/etc/etcd/etcd.conf.yml"
        let found = try withFakeHost([
            unit: """
            [Service]
            User=etcd
            Environment=ETCD_DATA_DIR=/ignored/by/etcd
            ExecStart=/usr/bin/etcd --config-file \(config) --name ignored-too
            """,
            config: DiscoverySamples.configYAML,
        ]) { try $0.discover() }
        let fromYAML = "--config-file \(config)"

        #expect(found.kind == .systemd)
        #expect(found.configFile == config)
        #expect(found.settings[.configFile] == EtcdSetting(value: config, source: "ExecStart in \(unit)"))
        #expect(found.settings[.name] == EtcdSetting(value: "infra1", source: fromYAML))
        #expect(found.settings[.dataDir] == EtcdSetting(value: "/var/lib/etcd/infra1", source: fromYAML))
        #expect(found.settings[.walDir] == EtcdSetting(value: "/var/lib/etcd/infra1/member/wal", source: "default"))
        #expect(found.settings[.initialCluster] == EtcdSetting(
            value: "infra1=https://10.0.1.10:2380,infra2=https://10.0.1.11:2380,infra3=https://10.0.1.12:2380",
            source: fromYAML))
        #expect(found.settings[.initialClusterToken] == EtcdSetting(value: "etcd-cluster-1", source: fromYAML))
        #expect(found.clientURLs == ["https://10.0.1.10:2379", "https://127.0.0.1:2379"])
        #expect(found.settings[.certFile] == EtcdSetting(value: "/etc/etcd/ssl/server.pem",
                                                         source: "\(fromYAML) (client-transport-security)"))
        #expect(found.keyFile == "/etc/etcd/ssl/server-key.pem")
        #expect(found.trustedCAFile == "/etc/etcd/ssl/ca.pem")
        #expect(found.settings[.clientCertAuth] == EtcdSetting(value: "true", source: "\(fromYAML) (client-transport-security)"))
        #expect(found.settings[.peerCertFile] == EtcdSetting(value: "/etc/etcd/ssl/peer.pem",
                                                             source: "\(fromYAML) (peer-transport-security)"))
        #expect(found.peerKeyFile == "/etc/etcd/ssl/peer-key.pem")
        #expect(found.peerTrustedCAFile == "/etc/etcd/ssl/ca.pem")
    }

    @Test("/etc/etcd/etcd.conf alone (the RHEL package's env-style file) is read as ETCD_* variables")
    func envStyleConfigAlone() throws {
        let config = "/etc/etcd/etcd.conf"
        let found = try withFakeHost([config: DiscoverySamples.rhelEtcdConf]) { try $0.discover() }

        #expect(found.kind == .configFile)
        #expect(found.configFile == config)
        #expect(found.unitFile == nil && found.manifestPath == nil)
        #expect(found.runAsUser == nil)
        #expect(found.settings[.name] == EtcdSetting(value: "rhel1", source: config))
        #expect(found.settings[.dataDir] == EtcdSetting(value: "/var/lib/etcd/default.etcd", source: config))
        #expect(found.settings[.initialCluster] == EtcdSetting(value: "rhel1=http://192.168.1.20:2380", source: config))
        #expect(found.settings[.initialClusterToken] == EtcdSetting(value: "rhel-cluster", source: config))
        #expect(found.clientURLs == ["http://192.168.1.20:2379", "http://localhost:2379"])
        #expect(found.settings[.certFile] == nil, "commented-out variables are not settings")
        #expect(found.settings[.clientCertAuth] == EtcdSetting(value: "false", source: "default"))
    }

    @Test("/etc/etcd/etcd.conf.yml alone is read as etcd's YAML config")
    func yamlConfigAlone() throws {
        let config = "/etc/etcd/etcd.conf.yml"
        let found = try withFakeHost([config: DiscoverySamples.configYAML]) { try $0.discover() }
        #expect(found.kind == .configFile)
        #expect(found.configFile == config)
        #expect(found.settings[.name] == EtcdSetting(value: "infra1", source: config))
        #expect(found.settings[.certFile] == EtcdSetting(value: "/etc/etcd/ssl/server.pem",
                                                         source: "\(config) (client-transport-security)"))
    }

    @Test("With nothing on the host every setting is etcd's default")
    func nothingFound() throws {
        let found = try withFakeHost([:]) { try $0.discover() }
        #expect(found.kind == .none)
        #expect(found.unitName == nil && found.unitFile == nil && found.manifestPath == nil && found.configFile == nil)
        #expect(found.runAsUser == nil)
        let expected: [EtcdSetting.Name: String] = [
            .name: "default",
            .dataDir: "/default.etcd",
            .walDir: "/default.etcd/member/wal",
            .listenClientURLs: "http://localhost:2379",
            .advertiseClientURLs: "http://localhost:2379",
            .listenPeerURLs: "http://localhost:2380",
            .initialAdvertisePeerURLs: "http://localhost:2380",
            .initialCluster: "default=http://localhost:2380",
            .initialClusterToken: "etcd-cluster",
            .initialClusterState: "new",
            .clientCertAuth: "false",
            .peerClientCertAuth: "false",
        ]
        #expect(found.settings == expected.mapValues { EtcdSetting(value: $0, source: "default") })
        #expect(found.certFile == nil && found.keyFile == nil && found.trustedCAFile == nil)
    }

    @Test("Command-line overrides win over every deployment", arguments: [
        ["/etc/kubernetes/manifests/etcd.yaml": DiscoverySamples.kubeadmManifest],
        ["/etc/systemd/system/etcd.service": DiscoverySamples.binaryInstallUnit],
        ["/etc/etcd/etcd.conf.yml": DiscoverySamples.configYAML],
        [:],
    ])
    func overridesWin(files: [String: String]) throws {
        let found = try withFakeHost(files) {
            try $0.discover(overrides: [.dataDir: "/restore/etcd", .name: "m2",
                                        .initialCluster: "m2=https://10.9.9.9:2380"])
        }
        #expect(found.settings[.dataDir] == EtcdSetting(value: "/restore/etcd", source: "command line"))
        #expect(found.settings[.name] == EtcdSetting(value: "m2", source: "command line"))
        #expect(found.settings[.initialCluster] == EtcdSetting(value: "m2=https://10.9.9.9:2380", source: "command line"))
        #expect(found.walDir == "/restore/etcd/member/wal")
    }

    @Test("A systemd unit that runs etcd wins over a manifest, a manifest over a config file")
    func deploymentPrecedence() throws {
        let all = [
            "/etc/systemd/system/etcd.service": DiscoverySamples.binaryInstallUnit,
            "/etc/kubernetes/manifests/etcd.yaml": DiscoverySamples.kubeadmManifest,
            "/etc/etcd/etcd.conf": DiscoverySamples.rhelEtcdConf,
        ]
        #expect(try withFakeHost(all) { try $0.discover() }.kind == .systemd)
        var noUnit = all
        noUnit["/etc/systemd/system/etcd.service"] = "[Service]\nExecStart=/usr/bin/docker run --rm quay.io/coreos/etcd\n"
        #expect(try withFakeHost(noUnit) { try $0.discover() }.kind == .staticPod,
                "a unit whose ExecStart does not run etcd is not the deployment")
        noUnit["/etc/kubernetes/manifests/etcd.yaml"] = nil
        #expect(try withFakeHost(noUnit) { try $0.discover() }.kind == .configFile)
    }

    @Test("Broken YAML is reported with its file and line", arguments: [
        ("/etc/kubernetes/manifests/etcd.yaml", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - etcd\n   bad: [\n", 7),
        ("/etc/etcd/etcd.conf.yml", "name: infra1\ndata-dir: /var/lib/etcd\n  initial-cluster: x: y\n", 3),
    ])
    func brokenYAML(path: String, text: String, line: Int) throws {
        let error = try withFakeHost([path: text]) { host in
            #expect(throws: DiscoveryError.self) { try host.discover() }
        }
        #expect(error?.file == path)
        #expect(error?.line == line)
        #expect(error?.description.hasPrefix("could not parse \(path) line \(line): ") == true)
    }

    @Test("A --config-file that does not exist is an error naming it")
    func missingConfigFile() throws {
        let error = try withFakeHost([
            "/etc/systemd/system/etcd.service": "[Service]\nExecStart=/usr/bin/etcd --config-file=/etc/etcd/missing.yml\n",
        ]) { host in
            #expect(throws: DiscoveryError.self) { try host.discover() }
        }
        #expect(error == DiscoveryError(file: "/etc/etcd/missing.yml", action: "read", reason: "no such file"))
    }
}

@Suite("Discovery's parsers")
struct DiscoveryParserTests {
    @Test("systemd splits words on whitespace and honours quotes", arguments: [
        ("/usr/bin/etcd --name a", ["/usr/bin/etcd", "--name", "a"]),
        (#"etcd "--name=a b" 'x y'"#, ["etcd", "--name=a b", "x y"]),
        (#"A="1 2" B=3"#, ["A=1 2", "B=3"]),
        (#""ETCD_NAME=x" "ETCD_DATA_DIR=/d""#, ["ETCD_NAME=x", "ETCD_DATA_DIR=/d"]),
    ])
    func words(text: String, expected: [String]) {
        #expect(SystemdUnit.words(text) == expected)
    }

    @Test("Environment files understand comments, quotes and export")
    func environmentFile() {
        let parsed = EnvironmentFileParser.parse("""
        # comment
        ; also a comment
        export ETCD_NAME="a b"
        ETCD_DATA_DIR='/var/lib/etcd'
        ETCD_WAL_DIR=/wal # trailing comment
        not an assignment
        """)
        #expect(parsed.map(\.key) == ["ETCD_NAME", "ETCD_DATA_DIR", "ETCD_WAL_DIR"])
        #expect(parsed.map(\.value) == ["a b", "/var/lib/etcd", "/wal"])
    }

    @Test("Setting names map to etcd's flags and ETCD_* variables", arguments: EtcdSetting.Name.allCases)
    func names(name: EtcdSetting.Name) {
        #expect(EtcdSetting.Name(flagOrVariable: name.environmentVariable) == name)
        #expect(EtcdSetting.Name(flagOrVariable: name.flag) == name)
        #expect(name.environmentVariable.hasPrefix("ETCD_") && !name.environmentVariable.contains("-"))
    }
}
