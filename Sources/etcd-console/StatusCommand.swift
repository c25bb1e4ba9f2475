import ArgumentParser
import EtcdClient
import Foundation
import Operations
import SnapshotStore
import SystemSupport

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every etcd member: version, leader, database size, raft indexes, alarms, latency.",
        discussion: """
        Asks the member list from the first endpoint that answers, then each member's status. \
        Warns on stderr (even when etcd is down) when the newest good snapshot in the snapshot directory is \
        older than twice the schedule interval (schedule.every in the config file, default 30min), or when a \
        configured schedule has no good snapshot at all. Exits 1 when no endpoint answers; with -o json \
        it then still prints every endpoint with reachable false and the error.

        Examples:
          etcd-console status
          etcd-console status --endpoints https://10.0.0.5:2379 \\
              --cacert /etc/etcd/ca.pem \\
              --cert /etc/etcd/client.pem --key /etc/etcd/client-key.pem -o json
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let resolved = try connection.resolve()
        let backups = Self.backupFreshness(resolved)
        if let warning = backups?.warning { printError("warning: \(warning)") }
        if let warning = OffsiteFreshnessWarning.check(resolved) { printError("warning: \(warning)") }
        let client = EtcdClient(try clientConfiguration(resolved))
        defer { Task { await client.close() } }
        let members: [MemberStatus]
        do {
            members = try await client.clusterStatus()
        } catch let error as EtcdClientError where output.output == .json {
            await client.close()
            let failures = error.kind == .noEndpointAvailable && !error.underlying.isEmpty ? error.underlying : [error]
            try printJSON(StatusReport(members: failures.map { MemberJSON(unreachable: $0) }, backups: backups))
            throw error
        }
        switch output.output {
        case .json:
            try printJSON(StatusReport(members: members.map(MemberJSON.init), backups: backups))
        case .table:
            print(Self.table(members), terminator: "")
        }
        await client.close()
    }

    static func table(_ members: [MemberStatus]) -> String {
        CommandTables.status(members)
    }
}

struct StatusReport: Encodable {
    var members: [MemberJSON]
    var backups: BackupFreshnessJSON?
}

/// The snapshot directory's freshness as `status` reports it; `warning` is null when all is well.
struct BackupFreshnessJSON: Encodable {
    var directory: String
    var every: String
    var verdict: String
    var newestGood: String?
    var newestGoodAgeSeconds: Int?
    var warning: String?
}

extension StatusCommand {
    /// Checks the newest good snapshot against twice the schedule interval (`SnapshotFreshness`). Nil when there is
    /// nothing to judge: no snapshot directory and no configured schedule (someone who keeps backups elsewhere).
    static func backupFreshness(_ resolved: ResolvedConfiguration, now: Date = Date()) -> BackupFreshnessJSON? {
        let directory = resolved.snapshotDirectory
        let interval = resolved.interval
        let exists = FileManager.default.fileExists(atPath: directory)
        guard exists || resolved.intervalIsConfigured else { return nil }
        let entries = exists ? ((try? SnapshotCatalog.standard(directory: directory).list())?.entries ?? []) : []
        let freshness = SnapshotFreshness.check(entries, intervalSeconds: interval.seconds, now: now)
        var warning: String?
        switch freshness.verdict {
        case .fresh: break
        case .stale:
            warning = "the newest good snapshot in \(directory) (\(freshness.newestGood ?? "?")) is \(formatAge(freshness.ageSeconds ?? 0)) old, more than twice the \(interval) schedule: check `etcd-console schedule status` and take one with `etcd-console backup`"
        case .none:
            warning = "no good snapshot in \(directory) (schedule every \(interval)): take one now with `etcd-console backup`"
        }
        return BackupFreshnessJSON(directory: directory, every: interval.description, verdict: freshness.verdict.rawValue,
                                   newestGood: freshness.newestGood, newestGoodAgeSeconds: freshness.ageSeconds.map { Int($0) },
                                   warning: warning)
    }
}

/// The JSON shape of one member; every key is always present (null when the member did not answer).
struct MemberJSON: Encodable {
    var member: MemberStatus

    init(_ member: MemberStatus) {
        self.member = member
    }

    /// An endpoint that did not answer: its URL, reachable false, and why.
    init(unreachable error: EtcdClientError) {
        member = MemberStatus(endpoint: error.endpoint, unreachable: error.description)
        unknownID = true
    }

    /// The member ID is not known (the endpoint never answered): null in JSON, not "0".
    private var unknownID = false

    enum CodingKeys: String, CodingKey {
        case name, id, endpoint, version, isLeader, isLearner, dbSize, dbSizeInUse, raftTerm, raftIndex,
             raftAppliedIndex, errors, latencyMs, reachable
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(member.name, forKey: .name)
        try c.encode(unknownID ? nil : member.idHex, forKey: .id)
        try c.encode(member.endpoint, forKey: .endpoint)
        try c.encode(member.version, forKey: .version)
        try c.encode(member.isLeader, forKey: .isLeader)
        try c.encode(member.isLearner, forKey: .isLearner)
        try c.encode(member.dbSize, forKey: .dbSize)
        try c.encode(member.dbSizeInUse, forKey: .dbSizeInUse)
        try c.encode(member.raftTerm, forKey: .raftTerm)
        try c.encode(member.raftIndex, forKey: .raftIndex)
        try c.encode(member.raftAppliedIndex, forKey: .raftAppliedIndex)
        try c.encode(member.errors, forKey: .errors)
        try c.encode(member.latency.map { ($0.milliseconds * 1000).rounded() / 1000 }, forKey: .latencyMs)
        try c.encode(member.reachable, forKey: .reachable)
    }
}
