import EtcdTestSupport
import Foundation
import Testing
import SnapshotStore

/// Seeded random damage to a real snapshot: every read either succeeds or throws, never crashes or hangs.
/// A failing seed and round replay exactly.
@Suite("Randomly damaged snapshots never crash the reader")
struct BoltFuzzTests {
    @Test("300 seeded mutations of a real snapshot per etcd release: check, iterate, decode", .timeLimit(.minutes(3)),
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

    /// One random change: aimed at page headers and elements most of the time, since that is where
    /// a reader can go wrong; sometimes a truncation or a random range.
    private func mutate(_ bytes: inout [UInt8], pageSize: Int, random: inout SeededRandom) {
        guard !bytes.isEmpty else { return }
        let pages = max(1, bytes.count / pageSize)
        switch random.next(below: 10) {
        case 0:
            bytes.removeLast(random.next(below: bytes.count))
        case 1:
            let start = random.next(below: bytes.count)
            let length = min(bytes.count - start, random.next(below: 4096) + 1)
            bytes.replaceSubrange(start..<start + length, with: random.bytes(length))
        case 2, 3:
            bytes[random.next(below: bytes.count)] ^= UInt8(1 << random.next(below: 8))
        default:
            // A header or element field of a random page (past the meta pages, which have checksums).
            let page = pages > 2 ? 2 + random.next(below: pages - 2) : 0
            let offset = min(bytes.count - 1, page * pageSize + random.next(below: 16 + 16 * 8))
            switch random.next(below: 3) {
            case 0: bytes[offset] ^= UInt8(1 << random.next(below: 8))
            case 1: bytes[offset] = UInt8(truncatingIfNeeded: random.next())
            default:
                for index in offset..<min(bytes.count, offset + 8) { bytes[index] = 0xFF }
            }
        }
    }
}
