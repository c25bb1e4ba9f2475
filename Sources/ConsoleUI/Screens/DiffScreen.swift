import Foundation
import SnapshotStore

/// Diff: what changed between two snapshots (offline): a summary per resource and namespace, then each object.
public struct DiffScreen: Sendable {
    public let from: SnapshotRef
    public let to: SnapshotRef
    let diff: SnapshotDiff
    /// "+ pods/default/web-1" lines, sorted by object.
    let lines: [(mark: Character, ref: ObjectRef)]
    public var offset = 0
    /// Why one of the two files cannot be trusted; the comparison is shown anyway, under a warning.
    public let damage: String?

    public init(from: SnapshotRef, to: SnapshotRef, diff: SnapshotDiff, damage: String? = nil) {
        self.damage = damage
        self.from = from
        self.to = to
        self.diff = diff
        lines = (diff.added.map { (Character("+"), $0) } + diff.removed.map { (Character("-"), $0) }
            + diff.changed.map { (Character("~"), $0) }).sorted { $0.1 < $1.1 }
    }

    static let bindings: [KeyBinding] = [
        KeyBinding([.up, .down], "scroll"),
        KeyBinding([.escape], "back to snapshots", footer: "back"),
    ]

    var rowCount: Int { diff.summary.count + 2 + lines.count }

    mutating func handle(_ key: Key) -> ScreenAction {
        if key == .escape || key == .left { return .close }
        if let moved = moveSelection(offset, count: rowCount, key: key, page: 10) {
            offset = moved
            return .handled
        }
        return .unhandled
    }

    func render(into grid: inout TextGrid, area: Area, context: RenderContext) {
        grid.put(" Diff \(from.name) → \(to.name)", row: area.top, column: 0, style: .title)
        if let damage {
            let lines = damageLines(damage, width: area.width)
            for (i, line) in lines.enumerated() { grid.put(line, row: area.top + 1 + i, column: 0, style: .bad) }
            var below = area
            below.top += lines.count
            below.height -= lines.count
            renderBody(into: &grid, area: below, offset: offset)
            return
        }
        renderBody(into: &grid, area: area, offset: offset)
    }

    private func renderBody(into grid: inout TextGrid, area: Area, offset: Int) {
        grid.put(" revision \(diff.fromRevision) → \(diff.toRevision): \(diff.added.count) added, \(diff.removed.count) removed, \(diff.changed.count) changed",
                 row: area.top + 1, column: 0, style: diff.isEmpty ? .good : .normal)
        if diff.isEmpty {
            grid.put(" no object changed between these snapshots", row: area.top + 3, column: 0)
            return
        }
        let table = TableLayout([TableColumn(title: "RESOURCE", priority: 9, maxWidth: 40), TableColumn(title: "NAMESPACE", priority: 8, maxWidth: 30),
                                 TableColumn(title: "ADDED", alignRight: true), TableColumn(title: "REMOVED", alignRight: true),
                                 TableColumn(title: "CHANGED", alignRight: true)],
                                rows: diff.summary.map { [$0.resource, $0.namespace ?? "-", "", "", ""] }, width: area.width - 2)
        var body: [(String, CellStyle)] = [(table.header, .header)]
        body += diff.summary.map { (table.line([$0.resource, $0.namespace ?? "(cluster)", String($0.added), String($0.removed), String($0.changed)]), .normal) }
        body.append(("", .normal))
        body += lines.map { ("\($0.mark) \($0.ref)", $0.mark == "+" ? .good : $0.mark == "-" ? .bad : .warning) }
        let height = area.height - 3
        let start = min(offset, max(0, body.count - height))
        for (i, line) in body.dropFirst(start).prefix(height).enumerated() {
            grid.put(" " + line.0, row: area.top + 3 + i, column: 0, style: line.1)
        }
    }
}

/// The warning above a browse or diff of a damaged snapshot: at most three lines, so the reason fits at 80x24.
func damageLines(_ damage: String, width: Int) -> [String] {
    let lines = wrap("DAMAGED, cannot be trusted: " + damage, width: max(10, width - 2)).map { " " + $0 }
    return Array(lines.prefix(3))
}
