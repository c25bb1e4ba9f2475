import EtcdTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Practice
import SnapshotStore

/// A real etcd of one release, filled with puts, overwrites, deletes, a compaction, a lease and a few
/// hundred Kubernetes objects, then saved with `etcdctl snapshot save` and stopped. What etcd's own
/// tools say about the snapshot and the member's db is recorded for the tests to compare against.
/// Built once per release per test process.
struct SnapshotFixture: Sendable {
    struct LiveKey: Sendable, Equatable, Hashable {
        var key: [UInt8]
        var createRevision: Int64
        var modRevision: Int64
        var version: Int64
    }

    var version: EtcdVersion
    var directory: URL
    /// `etcdctl snapshot save` output: db + sha256 trailer.
    var snapshotPath: String
    /// The stopped member's member/snap/db.
    var dbPath: String
    /// `snapshot status -w json` of each file, from etcdctl (3.4) or etcdutl (3.5).
    var snapshotStatus: EtcdSnapshotStatus
    var dbStatus: EtcdSnapshotStatus
    /// `etcdctl get "" --prefix --keys-only -w json` just before the snapshot.
    var liveKeys: [LiveKey]
    /// The Kubernetes objects written, and which of them were deleted again.
    var kubernetesItems: [KubernetesSampleData.Item]
    var deletedKubernetesKeys: Set<String>
    var memberName: String
    var peerURL: String

    static let v3_4 = Shared(.v3_4)
    static let v3_5 = Shared(.v3_5)

    static func get(_ version: EtcdVersion) async throws -> SnapshotFixture {
        try await (version == .v3_4 ? v3_4 : v3_5).get()
    }

    /// Builds the fixture once. It keeps the building task, not the result: an actor is reentrant at
    /// `await`, so tests asking while it is being built must wait for that build, not start their own.
    actor Shared {
        private let version: EtcdVersion
        private var building: Task<SnapshotFixture, any Error>?

        init(_ version: EtcdVersion) { self.version = version }

        func get() async throws -> SnapshotFixture {
            if let building { return try await building.value }
            let version = version
            let task = Task { try await SnapshotFixture.make(version) }
            building = task
            return try await task.value
        }
    }

    private static func make(_ version: EtcdVersion) async throws -> SnapshotFixture {
        let name = "snapstore-\(version.rawValue)"
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version, name: name))
        do {
            // The filling blocks on processes and HTTP round trips: do it on a thread of its own, so
            // it neither waits for nor starves the few threads the tests run on.
            var fixture = try await onOwnThread { try fill(etcd, version: version, name: name) }
            await etcd.stop()
            fixture.dbPath = fixture.directory.appendingPathComponent("member-db").path
            try FileManager.default.copyItem(atPath: etcd.dataDir.appendingPathComponent("member/snap/db").path,
                                             toPath: fixture.dbPath)
            fixture.dbStatus = try status(etcd, fixture.dbPath)
            return fixture
        } catch {
            await etcd.stop()
            throw error
        }
    }

    private static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try body() })
            }.start()
        }
    }

    /// Writes the data, records what etcdctl sees and saves the snapshot; the db fields are filled in
    /// once etcd has stopped.
    private static func fill(_ etcd: EtcdProcess, version: EtcdVersion, name: String) throws -> SnapshotFixture {
        func ctl(_ arguments: [String]) throws -> CommandResult {
            let result = try etcd.etcdctl(arguments)
            guard result.succeeded else {
                throw EtcdTestSupportError("etcdctl \(arguments.joined(separator: " ")) failed: \(result.output)")
            }
            return result
        }
        // Plain keys: single puts, transactions (several puts in one revision: sub-revisions), a
        // compaction, overwrites, a range delete, a prefix delete and a leased key.
        func txn(_ puts: [String]) throws {
            let result = try etcd.etcdctl(["txn"], stdin: "\n" + puts.joined(separator: "\n") + "\n\n\n")
            guard result.succeeded, result.stdout.contains("SUCCESS") else {
                throw EtcdTestSupportError("etcdctl txn failed: \(result.output)")
            }
        }
        for index in 0..<10 { _ = try ctl(["put", String(format: "k%03d", index), "value-\(index)"]) }
        try txn((10..<40).map { String(format: "put k%03d \"value-%d\"", $0, $0) })
        _ = try ctl(["compact", "5"])
        try txn((0..<15).map { String(format: "put k%03d \"second-%d\"", $0, $0) })
        _ = try ctl(["del", "k020", "k025"])
        _ = try ctl(["del", "k03", "--prefix"])
        let grant = try ctl(["lease", "grant", "600"])
        let leaseID = grant.stdout.split(separator: " ").dropFirst().first.map(String.init) ?? ""
        _ = try ctl(["put", "--lease=\(leaseID)", "leased", "yes"])

        // Kubernetes objects, binary values included, through etcd's JSON gateway (etcdctl's stdin in
        // EtcdTestSupport is text, which cannot carry protobuf bytes).
        // Written in transactions of 30 puts (no larger than the plain keys' 30-put one, whose sub-revisions
        // 0...29 a test expects): each put on its own is one fsync of etcd's WAL, and with the whole suite
        // starting at once 260 of them took minutes.
        let items = Array(KubernetesSampleData(seed: 2024, limit: .count(260), encryptedFraction: 0.3))
        for start in stride(from: 0, to: items.count, by: 30) {
            try gatewayTransaction(etcd, items[start..<min(start + 30, items.count)].map {
                ["request_put": ["key": encoded(Array($0.key.utf8)), "value": encoded($0.value)]]
            })
        }
        var deleted = Set<String>()
        var deletes: [[String: Any]] = []
        for item in items.enumerated() where item.offset % 25 == 7 {
            deletes.append(["request_delete_range": ["key": encoded(Array(item.element.key.utf8))]])
            deleted.insert(item.element.key)
        }
        try gatewayTransaction(etcd, deletes)
        _ = try ctl(["put", "foo", "bar"])

        let liveKeys = try parseKeys(try ctl(["get", "", "--prefix", "--keys-only", "-w", "json"]).stdout)
        let directory = try TestDirectories.make("snapshot-\(version.rawValue)")
        let snapshotPath = directory.appendingPathComponent("snapshot.db").path
        _ = try ctl(["snapshot", "save", snapshotPath])
        let snapshotStatus = try status(etcd, snapshotPath)

        return SnapshotFixture(version: version, directory: directory, snapshotPath: snapshotPath, dbPath: "",
                               snapshotStatus: snapshotStatus, dbStatus: snapshotStatus, liveKeys: liveKeys,
                               kubernetesItems: items, deletedKubernetesKeys: deleted, memberName: name,
                               peerURL: etcd.peerURL)
    }

    /// `snapshot status -w json` by etcd's own offline tool.
    static func status(_ etcd: EtcdProcess, _ path: String) throws -> EtcdSnapshotStatus {
        let result = try etcd.etcdutl(["snapshot", "status", "-w", "json", path])
        guard result.succeeded, let start = result.stdout.firstIndex(of: "{") else {
            throw EtcdTestSupportError("snapshot status \(path) failed: \(result.output)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout[start...].utf8)) as? [String: Any] ?? [:]
        func number(_ name: String) throws -> Int64 {
            guard let value = json[name] as? NSNumber else {
                throw EtcdTestSupportError("snapshot status printed no \(name): \(result.stdout)")
            }
            return value.int64Value
        }
        return EtcdSnapshotStatus(hash: UInt32(try number("hash")), revision: try number("revision"),
                                  totalKey: Int(try number("totalKey")), totalSize: try number("totalSize"))
    }

    private static func parseKeys(_ output: String) throws -> [LiveKey] {
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] ?? [:]
        let kvs = json["kvs"] as? [[String: Any]] ?? []
        return try kvs.map { kv in
            guard let key = (kv["key"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
                throw EtcdTestSupportError("etcdctl get printed a kv without a key: \(kv)")
            }
            func number(_ name: String) -> Int64 { (kv[name] as? NSNumber)?.int64Value ?? 0 }
            return LiveKey(key: Array(key), createRevision: number("create_revision"),
                           modRevision: number("mod_revision"), version: number("version"))
        }
    }

    /// A call to etcd's gRPC gateway (POST /v3/kv/<call> with base64 byte fields), waited for.
    private static func encoded(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// One transaction of `operations` (gateway JSON: `request_put` / `request_delete_range`), no compare.
    private static func gatewayTransaction(_ etcd: EtcdProcess, _ operations: [[String: Any]]) throws {
        try gateway(etcd, "txn", try JSONSerialization.data(withJSONObject: ["success": operations]))
    }

    private static func gateway(_ etcd: EtcdProcess, _ call: String, _ body: Data) throws {
        var request = URLRequest(url: URL(string: "\(etcd.clientURL)/v3/kv/\(call)")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        let outcome = GatewayOutcome()
        URLSession.shared.dataTask(with: request) { body, response, error in
            outcome.set((response as? HTTPURLResponse)?.statusCode == 200
                ? nil : "gateway \(call) failed: \(error.map { "\($0)" } ?? String(decoding: body ?? Data(), as: UTF8.self))")
            outcome.done.signal()
        }.resume()
        guard outcome.done.wait(timeout: .now() + 30) == .success else {
            throw EtcdTestSupportError("gateway \(call) timed out after 30 s")
        }
        if let failure = outcome.get() { throw EtcdTestSupportError(failure) }
    }

    private final class GatewayOutcome: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var failure: String?

        func set(_ value: String?) { lock.withLock { failure = value } }
        func get() -> String? { lock.withLock { failure } }
    }

    /// A scratch copy of the snapshot to corrupt.
    func copyOfSnapshot(_ name: String) throws -> (path: String, bytes: [UInt8]) {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: snapshotPath)))
        let path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (path, bytes)
    }
}
