import Testing
import SnapshotStore

@Suite("CRC-32C")
struct CRC32CTests {
    @Test("Known vectors match the Castagnoli checksum", arguments: [
        ("", UInt32(0x0000_0000)),
        ("a", 0xC1D0_4330),
        ("123456789", 0xE306_9283),
        ("The quick brown fox jumps over the lazy dog", 0x2262_0404),
    ])
    func knownVectors(text: String, expected: UInt32) {
        #expect(CRC32C.checksum(Array(text.utf8)) == expected)
    }

    @Test("32 bytes of zeros and of 0xFF match RFC 3720's examples")
    func iscsiVectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    }

    @Test("Feeding bytes in pieces gives the same checksum as all at once")
    func incremental() {
        var random = SeededRandom(seed: 99)
        let bytes = random.bytes(10_000)
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 7, 8, 9, 63, 5_000, 9_999, 10_000] {
            var crc = CRC32C()
            crc.update(bytes[..<split])
            crc.update(bytes[split...])
            #expect(crc.value == whole, "split at \(split)")
        }
    }

    @Test("Checksums of two parts combine into the checksum of the whole", arguments: [0, 1, 5, 768, 4_097, 100_000])
    func combine(secondLength: Int) {
        var random = SeededRandom(seed: UInt64(secondLength) + 7)
        let first = random.bytes(1_000)
        let second = random.bytes(secondLength)
        let combined = CRC32C.combine(CRC32C.checksum(first), CRC32C.checksum(second), secondLength: second.count)
        #expect(combined == CRC32C.checksum(first + second))
    }

    @Test("Many slices hashed on two threads give the same checksum as one stream")
    func parallelSegments() {
        var random = SeededRandom(seed: 77)
        let blobs = (0..<500).map { _ in random.bytes(random.next(below: 5_000)) }
        let whole = blobs.flatMap { $0 }
        let expected = CRC32C.checksum(whole)
        whole.withUnsafeBytes { all in
            var segments: [UnsafeRawBufferPointer] = []
            var offset = 0
            for blob in blobs {
                segments.append(UnsafeRawBufferPointer(rebasing: all[offset..<offset + blob.count]))
                offset += blob.count
            }
            for parallel in [true, false] {
                #expect(CRC32C.checksum(concatenating: segments, totalBytes: whole.count, parallel: parallel) == expected)
            }
            #expect(CRC32C.checksum(concatenating: [], totalBytes: 0, parallel: true) == CRC32C.checksum([UInt8]()))
        }
    }
}
