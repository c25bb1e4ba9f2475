import ArgumentParser
import EtcdClient
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every etcd member: version, leader, database size, raft indexes, alarms, latency.",
        discussion: """
        Asks the member list from the first endpoint that answers, then each member's status.
        Exits 1 when no endpoint answers.

        Examples:
          etcd-console status
          etcd-console status --endpoints https://10.0.0.5:2379 --cacert /etc/etcd/ca.pem \\
              --cert /etc/etcd/client.pem --key /etc/etcd/client-key.pem -o json
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let client = EtcdClient(try connection.configuration())
        defer { Task { await client.close() } }
        let members = try await client.clusterStatus()
        switch output.output {
        case .json:
            try printJSON(StatusReport(members: members.map(MemberJSON.init)))
        case .table:
            print(Self.table(members), terminator: "")
        }
        await client.close()
    }

    static func table(_ members: [MemberStatus]) -> String {
        let header = ["ENDPOINT", "NAME", "ID", "VERSION", "LEADER", "DB SIZE", "IN USE", "TERM", "INDEX",
                      "APPLIED", "LEARNER", "LATENCY", "ERRORS"]
        let rows = members.map { m -> [String] in
            [m.endpoint, m.name.isEmpty ? "-" : m.name, m.idHex, m.version ?? "-",
             m.isLeader.map { $0 ? "yes" : "no" } ?? "-", m.dbSize.map { formatBytes(Int($0)) } ?? "-",
             m.dbSizeInUse.map { formatBytes(Int($0)) } ?? "-", m.raftTerm.map(String.init) ?? "-",
             m.raftIndex.map(String.init) ?? "-", m.raftAppliedIndex.map(String.init) ?? "-",
             m.isLearner ? "yes" : "no", m.latency.map { String(format: "%.1fms", $0.milliseconds) } ?? "-",
             m.errors.isEmpty ? "-" : m.errors.joined(separator: "; ")]
        }
        return renderTable(header, rows)
    }
}

struct StatusReport: Encodable {
    var members: [MemberJSON]
}

/// The JSON shape of one member; every key is always present (null when the member did not answer).
struct MemberJSON: Encodable {
    var member: MemberStatus

    enum CodingKeys: String, CodingKey {
        case name, id, endpoint, version, isLeader, isLearner, dbSize, dbSizeInUse, raftTerm, raftIndex,
             raftAppliedIndex, errors, latencyMs, reachable
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(member.name, forKey: .name)
        try c.encode(member.idHex, forKey: .id)
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
