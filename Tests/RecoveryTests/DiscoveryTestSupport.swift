import Foundation
@testable import Recovery

/// A temporary directory used as a fake `/`: files are written at their host paths under it.
struct FakeHost {
    let root: String

    init(_ files: [String: String]) throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("etcd-discovery-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (path, text) in files {
            let url = URL(fileURLWithPath: root + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
    }

    func discover(overrides: [EtcdSetting.Name: String] = [:]) throws -> EtcdDeployment {
        try EtcdDiscovery(root: root).discover(overrides: overrides)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Runs `body` against a fake host holding `files`, removing it afterwards.
func withFakeHost<T>(_ files: [String: String], _ body: (FakeHost) throws -> T) throws -> T {
    let host = try FakeHost(files)
    defer { host.remove() }
    return try body(host)
}

/// Sample files shaped like the ones real installs put on a master.
enum DiscoverySamples {
    /// A binary install as etcd's docs and "Kubernetes the Hard Way" show it: one long ExecStart.
    static let binaryInstallUnit = #"""
    [Unit]
    Description=etcd
    Documentation=https://github.com/etcd-io/etcd

    [Service]
    Type=notify
    ExecStart=/usr/local/bin/etcd \
      --name controller-0 \
      --cert-file=/etc/etcd/kubernetes.pem \
      --key-file=/etc/etcd/kubernetes-key.pem \
      --peer-cert-file=/etc/etcd/kubernetes.pem \
      --peer-key-file=/etc/etcd/kubernetes-key.pem \
      --trusted-ca-file=/etc/etcd/ca.pem \
      --peer-trusted-ca-file=/etc/etcd/ca.pem \
      --peer-client-cert-auth \
      --client-cert-auth \
      --initial-advertise-peer-urls https://10.240.0.10:2380 \
      --listen-peer-urls https://10.240.0.10:2380 \
      --listen-client-urls https://10.240.0.10:2379,https://127.0.0.1:2379 \
      --advertise-client-urls https://10.240.0.10:2379 \
      --initial-cluster-token etcd-cluster-0 \
      --initial-cluster controller-0=https://10.240.0.10:2380,controller-1=https://10.240.0.11:2380,controller-2=https://10.240.0.12:2380 \
      --initial-cluster-state new \
      --data-dir=/var/lib/etcd
    Restart=on-failure
    RestartSec=5

    [Install]
    WantedBy=multi-user.target
    """#

    /// Debian's etcd-server unit (bookworm), as shipped in /lib/systemd/system/etcd.service.
    static let debianUnit = #"""
    [Unit]
    Description=etcd - highly-available key value store
    Documentation=https://etcd.io/docs
    Documentation=man:etcd
    After=network.target
    Wants=network-online.target

    [Service]
    Environment=DAEMON_ARGS=
    Environment=ETCD_NAME=%H
    Environment=ETCD_DATA_DIR=/var/lib/etcd/default
    EnvironmentFile=-/etc/default/%p
    Type=notify
    User=etcd
    PermissionsStartOnly=true
    #ExecStart=/bin/sh -c "GOMAXPROCS=$(nproc) /usr/bin/etcd $DAEMON_ARGS"
    ExecStart=/usr/bin/etcd $DAEMON_ARGS
    Restart=on-abnormal
    #RestartSec=10s
    LimitNOFILE=65536

    [Install]
    WantedBy=multi-user.target
    Alias=etcd2.service
    """#

    /// /etc/default/etcd as an operator fills it in on Debian.
    static let debianDefaults = #"""
    ## etcd(1) daemon options
    ## See "/usr/share/doc/etcd-server/op-guide/configuration.md.gz"

    ### Member flags

    ##### --name
    ## Human-readable name for this member.
    ## default: host name returned by `hostname`.
    # ETCD_NAME="hostname"
    ETCD_NAME="deb-master"

    ##### --data-dir
    ## Path to the data directory.
    ## default: "/var/lib/etcd/default/"
    # ETCD_DATA_DIR="/var/lib/etcd/default/"
    ETCD_DATA_DIR="/srv/etcd"

    ETCD_LISTEN_CLIENT_URLS="http://10.0.0.7:2379,http://127.0.0.1:2379"
    ETCD_ADVERTISE_CLIENT_URLS='http://10.0.0.7:2379'

    DAEMON_ARGS="--initial-cluster-token deb-cluster --listen-peer-urls=http://10.0.0.7:2380"
    """#

    /// kubeadm's static pod manifest (v1.29).
    static let kubeadmManifest = #"""
    apiVersion: v1
    kind: Pod
    metadata:
      annotations:
        kubeadm.kubernetes.io/etcd.advertise-client-urls: https://10.0.0.5:2379
      creationTimestamp: null
      labels:
        component: etcd
        tier: control-plane
      name: etcd
      namespace: kube-system
    spec:
      containers:
      - command:
        - etcd
        - --advertise-client-urls=https://10.0.0.5:2379
        - --cert-file=/etc/kubernetes/pki/etcd/server.crt
        - --client-cert-auth=true
        - --data-dir=/var/lib/etcd
        - --experimental-initial-corrupt-check=true
        - --experimental-watch-progress-notify-interval=5s
        - --initial-advertise-peer-urls=https://10.0.0.5:2380
        - --initial-cluster=master1=https://10.0.0.5:2380
        - --key-file=/etc/kubernetes/pki/etcd/server.key
        - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.5:2379
        - --listen-metrics-urls=http://127.0.0.1:2381
        - --listen-peer-urls=https://10.0.0.5:2380
        - --name=master1
        - --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt
        - --peer-client-cert-auth=true
        - --peer-key-file=/etc/kubernetes/pki/etcd/peer.key
        - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
        - --snapshot-count=10000
        - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
        image: registry.k8s.io/etcd:3.5.12-0
        imagePullPolicy: IfNotPresent
        livenessProbe:
          failureThreshold: 8
          httpGet:
            host: 127.0.0.1
            path: /health?exclude=NOSPACE&serializable=true
            port: 2381
            scheme: HTTP
        name: etcd
        resources:
          requests:
            cpu: 100m
            memory: 100Mi
        volumeMounts:
        - mountPath: /var/lib/etcd
          name: etcd-data
        - mountPath: /etc/kubernetes/pki/etcd
          name: etcd-certs
      hostNetwork: true
      priority: 2000001000
      priorityClassName: system-node-critical
      securityContext:
        seccompProfile:
          type: RuntimeDefault
      volumes:
      - hostPath:
          path: /etc/kubernetes/pki/etcd
          type: DirectoryOrCreate
        name: etcd-certs
      - hostPath:
          path: /var/lib/etcd
          type: DirectoryOrCreate
        name: etcd-data
    status: {}
    """#

    /// etcd's YAML config file, laid out as etcd.conf.yml.sample.
    static let configYAML = #"""
    # This is the configuration file for the etcd server.
    name: 'infra1'
    data-dir: /var/lib/etcd/infra1
    wal-dir:
    snapshot-count: 10000
    listen-peer-urls: https://10.0.1.10:2380
    listen-client-urls: https://10.0.1.10:2379,https://127.0.0.1:2379
    initial-advertise-peer-urls: https://10.0.1.10:2380
    advertise-client-urls: https://10.0.1.10:2379
    initial-cluster: infra1=https://10.0.1.10:2380,infra2=https://10.0.1.11:2380,infra3=https://10.0.1.12:2380
    initial-cluster-token: 'etcd-cluster-1'
    initial-cluster-state: 'new'
    client-transport-security:
      cert-file: /etc/etcd/ssl/server.pem
      key-file: /etc/etcd/ssl/server-key.pem
      client-cert-auth: true
      trusted-ca-file: /etc/etcd/ssl/ca.pem
      auto-tls: false
    peer-transport-security:
      cert-file: /etc/etcd/ssl/peer.pem
      key-file: /etc/etcd/ssl/peer-key.pem
      client-cert-auth: true
      trusted-ca-file: /etc/etcd/ssl/ca.pem
    """#

    /// /etc/etcd/etcd.conf as the RHEL/Fedora etcd package ships it, partly filled in.
    static let rhelEtcdConf = #"""
    #[Member]
    #ETCD_CORS=""
    ETCD_DATA_DIR="/var/lib/etcd/default.etcd"
    #ETCD_WAL_DIR=""
    ETCD_LISTEN_PEER_URLS="http://192.168.1.20:2380"
    ETCD_LISTEN_CLIENT_URLS="http://192.168.1.20:2379,http://localhost:2379"
    #ETCD_MAX_SNAPSHOTS="5"
    ETCD_NAME="rhel1"
    #
    #[Clustering]
    ETCD_INITIAL_ADVERTISE_PEER_URLS="http://192.168.1.20:2380"
    ETCD_ADVERTISE_CLIENT_URLS="http://192.168.1.20:2379"
    ETCD_INITIAL_CLUSTER="rhel1=http://192.168.1.20:2380"
    ETCD_INITIAL_CLUSTER_TOKEN="rhel-cluster"
    ETCD_INITIAL_CLUSTER_STATE="new"
    #
    #[Security]
    #ETCD_CERT_FILE=""
    #ETCD_KEY_FILE=""
    #ETCD_CLIENT_CERT_AUTH="false"
    """#
}
