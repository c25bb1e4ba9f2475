import Foundation
import SnapshotStore

/// Browse: the Kubernetes objects in a snapshot, offline, by resource → namespace → name → one object's
/// metadata. Secrets show metadata only; their data is never read (`KubernetesObject` has no field for it).
public struct BrowseScreen: Sendable {
    public enum Level: Sendable, Equatable {
        case resources
        case namespaces(resource: String)
        case objects(resource: String, namespace: String)
        case object(resource: String, namespace: String, index: Int)
    }

    public let snapshot: SnapshotRef
    let objects: [KubernetesObject]
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

    public init(snapshot: SnapshotRef, objects: [KubernetesObject], damage: String? = nil) {
        self.snapshot = snapshot
        self.objects = objects
        self.damage = damage
    }

    static let bindings: [KeyBinding] = [
        KeyBinding([.up, .down], "select"),
        KeyBinding([.character("/")], "filter the rows of this level (esc clears)", footer: "filter"),
        KeyBinding([.enter, .right], "open the selected resource, namespace or object", footer: "open"),
        KeyBinding([.escape, .left], "up one level (closes browse at the top)", footer: "back"),
    ]

    var selected: Int { selections.last ?? 0 }

    /// The rows of the current level: label and count (count nil for objects), the filter applied.
    func items() -> [(String, Int?)] {
        let all = allItems()
        guard !filter.isEmpty else { return all }
        let needle = filter.lowercased()
        return all.filter { label, _ in
            label.lowercased().contains(needle) || (level == .resources && Self.displayName(label).lowercased().contains(needle))
        }
    }

    /// A storage resource as the operator knows it: "services (services/specs)", "nodes (minions)".
    static func displayName(_ resource: String) -> String { KubernetesResourceName.display(storage: resource) }

    private func allItems() -> [(String, Int?)] {
        switch level {
        case .resources:
            return counts(objects.map(\.resource))
        case .namespaces(let resource):
            return counts(objects.filter { $0.resource == resource }.map { $0.namespace ?? Self.clusterScoped })
        case .objects(let resource, let namespace):
            return matching(resource, namespace).map { ($0.name, nil) }
        case .object:
            return []
        }
    }

    private func counts(_ labels: [String]) -> [(String, Int?)] {
        var counts: [String: Int] = [:]
        for label in labels { counts[label, default: 0] += 1 }
        return counts.keys.sorted().map { ($0, counts[$0]) }
    }

    private func matching(_ resource: String, _ namespace: String) -> [KubernetesObject] {
        objects.filter { $0.resource == resource && ($0.namespace ?? Self.clusterScoped) == namespace }
    }

    mutating func handle(_ key: Key) -> ScreenAction {
        if editingFilter { return handleFilter(key) }
        if key == .character("/"), !isObjectLevel {
            editingFilter = true
            return .handled
        }
        if key == .escape, !filter.isEmpty {
            setFilter("")
            return .handled
        }
        let rows = items()
        if case .object = level {} else if let moved = moveSelection(selected, count: rows.count, key: key, page: 10) {
            selections[selections.count - 1] = moved
            return .handled
        }
        switch key {
        case .enter, .right:
            guard rows.indices.contains(selected) else { return .handled }
            let label = rows[selected].0
            switch level {
            case .resources: level = .namespaces(resource: label)
            case .namespaces(let resource): level = .objects(resource: resource, namespace: label)
            case .objects(let resource, let namespace):
                // The index into all of the namespace's objects, whatever the filter shows.
                let all = matching(resource, namespace)
                level = .object(resource: resource, namespace: namespace, index: all.firstIndex { $0.name == label } ?? 0)
            case .object: return .handled
            }
            selections.append(0)
            filter = ""
            return .handled
        case .escape, .left:
            switch level {
            case .resources: return .close
            case .namespaces: level = .resources
            case .objects(let resource, _): level = .namespaces(resource: resource)
            case .object(let resource, let namespace, _): level = .objects(resource: resource, namespace: namespace)
            }
            selections.removeLast()
            filter = ""
            return .handled
        default:
            return .unhandled
        }
    }

    private var isObjectLevel: Bool {
        if case .object = level { return true }
        return false
    }

    private mutating func setFilter(_ text: String) {
        filter = text
        selections[selections.count - 1] = 0
    }

    private mutating func handleFilter(_ key: Key) -> ScreenAction {
        switch key {
        case .enter:
            editingFilter = false
        case .escape:
            editingFilter = false
            setFilter("")
        case .backspace:
            if !filter.isEmpty { setFilter(String(filter.dropLast())) }
        case .character(let c):
            setFilter(filter + String(c))
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
        case .object(let r, let n, let i): return "\(r) › \(n) › \(matching(r, n)[i].name)"
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
        if case .object(let resource, let namespace, let index) = level {
            let object = matching(resource, namespace)[index]
            for (label, value) in Self.fields(object, clock: context.clock) where row < area.top + area.height {
                for (i, line) in wrap(value, width: max(10, area.width - 16)).enumerated() where row < area.top + area.height {
                    grid.put(" " + (i == 0 ? label : "").fitted(14, pad: true) + line, row: row, column: 0)
                    row += 1
                }
            }
            return
        }
        let rows = items()
        if objects.isEmpty {
            grid.put(" this snapshot holds no Kubernetes objects", row: row, column: 0, style: .warning)
            return
        }
        if rows.isEmpty {
            grid.put(" nothing matches the filter \"\(filter)\" (esc clears it)", row: row, column: 0, style: .warning)
            return
        }
        let header = level == .resources ? "RESOURCE" : { if case .namespaces = level { return "NAMESPACE" } else { return "NAME" } }()
        grid.put("  " + header.fitted(area.width - 14, pad: true) + (rows.first?.1 == nil ? "" : "  OBJECTS"), row: area.top + 1, column: 0, style: .header)
        let height = area.height - 2
        let offset = scrollOffset(selected: selected, count: rows.count, height: height)
        for (i, item) in rows.enumerated().dropFirst(offset).prefix(height) {
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
