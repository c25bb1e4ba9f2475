import Foundation
import SnapshotStore

extension Console {
    /// Draws the whole console: tab bar, health line, the screen, its footer and any overlay.
    public func render(into grid: inout TextGrid) {
        let context = RenderContext(now: now, clock: clock, readonly: readonly)
        guard grid.width >= 40, grid.height >= 10 else {
            grid.put("etcd-console needs at least 40x10", row: 0, column: 0, style: .bad)
            grid.put("(now \(grid.width)x\(grid.height)); q quits", row: 1, column: 0)
            return
        }
        renderHeader(into: &grid, context: context)
        let area = Area(top: 2, height: grid.height - 3, width: grid.width)
        switch pushed {
        case .browse(let screen): screen.render(into: &grid, area: area, context: context)
        case .diff(let screen): screen.render(into: &grid, area: area, context: context)
        case .wizard: wizard?.render(into: &grid, area: area, context: context)
        case .cluster: cluster?.render(into: &grid, area: area, context: context)
        case nil:
            switch tab {
            case .members: members.render(into: &grid, area: area, context: context)
            case .snapshots: snapshots.render(into: &grid, area: area, context: context)
            case .jobs: jobs.render(into: &grid, area: area, context: context)
            }
        }
        renderBottomLine(into: &grid)
        switch overlay {
        case .help(let offset): renderHelp(offset: offset, into: &grid)
        case .confirm(let confirmation): renderConfirm(confirmation, into: &grid)
        case .command, nil: break
        }
    }

    private func renderHeader(into grid: inout TextGrid, context: RenderContext) {
        grid.paint(row: 0, style: .title)
        var col = grid.put(" etcd-console ", row: 0, column: 0, style: .title)
        for tab in Tab.allCases {
            let running = tab == .jobs && !jobs.running.isEmpty ? "*" : ""
            let label = "\(tab.rawValue) \(tab.title)\(running)"
            col = grid.put(tab == self.tab ? "[\(label)]" : " \(label) ", row: 0, column: col + 1,
                           style: tab == self.tab ? .selected : .title)
        }
        let right = (readonly ? "READ-ONLY · " : "") + clock.time(now)
        grid.put(right, row: 0, column: grid.width - right.count - 1, style: readonly ? .warning : .title)
        let (summary, style) = members.summary(context)
        let line = grid.put(" " + summary, row: 1, column: 0, style: style)
        let warning = backupWarning ?? offsiteWarning ?? snapshots.controlPlane?.headerWarning(now: now)
        let room = grid.width - (warning.map { $0.count + 2 } ?? 0)
        let list = endpoints.split(separator: ",")
        let shown = line + 2 + endpoints.count <= room || list.count < 2 ? endpoints : "\(list[0]) +\(list.count - 1) more"
        grid.put("  " + shown.fitted(max(0, room - line - 2)), row: 1, column: line, style: .dim)
        if let warning, grid.width - warning.count - 1 > line {
            grid.put(warning, row: 1, column: grid.width - warning.count - 1, style: .warning)
        }
    }

    /// "no good backup" or "newest good backup 2h05m old (limit 1h)" once the snapshots are listed, when
    /// the backups are behind their schedule; nil when they keep up or no schedule is known.
    var backupWarning: String? {
        guard let interval = backupIntervalSeconds, snapshots.loaded else { return nil }
        // The newest good entry decides (SnapshotFreshness looks at no other); kept by the screen, not searched per frame.
        let freshness = SnapshotFreshness.check(snapshots.newestGood.map { [$0] } ?? [], intervalSeconds: interval, now: now)
        switch freshness.verdict {
        case .fresh: return nil
        case .none: return "! no good backup"
        case .stale: return "! newest good backup \(age(freshness.ageSeconds ?? 0)) old (limit \(age(freshness.limitSeconds)))"
        }
    }

    /// "! no offsite copy yet" or "! offsite copy 5h00m old (limit 2h00m)" when the newest good offsite copy is
    /// behind twice the schedule (Operations' `OffsiteStatus` decides, as for `etcd-console status`); nil otherwise.
    var offsiteWarning: String? {
        guard let interval = backupIntervalSeconds, let view = snapshots.offsite, view.behindSchedule, snapshots.loaded,
              snapshots.newestGood != nil else { return nil }
        guard let newest = view.newestOffsiteAt else { return "! no offsite copy yet" }
        return "! offsite copy \(age(now.timeIntervalSince(newest))) old (limit \(age(2 * interval)))"
    }

    private func renderBottomLine(into grid: inout TextGrid) {
        let row = grid.height - 1
        if case .command(let text) = overlay {
            grid.put(":" + text + "▏", row: row, column: 0, style: .key)
            return
        }
        if tab == .snapshots && pushed == nil && snapshots.editingFilter {
            grid.put("/" + snapshots.filter + "▏  (enter keeps the filter, esc clears it)", row: row, column: 0, style: .key)
            return
        }
        if let loading {
            grid.put(" " + loading, row: row, column: 0, style: .warning)
            return
        }
        if let message {
            grid.put(" " + message.text, row: row, column: 0, style: message.isError ? .bad : .good)
            return
        }
        var col = 1
        for binding in currentBindings + Self.globalBindings {
            guard let short = binding.footer else { continue }
            let text = binding.label
            let title = " " + short
            if col + text.count + title.count + 2 > grid.width { break }
            col = grid.put(text, row: row, column: col, style: .key)
            col = grid.put(title + "  ", row: row, column: col, style: .dim)
        }
    }

    /// A centred box over the screen.
    private func drawBox(_ title: String, lines: [(String, CellStyle)], into grid: inout TextGrid, minWidth: Int = 30) {
        let width = min(grid.width - 2, max(minWidth, title.count + 4, (lines.map(\.0.count).max() ?? 0) + 4))
        let height = min(grid.height - 2, lines.count + 2)
        let top = max(1, (grid.height - height) / 2)
        let left = max(1, (grid.width - width) / 2)
        grid.clear(row: top, column: left, height: height, width: width)
        grid.put("┌" + String(repeating: "─", count: width - 2) + "┐", row: top, column: left, style: .title)
        grid.put(" \(title) ", row: top, column: left + 2, style: .title)
        for (i, line) in lines.prefix(height - 2).enumerated() {
            grid.put("│", row: top + 1 + i, column: left, style: .title)
            grid.put(line.0.fitted(width - 4), row: top + 1 + i, column: left + 2, style: line.1)
            grid.put("│", row: top + 1 + i, column: left + width - 1, style: .title)
        }
        grid.put("└" + String(repeating: "─", count: width - 2) + "┘", row: top + height - 1, column: left, style: .title)
    }

    /// Help, generated from the binding tables: this screen's keys, then the global ones; scrolls with ↑/↓
    /// when it is taller than the terminal.
    private func renderHelp(offset: Int, into grid: inout TextGrid) {
        let lines = helpLines
        let room = grid.height - 4
        let start = min(offset, max(0, lines.count - room))
        let title = lines.count > room ? "Help (↑/↓ scroll, \(start + 1)-\(min(lines.count, start + room)) of \(lines.count))" : "Help"
        drawBox(title, lines: Array(lines.dropFirst(start)), into: &grid, minWidth: 60)
    }

    /// The help text, one entry per line.
    var helpLines: [(String, CellStyle)] {
        var lines: [(String, CellStyle)] = []
        let screen = currentBindings
        let all = screen + Self.globalBindings
        let keyWidth = min(16, all.map(\.label.count).max() ?? 8)
        lines.append(("This screen", .header))
        lines += screen.map { (($0.label + ($0.isDestructive ? " !" : "")).fitted(keyWidth, pad: true) + "  " + $0.title, .normal) }
        lines.append(("Everywhere", .header))
        lines += Self.globalBindings.map { ($0.label.fitted(keyWidth, pad: true) + "  " + $0.title, .normal) }
        if readonly { lines.append(("read-only session: delete, prune and restore are off", .warning)) }
        lines.append(("! marks a step or key that changes the host; it is confirmed first", .dim))
        lines.append(("esc or ? closes this help", .dim))
        return lines
    }

    private func renderConfirm(_ confirmation: Confirmation, into grid: inout TextGrid) {
        var lines = confirmation.lines.map { ($0, CellStyle.normal) }
        lines.append(("", .normal))
        if let word = confirmation.typedWord {
            lines.append(("type \(word) or yes, then enter, to confirm; esc cancels:", .warning))
            lines.append(("> " + confirmation.typed + "▏", .key))
        } else {
            lines.append(("y confirms · n or esc cancels", .warning))
        }
        drawBox(confirmation.title, lines: lines, into: &grid, minWidth: 50)
    }
}
