#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EtcdClient
import Foundation
import SystemSupport

/// Decides whether a snapshot file can be trusted for a restore, and says why not in words an operator
/// can act on.
///
/// Contract: `verify(path:)` never throws and never crashes on a bad file (a file truncated by someone else
/// *while* it is being read can still raise SIGBUS, as with any mmap reader). The checks, first failure wins:
/// 1. the path is a readable regular file ("cannot read <path>: <strerror>"), not empty;
/// 2. it is a bbolt file at all ("not an etcd snapshot: <why>");
/// 3. it holds every page its meta page declares ("truncated at 41 MB of 120 MB"), decided before the
///    size says whether a trailer exists, since truncation also cuts the trailer off; a file without a trailer
///    is whole pages (a database always is: anything past the last whole page is what is left of a trailer),
///    and a file whose sidecar says it was saved with a trailer has one ("truncated inside the checksum trailer");
/// 4. the SHA-256 of the database bytes equals the trailer, when there is one ("checksum mismatch: ...");
/// 5. the whole bbolt structure is sound ("corrupt bbolt structure: <what, where>");
/// 6. etcd's "key" bucket exists and every entry is a revision key with a KeyValue etcd would write.
/// Checks 4 and 5-6 run at the same time on two threads: the digest is bound by one core's SHA-256 speed
/// and the tree walk mostly by memory, so a verify takes about as long as `openssl dgst -sha256`.
/// Memory is bounded at any file size (the digest maps one 8 MiB window at a time, the walk releases the
/// pages it has passed: `BoltResidency`), and the file is dropped from the page cache when the check ends.
public enum SnapshotVerifier {
    public static func verify(path: String) -> SnapshotVerification {
        timed { check(path: path, streamedDigest: nil, dropPageCache: true) }
    }

    /// `streamedDigest`: the file was just written by `SnapshotSaver`, which computed its SHA-256 while the bytes
    /// arrived; the trailer is compared with it instead of hashing the file a second time.
    /// `dropPageCache: false` when the caller reads the file again right away (and drops it afterwards).
    /// With `resources`, a good file's live Kubernetes objects per resource are counted in the same pass (what
    /// `SnapshotInspector.inspect` reports as `resources`), so the catalog's analysis needs no second walk.
    static func verify(path: String, streamedDigest: [UInt8]?, dropPageCache: Bool,
                       resources: UnsafeMutablePointer<[String: Int]?>? = nil,
                       reading: ((LiveKeyIndex) -> Void)? = nil, copying: LiveKeyCopy? = nil) -> SnapshotVerification {
        timed { check(path: path, streamedDigest: streamedDigest, dropPageCache: dropPageCache, resources: resources,
                      reading: reading, copying: copying) }
    }

    private static func timed(_ body: () -> SnapshotVerification) -> SnapshotVerification {
        let started = ContinuousClock.now
        var result = body()
        let elapsed = ContinuousClock.now - started
        result.durationMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        return result
    }

    private static func check(path: String, streamedDigest: [UInt8]?, dropPageCache: Bool,
                              resources: UnsafeMutablePointer<[String: Int]?>? = nil,
                              reading: ((LiveKeyIndex) -> Void)? = nil, copying: LiveKeyCopy? = nil) -> SnapshotVerification {
        if CompressedSnapshot.isCompressed(path) {
            // A `.db.zst`: the same checks on its decompressed bytes (an unlinked temporary copy), named as the file.
            let plain: CompressedSnapshot.Plain
            do { plain = try CompressedSnapshot.decompress(path) } catch {
                return SnapshotVerification(health: error.kind == .corrupt ? .corrupt : .unverified, reason: error.detail,
                                            kind: .notSnapshot)
            }
            var result = withExtendedLifetime(plain) {
                check(path: plain.path, streamedDigest: streamedDigest, dropPageCache: true, resources: resources,
                      reading: reading, copying: copying)
            }
            result.reason = result.reason.map { $0.replacingOccurrences(of: plain.path, with: path) }
            return result
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return unreadable(path, errnoText()) }
        if let problem = notRegularFileProblem(info.st_mode) { return unreadable(path, problem) }
        // O_NONBLOCK: should a FIFO be swapped in after the stat, open must not wait for a writer.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return unreadable(path, errnoText()) }
        defer {
            if dropPageCache { PageCache.drop(fd: fd) }
            close(fd)
        }
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
        defer { bolt.releaseMemory(dropPageCache: false) }
        let totalSize = Int64(bolt.databaseSize)

        if !hasTrailer {
            if let problem = missingTrailerProblem(path: path, size: size, pageSize: bolt.pageSize) {
                return SnapshotVerification(health: .corrupt, reason: problem, totalSize: totalSize, kind: .rawDatabase)
            }
        }

        var trailer: [UInt8]?
        if hasTrailer {
            trailer = file.bytes(at: databaseLength, count: EtcdDatabase.trailerSize)
            guard trailer != nil else { return unreadable(path, errnoText()) }
        }

        // The digest on a thread of its own while this one walks the tree.
        let digest = hasTrailer && streamedDigest == nil ? ChecksumJob.start(fd: fd, length: databaseLength) : nil
        let contents = Result { try SnapshotContentsCheck.run(bolt, countResources: resources != nil, reading: reading, copying: copying) }
        var sha256: String?
        if let streamedDigest, let trailer {
            guard streamedDigest == trailer else {
                return SnapshotVerification(health: .corrupt, reason: checksumMismatch(trailer: trailer, computed: streamedDigest),
                                            hasTrailer: true, totalSize: totalSize, kind: .snapshot)
            }
            sha256 = streamedDigest.hexString
        }
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
            resources?.pointee = found.resources
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

    // MARK: - Trailer rules (issue 12.7)

    /// Why a file without a trailer cannot be a database as it stands, or nil when it can: a bbolt file is a
    /// whole number of pages, so bytes past the last whole page are what is left of a trailer cut short; and a
    /// file our sidecar says was saved with a trailer has lost it.
    static func missingTrailerProblem(path: String, size: Int, pageSize: Int) -> String? {
        let tail = size % pageSize
        if tail != 0 {
            return "truncated inside the checksum trailer: the file has \(size) bytes, \(tail) past the last whole \(pageSize)-byte page; a database is whole pages, so those bytes are what is left of the 32-byte SHA-256 trailer (the file was cut short; use another snapshot)"
        }
        if let recorded = sidecarSHA256(forSnapshot: path) {
            let sidecar = (SnapshotCatalog.sidecarPath(for: path) as NSString).lastPathComponent
            return "truncated: the checksum trailer is missing; its sidecar \(sidecar) records a snapshot saved with one (sha256 \(recorded.prefix(12))…), so the file was cut short (use another snapshot)"
        }
        return nil
    }

    /// The sha256 our sidecar recorded for the snapshot at `path`, when a readable sidecar says it had a trailer.
    static func sidecarSHA256(forSnapshot path: String) -> String? {
        let sidecarPath = SnapshotCatalog.sidecarPath(for: path)
        var info = stat()
        guard lstat(sidecarPath, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size < 1 << 20,
              let data = FileManager.default.contents(atPath: sidecarPath),
              let metadata = try? SnapshotMetadata(sidecarJSON: data, path: sidecarPath) else { return nil }
        return metadata.sha256.flatMap { $0.isEmpty ? nil : $0 }
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
        case S_IFDIR: errnoDescription(EISDIR)
        case S_IFIFO: "not a regular file (a FIFO)"
        case S_IFSOCK: "not a regular file (a socket)"
        case S_IFCHR: "not a regular file (a character device)"
        case S_IFBLK: "not a regular file (a block device)"
        default: "not a regular file"
        }
    }

    static func errnoText() -> String {
        errnoDescription(errno)
    }
}
