@testable import ConsoleUI
import Foundation
import SnapshotStore
import Testing

/// Every screen at 80x24 and 120x40 in the states the issue names.
@Suite("Console golden screens")
struct ConsoleGoldenTests {
    typealias F = ConsoleFixtures

    static let states: [(String, @Sendable () -> Console)] = [
        ("members-connecting", { F.console() }),
        ("members-healthy", {
            var c = F.console()
            _ = c.apply(.members(F.healthyMembers, at: F.now))
            return c
        }),
        ("members-degraded", {
            var c = F.console()
            _ = c.apply(.members(F.degradedMembers, at: F.now))
            return c
        }),
        ("members-lagging-one-down", {
            // master2 is 4,210 entries behind; master3 answered 2 minutes ago and has not since.
            var c = F.console()
            _ = c.apply(.members(F.healthyMembers, at: F.now.addingTimeInterval(-130)))
            var members = F.degradedMembers
            members[1].raftIndex = 1_200_122
            _ = c.apply(.members(members, at: F.now.addingTimeInterval(-120)))
            _ = c.apply(.members(members, at: F.now))
            return c
        }),
        ("members-check-diverged", {
            var c = F.console()
            _ = c.apply(.members(F.healthyMembers, at: F.now))
            _ = c.handle(.character("c"))
            _ = c.apply(.checked(F.divergedCheck, at: F.now))
            return c
        }),
        ("members-etcd-down", {
            var c = F.console()
            _ = c.apply(.members(F.healthyMembers, at: F.now.addingTimeInterval(-30)))
            _ = c.apply(.membersFailed("could not reach https://10.0.0.5:2379: connection refused (is etcd running and listening on port 2379?)",
                                       at: F.now.addingTimeInterval(-20)))
            _ = c.apply(.doctor(F.doctorReport, dataDir: "/var/lib/etcd"))
            return c
        }),
        ("members-drill-down", {
            var c = F.console()
            _ = c.apply(.membersFailed("could not reach http://127.0.0.1:40123: connection refused (is etcd running and listening on port 40123?)",
                                       at: F.now.addingTimeInterval(-20)))
            var report = F.doctorReport
            report.recommendation = "Restore from snapshot-20261125T120000Z-demo.db (revision 1204, 3m ago): etcd-console restore /tmp/etcd-console-demo.Xc81Qa/backups/snapshot-20261125T120000Z-demo.db"
            _ = c.apply(.doctor(report, dataDir: "/tmp/etcd-console-demo.Xc81Qa/data"))
            return c
        }),
        ("members-tls-error", {
            var c = F.console()
            _ = c.apply(.membersTLSFailed("could not reach https://10.0.0.5:2379: TLS handshake failed: certificate signed by unknown authority (CA file /etc/etcd/ssl/ca.pem)",
                                          at: F.now.addingTimeInterval(-20)))
            return c
        }),
        ("members-backups-stale", {
            var c = F.withSnapshots(12)
            c.backupIntervalSeconds = 60
            c.tab = .members
            return c
        }),
        ("snapshots-empty-dir", {
            var c = F.withSnapshots(0)
            c.tab = .snapshots
            return c
        }),
        ("snapshots-detail", { F.withSnapshots(12) }),
        ("snapshots-500", { pressing(F.withSnapshots(500), [.pageDown, .pageDown]) }),
        ("snapshots-filtered", { pressing(F.withSnapshots(12), [.character("/"), .character("c"), .character("o"), .character("r")]) }),
        ("snapshots-readonly", { F.withSnapshots(12, readonly: true) }),
        ("snapshots-confirm-delete", { pressing(F.withSnapshots(12), [.control("d")]) }),
        ("jobs-running", {
            var c = F.withSnapshots(12)
            _ = c.handle(.character("n"))
            _ = c.apply(.jobProgress(job: 1, F.progress(21_000_000, of: 48_234_496, seconds: 4)))
            _ = c.apply(.backupRecord(BackupJobRecord(pid: 4242, host: "master1", startedAt: F.now.addingTimeInterval(-3_600),
                                                      updatedAt: F.now.addingTimeInterval(-3_590), phase: .succeeded,
                                                      fileName: "snapshot-20261125T110300Z-master1.db", bytesWritten: 48_234_496,
                                                      bytesTotal: 48_234_496, finishedAt: F.now.addingTimeInterval(-3_590),
                                                      message: "saved snapshot-20261125T110300Z-master1.db (46 MiB, revision 1203000)"),
                                      interrupted: false))
            c.tab = .jobs
            return c
        }),
        ("jobs-empty", {
            var c = F.console()
            c.tab = .jobs
            return c
        }),
        ("browse-resources", {
            var c = F.withSnapshots(3)
            _ = c.apply(.browseLoaded(SnapshotRef(name: "snapshot-20261125T120000Z-master1.db", path: "/x"), F.objects))
            return c
        }),
        ("browse-secret", {
            var c = F.withSnapshots(3)
            _ = c.apply(.browseLoaded(SnapshotRef(name: "snapshot-20261125T120000Z-master1.db", path: "/x"), F.objects))
            for key: Key in [.end, .enter, .enter, .enter] { _ = c.handle(key) }
            return c
        }),
        ("browse-damaged-stuck", {
            var c = F.withSnapshots(3)
            _ = c.apply(.browseLoaded(SnapshotRef(name: "snapshot-20261125T120000Z-master1.db", path: "/x"), F.stuckObjects,
                                      damage: "snapshot-20261125T120000Z-master1.db: checksum mismatch: the file was changed after it was written (trailer 5d41402abc4b…, computed 7d793037a076…)"))
            for key: Key in [.enter, .enter, .enter] { _ = c.handle(key) }
            return c
        }),
        ("browse-resources-kubectl-names", {
            var c = F.withSnapshots(3)
            _ = c.apply(.browseLoaded(SnapshotRef(name: "snapshot-20261125T120000Z-master1.db", path: "/x"), F.stuckObjects))
            return c
        }),
        ("browse-filter", {
            var c = F.withSnapshots(3)
            _ = c.apply(.browseLoaded(SnapshotRef(name: "snapshot-20261125T120000Z-master1.db", path: "/x"), F.objects))
            for key: Key in [.character("/"), .character("s"), .character("e")] { _ = c.handle(key) }
            return c
        }),
        ("diff-damaged", {
            var c = F.withSnapshots(3)
            _ = c.apply(.diffLoaded(from: SnapshotRef(name: "snapshot-20261125T113000Z-master1.db", path: "/a"),
                                    to: SnapshotRef(name: "snapshot-20261125T120000Z-master1.db", path: "/b"), F.diff,
                                    damage: "snapshot-20261125T120000Z-master1.db: truncated at 21 MB of 48 MB"))
            return c
        }),
        ("diff", {
            var c = F.withSnapshots(3)
            _ = c.apply(.diffLoaded(from: SnapshotRef(name: "snapshot-20261125T113000Z-master1.db", path: "/a"),
                                    to: SnapshotRef(name: "snapshot-20261125T120000Z-master1.db", path: "/b"), F.diff))
            return c
        }),
        ("help-snapshots", { pressing(F.withSnapshots(12), [.character("?")]) }),
        ("help-snapshots-scrolled", { pressing(F.withSnapshots(12), [.character("?"), .end]) }),
        ("command-mode", { pressing(F.withSnapshots(12), [.character(":"), .character("j"), .character("o")]) }),
        ("quit-confirm-job-running", { pressing(F.withSnapshots(12), [.character("n"), .character("q")]) }),
        ("wizard-planning", { pressing(F.withSnapshots(3), [.character("R")]) }),
        ("wizard-review", { WizardFixtures.console(nil) }),
        ("wizard-review-commands", { pressing(WizardFixtures.console(nil), [.down, .down, .down]) }),
        ("wizard-confirm", { pressing(WizardFixtures.console(nil), [.enter, .character("m"), .character("a")]) }),
        ("wizard-midway", { WizardFixtures.console(WizardFixtures.midway) }),
        ("wizard-failed-rolled-back", { WizardFixtures.console(WizardFixtures.failedAndRolledBack) }),
        ("wizard-succeeded", { WizardFixtures.console(WizardFixtures.succeeded) }),
        ("wizard-failed-member-mismatch", { WizardFixtures.console(WizardFixtures.failedMemberMismatch) }),
        ("wizard-failed-report-scrolled", { pressing(WizardFixtures.console(WizardFixtures.failedMemberMismatch), [.pageUp, .pageDown, .pageDown]) }),
        ("wizard-failed-step-output", { pressing(WizardFixtures.console(WizardFixtures.failedMemberMismatch), [.up, .up]) }),
        ("wizard-review-restore-command", { pressing(WizardFixtures.console(nil), [.down, .down, .down]) }),
        ("wizard-edit", { pressing(WizardFixtures.console(nil), [.character("e"), .control("u"), .character("d"), .character("e"), .character("m"), .character("o")]) }),
        ("wizard-edit-problem", { pressing(WizardFixtures.console(nil), [.character("e"), .character(" "), .character("x"), .enter]) }),
        ("wizard-unfinished-journal", {
            var c = F.withSnapshots(3)
            _ = c.apply(.unfinishedRestore(WizardFixtures.plan, summary: "an unfinished restore of \(WizardFixtures.snapshot.path) into /var/lib/etcd (started 2026-11-25T11:58:00Z by pid 4242) stopped during step restore; the old data dir is at /var/lib/etcd.before-restore-20261125T115800Z",
                                           steps: [.preflight: .ok, .stopEtcd: .ok, .moveAside: .ok]))
            return c
        }),
        // Offsite copies (a remote configured): the WHERE column, remote-only rows, uploads and downloads in Jobs.
        ("snapshots-offsite", { OffsiteFixtures.console() }),
        ("snapshots-remote-only", {
            var c = OffsiteFixtures.console()
            OffsiteFixtures.select(&c, ConsoleFixtures.entry(14).name)
            return c
        }),
        ("snapshots-upload-failed", {
            var c = OffsiteFixtures.console()
            OffsiteFixtures.select(&c, ConsoleFixtures.entry(1).name)
            _ = c.handle(.character("u"))
            _ = c.apply(.jobFinished(job: 1, succeeded: false, message: "upload failed (the local copy is kept): could not upload \(ConsoleFixtures.entry(1).name) to s3://etcd-backups/prod/cdf818194e3a8c32/master1/20261125T113000Z-r1203689.db.zst.age: NoSuchBucket (HTTP 404): the bucket etcd-backups does not exist", at: F.now))
            return c
        }),
        ("jobs-upload-download", {
            var c = OffsiteFixtures.console()
            _ = c.handle(.character("n"))
            let saved = SnapshotRef(name: "snapshot-20261125T120301Z-master1.db", path: F.directory + "/snapshot-20261125T120301Z-master1.db")
            _ = c.apply(.saved(job: 1, SavedSnapshot(message: "saved snapshot-20261125T120301Z-master1.db (46 MiB, revision 1204100, 4812 keys, verified good)", snapshot: saved), at: F.now))
            _ = c.apply(.transferProgress(job: 2, TransferProgress(done: 6_000_000, total: 16_078_176), at: F.now.addingTimeInterval(2)))
            OffsiteFixtures.select(&c, ConsoleFixtures.entry(14).name)
            _ = c.handle(.character("P"))
            _ = c.apply(.transferProgress(job: 3, TransferProgress(done: 16_000_000, total: 16_000_000), at: F.now.addingTimeInterval(1)))
            _ = c.apply(.pulled(job: 3, SnapshotRef(name: ConsoleFixtures.entry(14).name, path: "/x"),
                                message: "pulled \(ConsoleFixtures.entry(14).name) into \(F.directory)/\(ConsoleFixtures.entry(14).name), verified good",
                                thenRestore: false, at: F.now.addingTimeInterval(3)))
            c.tab = .jobs
            c.now = F.now.addingTimeInterval(3)
            return c
        }),
        ("members-offsite-stale", {
            var view = OffsiteFixtures.view
            view.behindSchedule = true
            view.newestOffsiteAt = F.now.addingTimeInterval(-5 * 3600)
            var c = OffsiteFixtures.console(view: view)
            c.backupIntervalSeconds = 3600
            c.tab = .members
            return c
        }),
    ]

    static func pressing(_ console: Console, _ keys: [Key]) -> Console {
        var console = console
        for key in keys { _ = console.handle(key) }
        return console
    }

    @Test("Each screen renders as recorded at 80x24 and 120x40", arguments: states.map(\.0))
    func golden(_ name: String) throws {
        let console = Self.states.first { $0.0 == name }!.1()
        for (width, height) in GoldenScreen.sizes {
            try GoldenScreen.check(console, name, width: width, height: height)
        }
    }

    @Test("A terminal smaller than 40x10 gets a message instead of a broken screen")
    func tooSmall() {
        let grid = GoldenScreen.render(F.withSnapshots(3), width: 30, height: 8)
        #expect(grid.lines[0] == "etcd-console needs at least 40")
        #expect(grid.lines[1] == "(now 30x8); q quits")
    }
}
