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

    public init(snapshot: SnapshotRef) {
        self.snapshot = snapshot
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
        KeyBinding([.up, .down], "select a step: its commands, then its output"),
        KeyBinding([.enter], "review: confirm and run (type the member name or yes)", destructive: true, footer: "run"),
        KeyBinding([.character("r")], "unfinished restore: resume it", destructive: true, footer: "resume"),
        KeyBinding([.character("b")], "unfinished restore: roll it back", destructive: true, footer: "rollback"),
        KeyBinding([.escape], "back to snapshots (a running restore goes on: :restore returns)", footer: "back"),
    ]

    /// The keys that do something in the current phase (help and footer).
    var currentBindings: [KeyBinding] {
        Self.bindings.filter { binding in
            switch binding.keys.first {
            case .enter: return phase == .review
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
        if let moved = moveSelection(selected, count: steps.count, key: key, page: 5) {
            selected = moved
            return .handled
        }
        switch (phase, key) {
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
            return (report.rolledBack ? "FAILED and rolled back" : "FAILED", .bad)
        }
    }

    func render(into grid: inout TextGrid, area: Area, context: RenderContext) {
        var row = area.top
        let bottom = area.top + area.height
        grid.put(" Restore \(snapshot.name)", row: row, column: 0, style: .title)
        row += 1
        if let plan {
            for line in wrapItems(["into \(plan.dataDir)", "member \(plan.memberName)", plan.service.description], width: area.width - 2).prefix(2) {
                grid.put(" " + line, row: row, column: 0)
                row += 1
            }
        }
        let (status, style) = statusLine(context)
        for line in wrap(status, width: area.width - 2).prefix(3) {
            grid.put(" " + line, row: row, column: 0, style: style)
            row += 1
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
        guard row < bottom - 1 else { return }
        grid.put(String(repeating: "─", count: area.width), row: row, column: 0, style: .dim)
        let pane = paneLines(width: area.width - 3)
        grid.put(" \(pane.title) ", row: row, column: 2, style: .title)
        row += 1
        let room = bottom - row
        // Output follows its tail; everything else shows from the top.
        let shown = pane.tail ? Array(pane.lines.suffix(room)) : Array(pane.lines.prefix(room))
        for line in shown {
            grid.put("  " + line.0, row: row, column: 0, style: line.1)
            row += 1
        }
    }

    /// The lower pane: the report at the end, the rollback while it runs, else the selected step's
    /// output (once it ran) or its commands. `tail`: show the last lines.
    func paneLines(width: Int) -> (title: String, lines: [(String, CellStyle)], tail: Bool) {
        if let report { return ("Report", reportLines(report, width: width), false) }
        if case .unfinished(let summary) = phase {
            let lines = wrap(summary, width: width).map { ($0, CellStyle.warning) }
                + wrap("r resume: continue from the step it stopped at. b roll back: stop etcd, put the original data dir back, start etcd. Both ask for the member name first.", width: width).map { ($0, CellStyle.normal) }
            return ("Unfinished restore", lines, false)
        }
        if rollbackReason != nil {
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
        return ("Commands of \(step.title)" + (step.isDestructive ? " (changes the host)" : ""),
                commands.flatMap { wrap("$ " + $0, width: width) }.map { ($0, CellStyle.key) }
                    + (plan?.notes ?? []).flatMap { wrap("note: " + $0, width: width) }.map { ($0, .dim) }, false)
    }

    func reportLines(_ report: RestoreReport, width: Int) -> [(String, CellStyle)] {
        var lines: [(String, CellStyle)] = []
        let name = (report.snapshot as NSString).lastPathComponent
        if report.succeeded {
            lines.append(("restored \(name) into \(report.dataDir)", .good))
        } else {
            lines.append(("restore failed: \(report.error ?? "unknown error")", .bad))
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
        return lines.flatMap { line in wrap(line.0, width: width).map { ($0, line.1) } }
    }
}
