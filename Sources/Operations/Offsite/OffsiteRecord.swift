import Foundation
import SystemSupport
import SnapshotStore

/// Which local snapshots have an offsite copy: `<dir>/.etcd-console-offsite.json` (mode 0600, written
/// atomically). A good local snapshot without an entry is "not offsite"; the next backup uploads it.
public struct OffsiteRecord: Codable, Sendable, Equatable {
    public static let fileName = ".etcd-console-offsite.json"

    public struct Upload: Codable, Sendable, Equatable {
        public var objectKey: String
        public var objectSHA256: String
        public var objectSize: Int64
        public var uploadedAt: Date
        /// `s3://bucket/` at upload time: a copy in another bucket does not count once the config changes.
        public var bucket: String

        public init(objectKey: String, objectSHA256: String, objectSize: Int64, uploadedAt: Date, bucket: String) {
            self.objectKey = objectKey
            self.objectSHA256 = objectSHA256
            self.objectSize = objectSize
            self.uploadedAt = uploadedAt
            self.bucket = bucket
        }
    }

    /// By local file name.
    public var uploads: [String: Upload] = [:]
    /// The last upload that succeeded and the bytes uploaded in all runs (for metrics).
    public var lastSuccess: Date?
    public var bytesUploaded: Int64 = 0

    public init() {}

    public static func read(fromDirectory directory: String) -> OffsiteRecord {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path) else { return OffsiteRecord() }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        return (try? decoder.decode(OffsiteRecord.self, from: data)) ?? OffsiteRecord()
    }

    public func write(toDirectory directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .utcInternetDateTime
        try AtomicFileWriter.replace((directory as NSString).appendingPathComponent(Self.fileName),
                                     with: try encoder.encode(self), mode: 0o600)
    }

    /// True when `name` has a copy in `bucket`.
    public func isOffsite(_ name: String, bucket: String) -> Bool { uploads[name]?.bucket == bucket }

    /// The good local snapshots without an offsite copy in `bucket`, oldest first (the order they are uploaded in).
    public func missing(_ entries: [SnapshotEntry], bucket: String) -> [SnapshotEntry] {
        entries.filter { $0.health == .good && !isOffsite($0.name, bucket: bucket) }
            .sorted { ($0.takenAt, $0.name) < ($1.takenAt, $1.name) }
    }
}
