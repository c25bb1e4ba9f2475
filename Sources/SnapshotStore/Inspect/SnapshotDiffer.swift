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
    /// when both are good: each verifier walk's live keys are copied out (`LiveKeyCopy`) before its file closes, and
    /// the copies are compared. Otherwise the files are compared again on their own, as `diff` does, for what can
    /// still be read.
    public static func checkAndDiff(_ a: String, _ b: String, prefix: String = KubernetesKey.defaultPrefix)
        -> (checks: [SnapshotReadCheck], diff: Result<SnapshotDiff, any Error>) {
        var from: LiveKeyCopy?
        var to: LiveKeyCopy?
        let checks = [SnapshotReadCheck.run(path: a) { from = LiveKeyCopy($0) },
                      SnapshotReadCheck.run(path: b) { to = LiveKeyCopy($0) }]
        if let from, let to, !checks.contains(where: \.isDamaged) { return (checks, .success(diff(from, to, prefix: prefix))) }
        from = nil
        to = nil
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

/// The live keys of a database with their mod revisions, copied out of the mapped file (read in file order, so each
/// page is faulted in once and released behind): what a diff compares. About the keys' bytes plus 40 bytes a key.
final class LiveKeyCopy {
    private let arena: UnsafeMutableRawBufferPointer
    /// Keys (slices of `arena`) and their mod revisions.
    let revisions: [KeySlice: Int64]
    let revision: Int64

    init(_ index: LiveKeyIndex) {
        let total = index.entries.keys.reduce(0) { $0 + $1.bytes.count }
        arena = .allocate(byteCount: max(total, 1), alignment: 1)
        var revisions = [KeySlice: Int64](minimumCapacity: index.entries.count)
        var offset = 0
        let bolt = index.database.bolt
        for (key, entry) in index.entries.sorted(by: { $0.key.bytes.baseAddress! < $1.key.bytes.baseAddress! }) {
            bolt.noteRead(key.bytes)
            let copy = UnsafeMutableRawBufferPointer(rebasing: arena[offset..<(offset + key.bytes.count)])
            copy.copyMemory(from: key.bytes)
            revisions[KeySlice(UnsafeRawBufferPointer(copy))] = entry.modRevision
            offset += key.bytes.count
        }
        bolt.releaseMemory(dropPageCache: false)
        self.revisions = revisions
        revision = index.revision
    }

    deinit { arena.deallocate() }
}
