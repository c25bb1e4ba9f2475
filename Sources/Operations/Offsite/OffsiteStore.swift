import Foundation
import SystemSupport
import ObjectStore
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

/// A snapshot in the bucket, as its manifest describes it.
public struct RemoteSnapshot: Codable, Sendable, Equatable {
    /// The local file name it has (and gets on pull): the manifest's `file_name`, else the object's base name.
    public var name: String
    public var objectKey: String
    public var manifestKey: String
    public var manifest: OffsiteManifest
    /// Size of the object as listed, nil when the manifest's object is missing.
    public var listedSize: Int?
    /// Why the copy cannot be used as it is (object missing, size differs from the manifest), or nil.
    public var problem: String?
}

/// What a look at the bucket found: snapshots (newest first) and manifests that could not be read.
public struct RemoteCatalog: Codable, Sendable, Equatable {
    public static let cacheFileName = ".etcd-console-remote.json"
    public var location: String
    public var listedAt: Date
    public var snapshots: [RemoteSnapshot]
    /// "<key>: <why>" for every `.manifest.json` under the prefix that is not one of ours.
    public var unreadable: [String]

    public func find(_ name: String) -> RemoteSnapshot? {
        snapshots.first { $0.name == name || $0.objectKey == name || ($0.objectKey as NSString).lastPathComponent == name }
    }

    /// The cached catalog of `directory` (written by every `list`), or nil.
    public static func cached(inDirectory directory: String) -> RemoteCatalog? {
        let path = (directory as NSString).appendingPathComponent(cacheFileName)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        return try? decoder.decode(RemoteCatalog.self, from: data)
    }
}

/// What a push did.
public struct PushResult: Sendable, Equatable {
    public var name: String
    public var objectKey: String
    public var manifest: OffsiteManifest
}

/// What a streamed remote verify found (nothing written to disk).
public struct RemoteVerification: Sendable, Equatable {
    public var name: String
    public var objectKey: String
    public var objectSHA256: String
    public var dbSHA256: String
    public var dbSize: Int64
    public var hasTrailer: Bool
}

/// Offsite copies in one bucket: push (zstd, age, multipart, manifest last), the remote catalog, pull and a
/// streamed verify. Synchronous (curl is); callers run it off the main actor.
public struct OffsiteStore: Sendable {
    public let settings: OffsiteSettings
    public let client: S3Client
    public let version: String

    public init(settings: OffsiteSettings, version: String) throws(OffsiteError) {
        self.settings = settings
        self.version = version
        do {
            client = try S3Client(endpoint: settings.endpoint, region: settings.region, credentials: settings.credentials,
                                  caFile: settings.caFile, stallSeconds: settings.stallSeconds)
        } catch {
            throw OffsiteError(error.detail)
        }
    }

    // MARK: Push

    /// Uploads the good local snapshot `entry`: file -> zstd -> age (when recipients are set) -> multipart
    /// upload, then checks the object's size with HeadObject and writes the manifest last. On any failure the
    /// multipart upload is aborted, so neither object nor manifest is left. `progress` gets bytes read of the
    /// local file.
    public func push(_ entry: SnapshotEntry, sidecar: SnapshotMetadata?,
                     progress: ((Int64, Int64) -> Void)? = nil) throws(OffsiteError) -> PushResult {
        guard entry.health == .good else {
            throw OffsiteError("\(entry.name) is \(entry.health.rawValue)\(entry.reason.map { " (\($0))" } ?? ""); only good snapshots are copied offsite")
        }
        let layout = OffsiteObjectLayout(prefix: settings.prefix, clusterId: entry.clusterID ?? "unknown-cluster",
                                         member: entry.memberName ?? entry.memberID ?? "unknown-member",
                                         takenAt: entry.takenAt, revision: entry.revision ?? 0,
                                         encrypted: !settings.recipients.isEmpty)
        let packed = try uploadPacked(path: entry.path, size: Int64(entry.size), key: layout.objectKey, label: entry.name,
                                      progress: progress)
        return try writeManifest(entry, sidecar: sidecar, key: layout.objectKey, manifestKey: layout.manifestKey, packed: packed)
    }

    /// The manifest of an uploaded object, written last (an object without one is not a snapshot); when it
    /// cannot be written the object is deleted again.
    private func writeManifest(_ entry: SnapshotEntry, sidecar: SnapshotMetadata?, key: String, manifestKey: String,
                               packed: PackedUpload) throws(OffsiteError) -> PushResult {
        let manifest = OffsiteManifest(
            clusterId: entry.clusterID ?? "", memberId: entry.memberID ?? "", memberName: entry.memberName ?? "",
            revision: entry.revision ?? 0, etcdVersion: entry.etcdVersion ?? "", takenAt: entry.takenAt,
            dbSHA256: packed.fileSHA256, dbSize: packed.fileSize, objectSHA256: packed.objectSHA256,
            objectSize: packed.objectSize, codec: settings.recipients.isEmpty ? .zstd : .zstdAge,
            ageRecipients: settings.recipients.map(\.fingerprint), etcdConsoleVersion: version,
            fileName: CompressedSnapshot.plainName(entry.name),
            sidecar: (try? sidecar?.sidecarJSON()).flatMap { $0.map { String(decoding: $0, as: UTF8.self) } },
            bundle: BundleStore(directory: (entry.path as NSString).deletingLastPathComponent)
                .pointer(forSnapshot: entry.path)?.bundle)
        do {
            try withRetry { () throws(ObjectStoreError) in
                try client.putObject(bucket: settings.bucket, key: manifestKey, data: try encode(manifest))
            }
        } catch {
            try? client.deleteObject(bucket: settings.bucket, key: key)
            throw OffsiteError("uploaded s3://\(settings.bucket)/\(key) but could not write its manifest: \(error.detail); the object was deleted (an object without a manifest is not a snapshot)")
        }
        return PushResult(name: entry.name, objectKey: key, manifest: manifest)
    }

    /// An object uploaded while its snapshot was saved (`uploadFollowing`), waiting for its manifest.
    public struct FollowedUpload: Sendable {
        public var objectKey: String
        public var manifestKey: String
        var packed: PackedUpload
    }

    /// Uploads a snapshot while it is being saved: the `.part` file followed as it grows (`GrowingSnapshotFile`)
    /// through zstd and age into a multipart upload, completed only once the save has verified the file good
    /// (a failed save aborts it: nothing is left in the bucket). The key is made before the bytes arrive, so its
    /// revision is the member's when the save began (the manifest, written by `completeFollowed` once the
    /// snapshot is in the catalog, holds the snapshot's own). Blocks: run it on a thread of its own.
    public func uploadFollowing(_ file: GrowingSnapshotFile, takenAt: Date,
                                progress: ((Int64, Int64) -> Void)? = nil) throws(OffsiteError) -> FollowedUpload {
        let opened: (partPath: String, source: SnapshotSaver.Source)
        do { opened = try file.waitForFile() } catch {
            throw OffsiteError("nothing was uploaded: \(Self.describe(error))")
        }
        let header = opened.source.status.header
        let layout = OffsiteObjectLayout(prefix: settings.prefix, clusterId: String(header.clusterID, radix: 16),
                                         member: opened.source.memberName ?? String(header.memberID, radix: 16),
                                         takenAt: takenAt, revision: header.revision,
                                         encrypted: !settings.recipients.isEmpty)
        let name = (opened.partPath as NSString).lastPathComponent
        let packed = try uploadPacked(source: { try file.reader() },
                                      spoolDirectory: (opened.partPath as NSString).deletingLastPathComponent,
                                      size: nil, key: layout.objectKey, label: String(name.dropLast(".part".count)),
                                      progress: progress)
        return FollowedUpload(objectKey: layout.objectKey, manifestKey: layout.manifestKey, packed: packed)
    }

    /// Writes the manifest of `upload` for the saved snapshot `entry` and records the copy in `directory`'s
    /// `OffsiteRecord`. The object is deleted again when `entry` is not good (that the bytes are the saved ones,
    /// size and SHA-256 trailer, the reader checked before the upload completed).
    public func completeFollowed(_ upload: FollowedUpload, entry: SnapshotEntry, directory: String,
                                 now: @Sendable () -> Date = Date.init) throws(OffsiteError) -> PushResult {
        guard entry.health == .good else {
            try? client.deleteObject(bucket: settings.bucket, key: upload.objectKey)
            throw OffsiteError("\(entry.name) is \(entry.health.rawValue); its upload s3://\(settings.bucket)/\(upload.objectKey) was deleted (only good snapshots are copied offsite)")
        }
        let result = try writeManifest(entry, sidecar: Self.sidecar(for: entry.path), key: upload.objectKey,
                                       manifestKey: upload.manifestKey, packed: upload.packed)
        try record(result, name: entry.name, directory: directory, now: now)
        return result
    }

    /// What streaming one local file up produced: the file's SHA-256 and size as read, the object's as stored.
    struct PackedUpload {
        var fileSHA256: String
        var fileSize: Int64
        var objectSHA256: String
        var objectSize: Int64
    }

    /// Streams the file at `path` through zstd and (when recipients are set) age into a multipart upload to `key`,
    /// then checks the object's size with HeadObject. On any failure the upload is aborted (or the object deleted),
    /// so nothing is left in the bucket. `label` names the file in messages; `progress` gets bytes read of it.
    func uploadPacked(path: String, size: Int64, key: String, label: String,
                      progress: ((Int64, Int64) -> Void)?) throws(OffsiteError) -> PackedUpload {
        // A local .db.zst goes up as what it holds (the snapshot's bytes, whose SHA-256 the manifest records),
        // compressed once more at the remote's level.
        try uploadPacked(source: {
            let file = try FileByteSource(path: path)
            return CompressedSnapshot.isCompressed(path) ? try ZstdDecompressor(upstream: file, name: path) : file
        }, spoolDirectory: (path as NSString).deletingLastPathComponent, size: size, key: key, label: label, progress: progress)
    }

    /// The same from any source of the snapshot's bytes; `size` (when known) is progress's total.
    func uploadPacked(source makeSource: () throws -> ByteSource, spoolDirectory: String, size: Int64?, key: String,
                      label: String, progress: ((Int64, Int64) -> Void)?) throws(OffsiteError) -> PackedUpload {
        let upload: MultipartUploadSink
        do {
            // Parts wait in an unlinked file beside the file, not in memory (the 64 MiB bound).
            upload = try MultipartUploadSink(client: client, bucket: settings.bucket, key: key, partSize: settings.partSize,
                                             attempts: settings.attempts, spoolDirectory: spoolDirectory,
                                             backoff: settings.backoff)
        } catch {
            throw OffsiteError("could not upload \(label) to \(settings.location): \(error.detail)")
        }
        let objectDigest = DigestingSink(downstream: upload)
        let fileDigest: DigestingSink
        do {
            let packed: ByteSink = settings.recipients.isEmpty ? objectDigest
                : try AgeEncryptor(recipients: settings.recipients, downstream: objectDigest)
            let compressor = try ZstdCompressor(level: settings.compressionLevel, downstream: packed)
            fileDigest = DigestingSink(downstream: compressor)
            // Progress counts the snapshot's bytes (a .db.zst's as it reads them: compressed).
            let source = DigestingSource(upstream: try makeSource())
            source.progress = { progress?($0, size ?? 0) }
            _ = try source.pump(into: fileDigest)
        } catch {
            upload.abort()
            let aborted = upload.abortError.map { "; AbortMultipartUpload failed too (\($0.detail)): the bucket's lifecycle rule must clean the parts" } ?? "; the multipart upload was aborted, nothing is left in the bucket"
            throw OffsiteError("could not upload \(label) to s3://\(settings.bucket)/\(key): \(Self.describe(error))\(aborted)")
        }
        let objectSize = objectDigest.count
        do {
            guard let head = try client.headObject(bucket: settings.bucket, key: key) else {
                throw OffsiteError("s3://\(settings.bucket)/\(key) is not there after CompleteMultipartUpload")
            }
            guard Int64(head.size) == objectSize else {
                try? client.deleteObject(bucket: settings.bucket, key: key)
                throw OffsiteError("s3://\(settings.bucket)/\(key) holds \(head.size) bytes after the upload, but \(objectSize) were sent; the object was deleted and no manifest written")
            }
        } catch let error as OffsiteError {
            throw error
        } catch {
            throw OffsiteError("could not check s3://\(settings.bucket)/\(key) after the upload: \(error); no manifest written, so it is not a snapshot")
        }
        return PackedUpload(fileSHA256: fileDigest.digest ?? "", fileSize: fileDigest.count,
                            objectSHA256: objectDigest.digest ?? "", objectSize: objectSize)
    }

    /// `snapshot push` and the console's upload: pushes `entry` and records the copy in `directory`'s
    /// `OffsiteRecord` (so it is no longer "not offsite"). A failed push records nothing: the snapshot stays
    /// "not offsite" and the next backup uploads it.
    public func pushRecorded(_ entry: SnapshotEntry, directory: String, now: @Sendable () -> Date = Date.init,
                             progress: ((Int64, Int64) -> Void)? = nil) throws(OffsiteError) -> PushResult {
        let result = try push(entry, sidecar: Self.sidecar(for: entry.path), progress: progress)
        try record(result, name: entry.name, directory: directory, now: now)
        return result
    }

    /// Records an upload in `directory`'s `OffsiteRecord`: no longer "not offsite".
    private func record(_ result: PushResult, name: String, directory: String, now: () -> Date) throws(OffsiteError) {
        var record = OffsiteRecord.read(fromDirectory: directory)
        record.uploads[name] = .init(objectKey: result.objectKey, objectSHA256: result.manifest.objectSHA256,
                                     objectSize: result.manifest.objectSize, uploadedAt: now(), bucket: settings.bucket)
        record.lastSuccess = now()
        record.bytesUploaded += result.manifest.objectSize
        do { try record.write(toDirectory: directory) } catch {
            throw OffsiteError("uploaded \(name) to s3://\(settings.bucket)/\(result.objectKey) but could not record it in \(OffsiteRecord.fileName): \(error)")
        }
    }

    private func encode(_ manifest: OffsiteManifest) throws(ObjectStoreError) -> Data {
        do { return try manifest.encoded() } catch {
            throw ObjectStoreError(.protocolError, "could not encode the manifest: \(error)")
        }
    }

    /// Pushes the good snapshots of `listing` that are not offsite yet, oldest first, recording each upload in
    /// the directory's `OffsiteRecord`. Stops at the first failure (the rest wait for the next run) and returns
    /// what was uploaded and the error, if any.
    public func catchUp(catalog: SnapshotCatalog, entries: [SnapshotEntry], now: @Sendable () -> Date = Date.init,
                        progress: ((String, Int64, Int64) -> Void)? = nil) -> (pushed: [PushResult], error: OffsiteError?) {
        var pushed: [PushResult] = []
        for entry in OffsiteRecord.read(fromDirectory: catalog.directory).missing(entries, bucket: settings.bucket) {
            let sidecar = Self.sidecar(for: entry.path)
            do {
                let result = try push(entry, sidecar: sidecar, progress: { progress?(entry.name, $0, $1) })
                pushed.append(result)
                try record(result, name: entry.name, directory: catalog.directory, now: now)
            } catch {
                return (pushed, error)
            }
        }
        return (pushed, nil)
    }

    /// The sidecar next to a snapshot, if it has a readable one.
    public static func sidecar(for path: String) -> SnapshotMetadata? {
        let sidecarPath = SnapshotCatalog.sidecarPath(for: path)
        guard let data = FileManager.default.contents(atPath: sidecarPath) else { return nil }
        return try? SnapshotMetadata(sidecarJSON: data, path: sidecarPath)
    }

    // MARK: Catalog

    /// The remote catalog from the manifests under the prefix (ListObjectsV2, every page). Objects that are not
    /// ours (no manifest, or not under `<prefix>/<cluster>/<member>/`) are ignored; manifests that cannot be read
    /// are listed in `unreadable`. When `cacheDirectory` is given, the catalog is cached there.
    public func list(pageSize: Int = 1000, cacheDirectory: String? = nil) throws(OffsiteError) -> RemoteCatalog {
        let prefix = settings.prefix.isEmpty ? "" : settings.prefix + "/"
        let objects: [S3Object]
        do {
            objects = try withRetry { () throws(ObjectStoreError) in
                try client.listAllObjects(bucket: settings.bucket, prefix: prefix, pageSize: pageSize)
            }
        } catch {
            throw OffsiteError("could not list \(settings.location): \(error.detail)")
        }
        let sizes = Dictionary(objects.map { ($0.key, $0.size) }, uniquingKeysWith: { a, _ in a })
        var snapshots: [RemoteSnapshot] = []
        var unreadable: [String] = []
        for object in objects where object.key.hasSuffix(OffsiteManifest.keySuffix) {
            let objectKey = String(object.key.dropLast(OffsiteManifest.keySuffix.count))
            guard object.size < 1 << 20 else {
                unreadable.append("\(object.key): \(object.size) bytes is too large for a manifest")
                continue
            }
            let sink = DataByteSink()
            let manifest: OffsiteManifest
            do {
                try client.getObject(bucket: settings.bucket, key: object.key, into: sink)
                manifest = try OffsiteManifest.decode(sink.data, key: object.key)
            } catch {
                unreadable.append("\(object.key): \(error.detail)")
                continue
            }
            let listed = sizes[objectKey]
            var problem: String?
            if listed == nil {
                problem = "object \(objectKey) is missing"
            } else if let listed, Int64(listed) != manifest.objectSize {
                problem = "object holds \(listed) bytes, the manifest says \(manifest.objectSize)"
            }
            snapshots.append(RemoteSnapshot(name: manifest.fileName ?? (objectKey as NSString).lastPathComponent,
                                            objectKey: objectKey, manifestKey: object.key, manifest: manifest,
                                            listedSize: listed, problem: problem))
        }
        snapshots.sort { ($0.manifest.takenAt, $0.name) > ($1.manifest.takenAt, $1.name) }
        let catalog = RemoteCatalog(location: settings.location, listedAt: Date(), snapshots: snapshots, unreadable: unreadable)
        if let cacheDirectory {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .utcInternetDateTime
            if let data = try? encoder.encode(catalog) {
                try? AtomicFileWriter.replace((cacheDirectory as NSString).appendingPathComponent(RemoteCatalog.cacheFileName),
                                              with: data, mode: 0o600)
            }
        }
        return catalog
    }

    /// The remote snapshot called `name` (file name, object key or its base name).
    public func find(_ name: String) throws(OffsiteError) -> RemoteSnapshot {
        let catalog = try list()
        guard let found = catalog.find(name) else {
            let known = catalog.snapshots.prefix(5).map(\.name).joined(separator: ", ")
            throw OffsiteError("no remote snapshot \"\(name)\" in \(settings.location) (\(catalog.snapshots.isEmpty ? "it holds none" : "newest: \(known)"); see snapshot list --remote)")
        }
        if let problem = found.problem {
            throw OffsiteError("remote snapshot \(found.name) cannot be used: \(problem)")
        }
        return found
    }

    // MARK: Pull and verify

    /// Streams `remote` through decrypt and decompress into `sink`, checking the object's and the snapshot's
    /// SHA-256 and size against the manifest. Tampering is reported as corrupt with both SHA-256s.
    private func download(_ remote: RemoteSnapshot, into sink: SnapshotDigestSink,
                          progress: ((Int64, Int64) -> Void)?) throws(OffsiteError) {
        let manifest = remote.manifest
        let source = try downloadPacked(key: remote.objectKey, encrypted: manifest.codec == .zstdAge,
                                        recipients: manifest.ageRecipients, objectSize: manifest.objectSize,
                                        what: "remote snapshot \(remote.name)", expectedObjectSHA256: manifest.objectSHA256,
                                        into: sink, progress: progress)
        guard source.sha256 == manifest.objectSHA256, source.size == manifest.objectSize else {
            throw OffsiteError("remote snapshot \(remote.name) is corrupt: object SHA-256 \(source.sha256) (\(source.size) bytes), the manifest \(remote.manifestKey) says \(manifest.objectSHA256) (\(manifest.objectSize) bytes)")
        }
        guard sink.digest == manifest.dbSHA256, sink.count == manifest.dbSize else {
            throw OffsiteError("remote snapshot \(remote.name) is corrupt: snapshot SHA-256 \(sink.digest ?? "") (\(sink.count) bytes) after decompression, the manifest \(remote.manifestKey) says \(manifest.dbSHA256) (\(manifest.dbSize) bytes)")
        }
    }

    /// Streams the object `key` through decrypt (when `encrypted`) and decompress into `sink`; returns the
    /// object's SHA-256 and size as downloaded. `what` names it in messages ("remote snapshot X"); a damaged
    /// stream is reported as corrupt with the object's SHA-256 and `expectedObjectSHA256`.
    func downloadPacked(key: String, encrypted: Bool, recipients: [String], objectSize: Int64, what: String,
                        expectedObjectSHA256: String, into sink: ByteSink,
                        progress: ((Int64, Int64) -> Void)?) throws(OffsiteError) -> (sha256: String, size: Int64) {
        let at = "s3://\(settings.bucket)/\(key)"
        let source = DigestingSource(upstream: S3ObjectSource(client: client, bucket: settings.bucket, key: key))
        if let progress { source.progress = { progress($0, objectSize) } }
        var identities: [AgeIdentity] = []
        if encrypted {
            guard let file = settings.identityFile else {
                throw OffsiteError("\(what) is encrypted with age (recipients \(recipients.joined(separator: ", "))): set remote.age-identity-file (or pass --identity) to the identity file that decrypts it")
            }
            do { identities = try AgeIdentity.load(identityFile: file) } catch {
                throw OffsiteError("could not read the age identity file \(file): \(error)")
            }
        }
        do {
            let decrypted: ByteSource = encrypted ? try AgeDecryptor(upstream: source, identities: identities, name: at) : source
            try ZstdDecompressor(upstream: decrypted, name: at).pump(into: sink)
        } catch let error as CodecError where error.kind == .ageNoMatchingIdentity {
            throw OffsiteError("could not decrypt \(at): \(error.detail)")
        } catch let error as CodecError {
            let objectDigest = source.drain() ?? "unknown (the download failed)"
            throw OffsiteError("\(what) is corrupt: \(error.detail); object SHA-256 \(objectDigest), the manifest says \(expectedObjectSHA256)")
        } catch let error as ObjectStoreError {
            throw OffsiteError("could not download \(at): \(error.detail)")
        } catch let error as SnapshotStoreError {
            throw OffsiteError("could not write the file downloaded from \(at): \(error.detail)")
        } catch {
            throw OffsiteError("could not download \(at): \(Self.describe(error))")
        }
        return (source.digest ?? "", source.count)
    }

    /// `snapshot verify --remote`: streams the object through decrypt -> decompress -> the checksums and etcd's
    /// trailer, writing nothing to disk. `progress` gets the object's bytes downloaded and its size.
    public func verify(_ name: String, progress: ((Int64, Int64) -> Void)? = nil) throws(OffsiteError) -> RemoteVerification {
        let remote = try find(name)
        let sink = SnapshotDigestSink()
        try download(remote, into: sink, progress: progress)
        return RemoteVerification(name: remote.name, objectKey: remote.objectKey, objectSHA256: remote.manifest.objectSHA256,
                                  dbSHA256: sink.digest ?? "", dbSize: sink.count, hasTrailer: sink.trailerMatches)
    }

    /// `snapshot pull`: downloads `name` into `directory` under its file name, atomically (`.part`, fsync,
    /// rename, 0600), only after the checksums match; then writes its sidecar and verifies the file. A failure
    /// (disk full, tampering, a bad file) leaves nothing behind. Returns the path. `progress` gets the object's
    /// bytes downloaded and its size.
    public func pull(_ name: String, into directory: String,
                     progress: ((Int64, Int64) -> Void)? = nil) throws(OffsiteError) -> String {
        let remote = try find(name)
        let fileName = (remote.name as NSString).lastPathComponent
        let path = (directory as NSString).appendingPathComponent(fileName)
        if FileManager.default.fileExists(atPath: path) {
            throw OffsiteError("\(path) already exists; not replacing a local snapshot with the remote copy (remove it or pull into another --dir)")
        }
        let file: UncommittedFileSink
        do { file = try UncommittedFileSink(path: path) } catch {
            throw OffsiteError("could not pull \(remote.name): \(error)")
        }
        let sink = SnapshotDigestSink(downstream: file)
        do {
            try download(remote, into: sink, progress: progress)
            try file.writer.commit()
        } catch let error as OffsiteError {
            file.writer.abort()
            throw OffsiteError("could not pull \(remote.name) into \(directory): \(error.message); nothing was left behind")
        } catch {
            file.writer.abort()
            throw OffsiteError("could not pull \(remote.name) into \(directory): \(error); nothing was left behind")
        }
        let verification = SnapshotVerifier.verify(path: path)
        guard verification.health == .good else {
            try? FileManager.default.removeItem(atPath: path)
            throw OffsiteError("pulled \(remote.name) but it does not verify: \(verification.reason ?? verification.health.rawValue); the file was removed")
        }
        let catalog = SnapshotCatalog.standard(directory: directory)
        var metadata = remote.manifest.sidecar.flatMap { try? SnapshotMetadata(sidecarJSON: Data($0.utf8), path: remote.manifestKey) }
            ?? SnapshotCatalog.analyze(path: path, verification: verification)
        if remote.manifest.sidecar == nil {
            metadata.takenAt = remote.manifest.takenAt
            metadata.clusterID = remote.manifest.clusterId
            metadata.memberID = remote.manifest.memberId
            metadata.memberName = remote.manifest.memberName
            metadata.etcdVersion = remote.manifest.etcdVersion
        }
        do { try catalog.writeSidecar(metadata, for: path) } catch {
            throw OffsiteError("pulled \(path) but could not write its sidecar: \(error)")
        }
        return path
    }

    // MARK: Retention

    /// What remote retention did: the snapshots deleted, and deletes the bucket refused (object lock / WORM).
    public struct RetentionOutcome: Sendable, Equatable {
        public var plan: RetentionPlan
        public var deleted: [String]
        public var refused: [String]
    }

    /// Applies `settings.retention` to the remote copies (by object key; a copy whose object is missing or damaged
    /// counts as corrupt). The planner never deletes the newest good copy. The manifest is deleted first, so an
    /// interrupted delete leaves an object without a manifest (not a snapshot), never a manifest without an object.
    /// A delete the bucket refuses is reported in `refused`, not thrown. Nil when no policy is configured.
    public func applyRetention(now: Date) throws(OffsiteError) -> RetentionOutcome? {
        guard let policy = settings.retention else { return nil }
        let catalog = try list()
        let byKey = Dictionary(catalog.snapshots.map { ($0.objectKey, $0) }, uniquingKeysWith: { a, _ in a })
        let plan = Retention.plan(catalog.snapshots.map {
            RetentionCandidate(name: $0.objectKey, takenAt: $0.manifest.takenAt, health: $0.problem == nil ? .good : .corrupt)
        }, policy: policy, now: now)
        var deleted: [String] = []
        var refused: [String] = []
        for victim in plan.delete {
            guard let snapshot = byKey[victim.name] else { continue }
            do {
                try withRetry { () throws(ObjectStoreError) in try client.deleteObject(bucket: settings.bucket, key: snapshot.manifestKey) }
                try withRetry { () throws(ObjectStoreError) in try client.deleteObject(bucket: settings.bucket, key: snapshot.objectKey) }
                deleted.append(snapshot.name)
            } catch {
                refused.append("\(snapshot.name): \(error.detail)")
            }
        }
        return RetentionOutcome(plan: plan, deleted: deleted, refused: refused)
    }

    // MARK: Retries

    /// Runs `body`, again after a pause when it fails for a reason that may pass (unreachable, 5xx, a broken
    /// stream), up to `settings.attempts` times.
    func withRetry<T>(_ body: () throws(ObjectStoreError) -> T) throws(ObjectStoreError) -> T {
        var attempt = 1
        while true {
            do { return try body() } catch {
                guard attempt < settings.attempts, MultipartUploadSink.mayPass(error) else { throw error }
                Thread.sleep(forTimeInterval: Double(settings.backoff(attempt).components.seconds)
                             + Double(settings.backoff(attempt).components.attoseconds) / 1e18)
                attempt += 1
            }
        }
    }

    static func describe(_ error: Error) -> String {
        if let error = error as? ObjectStoreError { return error.detail }
        if let error = error as? CodecError { return error.detail }
        if let error = error as? SnapshotStoreError { return error.detail }
        return "\(error)"
    }
}
