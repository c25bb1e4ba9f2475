/// One pass over a database that checks the whole bbolt structure (`BoltFile.checkStructure`) and, in the
/// same walk, what `EtcdDatabase.checkKeyBucket` checks in the "key" bucket, while counting live keys and
/// reading the newest revision. One pass instead of three keeps a verify within the time the digest takes.
enum SnapshotContentsCheck {
    struct Found {
        var revision: Int64
        var liveKeys: Int
        /// Oddities that do not make the file unusable (a torn meta page, leaked pages).
        var warnings: [String]
        /// Live Kubernetes objects per resource, as `SnapshotInspector.inspect` counts them, when asked for.
        var resources: [String: Int]?
    }

    /// `reading`: called with the live keys and values (a `LiveKeyIndex`, valid only inside the call: the file is
    /// closed after the check) when the contents check out, so a reader needs no second walk.
    /// `copying`: filled with the live keys and their revisions as the walk meets them (no index is kept then).
    static func run(_ bolt: BoltFile, countResources: Bool = false, reading: ((LiveKeyIndex) -> Void)? = nil,
                    copying: LiveKeyCopy? = nil) throws -> Found {
        let path = bolt.path
        let keyBucket = Array(EtcdDatabase.Bucket.key.utf8)
        var inKeyBucket = false
        var sawKeyBucket = false
        var newest: EtcdRevision?
        var live = Set<KeySlice>()
        // With a reader waiting, values are kept too (the index it gets); else only the keys.
        var index: [KeySlice: LiveKeyIndex.Entry] = [:]
        if reading != nil {
            index.reserveCapacity(LiveKeyIndex.expectedKeys(bolt))
        } else if copying == nil {
            live.reserveCapacity(LiveKeyIndex.expectedKeys(bolt))
        }

        let report = try bolt.checkStructure(maxLevel: .max) { level, key, value, isBucket in
            if level == 0 {
                inKeyBucket = isBucket && key.elementsEqual(keyBucket)
                sawKeyBucket = sawKeyBucket || inKeyBucket
                return
            }
            guard level == 1, inKeyBucket, !isBucket else { return }
            guard let revision = EtcdRevision(key: key) else {
                throw EtcdDataError(.badRevisionKey,
                                    "key bucket key \(BoltFile.printable(key)) is not a revision (8 bytes, '_', 8 bytes, optional 't')",
                                    path: path)
            }
            let keyValue: EtcdKeyValue
            do {
                keyValue = try EtcdKeyValue(decoding: value)
            } catch {
                throw EtcdDataError(.badKeyValue, "revision \(revision): \(error)", path: path)
            }
            guard !keyValue.key.isEmpty else {
                throw EtcdDataError(.badKeyValue, "revision \(revision) holds a KeyValue without a key", path: path)
            }
            if revision.isTombstone {
                if let copying {
                    copying.remove(keyValue.key)
                } else if reading == nil {
                    live.remove(KeySlice(keyValue.key))
                } else {
                    index.removeValue(forKey: KeySlice(keyValue.key))
                }
            } else {
                guard keyValue.modRevision == revision.main else {
                    throw EtcdDataError(.badKeyValue,
                                        "revision \(revision) holds a KeyValue whose mod_revision is \(keyValue.modRevision)", path: path)
                }
                if let copying {
                    copying.put(keyValue.key, revision: revision.main)
                } else if reading == nil {
                    live.insert(KeySlice(keyValue.key))
                } else {
                    index[KeySlice(keyValue.key)] = LiveKeyIndex.Entry(value: keyValue.value, modRevision: revision.main)
                }
            }
            newest = revision
        }
        guard sawKeyBucket else {
            throw EtcdDataError(.missingBucket, "not an etcd snapshot: no \"key\" bucket", path: path)
        }
        if let copying {
            copying.revision = newest?.main ?? 0
            if countResources { live = Set(copying.revisions.keys) }
        }
        let liveKeys = copying?.revisions.count ?? (reading == nil ? live.count : index.count)
        if let reading {
            reading(LiveKeyIndex(EtcdDatabase(bolt: bolt), entries: index, revision: newest?.main ?? 0))
            if countResources { live = Set(index.keys) }
            index = [:]
        }
        var resources: [String: Int]?
        if countResources {
            // The same counts as SnapshotInspector.inspect, from this pass: a save needs no second walk.
            var perDirectory: [KeySlice: Int] = [:]
            // In file order: each mapped window is read once and released behind (a set's order is random, and
            // every random touch would fault in a whole large folio again after a release).
            for key in live.sorted(by: { $0.bytes.baseAddress! < $1.bytes.baseAddress! }) {
                bolt.noteRead(key.bytes)
                guard let end = KubernetesKeyCache.directoryEnd(key.bytes) else { continue }
                perDirectory[KeySlice(UnsafeRawBufferPointer(start: key.bytes.baseAddress, count: end)), default: 0] += 1
            }
            var counts: [String: Int] = [:]
            for (directory, objects) in perDirectory {
                bolt.noteRead(directory.bytes)
                guard let parsed = KubernetesKeyCache.parse(directory: directory.bytes, prefix: KubernetesKey.defaultPrefix) else { continue }
                counts[parsed.resource, default: 0] += objects
            }
            resources = counts
        }
        return Found(revision: newest?.main ?? 0, liveKeys: liveKeys, warnings: report.warnings, resources: resources)
    }
}
