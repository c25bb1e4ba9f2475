import Foundation
import SnapshotStore

/// One resource and namespace of a snapshot with how many objects it holds: Browse's first two levels.
public struct BrowseGroup: Sendable, Equatable {
    public var group: SnapshotObjectCounts.Group
    public var count: Int

    public init(_ group: SnapshotObjectCounts.Group, count: Int) {
        self.group = group
        self.count = count
    }

    /// The groups of these objects, in browse order (what a service without a `SnapshotObjectBrowser` answers).
    public static func groups(of objects: [KubernetesObject]) -> [BrowseGroup] {
        var counts: [SnapshotObjectCounts.Group: Int] = [:]
        for o in objects { counts[SnapshotObjectCounts.Group(resource: o.resource, namespace: o.namespace), default: 0] += 1 }
        return counts.keys.sorted().map { BrowseGroup($0, count: counts[$0]!) }
    }
}

/// Which objects of a group Browse wants decoded: `count` from `start` of those whose name contains `filter`.
public struct BrowsePageRequest: Sendable, Equatable {
    public var group: SnapshotObjectCounts.Group
    public var filter: String
    public var start: Int
    public var count: Int

    public init(group: SnapshotObjectCounts.Group, filter: String, start: Int, count: Int) {
        self.group = group
        self.filter = filter
        self.start = start
        self.count = count
    }
}

/// A page of decoded objects: `objects[i]` is row `start + i` of the `total` rows the request's filter leaves, and
/// `positions[i]` its place among all of the group's objects (sorted by name).
public struct BrowsePage: Sendable, Equatable {
    public var request: BrowsePageRequest
    public var total: Int
    public var objects: [KubernetesObject]
    public var positions: [Int]

    public init(request: BrowsePageRequest, total: Int, objects: [KubernetesObject], positions: [Int]) {
        self.request = request
        self.total = total
        self.objects = objects
        self.positions = positions
    }

    /// The page `request` asks for, cut from all of a group's objects (sorted by name).
    public static func cut(_ request: BrowsePageRequest, from all: [KubernetesObject]) -> BrowsePage {
        let needle = request.filter.lowercased()
        let matching = all.indices.filter { needle.isEmpty || all[$0].name.lowercased().contains(needle) }
        let lower = min(max(request.start, 0), matching.count), upper = min(lower + max(request.count, 0), matching.count)
        let positions = Array(matching[lower..<upper])
        return BrowsePage(request: request, total: matching.count, objects: positions.map { all[$0] }, positions: positions)
    }
}

/// Browse: the Kubernetes objects in a snapshot, offline, by resource → namespace → name → one object's
/// metadata. Secrets show metadata only; their data is never read (`KubernetesObject` has no field for it).
///
/// Bounded at any snapshot size (issue 13): the screen holds the per-namespace counts and one page of decoded objects
/// (`pageSize` rows around the selection); moving past the page or typing a filter asks for another
/// (`Effect.browsePage`), and rows not loaded yet show as "…". Built from a list of objects (`init(objects:)`), it
/// cuts its pages from that list itself.
public struct BrowseScreen: Sendable {
    public enum Level: Sendable, Equatable {
        case resources
        case namespaces(resource: String)
        case objects(resource: String, namespace: String)
        /// `index`: the object's place among all of the namespace's objects, whatever the filter showed.
        case object(resource: String, namespace: String, index: Int)
    }

    public let snapshot: SnapshotRef
    public let groups: [BrowseGroup]
    /// All objects, when the screen was given them; nil when pages come from the runtime.
    private let local: [KubernetesObject]?
    /// The loaded page of the objects level, and the request still out, if any.
    public private(set) var page: BrowsePage?
    public private(set) var pending: BrowsePageRequest?
    /// The object the object level shows.
    private var shown: KubernetesObject?
    public private(set) var level: Level = .resources
    /// Selection per level, so `esc` returns to where the operator was.
    private var selections: [Int] = [0]
    /// The `/` filter on the current level's rows (case-insensitive substring); cleared on a level change.
    public private(set) var filter = ""
    /// The `/` prompt is open: keys go into the filter until enter or esc.
    public private(set) var editingFilter = false
    /// Why the snapshot cannot be trusted (it was read anyway): shown above the rows.
    public let damage: String?

    static let clusterScoped = "(cluster)"
    /// Objects decoded per page; a page is asked for around the selection when it comes within `pageMargin` rows of
    /// the loaded page's edge.
    public static let pageSize = 200
    static let pageMargin = 40

    public init(snapshot: SnapshotRef, objects: [KubernetesObject], damage: String? = nil) {
        self.snapshot = snapshot
        groups = BrowseGroup.groups(of: objects)
        local = objects
        self.damage = damage
    }

    /// A screen whose pages the runtime loads (`Effect.browsePage`, then `receive(_:)`).
    public init(snapshot: SnapshotRef, groups: [BrowseGroup], damage: String? = nil) {
        self.snapshot = snapshot
        self.groups = groups
        local = nil
        self.damage = damage
    }

    static let bindings: [KeyBinding] = [
        KeyBinding([.up, .down], "select"),
        KeyBinding([.character("/")], "filter the rows of this level (esc clears)", footer: "filter"),
        KeyBinding([.enter, .right], "open the selected resource, namespace or object", footer: "open"),
        KeyBinding([.escape, .left], "up one level (closes browse at the top)", footer: "back"),
    ]

    var selected: Int { selections.last ?? 0 }

    /// The rows of the current level: label and count (count nil for objects), the filter applied. At the objects
    /// level, the rows of the loaded page only (`rowCount` is how many there are in all).
    func items() -> [(String, Int?)] {
        switch level {
        case .resources, .namespaces:
            let all = groupRows()
            guard !filter.isEmpty else { return all }
            let needle = filter.lowercased()
            return all.filter { label, _ in
                label.lowercased().contains(needle) || (level == .resources && Self.displayName(label).lowercased().contains(needle))
            }
        case .objects:
            return currentPage?.objects.map { ($0.name, nil) } ?? []
        case .object:
            return []
        }
    }

    /// Rows at the current level (at the objects level, all the filter leaves, loaded or not; nil while unknown).
    var rowCount: Int? {
        if case .objects = level { return currentPage?.total }
        return items().count
    }

    /// The loaded page, when it belongs to the current objects level and filter.
    private var currentPage: BrowsePage? {
        guard case .objects(let resource, let namespace) = level, let page,
              page.request.group == group(resource, namespace), page.request.filter == filter else { return nil }
        return page
    }

    /// A storage resource as the operator knows it: "services (services/specs)", "nodes (minions)".
    static func displayName(_ resource: String) -> String { KubernetesResourceName.display(storage: resource) }

    private func groupRows() -> [(String, Int?)] {
        switch level {
        case .resources:
            var counts: [String: Int] = [:]
            for g in groups { counts[g.group.resource, default: 0] += g.count }
            return counts.keys.sorted().map { ($0, counts[$0]) }
        case .namespaces(let resource):
            return groups.filter { $0.group.resource == resource }
                .map { ($0.group.namespace ?? Self.clusterScoped, $0.count) }
                .sorted { $0.0 < $1.0 }
        default:
            return []
        }
    }

    private func group(_ resource: String, _ namespace: String) -> SnapshotObjectCounts.Group {
        SnapshotObjectCounts.Group(resource: resource, namespace: namespace == Self.clusterScoped ? nil : namespace)
    }

    /// Asks for the page around the selection when it is not loaded (or comes near the loaded page's edge);
    /// from the screen's own list when it has one.
    private mutating func pageAction() -> ScreenAction {
        guard case .objects(let resource, let namespace) = level else { return .handled }
        let selected = self.selected
        if let page = currentPage {
            let start = page.request.start, end = start + page.objects.count
            let nearStart = start > 0 && selected < start + Self.pageMargin
            let nearEnd = end < page.total && selected >= end - Self.pageMargin
            guard nearStart || nearEnd else { return .handled }
        }
        let request = BrowsePageRequest(group: group(resource, namespace), filter: filter,
                                        start: max(0, selected - Self.pageSize / 2), count: Self.pageSize)
        if let page = currentPage, page.request.start == request.start { return .handled }
        if let local {
            let all = local.filter { group($0.resource, $0.namespace ?? Self.clusterScoped) == request.group }
            page = BrowsePage.cut(request, from: all)
            return .handled
        }
        // The page on its way covers the selection: wait for it rather than ask again at every key.
        if let pending, pending.group == request.group, pending.filter == request.filter,
           (pending.start..<(pending.start + pending.count)).contains(selected) { return .handled }
        pending = request
        return .effect(.browsePage(snapshot, request))
    }

    /// A page the runtime loaded; ignored unless it is the one last asked for.
    public mutating func receive(_ loaded: BrowsePage) {
        guard loaded.request == pending else { return }
        pending = nil
        page = loaded
        if let total = rowCount, selected >= total, total > 0 { selections[selections.count - 1] = total - 1 }
    }

    mutating func handle(_ key: Key) -> ScreenAction {
        if editingFilter { return handleFilter(key) }
        if key == .character("/"), !isObjectLevel {
            editingFilter = true
            return .handled
        }
        if key == .escape, !filter.isEmpty {
            return setFilter("")
        }
        if !isObjectLevel, let moved = moveSelection(selected, count: rowCount ?? 0, key: key, page: 10) {
            selections[selections.count - 1] = moved
            return pageAction()
        }
        switch key {
        case .enter, .right:
            switch level {
            case .resources, .namespaces:
                let rows = items()
                guard rows.indices.contains(selected) else { return .handled }
                let label = rows[selected].0
                if case .namespaces(let resource) = level {
                    level = .objects(resource: resource, namespace: label)
                } else {
                    level = .namespaces(resource: label)
                }
                selections.append(0)
                filter = ""
                return pageAction()
            case .objects(let resource, let namespace):
                guard let page = currentPage, case let row = selected - page.request.start,
                      page.objects.indices.contains(row) else { return .handled }
                shown = page.objects[row]
                level = .object(resource: resource, namespace: namespace, index: page.positions[row])
                selections.append(0)
                filter = ""
                return .handled
            case .object:
                return .handled
            }
        case .escape, .left:
            switch level {
            case .resources: return .close
            case .namespaces: level = .resources
            case .objects(let resource, _): level = .namespaces(resource: resource)
            case .object(let resource, let namespace, _): level = .objects(resource: resource, namespace: namespace)
            }
            selections.removeLast()
            filter = ""
            return pageAction()
        default:
            return .unhandled
        }
    }

    private var isObjectLevel: Bool {
        if case .object = level { return true }
        return false
    }

    private mutating func setFilter(_ text: String) -> ScreenAction {
        filter = text
        selections[selections.count - 1] = 0
        return pageAction()
    }

    private mutating func handleFilter(_ key: Key) -> ScreenAction {
        switch key {
        case .enter:
            editingFilter = false
        case .escape:
            editingFilter = false
            return setFilter("")
        case .backspace:
            if !filter.isEmpty { return setFilter(String(filter.dropLast())) }
        case .character(let c):
            return setFilter(filter + String(c))
        default:
            break
        }
        return .handled
    }

    var path: String {
        switch level {
        case .resources: return "resources"
        case .namespaces(let r): return r
        case .objects(let r, let n): return "\(r) › \(n)"
        case .object(let r, let n, _): return "\(r) › \(n) › \(shown?.name ?? "")"
        }
    }

    func render(into grid: inout TextGrid, area: Area, context: RenderContext) {
        let filterText = editingFilter ? "  /\(filter)▏" : filter.isEmpty ? "" : "  filter: \(filter)"
        grid.put(" Browse \(snapshot.name) › \(path)" + filterText, row: area.top, column: 0, style: .title)
        var area = area
        if let damage {
            let lines = damageLines(damage, width: area.width)
            for (i, line) in lines.enumerated() { grid.put(line, row: area.top + 1 + i, column: 0, style: .bad) }
            area.top += lines.count
            area.height -= lines.count
        }
        var row = area.top + 2
        if case .object = level, let object = shown {
            for (label, value) in Self.fields(object, clock: context.clock) where row < area.top + area.height {
                for (i, line) in wrap(value, width: max(10, area.width - 16)).enumerated() where row < area.top + area.height {
                    grid.put(" " + (i == 0 ? label : "").fitted(14, pad: true) + line, row: row, column: 0)
                    row += 1
                }
            }
            return
        }
        if groups.isEmpty {
            grid.put(" this snapshot holds no Kubernetes objects", row: row, column: 0, style: .warning)
            return
        }
        guard let count = rowCount else {
            grid.put(" reading objects…", row: row, column: 0, style: .warning)
            return
        }
        if count == 0 {
            grid.put(" nothing matches the filter \"\(filter)\" (esc clears it)", row: row, column: 0, style: .warning)
            return
        }
        let header = level == .resources ? "RESOURCE" : { if case .namespaces = level { return "NAMESPACE" } else { return "NAME" } }()
        let isObjects = { if case .objects = level { return true } else { return false } }()
        grid.put("  " + header.fitted(area.width - 14, pad: true) + (isObjects ? "" : "  OBJECTS"), row: area.top + 1, column: 0, style: .header)
        let height = area.height - 2
        let offset = scrollOffset(selected: selected, count: count, height: height)
        let rows = items()
        // At the objects level rows are the loaded page's, from its start; the rest show as "…" until it comes.
        let first = isObjects ? currentPage?.request.start ?? 0 : 0
        for i in offset..<min(count, offset + height) {
            let item: (String, Int?) = rows.indices.contains(i - first) ? rows[i - first] : ("…", nil)
            let count = item.1.map { String($0).fitted(7, pad: true, alignRight: true) } ?? ""
            let label = level == .resources ? Self.displayName(item.0) : item.0
            grid.put((i == selected ? "> " : "  ") + label.fitted(area.width - 14, pad: true) + "  " + count,
                     row: row, column: 0, style: i == selected ? .selected : .normal)
            row += 1
        }
    }

    /// One object's metadata, labelled; a Secret says its data is redacted.
    static func fields(_ o: KubernetesObject, clock: ConsoleClock) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("key", o.etcdKey), ("resource", displayName(o.resource)), ("namespace", o.namespace ?? "(cluster-scoped)"),
            ("name", o.name), ("kind", o.kind ?? "-"), ("apiVersion", o.apiVersion ?? "-"), ("uid", o.uid ?? "-"),
            ("created", o.creationTimestamp.map(clock.fullDateTime) ?? "-"),
            ("labels", o.labels.isEmpty ? "-" : o.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")),
            ("value size", bytes(Int64(o.valueSize))), ("encoding", o.encoding.rawValue),
        ]
        if let deleted = o.deletionTimestamp {
            fields.append(("deleting", "since " + clock.fullDateTime(deleted)
                + (o.finalizers.isEmpty ? "" : " (stuck terminating until its finalizers are removed)")))
        }
        if !o.finalizers.isEmpty { fields.append(("finalizers", o.finalizers.joined(separator: ", "))) }
        if !o.ownerReferences.isEmpty {
            fields.append(("owners", o.ownerReferences.map { "\($0.kind)/\($0.name)" + ($0.controller ? " (controller)" : "") }
                .joined(separator: ", ")))
        }
        if let encryption = o.encryption {
            fields.append(("encrypted by", "provider \(encryption.provider) (\(encryption.version)), key \(encryption.keyName)"))
        }
        if let problem = o.problem { fields.append(("problem", problem)) }
        if o.resource == "secrets" { fields.append(("data", "(redacted: Secret values are never read or shown)")) }
        return fields
    }
}
