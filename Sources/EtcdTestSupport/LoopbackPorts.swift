import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Free TCP ports on 127.0.0.1, picked by the kernel (bind to port 0) and never handed out twice per process.
public enum LoopbackPorts {
    private static let handedOut = Locked<Set<UInt16>>([])

    #if canImport(Glibc)
    private static let streamSocket = Int32(SOCK_STREAM.rawValue)
    #else
    private static let streamSocket = SOCK_STREAM
    #endif

    /// `count` distinct ports that were free a moment ago.
    public static func pick(_ count: Int) throws -> [UInt16] {
        var sockets: [Int32] = []
        defer { sockets.forEach { _ = close($0) } }
        var ports: [UInt16] = []
        var tries = 0
        while ports.count < count {
            tries += 1
            guard tries <= count * 20 else {
                throw EtcdTestSupportError("could not find \(count) free ports on 127.0.0.1")
            }
            // Keep every socket bound until all are picked so the kernel cannot give the same port twice.
            let (socket, port) = try bindAnyPort()
            sockets.append(socket)
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh { ports.append(port) }
        }
        return ports
    }

    /// A socket bound to 127.0.0.1 on a port the kernel chose, and that port.
    private static func bindAnyPort() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, streamSocket, 0)
        guard fd >= 0 else { throw failure("socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let error = failure("bind")
            _ = close(fd)
            throw error
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            let error = failure("getsockname")
            _ = close(fd)
            throw error
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    private static func failure(_ call: String) -> EtcdTestSupportError {
        EtcdTestSupportError(
            "could not pick a free port on 127.0.0.1: \(call) failed: \(String(cString: strerror(errno)))")
    }
}
