import Foundation
import SnapshotStore
import Testing

@Suite("Snapshot freshness against the schedule")
struct SnapshotFreshnessTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func entry(_ name: String, health: SnapshotHealth, age: TimeInterval) -> SnapshotEntry {
        SnapshotEntry(name: name, path: "/b/" + name, size: 1, modified: now, takenAt: now - age, takenAtSource: .fileName,
                      health: health, isOurs: true)
    }

    @Test("Stale only beyond twice the interval, judged by the newest good snapshot", arguments: [
        (3599.0, SnapshotFreshness.Verdict.fresh),
        (3600.0, .fresh),
        (3601.0, .stale),
        (-600.0, .fresh),   // clock skew: a future snapshot is age 0
    ])
    func verdicts(age: TimeInterval, expected: SnapshotFreshness.Verdict) {
        let entries = [Self.entry("old-good", health: .good, age: age + 7200), Self.entry("newest-good", health: .good, age: age),
                       Self.entry("newer-corrupt", health: .corrupt, age: 10)]
        let result = SnapshotFreshness.check(entries, intervalSeconds: 1800, now: Self.now)
        #expect(result.verdict == expected)
        #expect(result.newestGood == "newest-good")
        #expect(result.ageSeconds == max(0, age))
        #expect(result.limitSeconds == 3600)
    }

    @Test("Only corrupt or unverified snapshots count as none")
    func none() {
        let entries = [Self.entry("bad", health: .corrupt, age: 10), Self.entry("unknown", health: .unverified, age: 20)]
        let result = SnapshotFreshness.check(entries, intervalSeconds: 1800, now: Self.now)
        #expect(result.verdict == .none)
        #expect(result.ageSeconds == nil)
        #expect(SnapshotFreshness.check([], intervalSeconds: 60, now: Self.now).verdict == .none)
    }
}
