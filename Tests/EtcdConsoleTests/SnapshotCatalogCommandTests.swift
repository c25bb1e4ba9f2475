import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A directory with two snapshots of a real etcd holding Kubernetes-shaped objects, taken by
/// `etcd-console snapshot save` with a pod added, a configmap deleted and a deployment changed between.
actor CatalogScene {
    struct Scene: Sendable {
        var etcd: EtcdProcess
        var dir: URL
        var first: String
        var second: String
    }

    static let shared = CatalogScene()
    private var task: Task<Scene, Error>?

    func get() async throws -> Scene {
        if let task { return try await task.value }
        let task = Task { try await Self.make() }
        self.task = task
        return try await task.value
    }

    private static func make() async throws -> Scene {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "catalog"))
        let fill = try ConsoleBinary.run(["fill", "--endpoints", etcd.clientURL, "--count", "300"])
        try #require(fill.status == 0, "\(fill.output)")
        _ = try etcd.etcdctl(["put", "/registry/deployments/business/shop", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"shop\",\"namespace\":\"business\"}}"])
        _ = try etcd.etcdctl(["put", "/registry/configmaps/business/old-config", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"old-config\",\"namespace\":\"business\"}}"])
        // For the readers: Kubernetes' own Deployment fixture (stuck terminating: deletionTimestamp + finalizers,
        // an owner), an encrypted Secret, endpoints and an ingress, and a pod under OpenShift's prefix.
        let upstream = try String(contentsOf: KubernetesFixtures.directory.appendingPathComponent("apps.v1.Deployment.json"), encoding: .utf8)
        _ = try etcd.etcdctl(["put", "/registry/deployments/namespaceValue/nameValue", upstream])
        _ = try etcd.etcdctl(["put", "/registry/secrets/business/sealed", "k8s:enc:aescbc:v1:key1:\u{1}ciphertext"])
        _ = try etcd.etcdctl(["put", "/registry/services/endpoints/business/shop", "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"shop\",\"namespace\":\"business\"}}"])
        _ = try etcd.etcdctl(["put", "/registry/ingress/business/shop", "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\",\"metadata\":{\"name\":\"shop\",\"namespace\":\"business\"}}"])
        _ = try etcd.etcdctl(["put", "/kubernetes.io/pods/openshift-etcd/etcd-master-0", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"etcd-master-0\",\"namespace\":\"openshift-etcd\"}}"])
        let dir = try TestDirectories.make("catalog-cli")
        let first = dir.appendingPathComponent("snapshot-20261125T154500Z-catalog.db").path
        let a = try ConsoleBinary.run(["snapshot", "save", "--endpoints", etcd.clientURL, "--file", first, "--data-dir", "/nonexistent"])
        try #require(a.status == 0, "\(a.output)")
        _ = try etcd.etcdctl(["put", "/registry/pods/business/new-pod", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"new-pod\",\"namespace\":\"business\"}}"])
        _ = try etcd.etcdctl(["del", "/registry/configmaps/business/old-config"])
        _ = try etcd.etcdctl(["put", "/registry/deployments/business/shop", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"shop\",\"namespace\":\"business\",\"labels\":{\"v\":\"2\"}}}"])
        let second = dir.appendingPathComponent("snapshot-20261125T160500Z-catalog.db").path
        let b = try ConsoleBinary.run(["snapshot", "save", "--endpoints", etcd.clientURL, "--file", second, "--data-dir", "/nonexistent"])
        try #require(b.status == 0, "\(b.output)")
        return Scene(etcd: etcd, dir: dir, first: first, second: second)
    }
}

@Suite("snapshot list, verify, inspect, browse, diff and prune, end to end")
struct SnapshotCatalogCommandTests {
    @Test("list -o json: both snapshots newest first with every documented key; a .part is reported, not listed")
    func list() async throws {
        let scene = try await CatalogScene.shared.get()
        let part = scene.dir.appendingPathComponent("snapshot-crashed.db.part")
        try Data([1, 2, 3]).write(to: part)
        defer { try? FileManager.default.removeItem(at: part) }
        let result = try ConsoleBinary.run(["snapshot", "list", "--dir", scene.dir.path, "-o", "json"])
        #expect(result.status == 0, "\(result.output)")
        let listing = try ConsoleBinary.json(result)
        #expect(listing["directory"] as? String == scene.dir.path)
        #expect((listing["problems"] as? [Any])?.isEmpty == true)
        let array = try #require(listing["snapshots"] as? [[String: Any]])
        #expect(array.map { $0["name"] as? String } == [URL(fileURLWithPath: scene.second).lastPathComponent,
                                                        URL(fileURLWithPath: scene.first).lastPathComponent])
        for entry in array {
            for key in ["name", "path", "size", "takenAt", "ageSeconds", "health", "reason", "revision", "liveKeys"] {
                #expect(entry.keys.contains(key), "missing \(key)")
            }
            #expect(entry["health"] as? String == "good")
        }
        // The sidecar records when the save really ran (RFC 3339, UTC).
        let takenAt = try #require((array.first?["takenAt"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(abs(takenAt.timeIntervalSinceNow) < 3600)
        #expect(result.stderr.contains("leftover from an interrupted save: snapshot-crashed.db.part"))
    }

    @Test("verify: good exits 0; a flipped byte exits 1 with the checksum reason")
    func verify() async throws {
        let scene = try await CatalogScene.shared.get()
        let good = try ConsoleBinary.run(["snapshot", "verify", scene.first, "-o", "json"])
        #expect(good.status == 0, "\(good.output)")
        #expect(try ConsoleBinary.json(good)["health"] as? String == "good")
        #expect(try ConsoleBinary.json(good)["file"] as? String == scene.first)
        let copy = try TestDirectories.make("verify-cli").appendingPathComponent("flipped.db")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: scene.first))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: copy)
        let bad = try ConsoleBinary.run(["snapshot", "verify", copy.path, "-o", "json"])
        #expect(bad.status == 1)
        let json = try ConsoleBinary.json(bad)
        #expect(json["health"] as? String == "corrupt")
        #expect((json["reason"] as? String)?.hasPrefix("checksum mismatch: the file was changed after it was written") == true)
        let usage = try ConsoleBinary.run(["snapshot", "verify"])
        #expect(usage.status == 2)
    }

    @Test("inspect -o json: revision and totalSize equal etcdutl's, counts per resource and namespace")
    func inspect() async throws {
        let scene = try await CatalogScene.shared.get()
        let result = try ConsoleBinary.run(["snapshot", "inspect", scene.second, "-o", "json"])
        #expect(result.status == 0, "\(result.output)")
        let json = try ConsoleBinary.json(result)
        let status = try scene.etcd.etcdutl(["snapshot", "status", scene.second, "-w", "json"])
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(json["revision"] as? Int == theirs["revision"] as? Int)
        #expect(json["totalSize"] as? Int == theirs["totalSize"] as? Int)
        let resources = try #require(json["resources"] as? [String: Int])
        let namespaces = try #require(json["namespaces"] as? [String: Int])
        #expect((resources["pods"] ?? 0) > 0)
        #expect((namespaces["business"] ?? 0) > 0)
        #expect(json["liveKeys"] as? Int == resources.values.reduce(0, +) + (json["nonKubernetesKeys"] as? Int ?? 0))
        let filtered = try ConsoleBinary.json(try ConsoleBinary.run(["snapshot", "inspect", scene.second, "--resource", "pods", "--namespace", "business", "-o", "json"]))
        #expect((filtered["resources"] as? [String: Int])?.keys.sorted() == ["pods"])
    }

    @Test("browse lists pod names and shows one object's metadata")
    func browse() async throws {
        let scene = try await CatalogScene.shared.get()
        let list = try ConsoleBinary.run(["snapshot", "browse", scene.second, "--resource", "pods", "--namespace", "business"])
        #expect(list.status == 0, "\(list.output)")
        #expect(list.stdout.contains("new-pod"))
        let one = try ConsoleBinary.run(["snapshot", "browse", scene.second, "--key", "/registry/pods/business/new-pod", "-o", "json"])
        #expect(one.status == 0, "\(one.output)")
        let json = try ConsoleBinary.json(one)
        #expect(json["name"] as? String == "new-pod")
        #expect(json["kind"] as? String == "Pod")
        #expect(json["health"] as? String == "good")
        #expect(json["file"] as? String == scene.second)
        let missing = try ConsoleBinary.run(["snapshot", "browse", scene.second, "--key", "/registry/pods/business/nope"])
        #expect(missing.status == 1)
    }

    @Test("diff -o json lists exactly the added pod, the removed configmap and the changed deployment")
    func diff() async throws {
        let scene = try await CatalogScene.shared.get()
        let result = try ConsoleBinary.run(["snapshot", "diff", scene.first, scene.second, "-o", "json"])
        #expect(result.status == 0, "\(result.output)")
        let json = try ConsoleBinary.json(result)
        func refs(_ key: String) -> [String] {
            ((json[key] as? [[String: Any]]) ?? []).map { "\($0["resource"] ?? "")/\($0["namespace"] ?? "")/\($0["name"] ?? "")" }
        }
        #expect(refs("added") == ["pods/business/new-pod"])
        #expect(refs("removed") == ["configmaps/business/old-config"])
        #expect(refs("changed") == ["deployments/business/shop"])
    }

    @Test("prune --dry-run keeps the newest good snapshot and deletes nothing; prune --keep-last 1 deletes the older")
    func prune() async throws {
        let scene = try await CatalogScene.shared.get()
        let dir = try TestDirectories.make("prune-cli")
        for path in [scene.first, scene.second] {
            let name = URL(fileURLWithPath: path).lastPathComponent
            try FileManager.default.copyItem(atPath: path, toPath: dir.appendingPathComponent(name).path)
            try FileManager.default.copyItem(atPath: path + ".meta.json", toPath: dir.appendingPathComponent(name + ".meta.json").path)
        }
        let dry = try ConsoleBinary.run(["snapshot", "prune", "--dir", dir.path, "--keep-last", "1", "--dry-run", "-o", "json"])
        #expect(dry.status == 0, "\(dry.output)")
        let plan = try ConsoleBinary.json(dry)
        #expect((plan["delete"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == [URL(fileURLWithPath: scene.first).lastPathComponent])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.count == 4)
        let real = try ConsoleBinary.run(["snapshot", "prune", "--dir", dir.path, "--keep-last", "1"])
        #expect(real.status == 0, "\(real.output)")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
        let newest = URL(fileURLWithPath: scene.second).lastPathComponent
        #expect(left == [newest, newest + ".meta.json"])
    }
}

@Suite("verify of a file the operator may not read")
struct UnreadableSnapshotTests {
    @Test("An unreadable file is unverified with the system's reason, exit 1 (run as nobody: root reads everything)")
    func permissionDenied() async throws {
        let scene = try await CatalogScene.shared.get()
        let dir = try TestDirectories.make("unreadable")
        chmod(dir.path, 0o755)
        let path = dir.appendingPathComponent("private.db").path
        try FileManager.default.copyItem(atPath: scene.first, toPath: path)
        chmod(path, 0o600)
        // runuser drops to nobody; the binary and its directories are world-readable.
        let result = try runCommand("/usr/sbin/runuser", ["-u", "nobody", "--", ConsoleBinary.path, "snapshot", "verify", path, "-o", "json"])
        #expect(result.status == 1, "\(result.output)")
        let json = try ConsoleBinary.json(result)
        #expect(json["health"] as? String == "unverified")
        #expect(json["reason"] as? String == "cannot read \(path): Permission denied")
    }
}
