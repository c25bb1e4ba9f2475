import Foundation

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum etcd uses for its snapshot
/// status hash, WAL records and .snap files.
///
/// Table-driven, slicing by 8 bytes. Buffers of 768 bytes or more run as three interleaved streams
/// of 256 bytes whose partial checksums are merged with precomputed "append 256 / 512 zero bytes"
/// tables; the three independent dependency chains keep the CPU's load units busy, which makes
/// large values (the bulk of an etcd database) about twice as fast as a single stream.
public struct CRC32C: Sendable, Equatable {
    /// The running register (the complement of the checksum so far).
    private var register: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// The checksum of everything passed to `update` so far.
    public var value: UInt32 { ~register }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress else { return }
        register = Self.advance(register, start, bytes.count)
    }

    static let streamBlock = 256

    /// Runs the register over `count` bytes at `start`.
    @inline(__always)
    static func advance(_ register: UInt32, _ start: UnsafeRawPointer, _ count: Int) -> UInt32 {
        let tables = CRC32CTables.shared
        let table = UnsafePointer(tables.table)
        var crc = register
        var pointer = start
        var remaining = count
        let block = streamBlock
        if remaining >= 3 * block {
            let shiftOne = UnsafePointer(tables.shiftOneBlock)
            let shiftTwo = UnsafePointer(tables.shiftTwoBlocks)
            repeat {
                var a = crc, b: UInt32 = 0, c: UInt32 = 0
                var offset = 0
                while offset < block {
                    a = step(a, pointer + offset, table)
                    b = step(b, pointer + block + offset, table)
                    c = step(c, pointer + 2 * block + offset, table)
                    offset += 8
                }
                crc = shift(a, shiftTwo) ^ shift(b, shiftOne) ^ c
                pointer += 3 * block
                remaining -= 3 * block
            } while remaining >= 3 * block
        }
        while remaining >= 8 {
            crc = step(crc, pointer, table)
            pointer += 8
            remaining -= 8
        }
        while remaining > 0 {
            crc = table[Int(truncatingIfNeeded: crc ^ UInt32(pointer.load(as: UInt8.self))) & 0xFF] ^ (crc >> 8)
            pointer += 1
            remaining -= 1
        }
        return crc
    }

    /// Eight bytes, slicing by 8.
    @inline(__always)
    private static func step(_ crc: UInt32, _ pointer: UnsafeRawPointer, _ table: UnsafePointer<UInt32>) -> UInt32 {
        let word = UInt64(littleEndian: pointer.loadUnaligned(as: UInt64.self)) ^ UInt64(crc)
        return table[7 * 256 + Int(truncatingIfNeeded: word) & 0xFF]
            ^ table[6 * 256 + Int(truncatingIfNeeded: word >> 8) & 0xFF]
            ^ table[5 * 256 + Int(truncatingIfNeeded: word >> 16) & 0xFF]
            ^ table[4 * 256 + Int(truncatingIfNeeded: word >> 24) & 0xFF]
            ^ table[3 * 256 + Int(truncatingIfNeeded: word >> 32) & 0xFF]
            ^ table[2 * 256 + Int(truncatingIfNeeded: word >> 40) & 0xFF]
            ^ table[1 * 256 + Int(truncatingIfNeeded: word >> 48) & 0xFF]
            ^ table[Int(truncatingIfNeeded: word >> 56)]
    }

    /// The register after a fixed number of zero bytes: a linear map, applied byte by byte from tables.
    @inline(__always)
    private static func shift(_ crc: UInt32, _ table: UnsafePointer<UInt32>) -> UInt32 {
        table[Int(crc & 0xFF)]
            ^ table[256 + Int((crc >> 8) & 0xFF)]
            ^ table[512 + Int((crc >> 16) & 0xFF)]
            ^ table[768 + Int(crc >> 24)]
    }
}

/// The slicing tables and the zero-block shift tables, built once and never freed.
private final class CRC32CTables: Sendable {
    static let shared = CRC32CTables()

    // Immutable after init; raw pointers so the hot loop does no bounds or ownership checks.
    nonisolated(unsafe) let table: UnsafeMutablePointer<UInt32>
    nonisolated(unsafe) let shiftOneBlock: UnsafeMutablePointer<UInt32>
    nonisolated(unsafe) let shiftTwoBlocks: UnsafeMutablePointer<UInt32>

    private init() {
        let table = UnsafeMutablePointer<UInt32>.allocate(capacity: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
            table[index] = crc
        }
        for slice in 1..<8 {
            for index in 0..<256 {
                let previous = table[(slice - 1) * 256 + index]
                table[slice * 256 + index] = (previous >> 8) ^ table[Int(previous & 0xFF)]
            }
        }
        self.table = table
        shiftOneBlock = Self.shiftTable(zeroBytes: CRC32C.streamBlock, table)
        shiftTwoBlocks = Self.shiftTable(zeroBytes: 2 * CRC32C.streamBlock, table)
    }

    /// Tables for "run the register over `zeroBytes` zeros": the map is linear, so it is the XOR of
    /// its value on each input byte position.
    private static func shiftTable(zeroBytes: Int, _ table: UnsafeMutablePointer<UInt32>) -> UnsafeMutablePointer<UInt32> {
        func zeros(_ register: UInt32) -> UInt32 {
            var crc = register
            for _ in 0..<zeroBytes { crc = table[Int(crc & 0xFF)] ^ (crc >> 8) }
            return crc
        }
        var basis = [UInt32](repeating: 0, count: 32)
        for bit in 0..<32 { basis[bit] = zeros(1 << UInt32(bit)) }
        let shift = UnsafeMutablePointer<UInt32>.allocate(capacity: 4 * 256)
        for position in 0..<4 {
            for value in 0..<256 {
                var result: UInt32 = 0
                for bit in 0..<8 where value & (1 << bit) != 0 {
                    result ^= basis[position * 8 + bit]
                }
                shift[position * 256 + value] = result
            }
        }
        return shift
    }
}

extension CRC32C {
    /// The checksum of A followed by B, from checksum(A), checksum(B) and B's length: checksum(A) run
    /// over B's length of zero bytes, XOR checksum(B). (The initial and final inversions cancel.)
    public static func combine(_ first: UInt32, _ second: UInt32, secondLength: Int) -> UInt32 {
        guard secondLength > 0 else { return first }
        // The operator "run the register over one zero bit", as the 32 columns of a GF(2) matrix.
        var power = [UInt32](repeating: 0, count: 32)
        power[0] = 0x82F6_3B78
        for column in 1..<32 { power[column] = 1 << UInt32(column - 1) }
        // One zero byte is eight zero bits.
        for _ in 0..<3 { power = square(power) }
        var result = first
        var remaining = UInt(secondLength)
        while true {
            if remaining & 1 != 0 { result = apply(power, result) }
            remaining >>= 1
            guard remaining != 0 else { break }
            power = square(power)
        }
        return result ^ second
    }

    private static func apply(_ matrix: [UInt32], _ vector: UInt32) -> UInt32 {
        var result: UInt32 = 0
        var bits = vector
        var column = 0
        while bits != 0 {
            if bits & 1 != 0 { result ^= matrix[column] }
            bits >>= 1
            column += 1
        }
        return result
    }

    private static func square(_ matrix: [UInt32]) -> [UInt32] {
        matrix.map { apply(matrix, $0) }
    }
}

extension CRC32C {
    /// The checksum of `segments` laid end to end (`totalBytes` long in all). With `parallel` (by
    /// default: 8 MiB or more and more than one processor) the segments are cut into runs of about
    /// equal size, checksummed by several threads (each takes the next run when it is free, so a busy
    /// core does not hold the others up) and combined in order.
    public static func checksum(concatenating segments: [UnsafeRawBufferPointer], totalBytes: Int,
                                parallel: Bool? = nil) -> UInt32 {
        let processors = ProcessInfo.processInfo.activeProcessorCount
        let parallel = parallel ?? (totalBytes >= 8 << 20 && processors > 1)
        guard parallel, !segments.isEmpty else { return checksum(segments[...]) }
        let runCount = min(4 * max(2, processors), segments.count)
        var bounds: [Int] = [0]
        var lengths: [Int] = []
        var runBytes = 0
        for (index, segment) in segments.enumerated() {
            runBytes += segment.count
            if runBytes >= totalBytes / runCount, bounds.count < runCount {
                bounds.append(index + 1)
                lengths.append(runBytes)
                runBytes = 0
            }
        }
        if bounds.last != segments.count {
            bounds.append(segments.count)
            lengths.append(runBytes)
        }
        let runs = Runs(segments: segments, bounds: bounds)
        DispatchQueue.concurrentPerform(iterations: bounds.count - 1) { run in
            runs.results[run] = checksum(runs.segments[runs.bounds[run]..<runs.bounds[run + 1]])
        }
        var result = runs.results[0]
        for run in 1..<bounds.count - 1 {
            result = combine(result, runs.results[run], secondLength: lengths[run])
        }
        return result
    }

    private static func checksum(_ segments: ArraySlice<UnsafeRawBufferPointer>) -> UInt32 {
        var crc = CRC32C()
        for segment in segments { crc.update(segment) }
        return crc.value
    }

    /// The runs and a result slot for each. @unchecked: the segments are only read, and each worker
    /// writes only its own run's slot.
    private final class Runs: @unchecked Sendable {
        let segments: [UnsafeRawBufferPointer]
        let bounds: [Int]
        let results: UnsafeMutablePointer<UInt32>

        init(segments: [UnsafeRawBufferPointer], bounds: [Int]) {
            self.segments = segments
            self.bounds = bounds
            results = .allocate(capacity: bounds.count)
        }

        deinit { results.deallocate() }
    }
}
