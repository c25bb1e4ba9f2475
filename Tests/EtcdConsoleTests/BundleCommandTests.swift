import EtcdTestSupport
import Foundation
import Operations
import Recovery
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `backup` with the control-plane bundle, and `bundle list|show|diff`, end to end: the built binary, a real etcd
/// over mutual TLS, fake roots passed with --root.
@Suite("etcd-console backup's bundle and the bundle commands, end to end")
struct BundleCommandTests {
    /// One etcd over mutual TLS for the suite, started on first use.
    actor SharedTLSEtcd {
        private var task: Task<EtcdProcess, Error>?
        func get() async throws -> EtcdProcess {
            if let task { return try await task.value }
            let task = Task {
                let certs = try TestCertificates.make()
                return try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-bundle",
                                                               tls: .mutual(cert: certs.serverCert, key: certs.serverKey, trustedCA: certs.caCert)))
            }
            self.task = task
            return try await task.value
        }
    }
    static let etcd = SharedTLSEtcd()

    /// `backup --root` with flags for the connection (the fake root's discovered TLS paths are host paths).
    static func backup(_ fixture: ControlPlaneRoot, dir: String, extra: [String] = []) async throws -> CommandResult {
        let etcd = try await etcd.get()
        let certs = try TestCertificates.make()
        return try ConsoleBinary.run(["backup", "--root", fixture.root.path, "--config", fixture.path(fixture.configFile),
                                      "--dir", dir, "--endpoints", etcd.clientURL, "--cacert", certs.caCert,
                                      "--cert", certs.clientCert, "--key", certs.clientKey, "--data-dir", "/nonexistent"] + extra,
                                     environment: ["JOURNAL_STREAM": "8:1"])
    }

    /// Waits until the wall clock is in a later second than `date` (snapshot names carry the second).
    static func nextSecond(after date: Date) async throws {
        let deadline = Date().addingTimeInterval(5)
        while Date().timeIntervalSince1970.rounded(.down) <= date.timeIntervalSince1970.rounded(.down) && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func bundles(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("bundle-") && $0.hasSuffix(".tar") }.sorted()
    }

    /// Every line of key material the fixture holds that appears in `text`.
    static func leaked(_ fixture: ControlPlaneRoot, in text: String) -> [String] {
        fixture.secretLines.filter { text.contains($0) }
    }

    @Test("A kubeadm master: the bundle is stored once, pointed at by each snapshot, listed, shown, diffed; a tampered one is refused naming the file; no key material in any output")
    func kubeadm() async throws {
        let fixture = try ControlPlaneRoot.kubeadm()
        #expect(mkfifo(fixture.path("/etc/kubernetes/pki/stuck.fifo"), 0o600) == 0)
        let dir = try TestDirectories.make("bundle-kubeadm").appendingPathComponent("backups").path
        var outputs: [String] = []

        let first = try await Self.backup(fixture, dir: dir)
        outputs.append(first.output)
        #expect(first.status == 0, "\(first.output)")
        let stored = try #require(try Self.bundles(dir).first)
        #expect(try Self.bundles(dir) == [stored])
        #expect(first.stdout.contains("backup: bundle: stored \(stored) (\(fixture.files.count) files, "), "\(first.stdout)")
        #expect(first.stderr.contains("backup: warning: bundle: could not read /etc/kubernetes/pki/stuck.fifo (under \(fixture.root.path)) (kubernetes pki): it is not a regular file (a FIFO, socket or device); the bundle goes without it"), "\(first.stderr)")
        #expect(first.stderr.contains("backup: warning: the certificate /etc/kubernetes/pki/apiserver.crt (CN=kube-apiserver) expires on "), "\(first.stderr)")
        var info = stat()
        #expect(stat(dir + "/" + stored, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let snapshot = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".db") })
        let pointer = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + snapshot + ".bundle.json"))) as? [String: Any]
        #expect(pointer?["bundle"] as? String == stored)

        try await Self.nextSecond(after: Date())
        let second = try await Self.backup(fixture, dir: dir)
        outputs.append(second.output)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.stdout.contains("backup: bundle: unchanged since \(stored) (\(fixture.files.count) files); not stored again"), "\(second.stdout)")
        #expect(try Self.bundles(dir) == [stored])

        let list = try ConsoleBinary.run(["bundle", "list", "--dir", dir, "-o", "json"])
        outputs.append(list.output)
        #expect(list.status == 0, "\(list.output)")
        let listed = try #require(try ConsoleBinary.json(list)["bundles"] as? [[String: Any]])
        #expect(listed.count == 1)
        #expect(listed.first?["name"] as? String == stored)
        #expect((listed.first?["snapshots"] as? [String])?.count == 2)
        #expect(listed.first?["files"] as? Int == fixture.files.count)
        #expect((listed.first?["expiringCertificates"] as? [[String: Any]])?.map { $0["path"] as? String } == ["/etc/kubernetes/pki/apiserver.crt"])
        let table = try ConsoleBinary.run(["bundle", "list", "--dir", dir])
        outputs.append(table.output)
        #expect(table.stdout.hasPrefix("NAME"), "\(table.output)")
        #expect(table.stdout.contains(stored))

        let show = try ConsoleBinary.run(["bundle", "show", stored, "--dir", dir])
        outputs.append(show.output)
        #expect(show.status == 0, "\(show.output)")
        for path in fixture.files.keys { #expect(show.stdout.contains(path), "\(path) not in show") }
        #expect(show.stdout.contains("    subject CN=kube-apiserver, issuer CN=kubernetes"), "\(show.stdout)")
        #expect(show.stdout.contains("    SANs DNS:kubernetes, DNS:kubernetes.default, DNS:master-1, IP:10.96.0.1, IP:10.0.0.5"))
        #expect(show.stdout.contains("(key material, not shown)"))
        #expect(show.stderr.contains("warning: the certificate /etc/kubernetes/pki/apiserver.crt (CN=kube-apiserver) expires on "))
        let showJSON = try ConsoleBinary.run(["bundle", "show", snapshot, "--dir", dir, "-o", "json"])
        outputs.append(showJSON.output)
        #expect(showJSON.status == 0, "\(showJSON.output)")
        let shown = try ConsoleBinary.json(showJSON)
        #expect(shown["name"] as? String == stored)
        let files = try #require(shown["files"] as? [[String: Any]])
        let key = try #require(files.first { $0["path"] as? String == "/etc/kubernetes/pki/etcd/server.key" })
        #expect(key["mode"] as? String == "0600" && key["uid"] as? Int == 0 && key["secret"] as? Bool == true)
        let apiserver = try #require(files.first { $0["path"] as? String == "/etc/kubernetes/pki/apiserver.crt" })
        let certificate = try #require((apiserver["certificates"] as? [[String: Any]])?.first)
        #expect(certificate["subject"] as? String == "CN=kube-apiserver")
        #expect((certificate["notAfter"] as? String)?.hasSuffix("Z") == true)

        // A change on the host: a new bundle, and the diff names it.
        try "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.0\n"
            .write(toFile: fixture.path("/etc/kubernetes/kubeadm-config.yaml"), atomically: false, encoding: .utf8)
        #expect(chmod(fixture.path("/etc/kubernetes/pki/sa.pub"), 0o600) == 0)
        try await Self.nextSecond(after: Date())
        let third = try await Self.backup(fixture, dir: dir)
        outputs.append(third.output)
        #expect(third.status == 0, "\(third.output)")
        let both = try Self.bundles(dir)
        #expect(both.count == 2 && both.first == stored, "\(both)")
        let changed = try #require(both.last)
        let diff = try ConsoleBinary.run(["bundle", "diff", stored, changed, "--dir", dir])
        outputs.append(diff.output)
        #expect(diff.status == 0, "\(diff.output)")
        #expect(diff.stdout == """
            CHANGE   PATH                                 WHAT
            changed  /etc/kubernetes/kubeadm-config.yaml  content
            changed  /etc/kubernetes/pki/sa.pub           mode 0644 -> 0600
            0 added, 0 removed, 2 changed

            """, "\(diff.stdout)")
        let diffJSON = try ConsoleBinary.json(try ConsoleBinary.run(["bundle", "diff", stored, changed, "--dir", dir, "-o", "json"]))
        #expect((diffJSON["changed"] as? [[String: Any]])?.map { $0["path"] as? String } == ["/etc/kubernetes/kubeadm-config.yaml", "/etc/kubernetes/pki/sa.pub"])
        #expect((diffJSON["added"] as? [String]) == [] && (diffJSON["removed"] as? [String]) == [])

        // Tampered: one byte of apiserver.crt inside the tar.
        let path = dir + "/" + changed
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let content = try Data(contentsOf: URL(fileURLWithPath: fixture.path("/etc/kubernetes/pki/apiserver.crt")))
        let range = try #require(bytes.range(of: content))
        bytes[range.lowerBound + 100] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        let refused = try ConsoleBinary.run(["bundle", "show", changed, "--dir", dir])
        outputs.append(refused.output)
        #expect(refused.status == 1)
        #expect(refused.stdout.isEmpty)
        #expect(refused.stderr.hasPrefix("error: the bundle \(path) is damaged: /etc/kubernetes/pki/apiserver.crt does not match its manifest (SHA-256 "), "\(refused.stderr)")
        let refusedDiff = try ConsoleBinary.run(["bundle", "diff", stored, changed, "--dir", dir])
        #expect(refusedDiff.status == 1 && refusedDiff.stderr.contains("/etc/kubernetes/pki/apiserver.crt does not match its manifest"))
        let missing = try ConsoleBinary.run(["bundle", "show", "bundle-19990101T000000Z.tar", "--dir", dir])
        #expect(missing.status == 1)
        #expect(missing.stderr == "error: no bundle \(dir)/bundle-19990101T000000Z.tar (etcd-console bundle list shows them)\n")

        // Key material: not one line of any private key, the kubeconfigs' keys or the encryption key, anywhere.
        #expect(!fixture.secretLines.isEmpty)
        let all = outputs.joined(separator: "\n")
        #expect(all.contains("kube-apiserver"))  // the outputs are really there
        #expect(Self.leaked(fixture, in: all).isEmpty, "key material printed: \(Self.leaked(fixture, in: all))")
    }

    @Test("A binary install (etcd as a systemd unit, certificates under /etc/etcd/ssl): the unit, drop-in, environment file and named certificates are kept with their modes and owners")
    func binaryInstall() async throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let dir = try TestDirectories.make("bundle-binary").appendingPathComponent("backups").path
        let result = try await Self.backup(fixture, dir: dir)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.contains("backup: warning: the certificate /etc/etcd/ssl/etcd.pem (CN=etcd-1) expires on "), "\(result.stderr)")
        let stored = try #require(try Self.bundles(dir).first)
        let show = try ConsoleBinary.run(["bundle", "show", stored, "--dir", dir, "-o", "json"])
        #expect(show.status == 0, "\(show.output)")
        let files = try #require(try ConsoleBinary.json(show)["files"] as? [[String: Any]])
        #expect(Set(files.compactMap { $0["path"] as? String }) == Set(fixture.files.keys))
        let key = try #require(files.first { $0["path"] as? String == "/etc/etcd/ssl/etcd-key.pem" })
        #expect(key["mode"] as? String == "0600" && key["uid"] as? Int == 998 && key["gid"] as? Int == 998)
        #expect(key["reason"] as? String == "etcd --key-file")
        #expect(files.first { $0["path"] as? String == "/etc/etcd/etcd.env" }?["mode"] as? String == "0640")
        let text = try ConsoleBinary.run(["bundle", "show", stored, "--dir", dir])
        #expect(text.stdout.contains("/etc/systemd/system/etcd.service.d/10-limits.conf"))
        #expect(Self.leaked(fixture, in: result.output + show.output + text.output).isEmpty)
    }

    @Test("--no-bundle keeps only the snapshot: no bundle, no pointer, no bundle line")
    func noBundle() async throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let dir = try TestDirectories.make("no-kept-files").appendingPathComponent("backups").path
        let result = try await Self.backup(fixture, dir: dir, extra: ["--no-bundle"])
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("backup: bundle") && !result.output.contains("warning: bundle") && !result.output.contains("certificate"),
                "\(result.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.allSatisfy { $0.hasSuffix(".db") || $0.hasSuffix(".meta.json") })
        let listed = try ConsoleBinary.run(["bundle", "list", "--dir", dir])
        #expect(listed.status == 0 && listed.stdout == "no bundles in \(dir)\n", "\(listed.output)")
    }

    @Test("status warns on stderr about a certificate of the newest bundle that expires within 30 days, even with etcd down; JSON gains only the optional expiringCertificates")
    func statusWarning() throws {
        let fixture = try ControlPlaneRoot.kubeadm()
        let dir = try TestDirectories.make("bundle-status").appendingPathComponent("backups").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let deployment = try EtcdDiscovery(root: fixture.root.path).discover()
        let collection = BundleSources(root: fixture.root.path, deployment: deployment).collect()
        let stored = try BundleStore(directory: dir).store(collection, root: fixture.root.path, now: Date())
        let result = try ConsoleBinary.run(["status", "--endpoints", "http://127.0.0.1:1", "--dial-timeout", "1s", "-o", "json"],
                                           environment: ["ETCD_CONSOLE_DIR": dir])
        #expect(result.status == 1)
        #expect(result.stderr.contains("warning: the certificate /etc/kubernetes/pki/apiserver.crt (CN=kube-apiserver) expires on "), "\(result.stderr)")
        #expect(result.stderr.contains("(from \(stored.name))"), "\(result.stderr)")
        let json = try ConsoleBinary.json(result)
        #expect(Set(json.keys) == ["members", "backups", "expiringCertificates"], "\(json.keys)")
        let expiring = try #require(json["expiringCertificates"] as? [[String: Any]])
        #expect(expiring.count == 1)
        #expect(expiring.first?["path"] as? String == "/etc/kubernetes/pki/apiserver.crt")
        #expect(expiring.first?["bundle"] as? String == stored.name)
        #expect((expiring.first?["notAfter"] as? String)?.hasSuffix("Z") == true)
        // No bundle, no certificate on disk: the optional key is absent, the shape as before.
        let empty = try TestDirectories.make("bundle-status-none").path
        let plain = try ConsoleBinary.run(["status", "--endpoints", "http://127.0.0.1:1", "--dial-timeout", "1s", "-o", "json"],
                                          environment: ["ETCD_CONSOLE_DIR": empty])
        #expect(!plain.stderr.contains("certificate"), "\(plain.stderr)")
        #expect(try ConsoleBinary.json(plain)["expiringCertificates"] == nil)
    }

    @Test("restore --rebuild: --dry-run lists every file it would write; the run puts each back with content, mode and owner; an existing different file is moved aside; without --yes and no terminal it refuses")
    func rebuild() async throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let dir = try TestDirectories.make("rebuild-e2e").appendingPathComponent("backups").path
        let backup = try await Self.backup(fixture, dir: dir)
        #expect(backup.status == 0, "\(backup.output)")
        let snapshot = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".db") })
        let target = try TestDirectories.make("rebuild-e2e-target").path
        try FileManager.default.createDirectory(atPath: target + "/etc/systemd/system", withIntermediateDirectories: true)
        try "[Service]\nExecStart=/usr/bin/etcd\n".write(toFile: target + "/etc/systemd/system/etcd.service", atomically: false, encoding: .utf8)

        let dryRun = try ConsoleBinary.run(["restore", "--rebuild", "--dry-run", snapshot, "--dir", dir, "--root", target])
        #expect(dryRun.status == 0, "\(dryRun.output)")
        for path in fixture.files.keys where path != "/etc/systemd/system/etcd.service" {
            #expect(dryRun.stdout.contains("  write       \(path)  "), "\(path) not in the plan: \(dryRun.stdout)")
        }
        #expect(dryRun.stdout.contains("  move aside  /etc/systemd/system/etcd.service (content) -> \(target)/etc/systemd/system/etcd.service.before-rebuild-"), "\(dryRun.stdout)")
        #expect(!FileManager.default.fileExists(atPath: target + "/etc/etcd/ssl/etcd.pem"))

        let refused = try ConsoleBinary.run(["restore", "--rebuild", snapshot, "--dir", dir, "--root", target])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("error: refusing to rebuild without confirmation: there is no terminal to ask on; pass --yes to go ahead"))
        #expect(!FileManager.default.fileExists(atPath: target + "/etc/etcd/ssl/etcd.pem"))

        let run = try ConsoleBinary.run(["restore", "--rebuild", "--yes", "--files-only", snapshot, "--dir", dir, "--root", target, "-o", "json"])
        #expect(run.status == 0, "\(run.output)")
        let json = try ConsoleBinary.json(run)
        #expect(json["applied"] as? Bool == true)
        #expect(Set(json["written"] as? [String] ?? []) == Set(fixture.files.keys))
        for (path, expected) in fixture.files {
            var info = stat()
            #expect(lstat(target + path, &info) == 0, "\(path)")
            #expect(UInt32(info.st_mode & 0o7777) == expected.mode && info.st_uid == expected.uid && info.st_gid == expected.gid, "\(path)")
            #expect(FileManager.default.contents(atPath: target + path) == FileManager.default.contents(atPath: fixture.path(path)), "\(path)")
        }
        let aside = try FileManager.default.contentsOfDirectory(atPath: target + "/etc/systemd/system").filter { $0.hasPrefix("etcd.service.before-rebuild-") }
        #expect(aside.count == 1)
        #expect(try String(contentsOfFile: target + "/etc/systemd/system/" + (aside.first ?? ""), encoding: .utf8) == "[Service]\nExecStart=/usr/bin/etcd\n")
        #expect(Self.leaked(fixture, in: dryRun.output + run.output).isEmpty)

        let bad = try ConsoleBinary.run(["restore", "--rebuild", "--yes", "snapshot-19990101T000000Z-x.db", "--dir", dir, "--root", target])
        #expect(bad.status == 1)
        #expect(bad.stderr == "error: no bundle named snapshot-19990101T000000Z-x.db in \(dir), and no snapshot there points at one (etcd-console bundle list shows them)\n", "\(bad.stderr)")
        let usage = try ConsoleBinary.run(["restore", "--root", target, snapshot])
        #expect(usage.status == 2 && usage.stderr.contains("--root, --dir and --files-only are for --rebuild"), "\(usage.output)")
    }

    /// A binary-install backup and an empty target root holding one different etcd.service (moved aside by a rebuild).
    static func rebuildLab(_ name: String) async throws -> (fixture: ControlPlaneRoot, dir: String, snapshot: String, target: String) {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let dir = try TestDirectories.make("\(name)").appendingPathComponent("backups").path
        let backup = try await Self.backup(fixture, dir: dir)
        #expect(backup.status == 0, "\(backup.output)")
        let snapshot = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".db") })
        let target = try TestDirectories.make("\(name)-target").path
        try FileManager.default.createDirectory(atPath: target + "/etc/systemd/system", withIntermediateDirectories: true)
        try "[Service]\nExecStart=/usr/bin/etcd\n".write(toFile: target + "/etc/systemd/system/etcd.service", atomically: false, encoding: .utf8)
        return (fixture, dir, snapshot, target)
    }

    /// Every path under `root`, relative, sorted.
    static func tree(_ root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).sorted()
    }

    @Test("restore --rebuild: a placement that fails half way is rolled back at once from its journal: written files gone, the moved-aside file back, a file not ours kept")
    func rebuildFailureRollsBack() async throws {
        let lab = try await Self.rebuildLab("rebuild-fail")
        let before = Self.tree(lab.target)
        // A stale .part where the last file of the plan goes: not ours, so the write of that file fails.
        // The plan's order (its JSON): the last file written, after etcd.service was moved aside.
        let dry = try ConsoleBinary.run(["restore", "--rebuild", "--dry-run", "-o", "json", lab.snapshot, "--dir", lab.dir, "--root", lab.target])
        let steps = try #require((try ConsoleBinary.json(dry)["plan"] as? [String: Any])?["steps"] as? [[String: Any]])
        let order = steps.compactMap { $0["path"] as? String }
        let last = try #require(order.last)
        let movedAt = try #require(order.firstIndex(of: "/etc/systemd/system/etcd.service"))
        #expect(movedAt < order.count - 1, "etcd.service is moved aside before the last file: \(order)")
        let parent = (lab.target + last as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: lab.target + last + ".part", contents: Data("someone else's".utf8))
        let planted = Self.tree(lab.target)

        let run = try ConsoleBinary.run(["restore", "--rebuild", "--yes", "--files-only", lab.snapshot, "--dir", lab.dir, "--root", lab.target])
        #expect(run.status == 1, "\(run.output)")
        #expect(run.stderr.contains("error: could not create \(lab.target)\(last).part"), "\(run.stderr)")
        #expect(run.stderr.contains("rolled back: moved \(lab.target)/etc/systemd/system/etcd.service.before-rebuild-"), "\(run.stderr)")
        #expect(run.stderr.contains("Rolled back: the files under \(lab.target) are as they were before the rebuild."), "\(run.stderr)")
        #expect(Self.tree(lab.target) == planted, "\(Self.tree(lab.target)) vs \(planted)")
        #expect(try String(contentsOfFile: lab.target + "/etc/systemd/system/etcd.service", encoding: .utf8) == "[Service]\nExecStart=/usr/bin/etcd\n")
        #expect(FileManager.default.contents(atPath: lab.target + last + ".part") == Data("someone else's".utf8))
        #expect(before.allSatisfy { planted.contains($0) })
        // The journal ends rolled back: the next rebuild is not refused for it.
        let journal = try #require(try BundleRebuildJournal.read(directory: lab.dir))
        #expect(journal.isRolledBack)
    }

    @Test("restore --rebuild --rollback undoes a finished rebuild (a file changed since is kept aside, not deleted); an interrupted one refuses a new run until --resume or --rollback")
    func rebuildRollbackAndResume() async throws {
        let lab = try await Self.rebuildLab("rebuild-undo")
        let before = Self.tree(lab.target)
        let run = try ConsoleBinary.run(["restore", "--rebuild", "--yes", "--files-only", lab.snapshot, "--dir", lab.dir, "--root", lab.target])
        #expect(run.status == 0, "\(run.output)")
        let changed = try #require(lab.fixture.files.keys.sorted().first { $0.hasSuffix(".conf") || $0.hasSuffix(".env") || $0.contains("etcd.conf") } ?? lab.fixture.files.keys.sorted().first)
        try Data("edited after the rebuild\n".utf8).write(to: URL(fileURLWithPath: lab.target + changed))

        let refused = try ConsoleBinary.run(["restore", "--rebuild", "--rollback", "--dir", lab.dir])
        #expect(refused.status == 2 && refused.stderr.contains("refusing to roll back without confirmation"), "\(refused.output)")
        let undo = try ConsoleBinary.run(["restore", "--rebuild", "--rollback", "--yes", "--dir", lab.dir])
        #expect(undo.status == 0, "\(undo.output)")
        #expect(undo.stdout.contains("\(lab.target)\(changed) changed after the rebuild: kept at \(lab.target)\(changed).after-rebuild-"), "\(undo.stdout)")
        #expect(undo.stdout.contains("Rolled back the rebuild of "), "\(undo.stdout)")
        // As before, but for the edited file kept aside (and the directories that hold it).
        let keptAside = try #require(Self.tree(lab.target).first { $0.contains(".after-rebuild-") })
        var ancestors = Set<String>()
        var up = (keptAside as NSString).deletingLastPathComponent
        while !up.isEmpty && up != "." && up != "/" { ancestors.insert(up); up = (up as NSString).deletingLastPathComponent }
        #expect(Set(Self.tree(lab.target)) == Set(before).union([keptAside]).union(ancestors), "\(Self.tree(lab.target)) vs \(before)")
        #expect(try String(contentsOfFile: lab.target + "/etc/systemd/system/etcd.service", encoding: .utf8) == "[Service]\nExecStart=/usr/bin/etcd\n")
        #expect(FileManager.default.contents(atPath: lab.target + "/" + keptAside) == Data("edited after the rebuild\n".utf8))
        let again = try ConsoleBinary.run(["restore", "--rebuild", "--rollback", "--yes", "--dir", lab.dir])
        #expect(again.status == 1 && again.stderr.contains("was already rolled back"), "\(again.output)")

        // An interrupted rebuild (its journal has no end): a new run is refused; --resume goes on.
        let path = BundleRebuildJournal.path(directory: lab.dir)
        let complete = try ConsoleBinary.run(["restore", "--rebuild", "--yes", "--files-only", lab.snapshot, "--dir", lab.dir, "--root", lab.target])
        #expect(complete.status == 0, "\(complete.output)")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        try (lines.dropLast().joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let blocked = try ConsoleBinary.run(["restore", "--rebuild", "--yes", "--files-only", lab.snapshot, "--dir", lab.dir, "--root", lab.target])
        #expect(blocked.status == 1 && blocked.stderr.contains("error: an unfinished rebuild of "), "\(blocked.output)")
        #expect(blocked.stderr.contains("restore --rebuild --resume \(lab.snapshot)"), "\(blocked.stderr)")
        let resumed = try ConsoleBinary.run(["restore", "--rebuild", "--resume", "--yes", "--files-only", lab.snapshot, "--dir", lab.dir, "--root", lab.target])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try #require(try BundleRebuildJournal.read(directory: lab.dir)).isFinished)
    }
}
