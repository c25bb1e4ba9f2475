import EtcdTestSupport
import Foundation
import Testing
import SnapshotStore

/// Seeded random damage to a real snapshot: every read either succeeds or throws, never crashes or hangs.
/// A failing seed and round replay exactly.
@Suite("Randomly damaged snapshots never crash the reader")
struct BoltFuzzTests {
    @Test("300 seeded mutations of a real snapshot per etcd release: check, iterate, decode", .timeLimit(.minutes(6)),
          arguments: [(EtcdVersion.v3_4, UInt64(34)), (EtcdVersion.v3_5, UInt64(35))])
    func mutations(version: EtcdVersion, seed: UInt64) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.snapshotPath)))
        let bolt = try EtcdDatabase(path: fixture.snapshotPath).bolt
        let pageSize = bolt.pageSize
        let dbLength = bolt.fileLength
        var random = SeededRandom(seed: seed)
        var outcomes: [String: Int] = [:]
        for round in 0..<300 {
            var bytes = Array(original.prefix(dbLength))
            for _ in 0...random.next(below: 4) {
                mutate(&bytes, pageSize: pageSize, random: &random)
            }
            let path = fixture.directory.appendingPathComponent("fuzz-\(version.rawValue)-\(round)").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            outcomes[readEverything(path), default: 0] += 1
        }
        // Both outcomes should show up; if every round failed the mutations would be too blunt to test much.
        #expect(outcomes["ok", default: 0] > 0, "\(outcomes)")
        #expect(outcomes.count > 3, "\(outcomes)")
    }

    /// Opens the file and reads it every way there is; returns "ok" or the error kind.
    private func readEverything(_ path: String) -> String {
        do {
            let database = try EtcdDatabase(path: path)
            let bolt = database.bolt
            var failures: [String] = []
            func attempt(_ body: () throws -> Void) {
                do { try body() } catch let error as BoltError {
                    failures.append(error.kind.rawValue)
                } catch let error as EtcdDataError {
                    failures.append(error.kind.rawValue)
                } catch {
                    Issue.record("unexpected error type: \(error)")
                }
            }
            attempt { _ = try bolt.checkStructure() }
            attempt { _ = try database.status(checkStructure: false) }
            attempt { _ = try database.revision() }
            attempt {
                for name in try bolt.bucketNames() {
                    _ = try bolt.lastKey(bucket: name)
                    try bolt.forEachEntry(bucket: name) { entry in
                        _ = entry.key.last
                        _ = entry.value.last
                    }
                }
            }
            attempt {
                try database.forEachLiveKey { key in
                    let object = KubernetesObject(etcdKey: key.keyString, value: key.value)
                    _ = object.labels.count
                }
            }
            attempt { _ = try database.checkKeyBucket() }
            attempt { _ = try database.members() }
            attempt { _ = try database.consistentIndex() }
            return failures.first ?? "ok"
        } catch let error as BoltError {
            return error.kind.rawValue
        } catch {
            Issue.record("unexpected error type: \(error)")
            return "?"
        }
    }

}
