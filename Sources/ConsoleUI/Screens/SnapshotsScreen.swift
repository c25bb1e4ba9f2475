import Foundation
import SnapshotStore

/// Snapshots: the catalog as a table with a detail pane; take, verify, browse, diff, delete and prune.
public struct SnapshotsScreen: Sendable {
    public enum SortColumn: String, Sendable, CaseIterable {
        case takenAt = "taken at", name, size, revision, keys, health
    }

    public private(set) var entries: [SnapshotEntry] = []
    /// The rows shown: `entries` filtered and sorted (kept, not recomputed per frame: 1,000 rows).
    public private(set) var visible: [SnapshotEntry] = []
    public var selected = 0
    public private(set) var sort: SortColumn = .takenAt
    /// true: newest / largest / highest first (the default for time).
    public private(set) var descending = true
    public private(set) var filter = ""
    /// The `/` prompt is open and keys go into the filter.
    public private(set) var editingFilter = false
    public private(set) var marked: SnapshotRef?
    public var loaded = false
    public var loadError: String?
    public var freeBytes: Int64?
    public var leftoverParts: [String] = []
    public var warnings: [String] = []
    public let directory: String

    public init(directory: String) { self.directory = directory }

    static let bindings: [KeyBinding] = [
        KeyBinding([.up, .down], "select a snapshot"),
        KeyBinding([.character("n")], "take a snapshot now", footer: "snapshot"),
        KeyBinding([.character("v")], "verify the selected snapshot", footer: "verify"),
        KeyBinding([.enter], "browse the objects inside (offline)", footer: "browse"),
        KeyBinding([.character(" ")], "mark / unmark for diff"),
        KeyBinding([.character("D")], "diff the marked snapshot with the selected one"),
        KeyBinding([.control("d")], "delete the selected snapshot (asks first)", destructive: true),
        KeyBinding([.character("p")], "prune by retention policy (preview, then confirm)", destructive: true),
        KeyBinding([.character("R")], "restore it: the wizard shows the plan first", destructive: true),
        KeyBinding([.character("/")], "filter by name or health", footer: "filter"),
        KeyBinding([.character("s")], "sort by the next column"),
        KeyBinding([.character("S")], "reverse the sort order"),
        KeyBinding([.character("r")], "reload the directory"),
    ]

    public var selectedEntry: SnapshotEntry? { visible.indices.contains(selected) ? visible[selected] : nil }

    mutating func apply(_ listing: CatalogListing, freeBytes: Int64?) {
        let keep = selectedEntry?.name
        entries = listing.entries
        leftoverParts = listing.leftoverParts
        warnings = listing.warnings
        self.freeBytes = freeBytes
        loaded = true
        loadError = nil
        if let marked, !entries.contains(where: { $0.name == marked.name }) { self.marked = nil }
        refreshVisible()
        if let keep, let index = visible.firstIndex(where: { $0.name == keep }) { selected = index }
    }

    private mutating func refreshVisible() {
        let needle = filter.lowercased()
        var rows = needle.isEmpty ? entries : entries.filter {
            $0.name.lowercased().contains(needle) || $0.health.rawValue.contains(needle) || ($0.memberName ?? "").lowercased().contains(needle)
        }
        if sort != .takenAt || !descending {
            let ascending: (SnapshotEntry, SnapshotEntry) -> Bool
            switch sort {
            case .takenAt: ascending = { ($0.takenAt, $0.name) < ($1.takenAt, $1.name) }
            case .name: ascending = { $0.name < $1.name }
            case .size: ascending = { ($0.size, $0.name) < ($1.size, $1.name) }
            case .revision: ascending = { ($0.revision ?? -1, $0.name) < ($1.revision ?? -1, $1.name) }
            case .keys: ascending = { ($0.liveKeys ?? -1, $0.name) < ($1.liveKeys ?? -1, $1.name) }
            case .health: ascending = { ($0.health, $0.name) < ($1.health, $1.name) }
            }
            rows.sort { descending ? ascending($1, $0) : ascending($0, $1) }
        }
        visible = rows
        selected = min(selected, max(0, visible.count - 1))
    }

    mutating func handle(_ key: Key, readonly: Bool) -> ScreenAction {
        if editingFilter { return handleFilter(key) }
        if let moved = moveSelection(selected, count: visible.count, key: key, page: 10) {
            selected = moved
            return .handled
        }
        guard KeyBinding.allows(key, in: Self.bindings, readonly: readonly) else {
            if readonly, Self.bindings.contains(where: { $0.keys.contains(key) }) {
                return .refused("read-only session (--readonly): \(key.label) is not available")
            }
            return .unhandled
        }
        let ref = selectedEntry.map { SnapshotRef(name: $0.name, path: $0.path) }
        switch key {
        case .character("n"):
            return .saveSnapshot
        case .character("r"):
            return .effect(.loadSnapshots)
        case .character("/"):
            editingFilter = true
            return .handled
        case .character("s"):
            let all = SortColumn.allCases
            sort = all[(all.firstIndex(of: sort)! + 1) % all.count]
            descending = sort != .name && sort != .health
            refreshVisible()
            return .message("sorted by \(sort.rawValue), \(descending ? "descending" : "ascending")")
        case .character("S"):
            descending.toggle()
            refreshVisible()
            return .message("sorted by \(sort.rawValue), \(descending ? "descending" : "ascending")")
        case .character("p"):
            return .effect(.planPrune)
        default:
            break
        }
        guard let ref else { return .refused("no snapshot selected") }
        switch key {
        case .character("v"):
            return .verify(ref)
        case .character("R"):
            return .effect(.planRestore(ref))
        case .enter:
            return .effect(.browse(ref))
        case .character(" "):
            if marked == ref {
                marked = nil
                return .message("unmarked \(ref.name)")
            }
            marked = ref
            return .message("marked \(ref.name): select another snapshot and press D to diff")
        case .character("D"):
            guard let marked else { return .refused("mark a snapshot with space first, then press D on another one") }
            guard marked != ref else { return .refused("select a different snapshot than the marked one to diff") }
            let markedEntry = entries.first { $0.name == marked.name }
            let selectedOlder = (selectedEntry?.takenAt ?? .distantPast) < (markedEntry?.takenAt ?? .distantPast)
            return .effect(selectedOlder ? .diff(from: ref, to: marked) : .diff(from: marked, to: ref))
        case .control("d"):
            let entry = selectedEntry!
            return .confirm(Confirmation(
                title: "Delete snapshot?",
                lines: [entry.name, "\(formatBytesLine(entry)) · health \(entry.health)",
                        "The file and its .meta.json are removed. This cannot be undone."],
                action: .delete(ref)))
        default:
            return .unhandled
        }
    }

    private func formatBytesLine(_ entry: SnapshotEntry) -> String {
        bytes(Int64(entry.size)) + (entry.revision.map { " · revision \($0)" } ?? "")
    }

    private mutating func handleFilter(_ key: Key) -> ScreenAction {
        switch key {
        case .enter:
            editingFilter = false
        case .escape:
            editingFilter = false
            filter = ""
            refreshVisible()
        case .backspace:
            if !filter.isEmpty { filter.removeLast() }
            refreshVisible()
        case .character(let c):
            filter.append(c)
            refreshVisible()
        default:
            return .handled
        }
        return .handled
    }

    /// Esc on this screen: clears an active filter.
    mutating func clearFilter() -> Bool {
        guard !filter.isEmpty else { return false }
        filter = ""
        refreshVisible()
        return true
    }

    // MARK: - Rendering

    static let columns = [
        TableColumn(title: "NAME", priority: 9, maxWidth: 44), TableColumn(title: "TAKEN AT", priority: 3),
        TableColumn(title: "AGE", alignRight: true, priority: 8), TableColumn(title: "SIZE", alignRight: true, priority: 7),
        TableColumn(title: "REVISION", alignRight: true, priority: 5), TableColumn(title: "KEYS", alignRight: true, priority: 4),
        TableColumn(title: "HEALTH", priority: 9, maxWidth: 12),
    ]

    static func healthMark(_ health: SnapshotHealth) -> String {
        switch health {
        case .good: return "✓ good"
        case .corrupt: return "✗ corrupt"
        case .unverified: return "? unverified"
        }
    }

    static func style(_ health: SnapshotHealth) -> CellStyle {
        switch health {
        case .good: .good
        case .corrupt: .bad
        case .unverified: .warning
        }
    }

    func render(into grid: inout TextGrid, area: Area, context: RenderContext) {
        let detailHeight = area.height >= 30 ? 11 : 7
        let tableHeight = area.height - detailHeight - 1
        var row = area.top
        if !loaded {
            grid.put(" reading \(directory)…", row: row, column: 0, style: .dim)
            return
        }
        if let loadError {
            for line in wrap("cannot list \(directory): \(loadError)", width: area.width - 2) {
                grid.put(" " + line, row: row, column: 0, style: .bad)
                row += 1
            }
            return
        }
        if entries.isEmpty {
            grid.put(" no snapshots in \(directory) yet", row: row, column: 0, style: .warning)
            grid.put(" press n to take one now", row: row + 1, column: 0)
            return
        }
        let bodyHeight = tableHeight - 1
        let offset = scrollOffset(selected: selected, count: visible.count, height: bodyHeight)
        let shown = Array(visible[offset..<min(visible.count, offset + bodyHeight)])
        let rows = shown.map { e -> [String] in
            [e.name, context.clock.dateTime(e.takenAt), age(e.ageSeconds(now: context.now)), bytes(Int64(e.size)),
             e.revision.map(String.init) ?? "-", e.liveKeys.map(String.init) ?? "-", Self.healthMark(e.health)]
        }
        let table = TableLayout(Self.columns, rows: rows, width: area.width - 2)
        let arrow = descending ? "↓" : "↑"
        var header = table.header
        if let title = Self.columns.first(where: { $0.title.lowercased() == sort.rawValue }), let range = header.range(of: title.title) {
            header.replaceSubrange(range, with: title.title + arrow)
        }
        grid.put("  " + header, row: row, column: 0, style: .header)
        row += 1
        if visible.isEmpty {
            grid.put(" no snapshot matches the filter \"\(filter)\" (esc clears it)", row: row, column: 0, style: .warning)
        }
        for (i, entry) in shown.enumerated() {
            let index = offset + i
            let mark = marked?.name == entry.name ? "+" : " "
            let style: CellStyle = index == selected ? .selected
                : entry.health == .good ? .normal : Self.style(entry.health)
            grid.put((index == selected ? ">" : " ") + mark + table.line(rows[i]), row: row, column: 0, style: style)
            row += 1
        }
        renderDetail(into: &grid, top: area.top + tableHeight, height: detailHeight, width: area.width, context: context)
        grid.put(" " + footer(context), row: area.top + area.height - 1, column: 0, style: .dim)
    }

    func footer(_ context: RenderContext) -> String {
        let total = entries.reduce(Int64(0)) { $0 + Int64($1.size) }
        var parts = ["\(entries.count) snapshots" + (visible.count != entries.count ? " (\(visible.count) shown)" : ""),
                     "total \(bytes(total))"]
        parts.append("free \(freeBytes.map(bytes) ?? "?")")
        if let good = entries.first(where: { $0.health == .good }) {
            parts.append("newest good \(age(good.ageSeconds(now: context.now))) ago")
        } else {
            parts.append("NO GOOD SNAPSHOT")
        }
        if !leftoverParts.isEmpty { parts.append("\(leftoverParts.count) leftover .part") }
        if !filter.isEmpty || editingFilter { parts.append("filter \"\(filter)\"") }
        return parts.joined(separator: " · ")
    }

    private func renderDetail(into grid: inout TextGrid, top: Int, height: Int, width: Int, context: RenderContext) {
        guard let e = selectedEntry else { return }
        grid.put(String(repeating: "─", count: width), row: top, column: 0, style: .dim)
        grid.put(" \(e.name) ", row: top, column: 2, style: .title)
        var lines: [(String, CellStyle)] = []
        let source = e.takenAtSource == .sidecar ? "" : " (from the \(e.takenAtSource == .fileName ? "file name" : "file's mtime"))"
        lines.append(("taken \(context.clock.fullDateTime(e.takenAt))\(source) · \(bytes(Int64(e.size))) · revision \(e.revision.map(String.init) ?? "?") · \(e.liveKeys.map(String.init) ?? "?") keys", .normal))
        let healthStyle = Self.style(e.health)
        lines.append(("health \(e.health)" + (e.reason.map { ": \($0)" } ?? ""), healthStyle))
        if let resources = e.resources, !resources.isEmpty {
            let sorted = resources.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            let items = sorted.map { "\($0.key) \($0.value)" }
            lines += wrapItems(["objects:"] + items, width: width - 2).map { ($0.replacingOccurrences(of: "objects: · ", with: "objects: "), .normal) }
        } else {
            lines.append(("objects: " + (e.health == .good ? "no Kubernetes objects" : "not counted (snapshot not good)"), .dim))
        }
        var origin: [String] = []
        if let member = e.memberName { origin.append("member \(member)") }
        if let id = e.memberID { origin.append("id \(id)") }
        if let cluster = e.clusterID { origin.append("cluster \(cluster)") }
        if let version = e.etcdVersion { origin.append("etcd \(version)") }
        origin.append(e.isOurs ? "saved by etcd-console" : "foreign file (no sidecar)")
        lines += wrapItems(origin, width: width - 2).map { ($0, .normal) }
        if let sha = e.sha256 { lines.append(("sha256 \(sha)", .dim)) }
        for (i, line) in lines.prefix(height - 1).enumerated() {
            grid.put(" " + line.0, row: top + 1 + i, column: 0, style: line.1)
        }
    }
}
