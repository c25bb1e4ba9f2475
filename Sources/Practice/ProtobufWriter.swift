/// Builds protobuf wire-format bytes field by field (for the sample-data generator).
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    var count: Int { bytes.count }

    /// Bytes with no tag or length (the envelope's magic).
    mutating func raw(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func field(_ number: Int, varint value: UInt64) {
        varint(UInt64(number) << 3)
        varint(value)
    }

    mutating func field(_ number: Int, int64 value: Int64) {
        field(number, varint: UInt64(bitPattern: value))
    }

    mutating func field(_ number: Int, bytes value: some Collection<UInt8>) {
        varint(UInt64(number) << 3 | 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func field(_ number: Int, string value: String) {
        field(number, bytes: Array(value.utf8))
    }

    /// A nested message built by `build`.
    mutating func message(_ number: Int, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        field(number, bytes: inner.bytes)
    }

    /// A map<string, string> entry (maps are repeated {key=1, value=2} messages).
    mutating func mapEntry(_ number: Int, key: String, value: String) {
        message(number) {
            $0.field(1, string: key)
            $0.field(2, string: value)
        }
    }
}
