/// A revision as etcd writes it in the "key" bucket: 8-byte big-endian main revision, '_', 8-byte
/// big-endian sub revision, and a trailing 't' when the entry is a deletion (tombstone).
public struct EtcdRevision: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var main: Int64
    public var sub: Int64
    public var isTombstone: Bool

    public init(main: Int64, sub: Int64 = 0, isTombstone: Bool = false) {
        self.main = main
        self.sub = sub
        self.isTombstone = isTombstone
    }

    /// Parses a "key" bucket key: 17 bytes, or 18 with a trailing 't'. Nil when it is neither.
    public init?(key bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 17 || (bytes.count == 18 && bytes[17] == UInt8(ascii: "t")),
              bytes[8] == UInt8(ascii: "_") else { return nil }
        main = Int64(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
        sub = Int64(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 9, as: UInt64.self)))
        isTombstone = bytes.count == 18
    }

    public init?(key bytes: [UInt8]) {
        guard let parsed = bytes.withUnsafeBytes({ EtcdRevision(key: $0) }) else { return nil }
        self = parsed
    }

    /// The main revision of a key bucket key, read the way etcd's `bytesToRev` does: the first 8 bytes.
    static func mainRevision(ofKey bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count >= 8 else { return nil }
        return Int64(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
    }

    /// The 17 or 18 bytes etcd stores.
    public var keyBytes: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: isTombstone ? 18 : 17)
        withUnsafeBytes(of: UInt64(bitPattern: main).bigEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        bytes[8] = UInt8(ascii: "_")
        withUnsafeBytes(of: UInt64(bitPattern: sub).bigEndian) { bytes.replaceSubrange(9..<17, with: $0) }
        if isTombstone { bytes[17] = UInt8(ascii: "t") }
        return bytes
    }

    public static func < (lhs: EtcdRevision, rhs: EtcdRevision) -> Bool {
        (lhs.main, lhs.sub) < (rhs.main, rhs.sub)
    }

    public var description: String {
        "\(main)_\(sub)" + (isTombstone ? "t" : "")
    }
}
