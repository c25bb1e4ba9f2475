import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `compression: zstd` (issue 14): local snapshots as `.db.zst`, read transparently by every reader, with
/// Debian's `zstd` as the reference tool both ways. The built binary and a real etcd.
@Suite("Local zstd-compressed snapshots", .serialized)
struct LocalCompressionTests {
    static func sha256(_ path: String) throws -> String {
        let hasher = SHA256Hasher()
        hasher.update(try Data(contentsOf: URL(fileURLWithPath: path)))
        return hasher.finalize().hexString
    }

    static func zstd(_ arguments: [String]) throws -> CommandResult {
        try runCommand("/usr/bin/zstd", arguments)
    }

    @Test("backup with compression: zstd writes only a .db.zst; zstd -d gives the snapshot back (SHA-256 as the sidecar says); verify, list, inspect and diff read it as the plain file; a zstd-CLI-made .db.zst reads too")
    func roundTrip() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "zst"))
        let work = try TestDirectories.make("local-zstd")
        let dir = work.appendingPathComponent("backups").path
        let fill = try ConsoleBinary.run(["fill", "--endpoints", etcd.clientURL, "--count", "300"])
        #expect(fill.status == 0, "\(fill.output)")
        let config = work.appendingPathComponent("config.yaml").path
        try Data("endpoints: [\(etcd.clientURL)]\ndir: \(dir)\ndata-dir: /nonexistent\ncompression: zstd\ncompression-level: 5\n".utf8)
            .write(to: URL(fileURLWithPath: config))
        let backup = try ConsoleBinary.run(["backup", "--config", config, "--no-bundle"])
        #expect(backup.status == 0, "\(backup.output)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        let packed = try #require(files.first { $0.hasSuffix(".db.zst") }, "\(files)")
        #expect(!files.contains { $0.hasSuffix(".db") }, "\(files)")
        #expect(backup.stdout.contains("compressed into \(packed) ("), "\(backup.stdout)")
        var info = stat()
        #expect(stat(dir + "/" + packed, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let sidecar = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + packed + ".meta.json"))) as? [String: Any])

        // The reference tool reads our file: the snapshot as etcd sent it, trailer and all.
        let plain = work.appendingPathComponent("plain.db").path
        let unpacked = try Self.zstd(["-q", "-d", dir + "/" + packed, "-o", plain])
        #expect(unpacked.status == 0, "\(unpacked.output)")
        let verifyPlain = try ConsoleBinary.run(["snapshot", "verify", plain, "-o", "json"])
        #expect(verifyPlain.status == 0, "\(verifyPlain.output)")
        let plainSHA = try #require(try ConsoleBinary.json(verifyPlain)["sha256"] as? String)
        #expect(sidecar["sha256"] as? String == plainSHA)
        #expect(sidecar["size"] as? Int == Int(info.st_size))

        let verify = try ConsoleBinary.run(["snapshot", "verify", dir + "/" + packed, "-o", "json"])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(try ConsoleBinary.json(verify)["sha256"] as? String == plainSHA)
        let list = try ConsoleBinary.run(["snapshot", "list", "--dir", dir, "-o", "json"])
        let rows = try #require(try ConsoleBinary.json(list)["snapshots"] as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["name"] as? String == packed && rows[0]["health"] as? String == "good", "\(list.stdout)")

        let inspectPacked = try ConsoleBinary.run(["snapshot", "inspect", dir + "/" + packed, "-o", "json"])
        let inspectPlain = try ConsoleBinary.run(["snapshot", "inspect", plain, "-o", "json"])
        #expect(inspectPacked.status == 0, "\(inspectPacked.output)")
        let a = try ConsoleBinary.json(inspectPacked), b = try ConsoleBinary.json(inspectPlain)
        #expect(NSDictionary(dictionary: a["resources"] as? [String: Any] ?? [:]) == NSDictionary(dictionary: b["resources"] as? [String: Any] ?? [:]))
        #expect((a["resources"] as? [String: Any])?.isEmpty == false, "\(inspectPacked.stdout)")
        let diff = try ConsoleBinary.run(["snapshot", "diff", plain, dir + "/" + packed])
        #expect(diff.status == 0 && !diff.output.contains("error"), "\(diff.output)")
        let browse = try ConsoleBinary.run(["snapshot", "browse", dir + "/" + packed, "-o", "json"])
        #expect(browse.status == 0 && browse.stdout.contains("/registry/"), "\(browse.output.prefix(500))")

        // A .db.zst made by the zstd CLI (its own frame format choices) from a plain snapshot.
        let cli = work.appendingPathComponent("by-cli.db.zst").path
        #expect(try Self.zstd(["-q", "-19", plain, "-o", cli]).status == 0)
        let verifyCLI = try ConsoleBinary.run(["snapshot", "verify", cli, "-o", "json"])
        let cliSHA = try ConsoleBinary.json(verifyCLI)["sha256"] as? String
        #expect(verifyCLI.status == 0 && cliSHA == plainSHA, "\(verifyCLI.output)")
        await etcd.stop()
    }

    @Test("Damaged .db.zst files get specific errors naming the file: truncated, a flipped byte, not zstd at all, a planted symbolic link")
    func damaged() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "zst-bad"))
        let work = try TestDirectories.make("local-zstd-bad")
        _ = try ConsoleBinary.run(["fill", "--endpoints", etcd.clientURL, "--count", "100"])
        let good = work.appendingPathComponent("good.db.zst").path
        let save = try ConsoleBinary.run(["snapshot", "save", "--endpoints", etcd.clientURL, "--file", good, "--data-dir", "/nonexistent"])
        #expect(save.status == 0 && save.stdout == good + "\n", "\(save.output)")
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("good.db").path))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))

        let truncated = work.appendingPathComponent("truncated.db.zst").path
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        let t = try ConsoleBinary.run(["snapshot", "verify", truncated])
        #expect(t.status == 1 && t.output.contains("\(truncated) is truncated: the zstd data ends inside a frame"), "\(t.output)")

        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x5a
        let damaged = work.appendingPathComponent("flipped.db.zst").path
        try flipped.write(to: URL(fileURLWithPath: damaged))
        let f = try ConsoleBinary.run(["snapshot", "verify", damaged])
        #expect(f.status == 1 && f.output.contains(damaged), "\(f.output)")
        #expect(f.output.contains("corrupt") || f.output.contains("damaged") || f.output.contains("mismatch"), "\(f.output)")

        let notZstd = work.appendingPathComponent("plain-named.db.zst").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: notZstd))
        let n = try ConsoleBinary.run(["snapshot", "verify", notZstd])
        #expect(n.status == 1 && n.output.contains("\(notZstd) is not valid zstd data or is damaged"), "\(n.output)")

        let victim = try SymlinkVictim(in: work)
        let link = work.appendingPathComponent("planted.db.zst").path
        try victim.plant(at: link)
        let l = try ConsoleBinary.run(["snapshot", "verify", link])
        #expect(l.status != 0 && l.output.contains("refusing to open \(link): it is a symbolic link"), "\(l.output)")
        #expect(victim.isUnchanged)
        await etcd.stop()
    }
}
