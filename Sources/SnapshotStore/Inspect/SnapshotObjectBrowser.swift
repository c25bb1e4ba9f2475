#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The live Kubernetes objects of one snapshot, decoded a page at a time (issue 13: `snapshot browse` and the
/// console's Browse within 128 MiB at any size, where decoding every object took 192 MB at 99,000 objects).
///
/// Opening walks the "key" bucket once (`LiveKeyIndex`), copies the live keys into one buffer and keeps, per
/// object, its key and where its value is in the file: about 40 bytes plus the key per object, 25 MB at 300,000
/// objects. They are sorted in browse order: resource, namespace (cluster-scoped first), name. A page decodes only
/// the objects it returns, reading their values with `pread` (no mapping is touched, so memory stays what the
/// index takes however the pages are visited). Keys that are not Kubernetes objects are left out (`inspect`
/// counts them). The file is not verified here (`SnapshotReadCheck` does that); a damaged one is reported as
/// `SnapshotInspector`'s readers report it.
public final class SnapshotObjectBrowser: @unchecked Sendable {
    // @unchecked: every stored property is immutable after init; reads go through pread on `file`'s descriptor.

    public typealias Group = SnapshotObjectCounts.Group

    /// The counts per resource and namespace (non-Kubernetes keys included, as `inspect` reports them).
    public let counts: SnapshotObjectCounts
    /// The groups holding objects, in browse order.
    public let groups: [Group]
    public let prefix: String

    private struct Item {
        var group: Int32
        var keyStart: Int32
        var keyCount: Int32
        /// Where the name starts within the key (after its last '/').
        var nameOffset: Int32
        var valueOffset: Int
        var valueCount: Int32
    }

    private let file: BoltFile
    private let keys: [UInt8]
    /// Sorted: by group (its index in `groups`), then name bytes.
    private let items: [Item]
    /// Where each group's items are in `items`.
    private let ranges: [Range<Int>]

    /// Opens `path` (a snapshot or a member's db) and builds the index; errors as `SnapshotInspector.objects`'.
    public convenience init(path: String, prefix: String = KubernetesKey.defaultPrefix) throws {
        try self.init(index: LiveKeyIndex(try LiveKeyIndex.open(path)), prefix: prefix)
    }

    init(index: LiveKeyIndex, prefix: String) {
        self.prefix = prefix
        let bolt = index.database.bolt
        file = bolt
        counts = SnapshotObjectCounts(index, prefix: prefix)

        var directories = KubernetesKeyCache(prefix: prefix)
        var groupIDs: [Group: Int32] = [:]
        var unsortedGroups: [Group] = []
        var keys: [UInt8] = []
        var items: [Item] = []
        items.reserveCapacity(index.entries.count)
        // In file order: the mapped pages are read once, front to back, and released behind.
        for (key, entry) in index.entries.sorted(by: { $0.key.bytes.baseAddress! < $1.key.bytes.baseAddress! }) {
            bolt.noteRead(key.bytes)
            guard let directory = directories.directory(of: key.bytes), let end = KubernetesKeyCache.directoryEnd(key.bytes) else { continue }
            let group = Group(resource: directory.resource, namespace: directory.namespace)
            let id: Int32
            if let known = groupIDs[group] {
                id = known
            } else {
                id = Int32(unsortedGroups.count)
                groupIDs[group] = id
                unsortedGroups.append(group)
            }
            items.append(Item(group: id, keyStart: Int32(keys.count), keyCount: Int32(key.bytes.count), nameOffset: Int32(end + 1),
                              valueOffset: bolt.offset(of: entry.value), valueCount: Int32(entry.value.count)))
            keys.append(contentsOf: key.bytes)
        }
        bolt.releaseMemory(dropPageCache: false)

        // Groups in browse order, then the items by (group rank, name).
        let order = unsortedGroups.indices.sorted { unsortedGroups[$0] < unsortedGroups[$1] }
        var rank = [Int32](repeating: 0, count: order.count)
        for (position, id) in order.enumerated() { rank[id] = Int32(position) }
        for i in items.indices { items[i].group = rank[Int(items[i].group)] }
        keys.withUnsafeBytes { arena in
            items.sort { a, b in
                if a.group != b.group { return a.group < b.group }
                let nameA = UnsafeRawBufferPointer(rebasing: arena[Int(a.keyStart + a.nameOffset)..<Int(a.keyStart + a.keyCount)])
                let nameB = UnsafeRawBufferPointer(rebasing: arena[Int(b.keyStart + b.nameOffset)..<Int(b.keyStart + b.keyCount)])
                return compare(nameA, nameB) < 0
            }
        }
        groups = order.map { unsortedGroups[$0] }
        var ranges = [Range<Int>](repeating: 0..<0, count: groups.count)
        var start = 0
        while start < items.count {
            var end = start
            while end < items.count, items[end].group == items[start].group { end += 1 }
            ranges[Int(items[start].group)] = start..<end
            start = end
        }
        self.keys = keys
        self.items = items
        self.ranges = ranges
    }

    /// Objects in `group` (0 when there are none).
    public func count(in group: Group) -> Int {
        groups.firstIndex(of: group).map { ranges[$0].count } ?? 0
    }

    /// All objects, in browse order.
    public var objectCount: Int { items.count }

    /// The objects at `range` of `group`'s objects (sorted by name), decoded; the range is clamped.
    public func objects(in group: Group, range: Range<Int>) throws -> [KubernetesObject] {
        guard let position = groups.firstIndex(of: group) else { return [] }
        let all = ranges[position]
        let lower = min(all.lowerBound + max(range.lowerBound, 0), all.upperBound)
        let upper = min(all.lowerBound + max(range.upperBound, 0), all.upperBound)
        var objects: [KubernetesObject] = []
        objects.reserveCapacity(max(upper - lower, 0))
        for index in lower..<max(lower, upper) { objects.append(try decode(items[index])) }
        return objects
    }

    /// The positions (in `group`'s objects) whose name contains `filter`, ignoring case; from the keys alone.
    public func positions(in group: Group, nameContaining filter: String) -> [Int] {
        guard let position = groups.firstIndex(of: group) else { return [] }
        let all = ranges[position]
        let needle = filter.lowercased()
        guard !needle.isEmpty else { return Array(0..<all.count) }
        return keys.withUnsafeBytes { arena in
            all.compactMap { index -> Int? in
                let item = items[index]
                let name = String(decoding: arena[Int(item.keyStart + item.nameOffset)..<Int(item.keyStart + item.keyCount)], as: UTF8.self)
                return name.lowercased().contains(needle) ? index - all.lowerBound : nil
            }
        }
    }

    /// The object at `position` of `group`'s objects.
    public func object(in group: Group, at position: Int) throws -> KubernetesObject? {
        try objects(in: group, range: position..<(position + 1)).first
    }

    /// Calls `body` with each object the filters select (as `SnapshotInspector.objects`' filters), decoded one at a
    /// time in browse order.
    public func forEachObject(resource: String? = nil, namespace: String? = nil,
                              _ body: (KubernetesObject) throws -> Void) throws {
        for (position, group) in groups.enumerated() where SnapshotInspector.matches(group, resource: resource, namespace: namespace) {
            for index in ranges[position] { try body(try decode(items[index])) }
        }
    }

    private func decode(_ item: Item) throws -> KubernetesObject {
        let key = keys.withUnsafeBytes { arena in
            String(decoding: arena[Int(item.keyStart)..<Int(item.keyStart + item.keyCount)], as: UTF8.self)
        }
        return try file.withCopy(offset: item.valueOffset, count: Int(item.valueCount)) { value in
            KubernetesObject(etcdKey: key, value: value, prefix: prefix)
        }
    }
}

extension BoltFile {
    /// Where `bytes` (a slice of the mapping) start in the file.
    func offset(of bytes: UnsafeRawBufferPointer) -> Int {
        bytes.baseAddress.map { $0 - base } ?? 0
    }

    /// `count` bytes at `offset`, read with pread into a buffer of their own (the mapping is not touched, so a
    /// random read costs a copy, not a page fault and the resident set a release). Throws a `BoltError` naming
    /// the file when the read fails or comes up short (the file changed under us).
    func withCopy<T>(offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        guard offset >= 0, count >= 0, offset + count <= fileLength else {
            throw BoltError(.truncated, "bytes \(offset)..<\(offset + count) lie outside the database's \(fileLength) bytes", path: path)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 8)
        defer { buffer.deallocate() }
        var done = 0
        while done < count {
            let read = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
            if read < 0, errno == EINTR { continue }
            guard read > 0 else {
                let why = read < 0 ? Self.errnoText() : "the file ended at byte \(offset + done)"
                throw BoltError(.cannotOpen, "could not read \(count) bytes at byte \(offset): \(why)", path: path)
            }
            done += read
        }
        return try body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: count))
    }
}

/// The browser of the snapshot last browsed, kept while its pages are read (the console asks for one page at a
/// time); opening another snapshot, or the same path after the file changed (size or modification time), replaces
/// it. Holds at most one browser, so memory stays that of one index.
public final class SnapshotBrowserCache: @unchecked Sendable {
    // @unchecked: all state is behind `lock`.
    private let lock = NSLock()
    private var current: (path: String, prefix: String, identity: [Int], browser: SnapshotObjectBrowser)?

    public init() {}

    /// The browser of `path`, opened now unless the one kept is of the same file as it is now.
    public func browser(path: String, prefix: String) throws -> SnapshotObjectBrowser {
        let identity = Self.identity(path)
        lock.lock()
        if let current, current.path == path, current.prefix == prefix, current.identity == identity {
            lock.unlock()
            return current.browser
        }
        current = nil  // the old index goes before the new one is built
        lock.unlock()
        let browser = try SnapshotObjectBrowser(path: path, prefix: prefix)
        lock.lock()
        current = (path, prefix, identity, browser)
        lock.unlock()
        return browser
    }

    private static func identity(_ path: String) -> [Int] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        return [Int(info.st_dev), Int(info.st_ino), Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec)]
    }
}

extension SnapshotObjectBrowser {
    /// `count` objects from `start` of those in `group` whose name contains `filter` (ignoring case), decoded, with
    /// how many match in all and each one's place among all of the group's objects.
    public func page(in group: Group, nameContaining filter: String, start: Int, count: Int)
        throws -> (total: Int, objects: [KubernetesObject], positions: [Int]) {
        if filter.isEmpty {
            let total = self.count(in: group)
            let lower = min(max(start, 0), total), upper = min(lower + max(count, 0), total)
            return (total, try objects(in: group, range: lower..<upper), Array(lower..<upper))
        }
        let matching = positions(in: group, nameContaining: filter)
        let lower = min(max(start, 0), matching.count), upper = min(lower + max(count, 0), matching.count)
        let positions = Array(matching[lower..<upper])
        return (matching.count, try positions.compactMap { try object(in: group, at: $0) }, positions)
    }
}
