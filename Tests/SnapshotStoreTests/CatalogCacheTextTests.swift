import EtcdTestSupport
import Foundation
@testable import SnapshotStore
import Testing

/// The catalog cache's compact text format: what is written comes back equal, field by field, and a damaged or
/// foreign file is an empty cache (never a wrong record).
@Suite("Catalog cache text")
struct CatalogCacheTextTests {
    /// Every field set, with the characters the format escapes in each string field and in resource names.
    private func awkward() -> SnapshotMetadata {
        var m = SnapshotMetadata(takenAt: Date(timeIntervalSinceReferenceDate: 817_300_000.123_456_7), endpoint: "https://10.0.0.5:2379",
                                 clusterID: "", memberID: "8e9e05c52164694d", memberName: "tab\there,new\nline\\back\rslash=",
                                 etcdVersion: "3.5.17", revision: -1, liveKeys: 0, size: Int.max, sha256: String(repeating: "0f", count: 32),
                                 health: .corrupt, reason: "page 7: \"bad\"\tmagic: 0xDEAD,\\", verifyDurationMs: 12, saveDurationMs: 340,
                                 resources: ["pods": 12, "a,b:c\\d": 3, "": 0, "example.com/widgets": Int.max], formatVersion: 7)
        m.memberPeerURLs = "https://10.0.0.5:2380,https://[fe80::1]:2380"
        m.initialCluster = "m1=https://10.0.0.5:2380"
        return m
    }

    @Test("A record with every field, escapes and extremes, and one with none, come back equal bit for bit")
    func roundTrip() throws {
        var cache = CatalogCache(analyzerVersion: 3)
        cache.sidecars["snapshot\tname\n.db"] = .init(size: 42, modifiedNs: 1_795_615_200_123_456_789, metadata: awkward())
        cache.analyzed["bare.db"] = .init(size: 0, modifiedNs: -5,
                                          metadata: SnapshotMetadata(takenAt: Date(timeIntervalSince1970: 0), size: 0, health: .unverified))
        var emptyResources = awkward()
        emptyResources.resources = [:]
        emptyResources.endpoint = nil
        cache.analyzed["empty-resources.db"] = .init(size: 1, modifiedNs: 1, metadata: emptyResources)
        let bytes = CatalogCacheText.encode(cache)
        #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 4, "a header and one line per record")
        let back = try #require(CatalogCacheText.decode(bytes))
        #expect(back == cache)
        #expect(back.sidecars["snapshot\tname\n.db"]?.metadata.takenAt == awkward().takenAt)
        #expect(back.analyzed["empty-resources.db"]?.metadata.resources == [:])
        #expect(back.analyzed["bare.db"]?.metadata.resources == nil)
        #expect(back.sidecars.values.first?.metadata.clusterID == "", "an empty string is not an absent one")
    }

    @Test("Damaged, truncated, foreign or other-version text is no cache at all")
    func damaged() throws {
        var cache = CatalogCache(analyzerVersion: 1)
        cache.sidecars["a.db"] = .init(size: 1, modifiedNs: 2, metadata: awkward())
        let good = String(decoding: CatalogCacheText.encode(cache), as: UTF8.self)
        #expect(CatalogCacheText.decode(Array(good.utf8)) != nil)
        let lines = good.split(separator: "\n").map(String.init)
        var cases: [String: String] = [
            "empty": "",
            "the old JSON cache": #"{"analyzerVersion":1,"formatVersion":1,"analyzed":{},"sidecars":{}}"#,
            "another format": good.replacingOccurrences(of: "cache 2 1", with: "cache 3 1"),
            "a record cut short": lines[0] + "\n" + String(lines[1].dropLast(30)) + "\n",
            "an unknown kind": lines[0] + "\n" + "X" + lines[1].dropFirst() + "\n",
            "a bad health": good.replacingOccurrences(of: "\tcorrupt\t", with: "\tso-so\t"),
            "a bad escape": good.replacingOccurrences(of: "\\t", with: "\\q"),
            "a string without its marker": good.replacingOccurrences(of: "\t=3.5.17\t", with: "\t3.5.17\t"),
            "a number that is not one": good.replacingOccurrences(of: "\t340\t", with: "\t34x\t"),
        ]
        cases["an extra field"] = lines[0] + "\n" + lines[1] + "\tmore\n"
        for (what, text) in cases {
            #expect(CatalogCacheText.decode(Array(text.utf8)) == nil, "\(what) must not decode")
        }
    }

    @Test("Saving removes an old JSON cache file but never a link planted under its name")
    func legacyRemoved() throws {
        let dir = try TestDirectories.make("catalog-cache-legacy")
        let legacy = dir.appendingPathComponent(CatalogCache.legacyFileName).path
        try Data("{}".utf8).write(to: URL(fileURLWithPath: legacy))
        try CatalogCache(analyzerVersion: 1).save(directory: dir.path)
        #expect(!FileManager.default.fileExists(atPath: legacy))
        #expect(CatalogCache.load(directory: dir.path, analyzerVersion: 1) == CatalogCache(analyzerVersion: 1))

        let victim = try SymlinkVictim(in: dir.deletingLastPathComponent())
        try victim.plant(at: legacy)
        try CatalogCache(analyzerVersion: 1).save(directory: dir.path)
        var info = stat()
        #expect(lstat(legacy, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK, "the link is left alone")
        #expect(victim.isUnchanged)
    }

    @Test("A cache planted as a link to a valid cache elsewhere is not read")
    func linkNotRead() throws {
        let dir = try TestDirectories.make("catalog-cache-link")
        var cache = CatalogCache(analyzerVersion: 1)
        cache.sidecars["a.db"] = .init(size: 1, modifiedNs: 2, metadata: awkward())
        let elsewhere = try TestDirectories.make("catalog-cache-elsewhere")
        try cache.save(directory: elsewhere.path)
        #expect(CatalogCache.load(directory: elsewhere.path, analyzerVersion: 1) == cache)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent(CatalogCache.fileName).path,
                                                   withDestinationPath: elsewhere.appendingPathComponent(CatalogCache.fileName).path)
        #expect(CatalogCache.load(directory: dir.path, analyzerVersion: 1) == CatalogCache(analyzerVersion: 1))
        #expect(CatalogCache.load(directory: elsewhere.path, analyzerVersion: 2) == CatalogCache(analyzerVersion: 2),
                "another analyzer version starts afresh")
    }
}

@Suite("Catalog directory signature")
struct DirectorySignatureTests {
    @Test("The signature stays while nothing is created, renamed or removed, and changes with each of those")
    func changesWithTheDirectory() throws {
        let dir = try TestDirectories.make("catalog-signature")
        let catalog = SnapshotCatalog(directory: dir.path, analyze: { _ in
            SnapshotMetadata(takenAt: Date(), size: 0, health: .good)
        })
        let first = try #require(catalog.directorySignature())
        _ = try catalog.list()
        #expect(catalog.directorySignature() == first, "listing an empty directory writes nothing")
        var seen = [first]
        func expectChanged(_ what: String) throws {
            let now = try #require(catalog.directorySignature())
            #expect(!seen.contains(now), "\(what) must change the signature")
            seen.append(now)
        }
        let snapshot = dir.appendingPathComponent("a.db").path
        try Data(repeating: 1, count: 64).write(to: URL(fileURLWithPath: snapshot))
        try expectChanged("a new file")
        try catalog.writeSidecar(SnapshotMetadata(takenAt: Date(), size: 64, health: .good), for: snapshot)
        try expectChanged("a sidecar written (temp + rename)")
        try catalog.writeSidecar(SnapshotMetadata(takenAt: Date(), size: 64, health: .corrupt), for: snapshot)
        try expectChanged("a sidecar replaced")
        try FileManager.default.removeItem(atPath: snapshot)
        try expectChanged("a file removed")
        #expect(SnapshotCatalog(directory: dir.path + "/missing", analyze: { _ in
            SnapshotMetadata(takenAt: Date(), size: 0, health: .good)
        }).directorySignature() == nil)
    }
}
