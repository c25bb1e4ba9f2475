import EtcdTestSupport
import Foundation
import Practice
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

    @Test("The browser's pages, read in any order, are the sorted listing cut into pieces", arguments: EtcdVersion.allCases)
    func browserPages(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let all = sorted(liveItems(fixture).map(\.expected))
        let browser = try SnapshotObjectBrowser(path: fixture.snapshotPath)
        #expect(browser.objectCount == all.count)
        #expect(browser.groups == browser.groups.sorted())
        var paged: [KubernetesObject] = []
        for group in browser.groups {
            let count = browser.count(in: group)
            #expect(count == all.filter { $0.resource == group.resource && $0.namespace == group.namespace }.count)
            // Pages of 3 read back to front, then put in order: no page depends on the one read before it.
            let starts = Array(stride(from: 0, to: count, by: 3))
            var pages: [Int: [KubernetesObject]] = [:]
            for start in starts.reversed() { pages[start] = try browser.objects(in: group, range: start..<(start + 3)) }
            paged += starts.flatMap { pages[$0]! }
            #expect(try browser.objects(in: group, range: count..<(count + 5)).isEmpty, "a range past the end is empty")
        }
        #expect(paged == all)
        var streamed: [KubernetesObject] = []
        try browser.forEachObject(resource: "pods") { streamed.append($0) }
        #expect(streamed == all.filter { $0.resource == "pods" })
    }

    @Test("A filtered page: total, positions among the group's objects, objects; an unknown group is empty")
    func browserFilteredPage() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let browser = try SnapshotObjectBrowser(path: fixture.snapshotPath)
        let group = try #require(browser.groups.max { browser.count(in: $0) < browser.count(in: $1) })
        let all = try browser.objects(in: group, range: 0..<browser.count(in: group))
        let needle = String(try #require(all.last).name.suffix(3)).uppercased()
        let matching = all.indices.filter { all[$0].name.lowercased().contains(needle.lowercased()) }
        let page = try browser.page(in: group, nameContaining: needle, start: 0, count: 2)
        #expect(page.total == matching.count)
        #expect(page.positions == Array(matching.prefix(2)))
        #expect(page.objects == page.positions.map { all[$0] })
        let nowhere = SnapshotObjectCounts.Group(resource: "pods", namespace: "no-such-namespace")
        #expect(try browser.page(in: nowhere, nameContaining: "", start: 0, count: 10).total == 0)
    }

    @Test("Check and count in one pass: the readers' check and the same counts as inspect; a damaged file is still counted")
    func checkAndCount() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var (check, counts) = SnapshotInspector.checkAndCount(path: fixture.snapshotPath)
        var alone = SnapshotReadCheck.run(path: fixture.snapshotPath)
        (check.verification.durationMs, alone.verification.durationMs) = (0, 0)
        #expect(check == alone)
        #expect(check.health == .good)
        let inspected = try SnapshotInspector.inspect(path: fixture.snapshotPath, resource: "pods", namespace: "default")
        #expect(try counts.get().inspection(resource: "pods", namespace: "default") == inspected)
        #expect(try counts.get().inspection() == SnapshotInspector.inspect(path: fixture.snapshotPath))

        let (flipped, _) = try VerifyScenario.make(.flippedTrailerByte, fixture: fixture, for: "check-and-count")
        let (damaged, damagedCounts) = SnapshotInspector.checkAndCount(path: flipped)
        #expect(damaged.health == .corrupt)
        #expect(damaged.reason?.contains("checksum mismatch") == true, "\(damaged.reason ?? "")")
        #expect(try damagedCounts.get().liveKeys == fixture.liveKeys.count, "what could be read is still counted")
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
