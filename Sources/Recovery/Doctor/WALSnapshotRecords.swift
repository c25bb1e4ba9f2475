import Foundation

/// The snapshot records in an etcd WAL: the (term, index) pairs etcd 3.4.10+ and 3.5 accept when they
/// pick the `.snap` to load (`LoadNewestAvailable`): a `.snap` without a record is ignored.
///
/// WAL framing: each record is an 8-byte little-endian length (low 56 bits: record bytes; when negative,
/// bits 56-58: padding bytes) followed by walpb.Record{type = 1, crc = 2, data = 3}. Type 5 is a snapshot
/// record whose data is walpb.Snapshot{index = 1, term = 2}. A zero length ends the file (preallocated
/// space). Reading stops at the first frame that does not parse (a torn write at the tail).
public struct WALSnapshotRecords: Sendable, Equatable {
    public struct Position: Hashable, Sendable {
        public var term: UInt64
        public var index: UInt64
        public init(term: UInt64, index: UInt64) {
            self.term = term
            self.index = index
        }
    }

    public var positions: Set<Position>

    static let snapshotType: UInt64 = 5

    /// Reads the given `.wal` files in order; nil when none could be read.
    public static func read(paths: [String]) -> WALSnapshotRecords? {
        var positions = Set<Position>()
        var readAny = false
        for path in paths {
            // Mapped, not read: a WAL file is 64 MB preallocated, mostly zeros after the last record.
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { continue }
            readAny = true
            data.withUnsafeBytes { scan($0, into: &positions) }
        }
        return readAny ? WALSnapshotRecords(positions: positions) : nil
    }

    static func scan(_ bytes: UnsafeRawBufferPointer, into positions: inout Set<Position>) {
        var offset = 0
        while offset + 8 <= bytes.count {
            var raw: UInt64 = 0
            for i in 0..<8 { raw |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
            if raw == 0 { return }
            let length = Int(raw & 0x00FF_FFFF_FFFF_FFFF)
            let padding = Int64(bitPattern: raw) < 0 ? Int((raw >> 56) & 0x7) : 0
            offset += 8
            guard length <= bytes.count - offset, length + padding <= bytes.count - offset else { return }
            let record = Array(bytes[offset..<offset + length])
            offset += length + padding
            var type: UInt64 = 0
            var payload: [UInt8] = []
            var reader = WireReader(record)
            do {
                while let (number, wire) = try reader.nextField() {
                    switch (number, wire) {
                    case (1, 0): type = try reader.varint()
                    case (3, 2): payload = try reader.bytes()
                    default: try reader.skip(wire)
                    }
                }
            } catch {
                return
            }
            guard type == snapshotType else { continue }
            var position = Position(term: 0, index: 0)
            var snapshot = WireReader(payload)
            do {
                while let (number, wire) = try snapshot.nextField() {
                    switch (number, wire) {
                    case (1, 0): position.index = try snapshot.varint()
                    case (2, 0): position.term = try snapshot.varint()
                    default: try snapshot.skip(wire)
                    }
                }
            } catch {
                return
            }
            positions.insert(position)
        }
    }
}
