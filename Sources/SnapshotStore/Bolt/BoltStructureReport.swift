/// What `BoltFile.checkStructure()` found in a database that passed the check.
public struct BoltStructureReport: Sendable, Equatable {
    public var pageSize: Int
    /// The meta page in use (0 or 1), its transaction id and high-water mark.
    public var metaPage: Int
    public var txid: UInt64
    public var highWaterMark: UInt64
    /// Why the other meta page is unusable, when it is (a torn write; the database is still readable).
    public var otherMetaProblem: String?

    public var topLevelBuckets: Int
    /// All buckets, nested ones included.
    public var buckets: Int
    public var inlineBuckets: Int
    /// Key/value entries in all buckets (bucket entries excluded).
    public var keys: Int

    public var branchPages: Int
    public var leafPages: Int
    public var overflowPages: Int
    /// Whether the freelist is stored in the file (etcd runs bbolt with NoFreelistSync: usually not).
    public var freelistStored: Bool
    public var freelistPages: Int
    /// Pages the stored freelist lists as free.
    public var freePages: Int
    /// Pages below the high-water mark that no tree and no freelist accounts for. When the freelist is not
    /// stored, this is simply the free space.
    public var unreachablePages: Int
    /// The deepest descent, counting every tree level of every nested bucket.
    public var treeDepth: Int
    /// Oddities that do not stop the database from being read.
    public var warnings: [String]

    /// Pages reachable from the root: branch, leaf and their overflow pages.
    public var reachablePages: Int { branchPages + leafPages + overflowPages }
}

extension BoltFile {
    /// Checks the whole structure: both meta pages, every page reachable from the root (branch and
    /// leaf pages, nested and inline buckets), page ids, page types, overflow runs, element bounds,
    /// strictly increasing keys within each parent's key range, no page reached twice, and the stored
    /// freelist when there is one. Throws the first problem found; returns counts when there is none.
    public func checkStructure() throws -> BoltStructureReport {
        try checkStructure(maxLevel: .max) { _, _, _, _ in }
    }

    /// The structure check, also handing each entry to `visit` (level 0 = top-level bucket names).
    func checkStructure(maxLevel: Int, _ visit: BoltTreeWalk.Visitor) throws -> BoltStructureReport {
        try rethrowingWithPath {
            var warnings: [String] = []
            if let otherMetaProblem { warnings.append(otherMetaProblem) }
            for index in 0..<2 {
                let header = BoltPage(start: base + index * pageSize, span: pageSize, id: UInt64(index),
                                      flags: 0, count: 0, overflow: 0, isInline: false)
                let flags = header.u16(8)
                if index == metaPage || otherMetaProblem == nil, flags != BoltPage.metaFlag {
                    warnings.append("meta page \(index) has page flags 0x\(String(flags, radix: 16)), expected 0x4 (meta)")
                }
            }

            var walk = BoltTreeWalk(file: self, strict: true)
            var topLevelBuckets = 0
            var plainTopLevelKeys = 0
            try walk.walkRoot(maxLevel: maxLevel) { level, key, value, isBucket in
                if level == 0 {
                    if isBucket { topLevelBuckets += 1 } else { plainTopLevelKeys += 1 }
                }
                try visit(level, key, value, isBucket)
            }
            if plainTopLevelKeys > 0 {
                warnings.append("\(plainTopLevelKeys) top-level entries are plain keys; bbolt only puts buckets there")
            }

            var freelistPages = 0
            var freePages = 0
            var freelistListed = FreelistPages(bits: [], overflow: 0)
            if meta.freelistIsStored {
                let freelist = try checkFreelist(walk: walk, warnings: &warnings)
                freelistPages = freelist.pages
                freePages = freelist.free
                freelistListed = freelist.listed
            }
            let reachable = walk.branchPages + walk.leafPages + walk.overflowPages
            let unreachable = Int(meta.pgid) - 2 - reachable - freelistPages - freePages
            if meta.freelistIsStored, unreachable > 0, let first = freelistListed.firstUnaccounted(walk: walk, freelist: meta.freelist) {
                // bbolt's check: every page below the high-water mark is reachable once or free.
                throw BoltError(.unreachable, page: first,
                                "page \(first): unreachable unfreed (\(unreachable) pages below the high-water mark \(meta.pgid) are neither reachable from the root nor in the freelist)")
            }
            return BoltStructureReport(
                pageSize: pageSize, metaPage: metaPage, txid: meta.txid, highWaterMark: meta.pgid,
                otherMetaProblem: otherMetaProblem,
                topLevelBuckets: topLevelBuckets, buckets: walk.buckets, inlineBuckets: walk.inlineBuckets,
                keys: walk.keys,
                branchPages: walk.branchPages, leafPages: walk.leafPages, overflowPages: walk.overflowPages,
                freelistStored: meta.freelistIsStored, freelistPages: freelistPages, freePages: freePages,
                unreachablePages: max(0, unreachable), treeDepth: walk.maxDepth, warnings: warnings)
        }
    }

    /// Checks the stored freelist page: its type, its id list's bounds, and that no listed page is in use.
    private func checkFreelist(walk: BoltTreeWalk, warnings: inout [String]) throws -> (pages: Int, free: Int, listed: FreelistPages) {
        let page = try page(meta.freelist, from: "the meta page")
        guard page.flags == BoltPage.freelistFlag else {
            throw BoltError(.badPageType, page: page.id,
                            "the freelist page \(page.id) is a \(BoltPage.typeName(page.flags)) page")
        }
        for id in page.id...(page.id + UInt64(page.overflow)) where walk.isVisited(id) {
            throw BoltError(.sharedPage, page: id, "freelist page \(id) is also part of a bucket tree")
        }
        var count = page.count
        var idsStart = Self.headerSize
        if count == 0xFFFF {
            // bbolt stores a large count in the first slot.
            guard idsStart + 8 <= page.span else {
                throw BoltError(.countOutOfBounds, page: page.id, "freelist page \(page.id) is too short for its count")
            }
            let stored = page.u64(idsStart)
            guard stored <= UInt64(page.span / 8) else {
                throw BoltError(.countOutOfBounds, page: page.id,
                                "freelist page \(page.id) claims \(stored) free pages, more than its \(page.span) bytes can hold")
            }
            count = Int(stored)
            idsStart += 8
        }
        guard idsStart + count * 8 <= page.span else {
            throw BoltError(.countOutOfBounds, page: page.id,
                            "freelist page \(page.id) claims \(count) free pages, more than its \(page.span) bytes can hold")
        }
        var listed = [UInt64](repeating: 0, count: Int(pageLimit + 63) / 64)
        var duplicates = 0
        for index in 0..<count {
            let id = page.u64(idsStart + index * 8)
            guard id >= 2, id < pageLimit else {
                throw BoltError(.pageOutOfBounds, page: page.id,
                                "freelist page \(page.id) lists page \(id) as free, outside pages 2..<\(pageLimit)")
            }
            if walk.isVisited(id) {
                throw BoltError(.sharedPage, page: id, "page \(id) is listed as free but is part of a bucket tree")
            }
            let word = Int(id >> 6), bit: UInt64 = 1 << (id & 63)
            if listed[word] & bit != 0 { duplicates += 1 }
            listed[word] |= bit
        }
        if duplicates > 0 {
            warnings.append("the freelist lists \(duplicates) pages more than once")
        }
        return (page.overflow + 1, count - duplicates, FreelistPages(bits: listed, overflow: page.overflow))
    }

    /// The pages a stored freelist lists, to find the first page nothing accounts for.
    struct FreelistPages {
        var bits: [UInt64]
        var overflow: Int

        func firstUnaccounted(walk: BoltTreeWalk, freelist: UInt64) -> UInt64? {
            var id: UInt64 = 2
            while id < walk.file.pageLimit {
                let word = Int(id >> 6), bit: UInt64 = 1 << (id & 63)
                let listed = word < bits.count && bits[word] & bit != 0
                let isFreelist = id >= freelist && id <= freelist + UInt64(overflow)
                if !listed, !isFreelist, !walk.isVisited(id) { return id }
                id += 1
            }
            return nil
        }
    }
}
