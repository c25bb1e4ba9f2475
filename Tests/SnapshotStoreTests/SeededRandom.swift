/// A small deterministic generator for tests (xorshift64*), so every failure can be replayed.
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
    }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// Uniform in 0..<bound.
    mutating func next(below bound: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

/// One random change to a bbolt file, shared by the fuzz tests: aimed at page headers and elements most of
/// the time (where a reader can go wrong); sometimes a truncation, a random range or a flipped byte anywhere
/// (inside a value only the etcd-level checks and the checksum can notice).
func mutate(_ bytes: inout [UInt8], pageSize: Int, random: inout SeededRandom) {
    guard !bytes.isEmpty else { return }
    let pages = max(1, bytes.count / pageSize)
    switch random.next(below: 10) {
    case 0:
        bytes.removeLast(random.next(below: bytes.count))
    case 1:
        let start = random.next(below: bytes.count)
        let length = min(bytes.count - start, random.next(below: 4096) + 1)
        bytes.replaceSubrange(start..<start + length, with: random.bytes(length))
    case 2, 3:
        bytes[random.next(below: bytes.count)] ^= UInt8(1 << random.next(below: 8))
    default:
        // A header or element field of a random page (past the meta pages, which have checksums).
        let page = pages > 2 ? 2 + random.next(below: pages - 2) : 0
        let offset = min(bytes.count - 1, page * pageSize + random.next(below: 16 + 16 * 8))
        switch random.next(below: 3) {
        case 0: bytes[offset] ^= UInt8(1 << random.next(below: 8))
        case 1: bytes[offset] = UInt8(truncatingIfNeeded: random.next())
        default:
            for index in offset..<min(bytes.count, offset + 8) { bytes[index] = 0xFF }
        }
    }
}
