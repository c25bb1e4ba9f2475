/// What `EtcdDatabase.checkKeyBucket()` found in a well-formed "key" bucket.
public struct EtcdKeyBucketReport: Sendable, Equatable {
    /// Entries (revisions) in the bucket, tombstones included.
    public var entries: Int
    public var tombstones: Int
    /// Oldest and newest revision present (nil when the bucket is empty). History before the oldest
    /// was compacted away.
    public var oldestRevision: EtcdRevision?
    public var newestRevision: EtcdRevision?
}

extension EtcdDatabase {
    /// Calls `body` with every entry of the "key" bucket, oldest revision first: the history etcd still
    /// holds (everything since the last compaction). Throws on a key or value etcd would not write.
    public func forEachRevision(_ body: (EtcdRevision, EtcdKeyValue) throws -> Void) throws {
        try bolt.forEach(bucket: Bucket.key) { key, value in
            let revision = try parseRevision(key)
            let keyValue = try decodeKeyValue(value, at: revision)
            try body(revision, keyValue)
        }
    }

    /// Checks that every "key" bucket entry is what etcd writes: a 17-byte revision (18 with 't' for a
    /// tombstone) and an mvccpb.KeyValue naming a key, whose mod_revision matches for a put.
    public func checkKeyBucket() throws -> EtcdKeyBucketReport {
        var report = EtcdKeyBucketReport(entries: 0, tombstones: 0)
        try forEachRevision { revision, keyValue in
            guard !keyValue.key.isEmpty else {
                throw EtcdDataError(.badKeyValue, "revision \(revision) holds a KeyValue without a key", path: path)
            }
            if revision.isTombstone {
                report.tombstones += 1
            } else if keyValue.modRevision != revision.main {
                throw EtcdDataError(.badKeyValue,
                                    "revision \(revision) holds a KeyValue whose mod_revision is \(keyValue.modRevision)", path: path)
            }
            report.entries += 1
            if report.oldestRevision == nil { report.oldestRevision = revision }
            report.newestRevision = revision
        }
        return report
    }

    /// Calls `body` with every key that exists at the newest revision (its last entry is not a
    /// tombstone), in key order. Values stay in the mapped file; memory grows with the number of
    /// distinct keys (an index of slices), not with their values or history.
    public func forEachLiveKey(_ body: (EtcdLiveKey) throws -> Void) throws {
        var latest: [KeySlice: Latest] = [:]
        try forEachRevision { revision, keyValue in
            latest[KeySlice(keyValue.key)] = Latest(
                value: keyValue.value, createRevision: keyValue.createRevision, modRevision: revision.main,
                version: keyValue.version, lease: keyValue.lease, isTombstone: revision.isTombstone)
        }
        var live: [(key: KeySlice, entry: Latest)] = []
        live.reserveCapacity(latest.count)
        for (key, entry) in latest where !entry.isTombstone {
            live.append((key, entry))
        }
        latest = [:]
        live.sort { compare($0.key.bytes, $1.key.bytes) < 0 }
        for (key, entry) in live {
            try body(EtcdLiveKey(key: key.bytes, value: entry.value, createRevision: entry.createRevision,
                                 modRevision: entry.modRevision, version: entry.version, lease: entry.lease))
        }
    }

    /// Counts the keys live at the newest revision.
    public func liveKeyCount() throws -> Int {
        var count = 0
        try forEachLiveKey { _ in count += 1 }
        return count
    }

    // MARK: - Internals

    private struct Latest {
        var value: UnsafeRawBufferPointer
        var createRevision: Int64
        var modRevision: Int64
        var version: Int64
        var lease: Int64
        var isTombstone: Bool
    }

    private func parseRevision(_ key: UnsafeRawBufferPointer) throws -> EtcdRevision {
        guard let revision = EtcdRevision(key: key) else {
            throw EtcdDataError(.badRevisionKey,
                                "key bucket key \(BoltFile.printable(key)) is not a revision (8 bytes, '_', 8 bytes, optional 't')",
                                path: path)
        }
        return revision
    }

    private func decodeKeyValue(_ value: UnsafeRawBufferPointer, at revision: EtcdRevision) throws -> EtcdKeyValue {
        do {
            return try EtcdKeyValue(decoding: value)
        } catch {
            throw EtcdDataError(.badKeyValue, "revision \(revision): \(error)", path: path)
        }
    }
}

/// Borrowed bytes compared and hashed by content: a dictionary key that costs no copy.
struct KeySlice: Hashable {
    let bytes: UnsafeRawBufferPointer
    /// The key's hash, computed once: growing a set or dictionary of slices then rehashes without reading the
    /// keys again, and most unequal slices are told apart without touching their bytes. Both matter because the
    /// bytes live in the mapped file, whose pages are released as a walk moves on (`BoltResidency`).
    let hashCode: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        hashCode = hasher.finalize()
    }

    /// A slice of a copy of bytes whose hash is known.
    init(_ bytes: UnsafeRawBufferPointer, hashCode: Int) {
        self.bytes = bytes
        self.hashCode = hashCode
    }

    static func == (lhs: KeySlice, rhs: KeySlice) -> Bool {
        lhs.hashCode == rhs.hashCode && lhs.bytes.count == rhs.bytes.count && compare(lhs.bytes, rhs.bytes) == 0
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(hashCode)
    }
}
