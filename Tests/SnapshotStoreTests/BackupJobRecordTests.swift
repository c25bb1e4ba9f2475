import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing

@Suite("Backup job record")
struct BackupJobRecordTests {
    @Test("A record written to a directory reads back equal, with mode 0644 and no temp file left")
    func roundTrip() throws {
        let dir = try TestDirectories.make("job-record")
        let record = BackupJobRecord(startedAt: Date(timeIntervalSince1970: 1_700_000_000), phase: .saving,
                                     fileName: "snapshot-20231114T221320Z-m1.db", bytesWritten: 1024, bytesTotal: 4096)
        try record.write(toDirectory: dir.path)
        #expect(BackupJobRecord.read(fromDirectory: dir.path) == record)
        let attributes = try FileManager.default.attributesOfItem(atPath: BackupJobRecord.path(inDirectory: dir.path))
        #expect((attributes[.posixPermissions] as? Int) == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [BackupJobRecord.fileName])
    }

    @Test("An unfinished record of a process that is gone is interrupted; one of a live process is not")
    func interrupted() throws {
        let start = Date()
        let live = BackupJobRecord(startedAt: start, phase: .saving)
        #expect(!live.isInterrupted())
        // A pid that cannot be alive: above the kernel's pid_max ceiling (2^22).
        let dead = BackupJobRecord(pid: 4_194_305, startedAt: start, phase: .saving)
        #expect(dead.isInterrupted())
        let finished = BackupJobRecord(pid: 4_194_305, startedAt: start, phase: .succeeded)
        #expect(!finished.isInterrupted())
        let elsewhere = BackupJobRecord(pid: 4_194_305, host: "another-host", startedAt: start, phase: .saving)
        #expect(!elsewhere.isInterrupted())
    }

    @Test("A missing or garbled record reads as none")
    func garbled() throws {
        let dir = try TestDirectories.make("job-record-bad")
        #expect(BackupJobRecord.read(fromDirectory: dir.path) == nil)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: BackupJobRecord.path(inDirectory: dir.path)))
        #expect(BackupJobRecord.read(fromDirectory: dir.path) == nil)
    }
}
