import Foundation
import Recovery

/// The restore wizard: the Recovery plan as a checklist with the exact commands, a typed confirmation,
/// each step's live output, elapsed time and result, the rollback when a step fails, and the final report.
/// Also offers resume or rollback of an unfinished restore found at start.
public struct WizardScreen: Sendable {
    public enum Phase: Sendable, Equatable {
        /// The plan is being computed (verify, discovery, tool checks).
        case planning
        case planFailed(String)
        /// The plan is shown; nothing has changed yet.
        case review
        case running
        case finished
        /// An unfinished restore journal was found: resume or roll back.
        case unfinished(summary: String)
    }

    public enum StepState: String, Sendable, Equatable {
        case pending, running, ok, failed, skipped
    }

    public struct Step: Sendable, Equatable {
        public var kind: RestoreStepKind
        public var title: String
        public var commands: [String]
        public var isDestructive: Bool
        public var state: StepState = .pending
        public var startedAt: Date?
        public var durationMs: Int?
        public var detail: String?
        /// The last lines of the step's output.
        public var output: [String] = []
    }

    public let snapshot: SnapshotRef
    public private(set) var phase: Phase
    public private(set) var plan: RestorePlan?
    public private(set) var steps: [Step] = []
    public var selected = 0
    /// Set once the executor starts rolling back, with why.
    public private(set) var rollbackReason: String?
    public private(set) var rollbackLines: [String] = []
    public private(set) var rollback: RollbackResult?
    public private(set) var report: RestoreReport?
    public private(set) var startedAt: Date?
    static let outputLines = 200

    /// The edit form (`e`): data dir, member name, initial cluster and peer URLs, typed over the plan's values.
    public struct EditForm: Sendable, Equatable {
        public static let labels = ["data dir", "member name", "initial cluster", "peer URLs"]
        public var values: [String]
        public var selected = 1
        /// Why enter did not plan again (shown under the form).
        public var problem: String?
    }

    /// Open while the operator edits the plan.
    public private(set) var editing: EditForm?
    /// What the operator changed so far (kept across plans of this wizard).
    public private(set) var edits = RestoreEdits()
    /// Lines the lower pane is scrolled up from its start (the report) or its end (output), by PgUp/PgDn.
    public private(set) var paneOffset = 0

    public init(snapshot: SnapshotRef, edits: RestoreEdits = RestoreEdits()) {
        self.snapshot = snapshot
        self.edits = edits
        phase = .planning
    }

    /// The wizard for an unfinished journal's plan, its steps marked as far as the journal got.
    public init(unfinished plan: RestorePlan, summary: String, steps: [RestoreStepKind: StepStatus] = [:]) {
        snapshot = SnapshotRef(name: (plan.snapshotPath as NSString).lastPathComponent, path: plan.snapshotPath)
        phase = .unfinished(summary: summary)
        apply(plan: plan)
        phase = .unfinished(summary: summary)
        for index in self.steps.indices {
            guard let status = steps[self.steps[index].kind] else { continue }
            self.steps[index].state = StepState(rawValue: status.rawValue) ?? .failed
            self.steps[index].detail = status == .ok ? "done before the interruption" : status.rawValue
        }
    }

    static let bindings: [KeyBinding] = [
        KeyBinding([.up, .down], "select a step: its commands, then its output (after the run: the report last)"),
        KeyBinding([.pageUp, .pageDown], "scroll the lower pane (commands, output, report)"),
        KeyBinding([.enter], "review: confirm and run (type the member name or yes)", destructive: true, footer: "run"),
        KeyBinding([.character("e")], "edit data dir, member name, initial cluster, peer URLs; enter plans again", footer: "edit"),
        KeyBinding([.character("p")], "after a failure: plan again (with the edits)", footer: "plan again"),
        KeyBinding([.character("r")], "unfinished restore: resume it", destructive: true, footer: "resume"),
        KeyBinding([.character("b")], "unfinished restore: roll it back", destructive: true, footer: "rollback"),
        KeyBinding([.escape], "back to snapshots (a running restore goes on: :restore returns)", footer: "back"),
    ]

    static let editorBindings: [KeyBinding] = [
        KeyBinding([.up, .down, .tab], "the field to edit"),
        KeyBinding([.control("u")], "clear the field"),
        KeyBinding([.enter], "plan again with these values (nothing runs yet)", footer: "plan again"),
        KeyBinding([.escape], "cancel the edit", footer: "cancel"),
    ]

    /// The keys that do something in the current phase (help and footer).
    var currentBindings: [KeyBinding] {
        if editing != nil { return Self.editorBindings }
        return Self.bindings.filter { binding in
            switch binding.keys.first {
            case .enter: return phase == .review
            case .character("e"): return canEdit
            case .character("p"): return canPlanAgain
            case .pageUp: return true
            case .character("r"), .character("b"):
                if case .unfinished = phase { return true }
                return false
            default: return true
            }
        }
    }

    mutating func apply(plan: RestorePlan) {
        self.plan = plan
        steps = plan.steps.map { Step(kind: $0.kind, title: $0.title, commands: $0.commands, isDestructive: $0.isDestructive) }
        phase = .review
        selected = 0
        paneOffset = 0
    }

    /// The plan may be edited before it runs, and after it failed or could not be made.
    var canEdit: Bool {
        switch phase {
        case .review, .planFailed: return true
        case .finished: return report?.succeeded == false
        default: return false
        }
    }

    var canPlanAgain: Bool {
        switch phase {
        case .planFailed: return true
        case .finished: return report?.succeeded == false
        default: return false
        }
    }

    /// Back to planning with the edits, everything from the last run forgotten; the effect that plans.
    mutating func planAgain() -> ScreenAction {
        self = WizardScreen(snapshot: snapshot, edits: edits)
        return .effect(.replanRestore(snapshot, edits))
    }

    private mutating func openEditor() {
        let values = [plan?.dataDir ?? edits.dataDir ?? "", plan?.memberName ?? edits.name ?? "",
                      plan?.initialCluster ?? edits.initialCluster ?? "", plan?.initialAdvertisePeerURLs ?? edits.initialAdvertisePeerURLs ?? ""]
        editing = EditForm(values: values)
    }

    /// The form's keys: move between fields, type, enter plans again, esc cancels. Every key is the form's.
    private mutating func handleEditor(_ key: Key) -> ScreenAction {
        guard var form = editing else { return .unhandled }
        switch key {
        case .escape:
            editing = nil
            return .handled
        case .up, .backTab:
            form.selected = (form.selected + EditForm.labels.count - 1) % EditForm.labels.count
        case .down, .tab:
            form.selected = (form.selected + 1) % EditForm.labels.count
        case .backspace:
            if !form.values[form.selected].isEmpty { form.values[form.selected].removeLast() }
        case .control("u"):
            form.values[form.selected] = ""
        case .character(let c):
            form.values[form.selected].append(c)
        case .enter:
            var next = edits
            let trimmed = form.values.map { $0.trimmingCharacters(in: .whitespaces) }
            let before = [plan?.dataDir, plan?.memberName, plan?.initialCluster, plan?.initialAdvertisePeerURLs]
            func changed(_ index: Int) -> String? { trimmed[index] != (before[index] ?? "") ? trimmed[index] : nil }
            if let value = changed(0) { next.dataDir = value }
            if let value = changed(1) { next.name = value }
            if let value = changed(2) { next.initialCluster = value }
            if let value = changed(3) { next.initialAdvertisePeerURLs = value }
            // A one-member cluster left as it was follows a new name or peer URL (name=first peer URL).
            if changed(2) == nil, changed(1) != nil || changed(3) != nil, !trimmed[2].contains(",") {
                let peer = trimmed[3].split(separator: ",").first.map(String.init) ?? ""
                next.initialCluster = "\(trimmed[1])=\(peer)"
            }
            if let problem = next.problem() {
                form.problem = problem
                editing = form
                return .handled
            }
            edits = next
            editing = nil
            return planAgain()
        default:
            break
        }
        form.problem = nil
        editing = form
        return .handled
    }

    mutating func planFailed(_ error: String) { phase = .planFailed(error) }

    mutating func started(at date: Date) {
        phase = .running
        startedAt = date
    }

    mutating func apply(_ event: RestoreEvent, at date: Date) {
        switch event {
        case .stepStarted(let kind):
            update(kind) {
                $0.state = .running
                $0.startedAt = date
                $0.output = []
            }
            if let index = steps.firstIndex(where: { $0.kind == kind }) { selected = index }
        case .output(let kind, let line):
            if rollbackReason != nil || kind == nil {
                rollbackLines = Array((rollbackLines + [line]).suffix(Self.outputLines))
            } else if let kind {
                update(kind) { $0.output = Array(($0.output + [line]).suffix(Self.outputLines)) }
            }
        case .stepFinished(let result):
            update(result.kind) {
                $0.state = StepState(rawValue: result.status.rawValue) ?? .failed
                $0.durationMs = result.durationMs
                $0.detail = result.detail
            }
        case .rollbackStarted(let reason):
            rollbackReason = reason
        case .rollbackFinished(let result):
            rollback = result
        case .finished(let report):
            self.report = report
            phase = .finished
            selected = steps.count
            paneOffset = 0
            for index in steps.indices where steps[index].state == .running { steps[index].state = .failed }
        }
    }

    private mutating func update(_ kind: RestoreStepKind, _ change: (inout Step) -> Void) {
        guard let index = steps.firstIndex(where: { $0.kind == kind }) else { return }
        change(&steps[index])
    }

    /// The confirmation a destructive start needs: the member name or `yes`, typed.
    func confirmation(_ action: Confirmation.Action, verb: String) -> Confirmation? {
        guard let plan else { return nil }
        return Confirmation(
            title: "\(verb)?",
            lines: ["This stops etcd and replaces \(plan.dataDir).",
                    "The old data dir is moved to \(plan.asidePath), never deleted.",
                    "Member \(plan.memberName), \(plan.service.description)."],
            action: action, typedWord: plan.memberName)
    }

    mutating func handle(_ key: Key, readonly: Bool) -> ScreenAction {
        if editing != nil { return handleEditor(key) }
        switch key {
        case .pageUp, .pageDown:
            // paneOffset counts lines away from the pane's anchor: the end of a step's output (it follows its
            // tail), the top of everything else (commands, report). PgDn always shows later lines.
            let pane = paneLines(width: 80)
            let away = (key == .pageUp) == pane.tail
            paneOffset = away ? min(paneOffset + 5, pane.lines.count) : max(0, paneOffset - 5)
            return .handled
        default:
            break
        }
        // After the run the report is one more entry below the steps (the default), so each step's output stays reachable.
        let entries = report != nil ? steps.count + 1 : steps.count
        if let moved = moveSelection(selected, count: entries, key: key, page: 5) {
            if moved != selected { paneOffset = 0 }
            selected = moved
            return .handled
        }
        switch (phase, key) {
        case (_, .character("e")) where canEdit:
            guard !readonly else { return .refused("read-only session (--readonly): restore is not available") }
            openEditor()
            return .handled
        case (_, .character("p")) where canPlanAgain:
            guard !readonly else { return .refused("read-only session (--readonly): restore is not available") }
            return planAgain()
        case (_, .escape), (_, .left):
            return .close
        case (.review, .enter):
            guard !readonly else { return .refused("read-only session (--readonly): restore is not available") }
            return confirmation(.restore, verb: "Restore \(snapshot.name)").map { .confirm($0) } ?? .handled
        case (.unfinished, .character("r")):
            guard !readonly else { return .refused("read-only session (--readonly): resume is not available") }
            return confirmation(.resumeRestore, verb: "Resume the unfinished restore").map { .confirm($0) } ?? .handled
        case (.unfinished, .character("b")):
            guard !readonly else { return .refused("read-only session (--readonly): rollback is not available") }
            return confirmation(.rollbackRestore, verb: "Roll the unfinished restore back").map { .confirm($0) } ?? .handled
        case (.finished, .enter), (.planFailed, .enter):
            return .close
        default:
            return .unhandled
        }
    }

    // MARK: - Rendering

    static func mark(_ state: StepState) -> String {
        switch state {
        case .pending: return "[ ]"
        case .running: return "[>]"
        case .ok: return "[✓]"
        case .failed: return "[✗]"
        case .skipped: return "[-]"
        }
    }

    func statusLine(_ context: RenderContext) -> (String, CellStyle) {
        if editing != nil { return ("editing the plan (nothing changed yet) · enter: plan again · esc: cancel", .warning) }
        switch phase {
        case .planning: return ("working out the plan for \(snapshot.name)…", .warning)
        case .planFailed(let error): return ("cannot restore: \(error)", .bad)
        case .review: return ("nothing changed yet · enter: confirm and run · esc: cancel", .warning)
        case .unfinished: return ("UNFINISHED RESTORE found · r resume · b roll back · esc decide later", .bad)
        case .running:
            let elapsed = startedAt.map { duration(context.now.timeIntervalSince($0)) } ?? "?"
            if let reason = rollbackReason { return ("ROLLING BACK (\(elapsed)): \(reason)", .bad) }
            let done = steps.filter { $0.state != .pending && $0.state != .running }.count
            return ("restoring: step \(min(done + 1, steps.count))/\(steps.count) · \(elapsed) elapsed", .title)
        case .finished:
            guard let report else { return ("finished", .normal) }
            let took = duration(Double(report.steps.reduce(0) { $0 + $1.durationMs }) / 1000)
            if report.succeeded { return ("RESTORED in \(took)", .good) }
            return ((report.rolledBack ? "FAILED and rolled back" : "FAILED") + " · e edit the plan · p plan again", .bad)
        }
    }

    func render(into grid: inout TextGrid, area: Area, context: RenderContext) {
        var row = area.top
        let bottom = area.top + area.height
        grid.put(" Restore \(snapshot.name)", row: row, column: 0, style: .title)
        row += 1
        if let plan {
            // The data dir whole (a long path takes two lines), then the member and the service on their own line.
            let target = "into \(plan.dataDir)"
            let header = target.count <= area.width - 2
                ? wrapItems([target, "member \(plan.memberName)", plan.service.description], width: area.width - 2).prefix(2)
                : (wrap(target, width: area.width - 2).prefix(2) + wrapItems(["member \(plan.memberName)", plan.service.description], width: area.width - 2).prefix(1))
            for line in header {
                grid.put(" " + line, row: row, column: 0)
                row += 1
            }
        }
        let (status, style) = statusLine(context)
        for line in wrap(status, width: area.width - 2).prefix(3) {
            grid.put(" " + line, row: row, column: 0, style: style)
            row += 1
        }
        if let form = editing {
            renderEditor(form, into: &grid, row: row, bottom: bottom, width: area.width)
            return
        }
        if case .planFailed = phase { return }
        if case .planning = phase { return }
        for (index, step) in steps.enumerated() where row < bottom {
            var timing = ""
            if let ms = step.durationMs {
                timing = String(format: "%.1fs", Double(ms) / 1000)
            } else if step.state == .running, let began = step.startedAt {
                timing = duration(context.now.timeIntervalSince(began))
            }
            let stepStyle: CellStyle = index == selected ? .selected
                : step.state == .ok ? .good : step.state == .failed ? .bad : step.state == .running ? .title : .normal
            let title = "\(index + 1). \(step.title)" + (step.isDestructive ? " !" : "")
            let detail = step.detail.map { "  " + $0 } ?? ""
            let line = "\(index == selected ? ">" : " ")\(Self.mark(step.state)) \(title.fitted(37, pad: true)) \(timing.fitted(6, pad: true, alignRight: true))\(detail)"
            grid.put(line, row: row, column: 0, style: stepStyle)
            row += 1
        }
        if let report, row < bottom {
            let chosen = selected == steps.count
            grid.put("\(chosen ? ">" : " ")[=] Report" + (chosen ? "" : " (↓ to read it)"), row: row, column: 0,
                     style: chosen ? .selected : report.succeeded ? .good : .bad)
            row += 1
        }
        guard row < bottom - 1 else { return }
        grid.put(String(repeating: "─", count: area.width), row: row, column: 0, style: .dim)
        let pane = paneLines(width: area.width - 3)
        let room = bottom - row - 1
        // Output follows its tail; everything else shows from the top; PgUp/PgDn move either by paneOffset.
        let offset = min(paneOffset, max(0, pane.lines.count - room))
        let start = pane.tail ? max(0, pane.lines.count - room - offset) : offset
        let shown = Array(pane.lines.dropFirst(start).prefix(room))
        let position = pane.lines.count > room ? " · lines \(start + 1)-\(start + shown.count) of \(pane.lines.count), PgUp/PgDn" : ""
        grid.put(" \(pane.title)\(position) ".fitted(area.width - 2), row: row, column: 2, style: .title)
        row += 1
        for line in shown {
            grid.put("  " + line.0, row: row, column: 0, style: line.1)
            row += 1
        }
    }

    /// The lower pane: the report at the end, the rollback while it runs, else the selected step's
    /// output (once it ran) or its commands. `tail`: show the last lines.
    func paneLines(width: Int) -> (title: String, lines: [(String, CellStyle)], tail: Bool) {
        if let report, !steps.indices.contains(selected) { return ("Report", reportLines(report, width: width), false) }
        if case .unfinished(let summary) = phase {
            let lines = wrap(summary, width: width).map { ($0, CellStyle.warning) }
                + wrap("r resume: continue from the step it stopped at. b roll back: stop etcd, put the original data dir back, start etcd. Both ask for the member name first.", width: width).map { ($0, CellStyle.normal) }
            return ("Unfinished restore", lines, false)
        }
        if rollbackReason != nil && report == nil {
            var lines = rollbackLines.flatMap { wrap($0, width: width) }.map { ($0, CellStyle.warning) }
            if let rollback {
                lines += (rollback.actions.map { ($0, CellStyle.normal) } + rollback.problems.map { ($0, CellStyle.bad) })
            }
            return ("Rollback", lines, true)
        }
        guard steps.indices.contains(selected) else { return ("", [], false) }
        let step = steps[selected]
        if step.state != .pending && !step.output.isEmpty {
            return ("Output of \(step.title)", step.output.flatMap { wrap($0, width: width) }.map { ($0, .normal) }, true)
        }
        let commands = step.commands.isEmpty ? ["(checks only, no command)"] : step.commands
        var lines = (plan?.warnings ?? []).flatMap { wrap("WARNING: " + $0, width: width) }.map { ($0, CellStyle.bad) }
        if let plan, plan.snapshotIsDamaged {
            lines = wrap("DAMAGED SNAPSHOT: \(plan.snapshotReason ?? "it does not verify"): pick another snapshot", width: width).map { ($0, CellStyle.bad) } + lines
        }
        lines += commands.flatMap { Self.shellLines("$ " + $0, width: width) }.map { ($0, CellStyle.key) }
        if selected == 0, let plan {
            lines += plan.settingLines.flatMap { wrap($0, width: width) }.map { ($0, CellStyle.normal) }
        }
        lines += (plan?.notes ?? []).flatMap { wrap("note: " + $0, width: width) }.map { ($0, .dim) }
        return ("Commands of \(step.title)" + (step.isDestructive ? " (changes the host)" : ""), lines, false)
    }

    /// A command as lines that copy back as one: long ones broken between words with ` \` at the end of each
    /// line but the last, continuation lines indented.
    static func shellLines(_ command: String, width: Int) -> [String] {
        guard command.count > width, width > 10 else { return [command] }
        var lines: [String] = []
        var current = ""
        for word in command.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            let candidate = current.isEmpty ? word : current + " " + word
            if candidate.count + 2 > width, !current.isEmpty {
                lines.append(current + " \\")
                current = "    " + word
            } else {
                current = candidate
            }
        }
        if !current.isEmpty { lines.append(current) }
        // A single word longer than the line (a long path) is cut by the grid; wrap it hard instead.
        return lines.flatMap { $0.count > width ? wrap($0, width: width) : [$0] }
    }

    func renderEditor(_ form: EditForm, into grid: inout TextGrid, row start: Int, bottom: Int, width: Int) {
        var row = start
        grid.put(String(repeating: "─", count: width), row: row, column: 0, style: .dim)
        grid.put(" Edit the plan · ↑↓ field · ctrl-u clear · enter plan again · esc cancel ".fitted(width - 2), row: row, column: 2, style: .title)
        row += 1
        for (index, label) in EditForm.labels.enumerated() where row < bottom {
            let chosen = index == form.selected
            let padded = label + String(repeating: " ", count: max(0, 15 - label.count))
            let text = "\(chosen ? ">" : " ") \(padded) \(form.values[index])\(chosen ? "_" : "")"
            // Labels in a column; a long value goes on under its label, cut nowhere.
            let lines = text.count <= width - 1 ? [text]
                : [String(text.prefix(width - 1))] + wrap(String(text.dropFirst(width - 1)), width: width - 19).map { String(repeating: " ", count: 18) + $0 }
            for line in lines where row < bottom {
                grid.put(line, row: row, column: 0, style: chosen ? .selected : .normal)
                row += 1
            }
        }
        if let problem = form.problem {
            for line in wrap("cannot plan: " + problem, width: width - 1) where row < bottom {
                grid.put(line, row: row, column: 0, style: .bad)
                row += 1
            }
        }
        let help = "The member name must be the one etcd's unit starts etcd with (--name / ETCD_NAME); a one-member initial cluster follows a new name or peer URL."
        for line in wrap(help, width: width - 1) where row < bottom {
            grid.put(line, row: row, column: 0, style: .dim)
            row += 1
        }
    }

    /// After a failure: what to change before planning again, from the error (none for a rollback asked for).
    func whatToChange(_ report: RestoreReport) -> String? {
        guard let error = report.error else { return nil }
        if error.contains("members") && error.contains("expected") {
            return "what to change: etcd's unit starts another member name; e: set the member name (and cluster) to the unit's, enter plans again"
        }
        if error.contains("initial cluster") || error.contains("peer URLs") {
            return "what to change: the initial cluster or peer URLs do not match this host; e: correct them, enter plans again"
        }
        return "what to change: ↑ shows the failed step's output; e edits the plan, p plans again"
    }

    func reportLines(_ report: RestoreReport, width: Int) -> [(String, CellStyle)] {
        var lines: [(String, CellStyle)] = []
        let name = (report.snapshot as NSString).lastPathComponent
        if report.succeeded {
            lines.append(("restored \(name) into \(report.dataDir)", .good))
        } else {
            lines.append((report.error.map { "restore failed: \($0)" } ?? "restore not completed", .bad))
            if let change = whatToChange(report) { lines.append((change, .title)) }
        }
        if let pods = report.pods {
            let total = pods.values.reduce(0, +)
            let items = pods.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            lines.append(("pods found: \(total)" + (items.isEmpty ? "" : " (" + items.joined(separator: " · ") + ")"), .normal))
        }
        if let aside = report.movedAside { lines.append(("the old data dir is kept at \(aside)", .normal)) }
        if let rollback = report.rollback {
            lines.append((rollback.originalRestored ? "rolled back: the original data dir is back in place" : "rollback could not put the original data dir back", rollback.originalRestored ? .warning : .bad))
            if let failed = rollback.failedRestorePath { lines.append(("the failed restore is kept at \(failed)", .normal)) }
            lines.append((rollback.etcdRunning ? "etcd is running again" : "etcd is NOT running", rollback.etcdRunning ? .good : .bad))
            lines += rollback.problems.map { ("problem: " + $0, .bad) }
        }
        lines += report.reminders.map { ("next: " + $0, .title) }
        lines += report.notes.map { ("note: " + $0, .dim) }
        if report.error != nil { lines += (plan?.warnings ?? []).map { ("the plan warned: " + $0, .warning) } }
        lines += rollbackLines.map { ("rollback: " + $0, .dim) }
        return lines.flatMap { line in wrap(line.0, width: width).map { ($0, line.1) } }
    }
}
