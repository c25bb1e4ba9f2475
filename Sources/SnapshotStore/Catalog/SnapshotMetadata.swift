import Foundation
import SystemSupport

/// What we know about a snapshot file. For our own snapshots it is the sidecar `<file>.meta.json` (mode 0600),
/// written next to the file after a successful verify; for other files the catalog computes it once and keeps
/// it in its cache.
///
/// The sidecar is JSON with these property names; dates are ISO 8601 in UTC with milliseconds
/// (`2026-11-25T14:00:00.000Z`), so a sidecar read back keeps `takenAt` to the millisecond.
public struct SnapshotMetadata: Codable, Sendable, Equatable {
    /// When the snapshot was taken (the start of the save).
    public var takenAt: Date
    /// The endpoint the snapshot was streamed from.
    public var endpoint: String?
    /// Cluster ID as hex, as etcdctl prints it.
    public var clusterID: String?
    /// ID of the member that sent the snapshot, as hex.
    public var memberID: String?
    public var memberName: String?
    /// The saving member's peer URLs, comma-separated, as MemberList reported them (absent in older sidecars).
    public var memberPeerURLs: String?
    /// The cluster at save time as etcd's `--initial-cluster` (`name=peer-url,...`; absent in older sidecars).
    public var initialCluster: String?
    public var etcdVersion: String?
    /// The store revision the file holds.
    public var revision: Int64?
    /// Keys that are live (not deleted) at `revision`.
    public var liveKeys: Int?
    /// File size in bytes, including the 32-byte SHA-256 trailer.
    public var size: Int
    /// Hex SHA-256 of the database bytes (the trailer), when the file has one.
    public var sha256: String?
    /// The verifier's verdict (written as "good", "corrupt" or "unverified").
    public var health: SnapshotHealth
    /// Why the file is not good, in the verifier's words.
    public var reason: String?
    public var verifyDurationMs: Int?
    public var saveDurationMs: Int?
    /// Kubernetes objects per resource ("pods": 120, ...), when the snapshot holds a Kubernetes cluster.
    public var resources: [String: Int]?
    /// The sidecar format; 1 today. A reader ignores fields it does not know.
    public var formatVersion: Int

    public static let currentFormatVersion = 1

    public init(takenAt: Date, endpoint: String? = nil, clusterID: String? = nil, memberID: String? = nil,
                memberName: String? = nil, etcdVersion: String? = nil, revision: Int64? = nil, liveKeys: Int? = nil,
                size: Int, sha256: String? = nil, health: SnapshotHealth, reason: String? = nil, verifyDurationMs: Int? = nil,
                saveDurationMs: Int? = nil, resources: [String: Int]? = nil,
                formatVersion: Int = SnapshotMetadata.currentFormatVersion) {
        self.takenAt = takenAt
        self.endpoint = endpoint
        self.clusterID = clusterID
        self.memberID = memberID
        self.memberName = memberName
        self.etcdVersion = etcdVersion
        self.revision = revision
        self.liveKeys = liveKeys
        self.size = size
        self.sha256 = sha256
        self.health = health
        self.reason = reason
        self.verifyDurationMs = verifyDurationMs
        self.saveDurationMs = saveDurationMs
        self.resources = resources
        self.formatVersion = formatVersion
    }

    private enum CodingKeys: String, CodingKey {
        case takenAt, endpoint, clusterID, memberID, memberName, memberPeerURLs, initialCluster, etcdVersion, revision, liveKeys, size, sha256, health,
             reason, verifyDurationMs, saveDurationMs, resources, formatVersion
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        takenAt = try c.decode(Date.self, forKey: .takenAt)
        endpoint = try c.decodeIfPresent(String.self, forKey: .endpoint)
        clusterID = try c.decodeIfPresent(String.self, forKey: .clusterID)
        memberID = try c.decodeIfPresent(String.self, forKey: .memberID)
        memberName = try c.decodeIfPresent(String.self, forKey: .memberName)
        memberPeerURLs = try c.decodeIfPresent(String.self, forKey: .memberPeerURLs)
        initialCluster = try c.decodeIfPresent(String.self, forKey: .initialCluster)
        etcdVersion = try c.decodeIfPresent(String.self, forKey: .etcdVersion)
        revision = try c.decodeIfPresent(Int64.self, forKey: .revision)
        liveKeys = try c.decodeIfPresent(Int.self, forKey: .liveKeys)
        size = try c.decode(Int.self, forKey: .size)
        sha256 = try c.decodeIfPresent(String.self, forKey: .sha256)
        health = try c.decode(SnapshotHealth.self, forKey: .health)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        verifyDurationMs = try c.decodeIfPresent(Int.self, forKey: .verifyDurationMs)
        saveDurationMs = try c.decodeIfPresent(Int.self, forKey: .saveDurationMs)
        resources = try c.decodeIfPresent([String: Int].self, forKey: .resources)
        formatVersion = try c.decodeIfPresent(Int.self, forKey: .formatVersion) ?? 1
    }

    /// The sidecar's bytes: pretty-printed JSON with sorted keys, for people who `cat` it.
    public func sidecarJSON() throws(SnapshotStoreError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(UTCCalendar.iso8601(date))
        }
        do {
            var data = try encoder.encode(self)
            data.append(UInt8(ascii: "\n"))
            return data
        } catch {
            throw SnapshotStoreError(.io, path: "", "could not encode snapshot metadata: \(error)")
        }
    }

    /// Reads a sidecar's bytes; `path` names the file in the error.
    public init(sidecarJSON data: Data, path: String) throws(SnapshotStoreError) {
        do {
            self = try Self.sidecarDecoder.decode(SnapshotMetadata.self, from: data)
        } catch {
            throw SnapshotStoreError(.io, path: path, "could not read the snapshot sidecar \(path): \(Self.describe(error))")
        }
    }

    private static var sidecarDecoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = UTCCalendar.parseISO8601(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription:
                    "\"\(text)\" is not an ISO 8601 date like 2026-11-25T14:00:00.000Z")
            }
            return date
        }
        return decoder
    }

    /// A decoding error in one line: which field, and what was wrong with it.
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the document" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(path(context.codingPath)) has the wrong type (\(context.debugDescription))"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context.codingPath)): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
