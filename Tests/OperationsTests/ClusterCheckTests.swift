@testable import EtcdClient
import Foundation
@testable import Operations
import Testing

/// The verdicts of `etcd-console check` from what members answered (the real-cluster tests are in
/// EtcdConsoleTests/CheckCommandTests).
@Suite("check: verdicts from the members' hashes, alarms and sizes")
struct ClusterCheckTests {
    static func member(_ name: String, id: UInt64, leader: Bool = false, index: UInt64 = 100, size: Int64 = 20 << 20,
                       inUse: Int64? = nil, errors: [String] = []) -> MemberStatus {
        MemberStatus(name: name, id: id, endpoint: "http://10.0.0.\(id):2379", version: "3.5.1", isLeader: leader,
                     isLearner: false, dbSize: size, dbSizeInUse: inUse ?? size, raftTerm: 2, raftIndex: index,
                     raftAppliedIndex: index, errors: errors, latency: .milliseconds(1))
    }

    static func hashed(_ status: MemberStatus, _ hash: UInt32, compact: Int64 = 0) -> ClusterCheck.Observation {
        ClusterCheck.Observation(status: status, revision: 50,
                                 hash: .success(.init(hash: hash, compactRevision: compact, hashRevision: 50)))
    }

    @Test("Three equal hashes: consistent, no findings, healthy")
    func allEqual() {
        let report = ClusterCheck.evaluate([Self.hashed(Self.member("m1", id: 1, leader: true), 7),
                                            Self.hashed(Self.member("m2", id: 2, index: 98), 7),
                                            Self.hashed(Self.member("m3", id: 3), 7)], revision: 50)
        #expect(report.consistent == true)
        #expect(report.findings.isEmpty)
        #expect(report.healthy)
        #expect(report.members.map(\.raftLag) == [0, 2, 0])
        #expect(CommandTables.check(report).hasSuffix("consistent: 3/3 members have the same keys at revision 50\n"))
    }

    @Test("One member differs: it is named against the majority, with both hashes, and the check fails")
    func oneDiffers() throws {
        let report = ClusterCheck.evaluate([Self.hashed(Self.member("m1", id: 1, leader: true), 0xaa),
                                            Self.hashed(Self.member("m2", id: 2), 0xaa),
                                            Self.hashed(Self.member("m3", id: 3), 0xbb)], revision: 50)
        #expect(report.consistent == false)
        #expect(!report.healthy)
        #expect(report.members.map(\.consistent) == [true, true, false])
        let finding = try #require(report.findings.first)
        #expect(finding.code == "hash-mismatch")
        #expect(finding.message == "m3's keys differ from m1, m2 at revision 50 (hash 000000bb vs 000000aa)")
        #expect(CommandTables.check(report).contains("NOT CONSISTENT: 1 of 3 members differ at revision 50"))
    }

    @Test("Two members, two hashes: the leader's side is the reference")
    func tieGoesToLeader() {
        let report = ClusterCheck.evaluate([Self.hashed(Self.member("m1", id: 1), 0x1),
                                            Self.hashed(Self.member("m2", id: 2, leader: true), 0x2)], revision: 9)
        #expect(report.members.map(\.consistent) == [false, true])
    }

    @Test("Different compact revisions: not comparable, a warning, no member blamed")
    func compactionDiffers() {
        let report = ClusterCheck.evaluate([Self.hashed(Self.member("m1", id: 1, leader: true), 0x1, compact: 10),
                                            Self.hashed(Self.member("m2", id: 2), 0x2, compact: 12)], revision: 20)
        #expect(report.consistent == nil)
        #expect(report.members.allSatisfy { $0.consistent == nil })
        #expect(report.findings.map(\.code) == ["compaction-differs"])
        #expect(report.healthy)
    }

    @Test("A member that did not answer: named with why, the others still compared, the check fails")
    func unreachable() {
        let gone = MemberStatus(name: "m3", id: 3, endpoint: "http://10.0.0.3:2379", isLearner: false,
                                errors: ["unreachable: connection refused"])
        let report = ClusterCheck.evaluate([Self.hashed(Self.member("m1", id: 1, leader: true), 5),
                                            Self.hashed(Self.member("m2", id: 2), 5),
                                            ClusterCheck.Observation(status: gone, revision: nil)], revision: 50)
        #expect(report.consistent == true)
        #expect(!report.healthy)
        #expect(report.findings.map(\.message) == ["m3 could not be checked: unreachable: connection refused"])
        #expect(CommandTables.check(report).contains("consistent so far: the 2 members that answered have the same keys at revision 50; 1 could not be checked"))
    }

    @Test("NOSPACE alarm, a database at 90% of the quota, and space to give back are reported with what to do")
    func spaceAndAlarms() {
        let quota: Int64 = 1 << 30
        let big = Self.member("m1", id: 1, leader: true, size: Int64(Double(quota) * 0.9), inUse: 100 << 20,
                              errors: ["alarm: NOSPACE (the database hit its quota; compact, defragment, then disarm)"])
        let report = ClusterCheck.evaluate([Self.hashed(big, 1)], revision: 5,
                                           alarms: ["m1: alarm: NOSPACE (the database hit its quota; compact, defragment, then disarm)"],
                                           quotaBytes: quota)
        #expect(report.findings.map(\.code) == ["alarm", "db-near-quota", "defrag-advised"])
        #expect(report.findings[1].message.contains("90% of the 1.1 GB quota (--quota-backend-bytes)"), "\(report.findings[1].message)")
        #expect(report.findings[2].action == "etcdctl defrag --endpoints=http://10.0.0.1:2379 (one member at a time: it blocks that member while it runs).")
        #expect(!report.healthy)
        #expect(report.quotaSource == "--quota-backend-bytes")
    }

    @Test("No quota given and none reported: etcd's default 2 GiB, named as such")
    func defaultQuota() {
        let report = ClusterCheck.evaluate([Self.hashed(Self.member("m1", id: 1, leader: true), 1)], revision: 5)
        #expect(report.quotaBytes == 2 << 30)
        #expect(report.quotaSource == "etcd's default (2 GiB)")
    }

    @Test("The lowest applied revision is the one every member is hashed at")
    func commonRevision() {
        let a = ClusterCheck.Observation(status: Self.member("m1", id: 1), revision: 12)
        let b = ClusterCheck.Observation(status: Self.member("m2", id: 2), revision: 10)
        let c = ClusterCheck.Observation(status: Self.member("m3", id: 3), revision: nil)
        #expect(ClusterCheck.commonRevision([a, b, c]) == 10)
    }
}
