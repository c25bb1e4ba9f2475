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
        diff(try LiveKeyIndex(try LiveKeyIndex.open(a)), try LiveKeyIndex(try LiveKeyIndex.open(b)), prefix: prefix)
    }

    /// What every reader checks first (`SnapshotReadCheck.run`) for both files, and the diff, reading each file once
    /// when both are good: the diff runs on the live keys the two verifier walks collected, while both files are
    /// open (the second file's check runs inside the first one's). Otherwise the files are compared again on their
    /// own, as `diff` does, for what can still be read.
    public static func checkAndDiff(_ a: String, _ b: String, prefix: String = KubernetesKey.defaultPrefix)
        -> (checks: [SnapshotReadCheck], diff: Result<SnapshotDiff, any Error>) {
        var compared: SnapshotDiff?
        var second: SnapshotReadCheck?
        let first = SnapshotReadCheck.run(path: a) { from in
            second = SnapshotReadCheck.run(path: b) { to in compared = diff(from, to, prefix: prefix) }
        }
        let checks = [first, second ?? SnapshotReadCheck.run(path: b)]
        if let compared, !checks.contains(where: \.isDamaged) { return (checks, .success(compared)) }
        return (checks, Result { try diff(a, b, prefix: prefix) })
    }

    static func diff(_ from: LiveKeyIndex, _ to: LiveKeyIndex, prefix: String) -> SnapshotDiff {
        var keys = KubernetesKeyCache(prefix: prefix)
        var added: [ObjectRef] = []
        var removed: [ObjectRef] = []
        var changed: [ObjectRef] = []
        // noteRead: the keys live in the mapped files; counting what the comparison reads keeps memory bounded.
        let fromFile = from.database.bolt, toFile = to.database.bolt
        for (key, entry) in to.entries {
            toFile.noteRead(key.bytes)
            if let index = from.entries.index(forKey: key) {
                let (fromKey, before) = from.entries[index]
                fromFile.noteRead(fromKey.bytes)
                if before.modRevision != entry.modRevision { changed.append(keys.ref(for: key.bytes)) }
            } else {
                added.append(keys.ref(for: key.bytes))
            }
        }
        for (key, _) in from.entries {
            fromFile.noteRead(key.bytes)
            if let index = to.entries.index(forKey: key) {
                toFile.noteRead(to.entries[index].key.bytes)
                continue
            }
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
