/// One page of the tree (or an inline bucket's page inside a value), bounds already checked:
/// `span` bytes from `start` belong to it and hold the header plus `count` 16-byte elements.
struct BoltPage {
    static let branchFlag: UInt16 = 0x01
    static let leafFlag: UInt16 = 0x02
    static let metaFlag: UInt16 = 0x04
    static let freelistFlag: UInt16 = 0x10
    static let elementSize = 16
    static let bucketLeafFlag: UInt32 = 0x01

    let start: UnsafeRawPointer
    let span: Int
    /// The page number; for an inline bucket, the page holding it.
    let id: UInt64
    let flags: UInt16
    let count: Int
    let overflow: Int
    let isInline: Bool

    var isBranch: Bool { flags == Self.branchFlag }
    var isLeaf: Bool { flags == Self.leafFlag }
    /// Where element data may start: after the header and the element array.
    var dataStart: Int { BoltFile.headerSize + count * Self.elementSize }

    var label: String { isInline ? "inline bucket in page \(id)" : "page \(id)" }

    static func typeName(_ flags: UInt16) -> String {
        switch flags {
        case branchFlag: "branch"
        case leafFlag: "leaf"
        case metaFlag: "meta"
        case freelistFlag: "freelist"
        default: "unknown (flags 0x\(String(flags, radix: 16)))"
        }
    }

    @inline(__always)
    func u16(_ offset: Int) -> UInt16 { UInt16(littleEndian: start.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    @inline(__always)
    func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: start.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    @inline(__always)
    func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: start.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }

    /// Checks that the element array fits in the page.
    func checkCount() throws {
        guard dataStart <= span else {
            throw BoltError(.countOutOfBounds, page: id,
                            "\(label) claims \(count) elements (\(count * Self.elementSize) bytes), more than its \(span) bytes can hold")
        }
    }

    /// Leaf element `index`: flags, key and value, bounds-checked against the page span.
    @inline(__always)
    func leafElement(_ index: Int) throws -> (flags: UInt32, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let element = BoltFile.headerSize + index * Self.elementSize
        let flags = u32(element)
        let keyStart = element + Int(u32(element + 4))
        let keySize = Int(u32(element + 8))
        let valueSize = Int(u32(element + 12))
        let end = keyStart + keySize + valueSize
        guard end <= span else {
            throw BoltError(.badElement, page: id,
                            "\(label) element \(index): key and value at bytes \(keyStart)..<\(end) lie outside the page's \(span) bytes")
        }
        return (flags,
                UnsafeRawBufferPointer(start: start + keyStart, count: keySize),
                UnsafeRawBufferPointer(start: start + keyStart + keySize, count: valueSize))
    }

    /// Branch element `index`: key and child page id, bounds-checked against the page span.
    @inline(__always)
    func branchElement(_ index: Int) throws -> (key: UnsafeRawBufferPointer, child: UInt64) {
        let element = BoltFile.headerSize + index * Self.elementSize
        let keyStart = element + Int(u32(element))
        let keySize = Int(u32(element + 4))
        let end = keyStart + keySize
        guard end <= span else {
            throw BoltError(.badElement, page: id,
                            "\(label) element \(index): key at bytes \(keyStart)..<\(end) lies outside the page's \(span) bytes")
        }
        return (UnsafeRawBufferPointer(start: start + keyStart, count: keySize), u64(element + 8))
    }
}

extension BoltFile {
    /// Page `id` as referenced from `parent`: within the database, header id matching, overflow in bounds.
    @inline(__always)
    func page(_ id: UInt64, from parent: String) throws -> BoltPage {
        guard id >= 2 else {
            throw BoltError(.badPageType, page: id, "\(parent) refers to page \(id), which is a meta page")
        }
        guard id < pageLimit else {
            throw BoltError(.pageOutOfBounds, page: id,
                            "\(parent) refers to page \(id), which is outside the database (it has \(pageLimit) pages)")
        }
        let offset = Int(id) * pageSize
        let start = base + offset
        let header = BoltPage(start: start, span: pageSize, id: id, flags: 0, count: 0, overflow: 0, isInline: false)
        let storedID = header.u64(0)
        guard storedID == id else {
            throw BoltError(.badPageId, page: id,
                            "page \(id) (referenced from \(parent)) has id \(storedID) in its header")
        }
        let overflow = UInt64(header.u32(12))
        guard id + overflow < pageLimit else {
            throw BoltError(.pageOutOfBounds, page: id,
                            "page \(id) continues over \(overflow) overflow pages, past the end of the database (it has \(pageLimit) pages)")
        }
        let span = (Int(overflow) + 1) * pageSize
        residency.touch(offset: offset, count: span)
        return BoltPage(start: start, span: span, id: id,
                        flags: header.u16(8), count: Int(header.u16(10)), overflow: Int(overflow), isInline: false)
    }

    /// The root of a bucket from its 16-byte header (the value of a bucket entry).
    func bucketRoot(_ value: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer, in holder: BoltPage) throws -> BucketRoot {
        guard value.count >= 16 else {
            throw BoltError(.badElement, page: holder.id,
                            "bucket \(Self.printable(name)) in \(holder.label) has a \(value.count)-byte header; a bucket header is 16 bytes")
        }
        let root = UInt64(littleEndian: value.baseAddress!.loadUnaligned(as: UInt64.self))
        if root != 0 { return .page(root) }
        guard value.count >= 16 + Self.headerSize else {
            throw BoltError(.badElement, page: holder.id,
                            "inline bucket \(Self.printable(name)) in \(holder.label) is \(value.count) bytes, too short for its page header")
        }
        let start = value.baseAddress! + 16
        let header = BoltPage(start: start, span: value.count - 16, id: holder.id, flags: 0, count: 0, overflow: 0, isInline: true)
        return .inline(BoltPage(start: start, span: value.count - 16, id: holder.id,
                                flags: header.u16(8), count: Int(header.u16(10)), overflow: 0, isInline: true))
    }

    enum BucketRoot {
        case page(UInt64)
        case inline(BoltPage)
    }

    /// A key for messages: text when it is printable ASCII, hex otherwise.
    static func printable(_ bytes: UnsafeRawBufferPointer) -> String {
        if !bytes.isEmpty, bytes.count <= 128, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            return "\"" + String(decoding: bytes, as: UTF8.self) + "\""
        }
        let shown = bytes.prefix(64).map { byte -> String in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
        return "0x" + shown + (bytes.count > 64 ? "... (\(bytes.count) bytes)" : "")
    }
}
