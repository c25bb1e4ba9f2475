import Foundation
import SystemSupport
import ObjectStore
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

/// What the manifest object beside an offsite bundle says (`<object>.bundle.json`, written after the object).
/// The bundle's own manifest (paths, modes, SHA-256 of each file) is inside the tar; this one proves the object.
public struct OffsiteBundleManifest: Codable, Sendable, Equatable {
    public static let keySuffix = ".bundle.json"
    public static let currentFormat = 1

    public var format: Int
    /// The local file name (`bundle-<time>.tar`), which a pull gives it back.
    public var bundle: String
    public var contentDigest: String
    public var createdAt: Date
    public var hostname: String
    public var clusterId: String
    public var memberName: String
    public var fileCount: Int
    /// SHA-256 (hex) and size of the tar, and of the object as stored (compressed, maybe encrypted).
    public var tarSHA256: String
    public var tarSize: Int64
    public var objectSHA256: String
    public var objectSize: Int64
    public var codec: OffsiteManifest.Codec
    public var ageRecipients: [String]
    public var etcdConsoleVersion: String

    enum CodingKeys: String, CodingKey {
        case format, bundle, hostname, codec
        case contentDigest = "content_digest", createdAt = "created_at", clusterId = "cluster_id"
        case memberName = "member_name", fileCount = "file_count", tarSHA256 = "tar_sha256", tarSize = "tar_size"
        case objectSHA256 = "object_sha256", objectSize = "object_size", ageRecipients = "age_recipients"
        case etcdConsoleVersion = "etcd_console_version"
    }

    static func coder() -> (JSONEncoder, JSONDecoder) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .utcInternetDateTime
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        return (encoder, decoder)
    }
}

/// A bundle in the bucket, as its manifest describes it.
public struct RemoteBundle: Sendable, Equatable {
    public var objectKey: String
    public var manifestKey: String
    public var manifest: OffsiteBundleManifest
    /// Why the copy cannot be used (object missing, size differs from the manifest), or nil.
    public var problem: String?
    public var name: String { manifest.bundle }
}

/// What a bundle push did: uploaded, or already in the bucket (the same name and content).
public struct BundlePushResult: Sendable, Equatable {
    public var name: String
    public var objectKey: String
    public var alreadyThere: Bool
    public var manifest: OffsiteBundleManifest
}

extension OffsiteStore {
    /// The key of a bundle's object: `<prefix>/<cluster-id>/<member>/bundles/<name without .tar>.tar.zst[.age]`.
    func bundleObjectKey(_ name: String, clusterId: String, member: String, encrypted: Bool) -> String {
        let layout = OffsiteObjectLayout(prefix: settings.prefix, clusterId: clusterId, member: member, takenAt: Date(),
                                         revision: 0, encrypted: encrypted)
        return layout.memberPrefix + "bundles/" + name + ".zst" + (encrypted ? ".age" : "")
    }

    /// Why bundles stay local with these settings, or nil when they may go up: a bundle holds the cluster's
    /// private keys and its encryption config, so without age recipients it is uploaded only when
    /// `remote.bundle-unencrypted: true` says so.
    public var bundleRefusal: String? {
        guard settings.recipients.isEmpty, !settings.allowUnencryptedBundles else { return nil }
        return "bundles hold private keys and remote.age-recipients is not set, so they are not copied to \(settings.location): set remote.age-recipients (they are then encrypted like the snapshots), or remote.bundle-unencrypted: true to upload them as they are"
    }

    /// Uploads the local bundle `name` in `directory` (verified first: a damaged bundle is not copied) through
    /// zstd and age into a multipart upload, then its manifest. A bundle already in the bucket under the same
    /// key with the same content digest is not uploaded again. `clusterId`/`member` place it beside the
    /// snapshots it belongs to.
    public func pushBundle(_ name: String, directory: String, clusterId: String, member: String,
                           progress: ((Int64, Int64) -> Void)? = nil) throws(OffsiteError) -> BundlePushResult {
        if let bundleRefusal { throw OffsiteError("not uploading \(name): \(bundleRefusal)") }
        let store = BundleStore(directory: directory)
        let opened: BundleStore.Opened
        do { opened = try store.open(name) } catch {
            throw OffsiteError("not uploading \(name): \(error.message)")
        }
        let encrypted = !settings.recipients.isEmpty
        let key = bundleObjectKey(opened.name, clusterId: clusterId, member: member, encrypted: encrypted)
        let manifestKey = key + OffsiteBundleManifest.keySuffix
        if let existing = try? readBundleManifest(manifestKey), existing.contentDigest == opened.manifest.contentDigest,
           let head = try? client.headObject(bucket: settings.bucket, key: key), Int64(head.size) == existing.objectSize {
            return BundlePushResult(name: opened.name, objectKey: key, alreadyThere: true, manifest: existing)
        }
        var info = stat()
        let size = lstat(opened.path, &info) == 0 ? Int64(info.st_size) : 0
        let packed = try uploadPacked(path: opened.path, size: size, key: key, label: opened.name, progress: progress)
        let manifest = OffsiteBundleManifest(
            format: OffsiteBundleManifest.currentFormat, bundle: opened.name, contentDigest: opened.manifest.contentDigest,
            createdAt: opened.manifest.createdAt, hostname: opened.manifest.hostname, clusterId: clusterId,
            memberName: member, fileCount: opened.manifest.files.count, tarSHA256: packed.fileSHA256,
            tarSize: packed.fileSize, objectSHA256: packed.objectSHA256, objectSize: packed.objectSize,
            codec: encrypted ? .zstdAge : .zstd, ageRecipients: settings.recipients.map(\.fingerprint),
            etcdConsoleVersion: version)
        do throws(ObjectStoreError) {
            let data: Data
            do { data = try OffsiteBundleManifest.coder().0.encode(manifest) } catch {
                throw ObjectStoreError(.protocolError, "could not encode the bundle manifest: \(error)")
            }
            try withRetry { () throws(ObjectStoreError) in
                try client.putObject(bucket: settings.bucket, key: manifestKey, data: data)
            }
        } catch {
            try? client.deleteObject(bucket: settings.bucket, key: key)
            throw OffsiteError("uploaded s3://\(settings.bucket)/\(key) but could not write its manifest: \(error.detail); the object was deleted")
        }
        return BundlePushResult(name: opened.name, objectKey: key, alreadyThere: false, manifest: manifest)
    }

    /// Uploads the bundle the snapshot `entry` points at, beside it (same cluster and member), unless the
    /// settings refuse unencrypted bundles. Nil when the snapshot has no bundle.
    public func pushBundle(of entry: SnapshotEntry, progress: ((Int64, Int64) -> Void)? = nil) throws(OffsiteError) -> BundlePushResult? {
        let directory = (entry.path as NSString).deletingLastPathComponent
        guard let pointer = BundleStore(directory: directory).pointer(forSnapshot: entry.path) else { return nil }
        return try pushBundle(pointer.bundle, directory: directory, clusterId: entry.clusterID ?? "unknown-cluster",
                              member: entry.memberName ?? entry.memberID ?? "unknown-member", progress: progress)
    }

    private func readBundleManifest(_ key: String) throws(OffsiteError) -> OffsiteBundleManifest {
        let sink = DataByteSink()
        do throws(ObjectStoreError) {
            try withRetry { () throws(ObjectStoreError) in try client.getObject(bucket: settings.bucket, key: key, into: sink) }
        } catch {
            throw OffsiteError("could not read s3://\(settings.bucket)/\(key): \(error.detail)")
        }
        let manifest: OffsiteBundleManifest
        do { manifest = try OffsiteBundleManifest.coder().1.decode(OffsiteBundleManifest.self, from: sink.data) } catch {
            throw OffsiteError("s3://\(settings.bucket)/\(key) is not a valid etcd-console bundle manifest: \(error)")
        }
        guard manifest.format == OffsiteBundleManifest.currentFormat else {
            throw OffsiteError("s3://\(settings.bucket)/\(key) has format \(manifest.format); this etcd-console reads format \(OffsiteBundleManifest.currentFormat): upgrade etcd-console")
        }
        return manifest
    }

    /// The bundles in the bucket (newest first) and the manifests that could not be read ("<key>: <why>").
    public func listBundles() throws(OffsiteError) -> (bundles: [RemoteBundle], unreadable: [String]) {
        let prefix = settings.prefix.isEmpty ? "" : settings.prefix + "/"
        let objects: [S3Object]
        do {
            objects = try withRetry { () throws(ObjectStoreError) in
                try client.listAllObjects(bucket: settings.bucket, prefix: prefix, pageSize: 1000)
            }
        } catch {
            throw OffsiteError("could not list \(settings.location): \(error.detail)")
        }
        let sizes = Dictionary(objects.map { ($0.key, $0.size) }, uniquingKeysWith: { a, _ in a })
        var bundles: [RemoteBundle] = []
        var unreadable: [String] = []
        for object in objects where object.key.hasSuffix(OffsiteBundleManifest.keySuffix) && object.key.contains("/bundles/") {
            let objectKey = String(object.key.dropLast(OffsiteBundleManifest.keySuffix.count))
            guard object.size < 1 << 20 else {
                unreadable.append("\(object.key): \(object.size) bytes is too large for a manifest")
                continue
            }
            let manifest: OffsiteBundleManifest
            do { manifest = try readBundleManifest(object.key) } catch {
                unreadable.append("\(object.key): \(error.message)")
                continue
            }
            var problem: String?
            if let listed = sizes[objectKey] {
                if Int64(listed) != manifest.objectSize { problem = "object holds \(listed) bytes, the manifest says \(manifest.objectSize)" }
            } else {
                problem = "object \(objectKey) is missing"
            }
            bundles.append(RemoteBundle(objectKey: objectKey, manifestKey: object.key, manifest: manifest, problem: problem))
        }
        bundles.sort { ($0.manifest.createdAt, $0.name) > ($1.manifest.createdAt, $1.name) }
        return (bundles, unreadable)
    }

    /// `bundle pull`: downloads the remote bundle `name` (its file name, or its object key) into `directory`
    /// atomically (`.part`, fsync, rename, 0600) after the object's and the tar's SHA-256 match the manifest,
    /// then opens it (every file against the bundle's own manifest). A failure leaves nothing behind. When a local
    /// bundle of that name already holds the same content, it is kept and its path returned.
    public func pullBundle(_ name: String, into directory: String,
                           progress: ((Int64, Int64) -> Void)? = nil) throws(OffsiteError) -> String {
        let (bundles, _) = try listBundles()
        guard let remote = bundles.first(where: { $0.name == name || $0.objectKey == name }) else {
            let known = bundles.prefix(5).map(\.name).joined(separator: ", ")
            throw OffsiteError("no remote bundle \"\(name)\" in \(settings.location) (\(bundles.isEmpty ? "it holds none" : "newest: \(known)"); see bundle list --remote)")
        }
        if let problem = remote.problem { throw OffsiteError("remote bundle \(remote.name) cannot be used: \(problem)") }
        let fileName = (remote.name as NSString).lastPathComponent
        guard fileName.hasPrefix(BundleStore.prefix), fileName.hasSuffix(BundleStore.suffix) else {
            throw OffsiteError("remote bundle manifest \(remote.manifestKey) names \"\(remote.name)\", which is not a bundle file name")
        }
        let path = (directory as NSString).appendingPathComponent(fileName)
        if SafeFile.exists(path) {
            if let local = try? BundleStore(directory: directory).open(path), local.manifest.contentDigest == remote.manifest.contentDigest {
                return path
            }
            throw OffsiteError("\(path) already exists and differs from the remote bundle; not replacing it (move it away or pull into another --dir)")
        }
        let file: UncommittedFileSink
        do {
            try SafeFile.createDirectory(directory)
            file = try UncommittedFileSink(path: path)
        } catch {
            throw OffsiteError("could not pull \(remote.name): \(error)")
        }
        let tar = DigestingSink(downstream: file)
        do {
            let object = try downloadPacked(key: remote.objectKey, encrypted: remote.manifest.codec == .zstdAge,
                                            recipients: remote.manifest.ageRecipients, objectSize: remote.manifest.objectSize,
                                            what: "remote bundle \(remote.name)", expectedObjectSHA256: remote.manifest.objectSHA256,
                                            into: tar, progress: progress)
            guard object.sha256 == remote.manifest.objectSHA256, object.size == remote.manifest.objectSize else {
                throw OffsiteError("remote bundle \(remote.name) is corrupt: object SHA-256 \(object.sha256) (\(object.size) bytes), the manifest \(remote.manifestKey) says \(remote.manifest.objectSHA256) (\(remote.manifest.objectSize) bytes)")
            }
            guard tar.digest == remote.manifest.tarSHA256, tar.count == remote.manifest.tarSize else {
                throw OffsiteError("remote bundle \(remote.name) is corrupt: tar SHA-256 \(tar.digest ?? "") (\(tar.count) bytes) after decompression, the manifest \(remote.manifestKey) says \(remote.manifest.tarSHA256) (\(remote.manifest.tarSize) bytes)")
            }
            try file.writer.commit()
        } catch let error as OffsiteError {
            file.writer.abort()
            throw OffsiteError("could not pull \(remote.name) into \(directory): \(error.message); nothing was left behind")
        } catch {
            file.writer.abort()
            throw OffsiteError("could not pull \(remote.name) into \(directory): \(error); nothing was left behind")
        }
        do { _ = try BundleStore(directory: directory).open(path) } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw OffsiteError("pulled \(remote.name) but it does not verify: \(error.message); the file was removed")
        }
        return path
    }

    /// Remote bundle retention, after snapshot retention: deletes each bundle that no remote snapshot's manifest
    /// names, except the newest bundle of each member (the one a rebuild needs). Manifest first, then the
    /// object, as for snapshots. A delete the bucket refuses is skipped (kept). Returns the deleted names.
    public func removeUnreferencedBundles() throws(OffsiteError) -> [String] {
        let (bundles, _) = try listBundles()
        guard !bundles.isEmpty else { return [] }
        let snapshots = try list().snapshots
        func member(_ key: String) -> String {
            guard let range = key.range(of: "/bundles/", options: .backwards) else { return "" }
            return String(key[..<range.lowerBound])
        }
        var named: Set<String> = []
        for snapshot in snapshots {
            if let bundle = snapshot.manifest.bundle { named.insert((snapshot.objectKey as NSString).deletingLastPathComponent + "\t" + bundle) }
        }
        var newestSeen: Set<String> = []
        var deleted: [String] = []
        for bundle in bundles {   // newest first
            let owner = member(bundle.objectKey)
            let isNewest = newestSeen.insert(owner).inserted
            if isNewest || named.contains(owner + "\t" + bundle.name) { continue }
            do {
                try withRetry { () throws(ObjectStoreError) in try client.deleteObject(bucket: settings.bucket, key: bundle.manifestKey) }
                try withRetry { () throws(ObjectStoreError) in try client.deleteObject(bucket: settings.bucket, key: bundle.objectKey) }
                deleted.append(bundle.name)
            } catch {
                continue
            }
        }
        return deleted
    }
}
