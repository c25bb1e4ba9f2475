import EtcdTestSupport
import Foundation
import Testing
import SnapshotStore

@Suite("etcd snapshots read like etcd's own tools read them")
struct EtcdDatabaseTests {
    @Test("Snapshot status matches etcdctl's: hash, revision, totalKey, totalSize", arguments: EtcdVersion.allCases)
    func snapshotStatus(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let database = try EtcdDatabase(path: fixture.snapshotPath)
        #expect(try database.status() == fixture.snapshotStatus)
        #expect(try database.status(checkStructure: false) == fixture.snapshotStatus)
        #expect(try database.revision() == fixture.snapshotStatus.revision)
    }

    @Test("A stopped member's db (no trailer, file larger than the database) matches too", arguments: EtcdVersion.allCases)
    func memberDatabaseStatus(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let database = try EtcdDatabase(path: fixture.dbPath)
        #expect(database.integrityTrailer == nil)
        #expect(try database.status() == fixture.dbStatus)
        #expect(try database.revision() == fixture.dbStatus.revision)
    }

    @Test("The sha256 trailer is split off the snapshot and is the digest of the db bytes", arguments: EtcdVersion.allCases)
    func trailer(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let database = try EtcdDatabase(path: fixture.snapshotPath)
        let trailer = try #require(database.integrityTrailer)
        let size = try FileManager.default.attributesOfItem(atPath: fixture.snapshotPath)[.size] as? Int ?? 0
        #expect(database.bolt.fileLength == size - 32)
        let digest = try runCommand("/bin/sh", ["-c", "head -c \(size - 32) \"$0\" | sha256sum", fixture.snapshotPath])
        #expect(digest.stdout.hasPrefix(trailer.map { String(format: "%02x", $0) }.joined()))
    }

    @Test("Live keys and their revisions match etcdctl get", arguments: EtcdVersion.allCases)
    func liveKeys(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let database = try EtcdDatabase(path: fixture.snapshotPath)
        var live: [SnapshotFixture.LiveKey] = []
        try database.forEachLiveKey { key in
            live.append(SnapshotFixture.LiveKey(key: Array(key.key), createRevision: key.createRevision,
                                                modRevision: key.modRevision, version: key.version))
        }
        #expect(live == fixture.liveKeys)
        #expect(try database.liveKeyCount() == fixture.liveKeys.count)
        let keys = Set(live.map { String(decoding: $0.key, as: UTF8.self) })
        #expect(keys.contains("k000") && keys.contains("leased") && !keys.contains("k021") && !keys.contains("k035"))
    }

    @Test("Kubernetes objects in a snapshot decode to what was written; deleted ones are gone", arguments: EtcdVersion.allCases)
    func kubernetesObjects(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let database = try EtcdDatabase(path: fixture.snapshotPath)
        var found: [String: KubernetesObject] = [:]
        try database.forEachLiveKey { key in
            guard key.keyString.hasPrefix("/registry/") else { return }
            found[key.keyString] = KubernetesObject(etcdKey: key.keyString, value: key.value)
        }
        let expected = fixture.kubernetesItems.filter { !fixture.deletedKubernetesKeys.contains($0.key) }
        #expect(found.count == expected.count)
        for item in expected {
            #expect(found[item.key] == item.expected, "\(item.key)")
        }
        #expect(found.values.contains { $0.encoding == .encrypted })
        #expect(found.values.contains { $0.encoding == .json })
    }

    @Test("The key bucket is well-formed, with sub-revisions and the history since the compaction", arguments: EtcdVersion.allCases)
    func keyBucket(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let database = try EtcdDatabase(path: fixture.snapshotPath)
        let report = try database.checkKeyBucket()
        #expect(report.newestRevision?.main == fixture.snapshotStatus.revision)
        #expect(report.oldestRevision.map { $0.main >= 2 && $0.main <= 20 } == true)
        #expect(report.tombstones >= 5 + 10 + 11)
        var entries = 0
        var largestSubRevision: Int64 = 0
        try database.forEachRevision { revision, keyValue in
            entries += 1
            largestSubRevision = max(largestSubRevision, revision.sub)
            if !revision.isTombstone { #expect(keyValue.modRevision == revision.main) }
        }
        #expect(entries == report.entries)
        #expect(largestSubRevision == 29, "a 30-put transaction numbers its puts 0...29 within one revision")
    }

    @Test("Members, consistent index and term are read", arguments: EtcdVersion.allCases)
    func clusterRecords(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let database = try EtcdDatabase(path: fixture.snapshotPath)
        let members = try database.members()
        #expect(members.count == 1)
        #expect(members.first?.name == fixture.memberName)
        #expect(members.first?.peerURLs == [fixture.peerURL])
        #expect(members.first.map { $0.id != 0 && UInt64($0.hexID, radix: 16) == $0.id } == true)
        // The fixture made 28 write requests (10 puts, 2 + 10 transactions, a compaction, 2 deletes, a lease
        // grant, 2 more puts), each a raft entry applied before the snapshot.
        #expect(try database.consistentIndex().map { $0 >= 28 } == true)
        if version == .v3_4 {
            #expect(try database.term() == nil)
            #expect(try database.clusterVersion() == "3.4.0")
        } else {
            #expect(try database.term().map { $0 >= 1 } == true)
            #expect(try database.clusterVersion() == "3.5.0")
        }
        #expect(try database.bolt.bucketNames() == ["alarm", "auth", "authRoles", "authUsers", "cluster", "key",
                                                    "lease", "members", "members_removed", "meta"])
    }

    @Test("The structure check passes on real files and counts what etcd wrote", arguments: EtcdVersion.allCases)
    func structure(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        for path in [fixture.snapshotPath, fixture.dbPath] {
            let bolt = try EtcdDatabase(path: path).bolt
            let report = try bolt.checkStructure()
            #expect(report.warnings.isEmpty, "\(report.warnings)")
            #expect(report.topLevelBuckets == 10)
            #expect(report.keys == (path == fixture.snapshotPath ? fixture.snapshotStatus : fixture.dbStatus).totalKey)
            #expect(report.branchPages >= 1)
            #expect(report.freelistStored == false)
            #expect(report.reachablePages + report.unreachablePages == Int(bolt.meta.pgid) - 2)
        }
    }
}
