import EtcdTestSupport
import Foundation
import Operations
import Recovery
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The control-plane bundle on real files under fake roots: what is collected, the tar round trip, dedup,
/// tampering, unreadable files, planted links, certificates read by OpenSSL and their expiry.
@Suite("Control-plane bundle")
struct BundleTests {
    static func sources(_ fixture: ControlPlaneRoot) throws -> BundleSources {
        let deployment = try EtcdDiscovery(root: fixture.root.path).discover()
        return BundleSources(root: fixture.root.path, deployment: deployment,
                             ownFiles: [(fixture.path(fixture.configFile), "etcd-console config")])
    }

    static func snapshotDir(_ name: String) throws -> String {
        let dir = try TestDirectories.make(name).appendingPathComponent("backups").path
        try SafeFile.createDirectory(dir)
        return dir
    }

    @Test("A kubeadm master's bundle holds pki (etcd/ included), kubeconfigs, manifests, the encryption config, kubeadm's and etcd-console's config")
    func kubeadmSources() throws {
        let fixture = try ControlPlaneRoot.kubeadm()
        let collection = try Self.sources(fixture).collect()
        #expect(collection.warnings.isEmpty, "\(collection.warnings)")
        #expect(Set(collection.files.map(\.file.path)) == Set(fixture.files.keys))
        let reasons = Dictionary(uniqueKeysWithValues: collection.files.map { ($0.file.path, $0.file.reason) })
        #expect(reasons["/etc/kubernetes/pki/etcd/server.key"] == "kubernetes pki")
        #expect(reasons["/etc/kubernetes/enc/encryption-config.yaml"] == "API server encryption config (--encryption-provider-config)")
        #expect(reasons["/etc/kubernetes/kubeadm-config.yaml"] == "kubeadm config")
        #expect(reasons["/etc/kubernetes/manifests/etcd.yaml"] == "static pod manifest")
        #expect(reasons["/etc/etcd-console/config.yaml"] == "etcd-console config")
        let secrets = Set(collection.files.filter(\.file.secret).map(\.file.path))
        #expect(Set(fixture.secretFiles).isSubset(of: secrets), "\(secrets)")
        // The host's own config is kept also when this run read none (a rescue system reading the disk).
        var withoutConfig = try Self.sources(fixture)
        withoutConfig.ownFiles = []
        #expect(withoutConfig.collect().files.map(\.file.path).contains("/etc/etcd-console/config.yaml"))
        // etcd-console's files outside a --root belong to the system doing the reading: left out.
        var outside = try Self.sources(fixture)
        outside.ownFiles = [("/etc/hostname", "etcd-console --cacert")]
        #expect(!outside.collect().files.map(\.file.path).contains("/etc/hostname"))
    }

    @Test("A binary install's bundle holds the etcd unit, its drop-in and environment file, and the certificates the unit names under /etc/etcd/ssl")
    func binaryInstallSources() throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let collection = try Self.sources(fixture).collect()
        #expect(collection.warnings.isEmpty, "\(collection.warnings)")
        #expect(Set(collection.files.map(\.file.path)) == Set(fixture.files.keys))
        let key = try #require(collection.files.first { $0.file.path == "/etc/etcd/ssl/etcd-key.pem" }?.file)
        #expect(key.reason == "etcd --key-file")
        #expect(key.mode == "0600" && key.uid == 998 && key.gid == 998 && key.secret)
        let unit = try #require(collection.files.first { $0.file.path == "/etc/systemd/system/etcd.service" }?.file)
        #expect(unit.reason == "etcd unit")
        #expect(collection.files.first { $0.file.path == "/etc/systemd/system/etcd.service.d/10-limits.conf" }?.file.reason == "etcd unit drop-in")
        #expect(collection.files.first { $0.file.path == "/etc/etcd/etcd.env" }?.file.reason == "etcd environment file")
        let ssl = try #require(collection.directories.first { $0.path == "/etc/etcd/ssl" })
        #expect(ssl.mode == "0700" && ssl.uid == 998 && ssl.gid == 998)
        #expect(collection.directories.map(\.path) == ["/etc", "/etc/etcd", "/etc/etcd-console", "/etc/etcd/ssl", "/etc/systemd",
                                                        "/etc/systemd/system", "/etc/systemd/system/etcd.service.d"])
        // A directory's mode is part of the contents: changing it stores a new bundle.
        let store = BundleStore(directory: try Self.snapshotDir("bundle-dir-mode"))
        let first = try store.store(collection, root: fixture.root.path, now: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(chmod(fixture.path("/etc/etcd/ssl"), 0o750) == 0)
        let second = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date(timeIntervalSince1970: 1_800_000_060))
        #expect(!second.reused && second.name != first.name)
        #expect(try store.open(second.name).manifest.directories.first { $0.path == "/etc/etcd/ssl" }?.mode == "0750")
        #expect(BundleDiff(from: first.manifest, to: second.manifest).changed == [.init(path: "/etc/etcd/ssl/", what: ["mode 0700 -> 0750"])])
    }

    @Test("Round trip: every file comes back from the tar with its content, mode and owner, and GNU tar reads the same")
    func roundTrip() throws {
        for fixture in [try ControlPlaneRoot.kubeadm(), try ControlPlaneRoot.binaryInstall()] {
            let dir = try Self.snapshotDir("bundle-round-trip")
            let store = BundleStore(directory: dir)
            let stored = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date())
            #expect(!stored.reused)
            var info = stat()
            #expect(lstat(dir + "/" + stored.name, &info) == 0 && info.st_mode & 0o777 == 0o600)
            let opened = try store.open(stored.name)
            #expect(Set(opened.contents.keys) == Set(fixture.files.keys))
            for (path, expected) in fixture.files {
                let original = try Data(contentsOf: URL(fileURLWithPath: fixture.path(path)))
                #expect(opened.contents[path] == original, "\(path)")
                let entry = try #require(opened.manifest.file(path))
                #expect(entry.permissions == expected.mode && entry.uid == expected.uid && entry.gid == expected.gid, "\(path): \(entry)")
                #expect(entry.size == original.count)
            }
            // The same bytes, modes and owners through GNU tar.
            let out = try TestDirectories.make("bundle-untar")
            let untar = try runCommand("/usr/bin/tar", ["-xpf", dir + "/" + stored.name, "--numeric-owner", "-C", out.path])
            #expect(untar.succeeded, "\(untar.output)")
            for (path, expected) in fixture.files {
                let extracted = out.path + path
                #expect(FileManager.default.contents(atPath: extracted) == FileManager.default.contents(atPath: fixture.path(path)), "\(path)")
                #expect(lstat(extracted, &info) == 0)
                #expect(UInt32(info.st_mode & 0o7777) == expected.mode && info.st_uid == expected.uid && info.st_gid == expected.gid, "\(path)")
            }
        }
    }

    @Test("An unchanged host stores no new bundle; a changed file, mode or owner stores one, and the diff names each change")
    func unchangedAndChanged() throws {
        let fixture = try ControlPlaneRoot.kubeadm()
        let dir = try Self.snapshotDir("bundle-dedup")
        let store = BundleStore(directory: dir)
        let first = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date(timeIntervalSince1970: 1_800_000_000))
        let again = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date(timeIntervalSince1970: 1_800_000_600))
        #expect(again.reused && again.name == first.name)
        #expect(store.names() == [first.name])

        try "kubernetesVersion: v1.31.0\n".write(toFile: fixture.path("/etc/kubernetes/kubeadm-config.yaml"), atomically: false, encoding: .utf8)
        #expect(chmod(fixture.path("/etc/kubernetes/pki/ca.crt"), 0o600) == 0)
        #expect(chown(fixture.path("/etc/kubernetes/pki/sa.pub"), 998, 998) == 0)
        #expect(unlink(fixture.path("/etc/kubernetes/manifests/kube-scheduler.yaml")) == 0)
        try "x: 1\n".write(toFile: fixture.path("/etc/kubernetes/pki/new.txt"), atomically: false, encoding: .utf8)
        let changed = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date(timeIntervalSince1970: 1_800_001_200))
        #expect(!changed.reused && changed.name != first.name)
        #expect(store.names() == [first.name, changed.name])

        let diff = BundleDiff(from: try store.open(first.name).manifest, to: try store.open(changed.name).manifest)
        #expect(diff.added.map(\.path) == ["/etc/kubernetes/pki/new.txt"])
        #expect(diff.removed.map(\.path) == ["/etc/kubernetes/manifests/kube-scheduler.yaml"])
        #expect(diff.changed == [
            .init(path: "/etc/kubernetes/kubeadm-config.yaml", what: ["content"]),
            .init(path: "/etc/kubernetes/pki/ca.crt", what: ["mode 0644 -> 0600"]),
            .init(path: "/etc/kubernetes/pki/sa.pub", what: ["owner root:root -> \(BundleTests.owner(998, 998))"]),
        ])
    }

    static func owner(_ uid: uid_t, _ gid: gid_t) -> String {
        let user = getpwuid(uid).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? String(uid)
        let group = getgrgid(gid).flatMap { $0.pointee.gr_name.map { String(cString: $0) } } ?? String(gid)
        return "\(user):\(group)"
    }

    @Test("A tampered bundle is refused, naming the file whose bytes do not match the manifest's SHA-256")
    func tampered() throws {
        let fixture = try ControlPlaneRoot.kubeadm()
        let dir = try Self.snapshotDir("bundle-tampered")
        let store = BundleStore(directory: dir)
        let stored = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date())
        let path = dir + "/" + stored.name
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let content = try Data(contentsOf: URL(fileURLWithPath: fixture.path("/etc/kubernetes/pki/apiserver.crt")))
        let range = try #require(bytes.range(of: content))
        let index = range.lowerBound + content.count / 2
        bytes[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        try bytes.write(to: URL(fileURLWithPath: path))
        let expected = stored.manifest.file("/etc/kubernetes/pki/apiserver.crt")!.sha256
        #expect { _ = try store.open(stored.name) } throws: { error in
            guard let error = error as? BundleError, error.kind == .damaged else { return false }
            return error.message.hasPrefix("the bundle \(path) is damaged: /etc/kubernetes/pki/apiserver.crt does not match its manifest (SHA-256 ")
                && error.message.hasSuffix("; the manifest records \(expected), \(content.count) bytes)")
        }
        // A damaged bundle is not reused by the next backup: a new one is written.
        let next = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date().addingTimeInterval(5))
        #expect(!next.reused && next.replacedDamaged?.contains("apiserver.crt does not match") == true)

        // Truncated: the archive ends inside a member.
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: path))
        #expect { _ = try store.open(stored.name) } throws: { error in
            (error as? BundleError)?.message.hasPrefix("the bundle \(path) is damaged: it ends inside ") == true
        }
        // A header's checksum.
        var header = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + next.name))
        header[10] ^= 0x20
        try header.write(to: URL(fileURLWithPath: path))
        #expect { _ = try store.open(stored.name) } throws: { error in
            (error as? BundleError)?.message.contains("has a wrong checksum (damaged)") == true
        }
    }

    @Test("A file that cannot be read is a warning naming it; every other file is still kept")
    func unreadable() throws {
        let fixture = try ControlPlaneRoot.kubeadm()
        #expect(mkfifo(fixture.path("/etc/kubernetes/pki/stuck.fifo"), 0o600) == 0)
        let denied = fixture.path("/etc/kubernetes/pki/front-proxy-ca.key")
        try "secret".write(toFile: denied, atomically: false, encoding: .utf8)
        // As root every file is readable: the reader fakes EACCES for one file, as a non-root run would see it.
        let collection = try Self.sources(fixture).collect { path in
            path == denied ? .unreadable("permission denied") : BundleSources.readFile(path)
        }
        #expect(collection.warnings == [
            "could not read /etc/kubernetes/pki/front-proxy-ca.key (under \(fixture.root.path)) (kubernetes pki): permission denied; the bundle goes without it",
            "could not read /etc/kubernetes/pki/stuck.fifo (under \(fixture.root.path)) (kubernetes pki): it is not a regular file (a FIFO, socket or device); the bundle goes without it",
        ])
        #expect(Set(collection.files.map(\.file.path)) == Set(fixture.files.keys))
    }

    @Test("A link planted in the snapshot directory is never followed: not under the bundle's name, not as a snapshot's pointer")
    func plantedLinks() throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let dir = try Self.snapshotDir("bundle-links")
        let victim = try SymlinkVictim(in: URL(fileURLWithPath: dir).deletingLastPathComponent())
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        try victim.plant(at: dir + "/bundle-20270115T080000Z.tar")
        let store = BundleStore(directory: dir)
        let stored = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: now)
        #expect(stored.name == "bundle-20270115T080000Z-2.tar")
        // Another in the same second is -3, and the newest (last) is the -3 one, not the plain name.
        try "changed\n".write(toFile: fixture.path("/etc/etcd/etcd.env"), atomically: false, encoding: .utf8)
        let third = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: now)
        #expect(third.name == "bundle-20270115T080000Z-3.tar")
        #expect(store.names() == ["bundle-20270115T080000Z.tar", "bundle-20270115T080000Z-2.tar", "bundle-20270115T080000Z-3.tar"])
        #expect(victim.isUnchanged)
        #expect { _ = try store.open("bundle-20270115T080000Z.tar") } throws: { error in
            (error as? BundleError)?.message == "refusing to read the bundle \(dir)/bundle-20270115T080000Z.tar: it is a symbolic link (remove it, and find out who planted it)"
        }
        #expect(store.list().problems == ["refusing to read the bundle \(dir)/bundle-20270115T080000Z.tar: it is a symbolic link (remove it, and find out who planted it)"])
        #expect(store.removeUnreferenced() == ["bundle-20270115T080000Z-2.tar"])  // the link itself is never unlinked or followed
        #expect(SafeFile.exists(dir + "/bundle-20270115T080000Z.tar") && victim.isUnchanged)
        let snapshot = dir + "/snapshot-20270115T080000Z-m1.db"
        try victim.plant(at: BundleStore.pointerPath(forSnapshot: snapshot))
        #expect { try store.link(snapshot: snapshot, to: stored) } throws: { error in
            (error as? BundleError)?.message.hasPrefix("could not write \(snapshot).bundle.json: refusing to open \(snapshot).bundle.json: it is a symbolic link") == true
        }
        #expect(victim.isUnchanged)
    }

    @Test("Pointers name each snapshot's bundle; a bundle no snapshot points at is deleted, the newest never")
    func pointersAndRetention() throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let dir = try Self.snapshotDir("bundle-pointers")
        let store = BundleStore(directory: dir)
        let old = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date(timeIntervalSince1970: 1_800_000_000))
        let snapshot = dir + "/snapshot-20270115T080000Z-m1.db"
        FileManager.default.createFile(atPath: snapshot, contents: Data("db".utf8))
        try store.link(snapshot: snapshot, to: old)
        #expect(store.pointer(forSnapshot: snapshot) == .init(bundle: old.name, contentDigest: old.manifest.contentDigest))
        #expect(try store.resolve("snapshot-20270115T080000Z-m1.db") == dir + "/" + old.name)
        #expect(store.list().bundles.map(\.snapshots) == [["snapshot-20270115T080000Z-m1.db"]])

        try "changed\n".write(toFile: fixture.path("/etc/etcd/etcd.env"), atomically: false, encoding: .utf8)
        let new = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date(timeIntervalSince1970: 1_800_000_600))
        #expect(store.removeUnreferenced().isEmpty)  // the old one is still named by the snapshot; the new one is the newest
        #expect(unlink(snapshot) == 0)
        #expect(store.removeUnreferenced() == [old.name])
        #expect(store.names() == [new.name])
        #expect(!FileManager.default.fileExists(atPath: BundleStore.pointerPath(forSnapshot: snapshot)))
        #expect { _ = try store.resolve("snapshot-20270115T080000Z-m1.db") } throws: { error in
            (error as? BundleError)?.message == "no bundle named snapshot-20270115T080000Z-m1.db in \(dir), and no snapshot there points at one (etcd-console bundle list shows them)"
        }
    }

    @Test("Certificates are read with OpenSSL: subject, SANs, not-after (as openssl prints it), CA or not; a kubeconfig's embedded one too")
    func certificates() throws {
        let fixture = try ControlPlaneRoot.kubeadm()
        let files = try Self.sources(fixture).collect().files.map(\.file)
        let apiserver = try #require(files.first { $0.path == "/etc/kubernetes/pki/apiserver.crt" }?.certificates.first)
        #expect(apiserver.subject == "CN=kube-apiserver")
        #expect(apiserver.issuer == "CN=kubernetes")
        #expect(apiserver.sans == ["DNS:kubernetes", "DNS:kubernetes.default", "DNS:master-1", "IP:10.96.0.1", "IP:10.0.0.5"])
        #expect(!apiserver.isCA)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "MMM d HH:mm:ss yyyy 'GMT'"
        let opensslNotAfter = try #require(formatter.date(from: fixture.expiringNotAfter.replacingOccurrences(of: "  ", with: " ")),
                                           "\(fixture.expiringNotAfter)")
        #expect(apiserver.notAfter == opensslNotAfter)
        #expect(files.first { $0.path == "/etc/kubernetes/pki/ca.crt" }?.certificates.first?.isCA == true)
        #expect(files.first { $0.path == "/etc/kubernetes/pki/ca.key" }?.certificates == [])
        let admin = try #require(files.first { $0.path == "/etc/kubernetes/admin.conf" })
        #expect(admin.certificates.map(\.subject) == ["CN=kubernetes", "CN=kubernetes-admin"])
        #expect(admin.secret)
    }

    @Test("A certificate expiring in 10 days is warned about, naming the file and the date; those years away are not")
    func expiry() throws {
        let fixture = try ControlPlaneRoot.kubeadm()
        let files = try Self.sources(fixture).collect().files.map(\.file)
        let now = Date()
        let soon = CertificateExpiry.soon(in: files, now: now)
        #expect(soon.map(\.path) == ["/etc/kubernetes/pki/apiserver.crt"])
        let notAfter = try #require(soon.first?.notAfter)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        let days = Int(notAfter.timeIntervalSince(now) / 86_400)
        #expect(days == 9 || days == 10)
        #expect(soon.first?.warning(now: now) == "the certificate /etc/kubernetes/pki/apiserver.crt (CN=kube-apiserver) expires on \(formatter.string(from: notAfter)) UTC (in \(days) days): renew it before then (kubeadm: kubeadm certs check-expiration, kubeadm certs renew)")
        // 40 days later it has expired; 30 days before the 10-year ones nothing else is due.
        let later = now.addingTimeInterval(40 * 86_400)
        #expect(CertificateExpiry.soon(in: files, now: later).map(\.path) == ["/etc/kubernetes/pki/apiserver.crt"])
        #expect(CertificateExpiry.soon(in: files, now: later).first?.warning(now: later).contains("expired on") == true)
        #expect(CertificateExpiry.soon(in: files, now: now.addingTimeInterval(-30 * 86_400)).isEmpty)
    }

    @Test("The bundle: section of the config file: its keys, and each bad value's specific error")
    func configSection() throws {
        let file = try ConfigFile.parse("bundle:\n  enabled: false\n  kubernetes-dir: /srv/kubernetes\n  extra: [/etc/etcd/ssl, /etc/default/etcd]\n", path: "/c.yaml")
        #expect(file.values[.bundleEnabled]?.text == "false")
        #expect(file.values[.bundleKubernetesDir]?.text == "/srv/kubernetes")
        #expect(file.values[.bundleExtra]?.text == "/etc/etcd/ssl,/etc/default/etcd")
        #expect(throws: ConfigurationError(file: "/c.yaml", line: 2, "/c.yaml:2: bundle.extra must list absolute paths (starting with /), not \"etc/ssl\"")) {
            try ConfigFile.parse("bundle:\n  extra: [etc/ssl]\n", path: "/c.yaml")
        }
        #expect(throws: ConfigurationError(file: "/c.yaml", line: 2, "/c.yaml:2: unknown key \"bundle.enable\"; did you mean \"bundle.enabled\"?")) {
            try ConfigFile.parse("bundle:\n  enable: false\n", path: "/c.yaml")
        }
        let resolved = try ConfigurationResolver.resolve(flags: [:], environment: ["ETCD_CONSOLE_BUNDLE_KUBEADM_CONFIG": "/root/kubeadm.yaml"],
                                                         file: file, deployment: nil)
        let sources = BundleSources(resolved: resolved, root: "/", configFile: nil)
        #expect(sources.kubernetesDir == "/srv/kubernetes" && sources.kubeadmConfig == "/root/kubeadm.yaml")
        #expect(sources.extra == ["/etc/etcd/ssl", "/etc/default/etcd"])
    }

    @Test("Paths overridden in the config are used, and a named file that is missing is a warning naming it")
    func overrides() throws {
        let fixture = try ControlPlaneRoot.kubeadm()
        var sources = try Self.sources(fixture)
        sources.encryptionConfig = "/etc/kubernetes/enc/other.yaml"
        sources.kubeadmConfig = "/root/kubeadm.yaml"
        try FileManager.default.createDirectory(atPath: fixture.path("/root"), withIntermediateDirectories: true)
        try "kind: ClusterConfiguration\n".write(toFile: fixture.path("/root/kubeadm.yaml"), atomically: false, encoding: .utf8)
        let collection = sources.collect()
        #expect(collection.warnings == ["/etc/kubernetes/enc/other.yaml (under \(fixture.root.path)) (API server encryption config (bundle.encryption-config)) does not exist; the bundle goes without it"])
        let paths = Set(collection.files.map(\.file.path))
        #expect(paths.contains("/root/kubeadm.yaml") && !paths.contains("/etc/kubernetes/kubeadm-config.yaml"))
        #expect(!paths.contains("/etc/kubernetes/enc/encryption-config.yaml"))
    }

    @Test("Rebuild onto an empty root: every file back, file by file, with content, mode and owner; a second run finds all in place")
    func rebuildOntoEmptyRoot() throws {
        for fixture in [try ControlPlaneRoot.kubeadm(), try ControlPlaneRoot.binaryInstall()] {
            let dir = try Self.snapshotDir("rebuild-empty")
            let store = BundleStore(directory: dir)
            let stored = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date())
            let target = try TestDirectories.make("rebuild-target").path
            let opened = try store.open(stored.name)
            let plan = BundleRebuildPlan.make(opened, root: target, now: Date())
            #expect(plan.steps.map(\.path).sorted() == fixture.files.keys.sorted())
            #expect(plan.steps.allSatisfy { $0.action == .write })
            let written = try plan.apply(opened)
            #expect(written.count == fixture.files.count)
            for (path, expected) in fixture.files {
                var info = stat()
                #expect(lstat(target + path, &info) == 0, "\(path)")
                #expect(UInt32(info.st_mode & 0o7777) == expected.mode && info.st_uid == expected.uid && info.st_gid == expected.gid, "\(path)")
                #expect(FileManager.default.contents(atPath: target + path) == FileManager.default.contents(atPath: fixture.path(path)), "\(path)")
                #expect(!FileManager.default.fileExists(atPath: target + path + ".part"))
            }
            for (path, expected) in fixture.directories {
                var info = stat()
                #expect(lstat(target + path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR, "\(path)")
                #expect(UInt32(info.st_mode & 0o7777) == expected.mode && info.st_uid == expected.uid && info.st_gid == expected.gid, "\(path)")
                #expect(plan.rendered().contains("  mkdir       \(path)/  \(BundleFile.octal(expected.mode)) \(expected.uid):\(expected.gid)\n"))
            }
            let again = BundleRebuildPlan.make(opened, root: target, now: Date())
            #expect(again.directories.allSatisfy { $0.action == .exists && $0.note == nil })
            #expect(again.steps.allSatisfy { $0.action == .unchanged })
            #expect(try again.apply(opened).isEmpty)
        }
    }

    @Test("Rebuild never overwrites: an existing different file (or a planted link) is moved aside first, named in the plan; the link's target is untouched")
    func rebuildMovesAside() throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let dir = try Self.snapshotDir("rebuild-aside")
        let store = BundleStore(directory: dir)
        let stored = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date())
        let target = try TestDirectories.make("rebuild-aside-target").path
        try FileManager.default.createDirectory(atPath: target + "/etc/etcd/ssl", withIntermediateDirectories: true)
        try "an older unit\n".write(toFile: target + "/etc/etcd/etcd.env", atomically: false, encoding: .utf8)
        let victim = try SymlinkVictim(in: URL(fileURLWithPath: target).deletingLastPathComponent())
        try victim.plant(at: target + "/etc/etcd/ssl/etcd-key.pem")
        // A directory of the bundle planted as a link to somewhere else: moved aside, nothing written through it.
        let elsewhere = try TestDirectories.make("rebuild-elsewhere").path
        #expect(symlink(elsewhere, target + "/etc/systemd") == 0)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let opened = try store.open(stored.name)
        let plan = BundleRebuildPlan.make(opened, root: target, now: now)
        #expect(plan.directories.first { $0.path == "/etc/systemd" }?.action == .moveAside)
        let aside = Dictionary(uniqueKeysWithValues: plan.movesAside.map { ($0.path, $0) })
        #expect(Set(aside.keys) == ["/etc/etcd/etcd.env", "/etc/etcd/ssl/etcd-key.pem"])
        #expect(aside["/etc/etcd/etcd.env"]?.difference == "content, mode 0644 instead of 0640, owner 0:0 instead of 0:998")
        #expect(aside["/etc/etcd/ssl/etcd-key.pem"]?.difference == "it is a symbolic link")
        #expect(aside["/etc/etcd/etcd.env"]?.movedAsideTo == target + "/etc/etcd/etcd.env.before-rebuild-20270115T080000Z")
        #expect(plan.rendered().contains("  move aside  /etc/etcd/etcd.env (content, mode 0644 instead of 0640, owner 0:0 instead of 0:998) -> \(target)/etc/etcd/etcd.env.before-rebuild-20270115T080000Z, then write 0640 0:998"))
        _ = try plan.apply(opened)
        #expect(victim.isUnchanged)
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
        var linkInfo = stat()
        #expect(lstat(target + "/etc/systemd.before-rebuild-20270115T080000Z", &linkInfo) == 0 && linkInfo.st_mode & S_IFMT == S_IFLNK)
        #expect(FileManager.default.fileExists(atPath: target + "/etc/systemd/system/etcd.service"))
        #expect(try String(contentsOfFile: target + "/etc/etcd/etcd.env.before-rebuild-20270115T080000Z", encoding: .utf8) == "an older unit\n")
        #expect(FileManager.default.contents(atPath: target + "/etc/etcd/etcd.env") == FileManager.default.contents(atPath: fixture.path("/etc/etcd/etcd.env")))
        var info = stat()
        #expect(lstat(target + "/etc/etcd/ssl/etcd-key.pem.before-rebuild-20270115T080000Z", &info) == 0 && info.st_mode & S_IFMT == S_IFLNK)
        #expect(lstat(target + "/etc/etcd/ssl/etcd-key.pem", &info) == 0 && info.st_mode & S_IFMT == S_IFREG && info.st_mode & 0o777 == 0o600 && info.st_uid == 998)
    }

    @Test("A bundle larger than any one file may be (two 9 MiB extras) is written, listed and verified; a file over 16 MiB is a warning")
    func largeBundle() throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        try FileManager.default.createDirectory(atPath: fixture.path("/srv/big"), withIntermediateDirectories: true)
        for name in ["a", "b"] {
            try Data(repeating: UInt8(ascii: name == "a" ? "A" : "B"), count: 9 << 20).write(to: URL(fileURLWithPath: fixture.path("/srv/big/\(name).bin")))
        }
        try Data(count: (16 << 20) + 1).write(to: URL(fileURLWithPath: fixture.path("/srv/huge.bin")))
        var sources = try Self.sources(fixture)
        sources.extra = ["/srv/big", "/srv/huge.bin"]
        let collection = sources.collect()
        #expect(collection.warnings == ["could not read /srv/huge.bin (under \(fixture.root.path)) (bundle.extra): it is 16777217 bytes, more than the 16 MiB a control-plane file may have; the bundle goes without it"])
        let dir = try Self.snapshotDir("bundle-large")
        let store = BundleStore(directory: dir)
        let stored = try store.store(collection, root: fixture.root.path, now: Date())
        #expect(try store.open(stored.name).contents["/srv/big/b.bin"]?.count == 9 << 20)
        #expect(store.list().bundles.first?.manifest.files.count == fixture.files.count + 2)
    }

    @Test("bundle list reads only the manifest: a bundle cut after it is still listed, but opening it is refused as truncated")
    func listReadsManifestOnly() throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let dir = try Self.snapshotDir("bundle-cut")
        let store = BundleStore(directory: dir)
        let stored = try store.store(try Self.sources(fixture).collect(), root: fixture.root.path, now: Date())
        let path = dir + "/" + stored.name
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let sizeField = String(decoding: bytes[124..<135], as: UTF8.self)
        let manifestSize = try #require(Int(sizeField, radix: 8), "\(sizeField)")
        let manifestEnd = 512 + ((manifestSize + 511) / 512) * 512
        try bytes.prefix(manifestEnd + 100).write(to: URL(fileURLWithPath: path))
        #expect(store.list().bundles.map(\.name) == [stored.name])
        #expect { _ = try store.open(stored.name) } throws: { error in
            (error as? BundleError)?.message.hasPrefix("the bundle \(path) is damaged: it ends inside a tar header") == true
        }
        try bytes.prefix(612).write(to: URL(fileURLWithPath: path))
        #expect(store.list().problems == ["the bundle \(path) is damaged: it ends inside its manifest (truncated)"])
    }

    @Test("Long paths (past ustar's 100 bytes: prefix split; past 255: pax) and large uids (pax) come back through our reader and GNU tar")
    func longPaths() throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let medium = "/srv/" + String(repeating: "m", count: 60) + "/" + String(repeating: "n", count: 60) + ".conf"
        let long = "/srv/" + (0..<6).map { _ in String(repeating: "d", count: 50) }.joined(separator: "/") + "/file-with-a-long-name.conf"
        for path in [medium, long] {
            try FileManager.default.createDirectory(atPath: fixture.path((path as NSString).deletingLastPathComponent), withIntermediateDirectories: true)
            try "x=\(path.count)\n".write(toFile: fixture.path(path), atomically: false, encoding: .utf8)
        }
        #expect(medium.utf8.count > 100 && long.utf8.count > 255)
        // An owner past ustar's 7 octal digits (a user-namespace range) goes in the pax header too.
        #expect(chown(fixture.path(medium), 3_000_000, 3_000_001) == 0)
        var sources = try Self.sources(fixture)
        sources.extra = ["/srv"]
        let dir = try Self.snapshotDir("bundle-long")
        let store = BundleStore(directory: dir)
        let stored = try store.store(sources.collect(), root: fixture.root.path, now: Date())
        let opened = try store.open(stored.name)
        #expect(opened.contents[medium] == Data("x=\(medium.count)\n".utf8))
        #expect(opened.contents[long] == Data("x=\(long.count)\n".utf8))
        #expect(opened.manifest.file(medium)?.uid == 3_000_000 && opened.manifest.file(medium)?.gid == 3_000_001)
        let out = try TestDirectories.make("bundle-long-untar")
        let untar = try runCommand("/usr/bin/tar", ["-xpf", dir + "/" + stored.name, "--numeric-owner", "-C", out.path])
        #expect(untar.succeeded, "\(untar.output)")
        var info = stat()
        #expect(lstat(out.path + medium, &info) == 0 && info.st_uid == 3_000_000 && info.st_gid == 3_000_001)
        #expect(FileManager.default.contents(atPath: out.path + long) == Data("x=\(long.count)\n".utf8))
        let listing = try runCommand("/usr/bin/tar", ["-tf", dir + "/" + stored.name])
        #expect(listing.succeeded, "\(listing.output)")
        let names = Set(listing.stdout.split(separator: "\n").map(String.init))
        #expect(names.contains(String(medium.dropFirst())) && names.contains(String(long.dropFirst())), "\(listing.stdout)")
    }

    @Test("A bundle that cannot be written (a directory planted at its .part) is refused, naming it (the backup turns it into a warning)")
    func unwritable() throws {
        let fixture = try ControlPlaneRoot.binaryInstall()
        let dir = try Self.snapshotDir("bundle-unwritable")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        try FileManager.default.createDirectory(atPath: dir + "/bundle-20270115T080000Z.tar.part", withIntermediateDirectories: false)
        #expect { _ = try BundleStore(directory: dir).store(try Self.sources(fixture).collect(), root: fixture.root.path, now: now) } throws: { error in
            guard let error = error as? BundleError else { return false }
            return error.kind == .refused && error.message == "could not write the bundle \(dir)/bundle-20270115T080000Z.tar: refusing to open \(dir)/bundle-20270115T080000Z.tar.part: it is not a regular file (remove it or choose another path)"
        }
    }
}
