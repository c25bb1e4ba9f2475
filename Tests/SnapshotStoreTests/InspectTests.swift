import EtcdTestSupport
import Foundation
import Testing
import SnapshotStore

@Suite("Inspect counts and lists a snapshot's Kubernetes objects offline")
struct InspectTests {
    /// The Kubernetes objects the fixture left live: everything written minus what it deleted.
    private func liveItems(_ fixture: SnapshotFixture) -> [KubernetesSampleData.Item] {
        fixture.kubernetesItems.filter { !fixture.deletedKubernetesKeys.contains($0.key) }
    }

    private func counts(_ items: [KubernetesSampleData.Item], by key: (KubernetesObject) -> String) -> [String: Int] {
        Dictionary(grouping: items, by: { key($0.expected) }).mapValues(\.count)
    }

    @Test("Revision and totalSize equal etcdctl's; counts per resource and namespace equal what was written",
          arguments: EtcdVersion.allCases)
    func counts(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let live = liveItems(fixture)
        for (path, status) in [(fixture.snapshotPath, fixture.snapshotStatus), (fixture.dbPath, fixture.dbStatus)] {
            let inspection = try SnapshotInspector.inspect(path: path)
            #expect(inspection.revision == status.revision)
            #expect(inspection.totalSize == status.totalSize)
            #expect(inspection.hash == nil)
            #expect(inspection.liveKeys == fixture.liveKeys.count)
            #expect(inspection.resources == counts(live, by: \.resource))
            #expect(inspection.namespaces == counts(live, by: { $0.namespace ?? SnapshotInspection.clusterScoped }))
            #expect(inspection.encrypted == live.filter { $0.expected.encoding == .encrypted }.count)
            #expect(inspection.encrypted > 0)
            #expect(inspection.nonKubernetesKeys == fixture.liveKeys.count - live.count)
            #expect(inspection.objects == live.count)
        }
    }

    @Test("With includeHash the hash is etcdctl's too", arguments: EtcdVersion.allCases)
    func hash(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        #expect(try SnapshotInspector.inspect(path: fixture.snapshotPath, includeHash: true).hash == fixture.snapshotStatus.hash)
    }

    /// A filter and the storage resource / namespace it must select.
    struct Filter: Sendable, CustomTestStringConvertible {
        var resource: String?
        var namespace: String?
        var selectsResource: String?

        var testDescription: String { "resource \(resource ?? "*") namespace \(namespace ?? "*")" }

        func selects(_ object: KubernetesObject) -> Bool {
            (selectsResource == nil || object.resource == selectsResource) && (namespace == nil || object.namespace == namespace)
        }
    }

    static let filters: [Filter] = [
        Filter(resource: "pods", selectsResource: "pods"),
        Filter(namespace: "kube-system"),
        Filter(resource: "secrets", namespace: "business", selectsResource: "secrets"),
        Filter(resource: "services/specs", namespace: "default", selectsResource: "services/specs"),
        Filter(resource: "customresourcedefinitions", selectsResource: "apiextensions.k8s.io/customresourcedefinitions"),
        Filter(resource: "example.com/widgets", selectsResource: "example.com/widgets"),
        Filter(resource: "widgets", namespace: "default", selectsResource: "example.com/widgets"),
        Filter(resource: "namespaces", selectsResource: "namespaces"),
        Filter(resource: "namespaces", namespace: "default", selectsResource: "namespaces"),
        Filter(resource: "no-such-resource", selectsResource: "no-such-resource"),
    ]

    @Test("Filters select the same objects in counts and in the listing", arguments: filters)
    func filtered(filter: Filter) async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let live = liveItems(fixture).filter { filter.selects($0.expected) }
        let inspection = try SnapshotInspector.inspect(path: fixture.snapshotPath, resource: filter.resource, namespace: filter.namespace)
        #expect(inspection.resources == counts(live, by: \.resource))
        #expect(inspection.namespaces == counts(live, by: { $0.namespace ?? SnapshotInspection.clusterScoped }))
        #expect(inspection.encrypted == live.filter { $0.expected.encoding == .encrypted }.count)
        #expect(inspection.liveKeys == fixture.liveKeys.count, "filters do not change the total")

        let objects = try SnapshotInspector.objects(path: fixture.snapshotPath, resource: filter.resource, namespace: filter.namespace)
        #expect(objects == sorted(live.map(\.expected)))
    }

    private func sorted(_ objects: [KubernetesObject]) -> [KubernetesObject] {
        objects.sorted {
            ($0.resource, $0.namespace ?? "", $0.name) < ($1.resource, $1.namespace ?? "", $1.name)
        }
    }

    @Test("Browsing lists every live object, decoded, sorted by resource, namespace and name", arguments: EtcdVersion.allCases)
    func browse(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let objects = try SnapshotInspector.objects(path: fixture.snapshotPath)
        #expect(objects == sorted(liveItems(fixture).map(\.expected)))
        #expect(objects.contains { $0.encoding == .json } && objects.contains { $0.encoding == .encrypted })
        #expect(!objects.contains { $0.etcdKey == "foo" }, "keys outside /registry are counted, not listed")
    }

    @Test("One object by key: live, deleted, outside Kubernetes, absent")
    func objectByKey() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let path = fixture.snapshotPath
        let live = liveItems(fixture)
        for item in [live.first!, live.last!, live.first { $0.expected.encoding == .encrypted }!] {
            #expect(try SnapshotInspector.object(path: path, key: item.key) == item.expected)
        }
        let deleted = try #require(fixture.deletedKubernetesKeys.first)
        #expect(try SnapshotInspector.object(path: path, key: deleted) == nil)
        #expect(try SnapshotInspector.object(path: path, key: "/registry/pods/default/never-written") == nil)
        let other = try #require(try SnapshotInspector.object(path: path, key: "foo"))
        #expect(other.resource == "" && other.etcdKey == "foo" && other.valueSize == 3)
    }

    @Test("A browsed Secret carries metadata only: no field could hold its data")
    func secretsStayClosed() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let secrets = try SnapshotInspector.objects(path: fixture.snapshotPath, resource: "secrets")
        #expect(!secrets.isEmpty)
        let fields = Set(Mirror(reflecting: secrets[0]).children.compactMap(\.label))
        #expect(fields == ["etcdKey", "resource", "namespace", "name", "kind", "apiVersion", "uid", "creationTimestamp",
                           "deletionTimestamp", "labels", "finalizers", "ownerReferences", "valueSize", "encoding", "encryption", "problem"],
                "a new KubernetesObject field must not carry object data: review it for secrets")
        for secret in secrets {
            #expect(secret.kind == "Secret" || secret.encoding == .encrypted)
            #expect(secret.problem == nil)
        }
    }

    /// The bad files verify reports, and the error inspect and diff must throw for each.
    static let badFiles: [(SnapshotDamage, String)] = [
        (.empty, "the file is empty"),
        (.randomBytes, "not a bbolt file"),
        (.jsonNamedDB, "not a bbolt file"),
        (.truncatedAtPageBoundary, "the file is truncated"),
        (.truncatedMidPage, "the file is truncated"),
        (.pageOutsideFile, "outside the database"),
        (.pageCycle, "cycle"),
        (.hugeCount, "65535 elements"),
        (.noKeyBucket, "not an etcd snapshot: no \"key\" bucket"),
        (.badRevisionKey, "is not a revision"),
        (.directoryNamedDB, "Is a directory"),
        (.parentIsAFile, "Not a directory"),
        (.fifo, "not a regular file (a FIFO)"),
    ]

    @Test("Inspect, browse and diff of a bad file throw an error naming the file", arguments: badFiles)
    func badFile(damage: SnapshotDamage, expected: String) async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let (path, _) = try VerifyScenario.make(damage, fixture: fixture, for: "inspect")
        let attempts: [(String, () throws -> Void)] = [
            ("inspect", { _ = try SnapshotInspector.inspect(path: path) }),
            ("objects", { _ = try SnapshotInspector.objects(path: path) }),
            ("object", { _ = try SnapshotInspector.object(path: path, key: "/registry/pods/default/x") }),
            ("diff", { _ = try SnapshotDiffer.diff(fixture.snapshotPath, path) }),
        ]
        for (name, attempt) in attempts {
            do {
                try attempt()
                Issue.record("\(name) of \(damage) did not throw")
            } catch let error as BoltError {
                #expect(error.path == path, "\(name): \(error)")
                #expect(error.description.contains(expected), "\(name): \(error)")
            } catch let error as EtcdDataError {
                #expect(error.path == path, "\(name): \(error)")
                #expect(error.description.contains(expected), "\(name): \(error)")
            } catch {
                Issue.record("\(name) of \(damage) threw \(type(of: error)): \(error)")
            }
        }
    }
}
