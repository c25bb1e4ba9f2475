import EtcdClient
import Foundation
import SnapshotStore
import SystemSupport
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
    /// `--restore-tool`: the etcdutl or etcdctl to use (probed with `version`; no other is tried).
    public var restoreTool: String?
    /// Where each given value came from, by field ("flag --name", "/etc/etcd-console/config.yaml:3",
    /// "discovered: ExecStart in ..."); a given value without an entry is "command line".
    public var sources: [RestoreField: String] = [:]

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

/// The values of a restore plan whose source the plan shows.
public enum RestoreField: String, Codable, Sendable, CaseIterable {
    case dataDir = "data-dir"
    case walDir = "wal-dir"
    case name
    case initialCluster = "initial-cluster"
    case initialClusterToken = "initial-cluster-token"
    case initialAdvertisePeerURLs = "initial-advertise-peer-urls"
    case service
    case restoreTool = "restore-tool"
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
            throw RestoreError(.badSnapshot, "cannot read snapshot \(snapshot): \(errnoDescription(errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw RestoreError(.badSnapshot, "\(snapshot) is not a regular file")
        }
        var warnings: [String] = []
        let readable = access(snapshot, R_OK) == 0
        if !readable {
            warnings.append("cannot read \(snapshot) as this user (\(Self.userName(getuid()))): \(errnoDescription(errno)); run the restore as root or as the file's owner (\(Self.userName(info.st_uid)))")
        }
        // One pass: the verifier's walk also counts the pods per namespace (the restore's last check compares them),
        // instead of a second walk of the whole file (issue 13's restore overhead).
        let (check, counts) = SnapshotInspector.checkAndCount(path: snapshot)
        let verification = check.verification
        var notes: [String] = []
        var pods: [String: Int] = [:]
        if verification.health != .corrupt, case .success(let counted) = counts {
            pods = counted.inspection(resource: "pods").namespaces
        }
        if verification.health == .unverified || (verification.health == .good && !verification.hasTrailer) {
            notes.append("the snapshot has no checksum trailer (a copied member db?): restoring with --skip-hash-check")
        }

        var sources: [RestoreField: String] = [:]
        let sidecar = Self.sidecar(for: snapshot)
        let sidecarLabel = "the snapshot's sidecar \((SnapshotCatalog.sidecarPath(for: snapshot) as NSString).lastPathComponent)"
        /// Given (flag, environment, config file, or discovery through the settings resolver), else discovered
        /// here, else the snapshot's sidecar, else etcd's default.
        func pick(_ field: RestoreField, _ given: String?, _ name: EtcdSetting.Name?, sidecar recorded: String?,
                  default fallback: () -> (String, String)) -> String {
            if let given, !given.isEmpty {
                sources[field] = options.sources[field] ?? "command line"
                return given
            }
            if let name, let setting = deployment.settings[name], setting.source != "default", !setting.value.isEmpty {
                sources[field] = "discovered: \(setting.source)"
                return setting.value
            }
            if let recorded, !recorded.isEmpty {
                sources[field] = sidecarLabel
                return recorded
            }
            let (value, source) = fallback()
            sources[field] = source
            return value
        }

        let dataDir = Self.absolute(pick(.dataDir, options.dataDir, .dataDir, sidecar: nil) { ("/var/lib/etcd", "default") })
        var walDir: String? = options.walDir ?? Self.discovered(deployment, .walDir)
        if walDir != nil { _ = pick(.walDir, options.walDir, .walDir, sidecar: nil) { ("", "default") } }
        walDir = walDir.map(Self.absolute)
        if let wal = walDir, wal == dataDir + "/member/wal" || wal.hasPrefix(dataDir + "/") {
            walDir = nil
            sources[.walDir] = nil
        }
        let name = pick(.name, options.name, .name, sidecar: sidecar?.memberName) { ("default", "default") }
        // The sidecar's peer URLs and cluster describe the member it was saved from: used only for that name.
        let sameMember = sidecar?.memberName == name
        let peerURLs = pick(.initialAdvertisePeerURLs, options.initialAdvertisePeerURLs, .initialAdvertisePeerURLs,
                            sidecar: sameMember ? sidecar?.memberPeerURLs : nil) { ("http://localhost:2380", "default") }
        let recordedCluster = sidecar?.initialCluster.flatMap { Self.clusterNames($0).contains(name) ? $0 : nil }
        let initialCluster = pick(.initialCluster, options.initialCluster, .initialCluster, sidecar: recordedCluster) {
            (peerURLs.split(separator: ",").map { "\(name)=\($0)" }.joined(separator: ","), "derived from the name and peer URLs")
        }
        let token = pick(.initialClusterToken, options.initialClusterToken, .initialClusterToken, sidecar: nil) {
            ("etcd-cluster", "default")
        }
        if initialCluster.split(separator: ",").count > 1 {
            notes.append("the initial cluster names \(initialCluster.split(separator: ",").count) members: restore the same snapshot on every member with the same --initial-cluster and token before starting them")
        }
        if !Self.clusterNames(initialCluster).contains(name) {
            warnings.append("the initial cluster \(initialCluster) (\(sources[.initialCluster] ?? "")) does not name this member \(name) (\(sources[.name] ?? "")): the restore tool will refuse; set --initial-cluster \(name)=\(peerURLs.split(separator: ",").first ?? "")")
        }
        if let recorded = sidecar?.memberName, !recorded.isEmpty, recorded != name {
            warnings.append("the snapshot was saved from member \(recorded) (\(sidecarLabel)) but this restore makes member \(name) (\(sources[.name] ?? "default")): if etcd here runs as \(recorded), change the name (--name \(recorded), or e in the console's wizard) or the restored etcd will not match its unit")
        } else if sameMember, let recordedURLs = sidecar?.memberPeerURLs, Self.urlSet(recordedURLs) != Self.urlSet(peerURLs) {
            warnings.append("the snapshot's member \(name) had peer URLs \(recordedURLs) (\(sidecarLabel)) but this restore uses \(peerURLs) (\(sources[.initialAdvertisePeerURLs] ?? "default")): check they are this host's")
        }

        let service: ServiceTarget
        if let manifest = options.staticPodManifest ?? (options.unit == nil && deployment.kind == .staticPod ? deployment.manifestPath : nil) {
            service = .staticPod(manifest: manifest, parkedAt: Self.parkedPath(forManifest: manifest))
            sources[.service] = options.staticPodManifest != nil ? (options.sources[.service] ?? "command line") : "discovered: \(deployment.described(manifest))"
        } else if let unit = options.unit {
            service = .systemd(unit: unit)
            sources[.service] = options.sources[.service] ?? "command line"
        } else {
            service = .systemd(unit: deployment.unitName ?? "etcd")
            sources[.service] = deployment.unitFile.map { "discovered: \(deployment.described($0))" } ?? "default"
        }

        let endpoints = options.endpoints ?? Self.healthEndpoints(deployment)
        let (tool, toolNotes) = try await findTool(given: options.restoreTool, etcdProgram: deployment.etcdProgram)
        notes += toolNotes
        sources[.restoreTool] = options.restoreTool != nil ? (options.sources[.restoreTool] ?? "command line")
            : deployment.etcdProgram.map { "probed: next to \($0), then PATH" } ?? "probed: PATH"
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
        plan.snapshotHasTrailer = verification.hasTrailer
        plan.sources = Dictionary(uniqueKeysWithValues: sources.map { ($0.key.rawValue, $0.value) })
        plan.warnings = warnings
        plan.snapshotMember = sidecar?.memberName
        plan.snapshotReadable = readable
        plan.steps = Self.steps(for: plan)
        return plan
    }

    // MARK: the pieces

    /// The data dir a restore with these options targets (where its journal lives).
    public static func dataDir(options: RestoreOptions, deployment: EtcdDeployment) -> String {
        absolute(options.dataDir ?? discovered(deployment, .dataDir) ?? "/var/lib/etcd")
    }

    /// The restore tool: `given` alone when set; else etcdutl, then etcdctl (with ETCDCTL_API=3), each looked for
    /// first next to the etcd the unit runs, then on PATH, and probed with `version`. A candidate that fails
    /// the probe is skipped with a one-line note; only when none works is this an error. Returns the tool and
    /// the notes.
    func findTool(given: String? = nil, etcdProgram: String? = nil) async throws -> (RestoreTool, [String]) {
        var candidates: [(RestoreTool.Kind, String)] = []
        var looked: [String] = []
        if let given {
            let kind: RestoreTool.Kind = (given as NSString).lastPathComponent.hasPrefix("etcdctl") ? .etcdctl : .etcdutl
            guard runner.locate(given) != nil else {
                throw RestoreError(.toolMissing, "--restore-tool \(given): no executable file there; name an etcdutl or etcdctl (e.g. /usr/local/bin/etcdutl)")
            }
            candidates = [(kind, given)]
        } else {
            let etcdDirectory = etcdProgram.flatMap { $0.contains("/") ? ($0 as NSString).deletingLastPathComponent : nil }
            looked = (etcdDirectory.map { [$0] } ?? []) + runner.searchPath.filter { $0 != etcdDirectory }
            for kind in [RestoreTool.Kind.etcdutl, .etcdctl] {
                var paths: [String] = []
                if let etcdDirectory, let found = runner.locate("\(etcdDirectory)/\(kind.rawValue)") { paths.append(found) }
                paths += runner.locateAll(kind.rawValue).filter { !paths.contains($0) }
                candidates += paths.map { (kind, $0) }
            }
        }
        var skipped: [String] = []
        for (kind, path) in candidates {
            let environment = kind == .etcdctl ? ["ETCDCTL_API": "3"] : [:]
            let version: ProcessOutcome
            do {
                version = try await runner.run(ProcessRequest(path, ["version"], environment: environment, timeout: .seconds(20)))
            } catch {
                skipped.append("skipped \(path): could not run it (\(error))")
                continue
            }
            let firstLine = version.output.split(separator: "\n").first.map(String.init) ?? ""
            guard version.succeeded, firstLine.lowercased().contains("version") else {
                let last = version.output.split(separator: "\n").last.map(String.init) ?? "no output"
                skipped.append("skipped \(path): `\((path as NSString).lastPathComponent) version` failed (\(version.timedOut ? "timed out" : "exit \(version.status)")): \(last)")
                continue
            }
            let help = try await runner.run(ProcessRequest(path, ["snapshot", "restore", "--help"], environment: environment,
                                                           timeout: .seconds(20)))
            let tool = RestoreTool(kind: kind, path: path, version: firstLine,
                                   supportsBumpRevision: help.output.contains("--bump-revision") && help.output.contains("--mark-compacted"))
            return (tool, skipped)
        }
        if let given {
            throw RestoreError(.toolMissing, "--restore-tool \(given) does not work: \(skipped.first ?? "its version check failed"); name a working etcdutl or etcdctl")
        }
        let where_ = looked.isEmpty ? "PATH" : looked.joined(separator: ", ")
        if candidates.isEmpty {
            throw RestoreError(.toolMissing, "neither etcdutl nor etcdctl found (looked in: \(where_)): install etcd's tools (the etcd release tarball, or Debian's etcd-client), or name one with --restore-tool PATH")
        }
        throw RestoreError(.toolMissing, "neither etcdutl nor etcdctl works (looked in: \(where_)); \(skipped.joined(separator: "; ")): install etcd's tools, or name a working one with --restore-tool PATH")
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

    /// The sidecar next to a snapshot, when there is one and it reads.
    static func sidecar(for snapshot: String) -> SnapshotMetadata? {
        let path = SnapshotCatalog.sidecarPath(for: snapshot)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? SnapshotMetadata(sidecarJSON: data, path: path)
    }

    /// The member names of an `--initial-cluster` value.
    static func clusterNames(_ cluster: String) -> Set<String> {
        Set(cluster.split(separator: ",").compactMap { entry in
            entry.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) }
        })
    }

    static func urlSet(_ urls: String) -> Set<String> {
        Set(urls.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
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
