import Foundation
import SnapshotStore
import SystemSupport

/// The steps of a restore, in order. Raw values are the names used in JSON, the journal and the console.
public enum RestoreStepKind: String, Codable, Sendable, CaseIterable {
    case preflight
    case stopEtcd = "stop-etcd"
    case moveAside = "move-data-dir"
    case restore
    case fixOwnership = "fix-ownership"
    case startEtcd = "start-etcd"
    case waitHealthy = "wait-healthy"
    case verify
    case checkPods = "check-pods"

    /// What the step does, for a checklist.
    public var title: String {
        switch self {
        case .preflight: "Preflight checks"
        case .stopEtcd: "Stop etcd"
        case .moveAside: "Move the data dir aside"
        case .restore: "Restore the snapshot"
        case .fixOwnership: "Fix owner and mode"
        case .startEtcd: "Start etcd"
        case .waitHealthy: "Wait until etcd is healthy"
        case .verify: "Verify revision, keys and members"
        case .checkPods: "Check pods"
        }
    }

    /// Steps that change the host (need confirmation; rolled back on failure once the data dir moved).
    public var isDestructive: Bool {
        switch self {
        case .stopEtcd, .moveAside, .restore, .fixOwnership, .startEtcd: true
        case .preflight, .waitHealthy, .verify, .checkPods: false
        }
    }
}

/// One step as shown before anything runs: what it does and the exact commands an operator could type.
public struct PlannedStep: Codable, Sendable, Equatable {
    public var kind: RestoreStepKind
    public var title: String
    public var commands: [String]
    public var isDestructive: Bool

    public init(kind: RestoreStepKind, commands: [String]) {
        self.kind = kind
        self.title = kind.title
        self.commands = commands
        self.isDestructive = kind.isDestructive
    }
}

/// How etcd is stopped and started on this host.
public enum ServiceTarget: Codable, Sendable, Equatable {
    /// `systemctl stop|start <unit>`.
    case systemd(unit: String)
    /// A kubeadm static pod: the kubelet stops etcd when its manifest leaves the manifests directory.
    case staticPod(manifest: String, parkedAt: String)

    public var description: String {
        switch self {
        case .systemd(let unit): "systemd unit \(unit)"
        case .staticPod(let manifest, _): "static pod \(manifest)"
        }
    }
}

/// The program that restores: etcdutl (3.5+), else etcdctl with ETCDCTL_API=3.
public struct RestoreTool: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case etcdutl, etcdctl }
    public var kind: Kind
    public var path: String
    /// First line of `<tool> version`, e.g. "etcdutl version: 3.5.1".
    public var version: String
    /// `snapshot restore --help` lists --bump-revision and --mark-compacted.
    public var supportsBumpRevision: Bool

    public init(kind: Kind, path: String, version: String, supportsBumpRevision: Bool) {
        self.kind = kind
        self.path = path
        self.version = version
        self.supportsBumpRevision = supportsBumpRevision
    }
}

/// Owner and mode of a directory, to give the restored data dir the old one's.
public struct DirectoryOwnership: Codable, Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var mode: UInt16
    /// "etcd:etcd" (names when known, else numbers).
    public var display: String

    public init(uid: UInt32, gid: UInt32, mode: UInt16, display: String) {
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.display = display
    }

    private enum CodingKeys: String, CodingKey { case uid, gid, mode, display }

    /// `mode` is written as people and chmod read it, "0700" (octal, a string); a journal written before that
    /// holds the number (448) and still reads.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(uid, forKey: .uid)
        try c.encode(gid, forKey: .gid)
        try c.encode(Self.octal(mode), forKey: .mode)
        try c.encode(display, forKey: .display)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        uid = try c.decode(UInt32.self, forKey: .uid)
        gid = try c.decode(UInt32.self, forKey: .gid)
        display = try c.decode(String.self, forKey: .display)
        if let number = try? c.decode(UInt16.self, forKey: .mode) {
            mode = number
        } else {
            let text = try c.decode(String.self, forKey: .mode)
            guard let parsed = UInt16(text, radix: 8) else {
                throw DecodingError.dataCorruptedError(forKey: .mode, in: c,
                                                       debugDescription: "\"\(text)\" is not an octal mode like \"0700\"")
            }
            mode = parsed
        }
    }

    /// "0700" for 0o700: four octal digits.
    public static func octal(_ mode: UInt16) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// Everything a restore will do, computed before anything runs; stored in the journal so a restore that
/// was interrupted can be resumed or rolled back by another process.
public struct RestorePlan: Codable, Sendable, Equatable {
    public var createdAt: Date
    public var snapshotPath: String
    public var snapshotSize: Int64
    /// The verifier's verdict on the snapshot when the plan was made.
    public var snapshotHealth: SnapshotHealth
    public var snapshotReason: String?
    public var snapshotRevision: Int64?
    public var snapshotKeys: Int?
    /// Pods per namespace in the snapshot (for the pod check after the restore).
    public var snapshotPods: [String: Int]
    public var skipVerify: Bool

    public var dataDir: String
    /// A WAL dir outside the data dir (`--wal-dir`), moved aside and restored along with it.
    public var walDir: String?
    /// Whether the data dir existed when the plan was made (after a disk loss it may not).
    public var dataDirExisted: Bool
    public var asidePath: String
    public var walAsidePath: String?
    public var failedRestorePath: String
    public var ownership: DirectoryOwnership

    public var memberName: String
    public var initialCluster: String
    public var initialClusterToken: String
    public var initialAdvertisePeerURLs: String

    public var service: ServiceTarget
    public var tool: RestoreTool
    /// Client URLs to check health on.
    public var endpoints: [String]
    public var stopTimeoutSeconds: Int
    public var startTimeoutSeconds: Int

    public var steps: [PlannedStep]
    /// Things the operator should know before confirming (e.g. "etcdctl 3.4 cannot --bump-revision").
    public var notes: [String]
    /// Where each value came from, by `RestoreField` raw value ("name": "discovered: Environment=ETCD_NAME in ...").
    /// Optional: journals written before it existed still decode.
    public var sources: [String: String]?
    /// What looks wrong and deserves a look before confirming (the snapshot's member differs from the target).
    public var warnings: [String]?
    /// Whether the snapshot ends in etcd's SHA-256 trailer (nil: a plan from before this field). A raw
    /// `member/snap/db` copy has none and verifies as "good: no checksum trailer": the restore tool then needs
    /// --skip-hash-check, whatever the health says.
    public var snapshotHasTrailer: Bool? = nil
    /// The member the snapshot was saved from, by its sidecar.
    public var snapshotMember: String?
    /// False when the current user cannot read the snapshot (nil in older journals: readable).
    public var snapshotReadable: Bool?

    /// The journal next to the data dir.
    public var journalPath: String { RestoreJournal.path(forDataDir: dataDir) }

    /// The restore command as arguments (without the program).
    public var restoreArguments: [String] {
        var arguments = ["snapshot", "restore", snapshotPath, "--data-dir", dataDir]
        if let walDir { arguments += ["--wal-dir", walDir] }
        arguments += ["--name", memberName, "--initial-cluster", initialCluster,
                      "--initial-cluster-token", initialClusterToken,
                      "--initial-advertise-peer-urls", initialAdvertisePeerURLs]
        if tool.supportsBumpRevision { arguments += ["--bump-revision", "1000000000", "--mark-compacted"] }
        if snapshotHealth == .unverified || (snapshotHealth == .good && snapshotHasTrailer == false) { arguments.append("--skip-hash-check") }
        return arguments
    }

    public var restoreRequest: ProcessRequest {
        ProcessRequest(tool.path, restoreArguments,
                       environment: tool.kind == .etcdctl ? ["ETCDCTL_API": "3"] : [:], timeout: .seconds(3600))
    }

    /// The source of a value, or nil when the plan predates sources.
    public func source(_ field: RestoreField) -> String? { sources?[field.rawValue] }

    /// "value (source)" lines for the values an operator checks before a restore.
    public var settingLines: [String] {
        var values: [(RestoreField, String)] = [(.dataDir, dataDir)]
        if let walDir { values.append((.walDir, walDir)) }
        values += [(.name, memberName), (.initialAdvertisePeerURLs, initialAdvertisePeerURLs),
                   (.initialCluster, initialCluster), (.initialClusterToken, initialClusterToken),
                   (.service, service.description), (.restoreTool, "\(tool.path) (\(tool.version))")]
        return values.map { field, value in "\(field.rawValue): \(value)" + (source(field).map { "  [\($0)]" } ?? "") }
    }

    /// The snapshot is damaged (the verifier says corrupt): a restore would refuse unless --skip-verify.
    public var snapshotIsDamaged: Bool { snapshotHealth == .corrupt }

    /// Whether this plan can be carried out as it stands: the snapshot reads and verifies (or checks are off).
    public var isRestorable: Bool { snapshotReadable != false && (!snapshotIsDamaged || skipVerify) }

    /// The plan as text: each step with its commands, then the notes. What `--dry-run` prints.
    public func rendered() -> String {
        var lines = ["Restore \(snapshotPath) into \(dataDir) (member \(memberName), \(service.description))"]
        if snapshotIsDamaged {
            lines.append("DAMAGED SNAPSHOT: \(snapshotReason ?? "it does not verify"): restore another snapshot (etcd-console snapshot list)")
        }
        for warning in warnings ?? [] { lines.append("WARNING: \(warning)") }
        lines.append("Settings:")
        lines += settingLines.map { "  \($0)" }
        for (number, step) in steps.enumerated() {
            lines.append("\(number + 1). \(step.title)\(step.isDestructive ? "  [changes the host]" : "")")
            lines += step.commands.map { "     \($0)" }
        }
        if !notes.isEmpty {
            lines.append("Notes:")
            lines += notes.map { "  - \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}
