import EtcdTestSupport
import Foundation
import ObjectStore
import SnapshotStore
import Testing

/// Bundles offsite (issue 15): `backup` uploads the snapshot's bundle beside it, age-encrypted; Debian's `age`
/// and `zstd` read the object back to the same tar; `bundle list --remote`, `bundle pull`; a tampered object is
/// refused; without recipients bundles stay local unless `remote.bundle-unencrypted: true`. The built binary, a
/// real etcd, a real SeaweedFS, a fake kubeadm root.
@Suite("Control-plane bundles offsite, end to end", .serialized)
struct BundleOffsiteTests {
    struct Lab {
        var server: SeaweedFS
        var etcd: EtcdProcess
        var work: URL
        var dir: String
        var bucket: String
        var client: S3Client
        var fixture: ControlPlaneRoot
        var env: [String: String]

        func config(_ remote: String) throws -> String {
            let path = work.appendingPathComponent("config-\(UUID().uuidString.prefix(8)).yaml").path
            try Data("""
                endpoints: [\(etcd.clientURL)]
                dir: \(dir)
                data-dir: /nonexistent
                remote:
                  endpoint: \(server.endpoint)
                  bucket: \(bucket)
                  prefix: bundles-test
                \(remote)
                """.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }

        func backup(_ config: String) throws -> CommandResult {
            try ConsoleBinary.run(["backup", "--config", config, "--root", fixture.root.path], environment: env)
        }

        func keys() throws -> [String] {
            try client.listAllObjects(bucket: bucket, prefix: "bundles-test/").map(\.key)
        }

        func stop() async {
            await etcd.stop()
            await server.stop()
        }
    }

    static func lab(_ name: String) async throws -> Lab {
        let server = try await SeaweedFS.start()
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: name))
        let work = try TestDirectories.make(name)
        let client = try S3Client(endpoint: server.endpoint, credentials: S3Credentials(
            accessKeyId: server.accessKey, secretAccessKey: server.secretKey, source: "test"))
        let bucket = "\(name)-\(getpid())"
        try await retrying { try client.createBucket(bucket) }
        return Lab(server: server, etcd: etcd, work: work, dir: work.appendingPathComponent("backups").path, bucket: bucket,
                   client: client, fixture: try ControlPlaneRoot.kubeadm(), env: [
                       "AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey, "HOME": work.path])
    }

    static func run(_ tool: String, _ arguments: [String]) throws -> CommandResult {
        try runCommand(tool, arguments)
    }

    @Test("backup uploads the bundle age-encrypted beside the snapshot; age -d | zstd -d gives the tar back; list --remote; pull restores it; a tampered object is refused; no key material printed")
    func encrypted() async throws {
        let lab = try await Self.lab("bundle-offsite")
        let identity = AgeIdentity.generate()
        let keyFile = lab.work.appendingPathComponent("age.key").path
        try Data((identity.secretKeyString + "\n").utf8).write(to: URL(fileURLWithPath: keyFile))
        let config = try lab.config("  age-recipients: [\(identity.recipient)]\n  age-identity-file: \(keyFile)")
        var outputs: [String] = []

        let backup = try lab.backup(config)
        outputs.append(backup.output)
        #expect(backup.status == 0, "\(backup.output)")
        let local = try #require(try FileManager.default.contentsOfDirectory(atPath: lab.dir).first { $0.hasPrefix("bundle-") && $0.hasSuffix(".tar") })
        #expect(backup.stdout.contains("backup: offsite: uploaded \(local) to s3://\(lab.bucket)/bundles-test/"), "\(backup.stdout)")
        let keys = try lab.keys()
        let objectKey = try #require(keys.first { $0.hasSuffix("/bundles/\(local).zst.age") }, "\(keys)")
        #expect(keys.contains(objectKey + ".bundle.json"), "\(keys)")
        // The snapshot's manifest names its bundle, so a rebuild finds it.
        let manifestKey = try #require(keys.first { $0.hasSuffix(".manifest.json") })
        let manifestSink = DataByteSink()
        _ = try lab.client.getObject(bucket: lab.bucket, key: manifestKey, into: manifestSink)
        #expect(try OffsiteManifest.decode(manifestSink.data, key: manifestKey).bundle == local)

        // Debian's age and zstd read the object: the same bytes as the local tar.
        let objectSink = DataByteSink()
        _ = try lab.client.getObject(bucket: lab.bucket, key: objectKey, into: objectSink)
        let objectFile = lab.work.appendingPathComponent("bundle.zst.age").path
        try objectSink.data.write(to: URL(fileURLWithPath: objectFile))
        let zstFile = lab.work.appendingPathComponent("bundle.zst").path
        let decrypted = try Self.run("/usr/bin/age", ["-d", "-i", keyFile, "-o", zstFile, objectFile])
        #expect(decrypted.status == 0, "\(decrypted.output)")
        let tarFile = lab.work.appendingPathComponent("bundle.tar").path
        let decompressed = try Self.run("/usr/bin/zstd", ["-q", "-d", zstFile, "-o", tarFile])
        #expect(decompressed.status == 0, "\(decompressed.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: tarFile)) == Data(contentsOf: URL(fileURLWithPath: lab.dir + "/" + local)))
        // Encrypted: none of the fixture's key material is readable in the object.
        #expect(Self.leaked(lab.fixture, in: String(decoding: objectSink.data, as: UTF8.self)).isEmpty)

        // A second backup with nothing changed uploads no second bundle.
        try await BundleCommandTests.nextSecond(after: Date())
        let again = try lab.backup(config)
        outputs.append(again.output)
        #expect(again.status == 0 && !again.stdout.contains("uploaded bundle-"), "\(again.output)")
        #expect(try lab.keys().filter { $0.contains("/bundles/") }.count == 2)

        let list = try ConsoleBinary.run(["bundle", "list", "--remote", "--config", config, "-o", "json"], environment: lab.env)
        outputs.append(list.output)
        #expect(list.status == 0, "\(list.output)")
        let rows = try #require(try ConsoleBinary.json(list)["bundles"] as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["name"] as? String == local && rows[0]["codec"] as? String == "zstd+age"
                && rows[0]["local"] as? Bool == true && rows[0]["files"] as? Int == lab.fixture.files.count, "\(list.stdout)")

        // The master and its backups are lost: restore --rebuild on a fresh root pulls the snapshot and the
        // bundle its manifest names, then puts every file back (content, mode, owner).
        let snapshot = try #require(try FileManager.default.contentsOfDirectory(atPath: lab.dir).filter { $0.hasSuffix(".db") }.max())
        let fresh = lab.work.appendingPathComponent("fresh-backups").path
        let target = try TestDirectories.make("bundle-offsite-target").path
        // The doctor on that machine (no data dir, no local snapshot) points at the remote's copy and its bundle.
        let doctor = try ConsoleBinary.run(["doctor", "--data-dir", lab.work.appendingPathComponent("no-etcd-data").path,
                                            "--dir", fresh, "--config", config, "--discovery-root", target], environment: lab.env)
        outputs.append(doctor.output)
        #expect(doctor.stdout.contains("Recommendation: No data dir and no local snapshot: rebuild this master from the remote's newest good copy: etcd-console restore --rebuild \(snapshot)"), "\(doctor.output)")
        let rebuild = try ConsoleBinary.run(["restore", "--rebuild", "--yes", "--files-only", snapshot, "--dir", fresh, "--root", target,
                                             "--config", config], environment: lab.env)
        outputs.append(rebuild.output)
        #expect(rebuild.status == 0, "\(rebuild.output)")
        #expect(rebuild.stderr.contains("\(snapshot) is not in \(fresh); pulling it and \(local) from s3://\(lab.bucket)/bundles-test/"), "\(rebuild.stderr)")
        #expect(rebuild.stdout.contains("next: restore the snapshot's data (etcd-console restore \(fresh)/\(snapshot)), then start kubelet"), "\(rebuild.stdout)")
        #expect(FileManager.default.fileExists(atPath: fresh + "/" + snapshot) && FileManager.default.fileExists(atPath: fresh + "/" + local))
        for (path, expected) in lab.fixture.files {
            let attributes = try FileManager.default.attributesOfItem(atPath: target + path)
            #expect(attributes[.posixPermissions] as? Int == Int(expected.mode) && (attributes[.ownerAccountID] as? NSNumber)?.uint32Value == expected.uid
                    && (attributes[.groupOwnerAccountID] as? NSNumber)?.uint32Value == expected.gid, "\(path)")
            #expect(FileManager.default.contents(atPath: target + path) == FileManager.default.contents(atPath: lab.fixture.path(path)), "\(path)")
        }

        // The master's disk is lost: the bundle comes back from the bucket, byte for byte, mode 0600.
        let original = try Data(contentsOf: URL(fileURLWithPath: lab.dir + "/" + local))
        try FileManager.default.removeItem(atPath: lab.dir + "/" + local)
        let pull = try ConsoleBinary.run(["bundle", "pull", local, "--config", config], environment: lab.env)
        outputs.append(pull.output)
        #expect(pull.status == 0 && pull.stdout == lab.dir + "/" + local + "\n", "\(pull.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: lab.dir + "/" + local)) == original)
        #expect(try FileManager.default.attributesOfItem(atPath: lab.dir + "/" + local)[.posixPermissions] as? Int == 0o600)
        let show = try ConsoleBinary.run(["bundle", "show", local, "--config", config], environment: lab.env)
        #expect(show.status == 0, "\(show.output)")

        // Without the identity: a clear error, nothing written.
        try FileManager.default.removeItem(atPath: lab.dir + "/" + local)
        let noKey = try lab.config("  age-recipients: [\(identity.recipient)]")
        let refused = try ConsoleBinary.run(["bundle", "pull", local, "--config", noKey], environment: lab.env)
        #expect(refused.status == 1 && refused.stderr.contains("remote bundle \(local) is encrypted with age (recipients "), "\(refused.output)")
        #expect(refused.stderr.contains("set remote.age-identity-file (or pass --identity)"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: lab.dir + "/" + local))

        // A tampered object (same size, other bytes): refused as corrupt with both SHA-256s, nothing left behind.
        var tampered = objectSink.data
        tampered[tampered.count / 2] ^= 0xff
        _ = try lab.client.putObject(bucket: lab.bucket, key: objectKey, data: tampered)
        let corrupt = try ConsoleBinary.run(["bundle", "pull", local, "--config", config], environment: lab.env)
        outputs.append(corrupt.output)
        #expect(corrupt.status == 1 && corrupt.stderr.contains("remote bundle \(local) is corrupt: "), "\(corrupt.output)")
        let hasher = SHA256Hasher()
        hasher.update(objectSink.data)
        let goodSHA = hasher.finalize().hexString
        #expect(corrupt.stderr.contains("the manifest says \(goodSHA)") || corrupt.stderr.contains("says \(goodSHA) ("), "\(corrupt.output)")
        #expect(corrupt.stderr.contains("nothing was left behind"), "\(corrupt.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: lab.dir).filter { $0.hasPrefix(local) }.isEmpty)

        for output in outputs { #expect(Self.leaked(lab.fixture, in: output).isEmpty, "key material in \(output)") }
        await lab.stop()
    }

    @Test("Without age recipients the bundle stays local (backup warns, the snapshot still goes up); remote.bundle-unencrypted: true uploads it as .zst; bundle push refuses the same way")
    func unencrypted() async throws {
        let lab = try await Self.lab("bundle-plain")
        let plain = try lab.config("")
        let backup = try lab.backup(plain)
        #expect(backup.status == 0, "\(backup.output)")
        #expect(backup.stderr.contains("backup: warning: offsite: bundles hold private keys and remote.age-recipients is not set, so they are not copied to s3://\(lab.bucket)/bundles-test/: set remote.age-recipients"), "\(backup.stderr)")
        #expect(backup.stdout.contains("backup: offsite: uploaded snapshot-"), "\(backup.stdout)")
        #expect(try lab.keys().filter { $0.contains("/bundles/") }.isEmpty)
        let local = try #require(try FileManager.default.contentsOfDirectory(atPath: lab.dir).first { $0.hasPrefix("bundle-") && $0.hasSuffix(".tar") })

        let push = try ConsoleBinary.run(["bundle", "push", local, "--config", plain], environment: lab.env)
        #expect(push.status == 1 && push.stderr.contains("error: not uploading \(local): bundles hold private keys"), "\(push.output)")
        #expect(try lab.keys().filter { $0.contains("/bundles/") }.isEmpty)

        let allowed = try lab.config("  bundle-unencrypted: true")
        let pushed = try ConsoleBinary.run(["bundle", "push", local, "--config", allowed], environment: lab.env)
        #expect(pushed.status == 0 && pushed.stdout.hasSuffix("/bundles/\(local).zst\n"), "\(pushed.output)")
        let objectKey = try #require(try lab.keys().first { $0.hasSuffix("/bundles/\(local).zst") })
        let sink = DataByteSink()
        _ = try lab.client.getObject(bucket: lab.bucket, key: objectKey, into: sink)
        let zst = lab.work.appendingPathComponent("plain.zst").path
        try sink.data.write(to: URL(fileURLWithPath: zst))
        let tar = lab.work.appendingPathComponent("plain.tar").path
        let decompressed = try Self.run("/usr/bin/zstd", ["-q", "-d", zst, "-o", tar])
        #expect(decompressed.status == 0, "\(decompressed.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: tar)) == Data(contentsOf: URL(fileURLWithPath: lab.dir + "/" + local)))
        // Pushed again: already there, not uploaded twice.
        let again = try ConsoleBinary.run(["bundle", "push", local, "--config", allowed], environment: lab.env)
        #expect(again.status == 0 && again.stdout.hasSuffix(" (already there)\n"), "\(again.output)")
        await lab.stop()
    }

    static func leaked(_ fixture: ControlPlaneRoot, in text: String) -> [String] {
        fixture.secretLines.filter { text.contains($0) }
    }
}
