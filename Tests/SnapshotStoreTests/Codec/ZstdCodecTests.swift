import EtcdTestSupport
import Foundation
import Testing
@testable import SnapshotStore

@Suite("zstd codec")
struct ZstdCodecTests {
    @Test("Debian's zstd -d decompresses what ZstdCompressor writes, byte for byte", arguments: [0, 1, 3 << 20])
    func debianDecompressesOurs(size: Int) throws {
        let dir = try TestDirectories.make("zstd")
        let input = codecSample(size)
        let path = dir.appendingPathComponent("snap.db.zst").path
        let file = try AtomicFileSink(path: path)
        let compressor = try ZstdCompressor(level: 3, downstream: file)
        try DataByteSource(input).pump(into: compressor, chunkSize: 100_000)
        #expect(compressor.bytesIn == size)
        let onDisk = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(onDisk.count == compressor.bytesOut)
        if size > 1 << 20 { #expect(onDisk.count < size * 3 / 4) }
        let out = dir.appendingPathComponent("snap.db").path
        try runTool(try debianTool("zstd"), ["-q", "-d", path, "-o", out])
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == input)
    }

    @Test("ZstdDecompressor reads what Debian's zstd compresses, concatenated frames included")
    func weDecompressTheirs() throws {
        let dir = try TestDirectories.make("zstd")
        let first = codecSample(2 << 20, seed: 1), second = codecSample(700_000, seed: 2)
        var joined = Data()
        for (index, part) in [first, second].enumerated() {
            let plain = dir.appendingPathComponent("part\(index)").path
            try part.write(to: URL(fileURLWithPath: plain))
            try runTool(try debianTool("zstd"), ["-q", "-19", plain, "-o", plain + ".zst"])
            joined.append(try Data(contentsOf: URL(fileURLWithPath: plain + ".zst")))
        }
        let both = dir.appendingPathComponent("both.zst").path
        try joined.write(to: URL(fileURLWithPath: both))
        let reader = try ZstdDecompressor(upstream: try FileByteSource(path: both), name: both)
        #expect(try reader.readAll(chunkSize: 10_000) == first + second)
    }

    @Test("A truncated zstd file is an error that names the file and says truncated")
    func truncated() throws {
        var compressed = try compress(codecSample(500_000))
        compressed.removeLast(100)
        let error = expectCodecError {
            _ = try ZstdDecompressor(upstream: DataByteSource(compressed), name: "/snaps/a.db.zst").readAll()
        }
        #expect(error?.kind == .zstd)
        #expect(error?.detail == "/snaps/a.db.zst is truncated: the zstd data ends inside a frame")
    }

    @Test("A flipped byte in a zstd file is reported as damaged, not returned as data")
    func flippedByte() throws {
        var compressed = try compress(codecSample(500_000))
        compressed[compressed.count / 2] ^= 0x40
        let error = expectCodecError {
            _ = try ZstdDecompressor(upstream: DataByteSource(compressed), name: "a.db.zst").readAll()
        }
        #expect(error?.kind == .zstd)
        #expect(error?.detail.hasPrefix("a.db.zst is not valid zstd data or is damaged: ") == true)
    }

    @Test("Data that is not zstd, and an empty file, are clear errors")
    func notZstd() throws {
        let error = expectCodecError {
            _ = try ZstdDecompressor(upstream: DataByteSource(Data("plain bbolt bytes".utf8)), name: "x.db.zst").readAll()
        }
        #expect(error?.detail == "x.db.zst is not valid zstd data or is damaged: Unknown frame descriptor")
        let empty = expectCodecError {
            _ = try ZstdDecompressor(upstream: DataByteSource(Data()), name: "e.db.zst").readAll()
        }
        #expect(empty?.detail == "e.db.zst is empty: expected zstd data")
    }

    @Test("A compression level outside libzstd's range is refused with the range")
    func levelOutOfRange() throws {
        let error = expectCodecError { _ = try ZstdCompressor(level: 99, downstream: DataByteSink()) }
        #expect(error?.detail == "zstd level 99 is out of range: use \(Zstd.levels.lowerBound)...\(Zstd.levels.upperBound) (default 3)")
    }

    @Test("The compressor streams: compressed bytes reach the sink before finish, in bounded pieces")
    func streams() throws {
        let sink = RecordingSink()
        let compressor = try ZstdCompressor(downstream: sink)
        let input = codecSample(8 << 20, seed: 9)
        try input.withUnsafeBytes { try compressor.write($0) }
        #expect(sink.bytes > 0)
        #expect(!sink.finished)
        try compressor.finish()
        #expect(sink.finished)
        #expect(sink.largestWrite <= 132 << 10)   // libzstd's ZSTD_CStreamOutSize, ~128.5 KiB
    }

    private func compress(_ data: Data) throws -> Data {
        let sink = DataByteSink()
        try DataByteSource(data).pump(into: try ZstdCompressor(downstream: sink))
        return sink.data
    }
}

/// Counts what a stage passes on, to check it streams.
final class RecordingSink: ByteSink {
    var bytes = 0, largestWrite = 0, finished = false
    func write(_ data: UnsafeRawBufferPointer) throws {
        bytes += data.count
        largestWrite = max(largestWrite, data.count)
    }
    func finish() throws { finished = true }
}
