import Foundation
import SystemSupport

/// Where an offsite snapshot lives in the bucket (issue 14):
/// `<prefix>/<cluster-id>/<member>/<UTC time>-r<revision>.db.zst[.age]`, its manifest beside it at
/// `<object key>.manifest.json`. Pure values: the catalog is built from manifests found by ListObjectsV2.
public struct OffsiteObjectLayout: Sendable, Equatable {
    public var prefix: String
    public var clusterId: String
    public var member: String
    public var takenAt: Date
    public var revision: Int64
    public var encrypted: Bool

    public init(prefix: String, clusterId: String, member: String, takenAt: Date, revision: Int64, encrypted: Bool) {
        self.prefix = prefix
        self.clusterId = clusterId
        self.member = member
        self.takenAt = takenAt
        self.revision = revision
        self.encrypted = encrypted
    }

    /// `yyyyMMdd'T'HHmmss'Z'`: sorts by time and needs no escaping in a key.
    public static func timestamp(_ date: Date) -> String { SigV4Signer.timestamp(date) }

    /// The directory the member's objects share (`<prefix>/<cluster-id>/<member>/`; no leading "/").
    public var memberPrefix: String {
        let trimmed = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return (trimmed.isEmpty ? "" : trimmed + "/") + "\(clusterId)/\(member)/"
    }

    /// The snapshot object's key.
    public var objectKey: String {
        memberPrefix + "\(Self.timestamp(takenAt))-r\(revision).db.zst" + (encrypted ? ".age" : "")
    }

    /// The manifest's key: written last, so an object without one is not a snapshot.
    public var manifestKey: String { objectKey + OffsiteManifest.keySuffix }
}

/// What the manifest object says about one offsite snapshot (JSON, written after the object).
public struct OffsiteManifest: Codable, Sendable, Equatable {
    public static let keySuffix = ".manifest.json"
    public static let currentFormat = 1

    public enum Codec: String, Codable, Sendable {
        case zstd
        case zstdAge = "zstd+age"
    }

    public var format: Int
    public var clusterId: String
    public var memberId: String
    public var memberName: String
    public var revision: Int64
    public var etcdVersion: String
    public var takenAt: Date
    /// SHA-256 (hex) and size of the snapshot file as etcd produced it.
    public var dbSHA256: String
    public var dbSize: Int64
    /// SHA-256 (hex) and size of the object as stored (compressed, maybe encrypted).
    public var objectSHA256: String
    public var objectSize: Int64
    public var codec: Codec
    /// `AgeRecipient.fingerprint` of every recipient the object is encrypted to (empty when not encrypted).
    public var ageRecipients: [String]
    public var etcdConsoleVersion: String
    /// The local file name the snapshot had (and gets back on `snapshot pull`); absent in older manifests.
    public var fileName: String?
    /// The local sidecar's JSON (`<file>.meta.json`: member identity, health, resources), restored on pull.
    public var sidecar: String?
    /// The control-plane bundle the snapshot was taken with (`bundle-<time>.tar`, issue 15), uploaded beside it
    /// under `<member>/bundles/`; absent when the backup kept none (or in older manifests).
    public var bundle: String?

    public init(clusterId: String, memberId: String, memberName: String, revision: Int64, etcdVersion: String,
                takenAt: Date, dbSHA256: String, dbSize: Int64, objectSHA256: String, objectSize: Int64,
                codec: Codec, ageRecipients: [String], etcdConsoleVersion: String, fileName: String? = nil,
                sidecar: String? = nil, bundle: String? = nil) {
        self.fileName = fileName
        self.bundle = bundle
        self.sidecar = sidecar
        self.format = Self.currentFormat
        self.clusterId = clusterId
        self.memberId = memberId
        self.memberName = memberName
        self.revision = revision
        self.etcdVersion = etcdVersion
        self.takenAt = takenAt
        self.dbSHA256 = dbSHA256
        self.dbSize = dbSize
        self.objectSHA256 = objectSHA256
        self.objectSize = objectSize
        self.codec = codec
        self.ageRecipients = ageRecipients
        self.etcdConsoleVersion = etcdConsoleVersion
    }

    enum CodingKeys: String, CodingKey {
        case format, revision, codec
        case clusterId = "cluster_id", memberId = "member_id", memberName = "member_name"
        case etcdVersion = "etcd_version", takenAt = "taken_at", dbSHA256 = "db_sha256", dbSize = "db_size"
        case objectSHA256 = "object_sha256", objectSize = "object_size", ageRecipients = "age_recipients"
        case etcdConsoleVersion = "etcd_console_version"
        case fileName = "file_name", sidecar, bundle
    }

    /// Stable JSON: sorted keys, ISO 8601 UTC times.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .utcInternetDateTime
        return try encoder.encode(self)
    }

    /// Parses a manifest object; errors name the key and what is wrong.
    public static func decode(_ data: Data, key: String) throws(ObjectStoreError) -> OffsiteManifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        let manifest: OffsiteManifest
        do {
            manifest = try decoder.decode(OffsiteManifest.self, from: data)
        } catch {
            throw ObjectStoreError(.protocolError, "manifest \(key) is not a valid etcd-console manifest: \(error)")
        }
        guard manifest.format == currentFormat else {
            throw ObjectStoreError(.protocolError, "manifest \(key) has format \(manifest.format); this etcd-console reads format \(currentFormat): upgrade etcd-console")
        }
        return manifest
    }
}
