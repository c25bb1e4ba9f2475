import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Plain loopback sockets for the network failure tests.
enum TestSockets {
    /// A loopback port nothing listens on (bound to pick it, then closed).
    static func unusedPort() throws -> Int {
        let fd = try listener(backlog: 1)
        defer { close(fd.fd) }
        return fd.port
    }

    struct Listener {
        let fd: Int32
        let port: Int
    }

    /// A listening TCP socket on 127.0.0.1 and a free port.
    static func listener(backlog: Int32) throws -> Listener {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, backlog) == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Listener(fd: fd, port: Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Fills a listener's accept queue (which is never accepted) so further SYNs are dropped and a
    /// connect can only time out. Returns the sockets that fill it; close them afterwards.
    static func fillBacklog(port: Int, count: Int = 4) -> [Int32] {
        (0..<count).map { _ in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            usleep(50_000)
            return fd
        }
    }

    /// Accepts connections on a background thread and never sends a byte: a server that hangs.
    final class SilentServer: @unchecked Sendable {
        let listener: Listener
        private var accepted: [Int32] = []
        private let lock = NSLock()

        init() throws {
            listener = try TestSockets.listener(backlog: 16)
            let fd = listener.fd
            Thread { [weak self] in
                while true {
                    let client = accept(fd, nil, nil)
                    if client < 0 { return }
                    self?.lock.withLock { self?.accepted.append(client) }
                }
            }.start()
        }

        func stop() {
            shutdown(listener.fd, Int32(SHUT_RDWR))
            close(listener.fd)
            lock.withLock { for fd in accepted { close(fd) } }
        }
    }
}

extension TestSockets {
    /// True when something accepts TCP connections on the loopback port.
    static func probe(port: Int) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
