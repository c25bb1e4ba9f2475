/// Reads a snapshot (or a member's db) offline: what Kubernetes objects it holds, counted or listed.
///
/// Contracts: only keys live at the newest revision count; only metadata is decoded (a Secret's data is
/// never decoded, copied or returned: `KubernetesObject` has no field for it); the files are mapped read-only and
/// not verified (that is `SnapshotVerifier`'s job), but a damaged file is reported, never crashed on.
/// Errors are `BoltError` (the file is unreadable or its structure broken) or `EtcdDataError` (not an etcd
/// database, or its "key" bucket holds what etcd does not write), each naming the file.
///
/// Filters: `resource` matches a storage resource exactly ("pods", "services/specs",
/// "apiextensions.k8s.io/customresourcedefinitions") or the plural of a group-qualified one
/// ("customresourcedefinitions", "widgets"); `namespace` matches a namespace name, so it leaves out
/// cluster-scoped objects.
public enum SnapshotInspector {
    /// Counts live Kubernetes objects per resource and per namespace (filters apply to both). revision and
    /// totalSize are `etcdctl snapshot status`'s; with `includeHash` its hash too, which costs a read of
    /// every byte. Values are not decoded at all: the key names the object, the value's first bytes tell
    /// whether it is encrypted.
    public static func inspect(path: String, resource: String? = nil, namespace: String? = nil,
                               prefix: String = KubernetesKey.defaultPrefix,
                               includeHash: Bool = false) throws -> SnapshotInspection {
        let database = try LiveKeyIndex.open(path)
        let counts = SnapshotObjectCounts(try LiveKeyIndex(database), prefix: prefix)
        let hash = includeHash ? try database.status(checkStructure: false).hash : nil
        return counts.inspection(resource: resource, namespace: namespace, hash: hash)
    }

    /// Counts the live objects per resource and namespace (`inspect` without filters, which the counts apply).
    public static func counts(path: String, prefix: String = KubernetesKey.defaultPrefix) throws -> SnapshotObjectCounts {
        SnapshotObjectCounts(try LiveKeyIndex(try LiveKeyIndex.open(path)), prefix: prefix)
    }

    /// What every reader checks first (`SnapshotReadCheck.run`) and the object counts, in one pass over the file
    /// when it is good: the verifier's walk collects the live keys and they are counted before the file is
    /// closed, so `snapshot inspect` reads the file once (the digest on a second thread), not twice. A damaged
    /// file is then read again on its own for what it still holds (the check's walk stops at the first fault).
    public static func checkAndCount(path: String, prefix: String = KubernetesKey.defaultPrefix)
        -> (check: SnapshotReadCheck, counts: Result<SnapshotObjectCounts, any Error>) {
        var counted: SnapshotObjectCounts?
        let check = SnapshotReadCheck.run(path: path) { index in counted = SnapshotObjectCounts(index, prefix: prefix) }
        if let counted, !check.isDamaged { return (check, .success(counted)) }
        return (check, Result { try counts(path: path, prefix: prefix) })
    }

    /// The live Kubernetes objects (metadata only), sorted by resource, namespace (cluster-scoped first)
    /// and name. Keys that are not Kubernetes objects are left out (`inspect` counts them). Every object is decoded
    /// and kept: for a large snapshot use `SnapshotObjectBrowser`, which decodes a page (or one object) at a time.
    public static func objects(path: String, resource: String? = nil, namespace: String? = nil,
                               prefix: String = KubernetesKey.defaultPrefix) throws -> [KubernetesObject] {
        var objects: [KubernetesObject] = []
        try SnapshotObjectBrowser(path: path, prefix: prefix).forEachObject(resource: resource, namespace: namespace) {
            objects.append($0)
        }
        return objects
    }

    /// The object stored under the etcd key `key` at the newest revision (metadata only), or nil when the
    /// key is not live. A key outside the Kubernetes prefix comes back with an empty resource.
    public static func object(path: String, key: String, prefix: String = KubernetesKey.defaultPrefix) throws -> KubernetesObject? {
        let database = try LiveKeyIndex.open(path)
        let wanted = Array(key.utf8)
        var latest: UnsafeRawBufferPointer?
        try wanted.withUnsafeBytes { wanted in
            try LiveKeyIndex.rethrowingMissingKeyBucket(database) {
                try database.forEachRevision { revision, keyValue in
                    guard compare(keyValue.key, wanted) == 0 else { return }
                    latest = revision.isTombstone ? nil : keyValue.value
                }
            }
        }
        return latest.map { KubernetesObject(etcdKey: key, value: $0, prefix: prefix) }
    }

    /// Whether a value starts with "k8s:enc:" (encrypted at rest), comparing the 8 bytes as one word.
    @inline(__always)
    static func isEncrypted(_ value: UnsafeRawBufferPointer) -> Bool {
        guard value.count >= 8 else { return false }
        return value.loadUnaligned(as: UInt64.self) == encryptedPrefixWord
    }

    private static let encryptedPrefixWord: UInt64 = KubernetesObject.encryptedPrefix.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }

    static func matches(_ group: SnapshotObjectCounts.Group, resource: String?, namespace: String?) -> Bool {
        if let namespace, group.namespace != namespace { return false }
        guard let resource else { return true }
        return matches(storage: group.resource, resource: resource)
    }

    static func matches(_ directory: KubernetesKeyCache.Directory, resource: String?, namespace: String?) -> Bool {
        if let namespace, directory.namespace != namespace { return false }
        guard let resource else { return true }
        return matches(storage: directory.resource, resource: resource)
    }

    /// Whether the `resource` filter selects the storage resource `storage`: the same name, or the plural of
    /// a group-qualified one ("customresourcedefinitions" for "apiextensions.k8s.io/customresourcedefinitions").
    public static func matches(storage: String, resource: String) -> Bool {
        if storage == resource { return true }
        guard let slash = storage.firstIndex(of: "/"), storage[..<slash].contains(".") else { return false }
        return storage[storage.index(after: slash)...] == resource
    }
}
