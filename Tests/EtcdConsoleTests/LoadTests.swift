import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing

/// Issue 12's "Keep": the load run (concurrent saves and status calls against one etcd, all good) stays a test.
/// Sized for the 2-core test machine: 8 saves and 24 status calls at once while `fill` keeps writing.
@Suite("Under load: concurrent saves and status calls against one etcd")
struct LoadTests {
    static let etcd = SharedProcess(EtcdOptions(version: .v3_5, name: "load"))

    @Test("8 concurrent snapshot saves, 24 status calls and a writer at once: every save is a distinct good snapshot, every status answers")
    func concurrentSavesAndStatus() async throws {
        let etcd = try await Self.etcd.get()
        let seeded = try ConsoleBinary.run(["fill", "--endpoints", etcd.clientURL, "--count", "400"])
        try #require(seeded.status == 0, "\(seeded.output)")
        let dir = try TestDirectories.make("load")
        let url = etcd.clientURL

        let results = try await withThrowingTaskGroup(of: (String, CommandResult).self) { group in
            group.addTask { ("fill", try ConsoleBinary.run(["fill", "--endpoints", url, "--count", "300", "--seed", "7"])) }
            for _ in 0..<8 {
                group.addTask { ("save", try ConsoleBinary.run(["snapshot", "save", "--endpoints", url, "--dir", dir.path, "-o", "json"])) }
            }
            for _ in 0..<24 {
                group.addTask { ("status", try ConsoleBinary.run(["status", "--endpoints", url, "-o", "json"])) }
            }
            var all: [(String, CommandResult)] = []
            for try await result in group { all.append(result) }
            return all
        }

        #expect(results.count == 33)
        for (kind, result) in results {
            #expect(result.status == 0, "\(kind) failed under load: \(result.output)")
        }
        var paths: Set<String> = []
        for (_, result) in results.filter({ $0.0 == "save" }) {
            let json = try ConsoleBinary.json(result)
            let path = try #require(json["path"] as? String)
            paths.insert(path)
            #expect(json["health"] as? String == "good", "\(json)")
            #expect(SnapshotVerifier.verify(path: path).health == .good, "\(path)")
        }
        #expect(paths.count == 8, "eight saves, eight distinct files: \(paths.sorted())")
        for (_, result) in results.filter({ $0.0 == "status" }) {
            let json = try ConsoleBinary.json(result)
            let members = try #require(json["members"] as? [[String: Any]])
            #expect(members.count == 1 && members[0]["reachable"] as? Bool != false, "\(json)")
        }
        let listing = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!listing.contains { $0.hasSuffix(".part") }, "no .part left: \(listing)")
    }
}
