import EtcdTestSupport
import Foundation
import ObjectStore
import SnapshotStore
import Testing

/// The offsite commands end to end: the built binary, a config file with a `remote:` section, the AWS_* keys
/// in the environment, a real etcd and a real SeaweedFS.
@Suite("Offsite copies from the command line", .serialized)
struct OffsiteCommandTests {
    @Test("backup uploads; list --remote shows both; config show masks the secret; verify --remote; restore of a remote name pulls it; a wrong secret is named")
    func endToEnd() async throws {
        let server = try await SeaweedFS.start()
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "offsite-cli"))
        let work = try TestDirectories.make("offsite-cli")
        let dir = work.appendingPathComponent("backups").path
        let client = try S3Client(endpoint: server.endpoint, credentials: S3Credentials(
            accessKeyId: server.accessKey, secretAccessKey: server.secretKey, source: "test"))
        let bucket = "cli-\(getpid())"
        try await retrying { try client.createBucket(bucket) }   // the filer may need a moment after the S3 port answers
        let identity = AgeIdentity.generate()
        let keyFile = work.appendingPathComponent("age.key").path
        try Data((identity.secretKeyString + "\n").utf8).write(to: URL(fileURLWithPath: keyFile))
        let config = work.appendingPathComponent("config.yaml").path
        try Data("""
            endpoints: [\(etcd.clientURL)]
            dir: \(dir)
            data-dir: /nonexistent
            remote:
              endpoint: \(server.endpoint)
              bucket: \(bucket)
              prefix: cli
              age-recipients: [\(identity.recipient)]
              age-identity-file: \(keyFile)
            """.utf8).write(to: URL(fileURLWithPath: config))
        let env = ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey, "HOME": work.path]

        let backup = try ConsoleBinary.run(["backup", "--config", config], environment: env)
        #expect(backup.status == 0, "\(backup.output)")
        #expect(backup.stdout.contains("backup: offsite: uploaded snapshot-"), "\(backup.output)")
        let name = try #require(try SnapshotCatalog.standard(directory: dir).list().entries.first?.name)

        let list = try ConsoleBinary.run(["snapshot", "list", "--remote", "--config", config, "-o", "json"], environment: env)
        #expect(list.status == 0, "\(list.output)")
        let rows = try #require(try ConsoleBinary.json(list)["snapshots"] as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["name"] as? String == name && rows[0]["location"] as? String == "both"
                && rows[0]["codec"] as? String == "zstd+age", "\(list.stdout)")

        let show = try ConsoleBinary.run(["config", "show", "--config", config], environment: env)
        #expect(show.stdout.contains("remote credentials: access key \(server.accessKey), secret **** (from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"), "\(show.output)")
        #expect(!show.output.contains(server.secretKey))
        #expect(show.stdout.contains("remote.endpoint") && show.stdout.contains("\(config):5"), "\(show.stdout)")

        let verify = try ConsoleBinary.run(["snapshot", "verify", "--remote", name, "--config", config], environment: env)
        #expect(verify.status == 0 && verify.stdout.hasPrefix("\(name): good (s3://\(bucket)/cli/"), "\(verify.output)")

        // The local copy is lost: restore takes the remote name, pulls it (checked, verified) and plans from it.
        try FileManager.default.removeItem(atPath: dir + "/" + name)
        try FileManager.default.removeItem(atPath: dir + "/" + name + ".meta.json")
        let tools = (try #require(try EtcdBinaries.locate(.v3_5).etcdutl) as NSString).deletingLastPathComponent
        let root = try TestDirectories.make("offsite-cli-root").path
        var restoreEnv = env
        restoreEnv["PATH"] = "\(tools):/usr/bin:/bin"
        let restore = try ConsoleBinary.run(["restore", name, "--dry-run", "--config", config, "--discovery-root", root], environment: restoreEnv)
        #expect(restore.stderr.contains("\(name) is not a local file; pulling it from s3://\(bucket)/cli/"), "\(restore.output)")
        #expect(restore.stdout.hasPrefix("Restore \(dir)/\(name) into "), "\(restore.output)")
        #expect(restore.status == 0, "\(restore.output)")
        #expect(FileManager.default.fileExists(atPath: dir + "/" + name + ".meta.json"))

        var wrong = env
        wrong["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        let push = try ConsoleBinary.run(["snapshot", "push", name, "--config", config], environment: wrong)
        #expect(push.status == 1 && push.stderr.contains("SignatureDoesNotMatch (HTTP 403): the secret access key for \(server.accessKey) (from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) is wrong"), "\(push.output)")
        #expect(!push.output.contains("not-the-secret"))

        await etcd.stop()
        await server.stop()
    }
}
