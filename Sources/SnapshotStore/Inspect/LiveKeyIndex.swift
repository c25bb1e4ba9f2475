#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The keys live at a database's newest revision, found in one pass over the "key" bucket (which is in
/// revision order, so a key's last entry wins; a tombstone removes it). Keys and values stay in the mapped
/// file: the index holds slices, valid while `database` lives, which the index keeps alive.
struct LiveKeyIndex {
    struct Entry {
        var value: UnsafeRawBufferPointer
        var modRevision: Int64
    }

    let database: EtcdDatabase
    private(set) var entries: [KeySlice: Entry] = [:]
    /// Main part of the last "key" bucket key: what `etcdctl snapshot status` reports as revision.
    private(set) var revision: Int64 = 0

    /// An index the verifier's walk collected (`SnapshotContentsCheck`).
    init(_ database: EtcdDatabase, entries: [KeySlice: Entry], revision: Int64) {
        self.database = database
        self.entries = entries
        self.revision = revision
    }

    init(_ database: EtcdDatabase) throws {
        self.database = database
        var entries: [KeySlice: Entry] = [:]
        entries.reserveCapacity(Self.expectedKeys(database.bolt))
        var revision: Int64 = 0
        try Self.rethrowingMissingKeyBucket(database) {
            try database.forEachRevision { key, keyValue in
                if key.isTombstone {
                    entries.removeValue(forKey: KeySlice(keyValue.key))
                } else {
                    entries[KeySlice(keyValue.key)] = Entry(value: keyValue.value, modRevision: key.main)
                }
                revision = key.main
            }
        }
        self.entries = entries
        self.revision = revision
    }

    /// A guess at the number of live keys, to size the index once instead of rehashing it as it grows: one per
    /// page (Kubernetes objects are a few kB each), at most 2^19 so a mostly empty db does not reserve much.
    static func expectedKeys(_ bolt: BoltFile) -> Int {
        min(bolt.databaseSize / bolt.pageSize, 1 << 19)
    }

    /// Runs `body`, turning "there is no bucket "key"" into the etcd-level error it means.
    static func rethrowingMissingKeyBucket<T>(_ database: EtcdDatabase, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as BoltError where error.kind == .noSuchBucket || error.kind == .notABucket {
            throw EtcdDataError(.missingBucket, "not an etcd snapshot: no \"key\" bucket", path: database.path)
        }
    }

    /// Opens a snapshot or db file for reading, refusing what is not a regular file first (opening a FIFO
    /// would wait for a writer forever).
    static func open(_ path: String) throws -> EtcdDatabase {
        if CompressedSnapshot.isCompressed(path) {
            // The database opens the decompressed copy through its own descriptor, which keeps the unlinked
            // temporary file alive after `plain` closes ours.
            let plain = try CompressedSnapshot.decompress(path)
            return try withExtendedLifetime(plain) { try EtcdDatabase(path: plain.path) }
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw BoltError(.cannotOpen, "could not stat: \(SnapshotVerifier.errnoText())", path: path)
        }
        if let problem = SnapshotVerifier.notRegularFileProblem(info.st_mode) {
            throw BoltError(.cannotOpen, "cannot read: \(problem)", path: path)
        }
        return try EtcdDatabase(path: path)
    }
}

/// Parses Kubernetes keys by their directory (everything before the last '/'): a snapshot holds hundreds
/// of thousands of keys in a few hundred directories, so each directory is parsed once and a key costs a
/// hash lookup. Parsing `<directory>/x` gives the same resource and namespace as parsing the key, since a
/// key's last segment only has to be non-empty.
struct KubernetesKeyCache {
    struct Directory {
        var resource: String
        var namespace: String?
    }

    let prefix: String
    /// Slices of keys in the mapped file: the cache must not outlive the database it was filled from.
    private var directories: [KeySlice: Directory?] = [:]

    init(prefix: String) {
        self.prefix = prefix
    }

    /// Where the directory ends in `key`, or nil when the key has no '/' or ends in one (no name).
    @inline(__always)
    static func directoryEnd(_ key: UnsafeRawBufferPointer) -> Int? {
        var index = key.count - 1
        while index >= 0, key[index] != UInt8(ascii: "/") { index -= 1 }
        return index >= 0 && index + 1 < key.count ? index : nil
    }

    /// The resource and namespace of a Kubernetes object key, or nil for any other key.
    mutating func directory(of key: UnsafeRawBufferPointer) -> Directory? {
        guard let end = Self.directoryEnd(key) else { return nil }
        let slice = KeySlice(UnsafeRawBufferPointer(rebasing: key[0..<end]))
        if let known = directories[slice] { return known }
        let parsed = Self.parse(directory: slice.bytes, prefix: prefix)
        directories[slice] = parsed
        return parsed
    }

    /// The resource and namespace of the keys in `directory` (a key up to, not including, its last '/').
    static func parse(directory: UnsafeRawBufferPointer, prefix: String) -> Directory? {
        KubernetesKey(String(decoding: directory, as: UTF8.self) + "/x", prefix: prefix)
            .map { Directory(resource: $0.resource, namespace: $0.namespace) }
    }

    /// The object a key names, or `(other)` with the raw key for keys that are not Kubernetes objects.
    mutating func ref(for key: UnsafeRawBufferPointer) -> ObjectRef {
        if let directory = directory(of: key) {
            let name = UnsafeRawBufferPointer(rebasing: key[(Self.directoryEnd(key)! + 1)...])
            return ObjectRef(resource: directory.resource, namespace: directory.namespace,
                             name: String(decoding: name, as: UTF8.self))
        }
        return ObjectRef(resource: ObjectRef.otherResource, namespace: nil, name: String(decoding: key, as: UTF8.self))
    }
}
