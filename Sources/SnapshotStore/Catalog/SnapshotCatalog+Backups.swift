import EtcdClient
import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

extension SnapshotCatalog {
    /// A catalog whose foreign files are analysed by `SnapshotCatalog.analyze` (verify + inspect).
    public static func standard(directory: String = SnapshotCatalog.defaultDirectory) -> SnapshotCatalog {
        SnapshotCatalog(directory: directory, analyzerVersion: 1, analyze: { analyze(path: $0) })
    }

    /// Verifies a snapshot and, when it is good, counts its Kubernetes objects per resource.
    /// `takenAt` is the file's modification time; the catalog prefers the file name's or a sidecar's.
    public static func analyze(path: String, verification: SnapshotVerification? = nil) -> SnapshotMetadata {
        var counted: [String: Int]?
        let result = verification
            ?? SnapshotVerifier.verify(path: path, streamedDigest: nil, dropPageCache: false, resources: &counted)
        return analyze(path: path, verification: result, resources: counted)
    }

    /// `resources` counted during the verify (one pass instead of verify + inspect); else inspected here.
    static func analyze(path: String, verification result: SnapshotVerification, resources counted: [String: Int]?) -> SnapshotMetadata {
        var info = stat()
        let size = stat(path, &info) == 0 ? Int(info.st_size) : 0
        let modified = Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))
        var resources: [String: Int]?
        if result.health == .good {
            resources = counted ?? (try? SnapshotInspector.inspect(path: path))?.resources
        }
        // The passes are done: leave the page cache to etcd (issue 13).
        PageCache.drop(path: path)
        return SnapshotMetadata(takenAt: modified, revision: result.revision, liveKeys: result.liveKeys, size: size,
                                sha256: result.sha256, health: result.health, reason: result.reason,
                                verifyDurationMs: result.durationMs, resources: resources)
    }

    /// What `saveVerified` did.
    public struct SavedSnapshot: Sendable {
        public var save: SnapshotSaveResult
        public var verification: SnapshotVerification
        public var metadata: SnapshotMetadata
        /// Warnings about the directory (others can list it), for the caller to show.
        public var warnings: [String] = []
    }

    /// Takes a snapshot into this directory under the standard name, verifies it, writes its sidecar.
    ///
    /// Contract: the directory gains exactly one snapshot and its sidecar, or (on any failure before the
    /// rename) nothing. A snapshot that fails verification after it was written stays, with a sidecar
    /// saying so and why, and the call throws `.corrupt`: the file is evidence, never silently kept as good.
    /// A sidecar that cannot be written (disk full) fails the save whole: the snapshot is removed again, so the
    /// directory is as it was (a backup is good only when all of it is written).
    /// The directory is created 0700 when missing and refused (`.refused`) when other users can write to it or
    /// another user owns it (`SafeFile.checkDirectory`); a directory others can list gives a warning.
    /// `fileName` overrides the standard name. `streamed` is called once the file is complete and renamed,
    /// before it is verified (a headless run reports its phases with it).
    public func saveVerified(from client: EtcdClient, endpoint: Endpoint? = nil, takenAt: Date = Date(),
                             fileName: String? = nil,
                             following: GrowingSnapshotFile? = nil,
                             progress: (@Sendable (SnapshotProgress) -> Void)? = nil,
                             streamed: (@Sendable (SnapshotSaveResult) -> Void)? = nil) async throws -> SavedSnapshot {
        try SafeFile.createDirectory(directory)
        let warnings = try SafeFile.checkDirectory(directory).map { [$0] } ?? []
        let source = try await SnapshotSaver.source(from: client, endpoint: endpoint)
        // A standard name already taken (another save in the same millisecond) moves on by a millisecond; the
        // writer's O_EXCL decides, so two saves racing in one process or two never share a file.
        var attempt = 0
        var path: String
        var save: SnapshotSaveResult
        while true {
            let name = fileName ?? SnapshotSaver.fileName(takenAt: takenAt.addingTimeInterval(Double(attempt) / 1000),
                                                          memberName: source.memberName)
            path = (directory as NSString).appendingPathComponent(name)
            do {
                save = try await SnapshotSaver.save(from: client, endpoint: endpoint, to: path, source: source,
                                                    following: following, progress: progress)
                break
            } catch let error as SnapshotStoreError where error.kind == .exists && fileName == nil && attempt < 20 {
                attempt += 1
            }
        }
        streamed?(save)
        // The SHA-256 was computed while the bytes arrived: the verify checks the trailer against it and walks
        // the structure from the page cache, instead of reading the file a second time for the digest.
        var resources: [String: Int]?
        let verification = SnapshotVerifier.verify(path: path, streamedDigest: save.digest, dropPageCache: false,
                                                   resources: &resources)
        var metadata = Self.analyze(path: path, verification: verification, resources: resources)
        metadata.takenAt = takenAt
        metadata.endpoint = save.endpoint
        metadata.clusterID = String(save.clusterID, radix: 16)
        metadata.memberID = String(save.memberID, radix: 16)
        metadata.memberName = save.memberName
        metadata.memberPeerURLs = save.memberPeerURLs
        metadata.initialCluster = save.initialCluster
        metadata.etcdVersion = save.etcdVersion
        metadata.saveDurationMs = Int(save.duration.components.seconds * 1000 + save.duration.components.attoseconds / 1_000_000_000_000_000)
        do throws(SnapshotStoreError) {
            try writeSidecar(metadata, for: path)
        } catch {
            // Without its sidecar the outcome would be ambiguous: take the snapshot back out.
            let removed = unlink(path) == 0
            try? AtomicFileWriter.syncDirectory(of: path)
            let sidecar = Self.sidecarPath(for: path)
            throw SnapshotStoreError(error.kind, path: path, "could not write the sidecar \(sidecar): \(error.detail); "
                + (removed ? "the snapshot \(path) was removed again, nothing was saved"
                           : "the snapshot \(path) could not be removed (\(errnoDescription(errno))): delete it by hand"))
        }
        guard verification.health == .good else {
            throw SnapshotStoreError(.corrupt, path: path,
                                     "the snapshot \(path) was written but does not verify: \(verification.reason ?? "unknown reason"); it is kept for inspection and marked corrupt")
        }
        return SavedSnapshot(save: save, verification: verification, metadata: metadata, warnings: warnings)
    }

    /// A warning when the snapshot directory and etcd's data dir are on the same filesystem (a
    /// failing disk then takes both), or nil. Directories that do not exist are not compared.
    public func sameFilesystemWarning(dataDir: String) -> String? {
        var a = stat()
        var b = stat()
        guard stat(directory, &a) == 0, stat(dataDir, &b) == 0, a.st_dev == b.st_dev else { return nil }
        return "warning: the snapshot directory \(directory) is on the same filesystem as etcd's data dir \(dataDir); a disk failure loses both: copy snapshots elsewhere too"
    }
}


extension SnapshotCatalog {
    /// `compression: zstd`: replaces the good snapshot `saved` with `<name>.db.zst` (zstd at `level`), written
    /// atomically (temp, fsync, rename, fsync dir, 0600) and verified from its own bytes before the plain file and
    /// its sidecar are removed: the snapshot is never in neither form. The sidecar moves to the new name (its size
    /// is the compressed file's, its SHA-256 still the snapshot's). Memory: the two stream buffers.
    public func compress(_ saved: SavedSnapshot, level: Int32) throws(SnapshotStoreError) -> SavedSnapshot {
        let plain = saved.save.path
        let packed = plain + ".zst"
        do {
            let sink = try AtomicFileSink(path: packed, mode: 0o600)
            do {
                let compressor = try ZstdCompressor(level: level, downstream: sink)
                _ = try FileByteSource(path: plain).pump(into: compressor)
            } catch {
                sink.abort()
                throw error
            }
        } catch let error as SnapshotStoreError {
            throw error
        } catch {
            throw SnapshotStoreError(.io, path: packed, "could not compress \(plain) into \(packed): \(error); the plain snapshot is kept")
        }
        PageCache.drop(path: packed)
        let check = SnapshotVerifier.verify(path: packed)
        guard check.health == .good, check.sha256 == saved.verification.sha256 else {
            unlink(packed)
            throw SnapshotStoreError(.corrupt, path: packed, "the compressed copy \(packed) does not verify (\(check.reason ?? "SHA-256 \(check.sha256 ?? "?") differs from \(saved.verification.sha256 ?? "?")")); it was removed, the plain snapshot \(plain) is kept")
        }
        var metadata = saved.metadata
        var info = stat()
        metadata.size = stat(packed, &info) == 0 ? Int(info.st_size) : metadata.size
        do throws(SnapshotStoreError) {
            try writeSidecar(metadata, for: packed)
        } catch {
            unlink(packed)
            throw SnapshotStoreError(error.kind, path: packed, "could not write the sidecar of \(packed): \(error.detail); it was removed, the plain snapshot \(plain) is kept")
        }
        unlink(plain)
        unlink(Self.sidecarPath(for: plain))
        try? AtomicFileWriter.syncDirectory(of: plain)
        var result = saved
        result.save.path = packed
        result.metadata = metadata
        return result
    }
}
