/// The contents of a bbolt meta page (pages 0 and 1). bbolt writes them alternately; a reader uses the
/// valid one with the higher transaction id.
public struct BoltMeta: Sendable, Equatable {
    public static let magic: UInt32 = 0xED0C_DAED
    public static let version: UInt32 = 2
    /// The freelist pgid written when the freelist is not stored (etcd runs with NoFreelistSync).
    public static let freelistNotStored: UInt64 = .max

    public var magic: UInt32
    public var version: UInt32
    public var pageSize: UInt32
    public var flags: UInt32
    /// Root page of the top-level bucket, whose entries are the named buckets.
    public var root: UInt64
    public var rootSequence: UInt64
    public var freelist: UInt64
    /// The high-water mark: pages below it belong to the database; the database spans pgid * pageSize bytes.
    public var pgid: UInt64
    public var txid: UInt64
    public var checksum: UInt64

    public var freelistIsStored: Bool { freelist != Self.freelistNotStored }

    /// Size of the meta structure, checksum included.
    static let size = 64

    /// Reads a meta structure at `offset` (the page start + 16); the caller guarantees 64 readable bytes.
    init(at pointer: UnsafeRawPointer) {
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: pointer.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        magic = u32(0)
        version = u32(4)
        pageSize = u32(8)
        flags = u32(12)
        root = u64(16)
        rootSequence = u64(24)
        freelist = u64(32)
        pgid = u64(40)
        txid = u64(48)
        checksum = u64(56)
        computedChecksum = Self.fnv1a64(UnsafeRawBufferPointer(start: pointer, count: 56))
    }

    /// FNV-1a 64 of the 56 bytes before the checksum field, as computed when read.
    public let computedChecksum: UInt64

    /// Why this meta page cannot be used, or nil when it can.
    var problem: String? {
        if magic != Self.magic {
            return "magic is 0x\(String(magic, radix: 16)), expected 0xed0cdaed"
        }
        if version != Self.version {
            return "version is \(version), expected 2"
        }
        if checksum != computedChecksum {
            return "checksum is 0x\(String(checksum, radix: 16)), computed 0x\(String(computedChecksum, radix: 16))"
        }
        return nil
    }

    static func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}
