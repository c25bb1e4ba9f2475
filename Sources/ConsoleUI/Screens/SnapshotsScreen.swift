import Foundation
import SnapshotStore

/// Snapshots: the catalog as a table with a detail pane; take, verify, browse, diff, delete and prune.
public struct SnapshotsScreen: Sendable {
    public enum SortColumn: String, Sendable, CaseIterable {
        case takenAt = "taken at", name, size, revision, keys, health
    }

    public private(set) var entries: [SnapshotEntry] = []
    /// The newest good local snapshot and the entries' total size, kept with `entries` (every frame's header and
    /// footer need them; 10,000 entries are not walked per frame).
    public private(set) var newestGood: SnapshotEntry?
    public private(set) var totalBytes: Int64 = 0
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
    /// `s3://bucket/prefix/` when a remote is configured: the WHERE column, remote-only rows, `u` and `P`.
    public var remoteLocation: String?
    /// The offsite copies as last read (cache, record, listing).
    public private(set) var offsite: OffsiteView?
    /// Remote copies with no local file, as rows (`path` empty; `isRemoteOnly` tells them apart).
    public private(set) var remoteOnly: [SnapshotEntry] = []
    /// The last failed upload of each snapshot: shown in its detail ("not offsite: ...").
    public var uploadErrors: [String: String] = [:]
    /// The bundles beside the snapshots (detail pane) and expiring certificates (header); nil until read.
    public var controlPlane: ControlPlaneView?

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

    /// Only with a remote configured.
    static let remoteBindings: [KeyBinding] = [
        KeyBinding([.character("u")], "upload the selected snapshot to the remote"),
        KeyBinding([.character("P")], "pull the selected remote-only snapshot into the directory"),
    ]

    /// This screen's keys now: the offsite ones only when a remote is configured.
    var bindings: [KeyBinding] { remoteLocation == nil ? Self.bindings : Self.bindings + Self.remoteBindings }

    /// True for a row that is only in the bucket.
    public func isRemoteOnly(_ entry: SnapshotEntry) -> Bool { entry.path.isEmpty && remoteLocation != nil }

    /// Where `entry` lives; nil without a remote.
    public func location(of entry: SnapshotEntry) -> SnapshotLocation? {
        guard remoteLocation != nil else { return nil }
        if isRemoteOnly(entry) { return .remote }
        if offsite?.copy(named: entry.name) != nil || offsite?.offsite.contains(entry.name) == true { return .both }
        return entry.health == .good ? .notOffsite : .local
    }

    mutating func apply(offsite view: OffsiteView) {
        let keep = selectedEntry?.name
        offsite = view
        rebuildRemoteOnly()
        refreshVisible()
        if let keep, let index = visible.firstIndex(where: { $0.name == keep }) { selected = index }
    }

    /// The remote copies without a local file, as entries the table sorts and filters with the local ones.
    private mutating func rebuildRemoteOnly() {
        let local = Set(entries.map(\.name))
        remoteOnly = (offsite?.copies ?? []).filter { !local.contains($0.name) }.map {
            SnapshotEntry(name: $0.name, path: "", size: Int($0.dbSize), modified: $0.takenAt, takenAt: $0.takenAt,
                          takenAtSource: .sidecar, health: $0.health, reason: $0.problem, revision: $0.revision,
                          clusterID: $0.clusterID, memberID: $0.memberID, memberName: $0.memberName,
                          etcdVersion: $0.etcdVersion, isOurs: true)
        }
    }

    public var selectedEntry: SnapshotEntry? { visible.indices.contains(selected) ? visible[selected] : nil }

    mutating func apply(_ listing: CatalogListing, freeBytes: Int64?) {
        let keep = selectedEntry?.name
        entries = listing.entries
        newestGood = entries.lazy.filter { $0.health == .good }.max { $0.takenAt < $1.takenAt }
        totalBytes = entries.reduce(Int64(0)) { $0 + Int64($1.size) }
        leftoverParts = listing.leftoverParts
        warnings = listing.warnings
        self.freeBytes = freeBytes
        loaded = true
        loadError = nil
        if let marked, !entries.contains(where: { $0.name == marked.name }) { self.marked = nil }
        rebuildRemoteOnly()
        refreshVisible()
        if let keep, let index = visible.firstIndex(where: { $0.name == keep }) { selected = index }
    }

    private mutating func refreshVisible() {
        let needle = filter.lowercased()
        let all = entries + remoteOnly
        var rows = needle.isEmpty ? all : all.filter {
            $0.name.lowercased().contains(needle) || $0.health.rawValue.contains(needle) || ($0.memberName ?? "").lowercased().contains(needle)
                || (location(of: $0)?.rawValue.contains(needle) ?? false)
        }
        if sort != .takenAt || !descending || !remoteOnly.isEmpty {
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
        if remoteLocation == nil, Self.remoteBindings.contains(where: { $0.keys.contains(key) }) {
            return .refused("no remote is configured: set remote.endpoint and remote.bucket in the config file (or ETCD_CONSOLE_REMOTE_ENDPOINT and ETCD_CONSOLE_REMOTE_BUCKET)")
        }
        guard KeyBinding.allows(key, in: bindings, readonly: readonly) else {
            if readonly, bindings.contains(where: { $0.keys.contains(key) }) {
                return .refused("read-only session (--readonly): \(key.label) is not available")
            }
            return .unhandled
        }
        let ref = selectedEntry.map { SnapshotRef(name: $0.name, path: $0.path) }
        switch key {
        case .character("n"):
            return .saveSnapshot
        case .character("r"):
            return .reload
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
        guard let ref, let entry = selectedEntry else { return .refused("no snapshot selected") }
        if isRemoteOnly(entry) { return handleRemoteOnly(key, entry) }
        switch key {
        case .character("u"):
            guard entry.health == .good else {
                return .refused("\(entry.name) is \(entry.health.rawValue): only good snapshots are copied offsite")
            }
            if let copy = offsite?.copy(named: entry.name) {
                return .refused("\(entry.name) is already offsite (\(copy.objectKey))")
            }
            return .upload(ref)
        case .character("P"):
            return .refused("\(entry.name) is already in \(directory): P pulls snapshots that are only in the bucket")
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

    /// `v`, `P` and `R` work on a copy that is only in the bucket; the rest need a local file and say so.
    private func handleRemoteOnly(_ key: Key, _ entry: SnapshotEntry) -> ScreenAction {
        if entry.health != .good, key == .character("P") || key == .character("R") {
            return .refused("the remote copy of \(entry.name) cannot be used: \(entry.reason ?? entry.health.rawValue)")
        }
        switch key {
        case .character("v"): return .verifyRemote(entry.name)
        case .character("P"): return .pull(entry.name, thenRestore: false)
        case .character("R"): return .pull(entry.name, thenRestore: true)
        case .enter: return .refused("\(entry.name) is only in the bucket: browse reads a local file; press P to pull it first")
        case .character(" "), .character("D"):
            return .refused("\(entry.name) is only in the bucket: diff reads local files; press P to pull it first")
        case .control("d"): return .refused("\(entry.name) is only in the bucket: delete removes local files (remote copies follow remote.retention)")
        case .character("u"): return .refused("\(entry.name) is already in the bucket, and there is no local file to upload")
        default: return .unhandled
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

    static let whereColumn = TableColumn(title: "WHERE", priority: 6, maxWidth: 11)

    /// The table's columns: WHERE (before HEALTH) only when a remote is configured.
    var columns: [TableColumn] {
        guard remoteLocation != nil else { return Self.columns }
        var all = Self.columns
        all.insert(Self.whereColumn, at: all.count - 1)
        return all
    }

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
        if entries.isEmpty && remoteOnly.isEmpty {
            grid.put(" no snapshots in \(directory) yet", row: row, column: 0, style: .warning)
            grid.put(" press n to take one now", row: row + 1, column: 0)
            return
        }
        let bodyHeight = tableHeight - 1
        let offset = scrollOffset(selected: selected, count: visible.count, height: bodyHeight)
        let shown = Array(visible[offset..<min(visible.count, offset + bodyHeight)])
        let columns = self.columns
        let rows = shown.map { e -> [String] in
            var cells = [e.name, context.clock.dateTime(e.takenAt), age(e.ageSeconds(now: context.now)), bytes(Int64(e.size)),
                         e.revision.map(String.init) ?? "-", e.liveKeys.map(String.init) ?? "-", Self.healthMark(e.health)]
            if let location = location(of: e) { cells.insert(location.rawValue, at: cells.count - 1) }
            return cells
        }
        let table = TableLayout(columns, rows: rows, width: area.width - 2)
        let arrow = descending ? "↓" : "↑"
        var header = table.header
        if let title = columns.first(where: { $0.title.lowercased() == sort.rawValue }), let range = header.range(of: title.title) {
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
                : entry.health != .good ? Self.style(entry.health) : isRemoteOnly(entry) ? .dim : .normal
            grid.put((index == selected ? ">" : " ") + mark + table.line(rows[i]), row: row, column: 0, style: style)
            row += 1
        }
        renderDetail(into: &grid, top: area.top + tableHeight, height: detailHeight, width: area.width, context: context)
        grid.put(" " + footer(context), row: area.top + area.height - 1, column: 0, style: .dim)
    }

    func footer(_ context: RenderContext) -> String {
        let total = totalBytes
        let remoteRows = remoteOnly.isEmpty ? "" : " + \(remoteOnly.count) remote only"
        var parts = ["\(entries.count) snapshots" + remoteRows
                     + (visible.count != entries.count + remoteOnly.count ? " (\(visible.count) shown)" : ""),
                     "total \(bytes(total))"]
        parts.append("free \(freeBytes.map(bytes) ?? "?")")
        if let good = newestGood {
            parts.append("newest good \(age(good.ageSeconds(now: context.now))) ago")
        } else {
            parts.append("NO GOOD SNAPSHOT")
        }
        if !leftoverParts.isEmpty { parts.append("\(leftoverParts.count) leftover .part") }
        if !filter.isEmpty || editingFilter { parts.append("filter \"\(filter)\"") }
        return parts.joined(separator: " · ")
    }

    /// Where the selected snapshot's offsite copy is, or why there is none; nothing without a remote.
    private func offsiteLines(_ e: SnapshotEntry, width: Int) -> [(String, CellStyle)] {
        guard let location = location(of: e), let remote = remoteLocation else { return [] }
        let copy = offsite?.copy(named: e.name)
        let object = copy.map { "(\($0.codec), \(bytes($0.objectSize))): \($0.objectKey)" }
        switch location {
        case .remote:
            return [("only in the bucket: v verifies it (streamed), P pulls it, R pulls and restores", .warning),
                    ("object " + (object ?? e.name), .dim)]
        case .both:
            return [("offsite " + (object ?? "in \(remote) (uploaded, not listed yet)"), .good)]
        case .notOffsite:
            if let error = uploadErrors[e.name] {
                // The S3 error is what matters: the snapshot's name is the pane's title already.
                let short = error.replacingOccurrences(of: "could not upload \(e.name) to ", with: "")
                return wrap("not offsite: " + short, width: width).prefix(4).map { ($0, .bad) }
            }
            return [("not offsite: no copy in \(remote) yet · u uploads it (so does the next backup)", .warning)]
        case .local:
            return [("not offsite: only good snapshots are copied to \(remote)", .dim)]
        }
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
            lines.append(("objects: " + (isRemoteOnly(e) ? "not counted here (a remote copy: P pulls it, then enter browses)"
                                         : e.health == .good ? "no Kubernetes objects" : "not counted (snapshot not good)"), .dim))
        }
        var origin: [String] = []
        if let member = e.memberName { origin.append("member \(member)") }
        if let id = e.memberID { origin.append("id \(id)") }
        if let cluster = e.clusterID { origin.append("cluster \(cluster)") }
        if let version = e.etcdVersion { origin.append("etcd \(version)") }
        origin.append(e.isOurs ? "saved by etcd-console" : "foreign file (no sidecar)")
        lines += wrapItems(origin, width: width - 2).map { ($0, .normal) }
        let offsite = offsiteLines(e, width: width - 2)
        lines.insert(contentsOf: offsite, at: 2)
        // The bundle right after health and offsite: at 80x24 the object counts below it may not fit.
        if let line = bundleLine(e, context: context) { lines.insert(line, at: 2 + offsite.count) }
        if let sha = e.sha256 { lines.append(("sha256 \(sha)", .dim)) }
        for (i, line) in lines.prefix(height - 1).enumerated() {
            grid.put(" " + line.0, row: top + 1 + i, column: 0, style: line.1)
        }
    }

    /// "bundle bundle-…tar · 23 files · 41 KiB · 1 cert expiring" beside the detail, or why there is none.
    private func bundleLine(_ e: SnapshotEntry, context: RenderContext) -> (String, CellStyle)? {
        guard let view = controlPlane, !isRemoteOnly(e) else { return nil }
        guard let bundle = view.bundles[e.name] else {
            return e.isOurs ? ("bundle: none kept with this snapshot (backup keeps one; snapshot save does not)", .dim) : nil
        }
        if let problem = bundle.problem { return ("bundle \(bundle.name): \(problem)", .bad) }
        let certs = bundle.expiringCertificates == 0 ? "" : " · \(bundle.expiringCertificates) cert\(bundle.expiringCertificates == 1 ? "" : "s") expiring"
        return ("bundle \(bundle.name) · \(bundle.files) files · \(bytes(bundle.size))\(certs)",
                bundle.expiringCertificates == 0 ? .normal : .warning)
    }
}
