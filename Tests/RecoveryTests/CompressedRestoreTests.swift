import EtcdTestSupport
import Foundation
import Testing

/// `restore` of a `.db.zst` (issue 14): decompressed beside it into a hidden copy the restore tool reads, the
/// restore journaled and checked as for a plain file, the copy removed once it succeeded. Real etcd, the practice
/// systemctl, Debian's zstd making the file.
@Suite("Restore from a compressed snapshot", .serialized)
struct CompressedRestoreTests {
    @Test("restore --yes SNAPSHOT.db.zst: every key of the snapshot back, the old data dir moved aside, the decompressed copy removed")
    func restoreCompressed() async throws {
        let lab = try await RestoreLab.make(.v3_5)
        defer { lab.tearDownNow() }
        let packed = lab.root.appendingPathComponent("snapshot-20261202T120000Z-master.db.zst").path
        let zstd = try runCommand("/usr/bin/zstd", ["-q", lab.snapshot, "-o", packed])
        #expect(zstd.status == 0, "\(zstd.output)")
        let env = ["PATH": lab.environment["PATH"]!]
        let flags = ["--data-dir", lab.dataDir, "--name", "master", "--initial-cluster", "master=\(lab.etcd.peerURL)",
                     "--initial-advertise-peer-urls", lab.etcd.peerURL, "--initial-cluster-token", "etcd-console-test",
                     "--endpoints", lab.etcd.clientURL]
        let dryRun = try EtcdConsoleBinary.run(["restore", packed, "--dry-run"] + flags, environment: env)
        let copy = lab.root.appendingPathComponent(".snapshot-20261202T120000Z-master.db.restore").path
        #expect(dryRun.status == 0, "\(dryRun.output)")
        #expect(dryRun.stdout.contains("\(packed) is compressed: the restore uses its decompressed copy \(copy)"), "\(dryRun.stdout)")
        #expect(dryRun.stdout.contains("snapshot restore \(copy) --data-dir \(lab.dataDir)"), "\(dryRun.stdout)")

        let result = try EtcdConsoleBinary.run(["restore", packed, "--yes"] + flags, environment: env, timeout: .seconds(180))
        #expect(result.status == 0, "\(result.output)")
        let contents = try await lab.contents()
        #expect(contents.keys == lab.snapshotKeys)
        #expect(!contents.hasAfterSnapshotKey)
        #expect(!FileManager.default.fileExists(atPath: copy))
        let aside = try FileManager.default.contentsOfDirectory(atPath: (lab.dataDir as NSString).deletingLastPathComponent)
            .filter { $0.hasPrefix("data.before-restore-") }
        #expect(aside.count == 1)
    }
}
