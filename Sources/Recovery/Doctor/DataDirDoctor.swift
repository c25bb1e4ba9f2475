#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EtcdClient
import Foundation
import SystemSupport
import SnapshotStore

/// Offline diagnosis of an etcd data dir: reads `member/snap` and `member/wal`, walks the bbolt db,
/// and looks at the backups next to it. Never changes anything and never throws: whatever it cannot
/// read becomes a finding.
///
/// Codes (ok findings name the check that passed): `snap-files`, `snap-broken`, `snap-unreadable`,
/// `db`, `db-missing`, `db-corrupt`, `db-truncated`, `snap-db`, `snap-db-missing`, `wal`,
/// `wal-missing`, `wal-empty`, `wal-sequence`, `db-size`, `disk-space`, `backup-dir`,
/// `backup-same-disk`, `backup-age`, `restore-candidate`.
public struct DataDirDoctor: Sendable {
    public let dataDir: String
    public let walDir: String
    public let backupDirectory: String?
    public let quotaBytes: Int64
    public let now: Date
    /// Where the data dir came from ("flag --data-dir", "discovered: ...", "default"), for findings.
    public var dataDirSource: String?
    /// Where the quota came from ("discovered: ExecStart in ...", "flag --quota-backend-bytes", "etcd's default").
    public var quotaSource: String?
    /// For a member of a multi-member cluster: which members answer (the "quorum" / "quorum-lost" finding).
    public var quorum: QuorumProbe?

    /// `walDir` defaults to `<dataDir>/member/wal`; `quotaBytes` to etcd's default 2 GiB.
    public init(dataDir: String, walDir: String? = nil, backupDirectory: String? = nil,
                quotaBytes: Int64 = 2 << 30, now: Date = Date(), dataDirSource: String? = nil, quotaSource: String? = nil) {
        self.dataDirSource = dataDirSource
        self.quotaSource = quotaSource
        self.dataDir = dataDir
        self.walDir = walDir ?? dataDir + "/member/wal"
        self.backupDirectory = backupDirectory
        self.quotaBytes = quotaBytes
        self.now = now
    }

    var snapDir: String { dataDir + "/member/snap" }
    var dbPath: String { snapDir + "/db" }

    /// The unfinished restore journal next to the data dir: running now (its lock is held by a live process:
    /// leave it alone) or interrupted (resume or roll back).
    func unfinishedRestore() -> DoctorFinding? {
        guard let journal = RestoreJournal.unfinished(dataDir: dataDir) else { return nil }
        if let holder = LockFile.holder(RestoreLock.path(forJournal: journal.path)) {
            return DoctorFinding(.critical, "restore-running", "a restore is running on \(dataDir) now (\(holder)): \(journal.summary)",
                                 action: "Let it finish; do not start etcd or another restore meanwhile. Then run etcd-console doctor again.")
        }
        return DoctorFinding(.critical, "restore-unfinished", "there is \(journal.summary)",
                             action: "Finish it before anything else: etcd-console restore --resume, or etcd-console restore --rollback to put the original data dir back.")
    }

    public func examine() -> DoctorReport {
        var findings: [DoctorFinding] = []
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dataDir, isDirectory: &isDirectory) || !isDirectory.boolValue {
            // One finding, not a critical for each thing inside it: there is nothing here to examine. A restore
            // interrupted after moving the data dir aside is what matters then, as when the dir exists.
            if let finding = unfinishedRestore() { findings.append(finding) }
            findings.append(DoctorFinding(.warning, "data-dir-missing",
                "no data dir at \(dataDir)\(dataDirSource.map { " (from \($0))" } ?? "")",
                action: "If etcd keeps its data elsewhere, name it: --data-dir DIR, data-dir in the config file or ETCD_CONSOLE_DATA_DIR. If the disk was lost, restore a snapshot into it."))
            let candidate = examineBackups(&findings)
            if findings.contains(where: { $0.code == "restore-running" }) {
                return DoctorReport(findings: findings, recommendation: "A restore is running on \(dataDir) now: let it finish, then run doctor again")
            }
            if findings.contains(where: { $0.code == "restore-unfinished" }) {
                return DoctorReport(findings: findings, recommendation: "Finish the unfinished restore first: etcd-console restore --resume, or etcd-console restore --rollback")
            }
            let recommendation = candidate.map { "Nothing to examine at \(dataDir). If it was lost, restore \(Self.describe($0, now: now)): etcd-console restore \($0.path)" }
                ?? "Nothing to examine at \(dataDir): name etcd's data dir (--data-dir), or restore a snapshot if it was lost"
            return DoctorReport(findings: findings, recommendation: recommendation)
        }
        if let finding = unfinishedRestore() { findings.append(finding) }
        let snaps = examineSnapFiles(walRecords: WALSnapshotRecords.read(paths: walFiles().map { walDir + "/" + $0.name }),
                                     &findings)
        let db = examineDatabase(&findings)
        examineSnapDatabase(newest: snaps, db: db, &findings)
        examineWAL(&findings)
        examineSpace(dbSize: db?.fileSize, &findings)
        if let quorum {
            let intact = !findings.contains { $0.severity == .critical }
            if let finding = quorum.finding(dataIntact: intact) { findings.append(finding) }
        }
        let candidate = examineBackups(&findings)
        let report = DoctorReport(findings: findings, recommendation: "")
        return DoctorReport(findings: findings, recommendation: recommendation(report, candidate: candidate))
    }

    // MARK: - member/snap/*.snap

    /// The newest `.snap` etcd would load (nil when there is none), after reporting broken and unreadable ones.
    /// `walRecords`: the snapshots the WAL records; etcd 3.4.10+ and 3.5 load only those (nil: WAL unreadable,
    /// so assume, like older etcd, that the newest valid file is loaded).
    func examineSnapFiles(walRecords: WALSnapshotRecords?,
                          _ findings: inout [DoctorFinding]) -> (name: String, snapshot: RaftSnapshotFile)? {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: snapDir).sorted()
        } catch {
            findings.append(DoctorFinding(.critical, "snap-files", "cannot read \(snapDir): \(Self.reason(snapDir))",
                                          action: "Check that \(dataDir) is the data dir etcd uses (--data-dir) and that this user may read it."))
            return nil
        }
        let broken = names.filter { $0.hasSuffix(".snap.broken") }
        if !broken.isEmpty {
            findings.append(DoctorFinding(.warning, "snap-broken",
                "\(broken.count) snapshot file(s) etcd renamed as broken: \(broken.joined(separator: ", ")); etcd found them unreadable at an earlier start",
                action: "Keep them for analysis; if etcd still fails to start, restore from a good backup."))
        }
        var valid: [(name: String, snapshot: RaftSnapshotFile)] = []
        var unreadable: [String] = []
        for name in names where RaftSnapshotFile.parseName(name) != nil {
            let path = snapDir + "/" + name
            guard let bytes = FileManager.default.contents(atPath: path) else {
                unreadable.append("\(name): cannot be read")
                continue
            }
            do {
                valid.append((name, try RaftSnapshotFile.decode([UInt8](bytes))))
            } catch {
                unreadable.append("\(name): \(error.message)")
            }
        }
        if !unreadable.isEmpty {
            let noneLeft = valid.isEmpty
            findings.append(DoctorFinding(noneLeft ? .critical : .warning, "snap-unreadable",
                "\(unreadable.count) unreadable snapshot file(s) (\(unreadable.joined(separator: "; ")))"
                    + (noneLeft ? "; no valid .snap remains, so etcd cannot rebuild its raft state"
                                : "; etcd will skip them and load an older one"),
                action: noneLeft ? "Restore from the newest good backup."
                                 : "No action needed for etcd to start; keep a backup of the data dir before it next starts."))
        }
        // etcd loads the newest file by name (term, then index) that decodes and that the WAL records.
        var loadable = valid
        if let walRecords, !walRecords.positions.isEmpty {
            loadable = valid.filter {
                walRecords.positions.contains(.init(term: $0.snapshot.term, index: $0.snapshot.index))
            }
            let orphans = valid.filter { candidate in
                !loadable.contains { $0.name == candidate.name } && loadable.allSatisfy { $0.name < candidate.name }
            }
            if !orphans.isEmpty {
                findings.append(DoctorFinding(.warning, "snap-orphan",
                    "\(orphans.map(\.name).joined(separator: ", ")) newer than the last snapshot the WAL records; etcd 3.4.10+ and 3.5 ignore it (a crash between writing the .snap and the WAL record), older etcd would load it",
                    action: "No action needed for etcd 3.4.10+/3.5; move it out of \(snapDir) before starting an older etcd."))
            }
        }
        guard let newest = loadable.last ?? (walRecords == nil ? valid.last : nil) else {
            if unreadable.isEmpty {
                findings.append(DoctorFinding(.ok, "snap-files", valid.isEmpty
                    ? "no raft snapshot files yet (etcd writes one every --snapshot-count entries)"
                    : "no raft snapshot file the WAL records; etcd replays the WAL from its start"))
            }
            return nil
        }
        if unreadable.isEmpty {
            findings.append(DoctorFinding(.ok, "snap-files",
                "\(valid.count) raft snapshot file(s), all readable; etcd loads \(newest.name) at index \(newest.snapshot.index)"))
        }
        return newest
    }

    // MARK: - member/snap/db

    struct DatabaseFacts {
        var fileSize: Int64
        var consistentIndex: UInt64?
    }

    func examineDatabase(_ findings: inout [DoctorFinding]) -> DatabaseFacts? {
        var info = stat()
        guard stat(dbPath, &info) == 0 else {
            let why = errnoDescription(errno)
            findings.append(DoctorFinding(.critical, "db-missing", "the backend database \(dbPath) is missing (\(why)); etcd would start with no keys or fail",
                                          action: "Restore from the newest good backup."))
            return nil
        }
        let fileSize = Int64(info.st_size)
        let restore = "Stop etcd if it runs, keep a copy of \(dataDir), and restore from the newest good backup."
        do {
            let database = EtcdDatabase(bolt: try BoltFile(path: dbPath))
            _ = try database.bolt.checkStructure()
            let index = try database.consistentIndex()
            findings.append(DoctorFinding(.ok, "db",
                "\(dbPath): \(formatBytes(Int(fileSize))), structure walk passed, consistent index \(index.map(String.init) ?? "absent")"))
            return DatabaseFacts(fileSize: fileSize, consistentIndex: index)
        } catch let error as BoltError where error.kind == .truncated || error.kind == .empty {
            findings.append(DoctorFinding(.critical, "db-truncated", "the backend database is truncated: \(error)", action: restore))
        } catch {
            findings.append(DoctorFinding(.critical, "db-corrupt", "the backend database is corrupt: \(error)", action: restore))
        }
        return nil
    }

    // MARK: - the founding failure

    func examineSnapDatabase(newest: (name: String, snapshot: RaftSnapshotFile)?, db: DatabaseFacts?,
                             _ findings: inout [DoctorFinding]) {
        guard let newest, let db else { return }
        let consistent = db.consistentIndex ?? 0
        let snapIndex = newest.snapshot.index
        guard snapIndex > consistent else {
            findings.append(DoctorFinding(.ok, "snap-db",
                "the newest snapshot's index \(snapIndex) is not ahead of the db's consistent index \(consistent): no .snap.db needed"))
            return
        }
        let needed = RaftSnapshotFile.databaseFileName(index: snapIndex)
        if FileManager.default.fileExists(atPath: snapDir + "/" + needed) {
            findings.append(DoctorFinding(.ok, "snap-db",
                "the newest snapshot (index \(snapIndex)) is ahead of the db (consistent index \(consistent)); etcd will use \(needed), which is present"))
            return
        }
        findings.append(DoctorFinding(.critical, "snap-db-missing",
            "the newest snapshot \(newest.name) is at raft index \(snapIndex), ahead of the db's consistent index \(consistent), and \(snapDir)/\(needed) does not exist: etcd will panic at start with 'failed to find database snapshot file' / 'snapshot file doesn't exist'",
            action: "Restore from the newest good snapshot (see restore-candidate); keep \(dataDir) aside, do not delete it."))
    }

    // MARK: - member/wal

    /// The `.wal` files in `walDir`, by sequence ([] when there are none or the directory cannot be read).
    func walFiles() -> [(name: String, seq: UInt64, index: UInt64)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: walDir)) ?? []
        return names.compactMap { name in parseHexPair(name, suffix: ".wal").map { (name: name, seq: $0.0, index: $0.1) } }
            .sorted { $0.seq < $1.seq }
    }

    func examineWAL(_ findings: inout [DoctorFinding]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: walDir, isDirectory: &isDirectory), isDirectory.boolValue else {
            findings.append(DoctorFinding(.critical, "wal-missing",
                "the WAL directory \(walDir) is missing; without it etcd has no raft log and starts as a new member or fails",
                action: "If etcd runs with --wal-dir, pass it (--wal-dir); otherwise restore from the newest good backup."))
            return
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: walDir)
        } catch {
            findings.append(DoctorFinding(.critical, "wal-missing", "cannot read \(walDir): \(Self.reason(walDir))",
                                          action: "Check the permissions of \(walDir)."))
            return
        }
        let files = names.compactMap { name in parseHexPair(name, suffix: ".wal").map { (name: name, seq: $0.0, index: $0.1) } }
            .sorted { $0.seq < $1.seq }
        guard let first = files.first, let last = files.last else {
            findings.append(DoctorFinding(.critical, "wal-empty", "the WAL directory \(walDir) has no .wal files",
                                          action: "Restore from the newest good backup."))
            return
        }
        var problems: [String] = []
        for (previous, next) in zip(files, files.dropFirst()) {
            if next.seq != previous.seq + 1 {
                problems.append("\(previous.name) is followed by \(next.name): sequence \(previous.seq + 1) is missing")
            } else if next.index < previous.index {
                problems.append("\(next.name) starts at index \(next.index), before \(previous.name) (\(previous.index))")
            }
        }
        if problems.isEmpty {
            findings.append(DoctorFinding(.ok, "wal", files.count == 1 ? "1 WAL file, \(first.name)" : "\(files.count) WAL files in sequence, \(first.name) to \(last.name)"))
        } else {
            findings.append(DoctorFinding(.critical, "wal-sequence",
                "WAL files out of sequence: \(problems.joined(separator: "; ")); etcd refuses to read a WAL with a gap",
                action: "Look for the missing files (moved or deleted by hand?); otherwise restore from the newest good backup."))
        }
    }

    // MARK: - space

    func examineSpace(dbSize: Int64?, _ findings: inout [DoctorFinding]) {
        if let dbSize {
            let limit = quotaBytes * 8 / 10
            if dbSize > limit {
                findings.append(DoctorFinding(.warning, "db-size",
                    "the db is \(formatBytes(Int(dbSize))), over 80% of the \(formatBytes(Int(quotaBytes))) quota\(quotaText); at the quota etcd raises NOSPACE and refuses writes",
                    action: "Compact and defragment (etcdctl compact <rev>; etcdctl defrag), or raise --quota-backend-bytes."))
            } else {
                findings.append(DoctorFinding(.ok, "db-size", "the db is \(formatBytes(Int(dbSize))) of a \(formatBytes(Int(quotaBytes))) quota\(quotaText)"))
            }
        }
        guard case .success(let space) = FreeSpace.near(dataDir) else { return }
        let free = space.bytes
        let needed = max(2 * (dbSize ?? 0), 1_000_000_000)
        if free < needed {
            findings.append(DoctorFinding(.warning, "disk-space",
                "only \(formatBytes(Int(free))) free on the filesystem of \(dataDir); a restore or defragment needs about \(formatBytes(Int(needed)))",
                action: "Free space on that filesystem before restoring or defragmenting."))
        } else {
            findings.append(DoctorFinding(.ok, "disk-space", "\(formatBytes(Int(free))) free on the filesystem of \(dataDir)"))
        }
    }

    // MARK: - backups

    func examineBackups(_ findings: inout [DoctorFinding]) -> SnapshotEntry? {
        guard let backupDirectory else {
            findings.append(DoctorFinding(.warning, "backup-dir", "no backup directory given, so backups were not checked",
                                          action: "Pass --dir with the directory your snapshots go to."))
            return nil
        }
        var dataInfo = stat(), backupInfo = stat()
        if stat(dataDir, &dataInfo) == 0, stat(backupDirectory, &backupInfo) == 0 {
            if dataInfo.st_dev == backupInfo.st_dev {
                findings.append(DoctorFinding(.warning, "backup-same-disk",
                    "the backups in \(backupDirectory) are on the same filesystem as \(dataDir): one disk failure loses both",
                    action: "Copy snapshots to another disk or host (or point --dir of snapshot save there)."))
            } else {
                findings.append(DoctorFinding(.ok, "backup-same-disk", "the backups are on a different filesystem from the data dir"))
            }
        }
        let entries: [SnapshotEntry]
        do {
            entries = try SnapshotCatalog.standard(directory: backupDirectory).list().entries
        } catch {
            findings.append(DoctorFinding(.critical, "backup-age", "no backups: \(error)",
                                          action: "Take a snapshot as soon as etcd runs (etcd-console snapshot save --dir \(backupDirectory))."))
            return nil
        }
        let good = entries.filter { $0.health == .good }.max { $0.takenAt < $1.takenAt }
        guard let good else {
            findings.append(DoctorFinding(.critical, "backup-age",
                "no good snapshot in \(backupDirectory) (\(entries.count) file(s) there)",
                action: "Take a snapshot as soon as etcd runs (etcd-console snapshot save --dir \(backupDirectory))."))
            return nil
        }
        let age = good.ageSeconds(now: now)
        if age > 24 * 3600 {
            findings.append(DoctorFinding(.warning, "backup-age", "the newest good snapshot \(good.name) is \(Self.ageText(age)) old",
                                          action: "Take a snapshot now and schedule them (etcd-console snapshot save)."))
        } else {
            findings.append(DoctorFinding(.ok, "backup-age", "the newest good snapshot \(good.name) is \(Self.ageText(age)) old"))
        }
        findings.append(DoctorFinding(.ok, "restore-candidate", "restore from \(Self.describe(good, now: now))",
                                      action: "etcd-console restore \(good.path)"))
        return good
    }

    /// " (--quota-backend-bytes from <source>)", or "" when the source is unknown.
    var quotaText: String { quotaSource.map { " (--quota-backend-bytes from \($0))" } ?? "" }

    // MARK: - recommendation

    func recommendation(_ report: DoctorReport, candidate: SnapshotEntry?) -> String {
        if !report.findings("restore-running").isEmpty {
            return "A restore is running on \(dataDir) now: let it finish, then run doctor again"
        }
        let dataDirCritical = report.findings.contains {
            $0.severity == .critical && !$0.code.hasPrefix("backup") && $0.code != "quorum-lost"
        }
        if !report.findings("quorum-lost").isEmpty && !dataDirCritical {
            let me = quorum?.localName ?? "<this member>"
            // The command last, so the console can show it on lines of its own.
            return "Quorum is lost and this member's data is intact: if the others are gone for good, restore every member from this member's data (by hand: start it alone with --force-new-cluster, then add the others back one at a time)"
                + (candidate.map { ", or every member from \(Self.describe($0, now: now)) with restore --cluster" } ?? "")
                + ": etcd-console restore --cluster --inventory <cluster.yaml> --from-survivor \(me)"
        }
        if report.hasCritical && !dataDirCritical, let backupDirectory {
            return "Take a snapshot now, the data dir itself looks usable: etcd-console snapshot save --dir \(backupDirectory)"
        }
        if report.hasCritical {
            if let candidate {
                return "Restore from \(Self.describe(candidate, now: now)): etcd-console restore \(candidate.path)"
            }
            return "etcd cannot run safely from this data dir and no good backup was found: fix the critical findings or restore from a snapshot kept elsewhere"
        }
        let warnings = report.findings.filter { $0.severity == .warning }.count
        return warnings == 0 ? "No action needed" : "No action needed now; review the \(warnings) warning(s)"
    }

    static func describe(_ entry: SnapshotEntry, now: Date) -> String {
        "\(entry.name) (revision \(entry.revision.map(String.init) ?? "unknown"), \(ageText(entry.ageSeconds(now: now))) ago)"
    }

    /// "45s", "12m", "3h05m", "2d04h".
    static func ageText(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return "\(s / 3600)h" + twoDigits((s % 3600) / 60) + "m" }
        return "\(s / 86400)d" + twoDigits((s % 86400) / 3600) + "h"
    }

    private static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// errno's text for a path that cannot be listed (Foundation's messages do not say why).
    static func reason(_ path: String) -> String {
        guard let dir = opendir(path) else { return errnoDescription(errno) }
        closedir(dir)
        return "cannot be listed"
    }
}
