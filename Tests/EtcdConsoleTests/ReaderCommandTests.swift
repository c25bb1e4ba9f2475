import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Kubernetes' own round-trip fixtures (copied byte for byte, see Tests/Fixtures/k8s-testdata/SOURCES.md).
enum KubernetesFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/k8s-testdata")
}

/// Damaged copies of the scene's second snapshot, made once.
enum DamagedCopies {
    struct Files: Sendable {
        var flipped: String
        var truncated: String
        var trailerDropped: String
    }

    static func make(_ scene: CatalogScene.Scene) throws -> Files {
        let dir = try TestDirectories.make("damaged-readers")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scene.second))
        // A byte inside one object's value (the sealed Secret's ciphertext): the checksum no longer matches but
        // every page stays readable, whatever page layout etcd's batching gave the file. (The file's middle
        // byte, flipped before, sometimes fell on a branch page under load, and then nothing could be read.)
        var flipped = bytes
        let marker = flipped.range(of: Data("ciphertext".utf8))
        flipped[marker.map { $0.lowerBound + 3 } ?? flipped.count / 2] ^= 0x20
        let files = Files(flipped: dir.appendingPathComponent("flipped.db").path,
                          truncated: dir.appendingPathComponent("truncated.db").path,
                          trailerDropped: dir.appendingPathComponent("dropped.db").path)
        try flipped.write(to: URL(fileURLWithPath: files.flipped))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: files.truncated))
        try bytes.prefix(bytes.count - 32).write(to: URL(fileURLWithPath: files.trailerDropped))
        try FileManager.default.copyItem(atPath: scene.second + ".meta.json", toPath: files.trailerDropped + ".meta.json")
        return files
    }
}

@Suite("Snapshot readers warn on a damaged file, end to end (issue 11.4, 12.10)")
struct ReaderCommandTests {
    static func damageWarning(_ path: String) -> String { "warning: \(path) is damaged: " }
    static let tail = ". What follows is what could still be read from it; do not restore from it (pick a good one: etcd-console snapshot list)"

    @Test("diff good.db flipped.db: exit 1, the damage on stderr and in the JSON; never \"0 changed\" with exit 0")
    func diffFlipped() async throws {
        let scene = try await CatalogScene.shared.get()
        let files = try DamagedCopies.make(scene)
        let table = try ConsoleBinary.run(["snapshot", "diff", scene.second, files.flipped])
        #expect(table.status == 1, "\(table.output)")
        #expect(table.stderr.contains(Self.damageWarning(files.flipped) + "checksum mismatch: the file was changed after it was written"))
        #expect(table.stderr.contains(Self.tail))
        #expect(table.stdout.hasPrefix("DAMAGED: \(files.flipped): checksum mismatch"), "\(table.stdout)")
        #expect(table.stdout.contains("The comparison below cannot be trusted."))

        let json = try ConsoleBinary.run(["snapshot", "diff", scene.second, files.flipped, "-o", "json"])
        #expect(json.status == 1)
        let report = try ConsoleBinary.json(json)
        #expect(report["health"] as? String == "corrupt")
        #expect((report["reason"] as? String)?.hasPrefix("\(files.flipped): checksum mismatch") == true)
        #expect((report["from"] as? [String: Any])?["health"] as? String == "good")
        #expect((report["to"] as? [String: Any])?["health"] as? String == "corrupt")
        #expect(report["added"] is [Any], "what could be read is still shown")

        let good = try ConsoleBinary.run(["snapshot", "diff", scene.first, scene.second, "-o", "json"])
        #expect(good.status == 0, "\(good.output)")
        #expect(try ConsoleBinary.json(good)["health"] as? String == "good")
        #expect(!good.stderr.contains("warning"))
    }

    @Test("inspect and browse of a bit-flipped file warn, still show what they read, and exit 1")
    func inspectAndBrowseFlipped() async throws {
        let scene = try await CatalogScene.shared.get()
        let files = try DamagedCopies.make(scene)
        for arguments in [["inspect", files.flipped], ["browse", files.flipped, "--resource", "pods"]] {
            let table = try ConsoleBinary.run(["snapshot"] + arguments)
            #expect(table.status == 1, "\(arguments): \(table.output)")
            #expect(table.stderr.contains(Self.damageWarning(files.flipped) + "checksum mismatch"), "\(table.stderr)")
            #expect(table.stdout.contains("DAMAGED:"))
            let json = try ConsoleBinary.run(["snapshot"] + arguments + ["-o", "json"])
            #expect(json.status == 1)
            let report = try ConsoleBinary.json(json)
            #expect(report["health"] as? String == "corrupt")
            #expect((report["reason"] as? String)?.hasPrefix("checksum mismatch: the file was changed after it was written") == true)
            #expect(report["file"] as? String == files.flipped)
        }
        let inspected = try ConsoleBinary.json(try ConsoleBinary.run(["snapshot", "inspect", files.flipped, "-o", "json"]))
        #expect(((inspected["resources"] as? [String: Int])?["pods"] ?? 0) > 0, "the objects were still counted")
        let key = try ConsoleBinary.run(["snapshot", "browse", files.flipped, "--key", "/registry/pods/business/new-pod", "-o", "json"])
        #expect(key.status == 1)
        #expect(try ConsoleBinary.json(key)["health"] as? String == "corrupt")
    }

    @Test("inspect of a truncated file: JSON says corrupt, truncated at, with the read's error; exit 1")
    func inspectTruncated() async throws {
        let scene = try await CatalogScene.shared.get()
        let files = try DamagedCopies.make(scene)
        let result = try ConsoleBinary.run(["snapshot", "inspect", files.truncated, "-o", "json"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains(Self.damageWarning(files.truncated) + "truncated at "))
        let report = try ConsoleBinary.json(result)
        #expect(report["health"] as? String == "corrupt")
        #expect((report["reason"] as? String)?.hasPrefix("\(files.truncated): truncated at ") == true, "\(report)")
        #expect((report["error"] as? String)?.contains("truncated") == true)
        let files0 = try #require(report["files"] as? [[String: Any]])
        #expect(files0.first?["file"] as? String == files.truncated)
    }

    @Test("inspect of a snapshot whose trailer was cut off, with its sidecar: damaged by the sidecar's size; exit 1")
    func inspectDroppedTrailer() async throws {
        let scene = try await CatalogScene.shared.get()
        let files = try DamagedCopies.make(scene)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: scene.second)[.size] as? Int)
        let result = try ConsoleBinary.run(["snapshot", "inspect", files.trailerDropped, "-o", "json"])
        #expect(result.status == 1, "\(result.output)")
        let report = try ConsoleBinary.json(result)
        #expect(report["health"] as? String == "corrupt")
        _ = size
        #expect((report["reason"] as? String)?.hasPrefix("truncated: the checksum trailer is missing; its sidecar "
            + "\((files.trailerDropped as NSString).lastPathComponent).meta.json records a snapshot saved with one (sha256 ") == true,
                "\(report)")
        #expect(report["revision"] is Int, "the raw database is still read")
    }
}

@Suite("list and verify --all report what is not a snapshot file (issue 12.9)")
struct NotSnapshotFileCommandTests {
    @Test("A FIFO, a directory and a link to /dev/zero named *.db: listed as problems, never opened, exit 1")
    func problems() async throws {
        let scene = try await CatalogScene.shared.get()
        let dir = try TestDirectories.make("not-snapshots")
        let name = URL(fileURLWithPath: scene.first).lastPathComponent
        try FileManager.default.copyItem(atPath: scene.first, toPath: dir.appendingPathComponent(name).path)
        try FileManager.default.copyItem(atPath: scene.first + ".meta.json", toPath: dir.appendingPathComponent(name + ".meta.json").path)
        #expect(mkfifo(dir.appendingPathComponent("x.db").path, 0o600) == 0)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("y.db"), withIntermediateDirectories: false)
        #expect(symlink("/dev/zero", dir.appendingPathComponent("z.db").path) == 0)
        let tail = "; it was not opened (a snapshot is a regular file: remove or rename it)"
        let expected = [
            "error: \(dir.path)/x.db is not a snapshot file: a FIFO (named pipe), not a regular file" + tail,
            "error: \(dir.path)/y.db is not a snapshot file: a directory, not a regular file" + tail,
            "error: \(dir.path)/z.db is not a snapshot file: a symbolic link to /dev/zero, a character device, not a regular file" + tail,
        ]

        // runCommand's timeout turns a FIFO opened by mistake (it would wait for a writer) into a failure.
        let list = try ConsoleBinary.run(["snapshot", "list", "--dir", dir.path])
        #expect(list.status == 1, "\(list.output)")
        for line in expected { #expect(list.stderr.contains(line), "\(list.stderr)") }
        #expect(list.stdout.contains(name))
        #expect(list.stdout.contains("; 3 not snapshot files (see above)"))

        let json = try ConsoleBinary.json(try ConsoleBinary.run(["snapshot", "list", "--dir", dir.path, "-o", "json"]))
        #expect((json["problems"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["x.db", "y.db", "z.db"])
        #expect((json["snapshots"] as? [[String: Any]])?.count == 1)

        let verify = try ConsoleBinary.run(["snapshot", "verify", "--all", "--dir", dir.path, "-o", "json"])
        #expect(verify.status == 1, "\(verify.output)")
        let report = try ConsoleBinary.json(verify)
        #expect((report["snapshots"] as? [[String: Any]])?.first?["health"] as? String == "good")
        #expect((report["problems"] as? [[String: Any]])?.compactMap { $0["reason"] as? String }.first
            == "a FIFO (named pipe), not a regular file" + tail)
        let verifyTable = try ConsoleBinary.run(["snapshot", "verify", "--all", "--dir", dir.path])
        #expect(verifyTable.status == 1)
        #expect(verifyTable.stdout.contains("\(dir.path)/z.db: not a snapshot file: a symbolic link to /dev/zero"))

        // Only problems, no snapshot: still exit 1, and the table does not say all is well.
        let empty = try TestDirectories.make("only-problems")
        #expect(mkfifo(empty.appendingPathComponent("x.db").path, 0o600) == 0)
        let only = try ConsoleBinary.run(["snapshot", "list", "--dir", empty.path])
        #expect(only.status == 1)
        #expect(only.stdout == "no snapshots in \(empty.path); 1 *.db entries are not snapshot files (see above)\n")
    }
}

@Suite("list of a snapshot the operator may not read")
struct UnreadableListTests {
    @Test("An unreadable *.db is listed unverified with the system's reason and list exits 1 (run as nobody)")
    func unreadable() async throws {
        let scene = try await CatalogScene.shared.get()
        let dir = try TestDirectories.make("unreadable-list")
        chmod(dir.path, 0o755)
        let path = dir.appendingPathComponent("private.db").path
        try FileManager.default.copyItem(atPath: scene.first, toPath: path)
        chmod(path, 0o600)
        let result = try runCommand("/usr/sbin/runuser", ["-u", "nobody", "--", ConsoleBinary.path, "snapshot", "list",
                                                          "--dir", dir.path])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("error: cannot read \(path): Permission denied"), "\(result.stderr)")
        #expect(result.stdout.contains("unverified: cannot read \(path): Permission denied"))
    }
}

@Suite("Kubernetes names in the readers (issue 11.9)")
struct KubernetesNameCommandTests {
    static func count(_ file: String, _ resource: String, prefix: [String] = []) throws -> (Int32, [String: Int]) {
        let result = try ConsoleBinary.run(["snapshot", "inspect", file, "--resource", resource, "-o", "json"] + prefix)
        guard result.status == 0 else { return (result.status, [:]) }
        return (result.status, try ConsoleBinary.json(result)["resources"] as? [String: Int] ?? [:])
    }

    @Test("--resource nodes, no, svc, ep, ing, crd find what the storage names hold",
          arguments: [("nodes", "minions"), ("no", "minions"), ("services", "services/specs"), ("svc", "services/specs"),
                      ("endpoints", "services/endpoints"), ("ep", "services/endpoints"), ("ingresses", "ingress"),
                      ("ing", "ingress"), ("crd", "apiextensions.k8s.io/customresourcedefinitions"),
                      ("deploy", "deployments"), ("po", "pods")])
    func names(typed: String, storage: String) async throws {
        let scene = try await CatalogScene.shared.get()
        let (status, resources) = try Self.count(scene.second, typed)
        #expect(status == 0)
        let (_, byStorage) = try Self.count(scene.second, storage)
        #expect(resources.keys.sorted() == [storage])
        #expect((resources[storage] ?? 0) > 0)
        #expect(resources == byStorage)
    }

    @Test("An unknown --resource is a usage error listing the known names")
    func unknown() async throws {
        let scene = try await CatalogScene.shared.get()
        let result = try ConsoleBinary.run(["snapshot", "browse", scene.second, "--resource", "nodez"])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.stderr.hasPrefix("error: unknown resource \"nodez\": not a kubectl resource name or short name, and the snapshot holds no resource of that name."))
        #expect(result.stderr.contains("\nnodes, no, node -> minions\n"))
        #expect(result.stderr.contains("nodes (minions)"), "the snapshot's own resources are listed with kubectl's names")
    }

    @Test("inspect shows kubectl's name next to etcd's storage name")
    func table() async throws {
        let scene = try await CatalogScene.shared.get()
        let result = try ConsoleBinary.run(["snapshot", "inspect", scene.second])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(lines.contains(["RESOURCE", "STORED", "AS", "OBJECTS"]))
        #expect(lines.contains { $0.count == 3 && $0[0] == "services" && $0[1] == "services/specs" })
        #expect(lines.contains { $0.count == 3 && $0[0] == "nodes" && $0[1] == "minions" })
    }

    @Test("--etcd-prefix /kubernetes.io reads OpenShift's keys")
    func openShiftPrefix() async throws {
        let scene = try await CatalogScene.shared.get()
        let result = try ConsoleBinary.run(["snapshot", "inspect", scene.second, "--etcd-prefix", "/kubernetes.io", "-o", "json"])
        #expect(result.status == 0, "\(result.output)")
        let json = try ConsoleBinary.json(result)
        #expect(json["resources"] as? [String: Int] == ["pods": 1])
        #expect(json["namespaces"] as? [String: Int] == ["openshift-etcd": 1])
        let bad = try ConsoleBinary.run(["snapshot", "inspect", scene.second, "--etcd-prefix", "kubernetes.io"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--etcd-prefix must start with '/' (like /registry or /kubernetes.io), not \"kubernetes.io\""))
    }

    @Test("browse shows an object stuck terminating: deletionTimestamp, finalizers, owners; and an encrypted value's key")
    func stuckAndEncrypted() async throws {
        let scene = try await CatalogScene.shared.get()
        let key = "/registry/deployments/namespaceValue/nameValue"
        let json = try ConsoleBinary.json(try ConsoleBinary.run(["snapshot", "browse", scene.second, "--key", key, "-o", "json"]))
        #expect(json["deletionTimestamp"] as? String == "2009-01-01T01:01:01Z")
        #expect(json["finalizers"] as? [String] == ["finalizersValue"])
        let owners = try #require(json["ownerReferences"] as? [[String: Any]])
        #expect(owners.first?["kind"] as? String == "kindValue")
        #expect(owners.first?["controller"] as? Bool == true)
        let table = try ConsoleBinary.run(["snapshot", "browse", scene.second, "--key", key])
        #expect(table.stdout.contains("deleting:     since 2009-01-01T01:01:01Z, held by finalizers (stuck terminating until they are removed)"), "\(table.stdout)")
        #expect(table.stdout.contains("finalizers:   finalizersValue"))
        #expect(table.stdout.contains("owners:       kindValue/nameValue (controller)"))

        let sealed = try ConsoleBinary.run(["snapshot", "browse", scene.second, "--key", "/registry/secrets/business/sealed"])
        #expect(sealed.status == 0, "\(sealed.output)")
        #expect(sealed.stdout.contains("encrypted by: provider aescbc (v1), key key1"), "\(sealed.stdout)")
        let list = try ConsoleBinary.json(try ConsoleBinary.run(["snapshot", "browse", scene.second, "--resource", "svc", "-o", "json"]))
        let objects = try #require(list["objects"] as? [[String: Any]])
        #expect(!objects.isEmpty)
        #expect(objects.allSatisfy { $0["resource"] as? String == "services/specs" && $0["kubectlResource"] as? String == "services" })
    }
}
