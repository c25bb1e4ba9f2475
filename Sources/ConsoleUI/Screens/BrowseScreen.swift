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

    static let clusterScoped = "(cluster)"

    public init(snapshot: SnapshotRef, objects: [KubernetesObject]) {
        self.snapshot = snapshot
        self.objects = objects
    }

    static let bindings: [KeyBinding] = [
        KeyBinding([.up, .down], "select"),
        KeyBinding([.enter, .right], "open the selected resource, namespace or object", footer: "open"),
        KeyBinding([.escape, .left], "up one level (closes browse at the top)", footer: "back"),
    ]

    var selected: Int { selections.last ?? 0 }

    /// The rows of the current level: label and count (count nil for objects).
    func items() -> [(String, Int?)] {
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
            case .objects(let resource, let namespace): level = .object(resource: resource, namespace: namespace, index: selected)
            case .object: return .handled
            }
            selections.append(0)
            return .handled
        case .escape, .left:
            switch level {
            case .resources: return .close
            case .namespaces: level = .resources
            case .objects(let resource, _): level = .namespaces(resource: resource)
            case .object(let resource, let namespace, _): level = .objects(resource: resource, namespace: namespace)
            }
            selections.removeLast()
            return .handled
        default:
            return .unhandled
        }
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
        grid.put(" Browse \(snapshot.name) › \(path)", row: area.top, column: 0, style: .title)
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
        let header = level == .resources ? "RESOURCE" : { if case .namespaces = level { return "NAMESPACE" } else { return "NAME" } }()
        grid.put("  " + header.fitted(area.width - 14, pad: true) + (rows.first?.1 == nil ? "" : "  OBJECTS"), row: area.top + 1, column: 0, style: .header)
        let height = area.height - 2
        let offset = scrollOffset(selected: selected, count: rows.count, height: height)
        for (i, item) in rows.enumerated().dropFirst(offset).prefix(height) {
            let count = item.1.map { String($0).fitted(7, pad: true, alignRight: true) } ?? ""
            grid.put((i == selected ? "> " : "  ") + item.0.fitted(area.width - 14, pad: true) + "  " + count,
                     row: row, column: 0, style: i == selected ? .selected : .normal)
            row += 1
        }
    }

    /// One object's metadata, labelled; a Secret says its data is redacted.
    static func fields(_ o: KubernetesObject, clock: ConsoleClock) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("key", o.etcdKey), ("resource", o.resource), ("namespace", o.namespace ?? "(cluster-scoped)"),
            ("name", o.name), ("kind", o.kind ?? "-"), ("apiVersion", o.apiVersion ?? "-"), ("uid", o.uid ?? "-"),
            ("created", o.creationTimestamp.map(clock.fullDateTime) ?? "-"),
            ("labels", o.labels.isEmpty ? "-" : o.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")),
            ("value size", bytes(Int64(o.valueSize))), ("encoding", o.encoding.rawValue),
        ]
        if let deleted = o.deletionTimestamp { fields.append(("deleting since", clock.fullDateTime(deleted))) }
        if let encryption = o.encryption { fields.append(("encrypted by", "\(encryption.provider) \(encryption.version) key \(encryption.keyName)")) }
        if let problem = o.problem { fields.append(("problem", problem)) }
        if o.resource == "secrets" { fields.append(("data", "(redacted: Secret values are never read or shown)")) }
        return fields
    }
}
