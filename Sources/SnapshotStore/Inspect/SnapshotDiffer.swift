/// Compares two snapshots (or member dbs) offline, by the keys live at each one's newest revision.
///
/// Contract: `added` = live in `b` only, `removed` = live in `a` only, `changed` = live in both with a
/// different mod revision. Comparing mod revisions, not values, is exact for two snapshots of one cluster's
/// history (etcd gives every write a new revision, even of the same bytes) and reads no values; between
/// clusters that do not share a history (a restore starts a new one with the same revisions) a key
/// rewritten with the same revision number would not show. Kubernetes objects are named by resource,
/// namespace and name; other keys appear under resource "(other)" with the raw key as name.
/// Errors as `SnapshotInspector`'s, naming the file.
public enum SnapshotDiffer {
    public static func diff(_ a: String, _ b: String, prefix: String = KubernetesKey.defaultPrefix) throws -> SnapshotDiff {
        let from = LiveKeyCopy(try LiveKeyIndex(try LiveKeyIndex.open(a)))
        return diff(from, LiveKeyCopy(try LiveKeyIndex(try LiveKeyIndex.open(b))), prefix: prefix)
    }

    /// What every reader checks first (`SnapshotReadCheck.run`) for both files, and the diff, reading each file once
    /// when both are good: each verifier walk copies the live keys out as it meets them (`LiveKeyCopy`), and the
    /// copies are compared. Otherwise the files are compared again on their own, as `diff` does, for what can
    /// still be read.
    public static func checkAndDiff(_ a: String, _ b: String, prefix: String = KubernetesKey.defaultPrefix)
        -> (checks: [SnapshotReadCheck], diff: Result<SnapshotDiff, any Error>) {
        var from: LiveKeyCopy? = LiveKeyCopy()
        var to: LiveKeyCopy? = LiveKeyCopy()
        let checks = [SnapshotReadCheck.run(path: a, copying: from), SnapshotReadCheck.run(path: b, copying: to)]
        if let from, let to, !checks.contains(where: \.isDamaged) { return (checks, .success(diff(from, to, prefix: prefix))) }
        (from, to) = (nil, nil)
        return (checks, Result { try diff(a, b, prefix: prefix) })
    }

    /// Compares two copies: no mapped file is read, so lookups in random order cost no page faults.
    static func diff(_ from: LiveKeyCopy, _ to: LiveKeyCopy, prefix: String) -> SnapshotDiff {
        var keys = KubernetesKeyCache(prefix: prefix)
        var added: [ObjectRef] = []
        var removed: [ObjectRef] = []
        var changed: [ObjectRef] = []
        for (key, revision) in to.revisions {
            if let before = from.revisions[key] {
                if before != revision { changed.append(keys.ref(for: key.bytes)) }
            } else {
                added.append(keys.ref(for: key.bytes))
            }
        }
        for (key, _) in from.revisions where to.revisions[key] == nil {
            removed.append(keys.ref(for: key.bytes))
        }
        added.sort()
        removed.sort()
        changed.sort()
        return SnapshotDiff(added: added, removed: removed, changed: changed,
                            summary: summarize(added: added, removed: removed, changed: changed),
                            fromRevision: from.revision, toRevision: to.revision)
    }


    static func summarize(added: [ObjectRef], removed: [ObjectRef], changed: [ObjectRef]) -> [DiffSummaryRow] {
        struct Group: Hashable {
            var resource: String
            var namespace: String?
        }
        var rows: [Group: DiffSummaryRow] = [:]
        func count(_ refs: [ObjectRef], _ field: WritableKeyPath<DiffSummaryRow, Int>) {
            for ref in refs {
                let group = Group(resource: ref.resource, namespace: ref.namespace)
                rows[group, default: DiffSummaryRow(resource: ref.resource, namespace: ref.namespace)][keyPath: field] += 1
            }
        }
        count(added, \.added)
        count(removed, \.removed)
        count(changed, \.changed)
        return rows.values.sorted {
            ObjectRef(resource: $0.resource, namespace: $0.namespace, name: "")
                < ObjectRef(resource: $1.resource, namespace: $1.namespace, name: "")
        }
    }
}

/// The live keys of a database with their mod revisions, copied out of the mapped file: what a diff compares.
/// Filled as the verifier's walk meets the "key" bucket's entries (`put`, `remove`), or from a finished index in file
/// order; either way each page is read once, front to back. About the keys' bytes plus 40 bytes a key.
final class LiveKeyCopy {
    private var chunks: [UnsafeMutableRawBufferPointer] = []
    private var used = 0
    /// Keys (slices of the chunks) and their mod revisions.
    private(set) var revisions: [KeySlice: Int64] = [:]
    var revision: Int64 = 0
    static let chunkSize = 1 << 20

    init() {}

    convenience init(_ index: LiveKeyIndex) {
        self.init()
        revisions.reserveCapacity(index.entries.count)
        let bolt = index.database.bolt
        for (key, entry) in index.entries.sorted(by: { $0.key.bytes.baseAddress! < $1.key.bytes.baseAddress! }) {
            bolt.noteRead(key.bytes)
            put(key.bytes, revision: entry.modRevision)
        }
        bolt.releaseMemory(dropPageCache: false)
        revision = index.revision
    }

    /// `key` is live at `revision` (its bytes are copied the first time it is seen).
    func put(_ key: UnsafeRawBufferPointer, revision: Int64) {
        let slice = KeySlice(key)
        if let index = revisions.index(forKey: slice) {
            revisions.values[index] = revision
            return
        }
        revisions[KeySlice(copy(key), hashCode: slice.hashCode)] = revision
    }

    /// `key` was deleted.
    func remove(_ key: UnsafeRawBufferPointer) {
        revisions.removeValue(forKey: KeySlice(key))
    }

    private func copy(_ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        if chunks.isEmpty || used + key.count > chunks[chunks.count - 1].count {
            chunks.append(.allocate(byteCount: max(Self.chunkSize, key.count), alignment: 1))
            used = 0
        }
        let target = UnsafeMutableRawBufferPointer(rebasing: chunks[chunks.count - 1][used..<(used + key.count)])
        target.copyMemory(from: key)
        used += key.count
        return UnsafeRawBufferPointer(target)
    }

    deinit { chunks.forEach { $0.deallocate() } }
}
