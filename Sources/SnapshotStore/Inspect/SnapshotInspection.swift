/// What a snapshot holds, counted without opening a single object body: `SnapshotInspector.inspect`.
public struct SnapshotInspection: Codable, Sendable, Equatable {
    /// The newest revision (as `etcdctl snapshot status` reports it).
    public var revision: Int64
    /// meta.pgid * pageSize (as `etcdctl snapshot status` reports it).
    public var totalSize: Int64
    /// Keys live at the newest revision, all of them (filters do not apply).
    public var liveKeys: Int
    /// Live Kubernetes objects per storage resource ("pods", "services/specs", "example.com/widgets"),
    /// filters applied.
    public var resources: [String: Int]
    /// Live Kubernetes objects per namespace, filters applied; cluster-scoped objects are counted under
    /// `SnapshotInspection.clusterScoped`, so both dictionaries add up to the same total.
    public var namespaces: [String: Int]
    /// How many of the counted objects are encrypted at rest (values starting with "k8s:enc:").
    public var encrypted: Int
    /// Live keys that are not Kubernetes objects under the prefix (filters do not apply).
    public var nonKubernetesKeys: Int
    /// The `etcdctl snapshot status` hash (CRC-32C over every bucket), when asked for: it reads every byte.
    public var hash: UInt32?

    public init(revision: Int64, totalSize: Int64, liveKeys: Int, resources: [String: Int], namespaces: [String: Int],
                encrypted: Int, nonKubernetesKeys: Int, hash: UInt32? = nil) {
        self.revision = revision
        self.totalSize = totalSize
        self.liveKeys = liveKeys
        self.resources = resources
        self.namespaces = namespaces
        self.encrypted = encrypted
        self.nonKubernetesKeys = nonKubernetesKeys
        self.hash = hash
    }

    /// The `namespaces` entry for cluster-scoped objects (no namespace can be spelled with parentheses).
    public static let clusterScoped = "(cluster)"

    /// Objects counted, filters applied.
    public var objects: Int { resources.values.reduce(0, +) }
}
