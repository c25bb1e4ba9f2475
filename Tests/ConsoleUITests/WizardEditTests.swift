@testable import ConsoleUI
import Foundation
@testable import Recovery
import Testing

/// The wizard's edit form and plan-again: pure key handling, the effects it returns and the state it leaves.
@Suite("Restore wizard: edit the plan, plan again after a failure")
struct WizardEditTests {
    typealias W = WizardFixtures

    static func press(_ console: inout Console, _ keys: [Key]) -> [Effect] { keys.flatMap { console.handle($0) } }
    static func typed(_ text: String) -> [Key] { text.map { .character($0) } }

    @Test("e, a new member name, enter: planned again with that name and the one-member cluster following it")
    func editName() {
        var c = W.console(nil)
        let effects = Self.press(&c, [.character("e"), .control("u")] + Self.typed("demo") + [.enter])
        let edits = RestoreEdits(name: "demo", initialCluster: "demo=https://10.0.0.5:2380")
        #expect(effects == [.replanRestore(W.snapshot, edits)])
        #expect(c.wizard?.phase == .planning && c.wizard?.editing == nil && c.wizard?.edits == edits)
        // The new plan arrives as for a first plan.
        var plan = W.plan
        plan.memberName = "demo"
        _ = c.apply(.restorePlanned(W.snapshot, plan))
        #expect(c.wizard?.phase == .review && c.wizard?.plan?.memberName == "demo")
    }

    @Test("Every field can be edited; only changed ones become edits")
    func editFields() {
        var c = W.console(nil)
        var keys: [Key] = [.character("e"), .up, .control("u")] + Self.typed("/srv/etcd")
        keys += [.down, .down, .down, .control("u")] + Self.typed("https://10.0.0.9:2380")
        keys += [.up, .control("u")] + Self.typed("master1=https://10.0.0.9:2380,master2=https://10.0.0.6:2380") + [.enter]
        let effects = Self.press(&c, keys)
        #expect(effects == [.replanRestore(W.snapshot, RestoreEdits(dataDir: "/srv/etcd",
                                                                     initialCluster: "master1=https://10.0.0.9:2380,master2=https://10.0.0.6:2380",
                                                                     initialAdvertisePeerURLs: "https://10.0.0.9:2380"))])
    }

    @Test("A bad value keeps the form open with the reason; esc closes it and nothing is planned")
    func badValue() {
        var c = W.console(nil)
        #expect(Self.press(&c, [.character("e"), .up, .control("u")] + Self.typed("relative") + [.enter]) == [])
        #expect(c.wizard?.editing?.problem == "the data dir must be an absolute path, not \"relative\"")
        #expect(Self.press(&c, [.escape]) == [])
        #expect(c.wizard?.editing == nil && c.wizard?.phase == .review && c.pushed != nil)
    }

    @Test("While editing, q, digits and ? are typed, not commands")
    func keysAreTyped() {
        var c = W.console(nil)
        #expect(Self.press(&c, [.character("e"), .control("u")] + Self.typed("q1?") ) == [])
        #expect(c.wizard?.editing?.values[1] == "q1?")
        #expect(c.overlay == nil)
    }

    @Test("After a failed, rolled-back restore: p plans again, e edits; the old run is forgotten")
    func planAgainAfterFailure() {
        var c = W.console(W.failedMemberMismatch)
        #expect(c.wizard?.phase == .finished && c.wizard?.report?.succeeded == false)
        #expect(c.wizard?.currentBindings.contains { $0.keys == [.character("p")] } == true)
        #expect(Self.press(&c, [.character("p")]) == [.replanRestore(W.snapshot, RestoreEdits())])
        #expect(c.wizard?.phase == .planning && c.wizard?.report == nil && c.wizard?.steps.isEmpty == true)

        var d = W.console(W.failedMemberMismatch)
        let effects = Self.press(&d, [.character("e"), .control("u")] + Self.typed("demo") + [.enter])
        #expect(effects == [.replanRestore(W.snapshot, RestoreEdits(name: "demo", initialCluster: "demo=https://10.0.0.5:2380"))])
    }

    @Test("After a success there is nothing to edit; while it runs neither e nor p does anything")
    func notWhenDoneOrRunning() {
        var done = W.console(W.succeeded)
        #expect(Self.press(&done, [.character("e"), .character("p")]) == [])
        #expect(done.wizard?.editing == nil)
        var running = W.console(W.midway)
        #expect(Self.press(&running, [.character("e"), .character("p")]) == [])
        #expect(running.wizard?.editing == nil && running.wizard?.phase == .running)
    }

    @Test("Read-only: e is refused")
    func readonly() {
        var c = W.console(nil, readonly: true)
        #expect(Self.press(&c, [.character("e")]) == [])
        #expect(c.wizard?.editing == nil)
    }

    @Test("After the run the report is selected; ↑ reaches each step's output, PgUp/PgDn scroll the pane")
    func outputReachable() {
        var c = W.console(W.failedMemberMismatch)
        let report = RestoreStepKind.allCases.count
        #expect(c.wizard?.selected == report)
        _ = Self.press(&c, [.up, .up])
        #expect(c.wizard?.paneLines(width: 77).title == "Output of Verify revision, keys and members")
        _ = Self.press(&c, [.end])
        #expect(c.wizard?.paneLines(width: 77).title == "Report")
        _ = Self.press(&c, [.pageDown])
        #expect(c.wizard?.paneOffset == 5, "PgDn shows the report's later lines")
        _ = Self.press(&c, [.pageUp, .pageUp])
        #expect(c.wizard?.paneOffset == 0, "PgUp goes back to its top, and no further")
    }

    @Test("A long command breaks between words with ' \\\\' so it copies back as one")
    func shellLines() {
        let lines = WizardScreen.shellLines("$ etcdutl snapshot restore /var/lib/etcd-backup/snapshot.db --data-dir /var/lib/etcd --name master1", width: 40)
        #expect(lines == ["$ etcdutl snapshot restore \\", "    /var/lib/etcd-backup/snapshot.db \\", "    --data-dir /var/lib/etcd --name \\", "    master1"])
        #expect(lines.joined(separator: "\n").replacingOccurrences(of: " \\\n    ", with: " ")
                == "$ etcdutl snapshot restore /var/lib/etcd-backup/snapshot.db --data-dir /var/lib/etcd --name master1")
    }
}
