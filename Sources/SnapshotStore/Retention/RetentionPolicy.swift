import Foundation

/// How many snapshots `prune` keeps. Every field is a count; `nil` switches that rule off, and a policy with
/// every field `nil` keeps everything. Only good snapshots are counted: corrupt and unverified files never
/// take a slot (see `Retention.plan`).
///
/// Tiers keep the newest good snapshot of each of the last N periods, counted back from `now` with the current
/// period as the first (a policy of `hourly: 24` at 14:05 covers the hours 15:00 yesterday through 14:00 today).
/// Periods are UTC: hours, days, ISO 8601 weeks (Monday to Sunday) and calendar months. Windows are fixed in
/// time, not "the last N periods that have a snapshot": when backups stop, old snapshots age out of the tiers,
/// but `keepLast` and the newest good snapshot are always kept, so a stopped schedule never empties the
/// directory.
public struct RetentionPolicy: Codable, Sendable, Equatable {
    /// Keep the N newest good snapshots.
    public var keepLast: Int?
    /// Keep the newest good snapshot of each of the last H hours (UTC).
    public var hourly: Int?
    /// Keep the newest good snapshot of each of the last D days (UTC).
    public var daily: Int?
    /// Keep the newest good snapshot of each of the last W ISO weeks (Monday to Sunday, UTC).
    public var weekly: Int?
    /// Keep the newest good snapshot of each of the last M calendar months (UTC).
    public var monthly: Int?

    public init(keepLast: Int? = nil, hourly: Int? = nil, daily: Int? = nil, weekly: Int? = nil, monthly: Int? = nil) {
        self.keepLast = keepLast
        self.hourly = hourly
        self.daily = daily
        self.weekly = weekly
        self.monthly = monthly
    }

    /// The policy for a snapshot every 30 minutes, the schedule `etcd-console` suggests:
    /// - `keepLast: 6`: the last three hours at full resolution, as many recent copies as the backup CronJobs
    ///   people run today keep, so switching to etcd-console never keeps fewer recent copies;
    /// - `hourly: 24`: one per hour for a day, for a mistake noticed the same day (a deleted namespace, a bad
    ///   Helm upgrade) that must be undone to just before it happened;
    /// - `daily: 7`: one per day for a week, to bridge a weekend or a holiday;
    /// - `weekly: 4`: one per week for a month;
    /// - `monthly: 3`: one per month for a quarter, for slow damage found late (a controller quietly deleting
    ///   objects, an expired certificate's secret overwritten weeks ago).
    /// The tiers overlap, so a steady 30-minute schedule keeps 35 good files; whatever the schedule, the policy
    /// never keeps more than 44 good files (the sum of the counts). With a 100 MB database that is 3.5 to 4.4 GB.
    public static let `default` = RetentionPolicy(keepLast: 6, hourly: 24, daily: 7, weekly: 4, monthly: 3)

    /// True when no rule is set: nothing is ever deleted.
    public var keepsEverything: Bool {
        keepLast == nil && hourly == nil && daily == nil && weekly == nil && monthly == nil
    }
}
