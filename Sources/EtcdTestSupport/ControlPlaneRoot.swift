import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fake `/` shaped like a control-plane host, for `--root`: real files, certificates made by openssl at test
/// time, modes and owners as on a real master. Two shapes: a kubeadm master (static pods, /etc/kubernetes/pki)
/// and a binary install like the founding incident's (etcd as a systemd unit, certificates under /etc/etcd/ssl).
public struct ControlPlaneRoot: Sendable {
    /// The fake root directory.
    public let root: URL
    /// Every file written, by host path (without the root), with the mode and owner it was given.
    public let files: [String: (mode: UInt32, uid: UInt32, gid: UInt32)]
    /// Directories given a mode or owner other than 0755 root, by host path.
    public let directories: [String: (mode: UInt32, uid: UInt32, gid: UInt32)]
    /// Host paths of files that hold key material (private keys, kubeconfigs with embedded keys, the encryption config).
    public let secretFiles: [String]
    /// Lines of key material that must never appear in any output: each private key's PEM body lines, the
    /// kubeconfig's client-key-data, the encryption key.
    public let secretLines: [String]
    /// The host path of the certificate that expires in 10 days.
    public let expiringCertificate: String
    /// Its not-after as openssl printed it, e.g. "Dec 12 18:30:00 2026 GMT".
    public let expiringNotAfter: String
    /// The host path of etcd-console's config file inside the root, to pass with `--config root + path`.
    public let configFile = "/etc/etcd-console/config.yaml"

    /// The real path of a host path.
    public func path(_ hostPath: String) -> String { root.path + hostPath }

    /// A kubeadm-shaped master: pki (with etcd/), kubeconfigs, the four static pod manifests, kube-apiserver naming
    /// an encryption config, kubeadm-config.yaml, etcd-console's config. apiserver.crt expires in 10 days.
    public static func kubeadm() throws -> ControlPlaneRoot {
        var builder = try Builder(prefix: "kubeadm-root")
        let maker = builder.maker
        let ca = try maker.selfSignedCA("kubernetes-ca", commonName: "kubernetes")
        let apiserver = try maker.leaf("apiserver", commonName: "kube-apiserver", extensions: "apiserver_ext", signedBy: ca, days: 10)
        let admin = try maker.leaf("admin", commonName: "kubernetes-admin", extensions: "client_ext", signedBy: ca)
        let etcdCA = try maker.selfSignedCA("etcd-ca", commonName: "etcd-ca")
        let etcdServer = try maker.leaf("etcd-server", commonName: "master-1", extensions: "server_ext", signedBy: etcdCA)
        let etcdPeer = try maker.leaf("etcd-peer", commonName: "master-1", extensions: "server_ext", signedBy: etcdCA)
        let healthcheck = try maker.leaf("etcd-healthcheck", commonName: "kube-etcd-healthcheck-client", extensions: "client_ext", signedBy: etcdCA)

        let pki = "/etc/kubernetes/pki"
        try builder.copy(ca.cert, to: "\(pki)/ca.crt", mode: 0o644)
        try builder.copy(ca.key, to: "\(pki)/ca.key", mode: 0o600, secret: true)
        try builder.copy(apiserver.cert, to: "\(pki)/apiserver.crt", mode: 0o644)
        try builder.copy(apiserver.key, to: "\(pki)/apiserver.key", mode: 0o600, secret: true)
        try builder.copy(admin.key, to: "\(pki)/sa.key", mode: 0o600, secret: true)
        try builder.write("-----BEGIN PUBLIC KEY-----\nnot a real key, a stand-in\n-----END PUBLIC KEY-----\n", to: "\(pki)/sa.pub", mode: 0o644)
        try builder.copy(etcdCA.cert, to: "\(pki)/etcd/ca.crt", mode: 0o644)
        try builder.copy(etcdCA.key, to: "\(pki)/etcd/ca.key", mode: 0o600, secret: true)
        try builder.copy(etcdServer.cert, to: "\(pki)/etcd/server.crt", mode: 0o644)
        try builder.copy(etcdServer.key, to: "\(pki)/etcd/server.key", mode: 0o600, secret: true)
        try builder.copy(etcdPeer.cert, to: "\(pki)/etcd/peer.crt", mode: 0o644)
        try builder.copy(etcdPeer.key, to: "\(pki)/etcd/peer.key", mode: 0o600, secret: true)
        try builder.copy(healthcheck.cert, to: "\(pki)/etcd/healthcheck-client.crt", mode: 0o644)
        try builder.copy(healthcheck.key, to: "\(pki)/etcd/healthcheck-client.key", mode: 0o600, secret: true)

        let adminCert = try Data(contentsOf: URL(fileURLWithPath: admin.cert)).base64EncodedString()
        let adminKey = try Data(contentsOf: URL(fileURLWithPath: admin.key)).base64EncodedString()
        let caData = try Data(contentsOf: URL(fileURLWithPath: ca.cert)).base64EncodedString()
        builder.secretLines.append(adminKey)
        for name in ["admin", "super-admin", "controller-manager", "scheduler", "kubelet"] {
            try builder.write("""
                apiVersion: v1
                kind: Config
                clusters:
                - cluster:
                    certificate-authority-data: \(caData)
                    server: https://10.0.0.5:6443
                  name: kubernetes
                users:
                - name: \(name)
                  user:
                    client-certificate-data: \(adminCert)
                    client-key-data: \(adminKey)

                """, to: "/etc/kubernetes/\(name).conf", mode: 0o600, secret: true)
        }
        try builder.write("""
            apiVersion: v1
            kind: Pod
            metadata:
              name: etcd
              namespace: kube-system
            spec:
              containers:
              - name: etcd
                image: registry.k8s.io/etcd:3.5.15-0
                command:
                - etcd
                - --name=master-1
                - --data-dir=/var/lib/etcd
                - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.5:2379
                - --advertise-client-urls=https://10.0.0.5:2379
                - --initial-advertise-peer-urls=https://10.0.0.5:2380
                - --initial-cluster=master-1=https://10.0.0.5:2380
                - --cert-file=/etc/kubernetes/pki/etcd/server.crt
                - --key-file=/etc/kubernetes/pki/etcd/server.key
                - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
                - --client-cert-auth=true
                - --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt
                - --peer-key-file=/etc/kubernetes/pki/etcd/peer.key
                - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt

            """, to: "/etc/kubernetes/manifests/etcd.yaml", mode: 0o600)
        try builder.write("""
            apiVersion: v1
            kind: Pod
            metadata:
              name: kube-apiserver
              namespace: kube-system
            spec:
              containers:
              - name: kube-apiserver
                image: registry.k8s.io/kube-apiserver:v1.30.4
                command:
                - kube-apiserver
                - --advertise-address=10.0.0.5
                - --etcd-servers=https://127.0.0.1:2379
                - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt
                - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
                - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
                - --encryption-provider-config=/etc/kubernetes/enc/encryption-config.yaml

            """, to: "/etc/kubernetes/manifests/kube-apiserver.yaml", mode: 0o600)
        for name in ["kube-controller-manager", "kube-scheduler"] {
            try builder.write("apiVersion: v1\nkind: Pod\nmetadata:\n  name: \(name)\n  namespace: kube-system\nspec:\n  containers:\n  - name: \(name)\n    command: [\(name)]\n",
                              to: "/etc/kubernetes/manifests/\(name).yaml", mode: 0o600)
        }
        let encryptionKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        builder.secretLines.append(encryptionKey)
        try builder.write("""
            apiVersion: apiserver.config.k8s.io/v1
            kind: EncryptionConfiguration
            resources:
              - resources: [secrets]
                providers:
                  - aescbc:
                      keys:
                        - name: key1
                          secret: \(encryptionKey)
                  - identity: {}

            """, to: "/etc/kubernetes/enc/encryption-config.yaml", mode: 0o600, secret: true)
        try builder.write("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.30.4\ncontrolPlaneEndpoint: 10.0.0.5:6443\n",
                          to: "/etc/kubernetes/kubeadm-config.yaml", mode: 0o644)
        try builder.write("dir: /var/lib/etcd-backup\n", to: "/etc/etcd-console/config.yaml", mode: 0o600)
        return try builder.finish(expiring: "\(pki)/apiserver.crt", certificate: apiserver.cert)
    }

    /// A binary install like the founding incident's: /etc/systemd/system/etcd.service (+ a drop-in and an
    /// EnvironmentFile) runs /usr/local/bin/etcd with certificates under /etc/etcd/ssl, owned by uid/gid 998
    /// (etcd), the key 0600. etcd.pem expires in 10 days. No Kubernetes files.
    public static func binaryInstall() throws -> ControlPlaneRoot {
        var builder = try Builder(prefix: "binary-root")
        let maker = builder.maker
        let ca = try maker.selfSignedCA("etcd-ca", commonName: "etcd-ca")
        let server = try maker.leaf("etcd", commonName: "etcd-1", extensions: "server_ext", signedBy: ca, days: 10)
        try builder.directory("/etc/etcd/ssl", mode: 0o700, uid: 998, gid: 998)
        try builder.copy(ca.cert, to: "/etc/etcd/ssl/ca.pem", mode: 0o644, uid: 998, gid: 998)
        try builder.copy(server.cert, to: "/etc/etcd/ssl/etcd.pem", mode: 0o644, uid: 998, gid: 998)
        try builder.copy(server.key, to: "/etc/etcd/ssl/etcd-key.pem", mode: 0o600, uid: 998, gid: 998, secret: true)
        try builder.write("""
            [Unit]
            Description=etcd
            After=network-online.target

            [Service]
            Type=notify
            User=etcd
            EnvironmentFile=-/etc/etcd/etcd.env
            ExecStart=/usr/local/bin/etcd \\
              --name etcd-1 \\
              --data-dir=/var/lib/etcd \\
              --listen-client-urls https://127.0.0.1:2379 \\
              --advertise-client-urls https://127.0.0.1:2379 \\
              --cert-file=/etc/etcd/ssl/etcd.pem \\
              --key-file=/etc/etcd/ssl/etcd-key.pem \\
              --trusted-ca-file=/etc/etcd/ssl/ca.pem \\
              --peer-cert-file=/etc/etcd/ssl/etcd.pem \\
              --peer-key-file=/etc/etcd/ssl/etcd-key.pem \\
              --peer-trusted-ca-file=/etc/etcd/ssl/ca.pem
            Restart=always

            [Install]
            WantedBy=multi-user.target

            """, to: "/etc/systemd/system/etcd.service", mode: 0o644)
        try builder.write("[Service]\nLimitNOFILE=65536\n", to: "/etc/systemd/system/etcd.service.d/10-limits.conf", mode: 0o644)
        try builder.write("ETCD_QUOTA_BACKEND_BYTES=8589934592\n", to: "/etc/etcd/etcd.env", mode: 0o640, uid: 0, gid: 998)
        try builder.write("dir: /var/lib/etcd-backup\n", to: "/etc/etcd-console/config.yaml", mode: 0o600)
        return try builder.finish(expiring: "/etc/etcd/ssl/etcd.pem", certificate: server.cert)
    }

    /// Writes files under a fresh root, remembering modes, owners and secrets.
    struct Builder {
        let root: URL
        let maker: CertificateMaker
        var files: [String: (mode: UInt32, uid: UInt32, gid: UInt32)] = [:]
        var directories: [String: (mode: UInt32, uid: UInt32, gid: UInt32)] = [:]
        var secretFiles: [String] = []
        var secretLines: [String] = []

        init(prefix: String) throws {
            root = try TestDirectories.make(prefix)
            maker = CertificateMaker(directory: try TestDirectories.make(prefix + "-openssl"))
            try maker.prepare()
        }

        mutating func directory(_ hostPath: String, mode: UInt32, uid: UInt32, gid: UInt32) throws {
            let path = root.path + hostPath
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw EtcdTestSupportError("could not create \(path): \(error)")
            }
            guard chmod(path, mode_t(mode)) == 0, chown(path, uid, gid) == 0 else {
                throw EtcdTestSupportError("could not set mode/owner of \(path): \(String(cString: strerror(errno)))")
            }
            directories[hostPath] = (mode, uid, gid)
        }

        mutating func write(_ text: String, to hostPath: String, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0,
                            secret: Bool = false) throws {
            try put(Data(text.utf8), to: hostPath, mode: mode, uid: uid, gid: gid, secret: secret)
        }

        mutating func copy(_ file: String, to hostPath: String, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0,
                           secret: Bool = false) throws {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw EtcdTestSupportError("could not read \(file): \(error)")
            }
            if secret {
                // Every line between BEGIN and END of a private key: none may ever be printed.
                let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
                secretLines += lines.filter { !$0.hasPrefix("-----") && !$0.isEmpty }
            }
            try put(data, to: hostPath, mode: mode, uid: uid, gid: gid, secret: secret)
        }

        mutating func put(_ data: Data, to hostPath: String, mode: UInt32, uid: UInt32, gid: UInt32, secret: Bool) throws {
            let path = root.path + hostPath
            do {
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true)
                try data.write(to: URL(fileURLWithPath: path))
            } catch {
                throw EtcdTestSupportError("could not write \(path): \(error)")
            }
            guard chmod(path, mode_t(mode)) == 0, chown(path, uid, gid) == 0 else {
                throw EtcdTestSupportError("could not set mode/owner of \(path): \(String(cString: strerror(errno)))")
            }
            files[hostPath] = (mode, uid, gid)
            if secret { secretFiles.append(hostPath) }
        }

        func finish(expiring: String, certificate: String) throws -> ControlPlaneRoot {
            let result = try runCommand(try CertificateMaker.opensslPath(), ["x509", "-noout", "-enddate", "-in", certificate],
                                        timeout: .seconds(30))
            let notAfter = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "notAfter=", with: "")
            return ControlPlaneRoot(root: root, files: files, directories: directories, secretFiles: secretFiles.sorted(), secretLines: secretLines,
                                    expiringCertificate: expiring, expiringNotAfter: notAfter)
        }
    }
}
