/// A JSON document written as `JSONEncoder` writes it with `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]`
/// (the commands' `-o json`), byte for byte, without the Codable machinery: at 10,000 snapshots `snapshot list -o
/// json` spent a third of its time in `JSONEncoder` (issue 13: list < 200 ms). `JSONValue` is `Encodable` too,
/// so a test can hold the two writers to the same bytes.
public indirect enum JSONValue: Sendable, Encodable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case null
    case array([JSONValue])
    /// Keys are written sorted (as `.sortedKeys` does: by String's `<`), whatever order they come in.
    case object([(String, JSONValue)])

    public static func int(_ value: Int) -> JSONValue { .int(Int64(value)) }
    public static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    public static func optional(_ value: Int?) -> JSONValue { value.map { .int(Int64($0)) } ?? .null }
    public static func optional(_ value: Int64?) -> JSONValue { value.map(JSONValue.int) ?? .null }
    public static func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
    public static func counts(_ values: [String: Int]) -> JSONValue { .object(values.map { ($0.key, .int(Int64($0.value))) }) }

    /// The pretty-printed text, without a final newline (as `JSONEncoder` gives it).
    public var prettyText: String {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(to: &out, depth: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(to out: inout [UInt8], depth: Int) {
        switch self {
        case .string(let s): Self.quote(s, to: &out)
        case .int(let n): out.append(contentsOf: String(n).utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            if items.isEmpty { Self.close(UInt8(ascii: "]"), empty: true, depth: depth, to: &out); return }
            for (i, item) in items.enumerated() {
                Self.newline(comma: i > 0, depth: depth + 1, to: &out)
                item.write(to: &out, depth: depth + 1)
            }
            Self.close(UInt8(ascii: "]"), empty: false, depth: depth, to: &out)
        case .object(let pairs):
            out.append(UInt8(ascii: "{"))
            if pairs.isEmpty { Self.close(UInt8(ascii: "}"), empty: true, depth: depth, to: &out); return }
            var sorted = pairs
            if !zip(pairs, pairs.dropFirst()).allSatisfy({ $0.0 < $1.0 }) { sorted.sort { $0.0 < $1.0 } }
            for (i, pair) in sorted.enumerated() {
                Self.newline(comma: i > 0, depth: depth + 1, to: &out)
                Self.quote(pair.0, to: &out)
                out.append(contentsOf: [0x20, UInt8(ascii: ":"), 0x20])
                pair.1.write(to: &out, depth: depth + 1)
            }
            Self.close(UInt8(ascii: "}"), empty: false, depth: depth, to: &out)
        }
    }

    private static func newline(comma: Bool, depth: Int, to out: inout [UInt8]) {
        if comma { out.append(UInt8(ascii: ",")) }
        out.append(0x0A)
        out.append(contentsOf: repeatElement(0x20, count: 2 * depth))
    }

    private static func close(_ bracket: UInt8, empty: Bool, depth: Int, to out: inout [UInt8]) {
        out.append(0x0A)
        if empty { out.append(0x0A) }
        out.append(contentsOf: repeatElement(0x20, count: 2 * depth))
        out.append(bracket)
    }

    private static func quote(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            guard bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else {
                out.append(contentsOf: bytes)
                return
            }
            for b in bytes {
                switch b {
                case 0x22: out.append(contentsOf: [0x5C, 0x22])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                case ..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]])
                default: out.append(b)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
        case .int(let n): var c = encoder.singleValueContainer(); try c.encode(n)
        case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .array(let items): var c = encoder.unkeyedContainer(); for item in items { try c.encode(item) }
        case .object(let pairs):
            var c = encoder.container(keyedBy: Key.self)
            for (key, value) in pairs { try c.encode(value, forKey: Key(stringValue: key)) }
        }
    }
}
