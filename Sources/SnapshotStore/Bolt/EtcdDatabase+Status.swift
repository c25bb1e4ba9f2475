/// The numbers `etcdctl snapshot status` (3.4) / `etcdutl snapshot status` (3.5) prints.
public struct EtcdSnapshotStatus: Sendable, Equatable, Codable {
    /// CRC-32C over every top-level bucket's name followed by each of its keys and values, in order.
    public var hash: UInt32
    /// Main part of the last key in the "key" bucket.
    public var revision: Int64
    /// Entries in all top-level buckets (every bucket, not just "key").
    public var totalKey: Int
    /// meta.pgid * pageSize: the database's size, whatever the file size.
    public var totalSize: Int64

    public init(hash: UInt32, revision: Int64, totalKey: Int, totalSize: Int64) {
        self.hash = hash
        self.revision = revision
        self.totalKey = totalKey
        self.totalSize = totalSize
    }
}

extension EtcdDatabase {
    /// Computes what `etcdctl snapshot status` reports, the same way: for each top-level bucket in key
    /// order, its name then each key and value (a nested bucket contributes only its key) go into a
    /// CRC-32C; every entry counts towards totalKey. With `checkStructure` (the default, and what etcdctl
    /// does first with bbolt's tx.Check) the same single pass also verifies the whole tree.
    public func status(checkStructure: Bool = true) throws -> EtcdSnapshotStatus {
        // The walk lists the hashed byte ranges (pointers into the mapping, nothing copied); the
        // checksum over them is then computed on two cores when there is enough to share.
        var segments: [UnsafeRawBufferPointer] = []
        var hashedBytes = 0
        var totalKey = 0
        var inKeyBucket = false
        var lastKey: UnsafeRawBufferPointer?
        let visit: BoltTreeWalk.Visitor = { level, key, value, isBucket in
            if level == 0 {
                guard isBucket else {
                    throw BoltError(.notABucket, "top-level entry \(BoltFile.printable(key)) is not a bucket; etcdctl cannot hash it")
                }
                segments.append(key)
                hashedBytes += key.count
                inKeyBucket = key.elementsEqual(Bucket.key.utf8)
            } else if level == 1 {
                segments.append(key)
                hashedBytes += key.count
                if !isBucket {
                    segments.append(value)
                    hashedBytes += value.count
                }
                totalKey += 1
                if inKeyBucket { lastKey = key }
            }
        }
        if checkStructure {
            _ = try bolt.checkStructure(maxLevel: .max, visit)
        } else {
            try bolt.rethrowingWithPath {
                var walk = BoltTreeWalk(file: bolt, strict: false)
                try walk.walkRoot(maxLevel: 1, visit)
            }
        }
        var revision: Int64 = 0
        if let lastKey {
            guard let main = EtcdRevision.mainRevision(ofKey: lastKey) else {
                throw EtcdDataError(.badRevisionKey, "the last key bucket key is \(BoltFile.printable(lastKey)), too short for a revision", path: path)
            }
            revision = main
        }
        return EtcdSnapshotStatus(hash: CRC32C.checksum(concatenating: segments, totalBytes: hashedBytes), revision: revision,
                                  totalKey: totalKey, totalSize: Int64(bolt.databaseSize))
    }
}
