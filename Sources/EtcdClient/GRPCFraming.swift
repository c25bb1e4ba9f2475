/// gRPC's length-prefixed message framing over HTTP/2 DATA frames, and the gRPC header values
/// this client writes and reads. Pure code: no I/O.
enum GRPCFraming {
    /// One message as it goes on the wire: compressed flag 0, 4-byte big-endian length, payload.
    static func frame(_ payload: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(payload.count + 5)
        let n = UInt32(payload.count)
        out.append(0)
        out.append(UInt8(truncatingIfNeeded: n >> 24))
        out.append(UInt8(truncatingIfNeeded: n >> 16))
        out.append(UInt8(truncatingIfNeeded: n >> 8))
        out.append(UInt8(truncatingIfNeeded: n))
        out.append(contentsOf: payload)
        return out
    }

    /// The `grpc-timeout` header value: at most 8 digits and a unit, rounded up so the server
    /// never gives up before we do.
    static func timeoutHeader(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let totalNanos = max(0, seconds) * 1_000_000_000 + max(0, attoseconds) / 1_000_000_000
        let units: [(Int64, String)] = [(1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S"),
                                        (60_000_000_000, "M"), (3_600_000_000_000, "H")]
        for (scale, unit) in units {
            let value = (totalNanos + scale - 1) / scale
            if value < 100_000_000 { return "\(value)\(unit)" }
        }
        return "99999999H"
    }

    /// Decodes the percent-encoding gRPC uses for `grpc-message`.
    static func percentDecoded(_ value: String) -> String {
        var bytes = [UInt8]()
        let utf8 = Array(value.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "%"), i + 2 < utf8.count,
               let hi = hexValue(utf8[i + 1]), let lo = hexValue(utf8[i + 2]) {
                bytes.append(hi << 4 | lo)
                i += 3
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Reassembles gRPC messages from DATA frame payloads, which do not align with messages.
struct GRPCMessageDecoder {
    /// Largest message accepted. etcd snapshots send 32 KiB messages and Range can answer with
    /// large responses; gRPC's common 4 MiB cap would break big listings, so allow 2 GiB - 1.
    static let maximumMessageSize = Int(Int32.max)

    private var buffer: [UInt8] = []
    private var start = 0

    enum Failure: Error, Equatable { case compressed, tooLarge(Int) }

    /// Bytes received that do not yet form a whole message.
    var bufferedBytes: Int { buffer.count - start }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole message, or nil when more bytes are needed.
    mutating func next() throws(Failure) -> [UInt8]? {
        let available = buffer.count - start
        guard available >= 5 else { return nil }
        if buffer[start] != 0 { throw .compressed }
        let length = Int(buffer[start + 1]) << 24 | Int(buffer[start + 2]) << 16
            | Int(buffer[start + 3]) << 8 | Int(buffer[start + 4])
        if length > Self.maximumMessageSize { throw .tooLarge(length) }
        guard available >= 5 + length else { return nil }
        let message = Array(buffer[(start + 5)..<(start + 5 + length)])
        start += 5 + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1 << 20 {
            buffer.removeFirst(start)
            start = 0
        }
        return message
    }
}
