import Foundation

/// One etcd setting as discovered on this host: its value and where the value came from.
///
/// `source` is written for an operator, e.g. "ExecStart in /etc/systemd/system/etcd.service",
/// "Environment=ETCD_DATA_DIR in /etc/systemd/system/etcd.service.d/override.conf",
/// "EnvironmentFile /etc/default/etcd", "/etc/kubernetes/manifests/etcd.yaml (command)",
/// "--config-file /etc/etcd/etcd.conf.yml", "command line" or "default".
public struct EtcdSetting: Sendable, Equatable {
    /// The settings discovery reads, named as etcd's flags name them (without the leading `--`).
    public enum Name: String, Sendable, CaseIterable {
        case name
        case dataDir = "data-dir"
        case walDir = "wal-dir"
        case listenClientURLs = "listen-client-urls"
        case advertiseClientURLs = "advertise-client-urls"
        case listenPeerURLs = "listen-peer-urls"
        case initialAdvertisePeerURLs = "initial-advertise-peer-urls"
        case initialCluster = "initial-cluster"
        case initialClusterToken = "initial-cluster-token"
        case initialClusterState = "initial-cluster-state"
        case certFile = "cert-file"
        case keyFile = "key-file"
        case trustedCAFile = "trusted-ca-file"
        case clientCertAuth = "client-cert-auth"
        case peerCertFile = "peer-cert-file"
        case peerKeyFile = "peer-key-file"
        case peerTrustedCAFile = "peer-trusted-ca-file"
        case peerClientCertAuth = "peer-client-cert-auth"
        case configFile = "config-file"
        case quotaBackendBytes = "quota-backend-bytes"

        /// The command-line flag, e.g. `--data-dir`.
        public var flag: String { "--" + rawValue }

        /// The environment variable etcd reads for this flag, e.g. `ETCD_DATA_DIR`.
        public var environmentVariable: String {
            "ETCD_" + rawValue.uppercased().replacingOccurrences(of: "-", with: "_")
        }

        /// The name whose flag or environment variable is `text` (`data-dir`, `--data-dir`, `ETCD_DATA_DIR`).
        public init?(flagOrVariable text: String) {
            if text.hasPrefix("ETCD_") {
                guard let name = Name.allCases.first(where: { $0.environmentVariable == text }) else { return nil }
                self = name
                return
            }
            var flag = Substring(text)
            while flag.hasPrefix("-") { flag = flag.dropFirst() }
            self.init(rawValue: String(flag))
        }
    }

    public var value: String
    public var source: String

    public init(value: String, source: String) {
        self.value = value
        self.source = source
    }
}

/// How etcd runs on this host and the settings it runs with, each with its source.
public struct EtcdDeployment: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A systemd unit (`etcd.service`) whose ExecStart runs etcd.
        case systemd
        /// A kubeadm static pod manifest (`/etc/kubernetes/manifests/etcd.yaml`).
        case staticPod
        /// Only `/etc/etcd/etcd.conf.yml` or `/etc/etcd/etcd.conf`, no unit or manifest.
        case configFile
        /// Nothing found: every setting is etcd's default unless overridden.
        case none
    }

    public var kind: Kind
    /// The systemd unit's name without `.service`, e.g. "etcd".
    public var unitName: String?
    /// The unit file that was read (host path, not under the discovery root).
    public var unitFile: String?
    /// The static pod manifest that was read.
    public var manifestPath: String?
    /// The etcd config file (YAML or env-style) whose settings are in effect.
    public var configFile: String?
    /// Every setting etcd runs with, after etcd's precedence rules, defaults and overrides.
    public var settings: [EtcdSetting.Name: EtcdSetting]
    /// The user etcd runs as: systemd `User=` (root when absent), root for a static pod.
    public var runAsUser: String?
    /// Things an operator may want to know that did not stop discovery (e.g. a missing EnvironmentFile).
    public var notes: [String]
    /// The etcd program the unit or manifest runs (`/usr/bin/etcd`), when known: its directory is where the
    /// matching etcdutl/etcdctl are looked for first.
    public var etcdProgram: String?
    /// The directory discovery read the host under ("/" on a real host; a fake root in tests, the demo and
    /// `--root`). The paths above are host paths; `described(_:)` says where such a file really is.
    public var root = "/"
    /// The unit's drop-ins (`etcd.service.d/*.conf`) that were read, in the order systemd applies them (host paths).
    public var unitDropIns: [String] = []
    /// The unit's `EnvironmentFile=` files that exist (host paths), in order.
    public var environmentFiles: [String] = []

    /// A host path as an operator looks for it: itself, or "PATH (under ROOT)" when discovery ran under a fake root.
    public func described(_ path: String) -> String {
        root == "/" || root.isEmpty ? path : "\(path) (under \(root))"
    }

    public init(kind: Kind, unitName: String? = nil, unitFile: String? = nil, manifestPath: String? = nil,
                configFile: String? = nil, settings: [EtcdSetting.Name: EtcdSetting] = [:],
                runAsUser: String? = nil, notes: [String] = [], etcdProgram: String? = nil) {
        self.etcdProgram = etcdProgram
        self.kind = kind
        self.unitName = unitName
        self.unitFile = unitFile
        self.manifestPath = manifestPath
        self.configFile = configFile
        self.settings = settings
        self.runAsUser = runAsUser
        self.notes = notes
    }

    /// The value of a setting, or nil when etcd has none (e.g. no cert file).
    public subscript(_ name: EtcdSetting.Name) -> String? { settings[name]?.value }

    private func urls(_ name: EtcdSetting.Name) -> [String] {
        guard let value = self[name] else { return [] }
        return value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public var name: String? { self[.name] }
    /// Absolute data dir (a relative one is resolved against the unit's WorkingDirectory, else `/`).
    public var dataDir: String? { self[.dataDir] }
    /// The WAL directory: `--wal-dir` when set, else `<data-dir>/member/wal`.
    public var walDir: String? { self[.walDir] }
    public var clientURLs: [String] { urls(.listenClientURLs) }
    public var advertiseClientURLs: [String] { urls(.advertiseClientURLs) }
    public var peerURLs: [String] { urls(.listenPeerURLs) }
    public var initialAdvertisePeerURLs: [String] { urls(.initialAdvertisePeerURLs) }
    public var initialCluster: String? { self[.initialCluster] }
    public var initialClusterToken: String? { self[.initialClusterToken] }
    public var certFile: String? { self[.certFile] }
    public var keyFile: String? { self[.keyFile] }
    public var trustedCAFile: String? { self[.trustedCAFile] }
    public var clientCertAuth: Bool { self[.clientCertAuth].map { $0.lowercased() == "true" } ?? false }
    public var peerCertFile: String? { self[.peerCertFile] }
    public var peerKeyFile: String? { self[.peerKeyFile] }
    public var peerTrustedCAFile: String? { self[.peerTrustedCAFile] }
}
