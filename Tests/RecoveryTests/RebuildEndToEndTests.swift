import EtcdClient
import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 15's whole rebuild: a master whose etcd runs from a systemd unit with certificates under its own
/// directory is backed up (snapshot + bundle); its disk is lost (data dir gone, an empty root); `restore
/// --rebuild --yes SNAPSHOT --root NEW` puts the unit and the certificates back, then restores etcd's data with
/// the settings of that unit, starts it (the practice systemctl) and checks it: etcd, reading the restored
/// certificates, serves every key of the snapshot over TLS.
@Suite("restore --rebuild end to end", .serialized)
struct RebuildEndToEndTests {
    @Test("A lost binary-install master: files back under the new root, etcd restored, started on the restored certificates, every key served over TLS")
    func lostMaster() async throws {
        let lab = try await RestoreLab.make(.v3_5, tls: true)
        defer { lab.tearDownNow() }
        let certificates = try #require(lab.certificates)
        // The old master: the unit (naming the certificates) and the certificate files at the paths it names.
        let oldRoot = try lab.writeSystemdUnit()
        let named = [certificates.serverCert, certificates.serverKey, certificates.caCert]
        for path in named {
            try FileManager.default.createDirectory(atPath: oldRoot + (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: path, toPath: oldRoot + path)
        }
        let backups = lab.root.appendingPathComponent("backups").path
        let tools = (lab.etcd.binaries.etcdctl as NSString).deletingLastPathComponent
        var env = ["PATH": lab.environment["PATH"]!, "HOME": lab.root.path]
        let backup = try EtcdConsoleBinary.run(["backup", "--root", oldRoot, "--dir", backups, "--endpoints", lab.etcd.clientURL,
                                                "--cacert", certificates.caCert, "--cert", certificates.clientCert,
                                                "--key", certificates.clientKey, "--data-dir", "/nonexistent"], environment: env)
        #expect(backup.status == 0, "\(backup.output)")
        let snapshot = try #require(try FileManager.default.contentsOfDirectory(atPath: backups).first { $0.hasSuffix(".db") })
        let expectedKeys = try await lab.contents().keys

        // The disk is lost: etcd stops, its data dir is gone; the new machine's root is empty. Its etcd (the
        // practice unit) reads its certificates under the new root, where the rebuild puts them.
        try await lab.systemctl("stop")
        try FileManager.default.moveItem(atPath: lab.dataDir, toPath: lab.dataDir + ".lost-disk")
        let newRoot = lab.root.appendingPathComponent("new-machine").path
        try FileManager.default.createDirectory(atPath: newRoot, withIntermediateDirectories: true)
        try lab.practice.define(unit: "etcd", command: lab.etcd.commandLine.map { named.contains($0) ? newRoot + $0 : $0 })
        env["PATH"] = "\(lab.practice.binDirectory):\(tools):/usr/sbin:/usr/bin:/sbin:/bin"

        let rebuild = try EtcdConsoleBinary.run(["restore", "--rebuild", "--yes", snapshot, "--dir", backups, "--root", newRoot],
                                                environment: env, timeout: .seconds(180))
        #expect(rebuild.status == 0, "\(rebuild.output)")
        #expect(rebuild.stdout.contains("rebuilt "), "\(rebuild.stdout)")
        #expect(rebuild.stdout.contains("restoring etcd's data from \(backups)/\(snapshot) with the settings under \(newRoot):"), "\(rebuild.stdout)")
        #expect(rebuild.stdout.contains("Restored \(backups)/\(snapshot) into \(lab.dataDir)."), "\(rebuild.stdout)")
        for path in named + ["/etc/systemd/system/etcd.service"] {
            #expect(FileManager.default.contents(atPath: newRoot + path) == FileManager.default.contents(atPath: oldRoot + path), "\(path)")
        }
        // etcd runs on the restored certificates and serves every key of the snapshot over TLS.
        let pid = try #require(lab.practice.pid(unit: "etcd"))
        let commandLine = try String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8).replacingOccurrences(of: "\0", with: " ")
        #expect(commandLine.contains("--cert-file=\(newRoot)\(certificates.serverCert)") || commandLine.contains("\(newRoot)\(certificates.serverCert)"), "\(commandLine)")
        let contents = try await lab.contents()
        #expect(contents.keys == expectedKeys)
        #expect(contents.hasAfterSnapshotKey)   // taken by the backup, after the lab's own snapshot
        #expect(!rebuild.output.contains("PRIVATE KEY"))
    }
}
