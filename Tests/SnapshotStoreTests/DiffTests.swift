import EtcdTestSupport
import Foundation
import Testing
import SnapshotStore

@Suite("Diff lists what changed between two snapshots")
struct DiffTests {
    /// Two snapshots of one etcd with known changes between them.
    struct Scenario {
        var before: String
        var after: String
        var beforeStatus: EtcdSnapshotStatus
        var afterStatus: EtcdSnapshotStatus
    }

    private static func pod(_ namespace: String, _ name: String, _ note: String = "") -> String {
        #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)","namespace":"\#(namespace)"},"spec":{"note":"\#(note)"}}"#
    }

    /// Writes the first state, saves snapshot A, makes the changes the test expects, saves snapshot B.
    private func makeScenario(_ version: EtcdVersion) async throws -> Scenario {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version, name: "diff-\(version.rawValue)"))
        do {
            let directory = try TestDirectories.make("diff-\(version.rawValue)")
            func ctl(_ arguments: [String]) throws {
                let result = try etcd.etcdctl(arguments)
                guard result.succeeded else {
                    throw EtcdTestSupportError("etcdctl \(arguments.joined(separator: " ")) failed: \(result.output)")
                }
            }
            func put(_ key: String, _ value: String) throws { try ctl(["put", key, value]) }
            func delete(_ key: String) throws { try ctl(["del", key]) }
            func save(_ name: String) throws -> (String, EtcdSnapshotStatus) {
                let path = directory.appendingPathComponent(name).path
                try ctl(["snapshot", "save", path])
                return (path, try SnapshotFixture.status(etcd, path))
            }

            for name in ["a", "b", "c"] { try put("/registry/pods/default/\(name)", Self.pod("default", name)) }
            try put("/registry/configmaps/kube-system/x", #"{"kind":"ConfigMap"}"#)
            try put("/registry/configmaps/kube-system/y", #"{"kind":"ConfigMap"}"#)
            try put("/registry/namespaces/default", #"{"kind":"Namespace"}"#)
            try put("/registry/services/specs/default/web", #"{"kind":"Service","spec":{"port":80}}"#)
            try put("/registry/example.com/widgets/default/w1", #"{"kind":"Widget"}"#)
            try put("foo", "bar")
            try put("app/config", "v1")
            let (before, beforeStatus) = try save("a.db")

            // Added
            try put("/registry/pods/default/d", Self.pod("default", "d"))
            try put("/registry/configmaps/business/z", #"{"kind":"ConfigMap"}"#)
            try put("/registry/namespaces/business", #"{"kind":"Namespace"}"#)
            try put("added-other", "1")
            // Removed
            try delete("/registry/pods/default/b")
            try delete("/registry/configmaps/kube-system/y")
            try delete("foo")
            // Changed: the same bytes again, new bytes, deleted and created again
            try put("/registry/pods/default/a", Self.pod("default", "a"))
            try put("/registry/services/specs/default/web", #"{"kind":"Service","spec":{"port":8080}}"#)
            try delete("/registry/example.com/widgets/default/w1")
            try put("/registry/example.com/widgets/default/w1", #"{"kind":"Widget"}"#)
            // Created and deleted in between: no difference
            try put("/registry/pods/default/passing", Self.pod("default", "passing"))
            try delete("/registry/pods/default/passing")
            let (after, afterStatus) = try save("b.db")
            await etcd.stop()
            return Scenario(before: before, after: after, beforeStatus: beforeStatus, afterStatus: afterStatus)
        } catch {
            await etcd.stop()
            throw error
        }
    }

    @Test("Added, removed and changed objects are exactly the ones touched, with a summary", arguments: EtcdVersion.allCases)
    func diff(version: EtcdVersion) async throws {
        let scenario = try await makeScenario(version)
        let diff = try SnapshotDiffer.diff(scenario.before, scenario.after)
        #expect(diff.added == [
            ObjectRef(resource: "(other)", namespace: nil, name: "added-other"),
            ObjectRef(resource: "configmaps", namespace: "business", name: "z"),
            ObjectRef(resource: "namespaces", namespace: nil, name: "business"),
            ObjectRef(resource: "pods", namespace: "default", name: "d"),
        ])
        #expect(diff.removed == [
            ObjectRef(resource: "(other)", namespace: nil, name: "foo"),
            ObjectRef(resource: "configmaps", namespace: "kube-system", name: "y"),
            ObjectRef(resource: "pods", namespace: "default", name: "b"),
        ])
        #expect(diff.changed == [
            ObjectRef(resource: "example.com/widgets", namespace: "default", name: "w1"),
            ObjectRef(resource: "pods", namespace: "default", name: "a"),
            ObjectRef(resource: "services/specs", namespace: "default", name: "web"),
        ])
        #expect(diff.summary == [
            DiffSummaryRow(resource: "(other)", namespace: nil, added: 1, removed: 1),
            DiffSummaryRow(resource: "configmaps", namespace: "business", added: 1),
            DiffSummaryRow(resource: "configmaps", namespace: "kube-system", removed: 1),
            DiffSummaryRow(resource: "example.com/widgets", namespace: "default", changed: 1),
            DiffSummaryRow(resource: "namespaces", namespace: nil, added: 1),
            DiffSummaryRow(resource: "pods", namespace: "default", added: 1, removed: 1, changed: 1),
            DiffSummaryRow(resource: "services/specs", namespace: "default", changed: 1),
        ])
        #expect(diff.fromRevision == scenario.beforeStatus.revision)
        #expect(diff.toRevision == scenario.afterStatus.revision)

        let reversed = try SnapshotDiffer.diff(scenario.after, scenario.before)
        #expect(reversed.added == diff.removed && reversed.removed == diff.added && reversed.changed == diff.changed)
        #expect(reversed.fromRevision == diff.toRevision)

        // One pass per file: the same checks as the readers run, the same diff as two separate reads.
        let (checks, checked) = SnapshotDiffer.checkAndDiff(scenario.before, scenario.after)
        #expect(checks.map(\.path) == [scenario.before, scenario.after])
        #expect(checks.map(\.health) == [.good, .good])
        #expect(try checked.get() == diff)
        let same = try SnapshotDiffer.diff(scenario.after, scenario.after)
        #expect(same.isEmpty && same.summary.isEmpty)
        #expect(same.fromRevision == same.toRevision)

        let decoded = try JSONDecoder().decode(SnapshotDiff.self, from: JSONEncoder().encode(diff))
        #expect(decoded == diff)
    }

    @Test("A snapshot and its own member db copy differ in nothing")
    func snapshotAgainstMemberDatabase() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let diff = try SnapshotDiffer.diff(fixture.snapshotPath, fixture.dbPath)
        #expect(diff.isEmpty, "\(diff.summary)")
    }

    @Test("Check and diff with a damaged file: its check says so, and what can be read is still compared")
    func checkAndDiffDamaged() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let (flipped, _) = try VerifyScenario.make(.flippedTrailerByte, fixture: fixture, for: "check-and-diff")
        let (checks, diff) = SnapshotDiffer.checkAndDiff(fixture.snapshotPath, flipped)
        #expect(checks.map(\.health) == [.good, .corrupt])
        #expect(checks[1].reason?.contains("checksum mismatch") == true, "\(checks[1].reason ?? "")")
        #expect(try diff.get().isEmpty, "only the trailer changed: the keys are the same")
    }
}
