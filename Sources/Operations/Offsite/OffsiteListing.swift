import Foundation
import ObjectStore
import SnapshotStore

/// `snapshot list --remote`: local and remote snapshots merged by name, newest first. Pure.
public enum OffsiteListing {
    public enum Location: String, Codable, Sendable { case local, remote, both }

    public struct Row: Codable, Sendable, Equatable {
        public var name: String
        public var location: Location
        /// The local file's health; for a remote-only copy, "good" when its object matches its manifest's
        /// listing (it was good when uploaded; `snapshot verify --remote` checks its bytes), else "corrupt".
        public var health: String
        public var takenAt: Date
        public var revision: Int64?
        public var localSize: Int?
        public var remoteSize: Int64?
        public var objectKey: String?
        public var codec: String?
        /// Why the remote copy cannot be used, when it cannot.
        public var problem: String?
        public var cluster: String?
        public var member: String?
        /// Set when copies from more than one member hold this cluster revision (each master backs up its own
        /// member, issue 16): `<cluster id>@r<revision>`, shared by those rows, which are listed together.
        public var group: String?
    }

    public static func rows(local: [SnapshotEntry], remote: RemoteCatalog) -> [Row] {
        var rows: [String: Row] = [:]
        for entry in local {
            rows[entry.name] = Row(name: entry.name, location: .local, health: entry.health.rawValue, takenAt: entry.takenAt,
                                   revision: entry.revision, localSize: entry.size, cluster: entry.clusterID,
                                   member: entry.memberName ?? entry.memberID)
        }
        for snapshot in remote.snapshots {
            var row = rows[snapshot.name] ?? Row(name: snapshot.name, location: .remote,
                                                 health: snapshot.problem == nil ? SnapshotHealth.good.rawValue : SnapshotHealth.corrupt.rawValue,
                                                 takenAt: snapshot.manifest.takenAt, revision: snapshot.manifest.revision)
            if row.location == .local { row.location = .both }
            row.remoteSize = snapshot.manifest.objectSize
            row.objectKey = snapshot.objectKey
            row.codec = snapshot.manifest.codec.rawValue
            row.problem = snapshot.problem
            if row.cluster == nil, !snapshot.manifest.clusterId.isEmpty { row.cluster = snapshot.manifest.clusterId }
            if row.member == nil { row.member = snapshot.manifest.memberName.isEmpty ? nil : snapshot.manifest.memberName }
            rows[snapshot.name] = row
        }
        return grouped(rows.values.sorted { ($0.takenAt, $0.name) > ($1.takenAt, $1.name) })
    }

    /// Marks the rows of one cluster revision held by more than one member, and moves each group's rows up to its
    /// newest row, so the copies of one cluster state are listed together. The order is otherwise unchanged.
    static func grouped(_ sorted: [Row]) -> [Row] {
        var members: [String: Set<String>] = [:]
        for row in sorted { if let key = key(row), let member = row.member { members[key, default: []].insert(member) } }
        var result: [Row] = []
        var placed: Set<String> = []
        for row in sorted {
            guard let key = key(row), (members[key]?.count ?? 0) > 1 else {
                result.append(row)
                continue
            }
            guard placed.insert(key).inserted else { continue }
            for var member in sorted where Self.key(member) == key {
                member.group = key
                result.append(member)
            }
        }
        return result
    }

    static func key(_ row: Row) -> String? {
        guard let cluster = row.cluster, let revision = row.revision, row.member != nil else { return nil }
        return "\(cluster)@r\(revision)"
    }
}
