import Foundation
import SnapshotStore

/// A copy in the bucket as the console shows it: plain values from the remote catalog (`.etcd-console-remote.json`
/// or a fresh listing), so ConsoleUI needs neither ObjectStore nor Operations.
public struct RemoteCopy: Sendable, Equatable {
    /// The local file name it has (and gets when pulled).
    public var name: String
    public var objectKey: String
    public var takenAt: Date
    public var revision: Int64?
    /// The snapshot's size before compression (the manifest's `db_size`).
    public var dbSize: Int64
    /// The object's size in the bucket (compressed, maybe encrypted).
    public var objectSize: Int64
    /// "zstd" or "zstd+age".
    public var codec: String
    public var memberName: String?
    public var memberID: String?
    public var clusterID: String?
    public var etcdVersion: String?
    /// Why the copy cannot be used (object missing, size differs from the manifest), or nil: good.
    public var problem: String?

    public init(name: String, objectKey: String, takenAt: Date, revision: Int64? = nil, dbSize: Int64, objectSize: Int64,
                codec: String, memberName: String? = nil, memberID: String? = nil, clusterID: String? = nil,
                etcdVersion: String? = nil, problem: String? = nil) {
        self.name = name
        self.objectKey = objectKey
        self.takenAt = takenAt
        self.revision = revision
        self.dbSize = dbSize
        self.objectSize = objectSize
        self.codec = codec
        self.memberName = memberName
        self.memberID = memberID
        self.clusterID = clusterID
        self.etcdVersion = etcdVersion
        self.problem = problem
    }

    /// Good when its object matches its manifest's listing (it was good when uploaded; `v` checks its bytes).
    public var health: SnapshotHealth { problem == nil ? .good : .corrupt }
}

/// What the console knows about the offsite copies: the remote catalog, which local snapshots the record says
/// are offsite, and whether the newest good offsite copy is behind the schedule (decided by Operations'
/// `OffsiteStatus`, the rule `etcd-console status` warns with).
public struct OffsiteView: Sendable, Equatable {
    /// `s3://bucket/prefix/`.
    public var location: String
    /// When the bucket was listed (the cache's time); nil: never listed from this directory.
    public var listedAt: Date?
    public var copies: [RemoteCopy] { didSet { index = Self.index(copies) } }
    /// Local snapshot names with a copy in this bucket (`.etcd-console-offsite.json`).
    public var offsite: Set<String>
    /// When the newest good snapshot with an offsite copy was taken; nil when none has one.
    public var newestOffsiteAt: Date?
    /// True when the newest good offsite copy is older than twice the schedule (or there is none).
    public var behindSchedule: Bool
    /// Good local snapshots without an offsite copy.
    public var missingCount: Int
    /// The last listing of the bucket failed: why (the cached catalog, if any, is still shown).
    public var listError: String?

    public init(location: String, listedAt: Date? = nil, copies: [RemoteCopy] = [], offsite: Set<String> = [],
                newestOffsiteAt: Date? = nil, behindSchedule: Bool = false, missingCount: Int = 0, listError: String? = nil) {
        self.location = location
        self.listedAt = listedAt
        self.copies = copies
        self.index = Self.index(copies)
        self.offsite = offsite
        self.newestOffsiteAt = newestOffsiteAt
        self.behindSchedule = behindSchedule
        self.missingCount = missingCount
        self.listError = listError
    }

    /// Each copy's position by name (the first of a name), so a frame's rows look their copy up in O(1).
    private var index: [String: Int] = [:]

    private static func index(_ copies: [RemoteCopy]) -> [String: Int] {
        var index: [String: Int] = [:]
        for (i, copy) in copies.enumerated() where index[copy.name] == nil { index[copy.name] = i }
        return index
    }

    public func copy(named name: String) -> RemoteCopy? { index[name].map { copies[$0] } }
}

/// Where a row of the Snapshots screen lives, once a remote is configured.
public enum SnapshotLocation: String, Sendable, Equatable {
    /// Only in the directory: corrupt or unverified, so it is not meant to be uploaded.
    case local
    /// A good local snapshot without a copy in the bucket (never uploaded, or its upload failed).
    case notOffsite = "not offsite"
    case remote
    case both
}

/// Bytes moved by an upload or download so far, and how many there are.
public struct TransferProgress: Sendable, Equatable {
    public var done: Int64
    public var total: Int64

    public init(done: Int64, total: Int64) {
        self.done = done
        self.total = total
    }
}

/// What `n` produced: its one-line result and, when the services know it, the file (so the console can upload it).
public struct SavedSnapshot: Sendable, Equatable {
    public var message: String
    public var snapshot: SnapshotRef?

    public init(message: String, snapshot: SnapshotRef?) {
        self.message = message
        self.snapshot = snapshot
    }
}
