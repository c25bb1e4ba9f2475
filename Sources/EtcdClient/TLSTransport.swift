import COpenSSL
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// TLS over a connected TCP socket with OpenSSL: ALPN "h2", SNI, server certificate and host-name
/// (or IP SAN) verification on by default, optional client certificate for mutual TLS.
final class TLSTransport: ByteTransport {
    private let tcp: TCPTransport
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private var closed = false

    var fileDescriptor: Int32 { tcp.fileDescriptor }
    var hasBufferedInput: Bool { SSL_pending(ssl) > 0 }

    private init(tcp: TCPTransport, context: OpaquePointer, ssl: OpaquePointer) {
        self.tcp = tcp
        self.context = context
        self.ssl = ssl
    }

    deinit {
        close()
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    /// Runs the TLS handshake on `tcp` within the deadline and checks that ALPN selected h2.
    static func handshake(over tcp: TCPTransport, endpoint: Endpoint, configuration: TLSConfiguration,
                          deadline: ContinuousClock.Instant, timeout: Duration) throws(EtcdClientError) -> TLSTransport {
        let where_ = endpoint.description
        let context = try makeContext(configuration, endpoint: where_)
        guard let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            throw EtcdClientError(.tlsHandshake(.other), endpoint: where_, "cannot create TLS session: \(drainOpenSSLErrors())")
        }
        let transport = TLSTransport(tcp: tcp, context: context, ssl: ssl)
        _ = etcdconsole_SSL_set_mode(ssl, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        SSL_set_fd(ssl, tcp.fileDescriptor)
        let name = configuration.serverName ?? endpoint.host
        let nameIsIP = configuration.serverName == nil && endpoint.hostIsIPAddress
        if !nameIsIP { _ = etcdconsole_SSL_set_tlsext_host_name(ssl, name) }
        if !configuration.insecureSkipVerify {
            SSL_set_verify(ssl, SSL_VERIFY_PEER, verifyCallback)
            if nameIsIP {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
            } else {
                SSL_set1_host(ssl, name)
            }
        }
        let alpn: [UInt8] = [2, UInt8(ascii: "h"), UInt8(ascii: "2")]
        _ = alpn.withUnsafeBufferPointer { SSL_set_alpn_protos(ssl, $0.baseAddress, UInt32($0.count)) }

        ERR_clear_error()
        while true {
            let rc = SSL_connect(ssl)
            if rc == 1 { break }
            let code = SSL_get_error(ssl, rc)
            let events: Int16
            switch code {
            case SSL_ERROR_WANT_READ: events = Int16(POLLIN)
            case SSL_ERROR_WANT_WRITE: events = Int16(POLLOUT)
            default:
                throw transport.handshakeError(code: code, endpoint: endpoint, configuration: configuration)
            }
            if !pollOnce(tcp.fileDescriptor, events: events, until: deadline) {
                throw EtcdClientError(.connectTimeout, endpoint: where_,
                                      "TLS handshake timed out after \(timeout.shortDescription)")
            }
        }

        var selected: UnsafePointer<UInt8>?
        var selectedLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &selected, &selectedLength)
        let protocolName = selected.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(selectedLength)), as: UTF8.self) } ?? ""
        guard protocolName == "h2" else {
            let what = protocolName.isEmpty ? "no protocol" : "\"\(protocolName)\""
            throw EtcdClientError(.alpnNotH2, endpoint: where_,
                                  "the server did not agree to HTTP/2 over TLS (ALPN selected \(what), need \"h2\"); is this an etcd client port?")
        }
        return transport
    }

    private static func makeContext(_ configuration: TLSConfiguration, endpoint: String) throws(EtcdClientError) -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw EtcdClientError(.tlsHandshake(.other), endpoint: endpoint, "cannot create TLS context: \(drainOpenSSLErrors())")
        }
        _ = etcdconsole_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION)
        func fail(_ detail: String) -> EtcdClientError {
            SSL_CTX_free(context)
            return EtcdClientError(.invalidConfiguration, endpoint: endpoint, detail)
        }
        if configuration.insecureSkipVerify {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            if let ca = configuration.caFile {
                guard FileManager.default.isReadableFile(atPath: ca) else {
                    throw fail("cannot read CA file \(ca)")
                }
                if SSL_CTX_load_verify_locations(context, ca, nil) != 1 {
                    throw fail("cannot load CA file \(ca): \(drainOpenSSLErrors())")
                }
            } else if SSL_CTX_set_default_verify_paths(context) != 1 {
                throw fail("cannot load the system CA certificates: \(drainOpenSSLErrors())")
            }
        }
        switch (configuration.certificateFile, configuration.keyFile) {
        case (nil, nil):
            break
        case (let cert?, let key?):
            for file in [cert, key] where !FileManager.default.isReadableFile(atPath: file) {
                throw fail("cannot read \(file == cert ? "client certificate" : "client key") file \(file)")
            }
            if SSL_CTX_use_certificate_chain_file(context, cert) != 1 {
                throw fail("cannot load client certificate \(cert): \(drainOpenSSLErrors())")
            }
            if SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) != 1 {
                throw fail("cannot load client key \(key): \(drainOpenSSLErrors())")
            }
            if SSL_CTX_check_private_key(context) != 1 {
                throw fail("client key \(key) does not match certificate \(cert)")
            }
        default:
            throw fail("a client certificate needs both --cert and --key")
        }
        return context
    }

    private func handshakeError(code: Int32, endpoint: Endpoint, configuration: TLSConfiguration) -> EtcdClientError {
        let where_ = endpoint.description
        let queue = drainOpenSSLErrors()
        let rejected = RejectedCertificates.take(ssl)
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(verify))
            let failure: EtcdClientError.TLSFailure
            var hint = ""
            switch Int32(verify) {
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
                 X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                 X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_SIGNATURE_FAILURE:
                failure = .unknownAuthority
                hint = "certificate signed by unknown authority (\(configuration.caFile.map { "CA file \($0)" } ?? "system CA store")); pass the CA that signed etcd's certificate with --cacert"
            case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID:
                failure = .expired
                hint = "\(reason) (server certificate valid from \(rejected?.notBefore ?? "?") until \(rejected?.notAfter ?? "?")); renew etcd's server certificate or check this host's clock"
            case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
                failure = .hostnameMismatch
                hint = "the server certificate is not valid for \(configuration.serverName ?? endpoint.host) (it names \(rejected?.names ?? "other hosts")); connect by a name or IP in the certificate"
            default:
                failure = .other
                hint = reason
            }
            return EtcdClientError(.tlsHandshake(failure), endpoint: where_, "TLS handshake failed: \(hint)")
        }
        return Self.classify(queue: queue, code: code, endpoint: where_)
    }

    /// Turns an OpenSSL error queue seen on a handshake or first read into a TLS error.
    static func classify(queue: String, code: Int32, endpoint: String) -> EtcdClientError {
        let lower = queue.lowercased()
        if lower.contains("certificate required") || lower.contains("alert bad certificate")
            || lower.contains("alert unknown ca") || lower.contains("alert certificate unknown") {
            return EtcdClientError(.tlsHandshake(.clientCertificateRejected), endpoint: endpoint,
                                   "TLS handshake failed: the server rejected the client certificate or requires one (\(queue)); pass --cert and --key signed by a CA etcd trusts")
        }
        if lower.contains("no application protocol") {
            return EtcdClientError(.alpnNotH2, endpoint: endpoint,
                                   "the server does not speak HTTP/2 over TLS (ALPN: \(queue)); is this an etcd client port?")
        }
        if lower.contains("wrong version number") || lower.contains("packet length too long") || lower.contains("record layer failure") {
            return EtcdClientError(.tlsHandshake(.other), endpoint: endpoint,
                                   "TLS handshake failed: the server does not speak TLS on this port (\(queue)); try http://")
        }
        if code == SSL_ERROR_SYSCALL || code == SSL_ERROR_ZERO_RETURN {
            return EtcdClientError(.tlsHandshake(.other), endpoint: endpoint,
                                   "TLS handshake failed: the server closed the connection\(queue.isEmpty ? "" : " (\(queue))")")
        }
        return EtcdClientError(.tlsHandshake(.other), endpoint: endpoint, "TLS handshake failed: \(queue.isEmpty ? "unknown error" : queue)")
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(EtcdClientError) -> IOResult {
        ERR_clear_error()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if n > 0 { return .bytes(Int(n)) }
        let code = SSL_get_error(ssl, n)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wouldBlock
        case SSL_ERROR_ZERO_RETURN: return .endOfStream
        case SSL_ERROR_SYSCALL:
            let queue = drainOpenSSLErrors()
            if queue.isEmpty { return .endOfStream }
            throw Self.classify(queue: queue, code: code, endpoint: "")
        default:
            throw Self.classify(queue: drainOpenSSLErrors(), code: code, endpoint: "")
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(EtcdClientError) -> IOResult {
        ERR_clear_error()
        let n = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        if n > 0 { return .bytes(Int(n)) }
        let code = SSL_get_error(ssl, n)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wouldBlock
        case SSL_ERROR_ZERO_RETURN, SSL_ERROR_SYSCALL: return .endOfStream
        default: throw Self.classify(queue: drainOpenSSLErrors(), code: code, endpoint: "")
        }
    }

    func close() {
        if !closed {
            closed = true
            tcp.close()
        }
    }
}

/// Empties OpenSSL's thread-local error queue into one readable line (reasons joined by "; ").
func drainOpenSSLErrors() -> String {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        if let reason = ERR_reason_error_string(code) {
            let text = String(cString: reason)
            if !reasons.contains(text) { reasons.append(text) }
        } else {
            reasons.append("error \(code)")
        }
    }
    return reasons.joined(separator: "; ")
}

/// What the verify callback saw of a server certificate it rejected, for the error message.
struct RejectedCertificate {
    var notBefore: String
    var notAfter: String
    var names: String?
}

/// Rejected certificates by TLS session, filled in by the verify callback during a handshake and
/// taken by the code that reports the failure.
enum RejectedCertificates {
    nonisolated(unsafe) private static var bySession: [UInt: RejectedCertificate] = [:]
    private static let lock = NSLock()

    static func record(_ certificate: RejectedCertificate, for ssl: OpaquePointer) {
        lock.withLock { bySession[UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(ssl)))] = certificate }
    }

    static func take(_ ssl: OpaquePointer) -> RejectedCertificate? {
        lock.withLock { bySession.removeValue(forKey: UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(ssl)))) }
    }

    /// Validity dates and subjectAltName entries of a certificate.
    static func describe(_ cert: OpaquePointer) -> RejectedCertificate {
        func text(_ time: UnsafePointer<ASN1_TIME>?) -> String {
            guard let time, let bio = BIO_new(BIO_s_mem()) else { return "?" }
            defer { BIO_free(bio) }
            ASN1_TIME_print(bio, time)
            var buffer = [CChar](repeating: 0, count: 64)
            let n = BIO_read(bio, &buffer, 63)
            return n > 0 ? String(decoding: buffer[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        }
        return RejectedCertificate(notBefore: text(X509_get0_notBefore(cert)), notAfter: text(X509_get0_notAfter(cert)),
                                   names: subjectAltNames(cert))
    }

    private static func subjectAltNames(_ cert: OpaquePointer) -> String? {
        guard let raw = X509_get_ext_d2i(cert, NID_subject_alt_name, nil, nil) else { return nil }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var result: [String] = []
        for i in 0..<OPENSSL_sk_num(names) {
            guard let entry = OPENSSL_sk_value(names, i)?.assumingMemoryBound(to: GENERAL_NAME.self) else { continue }
            let type = entry.pointee.type
            if type == GEN_DNS, let ia5 = entry.pointee.d.dNSName {
                result.append("DNS:" + String(cString: ASN1_STRING_get0_data(ia5)))
            } else if type == GEN_IPADD, let octets = entry.pointee.d.iPAddress {
                let n = Int(ASN1_STRING_length(octets))
                let bytes = UnsafeBufferPointer(start: ASN1_STRING_get0_data(octets), count: n)
                if n == 4 {
                    result.append("IP:" + bytes.map(String.init).joined(separator: "."))
                } else if n == 16 {
                    result.append("IP:" + stride(from: 0, to: n, by: 2).map { String(Int(bytes[$0]) << 8 | Int(bytes[$0 + 1]), radix: 16) }.joined(separator: ":"))
                }
            }
        }
        return result.isEmpty ? nil : result.joined(separator: ", ")
    }
}

/// Keeps OpenSSL's verdict and remembers the leaf certificate it rejected.
private let verifyCallback: @convention(c) (Int32, OpaquePointer?) -> Int32 = { ok, store in
    guard ok == 0, let store, X509_STORE_CTX_get_error_depth(store) == 0,
          let cert = X509_STORE_CTX_get_current_cert(store),
          let ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()) else { return ok }
    RejectedCertificates.record(RejectedCertificates.describe(cert), for: OpaquePointer(ssl))
    return ok
}
