/// A Kubernetes object (or another etcd key) by name, as a diff lists it.
public struct ObjectRef: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Storage resource ("pods", "services/specs"), or `ObjectRef.otherResource` for keys that are not
    /// Kubernetes objects.
    public var resource: String
    /// Nil for cluster-scoped objects and other keys.
    public var namespace: String?
    /// The object's name; for other keys, the raw etcd key.
    public var name: String

    public init(resource: String, namespace: String?, name: String) {
        self.resource = resource
        self.namespace = namespace
        self.name = name
    }

    /// The resource under which keys outside the Kubernetes prefix are listed.
    public static let otherResource = "(other)"

    /// Resource, then namespace (cluster-scoped first), then name.
    public static func < (lhs: ObjectRef, rhs: ObjectRef) -> Bool {
        if lhs.resource != rhs.resource { return lhs.resource < rhs.resource }
        if lhs.namespace != rhs.namespace {
            guard let left = lhs.namespace else { return true }
            guard let right = rhs.namespace else { return false }
            return left < right
        }
        return lhs.name < rhs.name
    }

    public var description: String {
        if let namespace { return "\(resource) \(namespace)/\(name)" }
        return "\(resource) \(name)"
    }
}

/// Per resource and namespace, how many objects a diff added, removed and changed.
public struct DiffSummaryRow: Codable, Sendable, Equatable {
    public var resource: String
    public var namespace: String?
    public var added: Int
    public var removed: Int
    public var changed: Int

    public init(resource: String, namespace: String?, added: Int = 0, removed: Int = 0, changed: Int = 0) {
        self.resource = resource
        self.namespace = namespace
        self.added = added
        self.removed = removed
        self.changed = changed
    }
}

/// What changed between two snapshots' live keys: `SnapshotDiffer.diff`.
public struct SnapshotDiff: Codable, Sendable, Equatable {
    /// Live in the second snapshot, not in the first. Sorted.
    public var added: [ObjectRef]
    /// Live in the first snapshot, not in the second. Sorted.
    public var removed: [ObjectRef]
    /// Live in both, with a different mod revision (written again, or deleted and created again). Sorted.
    public var changed: [ObjectRef]
    /// One row per resource and namespace with any difference, in ObjectRef order.
    public var summary: [DiffSummaryRow]
    public var fromRevision: Int64
    public var toRevision: Int64

    public init(added: [ObjectRef], removed: [ObjectRef], changed: [ObjectRef], summary: [DiffSummaryRow],
                fromRevision: Int64, toRevision: Int64) {
        self.added = added
        self.removed = removed
        self.changed = changed
        self.summary = summary
        self.fromRevision = fromRevision
        self.toRevision = toRevision
    }

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
}
