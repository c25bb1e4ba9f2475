import Foundation

/// The commented config file `etcd-console config init` writes: every key with a line on what it does;
/// values that discovery found (or that flags gave) are set and say where they came from, the others are
/// commented out with their default, so the file documents itself.
public enum ConfigTemplate {
    static let help: [ConfigurationKey: String] = [
        .endpoints: "etcd client URLs, tried in order (a YAML list or comma-separated)",
        .cacert: "CA file that signs etcd's server certificate",
        .cert: "client certificate, when etcd requires one (--client-cert-auth)",
        .key: "the client certificate's key",
        .user: "etcd user, when etcd auth is enabled (snapshots need the root role)",
        .passwordFile: "file holding that user's password (mode 0600); never put the password in this file",
        .insecureSkipTLSVerify: "do not verify etcd's certificate (emergencies only)",
        .dialTimeout: "time allowed to connect to one endpoint",
        .commandTimeout: "time allowed for each request",
        .stallTimeout: "a snapshot that receives no bytes for this long fails (etcd stopped); not a total limit",
        .dir: "snapshot directory (mode 0700); best on another disk than etcd's data dir",
        .compression: "none, or zstd: local snapshots stored as <name>.db.zst (zstd -d reads them); every reader takes them",
        .compressionLevel: "zstd level 1-19 for compression: zstd",
        .keepLast: "keep the N newest good snapshots",
        .hourly: "keep the newest good snapshot of each of the last H hours",
        .daily: "... of each of the last D days",
        .weekly: "... of each of the last W ISO weeks",
        .monthly: "... of each of the last M months",
        .every: "how often the schedule runs `etcd-console backup` (15min, 30min, 1h, 6h, 1d);"
            + " status warns when the newest good snapshot is older than twice this",
        .metricsFile: "Prometheus textfile written after each backup (node_exporter --collector.textfile.directory)",
        .dataDir: "etcd's data dir (for doctor, restore and the same-disk warning)",
        .unit: "etcd's systemd unit (for restore)",
    ]

    static let examples: [ConfigurationKey: String] = [
        .endpoints: "[https://127.0.0.1:2379]", .cacert: "/etc/kubernetes/pki/etcd/ca.crt",
        .cert: "/etc/kubernetes/pki/etcd/healthcheck-client.crt", .key: "/etc/kubernetes/pki/etcd/healthcheck-client.key",
        .user: "root", .passwordFile: "/etc/etcd-console/password", .insecureSkipTLSVerify: "false",
        .metricsFile: "/var/lib/prometheus/node-exporter/etcd-console.prom",
        .compression: "none", .compressionLevel: "3",
        .keepLast: "6", .hourly: "24", .daily: "7", .weekly: "4", .monthly: "3",
    ]

    /// The file's text. `resolved` supplies the values to set (those not from defaults).
    public static func render(_ resolved: ResolvedConfiguration, generatedBy: String) -> String {
        var lines = [
            "# etcd-console configuration (\(ConfigFile.standardPath)).",
            "# \(generatedBy)",
            "# Precedence: command-line flags > environment (ETCDCTL_*, ETCD_CONSOLE_*) > this file > discovery > defaults.",
            "# `etcd-console config show` prints what is in effect and where each value comes from.",
            "# Lines starting with # are defaults or examples; remove the # to set them.",
            "",
        ]
        var currentSection: String?
        for key in ConfigurationKey.allCases where !(key.section ?? "").hasPrefix("remote") && key.section != "bundle" {
            if key.section != currentSection {
                currentSection = key.section
                if let section = key.section {
                    lines.append("")
                    lines.append(section == "retention"
                                 ? "# Retention after each backup; with no key set, the default policy applies (6 / 24 / 7 / 4 / 3)."
                                 : "# The schedule (`etcd-console schedule systemd|cronjob` reads it).")
                    let anySet = ConfigurationKey.allCases.contains { $0.section == section && isSet($0, resolved) }
                    lines.append(anySet ? "\(section):" : "#\(section):")
                }
            }
            let indent = key.section == nil ? "" : "  "
            lines.append("\(indent)# \(help[key] ?? key.rawValue)")
            if isSet(key, resolved), let setting = resolved.settings[key] {
                lines.append("\(indent)\(key.rawValue): \(yamlValue(key, setting.value))   # \(setting.source)")
            } else {
                let example = resolved.settings[key].map { yamlValue(key, $0.value) } ?? examples[key] ?? ""
                lines.append("\(indent)#\(key.rawValue): \(example)")
            }
        }
        lines += remoteSection
        lines += bundleSection
        return lines.joined(separator: "\n") + "\n"
    }

    /// The `remote:` section, commented out: offsite copies are opt-in (issue 14).
    static let remoteSection = [
        "",
        "# Offsite copies in S3-compatible storage, uploaded after every good backup (zstd, then age when",
        "# recipients are set). Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS credentials",
        "# file; never put a secret in this file.",
        "#remote:",
        "#  endpoint: https://s3.example.com          # scheme://host[:port]; env ETCD_CONSOLE_REMOTE_ENDPOINT or AWS_ENDPOINT_URL",
        "#  bucket: etcd-backups",
        "#  prefix: prod                              # objects go under <prefix>/<cluster-id>/<member>/",
        "#  region: us-east-1",
        "#  path-style: true                          # <endpoint>/<bucket>/<key> addressing (the only one supported)",
        "#  ca-file: /etc/etcd-console/s3-ca.pem      # CA for an https endpoint with a private CA",
        "#  credentials-file: /root/.aws/credentials  # AWS INI format",
        "#  profile: default",
        "#  age-recipients: [age1...]                 # public keys (age-keygen -y); the identity stays off this host",
        "#  age-identity-file: /root/etcd-age.key     # only where pull/verify --remote/restore must decrypt",
        "#  compression-level: 3                      # zstd 1-19",
        "#  bundle-unencrypted: false                 # bundles (private keys) go up only age-encrypted unless true",
        "#  retention:                                # remote copies' own policy; the newest good one is always kept",
        "#    daily: 30",
        "#    weekly: 12",
    ]

    /// The `bundle:` section, commented out: the bundle is on by default with discovered paths (issue 15).
    static let bundleSection = [
        "",
        "# The control-plane bundle written beside every backup: /etc/kubernetes/pki/**, *.conf, manifests/*, the",
        "# API server's encryption config, etcd's unit, drop-ins, config and certificates, kubeadm's config, this file.",
        "#bundle:",
        "#  enabled: true                             # false (or backup --no-bundle) keeps only the snapshot",
        "#  kubernetes-dir: /etc/kubernetes",
        "#  encryption-config: /etc/kubernetes/enc/encryption-config.yaml   # default: kube-apiserver's flag",
        "#  kubeadm-config: /etc/kubernetes/kubeadm-config.yaml",
        "#  extra: [/etc/etcd/ssl]                    # more files or directories to keep",
    ]

    private static func isSet(_ key: ConfigurationKey, _ resolved: ResolvedConfiguration) -> Bool {
        guard let source = resolved.settings[key]?.source else { return false }
        return source != .defaultValue
    }

    /// A YAML scalar or flow list, quoted when YAML would read it as something else.
    static func yamlValue(_ key: ConfigurationKey, _ value: String) -> String {
        if key.kind == .list {
            return "[" + value.split(separator: ",").map { quoted(String($0)) }.joined(separator: ", ") + "]"
        }
        return quoted(value)
    }

    private static func quoted(_ text: String) -> String {
        let plain = text.allSatisfy { $0.isLetter || $0.isNumber || "/._-:".contains($0) }
            && !text.hasPrefix("-") && !text.hasSuffix(":") && !text.contains(": ")
        if plain { return text }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
