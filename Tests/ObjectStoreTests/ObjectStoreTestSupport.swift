import Crypto
import Foundation
@testable import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

/// Deterministic, somewhat compressible bytes.
func codecSampleData(_ count: Int) -> Data {
    var state: UInt64 = 0x1234_5678
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        if i % 97 < 40 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 33)
        } else {
            bytes[i] = UInt8(ascii: "a") + UInt8(i % 26)
        }
    }
    return Data(bytes)
}

/// `size` bytes of a 251-byte pattern without holding them: a source for large uploads.
final class RepeatingSource: ByteSource {
    let size: Int
    private var offset = 0
    init(size: Int) { self.size = size }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, size - offset)
        for i in 0..<count { buffer[i] = UInt8((offset + i) % 251) }
        offset += count
        return count
    }

    /// Writes everything into `sink` without finishing it (for abort tests).
    func pumpWithoutFinish(into sink: ByteSink) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let got = try read(into: buffer)
            if got == 0 { return }
            try sink.write(UnsafeRawBufferPointer(rebasing: buffer[..<got]))
        }
    }

    static func sha256(size: Int) -> [UInt8] {
        var hasher = SHA256()
        let source = RepeatingSource(size: size)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = chunk.withUnsafeMutableBytes { try! source.read(into: $0) }
            if got == 0 { break }
            hasher.update(data: chunk[..<got])
        }
        return Array(hasher.finalize())
    }
}

/// Hashes and counts what it receives.
final class HashingSink: ByteSink {
    let hasher = SHA256Hasher()
    var count = 0
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bytes)
        count += bytes.count
    }
    func finish() throws {}
}

/// A loopback port nothing listens on right now.
func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

/// True when 127.0.0.1:`port` accepts a TCP connection.
func canConnect(_ port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
