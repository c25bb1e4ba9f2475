import EtcdClient
import Foundation
import Recovery

/// Members: one row per etcd member, refreshed every 2 s; when etcd is down, the doctor's findings instead.
public struct MembersScreen: Sendable {
    public var members: [MemberStatus] = []
    public var selected = 0
    /// When the last answer came; nil before the first.
    public var updatedAt: Date?
    /// Since when no endpoint answers (first failure after the last success); nil while etcd answers.
    public var unreachableSince: Date?
    public var lastError: String?
    public var doctor: DoctorReport?
    public var doctorDataDir: String?
    /// A doctor run was asked for during this outage.
    var doctorRequested = false
    /// The last failure was a TLS handshake: etcd runs and answers, the connection settings are wrong.
    public var tlsFailed = false
    /// Since when each member that does not answer has been silent (the others stay live).
    public var outages = MemberOutages()
    /// The last `c` (check): every member's KV hash at one revision.
    public var check = ConsistencyCheckState.none

    public init() {}

    static let bindings: [KeyBinding] = [
        KeyBinding([.up, .down], "select a member"),
        KeyBinding([.character("r")], "refresh now (also re-runs the doctor when etcd is down)", footer: "refresh"),
        KeyBinding([.character("c")], "check: do all members hold the same keys? (hashKV at one revision)", footer: "check"),
    ]

    /// One line for the header: health at a glance.
    func summary(_ context: RenderContext) -> (String, CellStyle) {
        if let since = unreachableSince {
            if tlsFailed { return ("TLS error talking to etcd since \(context.clock.time(since))", .bad) }
            return ("etcd unreachable since \(context.clock.time(since))", .bad)
        }
        guard updatedAt != nil else { return ("connecting to etcd…", .warning) }
        let answering = members.filter(\.reachable).count
        let leader = members.first { $0.isLeader == true }
        let alarms = members.flatMap(\.errors).filter { $0.hasPrefix("alarm") }
        var text = "\(answering)/\(members.count) members healthy"
        text += leader.map { " · leader \($0.name.isEmpty ? $0.idHex : $0.name)" } ?? " · NO LEADER"
        if !alarms.isEmpty { text += " · \(Set(alarms).sorted().joined(separator: ", "))" }
        let style: CellStyle = answering == members.count && leader != nil && alarms.isEmpty ? .good
            : answering * 2 > members.count ? .warning : .bad
        return (text, style)
    }

    mutating func apply(members: [MemberStatus], at date: Date) {
        self.members = members
        outages.update(members, at: date)
        updatedAt = date
        unreachableSince = nil
        lastError = nil
        doctor = nil
        doctorRequested = false
        tlsFailed = false
        selected = min(selected, max(0, members.count - 1))
    }

    /// Records a failed refresh; returns true when the doctor should run (the first failure of an outage).
    /// Records a TLS failure: etcd answers, so its data dir is not examined (a doctor report would mislead).
    mutating func apply(tlsFailure: String, at date: Date) {
        outages.allDown(members, at: date)
        lastError = tlsFailure
        tlsFailed = true
        doctor = nil
        doctorRequested = false
        if unreachableSince == nil { unreachableSince = date }
    }

    mutating func apply(failure: String, at date: Date) -> Bool {
        outages.allDown(members, at: date)
        lastError = failure
        tlsFailed = false
        if unreachableSince == nil { unreachableSince = date }
        guard !doctorRequested else { return false }
        doctorRequested = true
        return true
    }

    mutating func handle(_ key: Key) -> ScreenAction {
        if let moved = moveSelection(selected, count: members.count, key: key, page: 10) {
            selected = moved
            return .handled
        }
        if key == .character("r") {
            if unreachableSince != nil { doctorRequested = false }
            return .effect(.refreshMembers)
        }
        if key == .character("c") {
            if case .running = check { return .refused("a check is already running") }
            return .effect(.checkCluster)
        }
        return .unhandled
    }

    static let columns = [
        TableColumn(title: "  NAME", priority: 9, maxWidth: 22), TableColumn(title: "ID", priority: 2, maxWidth: 16),
        TableColumn(title: "ENDPOINT", priority: 8, maxWidth: 32), TableColumn(title: "VERSION", priority: 6),
        TableColumn(title: "DB/IN USE", alignRight: true, priority: 7),
        TableColumn(title: "TERM", alignRight: true, priority: 3), TableColumn(title: "INDEX", alignRight: true, priority: 4),
        TableColumn(title: "LAG", alignRight: true, priority: 6), TableColumn(title: "APPLIED", alignRight: true, priority: 3),
        TableColumn(title: "LATENCY", alignRight: true, priority: 5), TableColumn(title: "ALARMS", priority: 8, maxWidth: 36),
    ]
    /// After a check: each member's KV hash and whether it matches.
    static let checkColumn = TableColumn(title: "KV HASH", priority: 7)

    var checkResult: ConsistencyCheck? {
        if case .done(let result, _) = check { return result }
        return nil
    }

    static func hashCell(_ m: ConsistencyCheck.Member?) -> String {
        guard let m else { return "-" }
        guard let hash = m.hash else { return "not checked" }
        return hash + (m.consistent == false ? " DIFFERS" : m.consistent == true ? " same" : "")
    }

    static func latency(_ m: MemberStatus) -> String {
        m.latency.map { String(format: "%.1fms", Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1000) } ?? "-"
    }

    /// The member's problems, first since when it has not answered.
    func problems(_ m: MemberStatus, _ context: RenderContext) -> [String] {
        guard let since = outages[m] else { return m.errors }
        return ["not answering since \(context.clock.time(since))"] + m.errors
    }

    func cells(_ m: MemberStatus, _ context: RenderContext) -> [String] {
        let size = m.dbSize.map { bytes($0) + "/" + (m.dbSizeInUse.map(bytes) ?? "-") } ?? "-"
        let marker = m.isLeader == true ? "* " : m.isLearner ? "~ " : "  "
        let problems = problems(m, context)
        let name: String = marker + (m.name.isEmpty ? "(unnamed)" : m.name)
        let term: String = m.raftTerm.map { String($0) } ?? "-"
        let index: String = m.raftIndex.map { String($0) } ?? "-"
        let lag: String = members.raftLag(of: m).map { String($0) } ?? "-"
        let applied: String = m.raftAppliedIndex.map { String($0) } ?? "-"
        let problemText: String = problems.isEmpty ? "-" : problems.joined(separator: "; ")
        var cells: [String] = [name, m.idHex, m.endpoint, m.version ?? "-", size, term, index, lag, applied,
                               Self.latency(m), problemText]
        if let checkResult { cells.insert(Self.hashCell(checkResult.member(m.name, endpoint: m.endpoint)), at: 5) }
        return cells
    }

    func render(into grid: inout TextGrid, area: Area, context: RenderContext) {
        var row = area.top
        if unreachableSince != nil || updatedAt == nil {
            renderDown(into: &grid, area: area, context: context)
            return
        }
        let rows = members.map { cells($0, context) }
        var columns = Self.columns
        if checkResult != nil { columns.insert(Self.checkColumn, at: 5) }
        let table = TableLayout(columns, rows: rows, width: area.width - 2)
        grid.put(" " + table.header, row: row, column: 0, style: .header)
        row += 1
        let detailHeight = 6
        let height = max(1, area.height - 3 - detailHeight)
        let offset = scrollOffset(selected: selected, count: rows.count, height: height)
        for (i, member) in members.enumerated().dropFirst(offset).prefix(height) {
            let style: CellStyle = !member.reachable || !member.errors.isEmpty ? .bad : .normal
            grid.put((i == selected ? ">" : " ") + table.line(rows[i]), row: row, column: 0, style: i == selected ? .selected : style)
            row += 1
        }
        grid.put(" * leader  ~ learner", row: row, column: 0, style: .dim)
        row += 1
        let checkBottom = area.top + area.height - 1 - detailHeight
        for line in checkLines(width: area.width - 2, context: context) where row < checkBottom {
            grid.put(" " + line.0, row: row, column: 0, style: line.1)
            row += 1
        }
        if members.indices.contains(selected) {
            renderDetail(members[selected], into: &grid, top: area.top + area.height - 1 - detailHeight, width: area.width,
                         context: context)
        }
        if let updatedAt {
            grid.put(" updated \(context.clock.time(updatedAt)) · refreshed every 2s", row: area.top + area.height - 1,
                     column: 0, style: .dim)
        }
    }

    /// The last check's verdict and findings, under the table.
    func checkLines(width: Int, context: RenderContext) -> [(String, CellStyle)] {
        switch check {
        case .none:
            return []
        case .running(let since):
            return [("checking every member's keys (started \(context.clock.time(since)))…", .warning)]
        case .failed(let error, let at):
            return wrap("check at \(context.clock.time(at)) failed: \(error)", width: width).map { ($0, CellStyle.bad) }
        case .done(let result, let at):
            var lines = wrap("check at \(context.clock.time(at)): \(result.verdict)", width: width)
                .map { ($0, result.healthy ? CellStyle.good : .bad) }
            for finding in result.findings {
                lines += wrap((finding.isError ? "error: " : "warning: ") + finding.message, width: width)
                    .map { ($0, finding.isError ? CellStyle.bad : .warning) }
                lines += wrap("→ " + finding.action, width: width - 2).map { ("  " + $0, CellStyle.normal) }
            }
            return lines
        }
    }

    /// Every field of the selected member, so nothing is lost when columns are dropped at 80 columns.
    private func renderDetail(_ m: MemberStatus, into grid: inout TextGrid, top: Int, width: Int, context: RenderContext) {
        grid.put(String(repeating: "─", count: width), row: top, column: 0, style: .dim)
        grid.put(" \(m.name.isEmpty ? m.idHex : m.name) ", row: top, column: 2, style: .title)
        let role = m.isLeader == true ? "leader" : !m.reachable ? "not answering" : m.isLearner ? "learner" : "follower"
        let facts = ["id \(m.idHex)", role, "etcd \(m.version ?? "?")", m.endpoint, "latency \(Self.latency(m))",
                     "db \(m.dbSize.map(bytes) ?? "?") (in use \(m.dbSizeInUse.map(bytes) ?? "?"))",
                     "raft term \(m.raftTerm.map(String.init) ?? "?")", "index \(m.raftIndex.map(String.init) ?? "?")",
                     "lag \(members.raftLag(of: m).map { "\($0) behind the leader" } ?? "?")",
                     "applied \(m.raftAppliedIndex.map(String.init) ?? "?")"]
            + (checkResult.map { ["kv hash \(Self.hashCell($0.member(m.name, endpoint: m.endpoint)))"] } ?? [])
        var lines = wrapItems(facts, width: width - 2).map { ($0, CellStyle.normal) }
        let problems = problems(m, context)
        lines += (problems.isEmpty ? ["no alarms, no errors"] : problems).flatMap { wrap($0, width: width - 2) }
            .map { ($0, problems.isEmpty ? CellStyle.good : .bad) }
        for (i, line) in lines.prefix(4).enumerated() {
            grid.put(" " + line.0, row: top + 1 + i, column: 0, style: line.1)
        }
    }

    private func renderDown(into grid: inout TextGrid, area: Area, context: RenderContext) {
        var row = area.top
        let bottom = area.top + area.height
        if let since = unreachableSince, tlsFailed {
            grid.put(" etcd answers but the TLS handshake fails (since \(context.clock.time(since)); retrying every 2s)",
                     row: row, column: 0, style: .bad)
            row += 1
            for line in wrap(lastError ?? "", width: area.width - 3).prefix(6) where row < bottom {
                grid.put("  " + line, row: row, column: 0, style: .normal)
                row += 1
            }
            let advice = "etcd is running: its data dir is not the problem. Check the CA (--cacert), the client certificate and key (--cert, --key) and the endpoint's host name; etcd-console config show lists what is used and from where."
            row += 1
            for line in wrap(advice, width: area.width - 2) where row < bottom {
                grid.put(" " + line, row: row, column: 0, style: .title)
                row += 1
            }
            return
        }
        if let since = unreachableSince {
            grid.put(" etcd is not answering (unreachable since \(context.clock.time(since)); retrying every 2s)",
                     row: row, column: 0, style: .bad)
            row += 1
            for line in wrap(lastError ?? "", width: area.width - 3).prefix(3) where row < bottom {
                grid.put("  " + line, row: row, column: 0, style: .dim)
                row += 1
            }
        } else {
            grid.put(" connecting to etcd…", row: row, column: 0, style: .warning)
            return
        }
        row += 1
        guard row < bottom else { return }
        guard let doctor else {
            grid.put(" examining the local data dir…", row: row, column: 0, style: .dim)
            return
        }
        var lines: [(String, CellStyle)] = [(" Doctor findings for the data dir (read offline, nothing changed):", .header),
                                            ("   " + (doctorDataDir ?? "?"), .header)]
        let notable = doctor.findings.filter { $0.severity != .ok }
        // Criticals whole (what etcd will do, what to do); the rest cut to fit, with where to read them whole.
        for finding in (notable.isEmpty ? doctor.findings : notable).sorted(by: { ($0.severity == .critical ? 0 : 1) < ($1.severity == .critical ? 0 : 1) }) {
            let critical = finding.severity == .critical
            let style: CellStyle = critical ? .bad : finding.severity == .warning ? .warning : .good
            lines += wrap("\(finding.severity.rawValue.uppercased()) \(finding.code): \(finding.message)", width: area.width - 4)
                .prefix(critical ? 12 : 3).enumerated().map { ($0.offset == 0 ? " " + $0.element : "   " + $0.element, style) }
            if !finding.action.isEmpty {
                lines += wrap("-> " + finding.action, width: area.width - 6).prefix(critical ? 6 : 2).map { ("   " + $0, .normal) }
            }
        }
        // The recommendation whole; a command in it on lines of its own, continued with ` \` so it copies back.
        var recommendation: [(String, CellStyle)] = []
        if let range = doctor.recommendation.range(of: ": etcd-console ") {
            let text = String(doctor.recommendation[..<range.lowerBound]) + ":"
            let command = "etcd-console " + doctor.recommendation[range.upperBound...]
            recommendation = wrap(text, width: area.width - 2).map { (" " + $0, CellStyle.title) }
            // A restore is what the wizard does, step by step and confirmed: say so before the shell form.
            if command.contains("--from-survivor") {
                recommendation += wrap(":recover does it here (the member with the newest data, cluster-inventory's hosts); in a shell:", width: area.width - 3)
                    .map { ("   " + $0, CellStyle.normal) }
            } else if command.hasPrefix("etcd-console restore ") && !command.contains("--rebuild") {
                recommendation += wrap(":restore opens the guided restore here; in a shell:", width: area.width - 3)
                    .map { ("   " + $0, CellStyle.normal) }
            }
            recommendation += WizardScreen.shellLines(command, width: area.width - 3).map { ("   " + $0, CellStyle.key) }
        } else {
            recommendation = wrap(doctor.recommendation, width: area.width - 2).map { (" " + $0, CellStyle.title) }
        }
        let room = bottom - row - recommendation.count - 1
        if lines.count > room, room > 0 {
            lines = Array(lines.prefix(room - 1)) + [(" … more: etcd-console doctor --data-dir \(doctorDataDir ?? "<dir>")", .dim)]
        }
        for line in lines.prefix(max(0, room)) {
            grid.put(line.0, row: row, column: 0, style: line.1)
            row += 1
        }
        for (i, line) in recommendation.enumerated() {
            grid.put(line.0, row: bottom - recommendation.count + i, column: 0, style: line.1)
        }
    }
}
