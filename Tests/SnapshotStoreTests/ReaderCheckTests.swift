import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Readers check a snapshot before they read it (inspect, browse, diff)")
struct ReaderCheckTests {
    @Test("Each kind of damage makes the read check say damaged with the verifier's reason; reading never crashes",
          arguments: SnapshotDamage.allCases)
    func everyDamage(damage: SnapshotDamage) async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let (path, expected) = try VerifyScenario.make(damage, fixture: fixture, for: "reader")
        let check = SnapshotReadCheck.run(path: path)
        #expect(check.health == expected.health, "\(check)")
        if expected.health == .good {
            // A raw db (no trailer, no sidecar) cannot be told from a member's db: readable, no warning.
            #expect(check.warning == nil)
            return
        }
        #expect(check.isDamaged)
        let warning = try #require(check.warning)
        if expected.exact {
            #expect(check.reason == expected.reason)
        } else {
            #expect(check.reason?.hasPrefix(expected.reason) == true, "\(String(describing: check.reason))")
        }
        if expected.health == .corrupt {
            #expect(warning == "warning: \(path) is damaged: \(check.reason!). What follows is what could still be read "
                + "from it; do not restore from it (pick a good one: etcd-console snapshot list)")
        } else {
            #expect(warning == "warning: \(check.reason!): it could not be verified")
        }
        // What a reader does next: read what it can, or fail with an error (never a crash or a hang).
        _ = try? SnapshotInspector.inspect(path: path)
    }

    @Test("A snapshot whose trailer was cut off exactly is damaged when its sidecar recorded it with one")
    func droppedTrailerWithSidecar() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let dir = try TestDirectories.make("reader-trailer")
        let path = dir.appendingPathComponent("snapshot-20261125T140000Z-m1.db").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture.snapshotPath))
        let good = SnapshotVerifier.verify(path: fixture.snapshotPath)
        try #require(good.health == .good && good.hasTrailer)
        let sidecar = SnapshotMetadata(takenAt: Date(timeIntervalSince1970: 1_764_079_200), revision: good.revision,
                                       liveKeys: good.liveKeys, size: bytes.count, sha256: good.sha256, health: .good)
        try bytes.write(to: URL(fileURLWithPath: path))
        try SnapshotCatalog(directory: dir.path, analyze: { _ in sidecar }).writeSidecar(sidecar, for: path)
        #expect(SnapshotReadCheck.run(path: path).health == .good, "the saved file agrees with its sidecar")

        try bytes.prefix(bytes.count - 32).write(to: URL(fileURLWithPath: path))
        let check = SnapshotReadCheck.run(path: path)
        // The verifier itself reads the sidecar (issue 12.7): a file saved with a trailer is corrupt without one.
        #expect(check.verification.health == .corrupt)
        #expect(check.health == .corrupt)
        #expect(check.reason == "truncated: the checksum trailer is missing; its sidecar snapshot-20261125T140000Z-m1.db.meta.json "
            + "records a snapshot saved with one (sha256 \(good.sha256!.prefix(12))…), so the file was cut short (use another snapshot)")
    }

    @Test("A good snapshot passes the read check with no warning")
    func good() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let check = SnapshotReadCheck.run(path: fixture.snapshotPath)
        #expect(check.health == .good)
        #expect(check.reason == nil)
        #expect(check.warning == nil)
    }
}

@Suite("The catalog reports *.db entries that are not snapshot files, without opening them")
struct CatalogProblemTests {
    @Test("A FIFO, a directory, a link to /dev/zero and a dangling link are problems; a link to a snapshot is ignored")
    func notSnapshotFiles() throws {
        let dir = try TestDirectories.make("catalog-problems")
        let real = dir.appendingPathComponent("snapshot-20261125T140000Z-m1.db").path
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: real))
        #expect(mkfifo(dir.appendingPathComponent("fifo.db").path, 0o600) == 0)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("dir.db"), withIntermediateDirectories: false)
        #expect(symlink("/dev/zero", dir.appendingPathComponent("zero.db").path) == 0)
        #expect(symlink(dir.appendingPathComponent("gone.db").path, dir.appendingPathComponent("dangling.db").path) == 0)
        #expect(symlink(real, dir.appendingPathComponent("latest.db").path) == 0)

        let catalog = SnapshotCatalog(directory: dir.path) { _ in
            SnapshotMetadata(takenAt: Date(), size: 0, health: .corrupt, reason: "not a snapshot")
        }
        // A FIFO opened for reading would block this test until a writer came: finishing proves it was not opened.
        let listing = try catalog.list()
        #expect(listing.entries.map(\.name) == ["snapshot-20261125T140000Z-m1.db"])
        #expect(listing.ignored == ["latest.db"])
        let tail = "; it was not opened (a snapshot is a regular file: remove or rename it)"
        #expect(listing.problems == [
            CatalogProblem(name: "dangling.db", path: dir.path + "/dangling.db",
                           reason: "a symbolic link to \(dir.path)/gone.db, which cannot be followed (No such file or directory)" + tail),
            CatalogProblem(name: "dir.db", path: dir.path + "/dir.db", reason: "a directory, not a regular file" + tail),
            CatalogProblem(name: "fifo.db", path: dir.path + "/fifo.db", reason: "a FIFO (named pipe), not a regular file" + tail),
            CatalogProblem(name: "zero.db", path: dir.path + "/zero.db",
                           reason: "a symbolic link to /dev/zero, a character device, not a regular file" + tail),
        ])
    }
}

@Suite("Kubernetes resource names as kubectl users type them")
struct KubernetesResourceNameTests {
    static let typed: [(String, String)] = [
        ("nodes", "minions"), ("no", "minions"), ("node", "minions"),
        ("services", "services/specs"), ("svc", "services/specs"),
        ("endpoints", "services/endpoints"), ("ep", "services/endpoints"),
        ("ingresses", "ingress"), ("ing", "ingress"),
        ("customresourcedefinitions", "apiextensions.k8s.io/customresourcedefinitions"),
        ("crd", "apiextensions.k8s.io/customresourcedefinitions"),
        ("customresourcedefinitions.apiextensions.k8s.io", "apiextensions.k8s.io/customresourcedefinitions"),
        ("deployments", "deployments"), ("deploy", "deployments"), ("deployments.apps", "deployments"),
        ("pods", "pods"), ("po", "pods"), ("Pod", "pods"), ("configmaps", "configmaps"), ("cm", "configmaps"),
        ("namespaces", "namespaces"), ("ns", "namespaces"), ("serviceaccounts", "serviceaccounts"), ("sa", "serviceaccounts"),
        ("persistentvolumeclaims", "persistentvolumeclaims"), ("pvc", "persistentvolumeclaims"),
        ("secrets", "secrets"), ("daemonsets", "daemonsets"), ("ds", "daemonsets"), ("statefulsets", "statefulsets"),
        ("sts", "statefulsets"), ("replicasets", "replicasets"), ("rs", "replicasets"), ("jobs", "jobs"),
        ("cronjobs", "cronjobs"), ("cj", "cronjobs"), ("leases", "leases"), ("events", "events"), ("ev", "events"),
        ("persistentvolumes", "persistentvolumes"), ("pv", "persistentvolumes"), ("storageclasses", "storageclasses"),
        ("sc", "storageclasses"), ("roles", "roles"), ("rolebindings", "rolebindings"), ("clusterroles", "clusterroles"),
        ("clusterrolebindings", "clusterrolebindings"), ("priorityclasses", "priorityclasses"), ("pc", "priorityclasses"),
        ("replicationcontrollers", "controllers"), ("rc", "controllers"), ("minions", "minions"),
        ("services/specs", "services/specs"),
    ]

    @Test("Each kubectl name, short name and singular maps to etcd's storage name",
          arguments: zip(typed.map { $0.0 }, typed.map { $0.1 }))
    func mapping(typed: String, storage: String) {
        #expect(KubernetesResourceName.builtIn(named: typed)?.storage == storage)
    }

    @Test("Every storage name in the table is one the key parser knows the scope of")
    func tableAgreesWithKeys() {
        for resource in KubernetesResourceName.builtIn {
            #expect(KubernetesKey.knownScope(of: resource.storage) != nil, "\(resource.storage)")
        }
    }

    @Test("An unknown name is an error that lists the known names and the snapshot's resources")
    func unknown() {
        #expect(KubernetesResourceName.builtIn(named: "nope") == nil)
        let text = UnknownResourceError(typed: "nope", inSnapshot: ["minions", "example.com/widgets"]).description
        #expect(text.hasPrefix("unknown resource \"nope\": not a kubectl resource name or short name, and the snapshot "
            + "holds no resource of that name.\nResources in this snapshot: nodes (minions), example.com/widgets.\n"
            + "Known names (kubectl plural, short names, singular -> where etcd stores it):\n"))
        #expect(text.contains("\nservices, svc, service -> services/specs\n"))
        #expect(text.contains("\nnodes, no, node -> minions\n"))
        #expect(KubernetesResourceName.display(storage: "minions") == "nodes (minions)")
        #expect(KubernetesResourceName.display(storage: "pods") == "pods")
    }
}

@Suite("Stuck-terminating metadata from Kubernetes' own round-trip fixtures")
struct KubernetesUpstreamMetadataTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/k8s-testdata")

    @Test("deletionTimestamp, finalizers and owner references decode from protobuf and JSON alike",
          arguments: ["apps.v1.Deployment", "core.v1.Pod"])
    func upstream(name: String) throws {
        let pb = try [UInt8](Data(contentsOf: Self.fixtures.appendingPathComponent(name + ".pb")))
        let json = try [UInt8](Data(contentsOf: Self.fixtures.appendingPathComponent(name + ".json")))
        let resource = name == "core.v1.Pod" ? "pods" : "deployments"
        let key = "/registry/\(resource)/namespaceValue/nameValue"
        for object in [KubernetesObject(etcdKey: key, value: pb), KubernetesObject(etcdKey: key, value: json)] {
            #expect(object.problem == nil, "\(object.problem ?? "")")
            #expect(object.name == "nameValue")
            #expect(object.deletionTimestamp == Date(timeIntervalSince1970: 1_230_771_661))  // 2009-01-01T01:01:01Z
            #expect(object.finalizers == ["finalizersValue"])
            #expect(object.ownerReferences == [KubernetesOwnerReference(apiVersion: "apiVersionValue", kind: "kindValue",
                                                                        name: "nameValue", uid: "uidValue", controller: true)])
        }
    }

    @Test("An encrypted value names its provider and key")
    func encrypted() {
        let object = KubernetesObject(etcdKey: "/registry/secrets/default/db", value: Array("k8s:enc:kms:v2:vault-key:\u{1}\u{2}".utf8))
        #expect(object.encoding == .encrypted)
        #expect(object.encryption == KubernetesEncryption(provider: "kms", version: "v2", keyName: "vault-key"))
    }
}
