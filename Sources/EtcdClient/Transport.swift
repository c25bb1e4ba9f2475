import COpenSSL
import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Result of a non-blocking read or write.
enum IOResult {
    case bytes(Int)
    case wouldBlock
    case endOfStream
}

/// A connected, non-blocking byte stream: plain TCP or TLS on top of it.
protocol ByteTransport: AnyObject {
    var fileDescriptor: Int32 { get }
    /// Bytes decrypted and waiting inside the transport (TLS), readable without polling the socket.
    var hasBufferedInput: Bool { get }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(EtcdClientError) -> IOResult
    func write(_ bytes: UnsafeRawBufferPointer) throws(EtcdClientError) -> IOResult
    func close()
}

/// Waits until `fd` is readable or writable, or the deadline passes. Returns false on timeout.
func pollOnce(_ fd: Int32, events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
    while true {
        let remaining = ContinuousClock.now.duration(to: deadline)
        if remaining <= .zero { return false }
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        let ms = Int32(clamping: remaining.milliseconds + 1)
        let rc = poll(&pfd, 1, ms)
        if rc > 0 { return true }
        if rc < 0 && errno != EINTR { return true }  // let the caller's next syscall report it
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }

    /// "5s", "1.5s", "250ms": how long something took or may take, for messages.
    var shortDescription: String {
        let ms = milliseconds
        if ms < 1000 { return "\(ms)ms" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return String(format: "%.1fs", Double(ms) / 1000)
    }
}

/// Plain TCP.
final class TCPTransport: ByteTransport {
    let fileDescriptor: Int32
    private var closed = false

    init(fileDescriptor: Int32) { self.fileDescriptor = fileDescriptor }
    deinit { close() }

    var hasBufferedInput: Bool { false }

    /// Resolves and connects to the endpoint within the deadline, trying every address it resolves to.
    static func connect(to endpoint: Endpoint, deadline: ContinuousClock.Instant,
                        timeout: Duration) throws(EtcdClientError) -> TCPTransport {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard rc == 0, let first = list else {
            let reason = rc == 0 ? "no addresses" : String(cString: gai_strerror(rc))
            throw EtcdClientError(.unresolvable, endpoint: endpoint.description,
                                  "cannot resolve host \"\(endpoint.host)\": \(reason)")
        }
        defer { freeaddrinfo(list) }
        var lastError = EtcdClientError(.unreachable, endpoint: endpoint.description, "no usable address")
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cursor {
            cursor = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { continue }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 {
                return TCPTransport(fileDescriptor: fd)
            }
            var err = errno
            if err == EINPROGRESS {
                if !pollOnce(fd, events: Int16(POLLOUT), until: deadline) {
                    Glibc.close(fd)
                    throw EtcdClientError(.connectTimeout, endpoint: endpoint.description,
                                          "connection timed out after \(timeout.shortDescription)")
                }
                var soError: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
                if soError == 0 { return TCPTransport(fileDescriptor: fd) }
                err = soError
            }
            Glibc.close(fd)
            lastError = connectError(err, endpoint: endpoint)
        }
        throw lastError
    }

    static func connectError(_ err: Int32, endpoint: Endpoint) -> EtcdClientError {
        let text = errnoDescription(err)
        switch err {
        case ECONNREFUSED:
            return EtcdClientError(.connectionRefused, endpoint: endpoint.description,
                                   "connection refused (is etcd running and listening on port \(endpoint.port)?)")
        case ETIMEDOUT:
            return EtcdClientError(.connectTimeout, endpoint: endpoint.description, "connection timed out")
        case EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN, EADDRNOTAVAIL:
            return EtcdClientError(.unreachable, endpoint: endpoint.description, "host unreachable: \(text)")
        default:
            return EtcdClientError(.unreachable, endpoint: endpoint.description, "cannot connect: \(text)")
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(EtcdClientError) -> IOResult {
        while true {
            let n = Glibc.read(fileDescriptor, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .endOfStream }
            let err = errno
            if err == EINTR { continue }
            if err == EAGAIN || err == EWOULDBLOCK { return .wouldBlock }
            if err == ECONNRESET { return .endOfStream }
            throw EtcdClientError(.connectionClosed, endpoint: "", "read failed: \(errnoDescription(err))")
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(EtcdClientError) -> IOResult {
        while true {
            let n = send(fileDescriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .bytes(n) }
            let err = errno
            if err == EINTR { continue }
            if err == EAGAIN || err == EWOULDBLOCK { return .wouldBlock }
            if err == EPIPE || err == ECONNRESET { return .endOfStream }
            throw EtcdClientError(.connectionClosed, endpoint: "", "write failed: \(errnoDescription(err))")
        }
    }

    func close() {
        if !closed {
            closed = true
            Glibc.close(fileDescriptor)
        }
    }
}
