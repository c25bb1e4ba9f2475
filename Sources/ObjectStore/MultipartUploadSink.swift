import Foundation
import SnapshotStore

/// The end of an upload pipeline: a `ByteSink` that gathers bytes into parts of `partSize` and uploads each
/// as it fills (UploadPart with SHA-256 signing and Content-MD5), then completes the upload in `finish()`.
/// Memory: one part buffer, or none with a spool directory (each part then goes through an unlinked temporary file
/// there, `PartSpool`). Any failure aborts the upload (AbortMultipartUpload) so no partial object is left;
/// `abort()` does the same for a failure upstream (the source or a codec stage).
public final class MultipartUploadSink: ByteSink {
    /// S3's smallest non-final part is 5 MiB; issue 14 asks for 16-64 MiB parts.
    public static let partSizes = (5 << 20)...(64 << 20)
    public static let defaultPartSize = 16 << 20

    public let bucket: String
    public let key: String
    public let partSize: Int
    private let client: S3Client
    private var uploadId: String?
    private var buffer = Data()
    /// Where parts wait when the sink spools (nil: in `buffer`).
    private let spool: PartSpool?
    private var buffered: Int { spool?.count ?? buffer.count }
    private var parts: [S3CompletedPart] = []
    private var done = false
    /// Bytes uploaded in completed parts so far (for progress).
    public private(set) var bytesUploaded = 0

    /// Attempts per part, and the pause before the n-th retry (n from 1).
    private let attempts: Int
    private let backoff: @Sendable (Int) -> Duration

    /// `spoolDirectory`: parts go through an unlinked temporary file there instead of a buffer in memory (a
    /// directory on disk; the snapshot's own is what `OffsiteStore` passes).
    public init(client: S3Client, bucket: String, key: String, partSize: Int = defaultPartSize, attempts: Int = 1,
                spoolDirectory: String? = nil,
                backoff: @escaping @Sendable (Int) -> Duration = { .milliseconds(500 << ($0 - 1)) }) throws(ObjectStoreError) {
        guard Self.partSizes.contains(partSize) else {
            throw ObjectStoreError(.configuration, "part size \(partSize) bytes is out of range: use \(Self.partSizes.lowerBound >> 20)-\(Self.partSizes.upperBound >> 20) MiB")
        }
        self.client = client
        self.bucket = bucket
        self.key = key
        self.partSize = partSize
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.spool = try spoolDirectory.map { dir throws(ObjectStoreError) in try PartSpool(directory: dir) }
        self.uploadId = try client.createMultipartUpload(bucket: bucket, key: key)
        if spool == nil { buffer.reserveCapacity(partSize) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!done, "MultipartUploadSink.write after finish or abort")
        var offset = 0
        while offset < bytes.count {
            let take = min(partSize - buffered, bytes.count - offset)
            let piece = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)])
            if let spool {
                do { try spool.append(piece) } catch { abort(); throw error }
            } else {
                buffer.append(contentsOf: piece)
            }
            offset += take
            if buffered == partSize { try uploadBuffered() }
        }
    }

    public func finish() throws {
        precondition(!done, "MultipartUploadSink.finish twice")
        if buffered > 0 || parts.isEmpty { try uploadBuffered() }
        guard let uploadId else { return }
        do {
            try client.completeMultipartUpload(bucket: bucket, key: key, uploadId: uploadId, parts: parts)
        } catch {
            abort()
            throw error
        }
        done = true
    }

    /// Abandons the upload: AbortMultipartUpload (best effort: a failure here is left to the bucket's
    /// lifecycle rule, and reported by `abortError`).
    public func abort() {
        guard !done else { return }
        done = true
        if let uploadId {
            do {
                try client.abortMultipartUpload(bucket: bucket, key: key, uploadId: uploadId)
            } catch {
                abortError = error
            }
        }
        uploadId = nil
    }

    /// Why the last abort could not be sent, if it could not.
    public private(set) var abortError: ObjectStoreError?

    private func uploadBuffered() throws {
        guard let uploadId else { return }
        do {
            var attempt = 1
            let part: S3CompletedPart
            while true {
                do {
                    if let spool {
                        part = try client.uploadPart(bucket: bucket, key: key, uploadId: uploadId,
                                                     partNumber: parts.count + 1, file: spool.body())
                    } else {
                        part = try client.uploadPart(bucket: bucket, key: key, uploadId: uploadId,
                                                     partNumber: parts.count + 1, data: buffer)
                    }
                    break
                } catch {
                    guard attempt < attempts, Self.mayPass(error) else { throw error }
                    let pause = backoff(attempt)
                    Thread.sleep(forTimeInterval: Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18)
                    attempt += 1
                }
            }
            parts.append(part)
            bytesUploaded += buffered
            if let spool { spool.reset() } else { buffer.removeAll(keepingCapacity: true) }
        } catch {
            abort()
            throw error
        }
    }

    /// True for failures that may pass on a retry: no connection, a broken stream, a 5xx or a throttling answer.
    public static func mayPass(_ error: ObjectStoreError) -> Bool {
        switch error.kind {
        case .unreachable, .stream: return true
        case .s3(let code, let status): return status >= 500 || code == "SlowDown" || code == "RequestTimeout"
        default: return false
        }
    }
}
