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
        configured schedule has no good snapshot at all, and when a control-plane or etcd certificate expires \
        within 30 days (the files on disk, else the newest bundle in the snapshot directory). Exits 1 when no endpoint answers; with -o json \
        it then still prints every endpoint with reachable false and the error. LAG is how many raft entries \
        a member is behind the leader.

        With --watch the table is drawn again every --interval seconds until Ctrl-C, and a member that stops \
        answering shows since when; the others stay live.

        Examples:
          etcd-console status
          etcd-console status --watch --interval 5
          etcd-console status --endpoints https://10.0.0.5:2379 \\
              --cacert /etc/etcd/ca.pem \\
              --cert /etc/etcd/client.pem --key /etc/etcd/client-key.pem -o json
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions
    @Flag(help: "Draw the table again every --interval seconds until interrupted (Ctrl-C).")
    var watch = false
    @Option(help: ArgumentHelp("Seconds between two refreshes with --watch.", valueName: "seconds"))
    var interval: Int = 2

    func validate() throws {
        if watch && output.output == .json {
            throw ValidationError("--watch draws a table; for machine output run `status -o json` as often as needed")
        }
        if interval < 1 { throw ValidationError("--interval must be at least 1 second, not \(interval)") }
    }

    func run() async throws {
        let resolved = try connection.resolve()
        if watch { return try await runWatch(resolved) }
        let backups = Self.backupFreshness(resolved)
        if let warning = backups?.warning { printError("warning: \(warning)") }
        if let warning = OffsiteFreshnessWarning.check(resolved) { printError("warning: \(warning)") }
        let now = Date()
        let (expiring, fromBundle) = CertificateExpiryCheck.check(resolved: resolved, now: now)
        for certificate in expiring {
            printError("warning: \(certificate.warning(now: now))" + (fromBundle.map { " (from \($0))" } ?? ""))
        }
        let certificates = expiring.isEmpty ? nil : expiring.map { ExpiringJSON($0, bundle: fromBundle) }
        let client = EtcdClient(try clientConfiguration(resolved))
        defer { Task { await client.close() } }
        let members: [MemberStatus]
        do {
            members = try await client.clusterStatus()
        } catch let error as EtcdClientError where output.output == .json {
            await client.close()
            let failures = error.kind == .noEndpointAvailable && !error.underlying.isEmpty ? error.underlying : [error]
            try printJSON(StatusReport(members: failures.map { MemberJSON(unreachable: $0) }, backups: backups,
                                       expiringCertificates: certificates))
            throw error
        }
        switch output.output {
        case .json:
            try printJSON(StatusReport(members: members.map { MemberJSON($0, raftLag: members.raftLag(of: $0)) }, backups: backups,
                                       expiringCertificates: certificates))
        case .table:
            print(Self.table(members), terminator: "")
        }
        await client.close()
    }

    static func table(_ members: [MemberStatus]) -> String {
        CommandTables.status(members)
    }

    /// `--watch`: one client, a refresh every interval, outages carried from one refresh to the next. On a
    /// terminal the screen is cleared before each table; otherwise each table follows a time line (for logs).
    private func runWatch(_ resolved: ResolvedConfiguration) async throws {
        let client = EtcdClient(try clientConfiguration(resolved))
        let terminal = isatty(STDOUT_FILENO) == 1
        var outages = MemberOutages()
        var last: [MemberStatus] = []
        while !Task.isCancelled {
            let now = Date()
            var problem: String?
            do {
                last = try await client.clusterStatus()
                outages.update(last, at: now)
            } catch {
                problem = "no endpoint answers: \(error)"
                outages.allDown(last, at: now)
                last = last.map { $0.notAnswering("unreachable") }
            }
            var text = terminal ? "\u{1B}[H\u{1B}[2J" : ""
            text += "etcd-console status · \(CommandTables.rfc3339(now)) · every \(interval)s (Ctrl-C to stop)\n"
            if let problem { text += problem + "\n" }
            if !last.isEmpty { text += CommandTables.status(last, downSince: outages.since, now: now) }
            // Unbuffered, one write per refresh: a log or a pipe sees each table whole as soon as it is drawn.
            FileHandle.standardOutput.write(Data((terminal ? text : text + "\n").utf8))
            try? await Task.sleep(for: .seconds(interval))
        }
        await client.close()
    }
}

struct StatusReport: Encodable {
    var members: [MemberJSON]
    var backups: BackupFreshnessJSON?
    /// Only present when a certificate expires within 30 days (or has expired).
    var expiringCertificates: [ExpiringJSON]?
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

    /// Raft entries behind the leader (null when there is no leader or the member did not answer).
    var raftLag: UInt64?

    init(_ member: MemberStatus, raftLag: UInt64? = nil) {
        self.member = member
        self.raftLag = raftLag
    }

    /// An endpoint that did not answer: its URL, reachable false, and why.
    init(unreachable error: EtcdClientError) {
        member = MemberStatus(endpoint: error.endpoint, unreachable: error.description)
        unknownID = true
    }

    /// The member ID is not known (the endpoint never answered): null in JSON, not "0".
    private var unknownID = false

    enum CodingKeys: String, CodingKey {
        case name, id, endpoint, version, isLeader, isLearner, dbSize, dbSizeInUse, raftTerm, raftIndex, raftLag,
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
        try c.encode(raftLag, forKey: .raftLag)
        try c.encode(member.raftAppliedIndex, forKey: .raftAppliedIndex)
        try c.encode(member.errors, forKey: .errors)
        try c.encode(member.latency.map { ($0.milliseconds * 1000).rounded() / 1000 }, forKey: .latencyMs)
        try c.encode(member.reachable, forKey: .reachable)
    }
}
