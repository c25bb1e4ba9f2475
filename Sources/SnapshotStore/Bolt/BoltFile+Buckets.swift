/// One entry of a bucket. `key` and `value` point into the mapped file and are valid only inside the
/// closure that receives them; copy them (`Array(entry.key)`) to keep them.
public struct BoltEntry {
    public let key: UnsafeRawBufferPointer
    /// For a nested bucket: its 16-byte header (root page, sequence), plus its page when stored inline.
    public let value: UnsafeRawBufferPointer
    public let isBucket: Bool
}

extension BoltFile {
    /// The names of the top-level buckets, in key order.
    public func bucketNames() throws -> [String] {
        var names: [String] = []
        try rethrowingWithPath {
            var walk = BoltTreeWalk(file: self, strict: false)
            try walk.walkRoot(maxLevel: 0) { _, key, _, isBucket in
                if isBucket { names.append(String(decoding: key, as: UTF8.self)) }
            }
        }
        return names
    }

    /// Calls `body` with each key and value of the top-level bucket `bucket`, in key order.
    /// Nested buckets are skipped; use `forEachEntry` to see them.
    public func forEach(bucket: String,
                        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) throws {
        try forEachEntry(bucket: bucket) { entry in
            if !entry.isBucket { try body(entry.key, entry.value) }
        }
    }

    /// Calls `body` with each entry of the top-level bucket `bucket`, nested buckets included, in key order.
    public func forEachEntry(bucket: String, _ body: (BoltEntry) throws -> Void) throws {
        try rethrowingWithPath {
            let root = try findBucket(bucket)
            var walk = BoltTreeWalk(file: self, strict: false)
            try walk.walkBucket(root, from: "bucket \"\(bucket)\"", level: 0, maxLevel: 0) { _, key, value, isBucket in
                try body(BoltEntry(key: key, value: value, isBucket: isBucket))
            }
        }
    }

    /// The last key of the top-level bucket `bucket`, or nil when it is empty. Walks only the rightmost
    /// path of the tree, so it costs a few page reads however large the bucket is.
    public func lastKey(bucket: String) throws -> [UInt8]? {
        try withLastKey(bucket: bucket) { $0.map { Array($0) } }
    }

    /// Like `lastKey(bucket:)`, without copying the key.
    public func withLastKey<T>(bucket: String, _ body: (UnsafeRawBufferPointer?) throws -> T) throws -> T {
        let key = try rethrowingWithPath { () -> UnsafeRawBufferPointer? in
            switch try findBucket(bucket) {
            case .inline(let page):
                return try lastKey(inLeaf: page)
            case .page(let root):
                var visited = Set<UInt64>()
                return try lastKey(underPage: root, from: "bucket \"\(bucket)\"", depth: 1, visited: &visited)
            }
        }
        return try body(key)
    }

    /// Whether the top-level bucket exists.
    public func hasBucket(_ bucket: String) throws -> Bool {
        try bucketNames().contains(bucket)
    }

    // MARK: - Internals

    func rethrowingWithPath<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as BoltError {
            throw error.at(path: path)
        }
    }

    /// Finds a top-level bucket by name.
    func findBucket(_ name: String) throws -> BucketRoot {
        var found: BucketRoot?
        var notBucket = false
        try Array(name.utf8).withUnsafeBytes { wanted in
            var walk = BoltTreeWalk(file: self, strict: false)
            try walk.walkRoot(maxLevel: 0) { _, key, value, isBucket in
                guard found == nil, !notBucket, compare(key, wanted) == 0 else { return }
                if isBucket {
                    found = try self.bucketRoot(value, name: key, in: self.holder(of: value))
                } else {
                    notBucket = true
                }
            }
        }
        if notBucket {
            throw BoltError(.notABucket, "top-level entry \"\(name)\" is a plain key, not a bucket")
        }
        guard let found else {
            throw BoltError(.noSuchBucket, "there is no bucket \"\(name)\"")
        }
        return found
    }

    /// The page that holds `bytes`, for messages about an inline bucket found there.
    func holder(of bytes: UnsafeRawBufferPointer) -> BoltPage {
        let offset = bytes.baseAddress! - base
        let id = UInt64(offset / pageSize)
        return BoltPage(start: base + Int(id) * pageSize, span: pageSize, id: id, flags: 0, count: 0, overflow: 0, isInline: false)
    }

    private func lastKey(inLeaf page: BoltPage) throws -> UnsafeRawBufferPointer? {
        guard page.isLeaf else {
            throw BoltError(.badPageType, page: page.id,
                            "\(page.label) is a \(BoltPage.typeName(page.flags)) page; expected a leaf page")
        }
        try page.checkCount()
        guard page.count > 0 else { return nil }
        return try page.leafElement(page.count - 1).key
    }

    /// Right-to-left depth-first search for the last key; normally touches one page per level.
    private func lastKey(underPage id: UInt64, from parent: String, depth: Int,
                         visited: inout Set<UInt64>) throws -> UnsafeRawBufferPointer? {
        let page = try page(id, from: parent)
        guard visited.insert(id).inserted else {
            throw BoltError(.cycle, page: id, "\(parent) refers to page \(id), which was already visited: the tree has a cycle")
        }
        guard depth <= BoltTreeWalk.maximumDepth else {
            throw BoltError(.tooDeep, page: id, "the tree nests more than \(BoltTreeWalk.maximumDepth) levels deep at page \(id)")
        }
        if page.isLeaf { return try lastKey(inLeaf: page) }
        guard page.isBranch else {
            throw BoltError(.badPageType, page: id,
                            "page \(id) (referenced from \(parent)) is a \(BoltPage.typeName(page.flags)) page; expected a branch or leaf page")
        }
        guard page.count > 0 else {
            throw BoltError(.countOutOfBounds, page: id, "branch page \(id) has no elements")
        }
        try page.checkCount()
        for index in stride(from: page.count - 1, through: 0, by: -1) {
            let child = try page.branchElement(index).child
            if let key = try lastKey(underPage: child, from: "branch page \(id)", depth: depth + 1, visited: &visited) {
                return key
            }
        }
        return nil
    }
}
