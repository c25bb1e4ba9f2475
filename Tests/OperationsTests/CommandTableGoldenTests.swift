@testable import EtcdClient
import EtcdTestSupport
import Foundation
import Operations
import SnapshotStore
import Testing

/// Golden CLI tables: `CommandTables` output compared with `Snapshots/<name>.txt`, byte for byte.
/// `RECORD_SNAPSHOTS=1` writes the files and fails the run, so every re-record is looked at.
enum GoldenText {
    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")
    }

    static func check(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        if let problem = try GoldenFile.compare(text, with: directory.appendingPathComponent("\(name).txt"), what: name) {
            Issue.record(Comment(rawValue: problem), sourceLocation: sourceLocation)
        }
    }
}

@Suite("Golden tables: status and snapshot list, exactly as printed")
struct CommandTableGoldenTests {
    static let now = Date(timeIntervalSince1970: 1_764_082_800)  // 2025-11-25T15:00:00Z

    @Test("status: a leader, a lagging follower, a learner and a member not answering for 2m05s (--watch)")
    func status() throws {
        func member(_ name: String, _ ip: String, id: UInt64, leader: Bool?, learner: Bool = false, up: Bool = true,
                    index: UInt64 = 184_467, errors: [String] = []) -> MemberStatus {
            MemberStatus(name: name, id: id, endpoint: "https://\(ip):2379", version: up ? "3.5.17" : nil, isLeader: up ? leader : nil,
                         isLearner: learner, dbSize: up ? 48_234_496 : nil, dbSizeInUse: up ? 31_457_280 : nil,
                         raftTerm: up ? 7 : nil, raftIndex: up ? index : nil, raftAppliedIndex: up ? index : nil,
                         errors: errors, latency: up ? .microseconds(1_840) : nil)
        }
        let members = [
            member("master-1", "10.0.0.5", id: 0x8e9e05c52164694d, leader: true, errors: ["alarm: NOSPACE"]),
            member("master-2", "10.0.0.6", id: 0x91bc3c398fb3c146, leader: false, index: 183_955),
            member("master-3", "10.0.0.7", id: 0xfd422379fda50e48, leader: false, learner: true),
            member("master-4", "10.0.0.8", id: 0x2f0a5b7c9d1e3f46, leader: nil, up: false,
                   errors: ["could not reach https://10.0.0.8:2379: connection refused (is etcd running and listening on port 2379?)"]),
        ]
        #expect(members.raftLag(of: members[1]) == 512)
        #expect(members.raftLag(of: members[0]) == 0)
        #expect(members.raftLag(of: members[3]) == nil, "no index from a member that did not answer")
        var outages = MemberOutages()
        outages.update(members, at: Self.now.addingTimeInterval(-125))
        outages.update(members, at: Self.now)
        try GoldenText.check(CommandTables.status(members, downSince: outages.since, now: Self.now), "status")
    }

    @Test("snapshot list: ours and foreign, good, corrupt and unverified, with the summary line")
    func snapshotList() throws {
        func entry(_ name: String, hoursAgo: Double, size: Int, health: SnapshotHealth, reason: String? = nil,
                   revision: Int64? = nil, keys: Int? = nil) -> SnapshotEntry {
            let taken = Self.now.addingTimeInterval(-hoursAgo * 3600)
            return SnapshotEntry(name: name, path: "/var/lib/etcd-backup/" + name, size: size, modified: taken, takenAt: taken,
                                 takenAtSource: .sidecar, health: health, reason: reason, revision: revision, liveKeys: keys,
                                 isOurs: true)
        }
        let listing = CatalogListing(entries: [
            entry("snapshot-20251125T144500Z-master-1.db", hoursAgo: 0.25, size: 48_234_528, health: .corrupt,
                  reason: "truncated at 21 MB of 48 MB"),
            entry("snapshot-20251125T141500Z-master-1.db", hoursAgo: 0.75, size: 48_234_528, health: .good,
                  revision: 184_467, keys: 4_812),
            entry("snapshot-20251124T020000Z-master-1.db", hoursAgo: 37, size: 47_185_952, health: .good,
                  reason: "no checksum trailer; structure OK", revision: 170_002, keys: 4_790),
            entry("private.db", hoursAgo: 24 * 9.5, size: 46_137_376, health: .unverified,
                  reason: "cannot read /var/lib/etcd-backup/private.db: Permission denied"),
        ], leftoverParts: [], ignored: [], problems: [
            CatalogProblem(name: "x.db", path: "/var/lib/etcd-backup/x.db", reason: "a FIFO (named pipe), not a regular file"),
        ])
        try GoldenText.check(CommandTables.snapshotList(listing, now: Self.now), "snapshot-list")
        let one = CatalogListing(entries: [listing.entries[1]], leftoverParts: [], ignored: [])
        try GoldenText.check(CommandTables.snapshotList(one, now: Self.now), "snapshot-list-one")
    }
}
