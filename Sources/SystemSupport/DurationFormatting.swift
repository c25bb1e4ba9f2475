import Foundation

/// "1m05s"-style durations for progress lines.
public func formatDuration(_ duration: Duration) -> String {
    let total = Int(duration.components.seconds)
    if total < 60 { return "\(total)s" }
    if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60)
}

extension Duration {
    /// Milliseconds as a fraction, for latencies and JSON `durationMs`.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }

    /// Whole milliseconds (rounded down), for step durations.
    public var wholeMilliseconds: Int {
        Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)
    }
}
