/// Why a snapshot could not be saved, read or trusted, with the file it concerns.
public struct SnapshotStoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The target file already exists; snapshots are never overwritten.
        case exists
        /// Creating, writing, syncing or renaming the file failed (disk full, permission, ...).
        case io
        /// The disk is full.
        case noSpace
        /// The stream from etcd ended early or failed; carries the client's error text.
        case source
        /// The data does not match its SHA-256 trailer, or the trailer is missing.
        case checksumMismatch
        /// The caller cancelled the save.
        case cancelled
        /// A snapshot file is damaged or not an etcd snapshot.
        case corrupt
        /// A path is unsafe to write: a symbolic link, not a regular file, or in a directory others can write.
        case refused
    }

    public var kind: Kind
    public var path: String
    public var detail: String

    public init(_ kind: Kind, path: String, _ detail: String) {
        self.kind = kind
        self.path = path
        self.detail = detail
    }

    public var description: String { detail }
}
