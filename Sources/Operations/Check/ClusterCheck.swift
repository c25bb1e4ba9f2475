import EtcdClient
import SystemSupport
import Foundation

/// `etcd-console check`: are the members consistent, and is anything about to stop the cluster?
///
/// 1. Every member's keys hashed at **one** revision (Maintenance/HashKV, as `etcdctl endpoint hashkv --cluster`
///    does, but at the lowest revision every reachable member has applied, so a write landing between two calls
///    cannot make equal members look different). Members whose hash differs from the majority are named.
/// 2. Raised alarms (NOSPACE, CORRUPT) and members that do not answer.
/// 3. Database size against the quota, and space a defragmentation would give back.
public struct ClusterCheck: Sendable {
    /// One member's answer.
    public struct MemberHash: Sendable, Equatable, Encodable {
        public var name: String
        public var id: String
        public var endpoint: String
        public var hash: UInt32?
        public var compactRevision: Int64?
        /// The revision the member says it hashed up to (etcd 3.5.5+; nil from older members).
        public var hashRevision: Int64?
        public var dbSize: Int64?
        public var dbSizeInUse: Int64?
        /// Raft entries behind the leader (nil when unknown).
        public var raftLag: UInt64?
        /// True when the member's keys equal the majority's; nil when it could not be asked.
        public var consistent: Bool?
        /// Why it could not be asked.
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case name, id, endpoint, hash, compactRevision, hashRevision, dbSize, dbSizeInUse, raftLag, consistent, error
        }

        /// Every key is always present, null when unknown (as in every JSON output of etcd-console).
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(id, forKey: .id)
            try c.encode(endpoint, forKey: .endpoint)
            try c.encode(hash, forKey: .hash)
            try c.encode(compactRevision, forKey: .compactRevision)
            try c.encode(hashRevision, forKey: .hashRevision)
            try c.encode(dbSize, forKey: .dbSize)
            try c.encode(dbSizeInUse, forKey: .dbSizeInUse)
            try c.encode(raftLag, forKey: .raftLag)
            try c.encode(consistent, forKey: .consistent)
            try c.encode(error, forKey: .error)
        }
    }

    /// What to act on, most serious first.
    public struct Finding: Sendable, Equatable, Encodable {
        public enum Severity: String, Sendable, Encodable { case error, warning }
        public var severity: Severity
        public var code: String
        public var message: String
        public var action: String
    }

    public struct Report: Sendable, Equatable, Encodable {
        /// The revision every member was hashed at.
        public var revision: Int64
        public var members: [MemberHash]
        /// True when every member that answered has the same keys; nil when their hashes are not comparable
        /// (different compact revisions: a compaction was being applied).
        public var consistent: Bool?
        public var alarms: [String]
        /// The quota the size percentages are taken against, and where it came from.
        public var quotaBytes: Int64
        public var quotaSource: String
        public var findings: [Finding]
        /// Exit 1 when anything is an error.
        public var healthy: Bool { !findings.contains { $0.severity == .error } }

        enum CodingKeys: String, CodingKey {
            case revision, members, consistent, healthy, alarms, quotaBytes, quotaSource, findings
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(revision, forKey: .revision)
            try c.encode(members, forKey: .members)
            try c.encode(consistent, forKey: .consistent)
            try c.encode(healthy, forKey: .healthy)
            try c.encode(alarms, forKey: .alarms)
            try c.encode(quotaBytes, forKey: .quotaBytes)
            try c.encode(quotaSource, forKey: .quotaSource)
            try c.encode(findings, forKey: .findings)
        }
    }

    /// A member's status and, when it answered, its hash. Pure input of `evaluate`, so every verdict has a test
    /// without a broken cluster.
    public struct Observation: Sendable {
        public var status: MemberStatus
        /// The revision the member has applied (Status header); nil when it did not answer.
        public var revision: Int64?
        /// The member's quota (StatusResponse.dbSizeQuota, etcd 3.6+; 0 from older members).
        public var quota: Int64
        public var hash: Result<HashValue, CheckError>?

        public init(status: MemberStatus, revision: Int64?, quota: Int64 = 0, hash: Result<HashValue, CheckError>? = nil) {
            self.status = status
            self.revision = revision
            self.quota = quota
            self.hash = hash
        }
    }

    public struct HashValue: Sendable, Equatable {
        public var hash: UInt32
        public var compactRevision: Int64
        public var hashRevision: Int64
        public init(hash: UInt32, compactRevision: Int64, hashRevision: Int64) {
            self.hash = hash
            self.compactRevision = compactRevision
            self.hashRevision = hashRevision
        }
    }

    public struct CheckError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// etcd's default --quota-backend-bytes (2 GiB), used when neither the member nor the operator says otherwise.
    public static let defaultQuota: Int64 = 2 << 30

    public let client: EtcdClient
    /// --quota-backend-bytes of the cluster when the operator knows it (etcd 3.4/3.5 do not report it), and
    /// where that came from ("--quota-backend-bytes", "the etcd unit"...).
    public var quotaBytes: Int64?
    public var quotaSource: String

    public init(client: EtcdClient, quotaBytes: Int64? = nil, quotaSource: String = "--quota-backend-bytes") {
        self.client = client
        self.quotaBytes = quotaBytes
        self.quotaSource = quotaSource
    }

    /// The quota from `--quota-backend-bytes` when given, else the settings (config file, environment, the
    /// discovered etcd unit's own flag), else etcd's default.
    public init(client: EtcdClient, settings: ResolvedConfiguration, quotaFlag: Int64? = nil) {
        let configured = settings[.quotaBackendBytes].flatMap { Int64($0) }
        let source = quotaFlag != nil ? "--quota-backend-bytes"
            : "quota-backend-bytes from \(settings.settings[.quotaBackendBytes].map { "\($0.source)" } ?? "the settings")"
        self.init(client: client, quotaBytes: quotaFlag ?? configured, quotaSource: source)
    }

    /// Asks every member, then judges. Throws only when no endpoint answers at all.
    public func run() async throws -> Report {
        // By name, so the same cluster always prints in the same order (the member list is ordered by id).
        let statuses = try await client.clusterStatus().sorted { ($0.name, $0.endpoint) < ($1.name, $1.endpoint) }
        // The revision and quota come with each reachable member's status: no second call.
        var observations = statuses.map { member in
            Observation(status: member, revision: member.reachable ? member.revision : nil, quota: member.dbSizeQuota ?? 0)
        }
        let revision = Self.commonRevision(observations)
        if let revision {
            await withTaskGroup(of: (Int, Result<HashValue, CheckError>).self) { group in
                for (index, observation) in observations.enumerated() where observation.revision != nil {
                    guard let endpoint = try? Endpoint(parsing: observation.status.endpoint) else { continue }
                    group.addTask {
                        do {
                            let response = try await client.hashKV(revision: revision, endpoint: endpoint)
                            return (index, .success(HashValue(hash: response.hash, compactRevision: response.compactRevision,
                                                              hashRevision: response.hashRevision)))
                        } catch {
                            return (index, .failure(CheckError("\(error)")))
                        }
                    }
                }
                for await (index, result) in group { observations[index].hash = result }
            }
        }
        let alarms = statuses.flatMap { member in
            member.errors.filter { $0.hasPrefix("alarm: ") }.map { "\(member.name.isEmpty ? member.endpoint : member.name): \($0)" }
        }
        return Self.evaluate(observations, revision: revision ?? 0, alarms: alarms, quotaBytes: quotaBytes,
                             quotaSource: quotaSource)
    }

    /// The lowest revision every reachable member has applied: all of them can hash it.
    static func commonRevision(_ observations: [Observation]) -> Int64? {
        observations.compactMap(\.revision).min()
    }

    /// The verdicts from what the members said.
    public static func evaluate(_ observations: [Observation], revision: Int64, alarms: [String] = [],
                                quotaBytes: Int64? = nil, quotaSource: String = "--quota-backend-bytes") -> Report {
        var findings: [Finding] = []
        let leaderIndex = observations.first { $0.status.isLeader == true }?.status.raftIndex
        // The hash that most members share is the reference; ties go to the group holding the leader.
        var groups: [UInt32: [Int]] = [:]
        for (i, o) in observations.enumerated() { if case .success(let h)? = o.hash { groups[h.hash, default: []].append(i) } }
        let leaderHash: UInt32? = observations.first { $0.status.isLeader == true }.flatMap {
            if case .success(let h)? = $0.hash { return h.hash } else { return nil }
        }
        let reference = groups.max { a, b in
            a.value.count != b.value.count ? a.value.count < b.value.count : (b.key == leaderHash)
        }?.key
        let compactRevisions = Set(observations.compactMap { o -> Int64? in
            if case .success(let h)? = o.hash { return h.compactRevision } else { return nil }
        })

        var members: [MemberHash] = []
        for o in observations {
            let s = o.status
            var row = MemberHash(name: s.name, id: s.idHex, endpoint: s.endpoint, dbSize: s.dbSize, dbSizeInUse: s.dbSizeInUse)
            if let leaderIndex, let index = s.raftIndex { row.raftLag = leaderIndex > index ? leaderIndex - index : 0 }
            switch o.hash {
            case .success(let h)?:
                row.hash = h.hash
                row.compactRevision = h.compactRevision
                row.hashRevision = h.hashRevision == 0 ? nil : h.hashRevision
                row.consistent = h.hash == reference
            case .failure(let error)?:
                row.error = "hashkv failed: \(error)"
            case nil:
                row.error = s.reachable ? "did not report its revision" : (s.errors.first ?? "unreachable")
            }
            members.append(row)
        }

        let name = { (m: MemberHash) in m.name.isEmpty ? m.endpoint : m.name }
        let divergent = members.filter { $0.consistent == false }
        let agreeing = members.filter { $0.consistent == true }
        if !divergent.isEmpty {
            if compactRevisions.count > 1 {
                findings.append(Finding(severity: .warning, code: "compaction-differs",
                    message: "members report different compact revisions (\(compactRevisions.sorted().map(String.init).joined(separator: ", "))): their hashes at revision \(revision) are not comparable",
                    action: "Run the check again once the compaction has been applied everywhere."))
            } else {
                for m in divergent {
                    findings.append(Finding(severity: .error, code: "hash-mismatch",
                        message: "\(name(m))'s keys differ from \(agreeing.map(name).joined(separator: ", ")) at revision \(revision) (hash \(hex(m.hash)) vs \(hex(reference)))",
                        action: "Do not restore from a snapshot of \(name(m)). Replace it: `etcdctl member remove` it, wipe its data dir (move it aside), `member add` it back with --initial-cluster-state existing."))
                }
            }
        }
        for m in members where m.error != nil {
            findings.append(Finding(severity: .error, code: "member-unreachable",
                message: "\(name(m)) could not be checked: \(m.error!)",
                action: "Check that etcd runs on that host (systemctl status etcd) and that its client URL \(m.endpoint) is reachable from here."))
        }
        for alarm in alarms {
            findings.append(Finding(severity: .error, code: "alarm", message: alarm,
                action: alarm.contains("NOSPACE")
                    ? "Compact (etcdctl compact REV), defragment each member (etcdctl defrag), then `etcdctl alarm disarm`."
                    : "Find the member whose data differs (this check), replace it from a consistent member, then `etcdctl alarm disarm`."))
        }

        let reported = observations.map(\.quota).max() ?? 0
        let quota = reported > 0 ? reported : (quotaBytes ?? defaultQuota)
        let quotaSource = reported > 0 ? "reported by etcd" : (quotaBytes != nil ? quotaSource : "etcd's default (2 GiB)")
        for m in members {
            guard let size = m.dbSize else { continue }
            let used = Double(size) / Double(quota)
            if used >= 0.8 {
                findings.append(Finding(severity: used >= 0.95 ? .error : .warning, code: "db-near-quota",
                    message: "\(name(m))'s database is \(formatBytes(Int(size))), \(Int((used * 100).rounded()))% of the \(formatBytes(Int(quota))) quota (\(quotaSource)); at 100% etcd raises NOSPACE and refuses writes",
                    action: "Compact old revisions and defragment, or raise --quota-backend-bytes (at most 8 GiB)."))
            }
            if let inUse = m.dbSizeInUse, size - inUse >= 64 << 20, Double(size - inUse) >= 0.5 * Double(size) {
                findings.append(Finding(severity: .warning, code: "defrag-advised",
                    message: "\(name(m)) could give back \(formatBytes(Int(size - inUse))) of its \(formatBytes(Int(size))) database",
                    action: "etcdctl defrag --endpoints=\(m.endpoint) (one member at a time: it blocks that member while it runs)."))
            }
        }
        let order: [Finding.Severity: Int] = [.error: 0, .warning: 1]
        findings.sort { order[$0.severity]! < order[$1.severity]! }
        if compactRevisions.count > 1 {
            for i in members.indices { members[i].consistent = nil }
        }
        return Report(revision: revision, members: members, consistent: compactRevisions.count > 1 ? nil : divergent.isEmpty,
                      alarms: alarms, quotaBytes: quota, quotaSource: quotaSource, findings: findings)
    }

    private static func hex(_ hash: UInt32?) -> String {
        hash.map { String(format: "%08x", $0) } ?? "-"
    }
}

extension CommandTables {
    /// The check's verdict in one line (the command's table and the console's Members screen).
    public static func checkVerdict(_ report: ClusterCheck.Report) -> String {
        let hashed = report.members.filter { $0.hash != nil }.count
        let same = report.members.filter { $0.consistent == true }.count
        if report.consistent == nil {
            return "not comparable: the members were at different compact revisions; run the check again"
        } else if report.consistent == true && hashed == report.members.count {
            return "consistent: \(same)/\(report.members.count) members have the same keys at revision \(report.revision)"
        } else if report.consistent == true {
            return "consistent so far: the \(hashed) members that answered have the same keys at revision \(report.revision); \(report.members.count - hashed) could not be checked"
        }
        return "NOT CONSISTENT: \(report.members.count - same) of \(report.members.count) members differ at revision \(report.revision)"
    }

    /// `etcd-console check`: one row per member, then the verdict and the findings.
    public static func check(_ report: ClusterCheck.Report) -> String {
        let header = ["MEMBER", "ENDPOINT", "HASH", "COMPACTED", "DB SIZE", "IN USE", "LAG", "SAME KEYS"]
        let rows = report.members.map { m -> [String] in
            [m.name.isEmpty ? "-" : m.name, m.endpoint, m.hash.map { String(format: "%08x", $0) } ?? "-",
             m.compactRevision.map(String.init) ?? "-", m.dbSize.map { formatBytes(Int($0)) } ?? "-",
             m.dbSizeInUse.map { formatBytes(Int($0)) } ?? "-", m.raftLag.map(String.init) ?? "-",
             m.consistent.map { $0 ? "yes" : "NO" } ?? (m.error ?? "-")]
        }
        var text = render(header, rows) + checkVerdict(report) + "\n"
        for f in report.findings {
            text += "\(f.severity.rawValue): \(f.message)\n  → \(f.action)\n"
        }
        return text
    }
}
