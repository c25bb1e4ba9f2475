import COpenSSL
import Foundation
import SystemSupport

/// What OpenSSL reads from one X.509 certificate: enough to tell an operator which certificate it is and when
/// it stops working. Never the key, never the certificate's bytes.
public struct CertificateInfo: Codable, Sendable, Equatable {
    /// "CN=kube-apiserver" (RFC 2253 order: most specific first).
    public var subject: String
    public var issuer: String
    /// subjectAltName entries: "DNS:localhost", "IP:127.0.0.1", "email:...", "URI:...".
    public var sans: [String]
    public var notBefore: Date
    public var notAfter: Date
    public var isCA: Bool

    public init(subject: String, issuer: String, sans: [String], notBefore: Date, notAfter: Date, isCA: Bool) {
        self.subject = subject
        self.issuer = issuer
        self.sans = sans
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.isCA = isCA
    }

    /// Every certificate in PEM text (a file may hold a chain); empty when there is none or OpenSSL cannot read it.
    public static func parsePEM(_ data: Data) -> [CertificateInfo] {
        guard data.range(of: Data("-----BEGIN CERTIFICATE-----".utf8)) != nil else { return [] }
        return data.withUnsafeBytes { bytes -> [CertificateInfo] in
            guard let base = bytes.baseAddress, let bio = BIO_new_mem_buf(base, Int32(bytes.count)) else { return [] }
            defer { BIO_free(bio) }
            var result: [CertificateInfo] = []
            while let cert = PEM_read_bio_X509(bio, nil, nil, nil) {
                defer { X509_free(cert) }
                if let info = describe(cert) { result.append(info) }
            }
            ERR_clear_error()  // the loop ends with "no start line": not an error for us
            return result
        }
    }

    /// The certificates of a kubeconfig's `client-certificate-data:` lines (base64 PEM), e.g. admin.conf's.
    public static func parseKubeconfig(_ data: Data) -> [CertificateInfo] {
        let text = String(decoding: data, as: UTF8.self)
        var result: [CertificateInfo] = []
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            for key in ["client-certificate-data:", "certificate-authority-data:"] where trimmed.hasPrefix(key) {
                let value = trimmed.dropFirst(key.count).trimmingCharacters(in: CharacterSet(charactersIn: " \"'"))
                if let pem = Data(base64Encoded: value) { result += parsePEM(pem) }
            }
        }
        return result
    }

    private static func describe(_ cert: OpaquePointer) -> CertificateInfo? {
        guard let notBefore = date(X509_get0_notBefore(cert)), let notAfter = date(X509_get0_notAfter(cert)) else {
            return nil
        }
        return CertificateInfo(subject: name(X509_get_subject_name(cert)), issuer: name(X509_get_issuer_name(cert)),
                               sans: subjectAltNames(cert), notBefore: notBefore, notAfter: notAfter,
                               isCA: X509_check_ca(cert) > 0)
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    /// "CN=etcd-ca, O=example": entries most specific first, as RFC 2253 (and `openssl x509 -nameopt rfc2253`) print them.
    private static func name(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        var parts: [String] = []
        for i in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, i), let object = X509_NAME_ENTRY_get_object(entry),
                  let data = X509_NAME_ENTRY_get_data(entry) else { continue }
            let nid = OBJ_obj2nid(object)
            let short = OBJ_nid2sn(nid).map { String(cString: $0) } ?? "OID\(nid)"
            parts.append("\(short)=\(string(data))")
        }
        return parts.reversed().joined(separator: ", ")
    }

    private static func string(_ value: UnsafePointer<ASN1_STRING>) -> String {
        let count = Int(ASN1_STRING_length(value))
        guard count > 0, let bytes = ASN1_STRING_get0_data(value) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    private static func subjectAltNames(_ cert: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(cert, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var result: [String] = []
        for i in 0..<OPENSSL_sk_num(names) {
            guard let entry = OPENSSL_sk_value(names, i)?.assumingMemoryBound(to: GENERAL_NAME.self) else { continue }
            let type = entry.pointee.type
            if type == GEN_DNS, let value = entry.pointee.d.dNSName {
                result.append("DNS:" + string(value))
            } else if type == GEN_EMAIL, let value = entry.pointee.d.rfc822Name {
                result.append("email:" + string(value))
            } else if type == GEN_URI, let value = entry.pointee.d.uniformResourceIdentifier {
                result.append("URI:" + string(value))
            } else if type == GEN_IPADD, let octets = entry.pointee.d.iPAddress {
                let n = Int(ASN1_STRING_length(octets))
                guard let start = ASN1_STRING_get0_data(octets) else { continue }
                let bytes = UnsafeBufferPointer(start: start, count: n)
                if n == 4 {
                    result.append("IP:" + bytes.map(String.init).joined(separator: "."))
                } else if n == 16 {
                    result.append("IP:" + stride(from: 0, to: n, by: 2)
                        .map { String(Int(bytes[$0]) << 8 | Int(bytes[$0 + 1]), radix: 16) }.joined(separator: ":"))
                }
            }
        }
        return result
    }
}

/// Certificates that expire soon (or have expired), for `backup` and `status` warnings.
public struct CertificateExpiry: Sendable, Equatable {
    public var path: String
    public var subject: String
    public var notAfter: Date

    /// How close an expiry must be to warn: 30 days.
    public static let window: TimeInterval = 30 * 86_400

    /// Every certificate of `files` whose not-after is within `window` of `now` (or past), soonest first.
    public static func soon(in files: [BundleFile], now: Date, window: TimeInterval = CertificateExpiry.window) -> [CertificateExpiry] {
        var result: [CertificateExpiry] = []
        for file in files {
            for certificate in file.certificates where certificate.notAfter.timeIntervalSince(now) < window {
                result.append(CertificateExpiry(path: file.path, subject: certificate.subject, notAfter: certificate.notAfter))
            }
        }
        return result.sorted { ($0.notAfter, $0.path) < ($1.notAfter, $1.path) }
    }

    /// "the certificate /etc/kubernetes/pki/apiserver.crt (CN=kube-apiserver) expires on 2026-12-12 (in 10 days): renew it ..."
    public func warning(now: Date) -> String {
        let day = Self.day(notAfter)
        let seconds = notAfter.timeIntervalSince(now)
        let subjectText = subject.isEmpty ? "" : " (\(subject))"
        if seconds <= 0 {
            return "the certificate \(path)\(subjectText) expired on \(day): renew it now (kubeadm: kubeadm certs renew; a binary install: your CA's tooling), then restart what uses it"
        }
        let days = Int((seconds / 86_400).rounded(.down))
        let when = days == 0 ? "in less than a day" : days == 1 ? "in 1 day" : "in \(days) days"
        return "the certificate \(path)\(subjectText) expires on \(day) (\(when)): renew it before then (kubeadm: kubeadm certs check-expiration, kubeadm certs renew)"
    }

    /// "2026-12-13 09:30 UTC".
    static func day(_ date: Date) -> String {
        let f = UTCCalendar.fields(Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
        return "\(UTCCalendar.pad(f.year, 4))-\(UTCCalendar.pad(f.month))-\(UTCCalendar.pad(f.day)) \(UTCCalendar.pad(f.hour)):\(UTCCalendar.pad(f.minute)) UTC"
    }
}
