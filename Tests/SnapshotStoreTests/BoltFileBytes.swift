import Foundation
import SnapshotStore

/// A bbolt file's bytes with just enough layout knowledge to aim corruption at real pages: the
/// "key" bucket's root (a branch page in the fixtures) and its first leaf.
struct BoltFileBytes {
    var bytes: [UInt8]
    let pageSize: Int
    let rootPage: Int
    let keyBucketRoot: Int
    let firstLeaf: Int

    init(_ bytes: [UInt8], pageSize: Int, rootPage: Int) throws {
        self.bytes = bytes
        self.pageSize = pageSize
        self.rootPage = rootPage
        var keyRoot: Int?
        let rootOffset = rootPage * pageSize
        let count = Int(Self.u16(bytes, rootOffset + 10))
        for index in 0..<count {
            let element = rootOffset + 16 + index * 16
            let keyStart = element + Int(Self.u32(bytes, element + 4))
            let keySize = Int(Self.u32(bytes, element + 8))
            if Array(bytes[keyStart..<keyStart + keySize]) == Array("key".utf8) {
                keyRoot = Int(Self.u64(bytes, keyStart + keySize))
            }
        }
        guard let keyRoot, keyRoot != 0 else { throw CocoaError(.fileReadCorruptFile) }
        keyBucketRoot = keyRoot
        var page = keyRoot
        while Self.u16(bytes, page * pageSize + 8) == 0x01 {
            page = Int(Self.u64(bytes, page * pageSize + 16 + 8))
        }
        firstLeaf = page
    }

    func offset(page: Int) -> Int { page * pageSize }
    func offset(page: Int, element: Int) -> Int { page * pageSize + 16 + element * 16 }
    func flags(page: Int) -> UInt16 { Self.u16(bytes, offset(page: page) + 8) }

    mutating func setU16(_ value: UInt16, at offset: Int) { set(value, at: offset) }
    mutating func setU32(_ value: UInt32, at offset: Int) { set(value, at: offset) }
    mutating func setU64(_ value: UInt64, at offset: Int) { set(value, at: offset) }

    private mutating func set<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + T.bitWidth / 8, with: $0) }
    }

    /// Rewrites meta page `index`'s checksum after an edit (FNV-1a 64 over the 56 bytes before it).
    mutating func resealMeta(_ index: Int) {
        let start = index * pageSize + 16
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes[start..<start + 56] {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        setU64(hash, at: start + 56)
    }

    static func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    static func u64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }

    /// Every page reachable from the root bucket (branch, leaf and overflow pages), by an independent walk.
    func reachablePages() -> Set<Int> {
        var seen = Set<Int>()
        func walk(_ page: Int) {
            let start = offset(page: page)
            let flags = Self.u16(bytes, start + 8)
            let count = Int(Self.u16(bytes, start + 10))
            let overflow = Int(Self.u32(bytes, start + 12))
            for id in page...(page + overflow) { seen.insert(id) }
            for index in 0..<count {
                let element = start + 16 + index * 16
                if flags == 0x01 {
                    walk(Int(Self.u64(bytes, element + 8)))
                } else if Self.u32(bytes, element) & 1 != 0 {
                    let keyStart = element + Int(Self.u32(bytes, element + 4))
                    let valueStart = keyStart + Int(Self.u32(bytes, element + 8))
                    let root = Int(Self.u64(bytes, valueStart))
                    if root != 0 { walk(root) }
                }
            }
        }
        walk(rootPage)
        return seen
    }

    /// The high-water mark of meta page `index`.
    func highWaterMark(meta index: Int) -> Int { Int(Self.u64(bytes, index * pageSize + 16 + 40)) }

    /// Turns free page `freelistPage` into a stored freelist listing `free`, and points both meta pages at it.
    mutating func storeFreelist(at freelistPage: Int, listing free: [Int]) {
        let start = offset(page: freelistPage)
        bytes.replaceSubrange(start..<start + pageSize, with: [UInt8](repeating: 0, count: pageSize))
        setU64(UInt64(freelistPage), at: start)
        setU16(0x10, at: start + 8)
        setU16(UInt16(free.count), at: start + 10)
        for (index, id) in free.enumerated() { setU64(UInt64(id), at: start + 16 + index * 8) }
        for meta in 0..<2 {
            setU64(UInt64(freelistPage), at: meta * pageSize + 16 + 32)
            resealMeta(meta)
        }
    }
}
