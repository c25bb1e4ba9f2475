@testable import ConsoleUI
import Foundation
import SnapshotStore
import Testing

/// Keys in, state and effects out: no terminal, no etcd, no files.
@Suite("Console key handling")
struct KeyHandlingTests {
    typealias F = ConsoleFixtures

    static func press(_ console: inout Console, _ keys: Key...) -> [Effect] {
        keys.flatMap { console.handle($0) }
    }

    static func type(_ console: inout Console, _ text: String) {
        for c in text { _ = console.handle(.character(c)) }
    }

    // MARK: Global

    @Test("Tab, shift-tab and the number keys switch screens")
    func switching() {
        var c = F.console()
        _ = Self.press(&c, .tab)
        #expect(c.tab == .snapshots)
        _ = Self.press(&c, .tab, .tab)
        #expect(c.tab == .members)
        _ = Self.press(&c, .backTab)
        #expect(c.tab == .jobs)
        _ = Self.press(&c, .character("2"))
        #expect(c.tab == .snapshots)
    }

    @Test("q quits at once when no job runs")
    func quitIdle() {
        var c = F.withSnapshots(3)
        #expect(Self.press(&c, .character("q")) == [.quit])
    }

    @Test("q while a save runs asks first; n keeps the console, y quits")
    func quitWhileSaving() {
        var c = F.withSnapshots(3)
        #expect(Self.press(&c, .character("n")) == [.saveSnapshot(job: 1)])
        #expect(Self.press(&c, .character("q")) == [])
        guard case .confirm(let confirmation) = c.overlay else { Issue.record("no confirmation"); return }
        #expect(confirmation.action == .quit)
        #expect(Self.press(&c, .character("n")) == [])
        #expect(c.overlay == nil)
        #expect(Self.press(&c, .character("q"), .character("y")) == [.quit])
    }

    @Test("? opens help generated from the bindings; esc closes it and keys reach the screen again")
    func help() {
        var c = F.withSnapshots(3)
        _ = Self.press(&c, .character("?"))
        #expect(c.overlay == .help(offset: 0))
        var grid = TextGrid(width: 100, height: 40)
        c.render(into: &grid)
        for binding in SnapshotsScreen.bindings + Console.globalBindings {
            #expect(grid.text.contains(binding.title), "help lacks \(binding.title)")
        }
        #expect(Self.press(&c, .character("n")) == [], "keys other than esc/? do not act under help")
        _ = Self.press(&c, .escape)
        #expect(c.overlay == nil)
    }

    @Test("Help taller than the terminal scrolls: end shows its last line at 80x24")
    func helpScrolls() {
        var c = F.withSnapshots(3)
        _ = Self.press(&c, .character("?"))
        var grid = TextGrid(width: 80, height: 24)
        c.render(into: &grid)
        #expect(!grid.text.contains("esc or ? closes this help"))
        #expect(grid.text.contains("Help (↑/↓ scroll, 1-20 of"))
        _ = Self.press(&c, .end)
        grid = TextGrid(width: 80, height: 24)
        c.render(into: &grid)
        #expect(grid.text.contains("esc or ? closes this help"))
        #expect(grid.text.contains("q              quit (asks while a job runs)"))
    }

    @Test("Command mode: :jobs, a unique prefix, :q and an unknown command", arguments: [
        ("jobs", Console.Tab.jobs, nil as String?), ("mem", .members, nil), ("snap", .snapshots, nil),
        ("restart", .snapshots, "unknown command :restart (try :members, :snapshots, :jobs, :restore, :cluster, :recover, :check, :upload, :pull, :help, :q)"),
    ])
    func command(_ text: String, _ tab: Console.Tab, _ error: String?) {
        var c = F.withSnapshots(3)
        _ = Self.press(&c, .character(":"))
        Self.type(&c, text)
        #expect(c.overlay == .command(text))
        #expect(Self.press(&c, .enter) == [])
        #expect(c.tab == tab)
        #expect(c.message?.text == error)
    }

    @Test(":q quits; esc leaves command mode without acting")
    func commandQuit() {
        var c = F.withSnapshots(3)
        _ = Self.press(&c, .character(":"))
        Self.type(&c, "q")
        #expect(Self.press(&c, .enter) == [.quit])
        _ = Self.press(&c, .character(":"), .character("j"), .escape)
        #expect(c.overlay == nil)
        #expect(c.tab == .snapshots)
    }

    // MARK: Members

    @Test("Members: r refreshes; the first failure of an outage runs the doctor once; r runs it again")
    func membersRefresh() {
        var c = F.console()
        #expect(Self.press(&c, .character("r")) == [.refreshMembers])
        #expect(c.apply(.membersFailed("refused", at: F.now)) == [.diagnoseDataDir])
        #expect(c.apply(.membersFailed("refused", at: F.now.addingTimeInterval(2))) == [])
        #expect(c.members.unreachableSince == F.now, "the outage started at the first failure")
        _ = Self.press(&c, .character("r"))
        #expect(c.apply(.membersFailed("refused", at: F.now.addingTimeInterval(4))) == [.diagnoseDataDir])
        _ = c.apply(.members(F.healthyMembers, at: F.now.addingTimeInterval(6)))
        #expect(c.members.unreachableSince == nil)
        #expect(c.members.doctor == nil)
    }

    @Test("Members: c runs the consistency check once at a time; its result marks the differing member")
    func membersCheck() {
        var c = F.console()
        _ = c.apply(.members(F.healthyMembers, at: F.now))
        #expect(Self.press(&c, .character("c")) == [.checkCluster])
        #expect(c.members.check == .running(since: F.now))
        #expect(Self.press(&c, .character("c")) == [], "a second check while one runs is refused")
        #expect(c.message?.text == "a check is already running")
        _ = c.apply(.checked(F.divergedCheck, at: F.now.addingTimeInterval(3)))
        #expect(c.members.check == .done(F.divergedCheck, at: F.now.addingTimeInterval(3)))
        #expect(c.message?.text == "check: NOT CONSISTENT: 1 of 3 members differ at revision 1204000")
        #expect(c.message?.isError == true)
        var grid = TextGrid(width: 120, height: 40)
        c.render(into: &grid)
        #expect(grid.text.contains("0b77e2f4 DIFFERS"), "\(grid.text)")
        #expect(grid.text.contains("5d1c3a09 same"))
        // :check from another screen goes back to Members and checks again.
        c.tab = .jobs
        _ = Self.press(&c, .character(":"))
        Self.type(&c, "check")
        #expect(Self.press(&c, .enter) == [.checkCluster])
        #expect(c.tab == .members)
        _ = c.apply(.checkFailed("no endpoint answers", at: F.now.addingTimeInterval(9)))
        #expect(c.members.check == .failed("no endpoint answers", at: F.now.addingTimeInterval(9)))
        #expect(Self.press(&c, .character("c")) == [.checkCluster], "a finished (failed) check can be run again")
    }

    @Test("Members: a member that stops answering shows since when; it is forgotten once it answers again")
    func memberOutageSince() {
        var c = F.console()
        _ = c.apply(.members(F.healthyMembers, at: F.now))
        #expect(c.members.outages.since.isEmpty)
        _ = c.apply(.members(F.degradedMembers, at: F.now.addingTimeInterval(2)))
        _ = c.apply(.members(F.degradedMembers, at: F.now.addingTimeInterval(4)))
        #expect(c.members.outages[F.degradedMembers[2]] == F.now.addingTimeInterval(2), "the first refresh it missed")
        var grid = TextGrid(width: 120, height: 40)
        c.render(into: &grid)
        #expect(grid.text.contains("not answering since 12:03:03"), "\(grid.text)")
        // Every endpoint down: the known outage keeps its start, the others start now.
        _ = c.apply(.membersFailed("refused", at: F.now.addingTimeInterval(6)))
        #expect(c.members.outages[F.degradedMembers[2]] == F.now.addingTimeInterval(2))
        #expect(c.members.outages[F.healthyMembers[0]] == F.now.addingTimeInterval(6))
        _ = c.apply(.members(F.healthyMembers, at: F.now.addingTimeInterval(8)))
        #expect(c.members.outages.since.isEmpty)
    }

    // MARK: Snapshots

    @Test("Snapshots: n starts a save job, a second n while it runs is refused")
    func saveTwice() {
        var c = F.withSnapshots(3)
        #expect(Self.press(&c, .character("n")) == [.saveSnapshot(job: 1)])
        #expect(c.jobs.running.count == 1)
        #expect(Self.press(&c, .character("n")) == [])
        #expect(c.message?.text.hasPrefix("a snapshot save is already running") == true)
        _ = c.apply(.jobFinished(job: 1, succeeded: true, message: "saved x", at: F.now))
        #expect(c.jobs.running.isEmpty)
        #expect(Self.press(&c, .character("n")) == [.saveSnapshot(job: 2)])
    }

    @Test("Snapshots: v verifies the selected one; enter browses it")
    func verifyAndBrowse() {
        var c = F.withSnapshots(3)
        let second = c.snapshots.visible[1]
        let ref = SnapshotRef(name: second.name, path: second.path)
        #expect(Self.press(&c, .down, .character("v")) == [.verify(job: 1, ref)])
        #expect(Self.press(&c, .enter) == [.browse(ref)])
        #expect(c.loading == "reading \(second.name)…")
        _ = c.apply(.browseLoaded(ref, F.objects))
        #expect(c.loading == nil)
        guard case .browse = c.pushed else { Issue.record("browse not shown"); return }
    }

    @Test("Snapshots: ctrl-d asks, y deletes the selected snapshot")
    func delete() {
        var c = F.withSnapshots(3)
        let first = c.snapshots.visible[0]
        #expect(Self.press(&c, .control("d")) == [])
        #expect(Self.press(&c, .character("y")) == [.delete(job: 1, SnapshotRef(name: first.name, path: first.path))])
    }

    @Test("Snapshots: esc cancels a delete")
    func deleteCancelled() {
        var c = F.withSnapshots(3)
        _ = Self.press(&c, .control("d"))
        #expect(Self.press(&c, .escape) == [])
        #expect(c.overlay == nil)
        #expect(c.message?.text == "cancelled")
        #expect(c.jobs.jobs.isEmpty)
    }

    @Test("--readonly: ctrl-d and p do nothing but say why; n and v still work")
    func readonly() {
        var c = F.withSnapshots(3, readonly: true)
        #expect(Self.press(&c, .control("d")) == [])
        #expect(c.overlay == nil)
        #expect(c.message?.text == "read-only session (--readonly): ctrl-d is not available")
        #expect(Self.press(&c, .character("p")) == [])
        #expect(c.message?.text == "read-only session (--readonly): p is not available")
        #expect(!c.currentBindings.contains { $0.isDestructive })
        #expect(Self.press(&c, .character("n")) == [.saveSnapshot(job: 1)])
    }

    @Test("Snapshots: p asks for a plan, shows it, y prunes exactly the planned names")
    func prune() {
        var c = F.withSnapshots(3)
        #expect(Self.press(&c, .character("p")) == [.planPrune])
        let plan = RetentionPlan(keep: [.init(name: "a.db", reasons: ["newest good snapshot"])],
                                 delete: [.init(name: "b.db", reason: "older than every tier"),
                                          .init(name: "c.db", reason: "corrupt: not counted as a kept copy")],
                                 deletesNothingReason: nil)
        _ = c.apply(.prunePlan(plan))
        #expect(Self.press(&c, .character("y")) == [.prune(job: 1, names: ["b.db", "c.db"])])
    }

    @Test("Snapshots: a plan that deletes nothing only says so")
    func pruneNothing() {
        var c = F.withSnapshots(3)
        _ = c.apply(.prunePlan(RetentionPlan(keep: [], delete: [], deletesNothingReason: "newest snapshot is not good: nothing is deleted")))
        #expect(c.overlay == nil)
        #expect(c.message?.text == "prune: nothing to delete (newest snapshot is not good: nothing is deleted)")
    }

    @Test("Snapshots: space marks, D diffs older → newer, D without a mark explains")
    func diff() {
        var c = F.withSnapshots(3)
        _ = Self.press(&c, .character("D"))
        #expect(c.message?.text == "mark a snapshot with space first, then press D on another one")
        let newest = c.snapshots.visible[0]
        let oldest = c.snapshots.visible[2]
        _ = Self.press(&c, .character(" "))
        #expect(Self.press(&c, .character("D")) == [], "the marked one itself cannot be diffed with itself")
        let effects = Self.press(&c, .down, .down, .character("D"))
        #expect(effects == [.diff(from: SnapshotRef(name: oldest.name, path: oldest.path),
                                  to: SnapshotRef(name: newest.name, path: newest.path))])
    }

    @Test("Snapshots: / filters live, enter keeps the filter, esc clears it")
    func filter() {
        var c = F.withSnapshots(12)
        _ = Self.press(&c, .character("/"))
        Self.type(&c, "corr")
        #expect(c.snapshots.visible.map(\.health) == [.corrupt])
        #expect(Self.press(&c, .character("q")) == [], "q is text while filtering")
        #expect(c.snapshots.filter == "corrq")
        _ = Self.press(&c, .backspace, .enter)
        #expect(!c.snapshots.editingFilter)
        #expect(c.snapshots.visible.count == 1)
        _ = Self.press(&c, .escape)
        #expect(c.snapshots.visible.count == 12)
    }

    @Test("Snapshots: s sorts by the next column, S reverses")
    func sort() {
        var c = F.withSnapshots(12)
        _ = Self.press(&c, .character("s"))
        #expect(c.snapshots.sort == .name)
        #expect(c.snapshots.visible.map(\.name) == c.snapshots.entries.map(\.name).sorted())
        _ = Self.press(&c, .character("S"))
        #expect(c.snapshots.visible.map(\.name) == c.snapshots.entries.map(\.name).sorted().reversed())
        _ = Self.press(&c, .character("s"))
        #expect(c.snapshots.sort == .size)
        #expect(c.snapshots.visible.first?.size == c.snapshots.entries.map(\.size).max())
    }

    @Test("Snapshots: the selection stays on the same snapshot when a reload adds a newer one")
    func selectionKept() {
        var c = F.withSnapshots(3)
        _ = Self.press(&c, .down)
        let selected = c.snapshots.selectedEntry?.name
        var listing = F.listing(3)
        listing.entries.insert(F.entry(-1), at: 0)
        _ = c.apply(.snapshots(listing, freeBytes: nil, at: F.now))
        #expect(c.snapshots.selectedEntry?.name == selected)
        #expect(c.snapshots.visible.count == 4)
    }

    // MARK: Jobs

    @Test("Jobs: progress updates bytes, rate and ETA; finishing reloads the snapshot list")
    func jobProgress() {
        var c = F.withSnapshots(3)
        _ = Self.press(&c, .character("n"))
        _ = c.apply(.jobProgress(job: 1, F.progress(25, of: 100, seconds: 5)))
        let job = c.jobs.jobs[0]
        #expect(job.bytesDone == 25)
        #expect(job.rate == 5)
        #expect(job.etaSeconds == 15)
        #expect(c.apply(.jobFinished(job: 1, succeeded: false, message: "snapshot failed: etcd went away", at: F.now)) == [.loadSnapshots])
        #expect(c.jobs.jobs[0].state == .failed)
        #expect(c.message?.isError == true)
    }

    @Test("Jobs: a headless backup record shows as a job; a dead one as interrupted; its end reloads snapshots")
    func backupRecord() {
        var c = F.console()
        let record = BackupJobRecord(pid: 77, host: "master1", startedAt: F.now, phase: .saving, fileName: "s.db",
                                     bytesWritten: 10, bytesTotal: 40)
        _ = c.apply(.backupRecord(record, interrupted: false))
        #expect(c.jobs.backup?.state == .running)
        #expect(c.jobs.backup?.fraction == 0.25)
        #expect(c.apply(.backupRecord(record, interrupted: true)) == [.loadSnapshots])
        #expect(c.jobs.backup?.state == .interrupted)
        #expect(c.jobs.backup?.message?.contains("process 77 on master1 is gone") == true)
    }

    @Test("Jobs: the next scheduled backup is shown when the timer is known, and says so when not")
    func schedule() {
        var c = F.console()
        c.tab = .jobs
        #expect(c.start().contains(.checkSchedule))
        var grid = TextGrid(width: 80, height: 24)
        c.render(into: &grid)
        #expect(grid.lines[22] == " next scheduled backup: no systemd timer or CronJob known")
        _ = c.apply(.schedule("Wed 2026-11-25 12:30:00 UTC (etcd-console-backup.timer)"))
        grid = TextGrid(width: 80, height: 24)
        c.render(into: &grid)
        #expect(grid.lines[22] == " next scheduled backup: Wed 2026-11-25 12:30:00 UTC (etcd-console-backup.timer)")
    }

    // MARK: Browse and diff

    @Test("Browse: / filters the level's rows, enter opens the filtered row's object, esc clears the filter before closing")
    func browseFilter() {
        var c = F.withSnapshots(3)
        _ = c.apply(.browseLoaded(SnapshotRef(name: "s.db", path: "/s.db"), F.objects))
        _ = Self.press(&c, .down, .enter, .enter)  // pods › default
        #expect(Self.press(&c, .character("/"), .character("z"), .character("k"), .character("q")) == [])
        guard case .browse(let filtering) = c.pushed else { Issue.record("browse closed while filtering"); return }
        #expect(filtering.editingFilter)
        #expect(filtering.filter == "zkq", "q went into the filter, it did not quit")
        #expect(filtering.items().isEmpty)
        _ = Self.press(&c, .backspace, .enter)
        guard case .browse(let filtered) = c.pushed else { Issue.record("browse closed"); return }
        #expect(filtered.items().map(\.0) == ["web-7d4b9c-zk2lp"])
        _ = Self.press(&c, .enter)
        guard case .browse(let object) = c.pushed else { Issue.record("browse closed"); return }
        // Index 1 of the namespace's objects: the one the filter showed, not the first one.
        #expect(object.level == .object(resource: "pods", namespace: "default", index: 1))
        #expect(object.path.hasSuffix("web-7d4b9c-zk2lp"))
        _ = Self.press(&c, .escape)
        _ = Self.press(&c, .character("/"), .character("w"), .enter, .escape)
        guard case .browse(let cleared) = c.pushed else { Issue.record("esc closed browse instead of clearing the filter"); return }
        #expect(cleared.filter.isEmpty)
        #expect(cleared.items().count == 2)
    }

    @Test("Browse: enter drills resource → namespace → name → object, esc climbs back and finally closes")
    func browse() {
        var c = F.withSnapshots(3)
        _ = c.apply(.browseLoaded(SnapshotRef(name: "s.db", path: "/s.db"), F.objects))
        _ = Self.press(&c, .down, .enter)  // pods
        _ = Self.press(&c, .down, .enter)  // kube-system
        _ = Self.press(&c, .enter)         // etcd-master1
        guard case .browse(let screen) = c.pushed else { Issue.record("browse closed"); return }
        #expect(screen.level == .object(resource: "pods", namespace: "kube-system", index: 0))
        _ = Self.press(&c, .escape, .escape, .escape)
        guard case .browse(let top) = c.pushed else { Issue.record("browse closed too early"); return }
        #expect(top.level == .resources)
        _ = Self.press(&c, .escape)
        #expect(c.pushed == nil)
        #expect(c.tab == .snapshots)
    }

    /// What a service answers for a page of pods "pod-00000" ... in namespace "big" (`total` of them).
    static func bigPage(_ request: BrowsePageRequest, total: Int) -> BrowsePage {
        let names = (0..<total).map { "pod-" + String(repeating: "0", count: 5 - String($0).count) + String($0) }
        let all = names.map { KubernetesObject(etcdKey: "/registry/pods/big/\($0)", resource: "pods", namespace: "big", name: $0,
                                               kind: "Pod", apiVersion: "v1", valueSize: 2048, encoding: .protobuf) }
        return BrowsePage.cut(request, from: all)
    }

    @Test("Browse pages: the namespace's first page is asked for, moving down asks for the next, which shows its rows")
    func browsePages() throws {
        var c = F.withSnapshots(3)
        let ref = SnapshotRef(name: "s.db", path: "/s.db")
        let big = SnapshotObjectCounts.Group(resource: "pods", namespace: "big")
        _ = c.apply(.browseOpened(ref, [BrowseGroup(big, count: 1000)]))
        #expect(Self.press(&c, .enter) == [], "the namespaces level needs no objects")
        let first = BrowsePageRequest(group: big, filter: "", start: 0, count: BrowseScreen.pageSize)
        #expect(Self.press(&c, .enter) == [.browsePage(ref, first)])
        let waiting = GoldenScreen.render(c, width: 80, height: 24).text
        #expect(waiting.contains("…"), "rows not loaded yet show as …")
        _ = c.apply(.browsePageLoaded(ref, Self.bigPage(first, total: 1000)))
        #expect(GoldenScreen.render(c, width: 80, height: 24).text.contains("> pod-00000"))

        // Down to row 159: still inside the first page; row 160 comes within the margin and asks for the next one.
        for _ in 0..<159 { #expect(Self.press(&c, .down) == []) }
        let next = BrowsePageRequest(group: big, filter: "", start: 60, count: BrowseScreen.pageSize)
        #expect(Self.press(&c, .down) == [.browsePage(ref, next)])
        #expect(Self.press(&c, .down) == [], "the page asked for is not asked for again while it loads")
        _ = c.apply(.browsePageLoaded(ref, Self.bigPage(BrowsePageRequest(group: big, filter: "", start: 999, count: 1), total: 1000)))
        guard case .browse(let stale) = c.pushed else { Issue.record("browse closed"); return }
        #expect(stale.page?.request == first, "a page nobody asked for is ignored")
        _ = c.apply(.browsePageLoaded(ref, Self.bigPage(next, total: 1000)))
        let text = GoldenScreen.render(c, width: 80, height: 24).text
        #expect(text.contains("> pod-00161"), "\(text)")
        #expect(text.contains("  pod-00150"))

        // The end key jumps to the last row: that page is asked for; enter on a loaded row opens its object.
        let last = BrowsePageRequest(group: big, filter: "", start: 899, count: BrowseScreen.pageSize)
        #expect(Self.press(&c, .end) == [.browsePage(ref, last)])
        _ = c.apply(.browsePageLoaded(ref, Self.bigPage(last, total: 1000)))
        _ = Self.press(&c, .enter)
        guard case .browse(let screen) = c.pushed else { Issue.record("browse closed"); return }
        #expect(screen.level == .object(resource: "pods", namespace: "big", index: 999))
        #expect(screen.path.hasSuffix("pod-00999"))
    }

    @Test("Browse pages: a filter asks for the first page of the names it matches")
    func browsePageFilter() {
        var c = F.withSnapshots(3)
        let ref = SnapshotRef(name: "s.db", path: "/s.db")
        let big = SnapshotObjectCounts.Group(resource: "pods", namespace: "big")
        _ = c.apply(.browseOpened(ref, [BrowseGroup(big, count: 1000)]))
        _ = Self.press(&c, .enter, .enter)
        _ = c.apply(.browsePageLoaded(ref, Self.bigPage(BrowsePageRequest(group: big, filter: "", start: 0, count: BrowseScreen.pageSize), total: 1000)))
        #expect(Self.press(&c, .character("/")) == [])
        _ = Self.press(&c, .character("9"))
        let filtered = BrowsePageRequest(group: big, filter: "99", start: 0, count: BrowseScreen.pageSize)
        #expect(Self.press(&c, .character("9")) == [.browsePage(ref, filtered)])
        let page = Self.bigPage(filtered, total: 1000)
        _ = c.apply(.browsePageLoaded(ref, page))
        guard case .browse(let screen) = c.pushed else { Issue.record("browse closed"); return }
        #expect(screen.items().map(\.0) == page.objects.map(\.name))
        #expect(screen.rowCount == page.total)
        _ = Self.press(&c, .enter, .down, .enter)
        guard case .browse(let opened) = c.pushed else { Issue.record("browse closed"); return }
        #expect(opened.level == .object(resource: "pods", namespace: "big", index: page.positions[1]))
    }

    @Test("Diff: esc returns to the snapshots")
    func diffBack() {
        var c = F.withSnapshots(3)
        _ = c.apply(.diffLoaded(from: SnapshotRef(name: "a", path: "/a"), to: SnapshotRef(name: "b", path: "/b"), F.diff))
        _ = Self.press(&c, .down, .down)
        _ = Self.press(&c, .escape)
        #expect(c.pushed == nil)
    }
}

extension Console.Pushed: Equatable {
    public static func == (lhs: Console.Pushed, rhs: Console.Pushed) -> Bool {
        switch (lhs, rhs) {
        case (.browse(let a), .browse(let b)): return a.snapshot == b.snapshot && a.level == b.level
        case (.diff(let a), .diff(let b)): return a.from == b.from && a.to == b.to
        default: return false
        }
    }
}
