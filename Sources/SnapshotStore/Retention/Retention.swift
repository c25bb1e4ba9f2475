import Foundation
import SystemSupport

/// One snapshot as retention sees it.
public struct RetentionCandidate: Sendable, Equatable {
    /// The file name; it identifies the snapshot in the plan.
    public var name: String
    public var takenAt: Date
    /// good counts as a kept copy; corrupt never does; unverified is never deleted and never counted.
    public var health: SnapshotHealth

    public init(name: String, takenAt: Date, health: SnapshotHealth) {
        self.name = name
        self.takenAt = takenAt
        self.health = health
    }
}

/// What `prune` would do, with a reason for every file. Both lists are newest first.
public struct RetentionPlan: Sendable, Equatable {
    /// A snapshot that stays, and every rule that keeps it ("newest good snapshot", "last 6",
    /// "hourly 2026-11-25 14:00", "daily 2026-11-24", "weekly 2026-W48", "monthly 2026-11", ...).
    public struct Kept: Sendable, Equatable {
        public var name: String
        public var reasons: [String]

        public init(name: String, reasons: [String]) {
            self.name = name
            self.reasons = reasons
        }
    }

    /// A snapshot to delete and why ("older than every tier", "corrupt: not counted as a kept copy", ...).
    public struct Deleted: Sendable, Equatable {
        public var name: String
        public var reason: String

        public init(name: String, reason: String) {
            self.name = name
            self.reason = reason
        }
    }

    public var keep: [Kept]
    public var delete: [Deleted]
    /// Why nothing is deleted, when `delete` is empty ("there are no snapshots", "the newest snapshot ... is
    /// corrupt: nothing is deleted ...", "every snapshot is kept by the policy", ...); nil when something is.
    public var deletesNothingReason: String?

    public init(keep: [Kept], delete: [Deleted], deletesNothingReason: String?) {
        self.keep = keep
        self.delete = delete
        self.deletesNothingReason = deletesNothingReason
    }
}

/// Which snapshots a `RetentionPolicy` keeps. A pure function of the snapshots, the policy and `now`.
public enum Retention {
    // Reasons, spelled once so screens and tests agree.
    public static let newestGoodReason = "newest good snapshot"
    public static let unverifiedReason = "not verified yet: kept until verified"
    public static let newestNotGoodReason = "newest snapshot is not good: nothing is deleted"
    public static let corruptNewerReason = "corrupt, newer than the newest good snapshot: kept for inspection"
    public static let corruptNoGoodReason = "corrupt, and there is no good snapshot: kept for inspection"
    public static let corruptReason = "corrupt: not counted as a kept copy"
    public static let noLimitsReason = "the retention policy sets no limits"
    public static let olderThanEveryTierReason = "older than every tier"

    /// Plans which snapshots to keep and which to delete.
    ///
    /// Contract:
    /// - Snapshots are ordered newest first by `takenAt`, then by name (descending) for equal times; both lists
    ///   of the plan follow that order, so the same input always gives the same plan.
    /// - When the newest snapshot is not good (corrupt or unverified; with several at the newest time, when any
    ///   of them is not good), nothing is deleted: the last backup failed or is unchecked, and the older ones may
    ///   be all there is.
    /// - The newest good snapshot is always kept.
    /// - Only good snapshots count for `keepLast` and take a tier's slot: the newest good of each bucket.
    /// - Unverified snapshots are never deleted and never counted; they are decided once verified.
    /// - Corrupt snapshots older than the newest good one are deleted ("corrupt"): they cannot restore anything
    ///   and a good newer copy exists. Corrupt snapshots newer than the newest good one are kept for inspection
    ///   (a failing backup is evidence of a problem to look at; and then the newest snapshot is not good, so
    ///   nothing is deleted anyway).
    /// - A policy with every rule unset keeps everything.
    public static func plan(_ snapshots: [RetentionCandidate], policy: RetentionPolicy, now: Date) -> RetentionPlan {
        let ordered = snapshots.sorted { a, b in a.takenAt != b.takenAt ? a.takenAt > b.takenAt : a.name > b.name }
        guard let newest = ordered.first else {
            return RetentionPlan(keep: [], delete: [], deletesNothingReason: "there are no snapshots")
        }
        if policy.keepsEverything {
            return RetentionPlan(keep: ordered.map { .init(name: $0.name, reasons: [noLimitsReason]) }, delete: [],
                                 deletesNothingReason: "the retention policy sets no limits (keepLast, hourly, daily, weekly "
                                     + "and monthly are all unset): every snapshot is kept")
        }

        let good = ordered.indices.filter { ordered[$0].health == .good }
        var reasons = [[String]](repeating: [], count: ordered.count)
        if let first = good.first { reasons[first].append(newestGoodReason) }
        if let n = policy.keepLast, n > 0 {
            for i in good.prefix(n) { reasons[i].append("last \(n)") }
        }
        let tiers = RetentionTier.all.compactMap { tier in tier.count(policy).map { (tier, max(0, $0)) } }
        for (tier, count) in tiers where count > 0 {
            let oldest = tier.bucket(now) - count + 1
            var taken = Set<Int>()
            for i in good {
                let bucket = tier.bucket(ordered[i].takenAt)
                // Later than now (clock skew) counts as inside the window: skew never deletes anything.
                if bucket >= oldest, taken.insert(bucket).inserted {
                    reasons[i].append("\(tier.name) \(tier.label(ordered[i].takenAt))")
                }
            }
        }

        let blocking = ordered.prefix { $0.takenAt == newest.takenAt }.first { $0.health != .good }
        let newestGood = good.first.map { ordered[$0].takenAt }
        var keep: [RetentionPlan.Kept] = []
        var delete: [RetentionPlan.Deleted] = []
        for (i, snapshot) in ordered.enumerated() {
            switch snapshot.health {
            case .unverified:
                keep.append(.init(name: snapshot.name, reasons: [unverifiedReason]))
            case .corrupt:
                if newestGood == nil {
                    keep.append(.init(name: snapshot.name, reasons: [corruptNoGoodReason]))
                } else if let newestGood, snapshot.takenAt > newestGood {
                    keep.append(.init(name: snapshot.name, reasons: [corruptNewerReason]))
                } else if blocking != nil {
                    keep.append(.init(name: snapshot.name, reasons: [newestNotGoodReason]))
                } else {
                    delete.append(.init(name: snapshot.name, reason: corruptReason))
                }
            case .good:
                if !reasons[i].isEmpty {
                    keep.append(.init(name: snapshot.name, reasons: reasons[i]))
                } else if blocking != nil {
                    keep.append(.init(name: snapshot.name, reasons: [newestNotGoodReason]))
                } else {
                    delete.append(.init(name: snapshot.name, reason: supersededReason(snapshot.takenAt, tiers, now)))
                }
            }
        }

        var nothing: String?
        if delete.isEmpty {
            if let blocking {
                let state = blocking.health == .corrupt ? "is corrupt" : "is not verified yet"
                nothing = "the newest snapshot \(blocking.name) \(state): nothing is deleted until a newer snapshot is "
                    + "verified good"
            } else {
                nothing = "every snapshot is kept by the policy"
            }
        }
        return RetentionPlan(keep: keep, delete: delete, deletesNothingReason: nothing)
    }

    /// Why a good snapshot that no rule keeps goes: a newer one holds the finest tier bucket it falls in, or it
    /// is older than every tier's window.
    private static func supersededReason(_ takenAt: Date, _ tiers: [(RetentionTier, Int)], _ now: Date) -> String {
        for (tier, count) in tiers where count > 0 && tier.bucket(takenAt) > tier.bucket(now) - count {
            return "a newer snapshot is kept for \(tier.name) \(tier.label(takenAt))"
        }
        return olderThanEveryTierReason
    }
}

/// A calendar tier of a retention policy: how time is cut into buckets, and how a bucket is named.
struct RetentionTier: Sendable {
    var name: String
    var count: @Sendable (RetentionPolicy) -> Int?
    /// A number that grows by one per period.
    var bucket: @Sendable (Date) -> Int
    var label: @Sendable (Date) -> String

    /// Finest first: the order of reasons in a plan.
    static let all: [RetentionTier] = [
        RetentionTier(name: "hourly", count: { $0.hourly },
                      bucket: { UTCCalendar.floorDiv(UTCCalendar.epochSeconds($0), 3600) },
                      label: { date in
                          let f = UTCCalendar.fields(date)
                          return "\(UTCCalendar.pad(f.year, 4))-\(UTCCalendar.pad(f.month))-\(UTCCalendar.pad(f.day)) "
                              + "\(UTCCalendar.pad(f.hour)):00"
                      }),
        RetentionTier(name: "daily", count: { $0.daily },
                      bucket: { UTCCalendar.floorDiv(UTCCalendar.epochSeconds($0), 86_400) },
                      label: { date in
                          let f = UTCCalendar.fields(date)
                          return "\(UTCCalendar.pad(f.year, 4))-\(UTCCalendar.pad(f.month))-\(UTCCalendar.pad(f.day))"
                      }),
        RetentionTier(name: "weekly", count: { $0.weekly },
                      bucket: { UTCCalendar.weekIndex(days: UTCCalendar.floorDiv(UTCCalendar.epochSeconds($0), 86_400)) },
                      label: { date in
                          let w = UTCCalendar.isoWeek(days: UTCCalendar.floorDiv(UTCCalendar.epochSeconds(date), 86_400))
                          return "\(UTCCalendar.pad(w.year, 4))-W\(UTCCalendar.pad(w.week))"
                      }),
        RetentionTier(name: "monthly", count: { $0.monthly },
                      bucket: { date in
                          let f = UTCCalendar.fields(date)
                          return f.year * 12 + f.month - 1
                      },
                      label: { date in
                          let f = UTCCalendar.fields(date)
                          return "\(UTCCalendar.pad(f.year, 4))-\(UTCCalendar.pad(f.month))"
                      }),
    ]
}
