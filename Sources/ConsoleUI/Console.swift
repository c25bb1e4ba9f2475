import EtcdClient
import Foundation
import Recovery
import SnapshotStore

/// The whole console as a value: which screen is shown, every screen's state, overlays and jobs.
///
/// `handle(_:)` (a key) and `apply(_:)` (an event from the runtime) change the state and return the effects
/// to perform; `render(into:)` draws it. All three are pure, so every screen is tested without a terminal or etcd.
public struct Console: Sendable {
    public enum Tab: Int, Sendable, CaseIterable {
        case members = 1, snapshots, jobs

        public var title: String {
            switch self {
            case .members: return "Members"
            case .snapshots: return "Snapshots"
            case .jobs: return "Jobs"
            }
        }
    }

    /// A screen over the Snapshots tab (esc returns).
    public enum Pushed: Sendable {
        case browse(BrowseScreen)
        case diff(DiffScreen)
        /// The restore wizard (its state is `wizard`, kept when the operator steps away).
        case wizard
        /// The cluster restore (`:cluster`; its state is `cluster`, kept while it runs).
        case cluster
    }

    public enum Overlay: Sendable, Equatable {
        /// Help, scrolled down by `offset` lines (it does not fit 24 rows on every screen).
        case help(offset: Int)
        case confirm(Confirmation)
        /// The `:` prompt with what was typed so far.
        case command(String)
    }

    public var tab: Tab = .members
    public var pushed: Pushed?
    public var overlay: Overlay?
    public var members = MembersScreen()
    public var snapshots: SnapshotsScreen
    public var jobs = JobsScreen()
    /// The restore wizard, once opened: kept while a restore runs so `:restore` returns to it.
    public var wizard: WizardScreen?
    /// The cluster restore, once planned: kept while it runs so `:cluster` returns to it.
    public var cluster: ClusterRestoreScreen?
    /// One line at the bottom: the result of the last action or why a key did nothing.
    public var message: (text: String, isError: Bool)?
    public let readonly: Bool
    public var now: Date
    /// The backup schedule's interval: the header warns when the newest good snapshot is older than twice it
    /// (`SnapshotFreshness`, as `etcd-console status` does). Nil: no warning.
    public var backupIntervalSeconds: TimeInterval?
    public let clock: ConsoleClock
    /// The endpoints, for the header.
    public let endpoints: String
    private var nextJobID = 1
    /// A browse or diff is being loaded (shown in the message line).
    public private(set) var loading: String?

    public init(directory: String, endpoints: String, readonly: Bool, now: Date, clock: ConsoleClock) {
        snapshots = SnapshotsScreen(directory: directory)
        self.endpoints = endpoints
        self.readonly = readonly
        self.now = now
        self.clock = clock
    }

    /// The effects to run at start.
    public func start() -> [Effect] {
        [.loadSnapshots, .refreshMembers, .pollBackupRecord, .checkUnfinishedRestore, .checkSchedule]
            + (snapshots.remoteLocation == nil ? [] : [.loadRemote(refresh: false), .loadRemote(refresh: true)])
    }

    static let globalBindings: [KeyBinding] = [
        KeyBinding([.character("?")], "help: this list", footer: "help"),
        KeyBinding([.character(":")], "command: :members :snapshots :jobs :restore :cluster :check :upload :pull :q", footer: "command"),
        KeyBinding([.tab, .backTab], "next / previous screen"),
        KeyBinding([.character("1"), .character("2"), .character("3")], "Members / Snapshots / Jobs"),
        KeyBinding([.escape], "back: close a dialog, browse or diff, clear a filter"),
        KeyBinding([.character("q")], "quit (asks while a job runs)", footer: "quit"),
    ]

    /// The bindings of what is on screen now, for help and the footer; destructive ones gone when read-only.
    public var currentBindings: [KeyBinding] {
        let screen: [KeyBinding]
        switch pushed {
        case .browse: screen = BrowseScreen.bindings
        case .diff: screen = DiffScreen.bindings
        case .wizard: screen = wizard?.currentBindings ?? WizardScreen.bindings
        case .cluster: screen = cluster?.bindings ?? ClusterRestoreScreen.plannedBindings
        case nil:
            switch tab {
            case .members: screen = MembersScreen.bindings
            case .snapshots: screen = snapshots.bindings
            case .jobs: screen = JobsScreen.bindings
            }
        }
        return KeyBinding.available(screen, readonly: readonly)
    }

    // MARK: - Keys

    public mutating func handle(_ key: Key) -> [Effect] {
        if key == .resize { return [] }
        if let overlay { return handleOverlay(overlay, key) }
        if tab == .snapshots && pushed == nil && snapshots.editingFilter {
            _ = snapshots.handle(key, readonly: readonly)
            return []
        }
        message = nil
        // The pushed or current screen first: it may use esc or enter itself.
        let action: ScreenAction
        switch pushed {
        case .browse(var screen):
            action = screen.handle(key)
            pushed = .browse(screen)
        case .diff(var screen):
            action = screen.handle(key)
            pushed = .diff(screen)
        case .wizard:
            if var screen = wizard {
                action = screen.handle(key, readonly: readonly)
                wizard = screen
            } else {
                action = .close
            }
        case .cluster:
            action = cluster?.handle(key, readonly: readonly) ?? .close
        case nil:
            switch tab {
            case .members: action = members.handle(key)
            case .snapshots: action = snapshots.handle(key, readonly: readonly)
            case .jobs: action = jobs.handle(key)
            }
        }
        if action != .unhandled { return perform(action) }
        return handleGlobal(key)
    }

    private mutating func handleGlobal(_ key: Key) -> [Effect] {
        switch key {
        case .character("?"):
            overlay = .help(offset: 0)
        case .character(":"):
            overlay = .command("")
        case .tab:
            switchTo(Tab(rawValue: tab.rawValue % Tab.allCases.count + 1)!)
        case .backTab:
            switchTo(Tab(rawValue: (tab.rawValue + Tab.allCases.count - 2) % Tab.allCases.count + 1)!)
        case .character(let c) where c.wholeNumberValue.flatMap(Tab.init(rawValue:)) != nil:
            switchTo(Tab(rawValue: c.wholeNumberValue!)!)
        case .escape:
            if pushed != nil {
                pushed = nil
            } else if tab == .snapshots && snapshots.clearFilter() {
                message = ("filter cleared", false)
            }
        case .character("q"), .control("c"):
            return requestQuit()
        default:
            break
        }
        return []
    }

    private mutating func switchTo(_ target: Tab) {
        pushed = nil
        tab = target
    }

    private mutating func requestQuit() -> [Effect] {
        let running = jobs.running
        guard !running.isEmpty else { return [.quit] }
        overlay = .confirm(Confirmation(
            title: "Quit while a job runs?",
            lines: running.map { "\($0.kind.rawValue) \($0.target) is still running" }
                + (running.contains { $0.kind == .restore }
                    ? ["Quitting stops the restore mid-step; its journal offers resume or rollback at the next start."]
                    : ["Quitting stops it; a save in progress leaves nothing behind (its .part is removed)."])
                + (running.contains { $0.kind == .upload }
                    ? ["An upload stopped midway leaves no object or manifest; the snapshot stays not offsite and the next backup uploads it."]
                    : []),
            action: .quit))
        return []
    }

    private mutating func perform(_ action: ScreenAction) -> [Effect] {
        switch action {
        case .unhandled, .handled:
            return []
        case .effect(let effect):
            if case .browse(let ref) = effect { loading = "reading \(ref.name)…" }
            if case .diff(let from, let to) = effect { loading = "comparing \(from.name) with \(to.name)…" }
            if case .checkCluster = effect {
                if case .running = members.check { return [] }
                members.check = .running(since: now)
                message = ("checking every member's keys (hashKV at one revision)…", false)
            }
            if case .planRestore(let ref) = effect {
                if wizard?.phase == .running {
                    pushed = .wizard
                    message = ("a restore is running: this is it", true)
                    return []
                }
                wizard = WizardScreen(snapshot: ref)
                pushed = .wizard
            }
            return [effect]
        case .saveSnapshot:
            if let running = jobs.running.first(where: { $0.kind == .save }) {
                message = ("a snapshot save is already running (\(running.target))", true)
                return []
            }
            let id = startJob(.save, target: "new snapshot in \(snapshots.directory)")
            message = ("taking a snapshot: see Jobs (3)", false)
            return [.saveSnapshot(job: id)]
        case .verify(let ref):
            let id = startJob(.verify, target: ref.name)
            message = ("verifying \(ref.name)…", false)
            return [.verify(job: id, ref)]
        case .upload(let ref):
            return startUpload(ref)
        case .verifyRemote(let name):
            let id = startJob(.verifyRemote, target: name)
            message = ("verifying the remote copy of \(name) (streamed, nothing written): see Jobs (3)", false)
            return [.verifyRemote(job: id, name: name)]
        case .pull(let name, let thenRestore):
            if jobs.running.contains(where: { $0.kind == .download && $0.target == name }) {
                message = ("\(name) is already being pulled: see Jobs (3)", true)
                return []
            }
            let id = startJob(.download, target: name)
            message = ("pulling \(name) into \(snapshots.directory)\(thenRestore ? ", then the restore wizard" : ""): see Jobs (3)", false)
            return [.pull(job: id, name: name, thenRestore: thenRestore)]
        case .reload:
            return [.loadSnapshots] + (snapshots.remoteLocation == nil ? [] : [.loadRemote(refresh: true)])
        case .confirm(let confirmation):
            overlay = .confirm(confirmation)
            return []
        case .message(let text):
            message = (text, false)
            return []
        case .refused(let text):
            message = (text, true)
            return []
        case .close:
            pushed = nil
            return []
        }
    }

    /// An upload job of its own (after `n`, or `u`), unless that snapshot is already being uploaded.
    private mutating func startUpload(_ ref: SnapshotRef) -> [Effect] {
        if jobs.running.contains(where: { $0.kind == .upload && $0.target == ref.name }) {
            message = ("\(ref.name) is already being uploaded: see Jobs (3)", true)
            return []
        }
        let id = startJob(.upload, target: ref.name)
        snapshots.uploadErrors[ref.name] = nil
        message = ("uploading \(ref.name) to \(snapshots.remoteLocation ?? "the remote"): see Jobs (3)", false)
        return [.upload(job: id, ref)]
    }

    private mutating func startJob(_ kind: Job.Kind, target: String) -> Int {
        let id = nextJobID
        nextJobID += 1
        jobs.start(Job(id: id, kind: kind, target: target, startedAt: now))
        return id
    }

    private mutating func handleOverlay(_ current: Overlay, _ key: Key) -> [Effect] {
        switch current {
        case .help(let offset):
            if key == .escape || key == .character("?") || key == .character("q") || key == .enter { overlay = nil }
            if let moved = moveSelection(offset, count: helpLines.count, key: key, page: 10) { overlay = .help(offset: moved) }
            return []
        case .command(let text):
            switch key {
            case .escape:
                overlay = nil
            case .backspace:
                if text.isEmpty { overlay = nil } else { overlay = .command(String(text.dropLast())) }
            case .enter:
                overlay = nil
                return runCommand(text.trimmingCharacters(in: .whitespaces))
            case .character(let c):
                overlay = .command(text + String(c))
            default:
                break
            }
            return []
        case .confirm(var confirmation):
            if key == .escape || (confirmation.typedWord == nil && (key == .character("n") || key == .character("N"))) {
                overlay = nil
                message = ("cancelled", false)
                return []
            }
            if let word = confirmation.typedWord {
                switch key {
                case .character(let c): confirmation.typed.append(c)
                case .backspace: if !confirmation.typed.isEmpty { confirmation.typed.removeLast() }
                case .enter:
                    guard confirmation.typed == word || confirmation.typed == "yes" else {
                        message = (word == "yes" ? "type yes exactly to confirm, or esc to cancel"
                                                 : "type \(word) or yes exactly to confirm, or esc to cancel", true)
                        confirmation.typed = ""
                        overlay = .confirm(confirmation)
                        return []
                    }
                    overlay = nil
                    message = nil
                    return confirmed(confirmation.action)
                default: break
                }
                overlay = .confirm(confirmation)
                return []
            }
            guard key == .character("y") || key == .character("Y") else { return [] }
            overlay = nil
            return confirmed(confirmation.action)
        }
    }

    private mutating func confirmed(_ action: Confirmation.Action) -> [Effect] {
        switch action {
        case .quit:
            return [.quit]
        case .delete(let ref):
            let id = startJob(.delete, target: ref.name)
            return [.delete(job: id, ref)]
        case .prune(let names):
            let id = startJob(.prune, target: "\(names.count) snapshot(s) in \(snapshots.directory)")
            return [.prune(job: id, names: names)]
        case .restoreCluster:
            guard var screen = cluster, screen.phase == .planned else { return [] }
            let id = startJob(.restore, target: screen.view.survivor.map { "quorum recovery from \($0) (\(screen.view.hosts.count) members)" }
                              ?? "cluster restore of \(screen.ref.name) (\(screen.view.hosts.count) members)")
            screen.phase = .running
            screen.job = id
            cluster = screen
            tab = .snapshots
            pushed = .cluster
            if let survivor = screen.view.survivor { return [.runQuorumRecovery(job: id, survivor: survivor)] }
            return [.runClusterRestore(job: id, screen.ref)]
        case .restore, .resumeRestore, .rollbackRestore:
            guard var screen = wizard, let plan = screen.plan else { return [] }
            let verb = action == .restore ? "restore" : action == .resumeRestore ? "resume restore" : "roll back restore"
            let id = startJob(.restore, target: "\(verb) of \(screen.snapshot.name) into \(plan.dataDir)")
            screen.started(at: now)
            wizard = screen
            pushed = .wizard
            switch action {
            case .restore: return [.runRestore(job: id, plan)]
            case .resumeRestore: return [.resumeRestore(job: id)]
            default: return [.rollbackRestore(job: id)]
            }
        }
    }

    /// `:members`, `:snapshots`, `:jobs`, `:restore`, `:check`, `:help`, `:q` (and unique prefixes).
    mutating func runCommand(_ text: String) -> [Effect] {
        let commands: [(String, Tab?)] = [("members", .members), ("snapshots", .snapshots), ("jobs", .jobs),
                                          ("restore", nil), ("cluster", nil), ("recover", nil), ("check", .members), ("upload", nil), ("pull", nil),
                                          ("help", nil), ("quit", nil), ("q", nil)]
        let word = text.lowercased()
        if word == "q" || word == "q!" || word == "quit" { return word == "q!" ? [.quit] : requestQuit() }
        let matches = commands.filter { $0.0.hasPrefix(word) && !word.isEmpty }
        guard matches.count == 1 || matches.contains(where: { $0.0 == word }) else {
            message = ("unknown command :\(text) (try :members, :snapshots, :jobs, :restore, :cluster, :recover, :check, :upload, :pull, :help, :q)", true)
            return []
        }
        let match = matches.first { $0.0 == word } ?? matches[0]
        if let tab = match.1 { switchTo(tab) } else if match.0 == "help" { overlay = .help(offset: 0) }
        if match.0 == "restore" { return openRestore() }
        if match.0 == "cluster" { return openClusterRestore() }
        if match.0 == "recover" { return openQuorumRecovery() }
        if match.0 == "check" { return perform(.effect(.checkCluster)) }
        if match.0 == "upload" || match.0 == "pull" { return offsiteCommand(match.0) }
        return []
    }

    /// `:upload` and `:pull`: `u` and `P` on the selected snapshot (Snapshots opens when it is not shown).
    private mutating func offsiteCommand(_ word: String) -> [Effect] {
        switchTo(.snapshots)
        let key: Key = word == "upload" ? .character("u") : .character("P")
        return perform(snapshots.handle(key, readonly: readonly))
    }

    /// `:restore`: back to the wizard when one is open, else a plan for the selected (or newest good) snapshot.
    private mutating func openRestore() -> [Effect] {
        if wizard != nil && (wizard?.phase == .running || pushed == nil) {
            tab = .snapshots
            pushed = .wizard
            return []
        }
        guard !readonly else {
            message = ("read-only session (--readonly): restore is not available", true)
            return []
        }
        let entry = tab == .snapshots ? snapshots.selectedEntry : snapshots.entries.first { $0.health == .good }
        guard let entry = entry ?? snapshots.entries.first(where: { $0.health == .good }) else {
            message = ("no good snapshot to restore in \(snapshots.directory)", true)
            return []
        }
        tab = .snapshots
        return perform(.effect(.planRestore(SnapshotRef(name: entry.name, path: entry.path))))
    }

    /// `:cluster`: back to a cluster restore that runs (or was planned), else a plan for the selected (or newest
    /// good) snapshot on every member of the configured inventory.
    private mutating func openClusterRestore() -> [Effect] {
        if let screen = cluster, screen.phase != .finished {
            tab = .snapshots
            pushed = .cluster
            return []
        }
        guard !readonly else {
            message = ("read-only session (--readonly): restore is not available", true)
            return []
        }
        let entry = tab == .snapshots ? snapshots.selectedEntry : nil
        guard let entry = entry ?? snapshots.entries.first(where: { $0.health == .good }) else {
            message = ("no good snapshot to restore in \(snapshots.directory)", true)
            return []
        }
        tab = .snapshots
        loading = "planning the cluster restore of \(entry.name)"
        return [.planClusterRestore(SnapshotRef(name: entry.name, path: entry.path))]
    }

    /// `:recover`: lost quorum, no snapshot to use: every member restored from the member with the newest data.
    private mutating func openQuorumRecovery() -> [Effect] {
        if let screen = cluster, screen.phase == .running {
            tab = .snapshots
            pushed = .cluster
            return []
        }
        guard !readonly else {
            message = ("read-only session (--readonly): recovery is not available", true)
            return []
        }
        loading = "finding the member with the newest data"
        return [.planQuorumRecovery]
    }

    // MARK: - Events

    public mutating func apply(_ event: ConsoleEvent) -> [Effect] {
        switch event {
        case .tick(let date):
            now = date
        case .members(let list, let date):
            members.apply(members: list, at: date)
        case .membersFailed(let error, let date):
            if members.apply(failure: error, at: date) { return [.diagnoseDataDir] }
        case .membersTLSFailed(let error, let date):
            members.apply(tlsFailure: error, at: date)
        case .doctor(let report, let dataDir):
            members.doctor = report
            members.doctorDataDir = dataDir
        case .snapshots(let listing, let free, _):
            snapshots.apply(listing, freeBytes: free)
            return [.loadControlPlane]   // a new snapshot may point at a new bundle
        case .controlPlane(let view):
            snapshots.controlPlane = view
        case .snapshotsFailed(let error):
            snapshots.loaded = true
            snapshots.loadError = error
        case .backupRecord(let record, let interrupted):
            let wasRunning = jobs.backup?.state == .running
            jobs.apply(backup: record, interrupted: interrupted)
            if wasRunning && jobs.backup?.state != .running {
                // The headless backup may have uploaded: its record and the cache are read again too.
                return [.loadSnapshots] + (snapshots.remoteLocation == nil ? [] : [.loadRemote(refresh: false)])
            }
        case .schedule(let next):
            jobs.nextScheduledRun = next
        case .jobProgress(let id, let progress):
            jobs.update(id) {
                $0.bytesDone = Int64(progress.bytesReceived)
                $0.bytesTotal = progress.totalBytes.map(Int64.init)
                $0.rate = progress.rate
                $0.phase = "streaming"
            }
        case .saved(let id, let saved, let date):
            var effects = apply(.jobFinished(job: id, succeeded: true, message: saved.message, at: date))
            if snapshots.remoteLocation != nil, let ref = saved.snapshot {
                effects += startUpload(ref)
                message = (saved.message + "; uploading it: see Jobs (3)", false)
            }
            return effects
        case .transferProgress(let id, let progress, let date):
            jobs.update(id) {
                $0.bytesDone = progress.done
                $0.bytesTotal = progress.total
                let elapsed = date.timeIntervalSince($0.startedAt)
                $0.rate = elapsed > 0 ? Double(progress.done) / elapsed : 0
                $0.phase = $0.kind == .upload ? "uploading" : "downloading"
            }
        case .offsite(let view):
            // A listing that fails is said once (the cached rows stay); a later good one says nothing.
            if let error = view.listError, error != snapshots.offsite?.listError { message = (error, true) }
            snapshots.apply(offsite: view)
        case .pulled(let id, let ref, let text, let thenRestore, let date):
            var effects = apply(.jobFinished(job: id, succeeded: true, message: text, at: date))
            if thenRestore {
                tab = .snapshots
                effects += perform(.effect(.planRestore(ref)))
            }
            return effects
        case .jobFinished(let id, let succeeded, let text, let date):
            if let job = jobs.jobs.first(where: { $0.id == id }), job.kind == .upload {
                snapshots.uploadErrors[job.target] = succeeded ? nil : text
            }
            let transfer = jobs.jobs.first { $0.id == id }.map { [.upload, .download].contains($0.kind) } ?? false
            jobs.update(id) {
                $0.state = succeeded ? .succeeded : .failed
                $0.finishedAt = date
                $0.message = text
                $0.phase = nil
                if succeeded, let total = $0.bytesTotal { $0.bytesDone = total }
            }
            message = (text, !succeeded)
            return [.loadSnapshots] + (transfer && snapshots.remoteLocation != nil ? [.loadRemote(refresh: true)] : [])
        case .prunePlan(let plan):
            if plan.delete.isEmpty {
                message = ("prune: nothing to delete" + (plan.deletesNothingReason.map { " (\($0))" } ?? "; every snapshot is kept by the policy"), false)
            } else {
                overlay = .confirm(Confirmation(
                    title: "Prune \(plan.delete.count) snapshot(s)? (default policy: last 6, 24 hourly, 7 daily, 4 weekly, 3 monthly)",
                    lines: plan.delete.map { "delete \($0.name) (\($0.reason))" } + ["keeps \(plan.keep.count) snapshot(s), always the newest good one"],
                    action: .prune(plan.delete.map(\.name))))
            }
        case .prunePlanFailed(let error):
            message = ("prune: \(error)", true)
        case .browseLoaded(let ref, let objects, let damage):
            loading = nil
            pushed = .browse(BrowseScreen(snapshot: ref, objects: objects, damage: damage))
        case .browseOpened(let ref, let groups, let damage):
            loading = nil
            pushed = .browse(BrowseScreen(snapshot: ref, groups: groups, damage: damage))
        case .browsePageLoaded(let ref, let page):
            if case .browse(var screen) = pushed, screen.snapshot == ref {
                screen.receive(page)
                pushed = .browse(screen)
            }
        case .diffLoaded(let from, let to, let diff, let damage):
            loading = nil
            pushed = .diff(DiffScreen(from: from, to: to, diff: diff, damage: damage))
        case .failed(let error):
            loading = nil
            message = (error, true)
        case .clusterRestorePlanned(let ref, let view):
            loading = nil
            cluster = ClusterRestoreScreen(ref: ref, view: view)
            tab = .snapshots
            pushed = .cluster
        case .clusterRestorePlanFailed(let error):
            loading = nil
            message = ("cluster restore: \(error)", true)
        case .clusterRestore(let id, let view):
            guard var screen = cluster, screen.job == id else { break }
            screen.view = view
            if let succeeded = view.succeeded {
                screen.phase = .finished
                jobs.update(id) {
                    $0.state = succeeded ? .succeeded : .failed
                    $0.finishedAt = now
                    $0.message = view.result ?? (succeeded ? "restored every member" : "failed")
                }
            }
            cluster = screen
        case .restorePlanned(let ref, let plan):
            guard wizard?.snapshot == ref, wizard?.phase == .planning else { break }
            wizard?.apply(plan: plan)
        case .restorePlanFailed(let ref, let error):
            guard wizard?.snapshot == ref else { break }
            wizard?.planFailed(error)
        case .restore(let id, let event):
            wizard?.apply(event, at: now)
            if case .finished(let report) = event {
                jobs.update(id) {
                    $0.state = report.succeeded ? .succeeded : .failed
                    $0.finishedAt = now
                    $0.message = report.succeeded ? "restored \(report.snapshot) into \(report.dataDir)"
                        : "failed\(report.rolledBack ? " and rolled back" : ""): \(report.error ?? "see the wizard")"
                }
                return [.loadSnapshots, .refreshMembers]
            }
            if case .stepStarted(let kind) = event { jobs.update(id) { $0.phase = kind.rawValue } }
            if case .rollbackStarted = event { jobs.update(id) { $0.phase = "rolling back" } }
        case .restoreNotStarted(let id, let error):
            wizard?.planFailed("could not start: \(error)")
            jobs.update(id) {
                $0.state = .failed
                $0.finishedAt = now
                $0.message = error
            }
            message = (error, true)
        case .checked(let result, let date):
            members.check = .done(result, at: date)
            message = ("check: " + result.verdict, !result.healthy)
        case .checkFailed(let error, let date):
            members.check = .failed(error, at: date)
            message = ("check failed: \(error)", true)
        case .unfinishedRestore(let plan, let summary, let steps):
            guard wizard == nil else { break }
            wizard = WizardScreen(unfinished: plan, summary: summary, steps: steps)
            tab = .snapshots
            pushed = .wizard
        }
        return []
    }
}
