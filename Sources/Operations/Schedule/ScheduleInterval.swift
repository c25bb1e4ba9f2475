import Foundation

/// How often scheduled backups run: a number of minutes that divides an hour, of hours that divides a day,
/// or one day. Only such intervals map exactly onto both a systemd `OnCalendar=` expression and a cron
/// schedule, and keep the runs evenly spaced across midnight.
public struct ScheduleInterval: Sendable, Equatable, CustomStringConvertible {
    public enum Unit: Sendable, Equatable { case minutes, hours, days }

    public var count: Int
    public var unit: Unit

    /// The suggested schedule: every 30 minutes (what `RetentionPolicy.default` is made for).
    public static let standard = ScheduleInterval(count: 30, unit: .minutes)

    public init(count: Int, unit: Unit) {
        self.count = count
        self.unit = unit
    }

    public var seconds: TimeInterval {
        switch unit {
        case .minutes: return TimeInterval(count * 60)
        case .hours: return TimeInterval(count * 3600)
        case .days: return TimeInterval(count * 86400)
        }
    }

    /// "30min", "2h", "1d": the form `parse` reads and the docs show.
    public var description: String {
        switch unit {
        case .minutes: return "\(count)min"
        case .hours: return "\(count)h"
        case .days: return "\(count)d"
        }
    }

    /// Reads "15min", "30m", "30 minutes", "1h", "6hours", "1d", "daily", "hourly".
    public static func parse(_ text: String) -> Result<ScheduleInterval, ConfigurationValueError> {
        let lowered = text.lowercased().replacingOccurrences(of: " ", with: "")
        switch lowered {
        case "hourly": return .success(ScheduleInterval(count: 1, unit: .hours))
        case "daily": return .success(ScheduleInterval(count: 1, unit: .days))
        default: break
        }
        let digits = lowered.prefix { $0.isNumber }
        let suffix = lowered.dropFirst(digits.count)
        let units: [(Unit, Set<String>)] = [(.minutes, ["m", "min", "mins", "minute", "minutes"]),
                                            (.hours, ["h", "hr", "hour", "hours"]),
                                            (.days, ["d", "day", "days"])]
        guard let count = Int(digits), let unit = units.first(where: { $0.1.contains(String(suffix)) })?.0 else {
            return .failure(.init("must be an interval such as 15min, 30min, 1h, 6h or 1d, not \"\(text)\""))
        }
        var interval = ScheduleInterval(count: count, unit: unit)
        // 60min is 1h, 24h is 1d: one spelling per schedule.
        if interval.unit == .minutes && count > 0 && count % 60 == 0 { interval = ScheduleInterval(count: count / 60, unit: .hours) }
        if interval.unit == .hours && count > 0 && count % 24 == 0 { interval = ScheduleInterval(count: count / 24, unit: .days) }
        switch interval.unit {
        case .minutes where interval.count >= 1 && 60 % interval.count == 0,
             .hours where interval.count >= 1 && 24 % interval.count == 0,
             .days where interval.count == 1:
            return .success(interval)
        default:
            return .failure(.init("\"\(text)\" does not divide an hour or a day evenly; use 1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30min, 1, 2, 3, 4, 6, 8 or 12h, or 1d"))
        }
    }

    /// systemd `OnCalendar=`: `*:00/30`, `*-*-* 00/6:00:00`, `daily` (midnight in the host's time zone).
    public var onCalendar: String {
        switch unit {
        case .minutes: return count == 1 ? "*:*:00" : "*:00/\(count)"
        case .hours: return count == 1 ? "hourly" : "*-*-* 00/\(count):00:00"
        case .days: return "daily"
        }
    }

    /// A cron schedule for a Kubernetes CronJob: `*/30 * * * *`, `0 */6 * * *`, `0 0 * * *`.
    public var cron: String {
        switch unit {
        case .minutes: return count == 1 ? "* * * * *" : "*/\(count) * * * *"
        case .hours: return count == 1 ? "0 * * * *" : "0 */\(count) * * *"
        case .days: return "0 0 * * *"
        }
    }

    /// systemd `RandomizedDelaySec=`: a tenth of the interval, at most 5 minutes, so that many masters
    /// (and many clusters on one storage backend) do not all snapshot in the same second.
    public var randomizedDelaySeconds: Int { min(300, Int(seconds / 10)) }
}
