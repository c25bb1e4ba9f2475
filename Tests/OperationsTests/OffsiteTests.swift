import EtcdClient
import EtcdTestSupport
import Foundation
import ObjectStore
import Operations
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One SeaweedFS and one etcd for the offsite tests, and a directory with one good snapshot made by a real
/// backup run; each test copies that directory and uses its own bucket.
enum OffsiteFixture {
    static let server = Task { try await SeaweedFS.start() }
    static let etcd = Task { () throws -> EtcdProcess in
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "offsite"))
        let client = EtcdClient(EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)]))
        var state: UInt64 = 42
        for i in 0..<200 {   // ~1 MiB of values that compress only partly
            var bytes = [UInt8](repeating: 0, count: 2048)
            for j in 0..<bytes.count where j % 3 != 0 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                bytes[j] = UInt8(truncatingIfNeeded: state >> 33)
            }
            _ = try await client.put("/registry/configmaps/default/cm-\(i)", value: bytes)
        }
        await client.close()
        return etcd
    }
    static let template = Task { () throws -> String in
        let etcd = try await OffsiteFixture.etcd.value
        let dir = try TestDirectories.make("offsite-template").appendingPathComponent("backups").path
        let run = BackupRun(resolved: try resolved([.endpoints: etcd.clientURL, .dir: dir]),
                            configuration: try configuration(etcd), log: BackupLog { _, _ in })
        guard await run.perform() else { throw EtcdTestSupportError("the template backup failed") }
        return dir
    }

    static func resolved(_ values: [ConfigurationKey: String]) throws -> ResolvedConfiguration {
        try ConfigurationResolver.resolve(flags: values, environment: [:], file: nil, deployment: nil)
    }

    static func configuration(_ etcd: EtcdProcess) throws -> EtcdClientConfiguration {
        EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)])
    }

    /// A copy of the template directory (snapshot + sidecar, no offsite record).
    static func snapshotDirectory(_ name: String) async throws -> String {
        let template = try await template.value
        let dir = try TestDirectories.make(name).appendingPathComponent("backups").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for file in try FileManager.default.contentsOfDirectory(atPath: template) where !file.hasPrefix(".") {
            try FileManager.default.copyItem(atPath: template + "/" + file, toPath: dir + "/" + file)
        }
        return dir
    }

    static func entries(_ dir: String) throws -> [SnapshotEntry] {
        try SnapshotCatalog.standard(directory: dir).list().entries
    }

    /// A fresh bucket; SeaweedFS's filer may need a moment after its S3 port answers, so creation is polled.
    static func bucket(_ server: SeaweedFS, _ name: String) async throws -> String {
        let client = try S3Client(endpoint: server.endpoint, credentials: credentials(server))
        let bucket = "\(name)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try await retrying { try client.createBucket(bucket) }
        return bucket
    }

    /// The shared server, a fresh bucket, a copy of the template directory, a store on them and its snapshot.
    static func scene(_ name: String) async throws -> (server: SeaweedFS, bucket: String, dir: String, store: OffsiteStore, entry: SnapshotEntry) {
        let server = try await server.value
        let bucket = try await bucket(server, name)
        let dir = try await snapshotDirectory("offsite-\(name)")
        let entry = try #require(try entries(dir).first)
        return (server, bucket, dir, try store(server, bucket: bucket), entry)
    }

    static func credentials(_ server: SeaweedFS) -> S3Credentials {
        S3Credentials(accessKeyId: server.accessKey, secretAccessKey: server.secretKey, source: "test")
    }

    static func store(_ server: SeaweedFS, bucket: String, prefix: String = "etcd/prod", recipients: [AgeRecipient] = [],
                      identityFile: String? = nil, credentials: S3Credentials? = nil, endpoint: String? = nil) throws -> OffsiteStore {
        var settings = OffsiteSettings(endpoint: endpoint ?? server.endpoint, bucket: bucket, prefix: prefix,
                                       credentials: credentials ?? self.credentials(server), recipients: recipients,
                                       identityFile: identityFile)
        settings.partSize = 5 << 20
        settings.backoff = { _ in .milliseconds(50) }
        settings.stallSeconds = 10
        return try OffsiteStore(settings: settings, version: "test")
    }

    static func sha256(_ path: String) throws -> String {
        let hasher = SHA256Hasher()
        hasher.update(try Data(contentsOf: URL(fileURLWithPath: path)))
        return hasher.finalize().hexString
    }

    static func identityFile(_ identity: AgeIdentity, in dir: String) throws -> String {
        let path = dir + "/age.key"
        try Data((identity.secretKeyString + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

@Suite("The remote: config section")
struct RemoteConfigurationTests {
    static let recipient = AgeIdentity.generate().recipient.description

    @Test("remote: keys are read from the file, the environment overrides them, AWS_REGION and the AWS keys apply")
    func resolved() throws {
        let file = try ConfigFile.parse("""
            remote:
              endpoint: http://127.0.0.1:8333/
              bucket: etcd-backups
              prefix: /prod/etcd/
              path-style: true
              age-recipients: [\(Self.recipient)]
              compression-level: 9
              retention:
                daily: 30
                weekly: 12
            """, path: "/etc/etcd-console/config.yaml")
        let env = ["ETCD_CONSOLE_REMOTE_BUCKET": "other-bucket", "AWS_REGION": "eu-west-1",
                   "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "very-secret"]
        let resolved = try ConfigurationResolver.resolve(flags: [:], environment: env, file: file, deployment: nil)
        #expect(resolved.settings[.remoteEndpoint] == ResolvedSetting(value: "http://127.0.0.1:8333",
                                                                      source: .file(path: "/etc/etcd-console/config.yaml", line: 2)))
        #expect(resolved.settings[.remoteBucket]?.source == .environment("ETCD_CONSOLE_REMOTE_BUCKET"))
        #expect(resolved.settings[.remoteRegion]?.source == .environment("AWS_REGION"))
        let settings = try #require(try OffsiteSettings.from(resolved, environment: env, home: "/nonexistent"))
        #expect(settings.bucket == "other-bucket" && settings.prefix == "prod/etcd" && settings.region == "eu-west-1")
        #expect(settings.compressionLevel == 9 && settings.recipients.map(\.description) == [Self.recipient])
        #expect(settings.retention == RetentionPolicy(keepLast: nil, hourly: nil, daily: 30, weekly: 12, monthly: nil))
        #expect(settings.credentials.description == "access key AKIDEXAMPLE, secret **** (from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
        #expect(!settings.credentials.description.contains("very-secret"))
        #expect(resolved.settings[.remoteEndpoint]?.value != nil && ConfigurationKey.remoteEndpoint.fileKey == "remote.endpoint")
    }

    @Test("Without remote.endpoint offsite is off; the credentials file and its profile are used when named")
    func offAndProfile() throws {
        #expect(try OffsiteSettings.from(try OffsiteFixture.resolved([:]), environment: [:], home: "/nonexistent") == nil)
        let dir = try TestDirectories.make("remote-profile").path
        try Data("[default]\naws_access_key_id = A\naws_secret_access_key = B\n[backup]\naws_access_key_id = KEY2\naws_secret_access_key = S2\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/credentials"))
        let resolved = try OffsiteFixture.resolved([.remoteEndpoint: "https://s3.example.com", .remoteBucket: "etcd",
                                                    .remoteCredentialsFile: dir + "/credentials", .remoteProfile: "backup"])
        let settings = try #require(try OffsiteSettings.from(resolved, environment: ["AWS_ACCESS_KEY_ID": "ignored", "AWS_SECRET_ACCESS_KEY": "x"], home: "/nonexistent"))
        #expect(settings.credentials.accessKeyId == "KEY2" && settings.credentials.source == "\(dir)/credentials [backup]")
    }

    @Test("Bad remote: values are errors naming the key and the line", arguments: [
        ("  endpoint: ftp://s3.example.com", "/c.yaml:2: remote.endpoint must be an http:// or https:// URL such as https://s3.example.com or http://127.0.0.1:8333, not \"ftp://s3.example.com\""),
        ("  endpoint: https://s3.example.com/etcd", "/c.yaml:2: remote.endpoint must be only scheme://host[:port], not \"https://s3.example.com/etcd\" (put the bucket in remote.bucket and the path in remote.prefix)"),
        ("  bucket: My_Backups", "/c.yaml:2: remote.bucket must be an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit), not \"My_Backups\""),
        ("  prefix: prod/../etc", "/c.yaml:2: remote.prefix must be a key prefix such as etcd/prod (no empty, \".\" or \"..\" parts), not \"prod/../etc\""),
        ("  compression-level: 25", "/c.yaml:2: remote.compression-level must be a zstd level from 1 (fastest) to 19 (smallest), not \"25\""),
        ("  path-style: sometimes", "/c.yaml:2: remote.path-style must be true or false, not \"sometimes\""),
        ("  ca-file: s3-ca.pem", "/c.yaml:2: remote.ca-file must be an absolute path (starting with /), not \"s3-ca.pem\""),
        ("  endpont: https://s3.example.com", "/c.yaml:2: unknown key \"remote.endpont\"; did you mean \"remote.endpoint\"?"),
        ("  retention: 30", "/c.yaml:2: remote.retention must be a mapping (indented keys under \"retention:\"), not a single value"),
    ])
    func badValues(line: String, expected: String) {
        #expect(throws: ConfigurationError(file: "/c.yaml", line: 2, expected)) {
            try ConfigFile.parse("remote:\n" + line + "\n", path: "/c.yaml")
        }
    }

    @Test("An age recipient that is not one is named")
    func badRecipient() {
        do {
            _ = try ConfigFile.parse("remote:\n  age-recipients: [age1notakey]\n", path: "/c.yaml")
            Issue.record("age1notakey was accepted")
        } catch {
            #expect(error.message.hasPrefix("/c.yaml:2: remote.age-recipients must list age X25519 recipients (age1..., as age-keygen prints them); \"age1notakey\" is not one: "), "\(error.message)")
        }
    }

    @Test("A remote: section without endpoint or bucket, or with path-style false, is an error saying what to set",
          arguments: [
        ([ConfigurationKey.remoteBucket: "etcd"], "remote.bucket is set (flag --remote-bucket) but remote.endpoint is not: set remote.endpoint (or ETCD_CONSOLE_REMOTE_ENDPOINT) to turn offsite copies on, or remove the remote: section"),
        ([.remoteEndpoint: "https://s3.example.com"], "remote.endpoint is set (flag --remote-endpoint) but remote.bucket is not: name the bucket offsite copies go to"),
        ([.remoteEndpoint: "https://s3.example.com", .remoteBucket: "etcd", .remotePathStyle: "false"], "remote.path-style is false (flag --remote-path-style), but only path-style addressing (<endpoint>/<bucket>/<key>) is supported; AWS S3, MinIO, Ceph RGW, SeaweedFS and R2 all accept it: set path-style: true or remove it"),
    ])
    func incomplete(values: [ConfigurationKey: String], expected: String) throws {
        let resolved = try OffsiteFixture.resolved(values)
        #expect(throws: OffsiteError(expected)) {
            try OffsiteSettings.from(resolved, environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"], home: "/nonexistent")
        }
    }
}

@Suite("Offsite copies against a real SeaweedFS", .serialized)
struct OffsiteStoreTests {
    @Test("A backup streams its new snapshot up beside the save, then catches up the older ones oldest first, manifest beside each object")
    func backupUploads() async throws {
        let server = try await OffsiteFixture.server.value
        let etcd = try await OffsiteFixture.etcd.value
        let bucket = try await OffsiteFixture.bucket(server, "backup")
        let dir = try await OffsiteFixture.snapshotDirectory("offsite-backup")
        let old = try #require(try OffsiteFixture.entries(dir).first)
        let captured = CapturedLog()
        // A write since the template snapshot: the new one has another revision, hence another key.
        let writer = EtcdClient(try OffsiteFixture.configuration(etcd))
        _ = try await writer.put("/registry/configmaps/default/after-template", value: Array("x".utf8))
        await writer.close()
        var run = BackupRun(resolved: try OffsiteFixture.resolved([.endpoints: etcd.clientURL, .dir: dir, .dataDir: "/nonexistent"]),
                            configuration: try OffsiteFixture.configuration(etcd), log: captured.log)
        run.offsite = try OffsiteFixture.store(server, bucket: bucket)
        #expect(await run.perform())
        let uploads = captured.stdout.filter { $0.hasPrefix("backup: offsite: uploaded ") }
        #expect(uploads.count == 2, "\(captured.stdout)")
        // The new snapshot first (it followed the save), then the catch-up of the one already there.
        #expect(uploads.last?.hasPrefix("backup: offsite: uploaded \(old.name) to s3://\(bucket)/etcd/prod/\(old.clusterID!)/") == true, "\(uploads)")
        #expect(uploads.first?.hasPrefix("backup: offsite: uploaded \(old.name) ") == false, "\(uploads)")
        #expect(captured.stderr.isEmpty, "\(captured.stderr)")
        let record = OffsiteRecord.read(fromDirectory: dir)
        let entries = try OffsiteFixture.entries(dir)
        #expect(entries.count == 2 && entries.allSatisfy { record.isOffsite($0.name, bucket: bucket) })
        let client = try OffsiteFixture.store(server, bucket: bucket).client
        let keys = try client.listAllObjects(bucket: bucket, prefix: "etcd/prod/").map(\.key).sorted()
        #expect(keys.count == 4 && keys.filter { $0.hasSuffix(".db.zst.manifest.json") }.count == 2, "\(keys)")
        // The next run has nothing to catch up.
        let store = try OffsiteFixture.store(server, bucket: bucket)
        let again = store.catchUp(catalog: SnapshotCatalog.standard(directory: dir), entries: entries)
        #expect(again.pushed.isEmpty && again.error == nil)
        // The manifest says what the issue lists.
        let catalog = try store.list()
        let newest = try #require(catalog.snapshots.first)
        let newestSHA = try OffsiteFixture.sha256(entries[0].path)
        #expect(newest.name == entries[0].name && newest.manifest.dbSHA256 == newestSHA)
        #expect(newest.manifest.codec == .zstd && newest.manifest.revision == entries[0].revision && newest.manifest.sidecar != nil)
        #expect(newest.manifest.objectSize < newest.manifest.dbSize)
    }

    @Test("Encrypted to an age recipient: Debian's age -d and zstd -d read the object; pull and verify --remote use our identity")
    func encryptedInterop() async throws {
        let server = try await OffsiteFixture.server.value
        let bucket = try await OffsiteFixture.bucket(server, "age")
        let dir = try await OffsiteFixture.snapshotDirectory("offsite-age")
        let identity = AgeIdentity.generate()
        let keyFile = try OffsiteFixture.identityFile(identity, in: (dir as NSString).deletingLastPathComponent)
        let store = try OffsiteFixture.store(server, bucket: bucket, recipients: [identity.recipient], identityFile: keyFile)
        let entry = try #require(try OffsiteFixture.entries(dir).first)
        let pushed = try store.push(entry, sidecar: OffsiteStore.sidecar(for: entry.path))
        #expect(pushed.objectKey.hasSuffix("-r\(entry.revision!).db.zst.age"))
        #expect(pushed.manifest.codec == .zstdAge && pushed.manifest.ageRecipients == [identity.recipient.fingerprint])

        let work = (dir as NSString).deletingLastPathComponent
        let object = work + "/object.db.zst.age"
        let sink = try AtomicFileSink(path: object)
        try store.client.getObject(bucket: bucket, key: pushed.objectKey, into: sink)
        let decoded = try runCommand("/bin/sh", ["-c", "/usr/bin/age -d -i '\(keyFile)' '\(object)' | /usr/bin/zstd -d -q -o '\(work)/decoded.db'"])
        #expect(decoded.succeeded, "\(decoded.output)")
        let entrySHA = try OffsiteFixture.sha256(entry.path)
        #expect(try OffsiteFixture.sha256(work + "/decoded.db") == entrySHA)

        let seen = TransferLog()
        let verified = try store.verify(entry.name, progress: { seen.add($0, $1) })
        #expect(seen.last.map { [$0.0, $0.1] } == [pushed.manifest.objectSize, pushed.manifest.objectSize], "verify reports the object's bytes")
        #expect(verified.hasTrailer && verified.dbSHA256 == pushed.manifest.dbSHA256 && verified.dbSize == Int64(entry.size))
        #expect(!FileManager.default.fileExists(atPath: work + "/pulled"), "verify wrote nothing")

        let pulledDir = work + "/pulled"
        try FileManager.default.createDirectory(atPath: pulledDir, withIntermediateDirectories: true)
        let pulledBytes = TransferLog()
        let path = try store.pull(entry.name, into: pulledDir, progress: { pulledBytes.add($0, $1) })
        #expect(pulledBytes.last.map { [$0.0, $0.1] } == [pushed.manifest.objectSize, pushed.manifest.objectSize], "pull reports the object's bytes")
        #expect(path == pulledDir + "/" + entry.name)
        #expect(try OffsiteFixture.sha256(path) == entrySHA)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        let pulled = try #require(try OffsiteFixture.entries(pulledDir).first)
        #expect(pulled.health == .good && pulled.isOurs && pulled.memberName == entry.memberName && pulled.clusterID == entry.clusterID)
        #expect(throws: OffsiteError("\(path) already exists; not replacing a local snapshot with the remote copy (remove it or pull into another --dir)")) {
            try store.pull(entry.name, into: pulledDir)
        }
    }

    @Test("A wrong age identity is named, and nothing is pulled")
    func wrongIdentity() async throws {
        let server = try await OffsiteFixture.server.value
        let bucket = try await OffsiteFixture.bucket(server, "wrongkey")
        let dir = try await OffsiteFixture.snapshotDirectory("offsite-wrongkey")
        let work = (dir as NSString).deletingLastPathComponent
        let right = AgeIdentity.generate(), wrong = AgeIdentity.generate()
        let keyFile = try OffsiteFixture.identityFile(wrong, in: work)
        let entry = try #require(try OffsiteFixture.entries(dir).first)
        let store = try OffsiteFixture.store(server, bucket: bucket, recipients: [right.recipient], identityFile: keyFile)
        let pushed = try store.push(entry, sidecar: nil)
        let empty = work + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        do {
            _ = try store.pull(entry.name, into: empty)
            Issue.record("pulled with the wrong identity")
        } catch {
            #expect(error.message.contains("could not decrypt s3://\(bucket)/\(pushed.objectKey): s3://\(bucket)/\(pushed.objectKey) cannot be decrypted with the given age identity (recipient \(wrong.recipient))"), "\(error.message)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty)
    }

    @Test("A tampered object or manifest is corrupt, with both SHA-256s; pull leaves nothing behind")
    func tampered() async throws {
        let (_, bucket, dir, store, entry) = try await OffsiteFixture.scene("tamper")
        let work = (dir as NSString).deletingLastPathComponent
        let pushed = try store.push(entry, sidecar: nil)
        let manifestKey = pushed.objectKey + OffsiteManifest.keySuffix

        // The manifest: its db SHA-256 changed.
        var manifest = pushed.manifest
        manifest.dbSHA256 = String(repeating: "0", count: 64)
        try store.client.putObject(bucket: bucket, key: manifestKey, data: try manifest.encoded())
        #expect(throws: OffsiteError("remote snapshot \(entry.name) is corrupt: snapshot SHA-256 \(pushed.manifest.dbSHA256) (\(entry.size) bytes) after decompression, the manifest \(manifestKey) says \(manifest.dbSHA256) (\(entry.size) bytes)")) {
            try store.verify(entry.name)
        }
        try store.client.putObject(bucket: bucket, key: manifestKey, data: try pushed.manifest.encoded())

        // The object: one byte flipped in the middle (same size, so the listing still matches).
        let original = DataByteSink()
        try store.client.getObject(bucket: bucket, key: pushed.objectKey, into: original)
        var bytes = original.data
        bytes[bytes.count / 2] ^= 0x55
        try store.client.putObject(bucket: bucket, key: pushed.objectKey, data: bytes)
        let hasher = SHA256Hasher()
        hasher.update(bytes)
        let tamperedSHA = hasher.finalize().hexString
        do {
            _ = try store.verify(entry.name)
            Issue.record("a tampered object verified")
        } catch {
            #expect(error.message.hasPrefix("remote snapshot \(entry.name) is corrupt: "), "\(error.message)")
            #expect(error.message.contains(tamperedSHA) && error.message.contains("the manifest says \(pushed.manifest.objectSHA256)"), "\(error.message)")
        }
        let target = work + "/pull"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        #expect(throws: OffsiteError.self) { try store.pull(entry.name, into: target) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: target).isEmpty)
    }

    @Test("The remote catalog: manifests over several ListObjectsV2 pages, foreign objects ignored, local/remote/both")
    func catalog() async throws {
        let (_, bucket, dir, store, entry) = try await OffsiteFixture.scene("catalog")
        var second = entry
        second.name = "snapshot-20261101T000000Z-old.db"
        second.takenAt = Date(timeIntervalSince1970: 1_793_000_000)
        _ = try store.push(entry, sidecar: nil)
        _ = try store.push(second, sidecar: nil)
        // Foreign objects under the prefix: not ours, or a manifest that is not one.
        try store.client.putObject(bucket: bucket, key: "etcd/prod/README.txt", data: Data("hello".utf8))
        try store.client.putObject(bucket: bucket, key: "etcd/prod/other/tool/x.db", data: Data("x".utf8))
        try store.client.putObject(bucket: bucket, key: "etcd/prod/other/tool/x.db.manifest.json", data: Data("{\"not\": 1}".utf8))
        try store.client.putObject(bucket: bucket, key: "elsewhere/y.db.zst.manifest.json", data: Data("{}".utf8))
        let remote = try store.list(pageSize: 1, cacheDirectory: dir)
        #expect(remote.snapshots.map(\.name) == [entry.name, second.name])
        #expect(remote.snapshots.allSatisfy { $0.problem == nil })
        #expect(remote.unreadable.count == 1 && remote.unreadable[0].hasPrefix("etcd/prod/other/tool/x.db.manifest.json: manifest etcd/prod/other/tool/x.db.manifest.json is not a valid etcd-console manifest"), "\(remote.unreadable)")
        #expect(RemoteCatalog.cached(inDirectory: dir)?.snapshots.map(\.manifest.objectSHA256) == remote.snapshots.map(\.manifest.objectSHA256))
        let rows = OffsiteListing.rows(local: try OffsiteFixture.entries(dir), remote: remote)
        #expect(rows.map(\.location) == [.both, .remote] && rows.map(\.name) == [entry.name, second.name])
        // An object gone from under its manifest is shown, not hidden.
        try store.client.deleteObject(bucket: bucket, key: remote.snapshots[1].objectKey)
        let after = try store.list()
        #expect(after.snapshots[1].problem == "object \(remote.snapshots[1].objectKey) is missing")
        #expect(throws: OffsiteError("remote snapshot \(second.name) cannot be used: object \(remote.snapshots[1].objectKey) is missing")) {
            try store.verify(second.name)
        }
    }

    @Test("Wrong key id, wrong secret, a missing bucket and an unreachable endpoint: each named; nothing marked offsite")
    func refusals() async throws {
        let server = try await OffsiteFixture.server.value
        let bucket = try await OffsiteFixture.bucket(server, "refusals")
        let dir = try await OffsiteFixture.snapshotDirectory("offsite-refusals")
        let entries = try OffsiteFixture.entries(dir)
        let catalog = SnapshotCatalog.standard(directory: dir)
        let port = 9   // discard: nothing listens on it here
        let cases: [(OffsiteStore, String)] = [
            (try OffsiteFixture.store(server, bucket: bucket, credentials: S3Credentials(accessKeyId: "NOSUCHKEY", secretAccessKey: "x", source: "test")),
             "was refused: InvalidAccessKeyId (HTTP 403): the service does not know access key NOSUCHKEY (from test); check the key id"),
            (try OffsiteFixture.store(server, bucket: bucket, credentials: S3Credentials(accessKeyId: server.accessKey, secretAccessKey: "wrong", source: "test")),
             "was refused: SignatureDoesNotMatch (HTTP 403): the secret access key for \(server.accessKey) (from test) is wrong, or remote.region does not match the service"),
            (try OffsiteFixture.store(server, bucket: "no-such-bucket-\(getpid())"),
             "failed: NoSuchBucket (HTTP 404): bucket \"no-such-bucket-\(getpid())\" does not exist at \(server.endpoint); create it or fix remote.bucket"),
            (try OffsiteFixture.store(server, bucket: bucket, endpoint: "http://127.0.0.1:\(port)"),
             "could not reach the S3 endpoint http://127.0.0.1:\(port) (CreateMultipartUpload s3://"),
        ]
        for (store, expected) in cases {
            let outcome = store.catchUp(catalog: catalog, entries: entries)
            #expect(outcome.pushed.isEmpty)
            #expect(outcome.error?.message.contains(expected) == true, "\(outcome.error?.message ?? "no error")")
        }
        #expect(OffsiteRecord.read(fromDirectory: dir).uploads.isEmpty)
    }

    @Test("SeaweedFS killed mid-upload: the error says so, the local snapshot is kept as not offsite, the next run uploads it")
    func killedMidUpload() async throws {
        let doomed = try await SeaweedFS.start()
        let bucket = try await OffsiteFixture.bucket(doomed, "killed")
        let dir = try await OffsiteFixture.snapshotDirectory("offsite-killed")
        let entries = try OffsiteFixture.entries(dir)
        let catalog = SnapshotCatalog.standard(directory: dir)
        let store = try OffsiteFixture.store(doomed, bucket: bucket)
        let outcome = store.catchUp(catalog: catalog, entries: entries, progress: { _, done, _ in
            if done > 0 { doomed.kill() }
        })
        #expect(outcome.pushed.isEmpty)
        let message = outcome.error?.message ?? ""
        #expect(message.hasPrefix("could not upload \(entries[0].name) to s3://\(bucket)/etcd/prod/"), "\(message)")
        #expect(message.contains("could not reach the S3 endpoint \(doomed.endpoint)"), "\(message)")
        #expect(FileManager.default.fileExists(atPath: entries[0].path))
        #expect(OffsiteRecord.read(fromDirectory: dir).missing(entries, bucket: bucket).map(\.name) == entries.map(\.name))
        await doomed.stop()

        // The next run, against a store that answers, uploads what is missing.
        let server = try await OffsiteFixture.server.value
        let next = try OffsiteFixture.store(server, bucket: try await OffsiteFixture.bucket(server, "killed-next"))
        let retry = next.catchUp(catalog: catalog, entries: entries)
        #expect(retry.error == nil && retry.pushed.map(\.name) == entries.map(\.name))
        #expect(try next.list().snapshots.map(\.name) == entries.map(\.name))
    }

    @Test("Remote retention deletes what the policy lets go (manifest, then object) and never the newest good copy")
    func remoteRetention() async throws {
        let server = try await OffsiteFixture.server.value
        let bucket = try await OffsiteFixture.bucket(server, "retention")
        let dir = try await OffsiteFixture.snapshotDirectory("offsite-retention")
        var store = try OffsiteFixture.store(server, bucket: bucket)
        let entry = try #require(try OffsiteFixture.entries(dir).first)
        let now = Date()
        for (index, hours) in [72.0, 48.0, 2.0, 1.0].enumerated() {
            var copy = entry
            copy.name = "snapshot-\(index).db"
            copy.takenAt = now.addingTimeInterval(-hours * 3600)
            _ = try store.push(copy, sidecar: nil)
        }
        // The newest copy loses its object: it is not good, so nothing is deleted (the planner's rule).
        let before = try store.list()
        try store.client.deleteObject(bucket: bucket, key: try #require(before.find("snapshot-3.db")).objectKey)
        var settings = store.settings
        settings.retention = RetentionPolicy(keepLast: 1, hourly: nil, daily: nil, weekly: nil, monthly: nil)
        store = try OffsiteStore(settings: settings, version: "test")
        let held = try #require(try store.applyRetention(now: now))
        #expect(held.deleted.isEmpty && held.plan.deletesNothingReason?.contains("is corrupt: nothing is deleted") == true, "\(held)")
        // Uploaded again, it is good and the newest: the three older copies go, manifest and object.
        var newest = entry
        newest.name = "snapshot-3.db"
        newest.takenAt = now.addingTimeInterval(-3600)
        _ = try store.push(newest, sidecar: nil)
        let outcome = try #require(try store.applyRetention(now: now))
        #expect(Set(outcome.deleted) == ["snapshot-0.db", "snapshot-1.db", "snapshot-2.db"] && outcome.refused.isEmpty, "\(outcome)")
        #expect(try store.list().snapshots.map(\.name) == ["snapshot-3.db"])
        let keys = try store.client.listAllObjects(bucket: bucket, prefix: "etcd/prod/").map(\.key)
        #expect(keys.count == 2, "\(keys)")
    }

    @Test("A delete the bucket refuses (a Deny policy on s3:DeleteObject, as object lock / WORM answers) is reported by name, the others go on, nothing is lost")
    func retentionDeleteRefused() async throws {
        let server = try await OffsiteFixture.server.value
        let bucket = try await OffsiteFixture.bucket(server, "worm")
        let dir = try await OffsiteFixture.snapshotDirectory("offsite-worm")
        var store = try OffsiteFixture.store(server, bucket: bucket)
        let entry = try #require(try OffsiteFixture.entries(dir).first)
        let now = Date()
        for (index, hours) in [3.0, 2.0, 1.0].enumerated() {
            var copy = entry
            copy.name = "snapshot-\(index).db"
            copy.takenAt = now.addingTimeInterval(-hours * 3600)
            _ = try store.push(copy, sidecar: nil)
        }
        // snapshot-0's objects are locked; the rest of the bucket is not.
        let locked = try #require(try store.list().find("snapshot-0.db"))
        let resources = [locked.objectKey, locked.manifestKey].map { "\"arn:aws:s3:::\(bucket)/\($0)\"" }.joined(separator: ",")
        try server.aws(["s3api", "put-bucket-policy", "--bucket", bucket, "--policy", """
            {"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":[\(resources)]}]}
            """])
        var settings = store.settings
        settings.retention = RetentionPolicy(keepLast: 1, hourly: nil, daily: nil, weekly: nil, monthly: nil)
        store = try OffsiteStore(settings: settings, version: "test")
        let outcome = try #require(try store.applyRetention(now: now))
        #expect(outcome.deleted == ["snapshot-1.db"], "\(outcome)")
        #expect(outcome.refused.count == 1 && outcome.refused[0].hasPrefix("snapshot-0.db: ")
                && outcome.refused[0].contains("AccessDenied"), "\(outcome.refused)")
        // The refused copy is whole (its manifest was the first delete asked for, and refused) and still listed.
        #expect(try store.list().snapshots.map(\.name).sorted() == ["snapshot-0.db", "snapshot-2.db"])
        #expect(try store.client.headObject(bucket: bucket, key: locked.objectKey) != nil)
        // The next run reports it again and deletes nothing else.
        let again = try #require(try store.applyRetention(now: now))
        #expect(again.deleted.isEmpty && again.refused.count == 1, "\(again)")
    }

    @Test("Disk full while pulling (a real 64 KiB tmpfs): the error says so and nothing is left behind")
    func diskFull() async throws {
        let (_, _, dir, store, entry) = try await OffsiteFixture.scene("diskfull")
        #expect(entry.size > 256 << 10)
        _ = try store.push(entry, sidecar: nil)
        let small = (dir as NSString).deletingLastPathComponent + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        let mount = try runCommand("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", small])
        try #require(mount.succeeded, "\(mount.output)")
        do {
            _ = try store.pull(entry.name, into: small)
            Issue.record("pulled into a 64 KiB tmpfs")
        } catch {
            #expect(error.message.hasPrefix("could not pull \(entry.name) into \(small): "), "\(error.message)")
            #expect(error.message.contains("No space left on device (the disk is full; free space or choose another --dir)") && error.message.hasSuffix("; nothing was left behind"), "\(error.message)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: small)
        _ = try runCommand("/usr/bin/umount", [small])
        #expect(left.isEmpty, "\(left)")
    }

    /// A `.part` file written by hand, a chunk at a time, as the saver would; the upload follows it.
    private func followedScene(_ name: String) async throws -> (scene: (server: SeaweedFS, bucket: String, dir: String, store: OffsiteStore, entry: SnapshotEntry),
                                                                 bytes: [UInt8], part: String, file: GrowingSnapshotFile) {
        let scene = try await OffsiteFixture.scene(name)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: scene.entry.path)))
        let client = EtcdClient(try OffsiteFixture.configuration(try await OffsiteFixture.etcd.value))
        let source = try await SnapshotSaver.source(from: client)
        await client.close()
        let part = scene.dir + "/followed.db.part"
        #expect(FileManager.default.createFile(atPath: part, contents: nil, attributes: [.posixPermissions: 0o600]))
        let file = GrowingSnapshotFile()
        file.opened(partPath: part, source: source)
        return (scene, bytes, part, file)
    }

    /// Runs `uploadFollowing` on a thread of its own (it blocks; the cooperative pool is two threads here) and
    /// returns its outcome once it ends.
    private func follow(_ store: OffsiteStore, _ file: GrowingSnapshotFile, read: TransferLog) -> Task<Result<OffsiteStore.FollowedUpload, OffsiteError>, Never> {
        Task {
            await withCheckedContinuation { continuation in
                Thread {
                    continuation.resume(returning: Result { () throws(OffsiteError) in
                        try store.uploadFollowing(file, takenAt: Date()) { done, total in read.add(done, total) }
                    })
                }.start()
            }
        }
    }

    private func nothingLeft(_ server: SeaweedFS, _ store: OffsiteStore, _ bucket: String) throws {
        #expect(try store.client.listAllObjects(bucket: bucket, prefix: "").isEmpty)
        let pending = try server.aws(["s3api", "list-multipart-uploads", "--bucket", bucket, "--output", "json"])
        #expect(!pending.output.contains("UploadId"), "an unfinished multipart upload is left: \(pending.output)")
    }

    /// The followed upload failed with `expected` in its message (`what` names the wrong success).
    private func expectRefused(_ upload: Task<Result<OffsiteStore.FollowedUpload, OffsiteError>, Never>, _ what: String,
                               containing expected: String) async {
        switch await upload.value {
        case .success(let followed): Issue.record("uploaded \(followed.objectKey) \(what)")
        case .failure(let error): #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test("A save that fails while its upload follows it: the upload is aborted, no object and no pending multipart upload left")
    func followedSaveFails() async throws {
        let (scene, bytes, part, file) = try await followedScene("followed-fails")
        // The check below can fail: SeaweedFS lists an upload begun and not completed, until it is aborted.
        let control = try scene.store.client.createMultipartUpload(bucket: scene.bucket, key: "control")
        let listed = try scene.server.aws(["s3api", "list-multipart-uploads", "--bucket", scene.bucket, "--output", "json"])
        #expect(listed.output.contains(control), "\(listed.output)")
        try scene.store.client.abortMultipartUpload(bucket: scene.bucket, key: "control", uploadId: control)
        let read = TransferLog()
        let upload = follow(scene.store, file, read: read)
        let handle = try #require(FileHandle(forWritingAtPath: part))
        handle.write(Data(bytes[0..<(bytes.count / 2)]))
        // Half the snapshot is there and the upload has read some of it: then etcd goes away.
        let deadline = ContinuousClock.now + .seconds(30)
        while (read.last?.0 ?? 0) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect((read.last?.0 ?? 0) > 0, "the upload never read the growing file")
        file.finished(.failed("etcd closed the stream"))
        try handle.close()
        await expectRefused(upload, "from a failed save", containing: "the save failed: etcd closed the stream")
        try nothingLeft(scene.server, scene.store, scene.bucket)
    }

    @Test("A followed file that does not end in the trailer the save verified is refused and aborted")
    func followedTrailerMismatch() async throws {
        let (scene, bytes, part, file) = try await followedScene("followed-trailer")
        let read = TransferLog()
        let upload = follow(scene.store, file, read: read)
        try Data(bytes).write(to: URL(fileURLWithPath: part))
        file.finished(.good(size: Int64(bytes.count), trailer: [UInt8](repeating: 7, count: 32)))
        await expectRefused(upload, "with a trailer the save did not verify", containing: "are not the SHA-256 trailer the save verified")
        try nothingLeft(scene.server, scene.store, scene.bucket)
    }

    @Test("A followed file shorter than the save says is refused; one the save ended before opening uploads nothing")
    func followedShortAndNeverOpened() async throws {
        let (scene, bytes, part, file) = try await followedScene("followed-short")
        let upload = follow(scene.store, file, read: TransferLog())
        try Data(bytes.dropLast(100)).write(to: URL(fileURLWithPath: part))
        file.finished(.good(size: Int64(bytes.count), trailer: Array(bytes.suffix(32))))
        await expectRefused(upload, "from a short file", containing: "ended at \(bytes.count - 100) bytes, but the save wrote \(bytes.count)")
        try nothingLeft(scene.server, scene.store, scene.bucket)

        let never = GrowingSnapshotFile()
        never.finished(.failed("could not connect to etcd"))
        switch await follow(scene.store, never, read: TransferLog()).value {
        case .success(let followed): Issue.record("uploaded \(followed.objectKey) without a file")
        case .failure(let error):
            #expect(error.message == "nothing was uploaded: the save failed: could not connect to etcd", "\(error.message)")
        }
    }
}

@Suite("Offsite status, metrics and the not-offsite list (pure)")
struct OffsiteStatusTests {
    static let now = Date(timeIntervalSince1970: 1_795_000_000)

    static func entry(_ name: String, hoursAgo: Double, health: SnapshotHealth = .good) -> SnapshotEntry {
        let taken = now.addingTimeInterval(-hoursAgo * 3600)
        return SnapshotEntry(name: name, path: "/b/\(name)", size: 1000, modified: taken, takenAt: taken,
                             takenAtSource: .sidecar, health: health, isOurs: true)
    }

    static func record(_ names: [String], bucket: String = "etcd") -> OffsiteRecord {
        var record = OffsiteRecord()
        for name in names {
            record.uploads[name] = .init(objectKey: "k/\(name)", objectSHA256: "00", objectSize: 400, uploadedAt: now, bucket: bucket)
        }
        record.lastSuccess = now.addingTimeInterval(-7200)
        record.bytesUploaded = 400 * Int64(names.count)
        return record
    }

    @Test("Good snapshots without a copy in this bucket are missing, oldest first; corrupt ones are never uploaded")
    func missing() {
        let entries = [Self.entry("c.db", hoursAgo: 1), Self.entry("bad.db", hoursAgo: 2, health: .corrupt),
                       Self.entry("b.db", hoursAgo: 3), Self.entry("a.db", hoursAgo: 5)]
        var record = Self.record(["b.db"])
        record.uploads["a.db"] = .init(objectKey: "k", objectSHA256: "00", objectSize: 1, uploadedAt: Self.now, bucket: "old-bucket")
        #expect(record.missing(entries, bucket: "etcd").map(\.name) == ["a.db", "c.db"])
    }

    @Test("Lag and the 2x-schedule warning: none when the newest copy is recent, said when it is old or absent")
    func warning() {
        let entries = [Self.entry("new.db", hoursAgo: 0.5), Self.entry("old.db", hoursAgo: 5)]
        let recent = OffsiteStatus(record: Self.record(["new.db", "old.db"]), bucket: "etcd", entries: entries)
        #expect(recent.lagSeconds == 0 && recent.warning(intervalSeconds: 3600, now: Self.now) == nil)
        let behind = OffsiteStatus(record: Self.record(["old.db"]), bucket: "etcd", entries: entries)
        #expect(behind.lagSeconds == 4.5 * 3600)
        #expect(behind.warning(intervalSeconds: 3600, now: Self.now) == "the newest offsite copy is 5.0 h old, more than twice the schedule (60 min); 1 good snapshot(s) not offsite")
        let none = OffsiteStatus(record: OffsiteRecord(), bucket: "etcd", entries: entries)
        #expect(none.warning(intervalSeconds: 3600, now: Self.now) == "no good snapshot is offsite yet (2 waiting: the next backup uploads them)")
    }

    @Test("The metrics file has the offsite gauges when a remote is configured, and not otherwise")
    func metrics() {
        let entries = [Self.entry("new.db", hoursAgo: 0.5), Self.entry("old.db", hoursAgo: 5)]
        var metrics = BackupMetrics(directory: "/b", history: BackupHistory(), entries: entries, now: Self.now)
        #expect(!metrics.render().contains("offsite"))
        metrics.offsite = OffsiteStatus(record: Self.record(["old.db"]), bucket: "etcd", entries: entries)
        let text = metrics.render()
        #expect(text.contains("etcd_console_offsite_last_success_timestamp_seconds{dir=\"/b\"} \(Int(Self.now.timeIntervalSince1970) - 7200)\n"))
        #expect(text.contains("etcd_console_offsite_uploaded_bytes{dir=\"/b\"} 400\n"))
        #expect(text.contains("etcd_console_offsite_lag_seconds{dir=\"/b\"} 16200\n"))
        #expect(text.contains("etcd_console_offsite_missing_snapshots{dir=\"/b\"} 1\n"))
    }
}

/// Progress callbacks seen (bytes done, total), for the transfer progress tests.
final class TransferLog: @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [(Int64, Int64)] = []
    func add(_ done: Int64, _ total: Int64) { lock.withLock { calls.append((done, total)) } }
    var last: (Int64, Int64)? { lock.withLock { calls.last } }
}
