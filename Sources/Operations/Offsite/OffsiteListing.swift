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
    }

    public static func rows(local: [SnapshotEntry], remote: RemoteCatalog) -> [Row] {
        var rows: [String: Row] = [:]
        for entry in local {
            rows[entry.name] = Row(name: entry.name, location: .local, health: entry.health.rawValue, takenAt: entry.takenAt,
                                   revision: entry.revision, localSize: entry.size)
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
            rows[snapshot.name] = row
        }
        return rows.values.sorted { ($0.takenAt, $0.name) > ($1.takenAt, $1.name) }
    }
}
