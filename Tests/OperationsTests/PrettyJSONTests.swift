import Foundation
import Operations
import Testing

/// `JSONValue.prettyText` must write what the commands' `JSONEncoder` writes, byte for byte: scripts parse either.
@Suite("Pretty JSON")
struct PrettyJSONTests {
    private func foundation(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static let awkwardStrings = [
        "", "plain", "a/b", "quote\"back\\slash", "tab\tnew\nline\rcr", "\u{08}\u{0C}\u{01}\u{1F}\u{7F}", "é ü 漢字 🚀",
        "pods", "Pods", "v10", "v9", "a.b", "a_b", "apiextensions.k8s.io/customresourcedefinitions", "\u{0}",
    ]

    @Test("Every kind of value, empty containers, nesting and awkward keys: the same bytes as JSONEncoder")
    func sameAsFoundation() throws {
        let value = JSONValue.object([
            ("snapshots", .array([
                .object([("name", .string("x.db")), ("size", .int(Int64.max)), ("reason", .null), ("ok", .bool(true)),
                         ("resources", .counts(Dictionary(uniqueKeysWithValues: Self.awkwardStrings.enumerated().map { ($1, $0) })))]),
                .object([]), .array([]), .array([.array([]), .object([("b", .int(-1)), ("a", .bool(false))])]),
            ])),
            ("warnings", .strings(Self.awkwardStrings)),
            ("empty", .strings([])),
            ("directory", .string("/var/lib/etcd-backup")),
            ("negative", .int(Int64.min)),
        ])
        #expect(value.prettyText == (try foundation(value)))
        for s in Self.awkwardStrings {
            #expect(JSONValue.string(s).prettyText == (try foundation(.string(s))), "\(s.debugDescription)")
        }
    }

    @Test("200 seeded random trees: the same bytes as JSONEncoder")
    func randomTrees() throws {
        var rng = SplitMix(seed: 13)
        func tree(_ depth: Int) -> JSONValue {
            switch rng.next() % (depth > 3 ? 4 : 6) {
            case 0: return .string(Self.awkwardStrings[Int(rng.next() % UInt64(Self.awkwardStrings.count))])
            case 1: return .int(Int64(bitPattern: rng.next()))
            case 2: return .bool(rng.next() % 2 == 0)
            case 3: return .null
            case 4: return .array((0..<Int(rng.next() % 4)).map { _ in tree(depth + 1) })
            default:
                var keys = Set<String>()
                for _ in 0..<Int(rng.next() % 5) { keys.insert(Self.awkwardStrings[Int(rng.next() % UInt64(Self.awkwardStrings.count))]) }
                return .object(keys.map { ($0, tree(depth + 1)) })
            }
        }
        for _ in 0..<200 {
            let value = tree(0)
            #expect(value.prettyText == (try foundation(value)))
        }
    }
}

private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
