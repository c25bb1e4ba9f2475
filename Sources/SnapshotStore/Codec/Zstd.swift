import CZstd
import Foundation

/// zstd settings shared by the compressor and the tests.
public enum Zstd {
    /// The level used unless the configuration says otherwise (zstd's own default).
    public static let defaultLevel: Int32 = 3
    /// The levels libzstd accepts (negative levels are the "fast" ones).
    public static var levels: ClosedRange<Int32> { ZSTD_minCLevel()...ZSTD_maxCLevel() }

    static func failed(_ code: Int) -> Bool { ZSTD_isError(code) != 0 }
    static func name(_ code: Int) -> String { String(cString: ZSTD_getErrorName(code)) }
}

/// A write stage that compresses everything written into one zstd frame (with a content checksum) and passes
/// the compressed bytes to `downstream`. Memory: libzstd's context for the level plus one output buffer
/// (ZSTD_CStreamOutSize, 128 KiB), whatever the input's size.
public final class ZstdCompressor: ByteSink {
    private let downstream: ByteSink
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer
    private var finished = false
    /// Bytes taken in so far.
    public private(set) var bytesIn = 0
    /// Compressed bytes passed downstream so far.
    public private(set) var bytesOut = 0

    public init(level: Int32 = Zstd.defaultLevel, downstream: ByteSink) throws {
        guard Zstd.levels.contains(level) else {
            throw CodecError(.zstd, "zstd level \(level) is out of range: use \(Zstd.levels.lowerBound)...\(Zstd.levels.upperBound) (default \(Zstd.defaultLevel))")
        }
        guard let context = ZSTD_createCCtx() else {
            throw CodecError(.zstd, "could not create a zstd compression context (out of memory)")
        }
        self.context = context
        self.downstream = downstream
        self.output = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        for (parameter, value) in [(ZSTD_c_compressionLevel, level), (ZSTD_c_checksumFlag, 1)] {
            let code = ZSTD_CCtx_setParameter(context, parameter, value)
            if Zstd.failed(code) {
                ZSTD_freeCCtx(context)
                output.deallocate()
                throw CodecError(.zstd, "could not set zstd parameter \(parameter.rawValue) to \(value): \(Zstd.name(code))")
            }
        }
    }

    deinit {
        ZSTD_freeCCtx(context)
        output.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished, "ZstdCompressor.write after finish")
        guard bytes.count > 0 else { return }
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
        bytesIn += bytes.count
    }

    public func finish() throws {
        precondition(!finished, "ZstdCompressor.finish twice")
        finished = true
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
        try downstream.finish()
    }

    /// One ZSTD_compressStream2 call; passes what it produced downstream; returns zstd's "bytes left to flush".
    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ directive: ZSTD_EndDirective) throws -> Int {
        var out = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let remaining = ZSTD_compressStream2(context, &out, &input, directive)
        if Zstd.failed(remaining) {
            throw CodecError(.zstd, "zstd compression failed: \(Zstd.name(remaining))")
        }
        if out.pos > 0 {
            try downstream.write(UnsafeRawBufferPointer(rebasing: output[..<out.pos]))
            bytesOut += out.pos
        }
        return remaining
    }
}

/// A read stage that decompresses zstd data from `upstream`: one frame or several concatenated ones (as
/// `cat a.zst b.zst` or `zstd` on several inputs makes). Memory: one input buffer (ZSTD_DStreamInSize, 128 KiB)
/// plus the frame's window, which libzstd caps at 128 MiB (frames made with `--long=31` are refused, not
/// allowed to take more). A stream that ends inside a frame is an error ("truncated"), not a short read.
public final class ZstdDecompressor: ByteSource {
    private let upstream: ByteSource
    private let context: OpaquePointer
    private let inputBuffer: UnsafeMutableRawBufferPointer
    private var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var upstreamEnded = false
    /// True between frames (nothing started, or the last frame complete).
    private var atFrameBoundary = true
    private var sawAnyInput = false
    /// What the stream is called in errors (a file path or object key).
    public let name: String

    public init(upstream: ByteSource, name: String) throws {
        guard let context = ZSTD_createDCtx() else {
            throw CodecError(.zstd, "could not create a zstd decompression context (out of memory)")
        }
        self.context = context
        self.upstream = upstream
        self.name = name
        self.inputBuffer = .allocate(byteCount: ZSTD_DStreamInSize(), alignment: 16)
    }

    deinit {
        ZSTD_freeDCtx(context)
        inputBuffer.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            if input.pos == input.size && !upstreamEnded {
                let got = try upstream.read(into: inputBuffer)
                if got == 0 {
                    upstreamEnded = true
                } else {
                    sawAnyInput = true
                    input = ZSTD_inBuffer(src: UnsafeRawPointer(inputBuffer.baseAddress), size: got, pos: 0)
                }
            }
            if input.pos == input.size && upstreamEnded {
                if !atFrameBoundary {
                    throw CodecError(.zstd, "\(name) is truncated: the zstd data ends inside a frame")
                }
                if !sawAnyInput {
                    throw CodecError(.zstd, "\(name) is empty: expected zstd data")
                }
                return 0
            }
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let hint = ZSTD_decompressStream(context, &out, &input)
            if Zstd.failed(hint) {
                throw CodecError(.zstd, "\(name) is not valid zstd data or is damaged: \(Zstd.name(hint))")
            }
            atFrameBoundary = hint == 0
            if out.pos > 0 { return out.pos }
        }
    }
}
