@testable import ConsoleUI
import Foundation
import SnapshotStore
import Testing

/// Consoles with a remote configured: the catalog as the services would read it from `.etcd-console-remote.json`.
enum OffsiteFixtures {
    typealias F = ConsoleFixtures
    static let location = "s3://etcd-backups/prod/"

    static func copy(of entry: SnapshotEntry, problem: String? = nil) -> RemoteCopy {
        let stamp = entry.name.dropFirst("snapshot-".count).prefix(16)
        return RemoteCopy(name: entry.name, objectKey: "prod/cdf818194e3a8c32/master1/\(stamp)-r\(entry.revision ?? 0).db.zst.age",
                          takenAt: entry.takenAt, revision: entry.revision, dbSize: Int64(entry.size),
                          objectSize: Int64(entry.size) / 3, codec: "zstd+age", memberName: "master1",
                          memberID: "8e9e05c52164694d", clusterID: "cdf818194e3a8c32", etcdVersion: "3.5.17", problem: problem)
    }

    /// Local snapshots 0-11; 0 and 3 are offsite (0 listed in the bucket, 3 in the record only); 14 and 15 are
    /// only in the bucket (15's object is missing).
    static var view: OffsiteView {
        OffsiteView(location: location, listedAt: F.now.addingTimeInterval(-60),
                    copies: [copy(of: F.entry(0)), copy(of: F.entry(14)),
                             copy(of: F.entry(15), problem: "object prod/cdf818194e3a8c32/master1/20261125T042000Z-r1199335.db.zst.age is missing")],
                    offsite: [F.entry(0).name, F.entry(3).name], newestOffsiteAt: F.entry(0).takenAt,
                    behindSchedule: false, missingCount: 7)
    }

    /// Snapshots of 12 with the remote configured and its catalog read.
    static func console(readonly: Bool = false, view: OffsiteView = view) -> Console {
        var c = F.console(readonly: readonly)
        c.snapshots.remoteLocation = location
        _ = c.apply(.members(F.healthyMembers, at: F.now))
        _ = c.apply(.snapshots(F.listing(12), freeBytes: 41_234_567_890, at: F.now))
        _ = c.apply(.offsite(view))
        c.tab = .snapshots
        return c
    }

    /// Selects the row called `name`.
    static func select(_ c: inout Console, _ name: String) {
        c.snapshots.selected = c.snapshots.visible.firstIndex { $0.name == name }!
    }
}

@Suite("Console offsite copies")
struct OffsiteConsoleTests {
    typealias F = ConsoleFixtures
    typealias O = OffsiteFixtures

    @Test("n with a remote: the save finishes, then an upload job of its own starts for the saved file")
    func saveThenUpload() {
        var c = O.console()
        #expect(c.handle(.character("n")) == [.saveSnapshot(job: 1)])
        let ref = SnapshotRef(name: "snapshot-20261125T120301Z-master1.db", path: F.directory + "/snapshot-20261125T120301Z-master1.db")
        let effects = c.apply(.saved(job: 1, SavedSnapshot(message: "saved it", snapshot: ref), at: F.now))
        #expect(effects == [.loadSnapshots, .upload(job: 2, ref)])
        let upload = c.jobs.jobs.first { $0.id == 2 }
        #expect(upload?.kind == .upload && upload?.target == ref.name && upload?.state == .running)
        #expect(c.jobs.jobs.first { $0.id == 1 }?.state == .succeeded)
        #expect(c.message?.text == "saved it; uploading it: see Jobs (3)")
    }

    @Test("n without a remote: the save finishes and nothing is uploaded")
    func saveWithoutRemote() {
        var c = F.withSnapshots(3)
        _ = c.handle(.character("n"))
        let ref = SnapshotRef(name: "x.db", path: "/x.db")
        #expect(c.apply(.saved(job: 1, SavedSnapshot(message: "saved x.db", snapshot: ref), at: F.now)) == [.loadSnapshots])
        #expect(c.jobs.jobs.count == 1)
    }

    @Test("Upload progress: bytes, total and rate on the job; the Jobs screen shows a bar with ETA")
    func uploadProgress() {
        var c = O.console()
        O.select(&c, F.entry(1).name)
        #expect(c.handle(.character("u")) == [.upload(job: 1, SnapshotRef(name: F.entry(1).name, path: F.entry(1).path))])
        _ = c.apply(.transferProgress(job: 1, TransferProgress(done: 10_000_000, total: 40_000_000), at: F.now.addingTimeInterval(2)))
        let job = c.jobs.jobs[0]
        #expect(job.bytesDone == 10_000_000 && job.bytesTotal == 40_000_000 && job.rate == 5_000_000 && job.etaSeconds == 6)
        #expect(job.phase == "uploading")
        c.tab = .jobs
        var grid = TextGrid(width: 80, height: 24)
        c.render(into: &grid)
        #expect(grid.text.contains("ETA 6s"), "\(grid.text)")
    }

    @Test("A failed upload: the job fails with the S3 error, the snapshot stays local and shows not offsite with it")
    func uploadFails() {
        var c = O.console()
        let name = F.entry(1).name
        O.select(&c, name)
        _ = c.handle(.character("u"))
        let error = "upload failed (the local copy is kept): could not upload \(name) to s3://etcd-backups/prod/...: NoSuchBucket (HTTP 404): bucket etcd-backups does not exist"
        let effects = c.apply(.jobFinished(job: 1, succeeded: false, message: error, at: F.now))
        #expect(effects == [.loadSnapshots, .loadRemote(refresh: true)])
        #expect(c.jobs.jobs[0].state == .failed && c.jobs.jobs[0].message == error)
        #expect(c.snapshots.uploadErrors[name] == error)
        #expect(c.snapshots.location(of: F.entry(1)) == .notOffsite)
        // Uploading again clears the error until the new attempt ends.
        _ = c.handle(.character("u"))
        #expect(c.snapshots.uploadErrors[name] == nil)
    }

    @Test("u: refused on a snapshot already in the bucket, a corrupt one, and without a remote; :upload is u")
    func uploadRefusals() {
        var c = O.console()
        O.select(&c, F.entry(0).name)
        #expect(c.handle(.character("u")) == [])
        #expect(c.message?.text.contains("is already offsite (prod/cdf818194e3a8c32/master1/") == true, "\(c.message?.text ?? "")")
        O.select(&c, F.entry(2).name)
        #expect(c.handle(.character("u")) == [])
        #expect(c.message?.text == "\(F.entry(2).name) is corrupt: only good snapshots are copied offsite")
        O.select(&c, F.entry(3).name)
        c.tab = .members
        #expect(c.runCommand("upload") == [.upload(job: 1, SnapshotRef(name: F.entry(3).name, path: F.entry(3).path))])
        #expect(c.tab == .snapshots)
        #expect(c.handle(.character("u")) == [])
        #expect(c.message?.text == "\(F.entry(3).name) is already being uploaded: see Jobs (3)")

        var plain = F.withSnapshots(3)
        #expect(plain.handle(.character("u")) == [])
        #expect(plain.message?.text.hasPrefix("no remote is configured: set remote.endpoint and remote.bucket") == true)
        #expect(!plain.currentBindings.contains { $0.keys.contains(.character("u")) }, "u is in help only with a remote")
        #expect(c.currentBindings.contains { $0.keys.contains(.character("u")) })
    }

    @Test("WHERE: both (listed or recorded), not offsite (good, no copy), local (corrupt), remote (only in the bucket)")
    func locations() {
        let c = O.console()
        let s = c.snapshots
        #expect(s.location(of: F.entry(0)) == .both)
        #expect(s.location(of: F.entry(3)) == .both)
        #expect(s.location(of: F.entry(1)) == .notOffsite)
        #expect(s.location(of: s.entries[2]) == .local, "corrupt: not meant to be offsite")
        let remote = s.visible.filter { s.isRemoteOnly($0) }
        #expect(remote.map(\.name) == [F.entry(14).name, F.entry(15).name])
        #expect(remote.map(\.health) == [.good, .corrupt])
        #expect(s.visible.count == 14 && s.entries.count == 12)
        #expect(s.visible.last?.name == F.entry(15).name, "remote-only rows sorted in by time")
        #expect(F.withSnapshots(3).snapshots.location(of: F.entry(0)) == nil, "no WHERE without a remote")
    }

    @Test("A remote-only row: v verifies it streamed, P pulls, R pulls then opens the wizard; local-file keys explain")
    func remoteOnlyActions() {
        var c = O.console()
        let name = F.entry(14).name
        O.select(&c, name)
        #expect(c.handle(.character("v")) == [.verifyRemote(job: 1, name: name)])
        #expect(c.jobs.jobs[0].kind == .verifyRemote)
        #expect(c.handle(.character("P")) == [.pull(job: 2, name: name, thenRestore: false)])
        #expect(c.handle(.character("P")) == [])
        #expect(c.message?.text == "\(name) is already being pulled: see Jobs (3)")
        for (key, words) in [(Key.enter, "browse reads a local file; press P to pull it first"),
                             (.character(" "), "diff reads local files"), (.character("D"), "diff reads local files"),
                             (.control("d"), "delete removes local files"), (.character("u"), "there is no local file to upload")] {
            #expect(c.handle(key) == [])
            #expect(c.message?.text.contains("\(name) is only in the bucket") == true || key == .character("u"), "\(key)")
            #expect(c.message?.text.contains(words) == true, "\(key): \(c.message?.text ?? "")")
        }
        O.select(&c, F.entry(15).name)
        #expect(c.handle(.character("P")) == [])
        #expect(c.message?.text.hasPrefix("the remote copy of \(F.entry(15).name) cannot be used: object ") == true)
        O.select(&c, F.entry(1).name)
        #expect(c.handle(.character("P")) == [])
        #expect(c.message?.text.contains("is already in /var/lib/etcd-backup") == true)
    }

    @Test("R on a remote-only row pulls; once pulled the wizard opens on the local file")
    func remoteRestore() {
        var c = O.console()
        let name = F.entry(14).name
        O.select(&c, name)
        #expect(c.handle(.character("R")) == [.pull(job: 1, name: name, thenRestore: true)])
        c.tab = .jobs
        let ref = SnapshotRef(name: name, path: F.directory + "/" + name)
        let effects = c.apply(.pulled(job: 1, ref, message: "pulled \(name)", thenRestore: true, at: F.now))
        #expect(effects == [.loadSnapshots, .loadRemote(refresh: true), .planRestore(ref)])
        #expect(c.tab == .snapshots && c.wizard?.snapshot == ref)
        if case .wizard = c.pushed {} else { Issue.record("the wizard is not shown") }
        #expect(c.jobs.jobs[0].kind == .download && c.jobs.jobs[0].state == .succeeded)
    }

    @Test("Read-only: P and v work on a remote-only row, R is refused")
    func remoteReadonly() {
        var c = O.console(readonly: true)
        let name = F.entry(14).name
        O.select(&c, name)
        #expect(c.handle(.character("R")) == [])
        #expect(c.message?.text.contains("read-only") == true)
        #expect(c.handle(.character("P")) == [.pull(job: 1, name: name, thenRestore: false)])
    }

    @Test("An empty directory with copies in the bucket lists them as remote rows, not as no snapshots")
    func emptyDirectoryRemoteRows() {
        var c = F.console()
        c.snapshots.remoteLocation = O.location
        _ = c.apply(.snapshots(F.listing(0), freeBytes: nil, at: F.now))
        _ = c.apply(.offsite(O.view))
        c.tab = .snapshots
        var grid = TextGrid(width: 80, height: 24)
        c.render(into: &grid)
        #expect(!grid.text.contains("no snapshots in"), "\(grid.text)")
        #expect(grid.lines.contains { $0.contains(F.entry(14).name) && $0.contains("remote") && $0.contains("✓ good") }, "\(grid.text)")
        #expect(c.snapshots.visible.count == 3)
    }

    @Test("A listing of the bucket that fails is said once; the cached rows stay")
    func listFails() {
        var c = O.console()
        var view = O.view
        view.listError = "could not list s3://etcd-backups/prod/: could not reach http://10.0.0.9:9000: connection refused"
        _ = c.apply(.offsite(view))
        #expect(c.message?.text == view.listError && c.message?.isError == true)
        #expect(c.snapshots.visible.count == 14)
        c.message = nil
        _ = c.apply(.offsite(view))
        #expect(c.message == nil)
    }

    @Test("q while an upload runs asks, and says what an upload stopped midway leaves")
    func quitWhileUploading() {
        var c = O.console()
        O.select(&c, F.entry(1).name)
        _ = c.handle(.character("u"))
        #expect(c.handle(.character("q")) == [])
        guard case .confirm(let confirmation) = c.overlay else { Issue.record("no confirmation"); return }
        #expect(confirmation.lines.first == "upload \(F.entry(1).name) is still running")
        #expect(confirmation.lines.last?.hasPrefix("An upload stopped midway leaves no object or manifest") == true)
    }

    @Test("r reloads the directory and lists the bucket again; the start reads the cache, then lists")
    func reload() {
        var c = O.console()
        #expect(c.handle(.character("r")) == [.loadSnapshots, .loadRemote(refresh: true)])
        #expect(c.start().suffix(2) == [.loadRemote(refresh: false), .loadRemote(refresh: true)])
        #expect(!F.console().start().contains(.loadRemote(refresh: false)))
    }

    @Test("The header warns when the newest good offsite copy is behind twice the schedule, as status does")
    func headerWarning() {
        var view = O.view
        view.behindSchedule = true
        var c = O.console(view: view)
        c.backupIntervalSeconds = 3600
        #expect(c.offsiteWarning == "! offsite copy 3m old (limit 2h00m)")
        view.newestOffsiteAt = nil
        _ = c.apply(.offsite(view))
        #expect(c.offsiteWarning == "! no offsite copy yet")
        view.behindSchedule = false
        _ = c.apply(.offsite(view))
        #expect(c.offsiteWarning == nil)
    }
}
