import EtcdClient
import Foundation
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The plain-text tables the headless commands print, as pure functions of their data (and `now`), so golden
/// tests can pin them exactly (`Tests/OperationsTests/Snapshots`, re-recorded with RECORD_SNAPSHOTS=1).
public enum CommandTables {
    /// A header row and left-aligned columns two spaces apart; the last column is not padded.
    public static func render(_ header: [String], _ rows: [[String]]) -> String {
        // Each cell's width counted once (Character counts walk the string); one output string grown in place:
        // 10,000 snapshot rows are a table too.
        let table = [header] + rows
        let counts = table.map { $0.map(\.count) }
        var widths = counts[0]
        for row in counts.dropFirst() {
            for (i, count) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], count) }
        }
        var out = ""
        out.reserveCapacity(table.count * (widths.reduce(0, +) + 2 * widths.count + 1))
        for (r, cells) in table.enumerated() {
            for (i, cell) in cells.enumerated() {
                if i > 0 { out += "  " }
                out += cell
                if i < cells.count - 1, i < widths.count, counts[r][i] < widths[i] {
                    out += String(repeating: " ", count: widths[i] - counts[r][i])
                }
            }
            out += "\n"
        }
        return out
    }

    /// `etcd-console status`: one row per member. LAG is how many raft entries a member is behind the leader.
    /// `downSince` (from `status --watch`, keyed by `MemberStatus.watchKey`) adds when a member stopped answering.
    public static func status(_ members: [MemberStatus], downSince: [String: Date] = [:], now: Date = Date()) -> String {
        let header = ["ENDPOINT", "NAME", "ID", "VERSION", "LEADER", "DB SIZE", "IN USE", "TERM", "INDEX",
                      "LAG", "APPLIED", "LEARNER", "LATENCY", "ERRORS"]
        let rows = members.map { m -> [String] in
            var errors = m.errors
            if let since = downSince[m.watchKey] {
                errors.insert("not answering since \(rfc3339(since)) (\(age(now.timeIntervalSince(since))))", at: 0)
            }
            return [m.endpoint, m.name.isEmpty ? "-" : m.name, m.idHex, m.version ?? "-",
                    m.isLeader.map { $0 ? "yes" : "no" } ?? "-", m.dbSize.map { formatBytes(Int($0)) } ?? "-",
                    m.dbSizeInUse.map { formatBytes(Int($0)) } ?? "-", m.raftTerm.map(String.init) ?? "-",
                    m.raftIndex.map(String.init) ?? "-", members.raftLag(of: m).map(String.init) ?? "-",
                    m.raftAppliedIndex.map(String.init) ?? "-",
                    m.isLearner ? "yes" : "no", m.latency.map { String(format: "%.1fms", milliseconds($0)) } ?? "-",
                    errors.isEmpty ? "-" : errors.joined(separator: "; ")]
        }
        return render(header, rows)
    }

    /// `etcd-console snapshot list`: the snapshots newest first, then a summary line.
    public static func snapshotList(_ listing: CatalogListing, now: Date) -> String {
        let rows = listing.entries.map { e -> [String] in
            [e.name, rfc3339(e.takenAt), age(e.ageSeconds(now: now)), formatBytes(e.size),
             e.revision.map(String.init) ?? "-", e.liveKeys.map(String.init) ?? "-",
             e.health.rawValue + (e.reason.map { ": \($0)" } ?? "")]
        }
        var text = render(["NAME", "TAKEN AT (UTC)", "AGE", "SIZE", "REVISION", "KEYS", "HEALTH"], rows)
        let good = listing.entries.first { $0.health == .good }
        let total = listing.entries.reduce(0) { $0 + $1.size }
        let count = listing.entries.count
        text += "\(count) snapshot\(count == 1 ? "" : "s"), \(formatBytes(total)); newest good: "
            + (good.map { "\($0.name) (\(age($0.ageSeconds(now: now))) ago)" } ?? "none")
        if !listing.problems.isEmpty {
            text += "; \(listing.problems.count) not snapshot file\(listing.problems.count == 1 ? "" : "s") (see above)"
        }
        return text + "\n"
    }

    /// RFC 3339 UTC to the second, as every JSON output and table carries times. Formatted by hand with
    /// gmtime_r: a DateFormatter per entry took half the time of listing 1,000 snapshots.
    public static func rfc3339(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))Z"
    }

    /// "3m", "2h05m", "4d03h": ages in the tables.
    public static func age(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        return String(format: "%dd%02dh", s / 86400, (s % 86400) / 3600)
    }

    private static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}
