import CNGHTTP2
import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/2 connection to one etcd endpoint, driven by libnghttp2 on a dedicated I/O thread.
///
/// Callers on any thread start calls and read their messages; every nghttp2 function runs on the
/// I/O thread, which learns about new work through a command queue and an eventfd. The connection
/// is ready once TCP, TLS and the server's first SETTINGS frame have arrived, so TLS alerts sent
/// after the handshake (a required client certificate) and non-HTTP/2 peers show up at connect time.
final class HTTP2Connection: @unchecked Sendable {
    enum Command {
        case start(GRPCCall)
        case consume(GRPCCall, Int)
        case cancel(GRPCCall)
        case shutdown
    }

    let endpoint: Endpoint
    private let configuration: EtcdClientConfiguration

    // Shared, under `lock`.
    private let lock = NSLock()
    private var commands: [Command] = []
    private var deadError: EtcdClientError?
    private var readyContinuation: CheckedContinuation<Void, Error>?
    private let wakeRead: Int32
    private let wakeWrite: Int32

    // Owned by the I/O thread.
    private var transport: ByteTransport?
    private var session: OpaquePointer?
    private var calls: [Int32: GRPCCall] = [:]
    private var pendingOutput: [UInt8] = []
    private var pendingOffset = 0
    private var ready = false
    private var shuttingDown = false
    private var readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)

    private init(endpoint: Endpoint, configuration: EtcdClientConfiguration) {
        self.endpoint = endpoint
        self.configuration = configuration
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        self.wakeRead = fds[0]
        self.wakeWrite = fds[1]
    }

    deinit {
        readBuffer.deallocate()
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    /// Connects (TCP, TLS, HTTP/2 greeting) within the configuration's connect timeout.
    static func open(_ endpoint: Endpoint, configuration: EtcdClientConfiguration) async throws -> HTTP2Connection {
        let connection = HTTP2Connection(endpoint: endpoint, configuration: configuration)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            connection.readyContinuation = continuation
            let thread = Thread { connection.threadMain() }
            thread.name = "etcd-console h2 \(endpoint)"
            thread.start()
        }
        return connection
    }

    /// False once the connection failed or closed; a client then opens a new one.
    var isUsable: Bool { lock.withLock { deadError == nil } }

    /// Starts a call; its messages arrive through `call.next()`.
    func start(_ call: GRPCCall) {
        call.onConsume = { [weak self] call, bytes in self?.enqueue(.consume(call, bytes)) }
        call.onCancel = { [weak self] call in self?.enqueue(.cancel(call)) }
        lock.lock()
        if let deadError {
            lock.unlock()
            call.finish(.failure(deadError))
            return
        }
        commands.append(.start(call))
        lock.unlock()
        wake()
    }

    /// Sends GOAWAY, fails calls still running and stops the I/O thread.
    func close() { enqueue(.shutdown) }

    private func enqueue(_ command: Command) {
        lock.withLock { commands.append(command) }
        wake()
    }

    private func wake() {
        var one: UInt8 = 1
        _ = Glibc.write(wakeWrite, &one, 1)
    }

    // MARK: - I/O thread

    private func threadMain() {
        let connectDeadline = ContinuousClock.now.advanced(by: configuration.connectTimeout)
        do {
            let tcp = try TCPTransport.connect(to: endpoint, deadline: connectDeadline, timeout: configuration.connectTimeout)
            if endpoint.secure {
                transport = try TLSTransport.handshake(over: tcp, endpoint: endpoint, configuration: configuration.tls,
                                                       deadline: connectDeadline, timeout: configuration.connectTimeout)
            } else {
                transport = tcp
            }
            try makeSession()
            try runLoop(connectDeadline: connectDeadline)
            fail(closedByServer())
        } catch {
            fail(error)
        }
        transport?.close()
        if let session { nghttp2_session_del(session) }
        session = nil
    }

    private func makeSession() throws(EtcdClientError) {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeaderCallback)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecvCallback)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkCallback)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamCloseCallback)

        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_auto_window_update(option, 1)
        // Do not cap what the peer may send in one header block or message; etcd answers can be large.
        nghttp2_option_set_max_send_header_block_length(option, 1 << 20)

        let me = Unmanaged.passUnretained(self).toOpaque()
        var newSession: OpaquePointer?
        let rv = nghttp2_session_client_new2(&newSession, callbacks, me, option)
        guard rv == 0, let newSession else {
            throw EtcdClientError(.protocolError, endpoint: endpoint.description, "cannot create HTTP/2 session: \(nghttp2Error(rv))")
        }
        session = newSession
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                   value: UInt32(configuration.streamWindowSize)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: 1 << 20),
        ]
        var rc = nghttp2_submit_settings(newSession, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        if rc == 0 {
            rc = nghttp2_session_set_local_window_size(newSession, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0,
                                                       configuration.connectionWindowSize)
        }
        if rc != 0 {
            throw EtcdClientError(.protocolError, endpoint: endpoint.description, "cannot send HTTP/2 settings: \(nghttp2Error(rc))")
        }
    }

    private func runLoop(connectDeadline: ContinuousClock.Instant) throws(EtcdClientError) {
        guard let transport, let session else { return }
        while true {
            try processCommands()
            try flush()
            if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
                && pendingOffset == pendingOutput.count {
                return
            }
            if shuttingDown && calls.isEmpty && pendingOffset == pendingOutput.count { return }

            // Wait for the socket, a command, or the nearest deadline.
            let now = ContinuousClock.now
            var nearest: ContinuousClock.Instant? = ready ? nil : connectDeadline
            for call in calls.values {
                if let d = call.deadline, nearest.map({ d < $0 }) ?? true { nearest = d }
            }
            var timeoutMS: Int32 = 1000
            if transport.hasBufferedInput {
                timeoutMS = 0
            } else if let nearest {
                timeoutMS = Int32(clamping: max(0, now.duration(to: nearest).milliseconds + 1))
                timeoutMS = min(timeoutMS, 1000)
            }
            var fds = [
                pollfd(fd: transport.fileDescriptor,
                       events: Int16(POLLIN) | (pendingOffset < pendingOutput.count ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let rc = poll(&fds, 2, timeoutMS)
            if rc < 0 && errno != EINTR {
                throw EtcdClientError(.connectionClosed, endpoint: endpoint.description, "poll failed: \(errnoDescription(errno))")
            }
            if fds[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while Glibc.read(wakeRead, &drain, 64) == 64 {}
            }
            if fds[0].revents != 0 || transport.hasBufferedInput {
                try receive()
            }
            try checkDeadlines(connectDeadline: connectDeadline)
        }
    }

    /// Reads what the socket has (bounded, so commands and writes get their turn) into nghttp2.
    private func receive() throws(EtcdClientError) {
        guard let transport, let session else { return }
        for _ in 0..<32 {
            let result: IOResult
            do {
                result = try transport.read(into: readBuffer)
            } catch {
                throw EtcdClientError(error.kind, endpoint: endpoint.description, error.detail)
            }
            switch result {
            case .wouldBlock:
                return
            case .endOfStream:
                throw closedByServer()
            case .bytes(let n):
                let rv = nghttp2_session_mem_recv(session, readBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self), n)
                if rv < 0 {
                    if !ready { throw notHTTP2(" (\(nghttp2Error(Int32(rv))))") }
                    throw EtcdClientError(.protocolError, endpoint: endpoint.description,
                                          "HTTP/2 protocol error: \(nghttp2Error(Int32(rv)))")
                }
            }
        }
    }

    /// Writes everything nghttp2 wants to send, keeping what the socket does not take for later.
    private func flush() throws(EtcdClientError) {
        guard let transport, let session else { return }
        while true {
            if pendingOffset < pendingOutput.count {
                let offset = pendingOffset
                let attempt = pendingOutput.withUnsafeBytes { bytes in
                    Result { () throws(EtcdClientError) -> IOResult in
                        try transport.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                    }
                }
                switch try attempt.get() {
                case .wouldBlock: return
                case .endOfStream:
                    throw closedByServer()
                case .bytes(let n):
                    pendingOffset += n
                    if pendingOffset < pendingOutput.count { return }
                    pendingOutput.removeAll(keepingCapacity: true)
                    pendingOffset = 0
                }
            }
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 {
                throw EtcdClientError(.protocolError, endpoint: endpoint.description, "HTTP/2 send failed: \(nghttp2Error(Int32(n)))")
            }
            if n == 0 || data == nil { return }
            pendingOutput.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
    }

    private func processCommands() throws(EtcdClientError) {
        let batch: [Command] = lock.withLock {
            let taken = commands
            commands.removeAll()
            return taken
        }
        guard let session else { return }
        for command in batch {
            switch command {
            case .start(let call):
                if shuttingDown {
                    call.finish(.failure(EtcdClientError(.cancelled, endpoint: endpoint.description, "connection is closing")))
                } else {
                    submit(call)
                }
            case .consume(let call, let bytes):
                if call.streamID > 0, calls[call.streamID] === call {
                    nghttp2_session_consume(session, call.streamID, bytes)
                } else {
                    nghttp2_session_consume_connection(session, bytes)
                }
            case .cancel(let call):
                if call.streamID > 0, calls[call.streamID] === call {
                    nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), call.streamID, HTTP2ErrorCode.cancel.rawValue)
                }
            case .shutdown:
                shuttingDown = true
                for call in calls.values {
                    call.finish(.failure(EtcdClientError(.cancelled, endpoint: endpoint.description, "\(call.path): connection closed by the client")))
                }
                nghttp2_session_terminate_session(session, HTTP2ErrorCode.noError.rawValue)
            }
        }
    }

    private func submit(_ call: GRPCCall) {
        guard let session else { return }
        var headers: [(String, String)] = [
            (":method", "POST"), (":scheme", endpoint.secure ? "https" : "http"), (":path", call.path),
            (":authority", endpoint.authority), ("content-type", "application/grpc"), ("te", "trailers"),
            ("user-agent", "etcd-console/0.1"),
        ]
        if let timeout = call.timeout { headers.append(("grpc-timeout", GRPCFraming.timeoutHeader(timeout))) }
        headers.append(contentsOf: call.metadata)

        // nghttp2 copies names and values during submit, so the buffers only need to outlive the call.
        let storage = headers.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        var pointers: [(UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt8>)] = []
        var nva: [nghttp2_nv] = []
        for (name, value) in storage {
            let n = UnsafeMutablePointer<UInt8>.allocate(capacity: max(name.count, 1))
            let v = UnsafeMutablePointer<UInt8>.allocate(capacity: max(value.count, 1))
            n.initialize(from: name, count: name.count)
            v.initialize(from: value, count: value.count)
            pointers.append((n, v))
            nva.append(nghttp2_nv(name: n, value: v, namelen: name.count, valuelen: value.count,
                                  flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
        }
        defer { for (n, v) in pointers { n.deallocate(); v.deallocate() } }

        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: readBodyCallback)
        let streamID = nghttp2_submit_request(session, nil, &nva, nva.count, &provider, nil)
        if streamID < 0 {
            call.finish(.failure(EtcdClientError(.protocolError, endpoint: endpoint.description,
                                                 "cannot start \(call.path): \(nghttp2Error(streamID))")))
            return
        }
        call.streamID = streamID
        calls[streamID] = call
    }

    private func checkDeadlines(connectDeadline: ContinuousClock.Instant) throws(EtcdClientError) {
        let now = ContinuousClock.now
        if !ready && now >= connectDeadline {
            throw EtcdClientError(.connectTimeout, endpoint: endpoint.description,
                                  "no HTTP/2 greeting from the server within \(configuration.connectTimeout.shortDescription)")
        }
        guard let session else { return }
        for (id, call) in calls {
            if let stall = call.stallTimeout, call.isStalled(now: now) {
                call.finish(.failure(EtcdClientError(.stalled, endpoint: endpoint.description,
                                                     "\(call.path): etcd sent nothing for \(stall.shortDescription) after \(formatBytes(call.bytesReceived))")))
                nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, HTTP2ErrorCode.cancel.rawValue)
                continue
            }
            guard let deadline = call.deadline, now >= deadline, !call.isFinished else { continue }
            call.finish(.failure(EtcdClientError(.deadlineExceeded, endpoint: endpoint.description,
                                                 "\(call.path) timed out after \(call.timeout?.shortDescription ?? "its deadline")")))
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, HTTP2ErrorCode.cancel.rawValue)
        }
    }

    /// The server hung up: before the greeting that means it does not speak HTTP/2 here.
    private func closedByServer() -> EtcdClientError {
        if ready { return EtcdClientError(.connectionClosed, endpoint: endpoint.description, "the server closed the connection") }
        // A TLS server that rejects us after the handshake (no or bad client certificate) sends an
        // alert before closing; a failed write can come first, so read the alert for the real reason.
        if let transport, transport is TLSTransport {
            for _ in 0..<4 {
                do {
                    if case .bytes = try transport.read(into: readBuffer) { continue }
                    break
                } catch {
                    return EtcdClientError(error.kind, endpoint: endpoint.description, error.detail)
                }
            }
        }
        return notHTTP2("")
    }

    /// The error for a peer that answered, but not with HTTP/2, before the connection was ready.
    private func notHTTP2(_ reason: String) -> EtcdClientError {
        let hint = endpoint.secure ? "is this an etcd client port?" : "is it serving TLS? use https:// and --cacert"
        return EtcdClientError(.protocolError, endpoint: endpoint.description,
                               "the server did not answer in HTTP/2\(reason); \(hint)")
    }

    /// Marks the connection dead and ends every call and the connect wait with `error`.
    private func fail(_ error: EtcdClientError) {
        let continuation: CheckedContinuation<Void, Error>? = lock.withLock {
            if deadError == nil { deadError = error }
            let c = readyContinuation
            readyContinuation = nil
            return c
        }
        continuation?.resume(throwing: error)
        for call in calls.values {
            var detail = error.detail
            if error.kind == .connectionClosed {
                detail = "\(call.path): \(error.detail) after \(formatBytes(call.bytesReceived)) of the response"
            }
            call.finish(.failure(EtcdClientError(error.kind, endpoint: endpoint.description, detail)))
        }
        calls.removeAll()
        // Calls started after the failure are refused in start(); drain ones queued before it.
        let queued = lock.withLock {
            let taken = commands
            commands.removeAll()
            return taken
        }
        for case .start(let call) in queued { call.finish(.failure(error)) }
    }

    // MARK: - nghttp2 callbacks (I/O thread)

    fileprivate func onHeader(_ frame: UnsafePointer<nghttp2_frame>, name: UnsafeBufferPointer<UInt8>,
                              value: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard let call = calls[frame.pointee.hd.stream_id] else { return 0 }
        let pair = (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        if call.sawResponseHeaders {
            call.trailers.append(pair)
        } else {
            call.responseHeaders.append(pair)
        }
        return 0
    }

    fileprivate func onFrameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let hd = frame.pointee.hd
        if UInt32(hd.type) == NGHTTP2_SETTINGS.rawValue && hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 && !ready {
            ready = true
            let continuation: CheckedContinuation<Void, Error>? = lock.withLock {
                let c = readyContinuation
                readyContinuation = nil
                return c
            }
            continuation?.resume()
        } else if UInt32(hd.type) == NGHTTP2_HEADERS.rawValue, let call = calls[hd.stream_id] {
            call.sawResponseHeaders = true
        }
        return 0
    }

    fileprivate func onDataChunk(streamID: Int32, data: UnsafeRawBufferPointer) -> Int32 {
        guard let session else { return 0 }
        guard let call = calls[streamID] else {
            nghttp2_session_consume(session, streamID, data.count)
            return 0
        }
        call.addReceived(data.count)
        if call.consumesOnReceipt || call.isFinished {
            nghttp2_session_consume(session, streamID, data.count)
        }
        call.decoder.append(data)
        do {
            while let message = try call.decoder.next() {
                call.deliver(message)
            }
        } catch {
            call.finish(.failure(EtcdClientError(.protocolError, endpoint: endpoint.description,
                                                 "\(call.path): bad gRPC message framing (\(error))")))
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, HTTP2ErrorCode.protocolError.rawValue)
        }
        return 0
    }

    fileprivate func onStreamClose(streamID: Int32, errorCode: UInt32) -> Int32 {
        guard let call = calls.removeValue(forKey: streamID) else { return 0 }
        call.finish(call.statusResult(resetCode: HTTP2ErrorCode(rawValue: errorCode), endpoint: endpoint.description))
        return 0
    }

    fileprivate func readBody(streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int,
                              flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let call = calls[streamID] else {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        let n = min(length, call.body.count - call.bodyOffset)
        call.body.withUnsafeBufferPointer { src in
            buffer.update(from: src.baseAddress! + call.bodyOffset, count: n)
        }
        call.bodyOffset += n
        if call.bodyOffset == call.body.count { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return n
    }
}

func nghttp2Error(_ code: Int32) -> String { String(cString: nghttp2_strerror(code)) }

private func connection(_ userData: UnsafeMutableRawPointer?) -> HTTP2Connection {
    Unmanaged<HTTP2Connection>.fromOpaque(userData!).takeUnretainedValue()
}

private let onHeaderCallback: nghttp2_on_header_callback = { _, frame, name, namelen, value, valuelen, _, userData in
    connection(userData).onHeader(frame!, name: UnsafeBufferPointer(start: name, count: namelen),
                                  value: UnsafeBufferPointer(start: value, count: valuelen))
}

private let onFrameRecvCallback: nghttp2_on_frame_recv_callback = { _, frame, userData in
    connection(userData).onFrameReceived(frame!)
}

private let onDataChunkCallback: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, len, userData in
    connection(userData).onDataChunk(streamID: streamID, data: UnsafeRawBufferPointer(start: data, count: len))
}

private let onStreamCloseCallback: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    connection(userData).onStreamClose(streamID: streamID, errorCode: errorCode)
}

private let readBodyCallback: nghttp2_data_source_read_callback = { _, streamID, buf, length, flags, _, userData in
    connection(userData).readBody(streamID: streamID, into: buf!, length: length, flags: flags!)
}
