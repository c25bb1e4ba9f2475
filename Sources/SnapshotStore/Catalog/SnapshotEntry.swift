import Foundation

/// One snapshot file in the catalog: the file itself plus what its sidecar or the analysis says about it.
public struct SnapshotEntry: Sendable, Equatable {
    /// Where `takenAt` comes from, so a screen can say how sure it is.
    public enum TakenAtSource: String, Sendable, Equatable {
        /// Our sidecar: the moment the save started.
        case sidecar
        /// A timestamp in the file name, read as UTC (`snapshot-20261125T140000Z-m1.db`, `20200630_154509_snapshot.db`).
        case fileName
        /// The file's modification time: nothing better was known.
        case modified
    }

    /// The file name, unique within the directory.
    public var name: String
    public var path: String
    /// Size on disk now (may differ from the sidecar's if the file was changed since it was saved).
    public var size: Int
    public var modified: Date
    public var takenAt: Date
    public var takenAtSource: TakenAtSource
    /// The verifier's verdict.
    public var health: SnapshotHealth
    public var reason: String?
    public var revision: Int64?
    public var liveKeys: Int?
    public var sha256: String?
    public var clusterID: String?
    public var memberID: String?
    public var memberName: String?
    public var etcdVersion: String?
    public var resources: [String: Int]?
    /// The file has a readable sidecar: one of our own snapshots.
    public var isOurs: Bool

    public init(name: String, path: String, size: Int, modified: Date, takenAt: Date, takenAtSource: TakenAtSource,
                health: SnapshotHealth, reason: String? = nil, revision: Int64? = nil, liveKeys: Int? = nil,
                sha256: String? = nil, clusterID: String? = nil, memberID: String? = nil, memberName: String? = nil,
                etcdVersion: String? = nil, resources: [String: Int]? = nil, isOurs: Bool) {
        self.name = name
        self.path = path
        self.size = size
        self.modified = modified
        self.takenAt = takenAt
        self.takenAtSource = takenAtSource
        self.health = health
        self.reason = reason
        self.revision = revision
        self.liveKeys = liveKeys
        self.sha256 = sha256
        self.clusterID = clusterID
        self.memberID = memberID
        self.memberName = memberName
        self.etcdVersion = etcdVersion
        self.resources = resources
        self.isOurs = isOurs
    }

    /// Seconds since the snapshot was taken (negative if `takenAt` is in the future: a skewed clock).
    public func ageSeconds(now: Date) -> TimeInterval {
        now.timeIntervalSince(takenAt)
    }

    public var retentionCandidate: RetentionCandidate {
        RetentionCandidate(name: name, takenAt: takenAt, health: health)
    }
}

/// A `*.db` entry in the snapshot directory that is not a snapshot file: a FIFO, a directory, a device, a
/// socket, or a symbolic link to one of those (or to nothing). Found with lstat/stat alone: never opened
/// (opening a FIFO waits for a writer, reading /dev/zero never ends).
public struct CatalogProblem: Sendable, Equatable {
    public var name: String
    public var path: String
    /// What the entry is and what to do, e.g. "a FIFO (named pipe), not a regular file; it was not opened".
    public var reason: String

    public init(name: String, path: String, reason: String) {
        self.name = name
        self.path = path
        self.reason = reason
    }
}

/// What a look at the snapshot directory found.
public struct CatalogListing: Sendable, Equatable {
    /// Snapshot files, newest first (by `takenAt`, then by name).
    public var entries: [SnapshotEntry]
    /// `*.part` files: saves in progress, or left behind by crashed ones (`removeLeftoverParts` cleans them).
    public var leftoverParts: [String]
    /// Names in the directory that are not snapshots: other files, sub-directories, symbolic links to
    /// snapshots (listed under their own name), sidecars whose snapshot is gone. Hidden files are not listed.
    public var ignored: [String]
    /// `*.db` entries that are not readable regular files (a FIFO, a directory, a link to /dev/zero), by name.
    public var problems: [CatalogProblem]
    /// Things that did not stop the listing but that an operator may want to know (an unreadable sidecar, a
    /// cache that could not be written).
    public var warnings: [String]

    public init(entries: [SnapshotEntry], leftoverParts: [String], ignored: [String], warnings: [String] = [],
                problems: [CatalogProblem] = []) {
        self.entries = entries
        self.leftoverParts = leftoverParts
        self.ignored = ignored
        self.problems = problems
        self.warnings = warnings
    }
}
