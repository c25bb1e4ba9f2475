#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EtcdClient

/// Decides whether a snapshot file can be trusted for a restore, and says why not in words an operator
/// can act on.
///
/// Contract: `verify(path:)` never throws and never crashes on a bad file (a file truncated by someone else
/// *while* it is being read can still raise SIGBUS, as with any mmap reader). The checks, first failure wins:
/// 1. the path is a readable regular file ("cannot read <path>: <strerror>"), not empty;
/// 2. it is a bbolt file at all ("not an etcd snapshot: <why>");
/// 3. it holds every page its meta page declares ("truncated at 41 MB of 120 MB"), decided before the
///    size says whether a trailer exists, since truncation also cuts the trailer off;
/// 4. the SHA-256 of the database bytes equals the trailer, when there is one ("checksum mismatch: ...");
/// 5. the whole bbolt structure is sound ("corrupt bbolt structure: <what, where>");
/// 6. etcd's "key" bucket exists and every entry is a revision key with a KeyValue etcd would write.
/// Checks 4 and 5-6 run at the same time on two threads: the digest is bound by one core's SHA-256 speed
/// and the tree walk mostly by memory, so a verify takes about as long as `openssl dgst -sha256`.
public enum SnapshotVerifier {
    public static func verify(path: String) -> SnapshotVerification {
        let started = ContinuousClock.now
        var result = check(path: path)
        let elapsed = ContinuousClock.now - started
        result.durationMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        return result
    }

    private static func check(path: String) -> SnapshotVerification {
        var info = stat()
        guard stat(path, &info) == 0 else { return unreadable(path, errnoText()) }
        if let problem = notRegularFileProblem(info.st_mode) { return unreadable(path, problem) }
        // O_NONBLOCK: should a FIFO be swapped in after the stat, open must not wait for a writer.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return unreadable(path, errnoText()) }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else { return unreadable(path, errnoText()) }
        if let problem = notRegularFileProblem(info.st_mode) { return unreadable(path, problem) }

        let size = Int(info.st_size)
        guard size > 0 else {
            return SnapshotVerification(health: .corrupt, reason: "empty file (0 bytes): not an etcd snapshot", kind: .notSnapshot)
        }
        let file = SnapshotFileProbe(fd: fd, size: size)
        let hasTrailer = EtcdDatabase.hasIntegrityTrailer(fileSize: size)
        let databaseLength = hasTrailer ? size - EtcdDatabase.trailerSize : size
        let kind: SnapshotVerification.Kind = hasTrailer ? .snapshot : .rawDatabase

        let bolt: BoltFile
        do {
            bolt = try BoltFile(path: path, length: databaseLength)
        } catch {
            return openFailure(error, path: path, file: file, hasTrailer: hasTrailer, databaseLength: databaseLength)
        }
        let totalSize = Int64(bolt.databaseSize)

        var trailer: [UInt8]?
        if hasTrailer {
            trailer = file.bytes(at: databaseLength, count: EtcdDatabase.trailerSize)
            guard trailer != nil else { return unreadable(path, errnoText()) }
        }

        // The digest on a thread of its own while this one walks the tree.
        let digest = hasTrailer ? ChecksumJob.start(fd: fd, length: databaseLength) : nil
        let contents = Result { try SnapshotContentsCheck.run(bolt) }
        var sha256: String?
        if let digest, let trailer {
            switch digest.wait() {
            case .failure(let problem):
                return unreadable(path, problem.message)
            case .success(let computed):
                guard computed == trailer else {
                    return SnapshotVerification(health: .corrupt, reason: checksumMismatch(trailer: trailer, computed: computed),
                                                hasTrailer: true, totalSize: totalSize, kind: .snapshot)
                }
                sha256 = computed.hexString
            }
        }

        switch contents {
        case .success(let found):
            var note: String? = hasTrailer ? nil : SnapshotVerification.rawDatabaseNote
            if !found.warnings.isEmpty {
                note = (note.map { $0 + "; " } ?? "") + "warning: " + found.warnings.joined(separator: "; ")
            }
            return SnapshotVerification(health: .good, reason: note, hasTrailer: hasTrailer, sha256: sha256,
                                        revision: found.revision, liveKeys: found.liveKeys, totalSize: totalSize, kind: kind)
        case .failure(let error as BoltError):
            return SnapshotVerification(health: .corrupt, reason: "corrupt bbolt structure: \(error.message)",
                                        hasTrailer: hasTrailer, sha256: sha256, totalSize: totalSize, kind: kind)
        case .failure(let error as EtcdDataError) where error.kind == .missingBucket:
            return SnapshotVerification(health: .corrupt, reason: error.message, hasTrailer: hasTrailer, sha256: sha256,
                                        totalSize: totalSize, kind: .notSnapshot)
        case .failure(let error as EtcdDataError):
            return SnapshotVerification(health: .corrupt, reason: "corrupt etcd data: \(error.message)",
                                        hasTrailer: hasTrailer, sha256: sha256, totalSize: totalSize, kind: kind)
        case .failure(let error):
            return SnapshotVerification(health: .corrupt, reason: "corrupt: \(error)", hasTrailer: hasTrailer,
                                        sha256: sha256, totalSize: totalSize, kind: kind)
        }
    }

    /// Turns the reason `BoltFile` could not open the database into a verdict.
    private static func openFailure(_ error: any Error, path: String, file: SnapshotFileProbe, hasTrailer: Bool,
                                    databaseLength: Int) -> SnapshotVerification {
        guard let error = error as? BoltError else {
            return unreadable(path, "\(error)")
        }
        switch error.kind {
        case .cannotOpen:
            return unreadable(path, error.message)
        case .truncated:
            return SnapshotVerification(health: .corrupt, reason: truncated(file: file, boltMessage: error.message),
                                        kind: .rawDatabase)
        case .empty, .notBolt:
            guard file.looksLikeBolt else {
                return SnapshotVerification(health: .corrupt, reason: "not an etcd snapshot: \(file.notBoltReason)",
                                            kind: .notSnapshot)
            }
            if file.size < BoltFile.headerSize + BoltMeta.size {
                return SnapshotVerification(health: .corrupt,
                                            reason: "truncated at \(formatBytes(file.size)): the file ends inside the first meta page",
                                            kind: .rawDatabase)
            }
            fallthrough
        default:
            // A bbolt file whose meta pages are damaged. With a trailer, the checksum says more: the file
            // changed after it was written.
            if hasTrailer, case .success(let computed) = ChecksumJob.digest(fd: file.fd, length: databaseLength),
               let trailer = file.bytes(at: databaseLength, count: EtcdDatabase.trailerSize), computed != trailer {
                return SnapshotVerification(health: .corrupt, reason: checksumMismatch(trailer: trailer, computed: computed),
                                            hasTrailer: true, kind: .snapshot)
            }
            return SnapshotVerification(health: .corrupt, reason: "corrupt bbolt structure: \(error.message)",
                                        hasTrailer: hasTrailer, kind: hasTrailer ? .snapshot : .rawDatabase)
        }
    }

    // MARK: - Reasons

    private static func unreadable(_ path: String, _ problem: String) -> SnapshotVerification {
        SnapshotVerification(health: .unverified, reason: "cannot read \(path): \(problem)", kind: .notSnapshot)
    }

    /// The first 12 hex digits of each digest, or all of them when those 12 are the same (a damaged trailer end).
    static func checksumMismatch(trailer: [UInt8], computed: [UInt8]) -> String {
        let expected = trailer.hexString, actual = computed.hexString
        if expected.prefix(12) == actual.prefix(12) {
            return "checksum mismatch: the file was changed after it was written (trailer \(expected), computed \(actual))"
        }
        return "checksum mismatch: the file was changed after it was written (trailer \(expected.prefix(12))…, computed \(actual.prefix(12))…)"
    }

    /// "truncated at 41 MB of 120 MB"; with exact byte counts too when both round to the same text.
    static func truncated(file: SnapshotFileProbe, boltMessage: String) -> String {
        guard let declared = file.declaredDatabaseSize else {
            return "truncated at \(formatBytes(file.size)): \(boltMessage)"
        }
        let have = formatBytes(file.size), want = formatBytes(declared)
        if have == want {
            return "truncated at \(have) of \(want) (\(file.size) of \(declared) bytes)"
        }
        return "truncated at \(have) of \(want)"
    }

    static func notRegularFileProblem(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: String(cString: strerror(EISDIR))
        case S_IFIFO: "not a regular file (a FIFO)"
        case S_IFSOCK: "not a regular file (a socket)"
        case S_IFCHR: "not a regular file (a character device)"
        case S_IFBLK: "not a regular file (a block device)"
        default: "not a regular file"
        }
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
