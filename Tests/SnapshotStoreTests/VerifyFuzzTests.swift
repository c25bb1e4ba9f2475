import EtcdTestSupport
import Foundation
import Testing
import SnapshotStore

/// Seeded random damage to a real snapshot, run through verify, inspect, browse and diff: every call returns
/// a verdict or throws, never crashes or hangs. Half the rounds get a freshly computed trailer, so the damage
/// reaches the structure and etcd checks instead of stopping at the checksum. A failing seed and round replay.
@Suite("Randomly damaged snapshots never crash verify, inspect or diff")
struct VerifyFuzzTests {
    @Test("250 seeded mutations per etcd release: verify, inspect, browse, diff", .timeLimit(.minutes(6)),
          arguments: [(EtcdVersion.v3_4, UInt64(340)), (EtcdVersion.v3_5, UInt64(350))])
    func mutations(version: EtcdVersion, seed: UInt64) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.snapshotPath)))
        let bolt = try EtcdDatabase(path: fixture.snapshotPath).bolt
        let pageSize = bolt.pageSize
        let database = Array(original.prefix(bolt.fileLength))
        var random = SeededRandom(seed: seed)
        var verdicts: [String: Int] = [:]
        var inspected = 0
        for round in 0..<250 {
            var bytes = database
            for _ in 0...random.next(below: 3) {
                mutate(&bytes, pageSize: pageSize, random: &random)
            }
            let resealed = random.next(below: 2) == 0
            if resealed { bytes = VerifyScenario.sealed(bytes) } else { bytes += original.suffix(32) }
            // Every sixth round also loses 1-31 bytes off the end, inside the trailer (issue 12.7).
            let cut = round % 6 == 5 ? 1 + round % 31 : 0
            if cut > 0 { bytes.removeLast(cut) }
            let path = fixture.directory.appendingPathComponent("verify-fuzz-\(version.rawValue)-\(round)").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }

            let verdict = SnapshotVerifier.verify(path: path)
            #expect(verdict.health != .unverified, "round \(round): \(verdict)")
            #expect(verdict.reason != nil || verdict.health == .good, "round \(round): \(verdict)")
            if !resealed, bytes != original {
                #expect(verdict.health == .corrupt, "round \(round): a change under the original trailer must be caught: \(verdict)")
            }
            if cut > 0 {
                #expect(verdict.health == .corrupt, "round \(round): a file cut \(cut) bytes short must be corrupt: \(verdict)")
            }
            verdicts[category(verdict), default: 0] += 1

            if readsWithoutError({ _ = try SnapshotInspector.inspect(path: path, includeHash: round % 5 == 0) }) { inspected += 1 }
            _ = readsWithoutError { _ = try SnapshotInspector.objects(path: path).count }
            _ = readsWithoutError { _ = try SnapshotInspector.object(path: path, key: "/registry/namespaces/default") }
            _ = readsWithoutError { _ = try SnapshotDiffer.diff(fixture.snapshotPath, path) }
        }
        // The damage must be varied enough to reach several different checks.
        #expect(verdicts.count >= 4, "\(verdicts)")
        #expect(verdicts["good", default: 0] > 0 && verdicts["checksum mismatch", default: 0] > 0, "\(verdicts)")
        #expect(inspected > 0)
    }

    /// The first words of a verdict's reason, to count which checks fired.
    private func category(_ verdict: SnapshotVerification) -> String {
        guard verdict.health != .good, let reason = verdict.reason else { return "good" }
        for known in ["checksum mismatch", "truncated", "corrupt bbolt structure", "corrupt etcd data", "not an etcd snapshot"]
        where reason.hasPrefix(known) {
            return known
        }
        return reason
    }

    /// Runs a read that may fail; only the library's own error types are acceptable failures.
    private func readsWithoutError(_ body: () throws -> Void) -> Bool {
        do {
            try body()
            return true
        } catch is BoltError {
            return false
        } catch is EtcdDataError {
            return false
        } catch {
            Issue.record("unexpected error type \(type(of: error)): \(error)")
            return false
        }
    }

}
