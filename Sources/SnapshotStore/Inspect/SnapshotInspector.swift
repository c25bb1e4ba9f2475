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
        let index = try LiveKeyIndex(database)

        // Count per directory first (a few hundred), then parse each directory once.
        struct Counts {
            var objects = 0
            var encrypted = 0

            mutating func add(encrypted isEncrypted: Bool) {
                objects += 1
                if isEncrypted { encrypted += 1 }
            }
        }
        var perDirectory: [KeySlice: Counts] = [:]
        var nonKubernetes = 0
        let bolt = database.bolt
        // In file order: each mapped window is read once and released behind (a dictionary's order is random).
        for (key, entry) in index.entries.sorted(by: { $0.key.bytes.baseAddress! < $1.key.bytes.baseAddress! }) {
            bolt.noteRead(key.bytes)  // keeps memory bounded: these pages are released as the loop moves on
            guard let end = KubernetesKeyCache.directoryEnd(key.bytes) else {
                nonKubernetes += 1
                continue
            }
            let directory = KeySlice(UnsafeRawBufferPointer(start: key.bytes.baseAddress, count: end))
            perDirectory[directory, default: Counts()].add(encrypted: isEncrypted(entry.value))
        }

        var resources: [String: Int] = [:]
        var namespaces: [String: Int] = [:]
        var encrypted = 0
        for (directoryKey, counts) in perDirectory {
            bolt.noteRead(directoryKey.bytes)
            guard let directory = KubernetesKeyCache.parse(directory: directoryKey.bytes, prefix: prefix) else {
                nonKubernetes += counts.objects
                continue
            }
            guard matches(directory, resource: resource, namespace: namespace) else { continue }
            resources[directory.resource, default: 0] += counts.objects
            namespaces[directory.namespace ?? SnapshotInspection.clusterScoped, default: 0] += counts.objects
            encrypted += counts.encrypted
        }

        let hash = includeHash ? try database.status(checkStructure: false).hash : nil
        return SnapshotInspection(revision: index.revision, totalSize: Int64(database.bolt.databaseSize),
                                  liveKeys: index.entries.count, resources: resources, namespaces: namespaces,
                                  encrypted: encrypted, nonKubernetesKeys: nonKubernetes, hash: hash)
    }

    /// The live Kubernetes objects (metadata only), sorted by resource, namespace (cluster-scoped first)
    /// and name. Keys that are not Kubernetes objects are left out (`inspect` counts them).
    public static func objects(path: String, resource: String? = nil, namespace: String? = nil,
                               prefix: String = KubernetesKey.defaultPrefix) throws -> [KubernetesObject] {
        let index = try LiveKeyIndex(try LiveKeyIndex.open(path))
        var keys = KubernetesKeyCache(prefix: prefix)
        var objects: [KubernetesObject] = []
        for (key, entry) in index.entries {
            index.database.bolt.noteRead(entry.value)  // keeps memory bounded: released as the loop moves on
            guard let directory = keys.directory(of: key.bytes),
                  matches(directory, resource: resource, namespace: namespace) else { continue }
            objects.append(KubernetesObject(etcdKey: String(decoding: key.bytes, as: UTF8.self), value: entry.value, prefix: prefix))
        }
        objects.sort { lhs, rhs in
            if lhs.resource != rhs.resource { return lhs.resource < rhs.resource }
            if lhs.namespace != rhs.namespace { return (lhs.namespace ?? "") < (rhs.namespace ?? "") }
            return lhs.name < rhs.name
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
