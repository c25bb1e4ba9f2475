#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A depth-first walk over bucket trees, in key order. Every page is visited at most once (a bitmap of
/// visited pages turns cycles and shared pages into errors), and recursion is bounded, so a corrupt file
/// can neither hang nor overflow the stack. In strict mode it also checks what `checkStructure` promises:
/// key order, element flags and layout.
struct BoltTreeWalk {
    /// Receives each leaf entry: the bucket nesting level (0 = the top-level bucket names), key, value,
    /// and whether the entry is a nested bucket (then `value` is its 16-byte header, or header + inline page).
    typealias Visitor = (_ level: Int, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ isBucket: Bool) throws -> Void

    /// Deeper than any real tree: bbolt pages hold at least two keys, so 2^64 keys fit in 64 levels.
    static let maximumDepth = 128

    let file: BoltFile
    let strict: Bool
    private var visited: [UInt64]
    /// Pages on the way down to the current one, for telling a cycle from a shared page.
    private var path: [UInt64] = []
    private var depth = 0

    // What was seen, for the structure report.
    var branchPages = 0
    var leafPages = 0
    var overflowPages = 0
    var buckets = 0
    var inlineBuckets = 0
    var keys = 0
    var maxDepth = 0

    init(file: BoltFile, strict: Bool) {
        self.file = file
        self.strict = strict
        visited = [UInt64](repeating: 0, count: Int(file.pageLimit + 63) / 64)
    }

    func isVisited(_ id: UInt64) -> Bool {
        visited[Int(id >> 6)] & (1 << (id & 63)) != 0
    }

    /// Walks the tree of the top-level bucket (whose entries are the named buckets).
    mutating func walkRoot(maxLevel: Int, _ visit: Visitor) throws {
        try walkBucket(.page(file.meta.root), from: "the meta page", level: 0, maxLevel: maxLevel, visit)
    }

    /// Walks one bucket's tree; entries at `level`, descending into nested buckets up to `maxLevel`.
    mutating func walkBucket(_ root: BoltFile.BucketRoot, from parent: String, level: Int, maxLevel: Int, _ visit: Visitor) throws {
        var previous: UnsafeRawBufferPointer?
        switch root {
        case .page(let id):
            try walkPage(id, from: parent, lower: nil, upper: nil, previous: &previous, level: level, maxLevel: maxLevel, visit)
        case .inline(let page):
            guard page.isLeaf else {
                throw BoltError(.badPageType, page: page.id,
                                "\(page.label) is a \(BoltPage.typeName(page.flags)) page; inline buckets are leaf pages")
            }
            try enter(page.id)
            defer { depth -= 1 }
            try walkLeaf(page, lower: nil, upper: nil, previous: &previous, level: level, maxLevel: maxLevel, visit)
        }
    }

    private mutating func enter(_ id: UInt64) throws {
        depth += 1
        if depth > maxDepth { maxDepth = depth }
        guard depth <= Self.maximumDepth else {
            throw BoltError(.tooDeep, page: id, "trees and buckets nest more than \(Self.maximumDepth) levels deep at page \(id)")
        }
    }

    private mutating func markVisited(_ page: BoltPage, from parent: String) throws {
        for id in page.id...(page.id + UInt64(page.overflow)) {
            let word = Int(id >> 6), bit: UInt64 = 1 << (id & 63)
            if visited[word] & bit != 0 {
                if path.contains(id) {
                    throw BoltError(.cycle, page: id, "\(parent) refers to page \(id), one of its own ancestors: the tree has a cycle")
                }
                throw BoltError(.sharedPage, page: id, "\(parent) refers to page \(id), which is already used elsewhere in the database")
            }
            visited[word] |= bit
        }
    }

    private mutating func walkPage(_ id: UInt64, from parent: String,
                                   lower: UnsafeRawBufferPointer?, upper: UnsafeRawBufferPointer?,
                                   previous: inout UnsafeRawBufferPointer?,
                                   level: Int, maxLevel: Int, _ visit: Visitor) throws {
        let page = try file.page(id, from: parent)
        try markVisited(page, from: parent)
        try enter(id)
        path.append(id)
        defer {
            path.removeLast()
            depth -= 1
        }
        overflowPages += page.overflow
        if page.isBranch {
            branchPages += 1
            try walkBranch(page, lower: lower, upper: upper, previous: &previous, level: level, maxLevel: maxLevel, visit)
        } else if page.isLeaf {
            leafPages += 1
            try walkLeaf(page, lower: lower, upper: upper, previous: &previous, level: level, maxLevel: maxLevel, visit)
        } else {
            throw BoltError(.badPageType, page: id,
                            "page \(id) (referenced from \(parent)) is a \(BoltPage.typeName(page.flags)) page; expected a branch or leaf page")
        }
    }

    private mutating func walkBranch(_ page: BoltPage,
                                     lower: UnsafeRawBufferPointer?, upper: UnsafeRawBufferPointer?,
                                     previous: inout UnsafeRawBufferPointer?,
                                     level: Int, maxLevel: Int, _ visit: Visitor) throws {
        guard page.count > 0 else {
            throw BoltError(.countOutOfBounds, page: page.id, "branch page \(page.id) has no elements")
        }
        try page.checkCount()
        let from = "branch page \(page.id)"
        var key = try page.branchElement(0)
        if strict {
            try checkElementLayout(page, index: 0, key: key.key)
            try checkPacked(page, index: 0, dataStart: key.key.baseAddress! - page.start, expected: page.dataStart)
            if let lower, compare(key.key, lower) < 0 {
                throw outOfRange(page, index: 0, key.key, "is below", lower)
            }
        }
        for index in 0..<page.count {
            let next = index + 1 < page.count ? try page.branchElement(index + 1) : nil
            if strict, let next {
                try checkElementLayout(page, index: index + 1, key: next.key)
                try checkPacked(page, index: index + 1, dataStart: next.key.baseAddress! - page.start,
                                expected: key.key.baseAddress! - page.start + key.key.count)
                guard compare(key.key, next.key) < 0 else {
                    throw BoltError(.unsorted, page: page.id,
                                    "branch page \(page.id) element \(index + 1): key \(BoltFile.printable(next.key)) does not sort after the key before it, \(BoltFile.printable(key.key))")
                }
            }
            let childUpper = next?.key ?? upper
            if strict, next == nil, let upper, compare(key.key, upper) >= 0 {
                throw outOfRange(page, index: index, key.key, "is not below", upper)
            }
            try walkPage(key.child, from: from, lower: key.key, upper: childUpper,
                         previous: &previous, level: level, maxLevel: maxLevel, visit)
            if let next { key = next }
        }
    }

    private mutating func walkLeaf(_ page: BoltPage,
                                   lower: UnsafeRawBufferPointer?, upper: UnsafeRawBufferPointer?,
                                   previous: inout UnsafeRawBufferPointer?,
                                   level: Int, maxLevel: Int, _ visit: Visitor) throws {
        try page.checkCount()
        let count = page.count
        var packedEnd = page.dataStart
        for index in 0..<count {
            let element = try page.leafElement(index)
            if strict {
                try checkElementLayout(page, index: index, key: element.key)
                let start = element.key.baseAddress! - page.start
                try checkPacked(page, index: index, dataStart: start, expected: packedEnd)
                packedEnd = start + element.key.count + element.value.count
                guard element.flags & ~BoltPage.bucketLeafFlag == 0 else {
                    throw BoltError(.badElement, page: page.id,
                                    "\(page.label) element \(index) has flags 0x\(String(element.flags, radix: 16)); only 0x1 (bucket) is valid")
                }
                if let previous, compare(previous, element.key) >= 0 {
                    throw BoltError(.unsorted, page: page.id,
                                    "\(page.label) element \(index): key \(BoltFile.printable(element.key)) does not sort after the key before it, \(BoltFile.printable(previous))")
                }
                if index == 0, let lower, compare(element.key, lower) < 0 {
                    throw outOfRange(page, index: index, element.key, "is below", lower)
                }
                if index == count - 1, let upper, compare(element.key, upper) >= 0 {
                    throw outOfRange(page, index: index, element.key, "is not below", upper)
                }
            }
            previous = element.key
            let isBucket = element.flags & BoltPage.bucketLeafFlag != 0
            try visit(level, element.key, element.value, isBucket)
            if isBucket {
                buckets += 1
                if level < maxLevel {
                    let root = try file.bucketRoot(element.value, name: element.key, in: page)
                    if case .inline = root { inlineBuckets += 1 }
                    try walkBucket(root, from: "bucket \(BoltFile.printable(element.key)) in \(page.label)",
                                   level: level + 1, maxLevel: maxLevel, visit)
                }
            } else {
                keys += 1
            }
        }
    }

    /// Strict-mode checks on one element: non-empty key, data after the element array.
    private func checkElementLayout(_ page: BoltPage, index: Int, key: UnsafeRawBufferPointer) throws {
        guard !key.isEmpty else {
            throw BoltError(.badElement, page: page.id, "\(page.label) element \(index) has an empty key")
        }
        let offset = key.baseAddress! - page.start
        guard offset >= page.dataStart else {
            throw BoltError(.badElement, page: page.id,
                            "\(page.label) element \(index): its key at byte \(offset) overlaps the element headers (which end at byte \(page.dataStart))")
        }
    }

    /// Strict-mode check that element data is packed as bbolt writes it (node.write): the first element's key
    /// right after the element headers, each next one right after the data before it. A changed element count
    /// or position breaks this; without it, lowering a branch's count would silently drop subtrees (issue 12.8).
    private func checkPacked(_ page: BoltPage, index: Int, dataStart: Int, expected: Int) throws {
        guard dataStart != expected else { return }
        if index == 0 {
            throw BoltError(.countOutOfBounds, page: page.id,
                            "\(page.label) claims \(page.count) elements, but its data starts at byte \(dataStart), not at byte \(expected) where \(page.count) element headers end: the element count was changed, and the entries or pages it no longer counts are unreachable")
        }
        throw BoltError(.badElement, page: page.id,
                        "\(page.label) element \(index): its data starts at byte \(dataStart), not at byte \(expected) where the element before it ends (bbolt packs element data)")
    }

    private func outOfRange(_ page: BoltPage, index: Int, _ key: UnsafeRawBufferPointer, _ relation: String,
                            _ bound: UnsafeRawBufferPointer) -> BoltError {
        BoltError(.unsorted, page: page.id,
                  "\(page.label) element \(index): key \(BoltFile.printable(key)) \(relation) its parent's bound \(BoltFile.printable(bound))")
    }
}

/// Byte-wise key order, as bbolt sorts keys (bytes.Compare).
@inline(__always)
func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let common = min(a.count, b.count)
    if common > 0 {
        let result = memcmp(a.baseAddress!, b.baseAddress!, common)
        if result != 0 { return Int(result) }
    }
    return a.count - b.count
}
