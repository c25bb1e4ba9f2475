import EtcdTestSupport
import Foundation
import Testing
@testable import Recovery
import SnapshotStore

/// A real etcd data dir per version, made once: etcd with `--snapshot-count 50`, 300 keys (so several
/// `.snap` files exist), a snapshot taken into a backup directory, then etcd stopped. Each test works on
/// its own copy.
actor DoctorFixtures {
    static let shared = DoctorFixtures()

    struct Pristine: Sendable {
        let etcd: EtcdProcess
        let dataDir: URL
        let backupDir: URL
        let backupName: String
    }

    private var made: [EtcdVersion: Task<Pristine, any Error>] = [:]

    func pristine(_ version: EtcdVersion) async throws -> Pristine {
        if let task = made[version] { return try await task.value }
        let task = Task { try await Self.make(version) }
        made[version] = task
        return try await task.value
    }

    private static func make(_ version: EtcdVersion) async throws -> Pristine {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version, name: "doctor",
                                                           extraFlags: ["--snapshot-count", "50"]))
        do {
            let flags = try etcd.etcdctlFlags().map { "'\($0)'" }.joined(separator: " ")
            let script = "for i in $(seq 1 300); do '\(etcd.binaries.etcdctl)' \(flags) put key$i value$i >/dev/null || exit 1; done"
            let put = try runCommand("/bin/bash", ["-c", script], environment: ["ETCDCTL_API": "3"], timeout: .seconds(120))
            try #require(put.succeeded, "writing keys failed: \(put.output)")
            let backupDir = try TestDirectories.make("doctor-backups-\(version.rawValue)")
            let backupName = "snapshot-doctor.db"
            let save = try etcd.etcdctl(["snapshot", "save", backupDir.appendingPathComponent(backupName).path])
            try #require(save.succeeded, "snapshot save failed: \(save.output)")
            await etcd.stop()
            let copy = try TestDirectories.make("doctor-pristine-\(version.rawValue)").appendingPathComponent("data")
            try FileManager.default.copyItem(at: etcd.dataDir, to: copy)
            return Pristine(etcd: etcd, dataDir: copy, backupDir: backupDir, backupName: backupName)
        } catch {
            await etcd.stop()
            throw error
        }
    }
}

/// One test's copy of a pristine data dir (and of the backups), removed when the test is done.
struct DoctorCase {
    let root: URL
    let dataDir: String
    let backupDir: String
    let pristine: DoctorFixtures.Pristine

    static func make(_ version: EtcdVersion) async throws -> DoctorCase {
        let pristine = try await DoctorFixtures.shared.pristine(version)
        let root = try TestDirectories.make("doctor-case-\(version.rawValue)")
        let dataDir = root.appendingPathComponent("data")
        let backupDir = root.appendingPathComponent("backups")
        try FileManager.default.copyItem(at: pristine.dataDir, to: dataDir)
        try FileManager.default.copyItem(at: pristine.backupDir, to: backupDir)
        return DoctorCase(root: root, dataDir: dataDir.path, backupDir: backupDir.path, pristine: pristine)
    }

    var snapDir: String { dataDir + "/member/snap" }
    var walDir: String { dataDir + "/member/wal" }

    func examine(backups: Bool = true, now: Date = Date()) -> DoctorReport {
        DataDirDoctor(dataDir: dataDir, backupDirectory: backups ? backupDir : nil, now: now).examine()
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    /// The `.snap` file names, oldest first.
    func snapNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: snapDir).filter { RaftSnapshotFile.parseName($0) != nil }.sorted()
    }

    func walNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: walDir).filter { $0.hasSuffix(".wal") }.sorted()
    }
}

/// A copy of the newest `.snap`, renamed and re-encoded with its metadata index raised above the db's
/// consistent index (crc recomputed), with no matching `.snap.db`. The WAL has no record of it, so etcd
/// 3.4.10+/3.5 ignore it (an orphan, as a crash between writing the .snap and the WAL record leaves).
@discardableResult
func makeOrphanSnapshotAheadOfDatabase(dataDir: String) throws -> (name: String, index: UInt64, consistentIndex: UInt64) {
    let snapDir = dataDir + "/member/snap"
    let names = try FileManager.default.contentsOfDirectory(atPath: snapDir).filter { RaftSnapshotFile.parseName($0) != nil }.sorted()
    let newest = try #require(names.last, "no .snap files in \(snapDir)")
    var snapshot = try RaftSnapshotFile.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: snapDir + "/" + newest))))
    let consistent = try #require(try EtcdDatabase(bolt: BoltFile(path: snapDir + "/db")).consistentIndex())
    snapshot.index = consistent + 1000
    let encoded = snapshot.encode()
    #expect(try RaftSnapshotFile.decode(encoded) == snapshot)
    try Data(encoded).write(to: URL(fileURLWithPath: snapDir + "/" + snapshot.fileName))
    return (snapshot.fileName, snapshot.index, consistent)
}

extension DoctorReport {
    var codes: Set<String> { Set(findings.map(\.code)) }
    func severity(_ code: String) -> DoctorFinding.Severity? { findings(code).first?.severity }
    var summary: String { findings.map { "\($0.severity.rawValue) \($0.code): \($0.message)" }.joined(separator: "\n") }
}

/// Reproduces the founding failure as a power loss leaves it: the db lost its latest commits, so its
/// consistent index is below the newest `.snap` the WAL records, and there is no `.snap.db`. Done by
/// rewriting the 8-byte big-endian value after every "consistent_index" key in the bbolt file (bbolt has
/// no checksums on leaf pages, so the db stays structurally valid). Returns the newest .snap's name and index.
@discardableResult
func makeDatabaseBehindSnapshot(dataDir: String) throws -> (name: String, index: UInt64, consistentIndex: UInt64) {
    let snapDir = dataDir + "/member/snap"
    let names = try FileManager.default.contentsOfDirectory(atPath: snapDir).filter { RaftSnapshotFile.parseName($0) != nil }.sorted()
    let newest = try #require(names.last, "no .snap files in \(snapDir)")
    let snapshot = try RaftSnapshotFile.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: snapDir + "/" + newest))))
    let lowered = snapshot.index - 10
    let url = URL(fileURLWithPath: snapDir + "/db")
    var bytes = [UInt8](try Data(contentsOf: url))
    let key = Array("consistent_index".utf8)
    var patched = 0
    var i = 0
    while i + key.count + 8 <= bytes.count {
        if bytes[i] == key[0], Array(bytes[i..<i + key.count]) == key {
            for b in 0..<8 { bytes[i + key.count + b] = UInt8(truncatingIfNeeded: lowered >> (8 * UInt64(7 - b))) }
            patched += 1
            i += key.count
        } else {
            i += 1
        }
    }
    try #require(patched > 0, "no consistent_index key in \(url.path)")
    try Data(bytes).write(to: url)
    let consistent = try #require(try EtcdDatabase(bolt: BoltFile(path: url.path)).consistentIndex())
    try #require(consistent == lowered)
    return (newest, snapshot.index, consistent)
}
