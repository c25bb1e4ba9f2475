/// A protobuf wire-format reader over borrowed bytes: enough to pull a few fields out of
/// mvccpb.KeyValue and Kubernetes envelopes without generated code or copies.
struct ProtobufReader {
    enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    struct Field {
        let number: UInt64
        let wireType: WireType
    }

    private var cursor: Int = 0
    private let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { cursor >= bytes.count }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws(ProtobufDecodingError) -> Field? {
        guard !isAtEnd else { return nil }
        let tag = try varint()
        let number = tag >> 3
        guard number > 0 else { throw ProtobufDecodingError("field number 0 at byte \(cursor)") }
        guard let wireType = WireType(rawValue: UInt8(tag & 7)), wireType != .startGroup, wireType != .endGroup else {
            throw ProtobufDecodingError("unsupported wire type \(tag & 7) for field \(number)")
        }
        return Field(number: number, wireType: wireType)
    }

    mutating func varint() throws(ProtobufDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while cursor < bytes.count {
            let byte = bytes[cursor]
            cursor += 1
            if shift == 63, byte > 1 { throw ProtobufDecodingError("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw ProtobufDecodingError("message ends inside a varint")
    }

    mutating func lengthDelimited() throws(ProtobufDecodingError) -> UnsafeRawBufferPointer {
        let length = try varint()
        guard length <= UInt64(bytes.count - cursor) else {
            throw ProtobufDecodingError("a \(length)-byte field runs past the end of its \(bytes.count)-byte message")
        }
        let start = cursor
        cursor += Int(length)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<cursor])
    }

    /// Reads a varint field's value as a signed int64 (two's complement, as protobuf encodes int64).
    mutating func int64() throws(ProtobufDecodingError) -> Int64 {
        Int64(bitPattern: try varint())
    }

    mutating func string() throws(ProtobufDecodingError) -> String {
        String(decoding: try lengthDelimited(), as: UTF8.self)
    }

    mutating func skip(_ wireType: WireType) throws(ProtobufDecodingError) {
        switch wireType {
        case .varint: _ = try varint()
        case .lengthDelimited: _ = try lengthDelimited()
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        case .startGroup, .endGroup: throw ProtobufDecodingError("groups are not supported")
        }
    }

    private mutating func advance(_ count: Int) throws(ProtobufDecodingError) {
        guard count <= bytes.count - cursor else { throw ProtobufDecodingError("message ends inside a fixed-size field") }
        cursor += count
    }

    /// Reads a field that must be length-delimited.
    mutating func expectLengthDelimited(_ field: Field) throws(ProtobufDecodingError) -> UnsafeRawBufferPointer {
        guard field.wireType == .lengthDelimited else {
            throw ProtobufDecodingError("field \(field.number) has wire type \(field.wireType.rawValue), expected 2 (length-delimited)")
        }
        return try lengthDelimited()
    }

    /// Reads a field that must be a varint.
    mutating func expectVarint(_ field: Field) throws(ProtobufDecodingError) -> UInt64 {
        guard field.wireType == .varint else {
            throw ProtobufDecodingError("field \(field.number) has wire type \(field.wireType.rawValue), expected 0 (varint)")
        }
        return try varint()
    }
}

/// Why a protobuf message could not be read.
public struct ProtobufDecodingError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { "malformed protobuf: \(message)" }
}
