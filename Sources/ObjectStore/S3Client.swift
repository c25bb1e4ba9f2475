import Crypto
import Foundation
import SnapshotStore

/// One object in a listing.
public struct S3Object: Sendable, Equatable {
    public var key: String
    public var size: Int
    public var etag: String
    public var lastModified: String
}

/// One ListObjectsV2 page.
public struct S3ObjectPage: Sendable {
    public var objects: [S3Object]
    /// The token for the next page; nil on the last one.
    public var nextContinuationToken: String?
}

/// What HeadObject says about an object.
public struct S3ObjectInfo: Sendable, Equatable {
    public var size: Int
    public var etag: String
}

/// A part uploaded in a multipart upload: its number (from 1) and the ETag S3 returned.
public struct S3CompletedPart: Sendable, Equatable {
    public var number: Int
    public var etag: String
}

/// An S3 client for one endpoint and one set of credentials, on libcurl, with SigV4 signing and path-style
/// addressing (`<endpoint>/<bucket>/<key>`: works with MinIO, SeaweedFS, Ceph RGW and AWS alike, needs no
/// wildcard DNS or certificates). Calls are serialized by a lock (one curl handle, connections reused).
public final class S3Client: @unchecked Sendable {
    public let endpoint: URL
    public let region: String
    private let signer: SigV4Signer
    private let transport: CurlTransport
    private let lock = NSLock()
    private let now: @Sendable () -> Date
    private let hostHeader: String

    /// `endpoint` is `http(s)://host[:port]` (no path). `caFile` replaces the system CAs for https.
    public init(endpoint: String, region: String = "us-east-1", credentials: S3Credentials, caFile: String? = nil,
                stallSeconds: Int = 60, now: @escaping @Sendable () -> Date = Date.init) throws(ObjectStoreError) {
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty else {
            throw ObjectStoreError(.configuration, "remote endpoint \"\(endpoint)\" is not an http:// or https:// URL (for example https://s3.example.com or http://127.0.0.1:8333)")
        }
        guard url.path.isEmpty || url.path == "/", url.query == nil else {
            throw ObjectStoreError(.configuration, "remote endpoint \"\(endpoint)\" has a path or query; give only scheme://host[:port] and put the bucket in remote.bucket")
        }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ObjectStoreError(.configuration, "remote CA file \(caFile) cannot be read (remote.ca-file)")
        }
        var base = URLComponents()
        base.scheme = scheme
        base.host = host
        base.port = url.port
        self.endpoint = base.url!
        self.region = region
        self.signer = SigV4Signer(credentials: credentials, region: region)
        self.transport = try CurlTransport(caFile: caFile, stallSeconds: stallSeconds)
        self.now = now
        let defaultPort = scheme == "https" ? 443 : 80
        self.hostHeader = url.port.map { $0 == defaultPort ? host : "\(host):\($0)" } ?? host
    }

    // MARK: Buckets and objects

    /// PutBucket (tests, and a later `remote init`).
    public func createBucket(_ bucket: String) throws(ObjectStoreError) {
        _ = try send("CreateBucket", "PUT", bucket: bucket, key: nil, body: Data())
    }

    /// One ListObjectsV2 page of keys under `prefix`.
    public func listObjects(bucket: String, prefix: String, continuationToken: String? = nil,
                            maxKeys: Int = 1000) throws(ObjectStoreError) -> S3ObjectPage {
        var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys))]
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let response = try send("ListObjectsV2", "GET", bucket: bucket, key: nil, query: query)
        let text = Substring(String(decoding: response.body, as: UTF8.self))
        let objects = XMLText.elements("Contents", in: text).map { item in
            S3Object(key: XMLText.value("Key", in: item) ?? "",
                     size: Int(XMLText.value("Size", in: item) ?? "") ?? 0,
                     etag: XMLText.value("ETag", in: item) ?? "",
                     lastModified: XMLText.value("LastModified", in: item) ?? "")
        }
        let truncated = XMLText.value("IsTruncated", in: text) == "true"
        let token = XMLText.value("NextContinuationToken", in: text)
        if truncated && token == nil {
            throw ObjectStoreError(.protocolError, "ListObjectsV2 on bucket \"\(bucket)\" at \(endpoint.absoluteString) says the listing is truncated but gives no NextContinuationToken")
        }
        return S3ObjectPage(objects: objects, nextContinuationToken: truncated ? token : nil)
    }

    /// Every object under `prefix`, following continuation tokens.
    public func listAllObjects(bucket: String, prefix: String, pageSize: Int = 1000) throws(ObjectStoreError) -> [S3Object] {
        var all: [S3Object] = []
        var token: String?
        repeat {
            let page = try listObjects(bucket: bucket, prefix: prefix, continuationToken: token, maxKeys: pageSize)
            all += page.objects
            token = page.nextContinuationToken
        } while token != nil
        return all
    }

    /// PutObject of a small body held in memory (manifests), signed with its SHA-256 and sent with Content-MD5,
    /// so the service rejects a body damaged in transit. Returns the ETag.
    @discardableResult
    public func putObject(bucket: String, key: String, data: Data) throws(ObjectStoreError) -> String {
        let response = try send("PutObject", "PUT", bucket: bucket, key: key, body: data)
        return response.headers["etag"] ?? ""
    }

    /// GetObject streaming into `sink` (bounded: curl hands over at most 16 KiB at a time); finishes the sink
    /// after the last byte. Returns the number of bytes received.
    @discardableResult
    public func getObject(bucket: String, key: String, into sink: ByteSink) throws(ObjectStoreError) -> Int {
        let response = try send("GetObject", "GET", bucket: bucket, key: key, sink: sink)
        do {
            try sink.finish()
        } catch {
            throw ObjectStoreError(.stream, "GetObject s3://\(bucket)/\(key): \(error)")
        }
        return response.streamed
    }

    /// HeadObject: the object's size and ETag, or nil when there is no such key.
    public func headObject(bucket: String, key: String) throws(ObjectStoreError) -> S3ObjectInfo? {
        do {
            let response = try send("HeadObject", "HEAD", bucket: bucket, key: key)
            return S3ObjectInfo(size: Int(response.headers["content-length"] ?? "") ?? 0,
                                etag: response.headers["etag"] ?? "")
        } catch where error.s3Code == "NoSuchKey" || error.s3Code == "NotFound" {
            return nil
        }
    }

    /// DeleteObject (S3 answers 204 whether or not the key existed).
    public func deleteObject(bucket: String, key: String) throws(ObjectStoreError) {
        _ = try send("DeleteObject", "DELETE", bucket: bucket, key: key)
    }

    // MARK: Multipart upload

    /// CreateMultipartUpload: returns the upload id.
    public func createMultipartUpload(bucket: String, key: String) throws(ObjectStoreError) -> String {
        let response = try send("CreateMultipartUpload", "POST", bucket: bucket, key: key, query: [("uploads", "")], body: Data())
        guard let id = XMLText.value("UploadId", in: Substring(String(decoding: response.body, as: UTF8.self))), !id.isEmpty else {
            throw ObjectStoreError(.protocolError, "CreateMultipartUpload s3://\(bucket)/\(key) at \(endpoint.absoluteString) returned no UploadId")
        }
        return id
    }

    /// UploadPart (numbers from 1), signed with the part's SHA-256 and sent with its Content-MD5: the
    /// per-part checksum. Returns the part's ETag.
    public func uploadPart(bucket: String, key: String, uploadId: String, partNumber: Int,
                           data: Data) throws(ObjectStoreError) -> S3CompletedPart {
        let response = try send("UploadPart", "PUT", bucket: bucket, key: key,
                                query: [("partNumber", String(partNumber)), ("uploadId", uploadId)], body: data)
        guard let etag = response.headers["etag"], !etag.isEmpty else {
            throw ObjectStoreError(.protocolError, "UploadPart \(partNumber) of s3://\(bucket)/\(key) returned no ETag")
        }
        return S3CompletedPart(number: partNumber, etag: etag)
    }

    /// UploadPart of a part spooled to a temporary file (`MultipartUploadSink` with a spool directory).
    func uploadPart(bucket: String, key: String, uploadId: String, partNumber: Int,
                    file: SpooledBody) throws(ObjectStoreError) -> S3CompletedPart {
        let response = try send("UploadPart", "PUT", bucket: bucket, key: key,
                                query: [("partNumber", String(partNumber)), ("uploadId", uploadId)], file: file)
        guard let etag = response.headers["etag"], !etag.isEmpty else {
            throw ObjectStoreError(.protocolError, "UploadPart \(partNumber) of s3://\(bucket)/\(key) returned no ETag")
        }
        return S3CompletedPart(number: partNumber, etag: etag)
    }

    /// CompleteMultipartUpload: the object appears, made of `parts` in order.
    public func completeMultipartUpload(bucket: String, key: String, uploadId: String,
                                        parts: [S3CompletedPart]) throws(ObjectStoreError) {
        var xml = "<CompleteMultipartUpload>"
        for part in parts {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(XMLText.escape(part.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let response = try send("CompleteMultipartUpload", "POST", bucket: bucket, key: key,
                                query: [("uploadId", uploadId)], body: Data(xml.utf8))
        // S3 may answer 200 with an error document when the completion fails late.
        let text = Substring(String(decoding: response.body, as: UTF8.self))
        if text.contains("<Error>") {
            throw error(for: "CompleteMultipartUpload", bucket: bucket, key: key, status: 200, body: response.body)
        }
    }

    /// AbortMultipartUpload: the parts are discarded and no object is created.
    public func abortMultipartUpload(bucket: String, key: String, uploadId: String) throws(ObjectStoreError) {
        _ = try send("AbortMultipartUpload", "DELETE", bucket: bucket, key: key, query: [("uploadId", uploadId)])
    }

    // MARK: Requests

    private func location(_ bucket: String, _ key: String?) -> String {
        key.map { "s3://\(bucket)/\($0)" } ?? "bucket \"\(bucket)\""
    }

    private func send(_ operation: String, _ method: String, bucket: String, key: String?,
                      query: [(String, String)] = [], body: Data? = nil, file: SpooledBody? = nil,
                      sink: ByteSink? = nil) throws(ObjectStoreError) -> HTTPResponse {
        guard !bucket.isEmpty, !bucket.contains("/") else {
            throw ObjectStoreError(.configuration, "bucket name \"\(bucket)\" is not valid (remote.bucket): it must be non-empty and contain no \"/\"")
        }
        let path = "/\(bucket)" + (key.map { "/\($0)" } ?? "")
        var headers: [(String, String)] = []
        let payloadHash: String
        if let file {
            payloadHash = file.sha256Hex
            headers.append(("Content-MD5", file.md5Base64))
        } else if let body, method == "PUT" || method == "POST" {
            payloadHash = SigV4Signer.hex(SHA256.hash(data: body))
            headers.append(("Content-MD5", Data(Insecure.MD5.hash(data: body)).base64EncodedString()))
        } else {
            payloadHash = SigV4Signer.emptyPayloadHash
        }
        headers += signer.sign(method: method, host: hostHeader, path: path, query: query, headers: headers,
                               payloadHash: payloadHash, date: now())
        let queryString = SigV4Signer.canonicalQuery(query)
        let url = endpoint.absoluteString.trimmingSuffix("/") + SigV4Signer.encode(path, keepSlash: true)
            + (queryString.isEmpty ? "" : "?\(queryString)")
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body, file: file, sink: sink)
        lock.lock()
        let result = Result { () throws(CurlFailure) -> HTTPResponse in try transport.perform(request) }
        lock.unlock()
        let response: HTTPResponse
        switch result {
        case .success(let answer):
            response = answer
        case .failure(let error):
            let where_ = "\(operation) \(location(bucket, key)) at \(endpoint.absoluteString)"
            switch error.kind {
            case .unreachable:
                throw ObjectStoreError(.unreachable, "could not reach the S3 endpoint \(endpoint.absoluteString) (\(operation) \(location(bucket, key))): \(error.message); check remote.endpoint and that the service is running and reachable from this host")
            case .tls:
                let trust = transport.caFile.map { "CA file \($0)" } ?? "the system CA store"
                throw ObjectStoreError(.tls, "TLS with the S3 endpoint \(endpoint.absoluteString) failed (\(operation) \(location(bucket, key))): \(error.message) (trusting \(trust)); set remote.ca-file to the CA that signed the endpoint's certificate")
            case .stream(let cause):
                throw ObjectStoreError(.stream, "\(where_) stopped: \(cause)")
            case .other:
                throw ObjectStoreError(.protocolError, "\(where_) failed: \(error.message)")
            }
        }
        guard (200..<300).contains(response.status) else {
            throw error(for: operation, bucket: bucket, key: key, status: response.status, body: response.body)
        }
        return response
    }

    /// An operator-grade error from an S3 error document (or, for HEAD, from the status alone).
    private func error(for operation: String, bucket: String, key: String?, status: Int, body: Data) -> ObjectStoreError {
        let text = Substring(String(decoding: body, as: UTF8.self))
        let code = XMLText.value("Code", in: text) ?? (status == 404 ? (key == nil ? "NoSuchBucket" : "NotFound") : status == 403 ? "Forbidden" : "HTTP\(status)")
        let message = XMLText.value("Message", in: text).map { ": \($0)" } ?? ""
        let at = "\(operation) \(location(bucket, key)) at \(endpoint.absoluteString)"
        let credentials = signer.credentials
        let detail: String
        switch code {
        case "InvalidAccessKeyId":
            detail = "\(at) was refused: InvalidAccessKeyId (HTTP \(status)): the service does not know access key \(credentials.accessKeyId) (from \(credentials.source)); check the key id"
        case "SignatureDoesNotMatch":
            detail = "\(at) was refused: SignatureDoesNotMatch (HTTP \(status)): the secret access key for \(credentials.accessKeyId) (from \(credentials.source)) is wrong, or remote.region does not match the service"
        case "NoSuchBucket":
            let name = XMLText.value("BucketName", in: text) ?? bucket
            detail = "\(at) failed: NoSuchBucket (HTTP \(status)): bucket \"\(name)\" does not exist at \(endpoint.absoluteString); create it or fix remote.bucket"
        case "AccessDenied":
            detail = "\(at) was refused: AccessDenied (HTTP \(status)): access key \(credentials.accessKeyId) may not do \(operation) on bucket \"\(bucket)\"\(message)"
        default:
            detail = "\(at) failed: \(code) (HTTP \(status))\(message)"
        }
        return ObjectStoreError(.s3(code: code, status: status), detail)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
