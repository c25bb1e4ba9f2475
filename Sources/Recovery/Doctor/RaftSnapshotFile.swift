import Foundation
import SnapshotStore

/// A raft snapshot file in `member/snap`: `%016x-%016x.snap` (term-index) holding
/// snappb.Snapshot{crc = 1 (uint32), data = 2 (bytes)} where crc is the CRC-32C of data, and data is
/// raftpb.Snapshot{data = 1, metadata = 2 {conf_state = 1, index = 2, term = 3}}.
/// Decoded by hand: the doctor needs three numbers, not generated code.
public struct RaftSnapshotFile: Sendable, Equatable {
    /// raftpb.SnapshotMetadata.index: the raft index the snapshot was taken at.
    public var index: UInt64
    /// raftpb.SnapshotMetadata.term.
    public var term: UInt64
    /// raftpb.SnapshotMetadata.conf_state, still encoded.
    public var confState: [UInt8]
    /// raftpb.Snapshot.data: etcd v2 store JSON (etcd 3.4/3.5 still write it), still encoded.
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, confState: [UInt8], data: [UInt8]) {
        self.index = index
        self.term = term
        self.confState = confState
        self.data = data
    }

    /// `(term, index)` from a `%016x-%016x.snap` name; nil for any other name.
    public static func parseName(_ name: String) -> (term: UInt64, index: UInt64)? {
        parseHexPair(name, suffix: ".snap")
    }

    /// The file name etcd gives this snapshot.
    public var fileName: String { Self.hex16(term) + "-" + Self.hex16(index) + ".snap" }

    /// The `.snap.db` etcd needs when a snapshot's index is ahead of the db's consistent index.
    public static func databaseFileName(index: UInt64) -> String { hex16(index) + ".snap.db" }

    static func hex16(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - text.count)) + text
    }

    /// Decodes a whole `.snap` file, checking its CRC-32C like etcd's snapshotter does.
    public static func decode(_ file: [UInt8]) throws(RaftSnapshotFileError) -> RaftSnapshotFile {
        guard !file.isEmpty else { throw RaftSnapshotFileError("the file is empty") }
        var crc: UInt32?
        var payload: [UInt8]?
        do {
            var reader = WireReader(file)
            while let (number, wire) = try reader.nextField() {
                switch (number, wire) {
                case (1, 0): crc = UInt32(truncatingIfNeeded: try reader.varint())
                case (2, 2): payload = try reader.bytes()
                default: try reader.skip(wire)
                }
            }
        } catch {
            throw RaftSnapshotFileError("not a snappb.Snapshot: \(error.message)")
        }
        guard let crc, let payload else { throw RaftSnapshotFileError("crc or data field missing") }
        let actual = CRC32C.checksum(payload)
        guard actual == crc else {
            throw RaftSnapshotFileError("crc mismatch: the file says \(hex8(crc)), its data sums to \(hex8(actual))")
        }
        do throws(WireError) {
            var snapshot = RaftSnapshotFile(index: 0, term: 0, confState: [], data: [])
            var reader = WireReader(payload)
            var sawMetadata = false
            while let (number, wire) = try reader.nextField() {
                switch (number, wire) {
                case (1, 2): snapshot.data = try reader.bytes()
                case (2, 2):
                    sawMetadata = true
                    var meta = WireReader(try reader.bytes())
                    while let (n, w) = try meta.nextField() {
                        switch (n, w) {
                        case (1, 2): snapshot.confState = try meta.bytes()
                        case (2, 0): snapshot.index = try meta.varint()
                        case (3, 0): snapshot.term = try meta.varint()
                        default: try meta.skip(w)
                        }
                    }
                default: try reader.skip(wire)
                }
            }
            guard sawMetadata else { throw WireError(message: "metadata field missing") }
            return snapshot
        } catch {
            throw RaftSnapshotFileError("not a raftpb.Snapshot: \(error.message)")
        }
    }

    /// Encodes as etcd writes it (fields in number order, crc recomputed).
    public func encode() -> [UInt8] {
        var meta = WireWriter()
        meta.bytes(1, confState)
        meta.varint(2, index)
        meta.varint(3, term)
        var snapshot = WireWriter()
        if !data.isEmpty { snapshot.bytes(1, data) }
        snapshot.bytes(2, meta.output)
        var file = WireWriter()
        file.varint(1, UInt64(CRC32C.checksum(snapshot.output)))
        file.bytes(2, snapshot.output)
        return file.output
    }

    static func hex8(_ value: UInt32) -> String {
        let text = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - text.count)) + text
    }
}

/// `(first, second)` from `%016x-%016x<suffix>` (snap: term-index; wal: seq-index).
func parseHexPair(_ name: String, suffix: String) -> (UInt64, UInt64)? {
    guard name.hasSuffix(suffix) else { return nil }
    let stem = name.dropLast(suffix.count)
    let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 2, parts.allSatisfy({ $0.count == 16 }),
          let first = UInt64(parts[0], radix: 16), let second = UInt64(parts[1], radix: 16) else { return nil }
    return (first, second)
}

/// Why a `.snap` file cannot be used.
public struct RaftSnapshotFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

struct WireError: Error {
    let message: String
}

/// The protobuf wire format over owned bytes: varints and length-delimited fields.
struct WireReader {
    private let buffer: [UInt8]
    private var cursor = 0

    init(_ bytes: [UInt8]) { self.buffer = bytes }

    mutating func nextField() throws(WireError) -> (UInt64, UInt8)? {
        guard cursor < buffer.count else { return nil }
        let tag = try varint()
        guard tag >> 3 > 0 else { throw WireError(message: "field number 0 at byte \(cursor)") }
        return (tag >> 3, UInt8(tag & 7))
    }

    mutating func varint() throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while cursor < buffer.count {
            let byte = buffer[cursor]
            cursor += 1
            guard shift < 64 else { throw WireError(message: "varint longer than 10 bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw WireError(message: "ends inside a varint")
    }

    mutating func bytes() throws(WireError) -> [UInt8] {
        let length = try varint()
        guard length <= UInt64(buffer.count - cursor) else {
            throw WireError(message: "a \(length)-byte field runs past the end at byte \(cursor)")
        }
        let start = cursor
        cursor += Int(length)
        return Array(buffer[start..<cursor])
    }

    mutating func skip(_ wire: UInt8) throws(WireError) {
        switch wire {
        case 0: _ = try varint()
        case 1: try advance(8)
        case 2: _ = try bytes()
        case 5: try advance(4)
        default: throw WireError(message: "unsupported wire type \(wire)")
        }
    }

    private mutating func advance(_ count: Int) throws(WireError) {
        guard count <= buffer.count - cursor else { throw WireError(message: "ends inside a fixed-size field") }
        cursor += count
    }
}

struct WireWriter {
    var output: [UInt8] = []

    mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            output.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        output.append(UInt8(v))
    }

    mutating func varint(_ field: UInt64, _ value: UInt64) {
        rawVarint(field << 3)
        rawVarint(value)
    }

    mutating func bytes(_ field: UInt64, _ value: [UInt8]) {
        rawVarint(field << 3 | 2)
        rawVarint(UInt64(value.count))
        output += value
    }
}
