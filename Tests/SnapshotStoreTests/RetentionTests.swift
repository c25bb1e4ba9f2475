import Foundation
import SnapshotStore
import Testing

/// `"2026-11-25 14:00"` or `"2026-11-25 14:00:30"` in UTC.
private func utc(_ text: String) -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let parts = text.split(whereSeparator: { " -:".contains($0) }).map { Int($0)! }
    let components = DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4],
                                     second: parts.count > 5 ? parts[5] : 0)
    return calendar.date(from: components)!
}

/// A snapshot named after its time, so tables read as times.
private func snap(_ time: String, _ health: SnapshotHealth = .good) -> RetentionCandidate {
    RetentionCandidate(name: time, takenAt: utc(time), health: health)
}

/// One row of a retention table.
struct RetentionCase: Sendable, CustomTestStringConvertible {
    var title: String
    var snapshots: [RetentionCandidate]
    var policy: RetentionPolicy
    var now: Date
    /// Names expected in `keep`, newest first (checked where the row says so).
    var kept: [String] = []
    /// Reasons expected for some kept names.
    var reasons: [String: [String]] = [:]
    /// Reasons expected for some deleted names.
    var deleted: [String: String] = [:]

    var testDescription: String { title }

    var plan: RetentionPlan { Retention.plan(snapshots, policy: policy, now: now) }
}

@Suite("Retention: which snapshots prune keeps, and why")
struct RetentionTests {
    // MARK: Invariants

    static let newestGoodCases: [RetentionCase] = [
        RetentionCase(title: "all counts zero", snapshots: [snap("2026-11-25 14:00"), snap("2026-11-25 13:30")],
                      policy: RetentionPolicy(keepLast: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0),
                      now: utc("2026-11-25 14:05")),
        RetentionCase(title: "every snapshot older than every tier",
                      snapshots: [snap("2025-01-01 10:00"), snap("2025-01-01 09:00"), snap("2024-12-31 09:00")],
                      policy: RetentionPolicy(hourly: 2, daily: 2, weekly: 1, monthly: 1), now: utc("2026-11-25 14:05")),
        RetentionCase(title: "newer corrupt and unverified files around it",
                      snapshots: [snap("2026-11-25 14:00", .good), snap("2026-11-25 13:30", .corrupt),
                                  snap("2026-11-25 13:00", .unverified), snap("2026-11-25 12:30")],
                      policy: RetentionPolicy(keepLast: 0), now: utc("2026-11-25 14:05")),
        RetentionCase(title: "taken after now (a skewed clock)",
                      snapshots: [snap("2026-11-26 09:00"), snap("2026-11-25 13:00")],
                      policy: RetentionPolicy(hourly: 1), now: utc("2026-11-25 14:05")),
        RetentionCase(title: "negative counts are treated as zero",
                      snapshots: [snap("2026-11-25 14:00"), snap("2026-11-25 13:00")],
                      policy: RetentionPolicy(keepLast: -3, daily: -1), now: utc("2026-11-25 14:05")),
    ]

    @Test("The newest good snapshot is never deleted", arguments: newestGoodCases)
    func newestGoodIsKept(row: RetentionCase) {
        let plan = row.plan
        let newestGood = row.snapshots.filter { $0.health == .good }.max { $0.takenAt < $1.takenAt }!.name
        #expect(plan.keep.first { $0.name == newestGood }?.reasons.contains(Retention.newestGoodReason) == true)
        #expect(!plan.delete.contains { $0.name == newestGood })
        #expect(plan.keep.count + plan.delete.count == row.snapshots.count)
    }

    static let newestNotGoodCases: [RetentionCase] = [
        RetentionCase(title: "newest is corrupt",
                      snapshots: [snap("2026-11-25 14:00", .corrupt), snap("2026-11-25 13:30"),
                                  snap("2026-11-20 13:00"), snap("2026-11-10 13:00", .corrupt)],
                      policy: RetentionPolicy(keepLast: 1), now: utc("2026-11-25 14:05"),
                      reasons: ["2026-11-25 14:00": [Retention.corruptNewerReason],
                                "2026-11-25 13:30": [Retention.newestGoodReason, "last 1"],
                                "2026-11-20 13:00": [Retention.newestNotGoodReason],
                                "2026-11-10 13:00": [Retention.newestNotGoodReason]]),
        RetentionCase(title: "newest is not verified yet",
                      snapshots: [snap("2026-11-25 14:00", .unverified), snap("2026-11-25 13:30"), snap("2026-11-01 13:00")],
                      policy: RetentionPolicy(keepLast: 1), now: utc("2026-11-25 14:05"),
                      reasons: ["2026-11-25 14:00": [Retention.unverifiedReason],
                                "2026-11-01 13:00": [Retention.newestNotGoodReason]]),
        RetentionCase(title: "a corrupt file shares the newest time with a good one",
                      snapshots: [RetentionCandidate(name: "a", takenAt: utc("2026-11-25 14:00"), health: .good),
                                  RetentionCandidate(name: "b", takenAt: utc("2026-11-25 14:00"), health: .corrupt),
                                  snap("2026-11-01 13:00")],
                      policy: RetentionPolicy(keepLast: 1), now: utc("2026-11-25 14:05")),
        RetentionCase(title: "there is no good snapshot at all",
                      snapshots: [snap("2026-11-25 14:00", .corrupt), snap("2026-11-25 13:30", .unverified),
                                  snap("2026-10-01 13:00", .corrupt)],
                      policy: .default, now: utc("2026-11-25 14:05"),
                      reasons: ["2026-10-01 13:00": [Retention.corruptNoGoodReason]]),
    ]

    @Test("Nothing is deleted while the newest snapshot is not good", arguments: newestNotGoodCases)
    func newestNotGoodDeletesNothing(row: RetentionCase) {
        let plan = row.plan
        #expect(plan.delete.isEmpty)
        #expect(plan.keep.count == row.snapshots.count)
        #expect(plan.deletesNothingReason?.contains("nothing is deleted until a newer snapshot is verified good") == true,
                "\(plan.deletesNothingReason ?? "nil")")
        for (name, reasons) in row.reasons {
            #expect(plan.keep.first { $0.name == name }?.reasons == reasons, "\(name)")
        }
    }

    static let corruptCases: [RetentionCase] = [
        RetentionCase(title: "keepLast skips a corrupt file",
                      snapshots: [snap("2026-11-25 14:00"), snap("2026-11-25 13:30", .corrupt), snap("2026-11-25 13:00"),
                                  snap("2026-11-25 12:30")],
                      policy: RetentionPolicy(keepLast: 2), now: utc("2026-11-25 14:05"),
                      kept: ["2026-11-25 14:00", "2026-11-25 13:00"],
                      deleted: ["2026-11-25 13:30": Retention.corruptReason,
                                "2026-11-25 12:30": Retention.olderThanEveryTierReason]),
        RetentionCase(title: "an hour whose newest file is corrupt keeps its newest good one",
                      snapshots: [snap("2026-11-25 14:20"), snap("2026-11-25 13:50", .corrupt), snap("2026-11-25 13:10"),
                                  snap("2026-11-25 13:05")],
                      policy: RetentionPolicy(hourly: 2), now: utc("2026-11-25 14:30"),
                      kept: ["2026-11-25 14:20", "2026-11-25 13:10"],
                      deleted: ["2026-11-25 13:50": Retention.corruptReason,
                                "2026-11-25 13:05": "a newer snapshot is kept for hourly 2026-11-25 13:00"]),
        RetentionCase(title: "a month of corrupt files keeps no slot",
                      snapshots: [snap("2026-11-25 14:00"), snap("2026-10-31 23:00", .corrupt), snap("2026-10-02 10:00", .corrupt),
                                  snap("2026-09-30 10:00")],
                      policy: RetentionPolicy(monthly: 3), now: utc("2026-11-25 14:05"),
                      kept: ["2026-11-25 14:00", "2026-09-30 10:00"],
                      deleted: ["2026-10-31 23:00": Retention.corruptReason, "2026-10-02 10:00": Retention.corruptReason]),
    ]

    @Test("Corrupt files never count as kept copies", arguments: corruptCases)
    func corruptNeverCounts(row: RetentionCase) {
        let plan = row.plan
        #expect(plan.keep.map(\.name) == row.kept)
        #expect(Dictionary(uniqueKeysWithValues: plan.delete.map { ($0.name, $0.reason) }) == row.deleted)
    }

    static let unverifiedCases: [RetentionCase] = [
        RetentionCase(title: "keepLast counts only good ones",
                      snapshots: [snap("2026-11-25 14:00"), snap("2026-11-25 13:30", .unverified), snap("2026-11-25 13:00"),
                                  snap("2026-11-25 12:30"), snap("2026-11-25 12:00", .unverified)],
                      policy: RetentionPolicy(keepLast: 2), now: utc("2026-11-25 14:05"),
                      kept: ["2026-11-25 14:00", "2026-11-25 13:30", "2026-11-25 13:00", "2026-11-25 12:00"],
                      deleted: ["2026-11-25 12:30": Retention.olderThanEveryTierReason]),
        RetentionCase(title: "an unverified file older than every tier stays",
                      snapshots: [snap("2026-11-25 14:00"), snap("2020-01-01 00:00", .unverified), snap("2019-06-01 00:00")],
                      policy: RetentionPolicy(keepLast: 1, daily: 1), now: utc("2026-11-25 14:05"),
                      kept: ["2026-11-25 14:00", "2020-01-01 00:00"],
                      deleted: ["2019-06-01 00:00": Retention.olderThanEveryTierReason]),
        RetentionCase(title: "an unverified file does not take its day's slot",
                      snapshots: [snap("2026-11-25 14:00"), snap("2026-11-24 23:00", .unverified), snap("2026-11-24 08:00"),
                                  snap("2026-11-24 07:00")],
                      policy: RetentionPolicy(daily: 2), now: utc("2026-11-25 14:05"),
                      kept: ["2026-11-25 14:00", "2026-11-24 23:00", "2026-11-24 08:00"],
                      deleted: ["2026-11-24 07:00": "a newer snapshot is kept for daily 2026-11-24"]),
    ]

    @Test("Unverified files are never deleted and never counted", arguments: unverifiedCases)
    func unverifiedNeverDeletedNorCounted(row: RetentionCase) {
        let plan = row.plan
        #expect(plan.keep.map(\.name) == row.kept)
        #expect(Dictionary(uniqueKeysWithValues: plan.delete.map { ($0.name, $0.reason) }) == row.deleted)
        for snapshot in row.snapshots where snapshot.health == .unverified {
            #expect(plan.keep.first { $0.name == snapshot.name }?.reasons == [Retention.unverifiedReason])
        }
    }

    static let everythingCases: [[RetentionCandidate]] = [
        [snap("2026-11-25 14:00")],
        [snap("2026-11-25 14:00"), snap("2026-11-25 13:30", .corrupt), snap("2020-01-01 00:00")],
        [snap("2026-11-25 14:00", .corrupt), snap("2026-11-25 13:30", .unverified)],
        (0..<200).map { i in RetentionCandidate(name: "s\(i)", takenAt: utc("2026-01-01 00:00").addingTimeInterval(Double(i) * 3600),
                                                health: .good) },
    ]

    @Test("A policy with no rules keeps everything and says so", arguments: everythingCases)
    func noRulesKeepsEverything(snapshots: [RetentionCandidate]) {
        let plan = Retention.plan(snapshots, policy: RetentionPolicy(), now: utc("2026-11-25 14:05"))
        #expect(plan.delete.isEmpty)
        #expect(Set(plan.keep.map(\.name)) == Set(snapshots.map(\.name)))
        #expect(plan.keep.allSatisfy { $0.reasons == [Retention.noLimitsReason] })
        #expect(plan.deletesNothingReason?.contains("sets no limits") == true)
    }

    @Test("An empty directory has nothing to do, and says so")
    func emptyDirectory() {
        let plan = Retention.plan([], policy: .default, now: utc("2026-11-25 14:05"))
        #expect(plan == RetentionPlan(keep: [], delete: [], deletesNothingReason: "there are no snapshots"))
    }

    @Test("A plan that keeps everything anyway says why nothing is deleted")
    func everythingKeptByPolicy() {
        let plan = Retention.plan([snap("2026-11-25 14:00"), snap("2026-11-25 13:00")], policy: .default,
                                  now: utc("2026-11-25 14:05"))
        #expect(plan.delete.isEmpty)
        #expect(plan.deletesNothingReason == "every snapshot is kept by the policy")
    }

    // MARK: Tiers

    static let tierCases: [RetentionCase] = [
        RetentionCase(title: "hourly: the newest good of each of the last 3 hours, now's hour included",
                      snapshots: [snap("2026-11-25 14:00"), snap("2026-11-25 13:45"), snap("2026-11-25 13:15"),
                                  snap("2026-11-25 12:59:59"), snap("2026-11-25 12:00"), snap("2026-11-25 11:59")],
                      policy: RetentionPolicy(hourly: 3), now: utc("2026-11-25 14:05"),
                      kept: ["2026-11-25 14:00", "2026-11-25 13:45", "2026-11-25 12:59:59"],
                      reasons: ["2026-11-25 14:00": [Retention.newestGoodReason, "hourly 2026-11-25 14:00"],
                                "2026-11-25 13:45": ["hourly 2026-11-25 13:00"],
                                "2026-11-25 12:59:59": ["hourly 2026-11-25 12:00"]],
                      deleted: ["2026-11-25 13:15": "a newer snapshot is kept for hourly 2026-11-25 13:00",
                                "2026-11-25 12:00": "a newer snapshot is kept for hourly 2026-11-25 12:00",
                                "2026-11-25 11:59": Retention.olderThanEveryTierReason]),
        RetentionCase(title: "daily: days end at midnight UTC",
                      snapshots: [snap("2026-11-25 00:10"), snap("2026-11-24 23:59"), snap("2026-11-24 00:00"),
                                  snap("2026-11-23 23:59")],
                      policy: RetentionPolicy(daily: 2), now: utc("2026-11-25 00:30"),
                      kept: ["2026-11-25 00:10", "2026-11-24 23:59"],
                      reasons: ["2026-11-24 23:59": ["daily 2026-11-24"]],
                      deleted: ["2026-11-24 00:00": "a newer snapshot is kept for daily 2026-11-24",
                                "2026-11-23 23:59": Retention.olderThanEveryTierReason]),
        RetentionCase(title: "weekly: ISO weeks start on Monday",
                      snapshots: [snap("2026-11-23 00:00"), snap("2026-11-22 23:59"), snap("2026-11-16 00:00"),
                                  snap("2026-11-15 23:00")],
                      policy: RetentionPolicy(weekly: 2), now: utc("2026-11-23 08:00"),
                      kept: ["2026-11-23 00:00", "2026-11-22 23:59"],
                      reasons: ["2026-11-23 00:00": [Retention.newestGoodReason, "weekly 2026-W48"],
                                "2026-11-22 23:59": ["weekly 2026-W47"]],
                      deleted: ["2026-11-16 00:00": "a newer snapshot is kept for weekly 2026-W47",
                                "2026-11-15 23:00": Retention.olderThanEveryTierReason]),
        RetentionCase(title: "weekly: the days around New Year belong to the week of their Thursday",
                      snapshots: [snap("2027-01-03 12:00"), snap("2026-12-28 00:00"), snap("2026-12-27 12:00"),
                                  snap("2021-01-03 12:00")],
                      policy: RetentionPolicy(weekly: 400), now: utc("2027-01-03 13:00"),
                      kept: ["2027-01-03 12:00", "2026-12-27 12:00", "2021-01-03 12:00"],
                      reasons: ["2027-01-03 12:00": [Retention.newestGoodReason, "weekly 2026-W53"],
                                "2026-12-27 12:00": ["weekly 2026-W52"], "2021-01-03 12:00": ["weekly 2020-W53"]],
                      deleted: ["2026-12-28 00:00": "a newer snapshot is kept for weekly 2026-W53"]),
        RetentionCase(title: "monthly: calendar months, leap day included",
                      snapshots: [snap("2028-03-01 00:00"), snap("2028-02-29 23:59"), snap("2028-02-01 00:00"),
                                  snap("2028-01-31 23:59"), snap("2027-12-31 23:59")],
                      policy: RetentionPolicy(monthly: 3), now: utc("2028-03-01 00:30"),
                      kept: ["2028-03-01 00:00", "2028-02-29 23:59", "2028-01-31 23:59"],
                      reasons: ["2028-02-29 23:59": ["monthly 2028-02"], "2028-01-31 23:59": ["monthly 2028-01"]],
                      deleted: ["2028-02-01 00:00": "a newer snapshot is kept for monthly 2028-02",
                                "2027-12-31 23:59": Retention.olderThanEveryTierReason]),
        RetentionCase(title: "a snapshot kept by several rules lists them all, finest first",
                      snapshots: [snap("2026-11-25 14:00"), snap("2026-11-24 23:30")],
                      policy: .default, now: utc("2026-11-25 14:05"),
                      kept: ["2026-11-25 14:00", "2026-11-24 23:30"],
                      reasons: ["2026-11-25 14:00": [Retention.newestGoodReason, "last 6", "hourly 2026-11-25 14:00",
                                                     "daily 2026-11-25", "weekly 2026-W48", "monthly 2026-11"],
                                "2026-11-24 23:30": ["last 6", "hourly 2026-11-24 23:00", "daily 2026-11-24"]]),
    ]

    @Test("Each tier keeps the newest good snapshot of each of its buckets", arguments: tierCases)
    func tiersPickNewestPerBucket(row: RetentionCase) {
        let plan = row.plan
        #expect(plan.keep.map(\.name) == row.kept)
        for (name, reasons) in row.reasons {
            #expect(plan.keep.first { $0.name == name }?.reasons == reasons, "\(name)")
        }
        #expect(Dictionary(uniqueKeysWithValues: plan.delete.map { ($0.name, $0.reason) }) == row.deleted)
    }

    // MARK: Determinism

    @Test("The plan does not depend on input order, and lists newest first", arguments: [1, 2, 3, 42, 1000] as [UInt64])
    func deterministicOrder(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let base = utc("2026-11-01 00:00")
        let healths: [SnapshotHealth] = [.good, .good, .good, .good, .corrupt, .unverified]
        var snapshots = (0..<300).map { i in
            // Several share a time, so ties are broken by name.
            RetentionCandidate(name: "s\(i)", takenAt: base.addingTimeInterval(Double(i / 3) * 1800),
                               health: healths[random.next(below: healths.count)])
        }
        snapshots.append(RetentionCandidate(name: "newest", takenAt: base.addingTimeInterval(200 * 1800), health: .good))
        let now = base.addingTimeInterval(200 * 1800 + 60)
        let expected = Retention.plan(snapshots, policy: .default, now: now)
        for _ in 0..<5 {
            var shuffled = snapshots
            for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
                shuffled.swapAt(i, random.next(below: i + 1))
            }
            #expect(Retention.plan(shuffled, policy: .default, now: now) == expected)
        }
        let byName = Dictionary(uniqueKeysWithValues: snapshots.map { ($0.name, $0) })
        func newestFirst(_ names: [String]) -> Bool {
            zip(names, names.dropFirst()).allSatisfy { a, b in
                let (x, y) = (byName[a]!, byName[b]!)
                return x.takenAt > y.takenAt || (x.takenAt == y.takenAt && x.name > y.name)
            }
        }
        #expect(newestFirst(expected.keep.map(\.name)))
        #expect(newestFirst(expected.delete.map(\.name)))
        #expect(!expected.delete.isEmpty)
    }

    // MARK: A real schedule

    /// Snapshots every 30 minutes for `days` days, the last at 2026-11-25 14:00 (a Wednesday), planned at 14:05.
    private static func schedule(days: Int) -> (snapshots: [RetentionCandidate], now: Date) {
        let last = utc("2026-11-25 14:00")
        let snapshots = (0..<(days * 48)).map { i in
            let at = last.addingTimeInterval(-Double(i) * 1800)
            return RetentionCandidate(name: "snapshot-\(Int(at.timeIntervalSince1970))", takenAt: at, health: .good)
        }
        return (snapshots, last.addingTimeInterval(300))
    }

    /// (days of history, files the default policy keeps). 26 = hourly 24 + the two of the last 6 (13:00, 12:00)
    /// that are not the newest of their hour; each older day, week and month with history adds its last file.
    static let scheduleCases: [(days: Int, kept: Int)] = [
        (1, 26),      // 11-24 14:30 ... 11-25 14:00: last 6 + hourly 24 overlap in 4; no older day with history
        (7, 31),      // + daily 11-19 ... 11-23 (11-24's newest is already hourly)
        (30, 34),     // + weekly W45 (11-08) and W46 (11-15), monthly 2026-10 (10-31)
        (90, 35),     // + monthly 2026-09 (09-30)
        (400, 35),    // older history adds nothing: every tier is full
    ]

    @Test("A 30-minute schedule with the default policy keeps the expected files", arguments: scheduleCases)
    func thirtyMinuteSchedule(days: Int, kept: Int) {
        let (snapshots, now) = Self.schedule(days: days)
        let plan = Retention.plan(snapshots, policy: .default, now: now)
        #expect(plan.keep.count == kept)
        #expect(plan.keep.count + plan.delete.count == snapshots.count)
        #expect(plan.keep.first?.name == snapshots.first?.name)
        #expect(plan.delete.allSatisfy { !$0.reason.isEmpty })
    }

    @Test("Pruning after every snapshot for 90 days ends with the files one prune at the end keeps")
    func incrementalPruningConverges() {
        let (all, now) = Self.schedule(days: 90)
        var directory: [RetentionCandidate] = []
        var largest = 0
        for snapshot in all.reversed() {
            directory.append(snapshot)
            let plan = Retention.plan(directory, policy: .default, now: snapshot.takenAt.addingTimeInterval(300))
            let deleted = Set(plan.delete.map(\.name))
            directory.removeAll { deleted.contains($0.name) }
            largest = max(largest, directory.count)
        }
        let once = Retention.plan(all, policy: .default, now: now)
        #expect(Set(directory.map(\.name)) == Set(once.keep.map(\.name)))
        #expect(largest <= 44, "the default policy never keeps more than the sum of its counts")
    }
}
