import EtcdTestSupport
import Foundation
import Testing
@testable import Recovery
import SnapshotStore

@Suite("Doctor: offline diagnosis of a real etcd data dir")
struct DoctorTests {
    static let versions: [EtcdVersion] = [.v3_4, .v3_5]

    @Test("A healthy data dir has no critical finding, names what it checked and needs no action", arguments: versions)
    func healthy(version: EtcdVersion) async throws {
        let c = try await DoctorCase.make(version)
        defer { c.remove() }
        let report = c.examine()
        #expect(!report.hasCritical, "\(report.summary)")
        for code in ["snap-files", "db", "snap-db", "wal", "db-size", "disk-space", "backup-age", "restore-candidate"] {
            #expect(report.severity(code) == .ok, "\(code) in \(report.summary)")
        }
        #expect(report.recommendation.hasPrefix("No action needed"))
        #expect(try c.snapNames().count >= 2, "expected several .snap files with --snapshot-count 50")
    }

    @Test("The founding failure: a .snap ahead of the db's consistent index without its .snap.db is critical", arguments: versions)
    func snapshotAheadOfDatabase(version: EtcdVersion) async throws {
        let c = try await DoctorCase.make(version)
        defer { c.remove() }
        let made = try makeDatabaseBehindSnapshot(dataDir: c.dataDir)
        let report = c.examine()
        let finding = try #require(report.findings("snap-db-missing").first, "\(report.summary)")
        #expect(finding.severity == .critical)
        #expect(finding.message.contains(made.name))
        #expect(finding.message.contains("\(made.index)") && finding.message.contains("\(made.consistentIndex)"))
        #expect(finding.message.contains(RaftSnapshotFile.databaseFileName(index: made.index)))
        #expect(finding.message.contains("failed to find database snapshot file"))
        #expect(report.hasCritical)
        #expect(report.recommendation.hasPrefix("Restore from \(c.pristine.backupName) (revision "))
        #expect(report.recommendation.contains("etcd-console restore \(c.backupDir)/\(c.pristine.backupName)"))

        // With the .snap.db present etcd would use it: no longer critical.
        try Data().write(to: URL(fileURLWithPath: c.snapDir + "/" + RaftSnapshotFile.databaseFileName(index: made.index)))
        let withDB = c.examine()
        #expect(withDB.findings("snap-db-missing").isEmpty)
        #expect(withDB.severity("snap-db") == .ok)
    }

    @Test("A valid .snap the WAL does not record is an orphan etcd ignores: a warning, not snap-db-missing",
          arguments: versions)
    func orphanSnapshot(version: EtcdVersion) async throws {
        let c = try await DoctorCase.make(version)
        defer { c.remove() }
        let made = try makeOrphanSnapshotAheadOfDatabase(dataDir: c.dataDir)
        let report = c.examine()
        let finding = try #require(report.findings("snap-orphan").first, "\(report.summary)")
        #expect(finding.severity == .warning)
        #expect(finding.message.contains(made.name))
        #expect(report.findings("snap-db-missing").isEmpty)
        #expect(!report.hasCritical, "\(report.summary)")
    }

    @Test("A .snap with a flipped byte is unreadable: a warning while an older one remains, critical when none does",
          arguments: versions)
    func flippedByte(version: EtcdVersion) async throws {
        let c = try await DoctorCase.make(version)
        defer { c.remove() }
        let names = try c.snapNames()
        func flip(_ name: String) throws {
            let url = URL(fileURLWithPath: c.snapDir + "/" + name)
            var bytes = [UInt8](try Data(contentsOf: url))
            bytes[bytes.count / 2] ^= 0x40
            try Data(bytes).write(to: url)
        }
        try flip(try #require(names.last))
        let report = c.examine()
        let finding = try #require(report.findings("snap-unreadable").first, "\(report.summary)")
        #expect(finding.severity == .warning)
        #expect(finding.message.contains(names.last!))
        #expect(finding.message.contains("crc mismatch"))
        #expect(!report.hasCritical, "\(report.summary)")

        for name in names.dropLast() { try flip(name) }
        let none = c.examine()
        #expect(none.severity("snap-unreadable") == .critical, "\(none.summary)")
    }

    @Test("A .snap.broken file left by etcd is a warning", arguments: versions)
    func brokenSnap(version: EtcdVersion) async throws {
        let c = try await DoctorCase.make(version)
        defer { c.remove() }
        let newest = try #require(try c.snapNames().last)
        try FileManager.default.copyItem(atPath: c.snapDir + "/" + newest, toPath: c.snapDir + "/" + newest + ".broken")
        let report = c.examine()
        let finding = try #require(report.findings("snap-broken").first, "\(report.summary)")
        #expect(finding.severity == .warning)
        #expect(finding.message.contains(newest + ".broken"))
        #expect(!report.hasCritical)
    }

    @Test("A truncated db is critical (db-truncated or db-corrupt with the walk's error), a missing db is db-missing",
          arguments: versions)
    func database(version: EtcdVersion) async throws {
        let c = try await DoctorCase.make(version)
        defer { c.remove() }
        let db = c.snapDir + "/db"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: db)[.size] as? Int)
        #expect(truncate(db, off_t(size / 2)) == 0)
        let truncated = c.examine()
        let finding = try #require((truncated.findings("db-truncated") + truncated.findings("db-corrupt")).first, "\(truncated.summary)")
        #expect(finding.severity == .critical)
        #expect(finding.message.contains(db))
        #expect(truncated.findings("snap-db-missing").isEmpty, "no consistent index to compare with")

        try FileManager.default.removeItem(atPath: db)
        let missing = c.examine()
        #expect(missing.severity("db-missing") == .critical, "\(missing.summary)")
        #expect(missing.recommendation.hasPrefix("Restore from \(c.pristine.backupName)"))
    }

    @Test("A missing WAL dir, an empty one and a gap in the WAL sequence are critical", arguments: versions)
    func wal(version: EtcdVersion) async throws {
        let c = try await DoctorCase.make(version)
        defer { c.remove() }
        let names = try c.walNames()
        let last = try #require(names.last)
        let (seq, index) = try #require(parseHexPair(last, suffix: ".wal"))
        let gap = RaftSnapshotFile.hex16(seq + 2) + "-" + RaftSnapshotFile.hex16(index + 10) + ".wal"
        try Data().write(to: URL(fileURLWithPath: c.walDir + "/" + gap))
        let gapped = c.examine()
        let finding = try #require(gapped.findings("wal-sequence").first, "\(gapped.summary)")
        #expect(finding.severity == .critical)
        #expect(finding.message.contains(last) && finding.message.contains(gap))

        for name in try FileManager.default.contentsOfDirectory(atPath: c.walDir) {
            try FileManager.default.removeItem(atPath: c.walDir + "/" + name)
        }
        #expect(c.examine().severity("wal-empty") == .critical)

        try FileManager.default.removeItem(atPath: c.walDir)
        #expect(c.examine().severity("wal-missing") == .critical)
    }

    @Test("The newest good backup is the restore candidate; an old one is a warning, none is critical", arguments: versions)
    func backups(version: EtcdVersion) async throws {
        let c = try await DoctorCase.make(version)
        defer { c.remove() }
        let report = c.examine()
        let candidate = try #require(report.findings("restore-candidate").first, "\(report.summary)")
        #expect(candidate.severity == .ok)
        #expect(candidate.message.contains(c.pristine.backupName))
        #expect(candidate.message.contains("revision "))
        #expect(!candidate.message.contains("revision unknown"))
        #expect(candidate.action == "etcd-console restore \(c.backupDir)/\(c.pristine.backupName)")

        let later = c.examine(now: Date().addingTimeInterval(3 * 86400))
        #expect(later.severity("backup-age") == .warning, "\(later.summary)")

        let empty = c.root.appendingPathComponent("no-backups").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let none = DataDirDoctor(dataDir: c.dataDir, backupDirectory: empty).examine()
        #expect(none.severity("backup-age") == .critical, "\(none.summary)")
        #expect(none.findings("restore-candidate").isEmpty)
        #expect(none.recommendation.hasPrefix("Take a snapshot now"), "\(none.recommendation)")
    }

    @Test("The db size is compared with the quota")
    func quota() async throws {
        let c = try await DoctorCase.make(.v3_5)
        defer { c.remove() }
        let report = DataDirDoctor(dataDir: c.dataDir, backupDirectory: c.backupDir, quotaBytes: 4096).examine()
        #expect(report.severity("db-size") == .warning, "\(report.summary)")
    }

    @Test("Snapshot file names and the protobuf round trip", arguments: [
        ("0000000000000002-0000000000000033.snap", true), ("0000000000000002-0000000000000033.snap.broken", false),
        ("db", false), ("2-33.snap", false),
    ])
    func names(name: String, valid: Bool) throws {
        #expect((RaftSnapshotFile.parseName(name) != nil) == valid)
        let snap = RaftSnapshotFile(index: 300, term: 2, confState: [0x08, 0x01], data: Array("{}".utf8))
        #expect(try RaftSnapshotFile.decode(snap.encode()) == snap)
        #expect(snap.fileName == "0000000000000002-000000000000012c.snap")
    }
}
