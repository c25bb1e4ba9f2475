import EtcdTestSupport
import Foundation
import Testing
import SnapshotStore

/// Each kind of damage a real file can suffer is reported as its own error, with the page, never a crash.
@Suite("Corrupt bbolt files are reported, not read")
struct BoltCorruptionTests {
    /// Writes `bytes` to a scratch file and returns the error opening and fully reading it throws.
    private func readError(_ name: String, _ bytes: [UInt8], fixture: SnapshotFixture,
                           checkStructure: Bool = true) -> BoltError? {
        let path = fixture.directory.appendingPathComponent(name).path
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let database = try EtcdDatabase(path: path)
            _ = try database.status(checkStructure: checkStructure)
            return nil
        } catch let error as BoltError {
            #expect(error.path == path)
            #expect(error.description.hasPrefix(path + ": "))
            return error
        } catch {
            Issue.record("expected a BoltError, got \(error)")
            return nil
        }
    }

    private func layout(_ fixture: SnapshotFixture) throws -> BoltFileBytes {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.snapshotPath)))
        let bolt = try EtcdDatabase(path: fixture.snapshotPath).bolt
        return try BoltFileBytes(Array(bytes.prefix(bolt.fileLength)), pageSize: bolt.pageSize, rootPage: Int(bolt.meta.root))
    }

    @Test("An empty file is reported as empty")
    func empty() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        #expect(readError("empty", [], fixture: fixture)?.kind == .empty)
    }

    @Test("Random bytes and a JSON file are not bbolt files")
    func notBolt() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var random = SeededRandom(seed: 1)
        for (name, bytes) in [("random", random.bytes(65_536)), ("short", random.bytes(40)),
                              ("json", Array(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#.utf8))] {
            let error = readError(name, bytes, fixture: fixture)
            #expect(error?.kind == .notBolt, "\(name): \(String(describing: error))")
        }
    }

    @Test("A file cut at a page boundary or mid-page is reported as truncated")
    func truncated() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let file = try layout(fixture)
        let pages = file.bytes.count / file.pageSize
        for length in [pages / 2 * file.pageSize, file.bytes.count - 1000, file.pageSize + 100] {
            let error = readError("truncated-\(length)", Array(file.bytes.prefix(length)), fixture: fixture)
            #expect(error?.kind == .truncated, "\(length): \(String(describing: error))")
            #expect(error?.message.contains("truncated") == true)
        }
    }

    @Test("A damaged meta page falls back to the other one; two damaged ones are not a bbolt file")
    func metaPages() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        file.bytes[16 + 48] ^= 0x40  // meta 0's txid: its checksum no longer matches
        let path = fixture.directory.appendingPathComponent("meta0").path
        try Data(file.bytes).write(to: URL(fileURLWithPath: path))
        let database = try EtcdDatabase(path: path)
        #expect(database.bolt.metaPage == 1)
        #expect(database.bolt.otherMetaProblem?.contains("checksum") == true)
        #expect(try database.status() == fixture.snapshotStatus)
        #expect(try database.bolt.checkStructure().warnings.contains { $0.contains("meta page 0") })

        file.bytes[file.pageSize + 16 + 20] ^= 0x01  // meta 1's root
        let error = readError("meta-both", file.bytes, fixture: fixture)
        #expect(error?.kind == .notBolt)
        #expect(error?.message.contains("both meta pages are invalid") == true)
    }

    @Test("A meta page with a valid checksum but a root outside the database is a bad meta page")
    func impossibleRoot() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        for index in 0..<2 {
            file.setU64(1, at: index * file.pageSize + 16 + 16)
            file.resealMeta(index)
        }
        #expect(readError("meta-root", file.bytes, fixture: fixture)?.kind == .badMeta)
    }

    @Test("A branch pointing outside the file is reported with the page")
    func pageOutOfBounds() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        #expect(file.flags(page: file.keyBucketRoot) == 0x01, "the fixture's key bucket should have a branch root")
        file.setU64(9_000_000, at: file.offset(page: file.keyBucketRoot, element: 0) + 8)
        for strict in [true, false] {
            let error = readError("outside", file.bytes, fixture: fixture, checkStructure: strict)
            #expect(error?.kind == .pageOutOfBounds)
            #expect(error?.page == 9_000_000)
            #expect(error?.message.contains("page 9000000") == true)
        }
    }

    @Test("A branch pointing back at an ancestor is a cycle, not an endless loop")
    func cycle() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        let branch = file.keyBucketRoot
        file.setU64(UInt64(branch), at: file.offset(page: branch, element: 0) + 8)
        for strict in [true, false] {
            let error = readError("cycle", file.bytes, fixture: fixture, checkStructure: strict)
            #expect(error?.kind == .cycle)
            #expect(error?.page == UInt64(branch))
        }
        // The rightmost-path revision lookup meets the cycle too when it is on the right edge.
        var right = try layout(fixture)
        let count = Int(BoltFileBytes.u16(right.bytes, right.offset(page: branch) + 10))
        right.setU64(UInt64(branch), at: right.offset(page: branch, element: count - 1) + 8)
        let path = fixture.directory.appendingPathComponent("cycle-right").path
        try Data(right.bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: BoltError.self) { try EtcdDatabase(path: path).revision() }
    }

    @Test("Two branches sharing a child are reported")
    func sharedPage() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        let branch = file.keyBucketRoot
        let first = BoltFileBytes.u64(file.bytes, file.offset(page: branch, element: 0) + 8)
        file.setU64(first, at: file.offset(page: branch, element: 1) + 8)
        let error = readError("shared", file.bytes, fixture: fixture)
        #expect(error?.kind == .sharedPage || error?.kind == .unsorted, "\(String(describing: error))")
        let lenient = readError("shared-lenient", file.bytes, fixture: fixture, checkStructure: false)
        #expect(lenient?.kind == .sharedPage)
    }

    @Test("A huge element count is caught before any element is read")
    func hugeCount() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        file.setU16(0xFFFF, at: file.offset(page: file.firstLeaf) + 10)
        let error = readError("count", file.bytes, fixture: fixture, checkStructure: false)
        #expect(error?.kind == .countOutOfBounds)
        #expect(error?.page == UInt64(file.firstLeaf))
        #expect(error?.message.contains("65535 elements") == true)
    }

    @Test("A page whose header names another page is reported")
    func badPageID() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        file.setU64(UInt64(file.firstLeaf + 1), at: file.offset(page: file.firstLeaf))
        #expect(readError("id", file.bytes, fixture: fixture)?.kind == .badPageId)
    }

    @Test("A freelist page inside a bucket tree is the wrong page type")
    func badPageType() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        file.setU16(0x10, at: file.offset(page: file.firstLeaf) + 8)
        let error = readError("type", file.bytes, fixture: fixture)
        #expect(error?.kind == .badPageType)
        #expect(error?.message.contains("freelist") == true)
    }

    @Test("An element whose key runs past its page is reported")
    func badElement() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        file.setU32(0x7FFF_FFFF, at: file.offset(page: file.firstLeaf, element: 0) + 8)
        for strict in [true, false] {
            #expect(readError("element", file.bytes, fixture: fixture, checkStructure: strict)?.kind == .badElement)
        }
    }

    @Test("Keys out of order fail the structure check but not a plain read")
    func unsorted() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        let element = file.offset(page: file.firstLeaf, element: 1)
        let keyStart = element + Int(BoltFileBytes.u32(file.bytes, element + 4))
        file.bytes[keyStart] = 0x7F  // revision 0x7f... sorts after every later key
        #expect(readError("unsorted", file.bytes, fixture: fixture)?.kind == .unsorted)
        #expect(readError("unsorted-lenient", file.bytes, fixture: fixture, checkStructure: false) == nil)
    }

    /// The fixture's free pages (etcd stores no freelist, so they are the unreachable ones below the high-water mark).
    private func freePages(_ file: BoltFileBytes) -> [Int] {
        let reachable = file.reachablePages()
        return (2..<file.highWaterMark(meta: 0)).filter { !reachable.contains($0) }
    }

    @Test("With a stored freelist, a page neither reachable nor free is 'unreachable unfreed', as bbolt's check says")
    func unreachableUnfreed() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        let free = freePages(file)
        try #require(free.count >= 3 && free.count - 2 <= (file.pageSize - 16) / 8, "fixture free pages: \(free.count)")
        // Every free page listed: the check passes.
        var complete = file
        complete.storeFreelist(at: free[0], listing: Array(free.dropFirst()))
        #expect(readError("freelist-complete", complete.bytes, fixture: fixture) == nil)
        // One free page left out of the list: it is unaccounted for.
        file.storeFreelist(at: free[0], listing: Array(free.dropFirst(2)))
        let error = readError("freelist-unfreed", file.bytes, fixture: fixture)
        #expect(error?.kind == .unreachable)
        #expect(error?.page == UInt64(free[1]))
        #expect(error?.message.hasPrefix("page \(free[1]): unreachable unfreed (1 pages below the high-water mark") == true,
                "\(String(describing: error))")
    }

    @Test("A page both in a bucket tree and on the stored freelist is reported")
    func freelistOverlap() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        let free = freePages(file)
        try #require(free.count >= 2 && free.count <= (file.pageSize - 16) / 8)
        file.storeFreelist(at: free[0], listing: Array(free.dropFirst()) + [file.firstLeaf])
        let error = readError("freelist-overlap", file.bytes, fixture: fixture)
        #expect(error?.kind == .sharedPage)
        #expect(error?.message == "page \(file.firstLeaf) is listed as free but is part of a bucket tree")
    }

    @Test("Lowering a branch page's element count is caught even without a checksum to compare")
    func branchCountLowered() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try layout(fixture)
        let page = file.keyBucketRoot
        let count = BoltFileBytes.u16(file.bytes, file.offset(page: page) + 10)
        file.setU16(count - 1, at: file.offset(page: page) + 10)
        let error = readError("branch-count", file.bytes, fixture: fixture)
        #expect(error?.kind == .countOutOfBounds)
        #expect(error?.page == UInt64(page))
        #expect(error?.message.contains("the element count was changed") == true, "\(String(describing: error))")
    }

    @Test("Asking for a bucket that is not there names it")
    func missingBucket() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let bolt = try EtcdDatabase(path: fixture.snapshotPath).bolt
        let error = #expect(throws: BoltError.self) { try bolt.forEach(bucket: "nope") { _, _ in } }
        #expect(error?.kind == .noSuchBucket)
        #expect(error?.message.contains("\"nope\"") == true)
    }
}
