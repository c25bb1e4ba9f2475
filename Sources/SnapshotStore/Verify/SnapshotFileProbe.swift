#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small reads at the start of a file the verifier could not open as a database, to say what it is:
/// a damaged or truncated bbolt file (its meta pages carry bbolt's magic), JSON or other text, or bytes.
struct SnapshotFileProbe {
    let fd: Int32
    let size: Int

    /// `count` bytes at `offset`, or nil when the file ends first or the read fails.
    func bytes(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset + count <= size else { return nil }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if read < 0, errno == EINTR { continue }
            guard read > 0 else { return nil }
            done += read
        }
        return buffer
    }

    /// The meta structure of the page at `offset` (16 bytes of page header, then 64 bytes of meta).
    private func meta(atPage offset: Int) -> BoltMeta? {
        bytes(at: offset + BoltFile.headerSize, count: BoltMeta.size)?.withUnsafeBytes { BoltMeta(at: $0.baseAddress!) }
    }

    /// The meta page offsets where meta page 1 can be: one page size past meta page 0.
    private var metaOneCandidates: [Int] {
        var offsets: [Int] = []
        var pageSize = BoltFile.minimumPageSize
        while pageSize <= BoltFile.maximumPageSize {
            offsets.append(pageSize)
            pageSize <<= 1
        }
        return offsets
    }

    /// Whether bbolt's magic number is where a meta page would hold it: the file is (or was) a bbolt
    /// database, however damaged.
    var looksLikeBolt: Bool {
        func magic(at offset: Int) -> Bool {
            guard let bytes = bytes(at: offset + BoltFile.headerSize, count: 4) else { return false }
            return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } == BoltMeta.magic
        }
        return magic(at: 0) || metaOneCandidates.contains(where: magic(at:))
    }

    /// The size the newest valid meta page declares the database to have (pgid * pageSize), chosen as bbolt
    /// chooses: meta page 0 gives the page size, else meta page 1 is looked for at each possible page size.
    var declaredDatabaseSize: Int? {
        var candidates: [(meta: BoltMeta, pageSize: Int)] = []
        if let meta0 = meta(atPage: 0), meta0.problem == nil, BoltFile.isPlausiblePageSize(Int(meta0.pageSize)) {
            let pageSize = Int(meta0.pageSize)
            candidates.append((meta0, pageSize))
            if let meta1 = meta(atPage: pageSize), meta1.problem == nil, Int(meta1.pageSize) == pageSize {
                candidates.append((meta1, pageSize))
            }
        } else {
            for offset in metaOneCandidates {
                if let meta1 = meta(atPage: offset), meta1.problem == nil, Int(meta1.pageSize) == offset {
                    candidates.append((meta1, offset))
                    break
                }
            }
        }
        guard let newest = candidates.max(by: { $0.meta.txid < $1.meta.txid }) else { return nil }
        let (bytes, overflow) = newest.meta.pgid.multipliedReportingOverflow(by: UInt64(newest.pageSize))
        guard !overflow, bytes <= UInt64(Int.max) else { return nil }
        return Int(bytes)
    }

    /// Why a file without bbolt's magic is not a snapshot, in a few words.
    var notBoltReason: String {
        let head = bytes(at: 0, count: min(size, 512)) ?? []
        let text = head.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        let printable = head.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 >= 0x80 }
        if let first = text.first, first == UInt8(ascii: "{") || first == UInt8(ascii: "["), printable {
            return "the file is JSON text, not a bbolt database"
        }
        if !head.isEmpty, printable {
            return "the file is text, not a bbolt database"
        }
        if size < BoltFile.headerSize + BoltMeta.size {
            return "only \(size) bytes, too few for a bbolt database"
        }
        return "no bbolt database header (no meta page with bbolt's magic number)"
    }
}
