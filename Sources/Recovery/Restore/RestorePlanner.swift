import EtcdClient
import Foundation
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

/// What the operator asked for; every `nil` comes from discovery, then from etcd's defaults.
/// Names follow etcdctl's flags.
public struct RestoreOptions: Sendable {
    public var snapshotPath: String
    public var dataDir: String?
    public var walDir: String?
    public var name: String?
    public var initialCluster: String?
    public var initialClusterToken: String?
    public var initialAdvertisePeerURLs: String?
    /// systemd unit name (default: discovered, else `etcd`).
    public var unit: String?
    /// A kubeadm static pod manifest to park and put back instead of systemctl.
    public var staticPodManifest: String?
    /// Client URLs for the health checks (default: discovered advertise/listen client URLs).
    public var endpoints: [String]?
    /// Restore even when the snapshot does not verify (the restore tool still checks what it checks).
    public var skipVerify: Bool
    public var stopTimeout: Duration
    public var startTimeout: Duration

    public init(snapshotPath: String, dataDir: String? = nil, walDir: String? = nil, name: String? = nil,
                initialCluster: String? = nil, initialClusterToken: String? = nil,
                initialAdvertisePeerURLs: String? = nil, unit: String? = nil, staticPodManifest: String? = nil,
                endpoints: [String]? = nil, skipVerify: Bool = false, stopTimeout: Duration = .seconds(90),
                startTimeout: Duration = .seconds(90)) {
        self.snapshotPath = snapshotPath
        self.dataDir = dataDir
        self.walDir = walDir
        self.name = name
        self.initialCluster = initialCluster
        self.initialClusterToken = initialClusterToken
        self.initialAdvertisePeerURLs = initialAdvertisePeerURLs
        self.unit = unit
        self.staticPodManifest = staticPodManifest
        self.endpoints = endpoints
        self.skipVerify = skipVerify
        self.stopTimeout = stopTimeout
        self.startTimeout = startTimeout
    }
}

/// Computes a `RestorePlan` from discovery, the snapshot and the options. Reads the snapshot (verify),
/// asks the restore tool for its version and `--help`, and stats the data dir; changes nothing.
public struct RestorePlanner: Sendable {
    public let runner: any ProcessRunner

    public init(runner: any ProcessRunner) {
        self.runner = runner
    }

    public func plan(deployment: EtcdDeployment, options: RestoreOptions, now: Date = Date()) async throws -> RestorePlan {
        let snapshot = options.snapshotPath
        var info = stat()
        guard stat(snapshot, &info) == 0 else {
            throw RestoreError(.badSnapshot, "cannot read snapshot \(snapshot): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw RestoreError(.badSnapshot, "\(snapshot) is not a regular file")
        }
        let verification = SnapshotVerifier.verify(path: snapshot)
        var notes: [String] = []
        var pods: [String: Int] = [:]
        if verification.health != .corrupt,
           let inspection = try? SnapshotInspector.inspect(path: snapshot, resource: "pods") {
            pods = inspection.namespaces
        }
        if verification.health == .unverified {
            notes.append("the snapshot has no checksum trailer (a copied member db?): restoring with --skip-hash-check")
        }

        let dataDir = Self.dataDir(options: options, deployment: deployment)
        var walDir = (options.walDir ?? Self.discovered(deployment, .walDir)).map(Self.absolute)
        if let wal = walDir, wal == dataDir + "/member/wal" || wal.hasPrefix(dataDir + "/") { walDir = nil }
        let name = options.name ?? Self.discovered(deployment, .name) ?? "default"
        let peerURLs = options.initialAdvertisePeerURLs ?? Self.discovered(deployment, .initialAdvertisePeerURLs)
            ?? "http://localhost:2380"
        let initialCluster = options.initialCluster ?? Self.discovered(deployment, .initialCluster)
            ?? peerURLs.split(separator: ",").map { "\(name)=\($0)" }.joined(separator: ",")
        let token = options.initialClusterToken ?? Self.discovered(deployment, .initialClusterToken) ?? "etcd-cluster"
        if initialCluster.split(separator: ",").count > 1 {
            notes.append("the initial cluster names \(initialCluster.split(separator: ",").count) members: restore the same snapshot on every member with the same --initial-cluster and token before starting them")
        }

        let service: ServiceTarget
        if let manifest = options.staticPodManifest ?? (options.unit == nil && deployment.kind == .staticPod ? deployment.manifestPath : nil) {
            service = .staticPod(manifest: manifest, parkedAt: Self.parkedPath(forManifest: manifest))
        } else {
            service = .systemd(unit: options.unit ?? deployment.unitName ?? "etcd")
        }

        let endpoints = options.endpoints ?? Self.healthEndpoints(deployment)
        let tool = try await findTool()
        if !tool.supportsBumpRevision {
            notes.append("\(tool.version) has no --bump-revision/--mark-compacted: clients that watched newer revisions (the API server) must be restarted")
        }

        let stamp = SnapshotSaver.compactTimestamp(now)
        let dataDirExisted = FileManager.default.fileExists(atPath: dataDir)
        let ownership = Self.ownership(of: dataDir, runAs: deployment.runAsUser)
        if !dataDirExisted { notes.append("the data dir \(dataDir) does not exist: nothing to move aside; a failed restore cannot bring an old one back") }

        var plan = RestorePlan(
            createdAt: now, snapshotPath: snapshot, snapshotSize: Int64(info.st_size),
            snapshotHealth: verification.health, snapshotReason: verification.reason,
            snapshotRevision: verification.revision, snapshotKeys: verification.liveKeys, snapshotPods: pods,
            skipVerify: options.skipVerify, dataDir: dataDir, walDir: walDir, dataDirExisted: dataDirExisted,
            asidePath: "\(dataDir).before-restore-\(stamp)",
            walAsidePath: walDir.map { "\($0).before-restore-\(stamp)" },
            failedRestorePath: "\(dataDir).failed-restore-\(stamp)", ownership: ownership,
            memberName: name, initialCluster: initialCluster, initialClusterToken: token,
            initialAdvertisePeerURLs: peerURLs, service: service, tool: tool, endpoints: endpoints,
            stopTimeoutSeconds: Int(options.stopTimeout.components.seconds),
            startTimeoutSeconds: Int(options.startTimeout.components.seconds), steps: [], notes: notes)
        plan.steps = Self.steps(for: plan)
        return plan
    }

    // MARK: the pieces

    /// The data dir a restore with these options targets (where its journal lives).
    public static func dataDir(options: RestoreOptions, deployment: EtcdDeployment) -> String {
        absolute(options.dataDir ?? discovered(deployment, .dataDir) ?? "/var/lib/etcd")
    }

    /// etcdutl when installed (3.5+), else etcdctl with ETCDCTL_API=3; its version and restore flags.
    func findTool() async throws -> RestoreTool {
        let kind: RestoreTool.Kind
        let path: String
        if let found = runner.locate("etcdutl") {
            (kind, path) = (.etcdutl, found)
        } else if let found = runner.locate("etcdctl") {
            (kind, path) = (.etcdctl, found)
        } else {
            throw RestoreError(.toolMissing, "neither etcdutl nor etcdctl is installed (looked on PATH): install etcd's tools (the etcd release tarball, or Debian's etcd-client) and run again")
        }
        let environment = kind == .etcdctl ? ["ETCDCTL_API": "3"] : [:]
        let version = try await runner.run(ProcessRequest(path, ["version"], environment: environment, timeout: .seconds(20)))
        guard version.succeeded else {
            throw RestoreError(.toolMissing, "\(path) version failed (exit \(version.status)): \(version.tail())")
        }
        let help = try await runner.run(ProcessRequest(path, ["snapshot", "restore", "--help"], environment: environment,
                                                       timeout: .seconds(20)))
        let versionLine = version.output.split(separator: "\n").first.map(String.init) ?? "\(kind.rawValue) (unknown version)"
        return RestoreTool(kind: kind, path: path, version: versionLine,
                           supportsBumpRevision: help.output.contains("--bump-revision") && help.output.contains("--mark-compacted"))
    }

    static func steps(for plan: RestorePlan) -> [PlannedStep] {
        let dataDir = shellQuoted(plan.dataDir)
        let stop: [String]
        let start: [String]
        switch plan.service {
        case .systemd(let unit):
            stop = ["systemctl stop \(shellQuoted(unit))", "systemctl is-active \(shellQuoted(unit))   # until inactive"]
            start = ["systemctl start \(shellQuoted(unit))"]
        case .staticPod(let manifest, let parked):
            stop = ["mv \(shellQuoted(manifest)) \(shellQuoted(parked))", "# wait until \(plan.endpoints.first ?? "etcd's client port") stops answering"]
            start = ["mv \(shellQuoted(parked)) \(shellQuoted(manifest))"]
        }
        var move = plan.dataDirExisted ? ["mv \(dataDir) \(shellQuoted(plan.asidePath))"] : ["# \(plan.dataDir) does not exist: nothing to move"]
        if let wal = plan.walDir, let aside = plan.walAsidePath { move.append("mv \(shellQuoted(wal)) \(shellQuoted(aside))") }
        let endpoint = plan.endpoints.first ?? "http://127.0.0.1:2379"
        let owner = plan.ownership
        var chown = ["chown -R \(owner.display) \(dataDir)", "chmod \(String(owner.mode, radix: 8)) \(dataDir)"]
        if let wal = plan.walDir { chown.append("chown -R \(owner.display) \(shellQuoted(wal))") }
        return [
            PlannedStep(kind: .preflight, commands: [
                "etcd-console snapshot verify \(shellQuoted(plan.snapshotPath))",
                "\(shellQuoted(plan.tool.path)) version",
                "df -h \(shellQuoted((plan.dataDir as NSString).deletingLastPathComponent))   # need >= \(formatBytes(Int(2 * plan.snapshotSize))) free",
            ]),
            PlannedStep(kind: .stopEtcd, commands: stop),
            PlannedStep(kind: .moveAside, commands: move),
            PlannedStep(kind: .restore, commands: [plan.restoreRequest.description]),
            PlannedStep(kind: .fixOwnership, commands: chown),
            PlannedStep(kind: .startEtcd, commands: start),
            PlannedStep(kind: .waitHealthy, commands: ["ETCDCTL_API=3 etcdctl --endpoints \(endpoint) endpoint status   # until it answers, up to \(plan.startTimeoutSeconds)s"]),
            PlannedStep(kind: .verify, commands: [
                "ETCDCTL_API=3 etcdctl --endpoints \(endpoint) get '' --prefix --count-only   # expect \(plan.snapshotKeys.map(String.init) ?? "the snapshot's") keys",
                "ETCDCTL_API=3 etcdctl --endpoints \(endpoint) member list   # expect \(plan.memberName)",
            ]),
            PlannedStep(kind: .checkPods, commands: [
                "ETCDCTL_API=3 etcdctl --endpoints \(endpoint) get /registry/pods/ --prefix --keys-only",
                "kubectl get pods -A   # when kubectl and a kubeconfig are present",
            ]),
        ]
    }

    /// A discovered value, but not etcd's built-in default (a relative `default.etcd` is no place to restore).
    static func discovered(_ deployment: EtcdDeployment, _ name: EtcdSetting.Name) -> String? {
        guard let setting = deployment.settings[name], setting.source != "default", !setting.value.isEmpty else { return nil }
        return setting.value
    }

    static func healthEndpoints(_ deployment: EtcdDeployment) -> [String] {
        let urls = deployment.advertiseClientURLs.isEmpty ? deployment.clientURLs : deployment.advertiseClientURLs
        let local = urls.map { url in
            url.replacingOccurrences(of: "://0.0.0.0:", with: "://127.0.0.1:").replacingOccurrences(of: "://[::]:", with: "://127.0.0.1:")
        }
        return local.isEmpty ? ["http://127.0.0.1:2379"] : local
    }

    static func parkedPath(forManifest manifest: String) -> String {
        let directory = ((manifest as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        return (directory as NSString).appendingPathComponent((manifest as NSString).lastPathComponent + ".parked-by-etcd-console")
    }

    static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.standardizedFileURL.path
    }

    /// The old data dir's owner and mode; when it is gone, etcd's user (or root) and 0700.
    static func ownership(of directory: String, runAs user: String?) -> DirectoryOwnership {
        var info = stat()
        if stat(directory, &info) == 0 {
            return DirectoryOwnership(uid: info.st_uid, gid: info.st_gid, mode: UInt16(info.st_mode & 0o7777),
                                      display: "\(userName(info.st_uid)):\(groupName(info.st_gid))")
        }
        if let user, let entry = getpwnam(user) {
            let uid = entry.pointee.pw_uid
            let gid = entry.pointee.pw_gid
            return DirectoryOwnership(uid: uid, gid: gid, mode: 0o700, display: "\(userName(uid)):\(groupName(gid))")
        }
        return DirectoryOwnership(uid: 0, gid: 0, mode: 0o700, display: "root:root")
    }

    static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid) else { return String(uid) }
        return String(cString: entry.pointee.pw_name)
    }

    static func groupName(_ gid: gid_t) -> String {
        guard let entry = getgrgid(gid) else { return String(gid) }
        return String(cString: entry.pointee.gr_name)
    }
}
