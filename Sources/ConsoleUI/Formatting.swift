import EtcdClient
import Foundation
import SystemSupport

/// Times and sizes as the screens write them. Pure functions of their inputs (the time zone is read once at start).
public struct ConsoleClock: Sendable {
    public var timeZone: TimeZone

    public init(timeZone: TimeZone = .current) { self.timeZone = timeZone }

    private func parts(_ date: Date) -> DateComponents {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
    }

    /// "12:03:01".
    public func time(_ date: Date) -> String {
        let p = parts(date)
        return String(format: "%02d:%02d:%02d", p.hour ?? 0, p.minute ?? 0, p.second ?? 0)
    }

    /// "2026-11-25 12:03".
    public func dateTime(_ date: Date) -> String {
        let p = parts(date)
        return String(format: "%04d-%02d-%02d %02d:%02d", p.year ?? 0, p.month ?? 0, p.day ?? 0, p.hour ?? 0, p.minute ?? 0)
    }

    /// "2026-11-25 12:03:01 UTC".
    public func fullDateTime(_ date: Date) -> String {
        let p = parts(date)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d ", p.year ?? 0, p.month ?? 0, p.day ?? 0,
                      p.hour ?? 0, p.minute ?? 0, p.second ?? 0)
            + (timeZone.secondsFromGMT(for: date) == 0 ? "UTC" : timeZone.abbreviation(for: date) ?? timeZone.identifier)
    }
}

/// "45s", "3m", "2h05m", "4d03h".
func age(_ seconds: TimeInterval) -> String {
    let s = Int(seconds)
    if s < 0 { return "future" }
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m" }
    if s < 86400 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    return String(format: "%dd%02dh", s / 86400, (s % 86400) / 3600)
}

/// "1m05s"-style durations.
func duration(_ seconds: TimeInterval) -> String {
    let total = max(0, Int(seconds.rounded()))
    if total < 60 { return "\(total)s" }
    if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60)
}

func bytes(_ n: Int64) -> String { formatBytes(Int(n)) }

/// "[#######.........]" for 0...1.
func progressBar(_ fraction: Double, width: Int) -> String {
    let inner = max(1, width - 2)
    let filled = Int((min(1, max(0, fraction)) * Double(inner)).rounded(.down))
    return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: inner - filled) + "]"
}
