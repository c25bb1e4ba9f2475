@testable import ConsoleUI
import Foundation
@testable import Recovery
import Testing

@Suite("Restore wizard key handling")
struct WizardKeyTests {
    typealias W = WizardFixtures
    typealias F = ConsoleFixtures

    static func press(_ console: inout Console, _ keys: [Key]) -> [Effect] {
        keys.flatMap { console.handle($0) }
    }

    static func typed(_ text: String) -> [Key] { text.map { .character($0) } }

    @Test("R plans the selected snapshot; the wizard shows the plan when it arrives; nothing runs yet")
    func planFirst() {
        var c = F.withSnapshots(3)
        let first = c.snapshots.visible[0]
        let ref = SnapshotRef(name: first.name, path: first.path)
        #expect(Self.press(&c, [.character("R")]) == [.planRestore(ref)])
        #expect(c.wizard?.phase == .planning)
        _ = c.apply(.restorePlanned(ref, W.plan))
        #expect(c.wizard?.phase == .review)
        #expect(c.wizard?.steps.map(\.kind) == RestoreStepKind.allCases)
    }

    @Test("enter asks for the member name; a wrong word is refused and nothing runs")
    func wrongWord() {
        var c = W.console(nil)
        #expect(Self.press(&c, [.enter] + Self.typed("master2") + [.enter]) == [])
        #expect(c.message?.text == "type master1 or yes exactly to confirm, or esc to cancel")
        guard case .confirm = c.overlay else { Issue.record("confirmation closed"); return }
        #expect(c.jobs.jobs.isEmpty)
    }

    @Test("The member name or yes starts the restore as a job", arguments: ["master1", "yes"])
    func confirmed(_ word: String) {
        var c = W.console(nil)
        #expect(Self.press(&c, [.enter] + Self.typed(word) + [.enter]) == [.runRestore(job: 1, W.plan)])
        #expect(c.wizard?.phase == .running)
        #expect(c.jobs.running.map(\.kind) == [.restore])
    }

    @Test("esc on the confirmation cancels; esc on the review closes the wizard")
    func cancel() {
        var c = W.console(nil)
        _ = Self.press(&c, [.enter, .escape])
        #expect(c.overlay == nil)
        #expect(c.jobs.jobs.isEmpty)
        _ = Self.press(&c, [.escape])
        #expect(c.pushed == nil)
    }

    @Test("Events move the checklist: running step selected, output kept, results recorded")
    func events() {
        let c = W.console(W.midway)
        let steps = c.wizard!.steps
        #expect(steps.prefix(3).map(\.state) == [.ok, .ok, .ok])
        #expect(steps[3].state == .running)
        #expect(steps[3].output.count == 2)
        #expect(c.wizard?.selected == 3)
        #expect(c.jobs.running.first?.phase == "restore")
    }

    @Test("A failure shows the rollback, and the job ends failed; the snapshots and members are refreshed")
    func failure() {
        var c = W.console(Array(W.failedAndRolledBack.dropLast()))
        #expect(c.wizard?.rollbackReason?.hasPrefix("start-etcd failed") == true)
        #expect(c.wizard?.rollbackLines.count == 4)
        #expect(c.apply(.restore(job: 1, W.failedAndRolledBack.last!)) == [.loadSnapshots, .refreshMembers])
        #expect(c.wizard?.phase == .finished)
        #expect(c.jobs.jobs[0].state == .failed)
        #expect(c.jobs.jobs[0].message == "failed and rolled back: start-etcd: systemctl start etcd failed: exit 1")
    }

    @Test("q while a restore runs asks first")
    func quitWhileRestoring() {
        var c = W.console(W.midway)
        #expect(Self.press(&c, [.character("q")]) == [])
        guard case .confirm(let confirmation) = c.overlay else { Issue.record("no confirmation"); return }
        #expect(confirmation.action == .quit)
        #expect(confirmation.lines.last == "Quitting stops the restore mid-step; its journal offers resume or rollback at the next start.")
    }

    @Test("esc while running leaves the restore running; :restore returns to it; R does not start a second one")
    func stepAway() {
        var c = W.console(W.midway)
        _ = Self.press(&c, [.escape])
        #expect(c.pushed == nil)
        #expect(c.wizard?.phase == .running)
        #expect(Self.press(&c, [.character("R")]) == [])
        #expect(c.message?.text == "a restore is running: this is it")
        _ = Self.press(&c, [.escape, .character(":")] + Self.typed("restore") + [.enter])
        guard case .wizard = c.pushed else { Issue.record("wizard not shown"); return }
    }

    @Test("An unfinished journal at start opens the wizard; r resumes and b rolls back after the member name")
    func unfinished() {
        var c = F.withSnapshots(3)
        _ = c.apply(.unfinishedRestore(W.plan, summary: "an unfinished restore"))
        guard case .wizard = c.pushed else { Issue.record("wizard not shown"); return }
        #expect(Self.press(&c, [.enter]) == [], "enter does not start a new restore over an unfinished one")
        #expect(Self.press(&c, [.character("r")] + Self.typed("master1") + [.enter]) == [.resumeRestore(job: 1)])

        var d = F.withSnapshots(3)
        _ = d.apply(.unfinishedRestore(W.plan, summary: "an unfinished restore"))
        #expect(Self.press(&d, [.character("b")] + Self.typed("yes") + [.enter]) == [.rollbackRestore(job: 1)])
    }

    @Test("--readonly: R, :restore, enter, r and b refuse and say why")
    func readonly() {
        var c = F.withSnapshots(3, readonly: true)
        #expect(Self.press(&c, [.character("R")]) == [])
        #expect(c.message?.text == "read-only session (--readonly): R is not available")
        #expect(Self.press(&c, [.character(":")] + Self.typed("restore") + [.enter]) == [])
        #expect(c.message?.text == "read-only session (--readonly): restore is not available")
        var w = W.console(nil, readonly: true)
        #expect(Self.press(&w, [.enter]) == [])
        #expect(w.overlay == nil)
        #expect(w.message?.text == "read-only session (--readonly): restore is not available")
        var u = F.withSnapshots(3, readonly: true)
        _ = u.apply(.unfinishedRestore(W.plan, summary: "an unfinished restore"))
        #expect(Self.press(&u, [.character("b")]) == [])
        #expect(u.message?.text == "read-only session (--readonly): rollback is not available")
    }

    @Test("A plan that cannot be made says why; a restore that cannot start fails its job")
    func planFailure() {
        var c = F.withSnapshots(3)
        _ = Self.press(&c, [.character("R")])
        let ref = c.wizard!.snapshot
        _ = c.apply(.restorePlanFailed(ref, "cannot read snapshot /x: Permission denied"))
        #expect(c.wizard?.phase == .planFailed("cannot read snapshot /x: Permission denied"))
        var d = W.console(nil)
        _ = Self.press(&d, [.enter] + Self.typed("yes") + [.enter])
        _ = d.apply(.restoreNotStarted(job: 1, "no unfinished restore journal at /var/lib/etcd.restore-journal any more"))
        #expect(d.jobs.jobs[0].state == .failed)
        #expect(d.wizard?.phase == .planFailed("could not start: no unfinished restore journal at /var/lib/etcd.restore-journal any more"))
    }
}
