import EtcdClient
import Foundation
import SystemSupport

/// Progress of a running save, for progress bars and the Jobs screen.
public struct SnapshotProgress: Sendable {
    /// Database bytes received and written so far.
    public var bytesReceived: Int
    /// Size of the database as etcd announced it with the first chunk.
    public var totalBytes: Int?
    public var elapsed: Duration

    /// 0...1 when the total is known.
    public var fraction: Double? {
        guard let totalBytes, totalBytes > 0 else { return nil }
        return min(1, Double(bytesReceived) / Double(totalBytes))
    }

    /// Bytes per second so far.
    public var rate: Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Double(bytesReceived) / seconds : 0
    }

    /// Estimated time left at the current rate.
    public var eta: Duration? {
        guard let totalBytes, rate > 0 else { return nil }
        return .seconds(Double(max(0, totalBytes - bytesReceived)) / rate)
    }
}

/// What a successful save wrote.
public struct SnapshotSaveResult: Sendable {
    public var path: String
    /// File size: database bytes plus the 32-byte SHA-256 trailer.
    public var size: Int
    /// Hex SHA-256 of the database bytes (the file's trailer).
    public var sha256: String
    /// The same digest as bytes, computed while the bytes arrived (the verify after the save reuses it).
    public internal(set) var digest: [UInt8] = []
    /// The store revision the snapshot holds (read from the saved file).
    public var revision: Int64
    public var duration: Duration
    public var endpoint: String
    public var clusterID: UInt64
    public var memberID: UInt64
    public var memberName: String?
    /// The member's peer URLs and the cluster as `--initial-cluster`, from MemberList (nil if unavailable).
    public var memberPeerURLs: String? = nil
    public var initialCluster: String? = nil
    public var etcdVersion: String
}

/// Streams a snapshot from etcd into a file, atomically.
///
/// Contract: on success `path` holds `db bytes || sha256(db bytes)` exactly as etcd sent them, with
/// mode 0600, fsynced together with its directory, and the trailer has been checked against the
/// bytes while streaming. On any failure (etcd gone, disk full, permission, checksum, cancelled)
/// nothing exists under `path` and its `.part` is removed.
public enum SnapshotSaver {
    /// The default file name: `snapshot-<UTC yyyyMMdd'T'HHmmss.SSS'Z'>-<member>.db`, sorting by time. The
    /// milliseconds keep two saves in the same second apart (two `n` presses); names without them, from older
    /// versions, read the same way (`SnapshotCatalog.takenAt(fromFileName:)` stops at the seconds).
    public static func fileName(takenAt: Date, memberName: String?) -> String {
        let safe = (memberName ?? "").map { c -> Character in
            c.isLetter || c.isNumber || c == "-" || c == "_" || c == "." ? c : "_"
        }
        let member = safe.isEmpty ? "" : "-" + String(safe)
        return "snapshot-\(UTCCalendar.compact(takenAt, milliseconds: true))\(member).db"
    }

    /// UTC time for file names, sorting by time: `20261125T170521Z`. Also names a restore's moved-aside dirs.
    public static func compactTimestamp(_ date: Date) -> String {
        UTCCalendar.compact(date)
    }

    /// "etcd stopped sending the snapshot after 12 MB for 30 s": the stall timeout ended the save.
    static func stalled(_ client: EtcdClient, endpoint: String, after bytes: Int, path: String) -> SnapshotStoreError {
        let stall = client.configuration.snapshotStallTimeout ?? .zero
        let ms = stall.components.seconds * 1000 + stall.components.attoseconds / 1_000_000_000_000_000
        let seconds = ms % 1000 == 0 ? "\(ms / 1000)" : String(format: "%.1f", Double(ms) / 1000)
        return SnapshotStoreError(.source, path: path,
            "etcd stopped sending the snapshot after \(formatBytes(bytes)) for \(seconds) s (\(endpoint); is etcd stopped "
            + "or overloaded? the limit is --stall-timeout, or stall-timeout in the config file); nothing was saved")
    }

    /// The member a snapshot comes from: its Status and its name from MemberList (nil if unavailable).
    public struct Source: Sendable {
        public var status: Etcdserverpb_StatusResponse
        public var memberName: String?
        /// The member's peer URLs, comma-separated, and every member as `name=peer-url,...`.
        public var memberPeerURLs: String? = nil
        public var initialCluster: String? = nil
    }

    /// Asks the member for its status and name (two calls), e.g. to name the file before saving.
    public static func source(from client: EtcdClient, endpoint: Endpoint? = nil) async throws -> Source {
        let status = try await client.status(of: endpoint)
        let members = try? await client.memberList(endpoint: endpoint)
        let member = members?.members.first { $0.id == status.header.memberID }
        let cluster = members?.members.filter { !$0.name.isEmpty }
            .flatMap { member in member.peerUrls.map { "\(member.name)=\($0)" } }.joined(separator: ",")
        return Source(status: status, memberName: member?.name,
                      memberPeerURLs: member.flatMap { $0.peerUrls.isEmpty ? nil : $0.peerUrls.joined(separator: ",") },
                      initialCluster: cluster.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// `source` saves the Status and MemberList calls when the caller already made them. `following` is told the
    /// `.part` file once it exists (a reader follows it: the upload beside the save). `progress` is called as
    /// soon as bytes are written, then at most every `progressInterval` (tests that act at a byte count pass zero:
    /// on a fast machine the whole stream can arrive between two 100 ms reports).
    public static func save(from client: EtcdClient, endpoint: Endpoint? = nil, to path: String, source: Source? = nil,
                            progressInterval: Duration = .milliseconds(100),
                            following: GrowingSnapshotFile? = nil,
                            progress: (@Sendable (SnapshotProgress) -> Void)? = nil) async throws -> SnapshotSaveResult {
        let started = ContinuousClock.now
        let member: Source
        if let source { member = source } else { member = try await Self.source(from: client, endpoint: endpoint) }
        let status = member.status
        let memberName = member.memberName

        let writer = try AtomicFileWriter(path: path)
        following?.opened(partPath: writer.partPath, source: member)
        do {
            let stream: SnapshotStream
            do {
                stream = try await client.snapshot(endpoint: endpoint)
            } catch let error as EtcdClientError {
                // The first message is awaited by `snapshot()`: its errors read as the stream's would.
                switch error.kind {
                case .stalled: throw stalled(client, endpoint: error.endpoint, after: 0, path: path)
                case .cancelled: throw SnapshotStoreError(.cancelled, path: path, "snapshot cancelled; nothing was saved")
                case .unresolvable, .connectionRefused, .unreachable, .connectTimeout, .tlsHandshake, .alpnNotH2,
                     .noEndpointAvailable:
                    throw error
                default:
                    throw SnapshotStoreError(.source, path: path, "snapshot from \(error.endpoint) failed after 0 B: "
                        + "\(error.description); nothing was saved")
                }
            }
            let hasher = SHA256Hasher()
            var held: Data?            // the newest chunk: written once another follows, else it is the trailer
            var total: Int?
            var lastReport: ContinuousClock.Instant?  // the first report as soon as bytes are written, then every progressInterval
            do {
                for try await chunk in stream {
                    if total == nil { total = Int(chunk.remainingBytes) + chunk.blob.count }
                    if let previous = held {
                        hasher.update(previous)
                        try writer.write(previous)
                    }
                    held = chunk.blob
                    if let progress, writer.bytesWritten > 0, lastReport.map({ ContinuousClock.now - $0 >= progressInterval }) ?? true {
                        lastReport = .now
                        progress(SnapshotProgress(bytesReceived: writer.bytesWritten, totalBytes: total,
                                                  elapsed: ContinuousClock.now - started))
                    }
                }
            } catch let error as EtcdClientError {
                if error.kind == .cancelled { throw SnapshotStoreError(.cancelled, path: path, "snapshot cancelled; nothing was saved") }
                if error.kind == .stalled { throw stalled(client, endpoint: stream.endpoint.description, after: writer.bytesWritten, path: path) }
                throw SnapshotStoreError(.source, path: path,
                                         "snapshot from \(stream.endpoint) failed after \(formatBytes(writer.bytesWritten))\(total.map { " of \(formatBytes($0))" } ?? ""): \(error.description); nothing was saved")
            }
            let digest = hasher.finalize()
            guard let trailer = held, trailer.count == 32 else {
                throw SnapshotStoreError(.checksumMismatch, path: path,
                                         "snapshot from \(stream.endpoint) ended without a SHA-256 trailer; nothing was saved")
            }
            guard Array(trailer) == digest else {
                throw SnapshotStoreError(.checksumMismatch, path: path,
                                         "checksum mismatch: the snapshot stream from \(stream.endpoint) does not match its SHA-256 trailer (sent \(Array(trailer).hexString), computed \(digest.hexString)); nothing was saved")
            }
            if let total, total != writer.bytesWritten {
                throw SnapshotStoreError(.source, path: path,
                                         "snapshot from \(stream.endpoint) has \(formatBytes(writer.bytesWritten)) but etcd announced \(formatBytes(total)); nothing was saved")
            }
            try writer.write(trailer)
            try writer.commit()
            progress?(SnapshotProgress(bytesReceived: writer.bytesWritten - 32, totalBytes: total,
                                       elapsed: ContinuousClock.now - started))
            // The revision the file holds (Status before the stream may be older if writes raced it).
            let revision = (try? EtcdDatabase(path: path).revision()) ?? status.header.revision
            var result = SnapshotSaveResult(path: path, size: writer.bytesWritten, sha256: digest.hexString,
                                            revision: revision, duration: ContinuousClock.now - started,
                                            endpoint: stream.endpoint.description, clusterID: status.header.clusterID,
                                            memberID: status.header.memberID, memberName: memberName,
                                            memberPeerURLs: member.memberPeerURLs, initialCluster: member.initialCluster,
                                            etcdVersion: status.version)
            result.digest = digest
            return result
        } catch {
            writer.abort()
            if error is CancellationError { throw SnapshotStoreError(.cancelled, path: path, "snapshot cancelled; nothing was saved") }
            throw error
        }
    }
}
