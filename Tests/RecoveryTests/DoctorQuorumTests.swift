import EtcdTestSupport
import Foundation
import Testing
@testable import Recovery

@Suite("Doctor: which members answer, and lost quorum")
struct DoctorQuorumTests {
    private static let cluster = "m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380,m3=https://10.0.0.3:2380,m3=https://[fd00::3]:2380"

    @Test("A majority answering is ok; fewer is quorum-lost naming who is silent, with the recovery that fits the data")
    func findings() throws {
        func probe(_ up: Set<String>) -> QuorumProbe {
            QuorumProbe(initialCluster: Self.cluster, localName: "m1", answers: { url in up.contains { url.contains($0) } })
        }
        let members = probe(["10.0.0.1", "fd00::3"]).probe()
        #expect(members.map(\.name) == ["m1", "m2", "m3"], "a name with two peer URLs is one member")
        #expect(members.map(\.answers) == [true, false, true], "a member answers when any of its peer URLs does")

        let ok = try #require(probe(["10.0.0.1", "10.0.0.2"]).finding(dataIntact: true))
        #expect(ok.severity == .ok && ok.code == "quorum")
        #expect(ok.message == "2 of 3 members answer on their peer URLs, a majority (answering: m1 (this member), m2; not answering: m3 at https://10.0.0.3:2380,https://[fd00::3]:2380)")

        let lost = try #require(probe(["10.0.0.1"]).finding(dataIntact: true))
        #expect(lost.severity == .critical && lost.code == "quorum-lost")
        #expect(lost.message == "only 1 of 3 members answer on their peer URLs (answering: m1 (this member); not answering: m2 at https://10.0.0.2:2380, m3 at https://10.0.0.3:2380,https://[fd00::3]:2380): without 2 the cluster cannot elect a leader or accept writes")
        #expect(lost.action.contains("etcd-console restore --cluster --inventory <cluster.yaml> --from-survivor m1 restores every member from it over SSH"), "\(lost.action)")
        #expect(lost.action.contains("start this member alone with --force-new-cluster, then add the others back one at a time (etcdctl member add NAME --peer-urls URL, an empty data dir, --initial-cluster-state existing)"))
        let damaged = try #require(probe([]).finding(dataIntact: false))
        #expect(damaged.message.hasPrefix("only 0 of 3 members answer on their peer URLs (answering: none; "))
        #expect(damaged.action.hasPrefix("This member's data is damaged (see above): restore every member from one snapshot"))

        #expect(QuorumProbe(initialCluster: "m1=https://10.0.0.1:2380", localName: "m1", answers: { _ in false }).finding(dataIntact: true) == nil,
                "one member: no quorum to lose")
        #expect(QuorumProbe(initialCluster: "garbage", localName: nil, answers: { _ in true }).finding(dataIntact: true) == nil)
    }

    @Test("A real 3-member cluster: all answer, then two members stop: quorum-lost on the survivor's data dir, and doctor exits 1 saying how to recover")
    func realCluster() async throws {
        let cluster = try await EtcdCluster.start(.v3_5, name: "quorum")
        defer { cluster.stopNow() }
        let survivor = cluster.members[0]
        var doctor = DataDirDoctor(dataDir: survivor.dataDir.path, backupDirectory: nil)
        doctor.quorum = QuorumProbe(initialCluster: cluster.initialCluster, localName: "m1")
        let healthy = doctor.examine()
        #expect(healthy.findings("quorum").first?.message.hasPrefix("3 of 3 members answer on their peer URLs, a majority") == true,
                "\(healthy.findings)")

        await cluster.members[1].stop()
        await cluster.members[2].stop()
        let lost = doctor.examine()
        let finding = try #require(lost.findings("quorum-lost").first, "\(lost.findings)")
        #expect(finding.message.hasPrefix("only 1 of 3 members answer on their peer URLs (answering: m1 (this member); not answering: m2 at \(cluster.members[1].peerURL), m3 at \(cluster.members[2].peerURL))"),
                "\(finding.message)")
        #expect(lost.recommendation.hasPrefix("Quorum is lost and this member's data is intact: if the others are gone for good, restore every member from this member's data (by hand: start it alone with --force-new-cluster, then add the others back one at a time)"), "\(lost.recommendation)")
        #expect(lost.recommendation.hasSuffix(": etcd-console restore --cluster --inventory <cluster.yaml> --from-survivor m1"),
                "\(lost.recommendation)")

        // The command takes the membership from the config file (discovery gives it on a real master).
        let work = try TestDirectories.make("doctor-quorum")
        let config = work.appendingPathComponent("config.yaml").path
        try Data("initial-cluster: \(cluster.initialCluster)\nname: m1\n".utf8).write(to: URL(fileURLWithPath: config))
        let result = try EtcdConsoleBinary.run(["doctor", "--data-dir", survivor.dataDir.path, "--dir", work.path, "--config", config],
                                               environment: ["HOME": work.path])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stdout.contains("CRITICAL quorum-lost: only 1 of 3 members answer on their peer URLs"), "\(result.output)")
        #expect(result.stdout.contains("\nRecommendation: Quorum is lost and this member's data is intact"), "\(result.output)")
    }
}
