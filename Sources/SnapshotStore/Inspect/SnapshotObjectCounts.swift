/// The live Kubernetes objects of a snapshot counted per resource and namespace, from the keys alone (values
/// are not decoded; their first bytes tell whether they are encrypted). What `inspect` reports with its filters
/// applied, and the resource -> namespace -> count tree the console's Browse shows before it decodes anything.
/// Small at any snapshot size: one entry per (resource, namespace), a few hundred in a real cluster.
public struct SnapshotObjectCounts: Sendable, Equatable {
    /// A resource and namespace (nil: cluster-scoped).
    public struct Group: Hashable, Sendable, Comparable {
        public var resource: String
        public var namespace: String?

        public init(resource: String, namespace: String?) {
            self.resource = resource
            self.namespace = namespace
        }

        /// Resource, then cluster-scoped before namespaces, then namespace: the order browse lists objects in.
        public static func < (lhs: Group, rhs: Group) -> Bool {
            if lhs.resource != rhs.resource { return lhs.resource < rhs.resource }
            return (lhs.namespace ?? "") < (rhs.namespace ?? "")
        }
    }

    public struct Count: Sendable, Equatable {
        public var objects = 0
        public var encrypted = 0
    }

    /// The newest revision and meta.pgid * pageSize (as `etcdctl snapshot status` reports them).
    public var revision: Int64
    public var totalSize: Int64
    /// Keys live at the newest revision, all of them.
    public var liveKeys: Int
    public var groups: [Group: Count]
    /// Live keys that are not Kubernetes objects under the prefix.
    public var nonKubernetesKeys: Int

    /// The storage resources held, each once.
    public var resources: Set<String> { Set(groups.keys.map(\.resource)) }

    /// What `inspect` reports for these filters (see `SnapshotInspector` for what they match).
    public func inspection(resource: String? = nil, namespace: String? = nil, hash: UInt32? = nil) -> SnapshotInspection {
        var resources: [String: Int] = [:]
        var namespaces: [String: Int] = [:]
        var encrypted = 0
        for (group, count) in groups where SnapshotInspector.matches(group, resource: resource, namespace: namespace) {
            resources[group.resource, default: 0] += count.objects
            namespaces[group.namespace ?? SnapshotInspection.clusterScoped, default: 0] += count.objects
            encrypted += count.encrypted
        }
        return SnapshotInspection(revision: revision, totalSize: totalSize, liveKeys: liveKeys, resources: resources,
                                  namespaces: namespaces, encrypted: encrypted, nonKubernetesKeys: nonKubernetesKeys, hash: hash)
    }

    /// Counts the entries of a live-key index (which must still be open: its keys point into the file).
    init(_ index: LiveKeyIndex, prefix: String) {
        // Count per directory first (a few hundred), then parse each directory once.
        var perDirectory: [KeySlice: Count] = [:]
        var nonKubernetes = 0
        let bolt = index.database.bolt
        // In file order: each mapped window is read once and released behind (a dictionary's order is random).
        for (key, entry) in index.entries.sorted(by: { $0.key.bytes.baseAddress! < $1.key.bytes.baseAddress! }) {
            bolt.noteRead(key.bytes)  // keeps memory bounded: these pages are released as the loop moves on
            guard let end = KubernetesKeyCache.directoryEnd(key.bytes) else {
                nonKubernetes += 1
                continue
            }
            let directory = KeySlice(UnsafeRawBufferPointer(start: key.bytes.baseAddress, count: end))
            let encrypted = SnapshotInspector.isEncrypted(entry.value)
            perDirectory[directory, default: Count()].objects += 1
            if encrypted { perDirectory[directory]!.encrypted += 1 }
        }
        var groups: [Group: Count] = [:]
        for (directoryKey, count) in perDirectory {
            bolt.noteRead(directoryKey.bytes)
            guard let directory = KubernetesKeyCache.parse(directory: directoryKey.bytes, prefix: prefix) else {
                nonKubernetes += count.objects
                continue
            }
            let group = Group(resource: directory.resource, namespace: directory.namespace)
            groups[group, default: Count()].objects += count.objects
            groups[group]!.encrypted += count.encrypted
        }
        self.init(revision: index.revision, totalSize: Int64(bolt.databaseSize), liveKeys: index.entries.count,
                  groups: groups, nonKubernetesKeys: nonKubernetes)
    }

    public init(revision: Int64, totalSize: Int64, liveKeys: Int, groups: [Group: Count], nonKubernetesKeys: Int) {
        self.revision = revision
        self.totalSize = totalSize
        self.liveKeys = liveKeys
        self.groups = groups
        self.nonKubernetesKeys = nonKubernetesKeys
    }
}
