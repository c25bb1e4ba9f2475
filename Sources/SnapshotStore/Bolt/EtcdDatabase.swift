#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SystemSupport

/// etcd's view of a bbolt file: revisions, the `etcdctl snapshot status` numbers, live keys, members and
/// the consistent index. Works on snapshot files (db + 32-byte sha256 trailer) and on `member/snap/db`.
public final class EtcdDatabase: Sendable {
    public let bolt: BoltFile
    /// The sha256 trailer a snapshot file ends with (`etcdctl snapshot save` appends it), if present.
    /// Checking it against the db bytes is the caller's business (it needs a sha256 implementation).
    public let integrityTrailer: [UInt8]?

    public var path: String { bolt.path }

    /// Size of the sha256 trailer `etcdctl snapshot save` appends to the db.
    public static let trailerSize = 32

    /// Whether a file of `size` bytes carries the trailer: etcd's own rule (`snapshot restore`) is
    /// size % 512 == 32, since a db is a whole number of pages and pages are multiples of 512 bytes.
    public static func hasIntegrityTrailer(fileSize: Int) -> Bool {
        fileSize % 512 == trailerSize
    }

    /// Opens a snapshot or a db file, excluding a trailer when the file size says there is one.
    public convenience init(path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw BoltError(.cannotOpen, "could not stat: \(errnoDescription(errno))", path: path)
        }
        let size = Int(info.st_size)
        if Self.hasIntegrityTrailer(fileSize: size) {
            let bolt = try BoltFile(path: path, length: size - Self.trailerSize)
            let trailer = try Self.readTrailer(path: path, at: size - Self.trailerSize)
            self.init(bolt: bolt, integrityTrailer: trailer)
        } else {
            self.init(bolt: try BoltFile(path: path))
        }
    }

    public init(bolt: BoltFile, integrityTrailer: [UInt8]? = nil) {
        self.bolt = bolt
        self.integrityTrailer = integrityTrailer
    }

    private static func readTrailer(path: String, at offset: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw BoltError(.cannotOpen, "could not open: \(errnoDescription(errno))", path: path)
        }
        defer { close(fd) }
        var trailer = [UInt8](repeating: 0, count: trailerSize)
        let read = trailer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, trailerSize, off_t(offset)) }
        guard read == trailerSize else {
            throw BoltError(.cannotOpen, "could not read the sha256 trailer at byte \(offset)", path: path)
        }
        return trailer
    }

    // MARK: - Revision

    /// The newest revision: the main part of the last key in the "key" bucket (0 when it is empty),
    /// found by walking only the rightmost path of the tree.
    public func revision() throws -> Int64 {
        try bolt.withLastKey(bucket: Bucket.key) { key in
            guard let key else { return 0 }
            guard let main = EtcdRevision.mainRevision(ofKey: key) else {
                throw EtcdDataError(.badRevisionKey, "the last key bucket key is \(BoltFile.printable(key)), too short for a revision", path: path)
            }
            return main
        }
    }

    /// etcd's bucket names.
    public enum Bucket {
        public static let key = "key"
        public static let meta = "meta"
        public static let members = "members"
        public static let membersRemoved = "members_removed"
        public static let lease = "lease"
        public static let cluster = "cluster"
    }
}
