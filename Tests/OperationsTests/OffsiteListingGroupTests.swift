import Foundation
import ObjectStore
@testable import Operations
import Testing

/// `snapshot list --remote` in HA (issue 16): each master backs up its own member, so one cluster revision can
/// be in the bucket several times; those rows are marked as one group and listed together.
@Suite("Remote listing groups copies of one cluster revision")
struct OffsiteListingGroupTests {
    static func copy(_ name: String, member: String, revision: Int64, at seconds: TimeInterval, cluster: String = "c1") -> RemoteSnapshot {
        let manifest = OffsiteManifest(clusterId: cluster, memberId: member + "-id", memberName: member, revision: revision,
                                       etcdVersion: "3.5.17", takenAt: Date(timeIntervalSince1970: seconds), dbSHA256: "a", dbSize: 10,
                                       objectSHA256: "b", objectSize: 5, codec: .zstdAge, ageRecipients: [], etcdConsoleVersion: "test",
                                       fileName: name)
        return RemoteSnapshot(name: name, objectKey: "p/\(cluster)/\(member)/\(name)", manifestKey: "p/\(cluster)/\(member)/\(name).manifest.json",
                              manifest: manifest, listedSize: 5, problem: nil)
    }

    @Test("Two members' copies of revision 100 are one group, next to each other; a lone revision and another cluster's same revision are not")
    func groups() {
        let remote = RemoteCatalog(location: "s3://b/p/", listedAt: Date(), snapshots: [
            Self.copy("m1-r100.db", member: "m1", revision: 100, at: 1_000),
            Self.copy("m1-r120.db", member: "m1", revision: 120, at: 900),   // older clock on m1, newer revision: not grouped
            Self.copy("m2-r100.db", member: "m2", revision: 100, at: 800),
            Self.copy("m3-r90.db", member: "m3", revision: 90, at: 700),
            Self.copy("other-r100.db", member: "x1", revision: 100, at: 600, cluster: "c2"),
        ], unreadable: [])
        let rows = OffsiteListing.rows(local: [], remote: remote)
        #expect(rows.map(\.name) == ["m1-r100.db", "m2-r100.db", "m1-r120.db", "m3-r90.db", "other-r100.db"])
        #expect(rows.map(\.group) == ["c1@r100", "c1@r100", nil, nil, nil])
        #expect(rows.map(\.member) == ["m1", "m2", "m1", "m3", "x1"])
    }
}
