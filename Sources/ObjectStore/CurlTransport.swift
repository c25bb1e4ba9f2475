import CCurl
import Foundation
import SnapshotStore

/// One HTTP request as the S3 client builds it.
struct HTTPRequest {
    var method: String
    var url: String
    var headers: [(String, String)]
    /// The body to send (PUT, POST); nil sends none.
    var body: Data?
    /// A body read from a file instead (a spooled multipart part); wins over `body`.
    var file: SpooledBody? = nil
    /// Where a 2xx answer's body streams; nil collects it in `HTTPResponse.body`.
    var sink: ByteSink?
}

struct HTTPResponse {
    var status: Int
    var headers: [String: String]
    /// The body when no sink took it (error documents, listings), capped at `CurlTransport.maxCollected`.
    var body: Data
    /// Bytes handed to the sink.
    var streamed: Int
}

/// Why curl gave up, classified for operators.
struct CurlFailure: Error {
    enum Kind { case unreachable, tls, stream(Error), other }
    var kind: Kind
    var message: String
}

/// The request's state shared with curl's C callbacks through `userdata` (passed unretained: the context
/// outlives `curl_easy_perform`, which is the only time curl calls back).
private final class CurlCallbackContext {
    let handle: UnsafeMutableRawPointer
    var body: Data
    var bodyOffset = 0
    let file: SpooledBody?
    var fileError: Int32 = 0
    let sink: ByteSink?
    var collected = Data()
    var streamed = 0
    var headers: [String: String] = [:]
    var sinkError: Error?

    init(handle: UnsafeMutableRawPointer, body: Data, file: SpooledBody?, sink: ByteSink?) {
        self.handle = handle
        self.body = body
        self.file = file
        self.sink = sink
    }

    var bodyLength: Int { file?.length ?? body.count }

    var status: Int {
        var code = 0
        _ = etcdconsole_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }
}

private let writeBody: etcdconsole_curl_io_callback = { buffer, size, count, userdata in
    let context = Unmanaged<CurlCallbackContext>.fromOpaque(userdata!).takeUnretainedValue()
    let total = size * count
    let bytes = UnsafeRawBufferPointer(start: buffer, count: total)
    let status = context.status
    if (200..<300).contains(status), let sink = context.sink {
        do {
            try sink.write(bytes)
            context.streamed += total
        } catch {
            context.sinkError = error
            return 0   // curl stops with CURLE_WRITE_ERROR
        }
    } else if context.collected.count < CurlTransport.maxCollected {
        context.collected.append(contentsOf: bytes.prefix(CurlTransport.maxCollected - context.collected.count))
    }
    return total
}

private let readBody: etcdconsole_curl_io_callback = { buffer, size, count, userdata in
    let context = Unmanaged<CurlCallbackContext>.fromOpaque(userdata!).takeUnretainedValue()
    let take = min(size * count, context.bodyLength - context.bodyOffset)
    guard take > 0, let buffer else { return 0 }
    if let file = context.file {
        while true {
            let n = pread(file.fd, buffer, take, off_t(context.bodyOffset))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                context.fileError = n < 0 ? errno : EIO
                return CurlTransport.readAbort
            }
            context.bodyOffset += n
            return n
        }
    }
    context.body.withUnsafeBytes { bytes in
        UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + context.bodyOffset, byteCount: take)
    }
    context.bodyOffset += take
    return take
}

private let readHeader: etcdconsole_curl_io_callback = { buffer, size, count, userdata in
    let context = Unmanaged<CurlCallbackContext>.fromOpaque(userdata!).takeUnretainedValue()
    let total = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: total), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        context.headers = [:]   // a new response (after 100 Continue or a redirect)
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        context.headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
    }
    return total
}

/// HTTP/1.1 over libcurl (Debian's libcurl4-openssl-dev: the OpenSSL we already link, the system's CA store,
/// proxies from the environment as curl handles them). One easy handle per transport, reset between requests
/// so connections are reused; callers serialize (the S3 client holds a lock).
final class CurlTransport {
    static let maxCollected = 1 << 20
    /// CURL_READFUNC_ABORT (the macro does not import).
    static let readAbort = 0x1000_0000
    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    private let handle: UnsafeMutableRawPointer
    let caFile: String?
    let connectTimeoutSeconds: Int
    /// A transfer slower than 1 byte/s for this long is abandoned (a stalled server).
    let stallSeconds: Int

    init(caFile: String?, connectTimeoutSeconds: Int = 10, stallSeconds: Int = 60) throws(ObjectStoreError) {
        _ = Self.globalInit
        guard let handle = curl_easy_init() else {
            throw ObjectStoreError(.protocolError, "could not initialise libcurl (curl_easy_init failed)")
        }
        self.handle = handle
        self.caFile = caFile
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.stallSeconds = stallSeconds
    }

    deinit { curl_easy_cleanup(handle) }

    func perform(_ request: HTTPRequest) throws(CurlFailure) -> HTTPResponse {
        curl_easy_reset(handle)
        let context = CurlCallbackContext(handle: handle, body: request.body ?? Data(), file: request.file, sink: request.sink)
        let userdata = Unmanaged.passUnretained(context).toOpaque()
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        for (name, value) in request.headers { list = curl_slist_append(list, "\(name): \(value)") }
        list = curl_slist_append(list, "Expect:")   // no 100-continue round trip
        if request.method == "POST" { list = curl_slist_append(list, "Content-Type: application/xml") }

        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errors in
            etcdconsole_curl_setopt_string(handle, CURLOPT_URL, request.url)
            etcdconsole_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            etcdconsole_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, connectTimeoutSeconds)
            etcdconsole_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
            etcdconsole_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, stallSeconds)
            etcdconsole_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errors.baseAddress)
            etcdconsole_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, list)
            etcdconsole_curl_setopt_io(handle, CURLOPT_WRITEFUNCTION, writeBody)
            etcdconsole_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, userdata)
            etcdconsole_curl_setopt_io(handle, CURLOPT_HEADERFUNCTION, readHeader)
            etcdconsole_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, userdata)
            if let caFile { etcdconsole_curl_setopt_string(handle, CURLOPT_CAINFO, caFile) }
            switch request.method {
            case "GET":
                etcdconsole_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
            case "HEAD":
                etcdconsole_curl_setopt_long(handle, CURLOPT_NOBODY, 1)
            case "PUT":
                etcdconsole_curl_setopt_long(handle, CURLOPT_UPLOAD, 1)
                etcdconsole_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(context.bodyLength))
                etcdconsole_curl_setopt_io(handle, CURLOPT_READFUNCTION, readBody)
                etcdconsole_curl_setopt_pointer(handle, CURLOPT_READDATA, userdata)
            case "POST":
                etcdconsole_curl_setopt_long(handle, CURLOPT_POST, 1)
                etcdconsole_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(context.body.count))
                etcdconsole_curl_setopt_io(handle, CURLOPT_READFUNCTION, readBody)
                etcdconsole_curl_setopt_pointer(handle, CURLOPT_READDATA, userdata)
            default:
                etcdconsole_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
            }
            return curl_easy_perform(handle)
        }
        if code != CURLE_OK {
            let detail = String(cString: errorBuffer)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            if let error = context.sinkError { throw CurlFailure(kind: .stream(error), message: message) }
            if context.fileError != 0 {
                throw CurlFailure(kind: .other, message: "could not read the part's temporary file: \(String(cString: strerror(context.fileError)))")
            }
            switch code {
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY,
                 CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING,
                 CURLE_SEND_FAIL_REWIND, CURLE_PARTIAL_FILE:   // the peer went away while a body was sent or received
                throw CurlFailure(kind: .unreachable, message: message)
            case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
                 CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                throw CurlFailure(kind: .tls, message: message)
            default:
                throw CurlFailure(kind: .other, message: message)
            }
        }
        return HTTPResponse(status: context.status, headers: context.headers, body: context.collected,
                            streamed: context.streamed)
    }
}
