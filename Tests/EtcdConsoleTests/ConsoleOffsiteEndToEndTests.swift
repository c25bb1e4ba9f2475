import EtcdTestSupport
import Foundation
import ObjectStore
import SnapshotStore
import Testing

/// The console with a remote configured, against a real etcd and a real SeaweedFS, in tmux (80x24; 120x40 to read a whole S3 error).
@Suite("Console offsite copies end to end in tmux", .serialized)
struct ConsoleOffsiteEndToEndTests {
    @Test("n with a remote: the save, then its upload job on Jobs until done; the object and manifest are in the bucket; the row says both; lost locally it is remote only, v verifies it, P pulls it back, R pulls and opens the wizard")
    func saveUploads() async throws {
        let server = try await SeaweedFS.start()
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-offsite"))
        defer { etcd.stopNow() }
        let work = try TestDirectories.make("console-offsite")
        let dir = work.appendingPathComponent("backups").path
        let client = try S3Client(endpoint: server.endpoint, credentials: S3Credentials(
            accessKeyId: server.accessKey, secretAccessKey: server.secretKey, source: "test"))
        let bucket = "console-\(getpid())"
        try await retrying { try client.createBucket(bucket) }
        let config = work.appendingPathComponent("config.yaml").path
        try Data("""
            remote:
              endpoint: \(server.endpoint)
              bucket: \(bucket)
              prefix: ui
            """.utf8).write(to: URL(fileURLWithPath: config))
        let env = ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey, "HOME": work.path]
        let tmux = try TmuxSession(["--endpoints", etcd.clientURL, "--dir", dir, "--data-dir", etcd.dataDir.path, "--config", config],
                                   environment: env)

        try await tmux.waitFor("1/1 members healthy")
        try tmux.press("2")
        try await tmux.waitFor("press n to take one now")   // the directory's path is too long for 80 columns
        try tmux.press("n")
        try tmux.press("3")
        let jobs = try await tmux.waitUntil("the upload job done") { screen in
            screen.split(separator: "\n").contains { $0.dropFirst().hasPrefix("upload ") && $0.contains("succeeded") }
        }
        #expect(jobs.contains("uploaded snapshot-"), "\(jobs)")
        #expect(jobs.split(separator: "\n").contains { $0.dropFirst().hasPrefix("save ") && $0.contains("succeeded") }, "\(jobs)")

        let name = try #require(try SnapshotCatalog.standard(directory: dir).list().entries.first?.name)
        let keys = try await retrying(for: .seconds(30)) { () throws -> [String] in
            let keys = try client.listAllObjects(bucket: bucket, prefix: "ui/").map(\.key)
            guard keys.contains(where: { $0.hasSuffix(".db.zst.manifest.json") }) else { throw EtcdTestSupportError("no manifest yet: \(keys)") }
            return keys
        }
        #expect(keys.count == 2 && keys.contains { $0.hasSuffix(".db.zst") }, "\(keys)")

        try tmux.press("2")
        let list = try await tmux.waitUntil("the row in both places") { screen in
            screen.split(separator: "\n").contains { $0.contains(String(name.prefix(30))) && $0.contains("both") }
        }
        #expect(list.contains("WHERE"), "\(list)")
        #expect(list.contains("offsite (zstd, ") && list.contains("): ui/"), "detail names the object: \(list)")

        // The local copy is lost: after r the row is remote only; v verifies it streamed, P pulls it back.
        try FileManager.default.removeItem(atPath: dir + "/" + name)
        try FileManager.default.removeItem(atPath: dir + "/" + name + ".meta.json")
        try tmux.press("r")
        try await tmux.waitUntil("the row remote only") { screen in
            screen.split(separator: "\n").contains { $0.contains(String(name.prefix(30))) && $0.contains("remote") }
        }
        try tmux.press("Enter")
        try await tmux.waitFor("is only in the bucket: browse")
        try tmux.press("v")
        try tmux.press("3")
        let verified = try await tmux.waitUntil("the remote verify done") { screen in
            screen.split(separator: "\n").contains { $0.dropFirst().hasPrefix("verify (remote) ") && $0.contains("succeeded") }
        }
        #expect(verified.contains("SHA-256 match the manifest"), "\(verified)")
        try tmux.press("2")
        try tmux.press("P")
        try await tmux.waitUntil("the row in both places again") { screen in
            screen.split(separator: "\n").contains { $0.contains(String(name.prefix(30))) && $0.contains("both") }
        }
        #expect(SnapshotVerifier.verify(path: dir + "/" + name).health == .good)

        // Lost again: R on the remote row pulls it, then the restore wizard opens on the pulled file.
        try FileManager.default.removeItem(atPath: dir + "/" + name)
        try FileManager.default.removeItem(atPath: dir + "/" + name + ".meta.json")
        try tmux.press("r")
        try await tmux.waitUntil("the row remote only again") { screen in
            screen.split(separator: "\n").contains { $0.contains(String(name.prefix(30))) && $0.contains("remote") }
        }
        try tmux.press("R")
        try await tmux.waitFor("Restore \(name)")
        #expect(FileManager.default.fileExists(atPath: dir + "/" + name), "pulled before the wizard opened")
        try tmux.press("Escape")
        try await tmux.waitFor("WHERE")
        try tmux.press("q")
        try await tmux.waitFor("EXITED 0")
        await etcd.stop()
        await server.stop()
    }

    @Test("n with a missing bucket: the save succeeds, its upload job fails naming NoSuchBucket, the snapshot stays and is not offsite")
    func uploadFails() async throws {
        let server = try await SeaweedFS.start()
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-nobucket"))
        defer { etcd.stopNow() }
        let work = try TestDirectories.make("console-nobucket")
        let dir = work.appendingPathComponent("backups").path
        let bucket = "missing-\(getpid())"
        let config = work.appendingPathComponent("config.yaml").path
        try Data("""
            remote:
              endpoint: \(server.endpoint)
              bucket: \(bucket)
            """.utf8).write(to: URL(fileURLWithPath: config))
        let env = ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey, "HOME": work.path]
        let tmux = try TmuxSession(["--endpoints", etcd.clientURL, "--dir", dir, "--data-dir", etcd.dataDir.path, "--config", config],
                                   width: 120, height: 40, environment: env)
        try await tmux.waitFor("1/1 members healthy")
        try tmux.press("2")
        try await tmux.waitFor("press n to take one now")
        try tmux.press("n")
        try tmux.press("3")
        let jobs = try await tmux.waitUntil("the upload job failed") { screen in
            screen.split(separator: "\n").contains { $0.dropFirst().hasPrefix("upload ") && $0.contains("failed") }
        }
        #expect(jobs.contains("NoSuchBucket"), "\(jobs)")
        let name = try #require(try SnapshotCatalog.standard(directory: dir).list().entries.first?.name)
        try tmux.press("2")
        let list = try await tmux.waitUntil("the row not offsite") { screen in
            screen.split(separator: "\n").contains { $0.contains(String(name.prefix(30))) && $0.contains("not offsite") }
        }
        #expect(list.contains("not offsite: upload failed (the local copy is kept)") && list.contains("NoSuchBucket"), "\(list)")
        #expect(list.contains("! no offsite copy yet"), "the header warns: \(list)")
        try tmux.press("q")
        try await tmux.waitFor("EXITED 0")
        await etcd.stop()
        await server.stop()
    }
}
