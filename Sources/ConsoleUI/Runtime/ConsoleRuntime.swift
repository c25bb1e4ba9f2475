import EtcdClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Recovery
import SnapshotStore

/// Events posted by effects running on other threads, taken by the UI loop.
final class EventQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [ConsoleEvent] = []
    /// A pipe whose read end becomes readable when an event is posted: the UI loop's wait for a key ends then,
    /// and the result is drawn at once (the first frame with the snapshot list no longer waits out the 100 ms
    /// key timeout; issue 13's first-frame target). -1 when the pipe could not be made: poll(2) ignores a negative
    /// descriptor, so the wait is then the key timeout, as before.
    let wakeReadFD: Int32
    private let wakeWriteFD: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            (wakeReadFD, wakeWriteFD) = (fds[0], fds[1])
        } else {
            (wakeReadFD, wakeWriteFD) = (-1, -1)
        }
    }

    deinit {
        if wakeReadFD >= 0 { close(wakeReadFD) }
        if wakeWriteFD >= 0 { close(wakeWriteFD) }
    }

    func post(_ event: ConsoleEvent) {
        lock.withLock { events.append(event) }
        // One byte per post; a full pipe (nobody read yet) already wakes the loop, so EAGAIN is fine.
        if wakeWriteFD >= 0 {
            var byte: UInt8 = 1
            _ = write(wakeWriteFD, &byte, 1)
        }
    }

    /// The events posted so far; empties the wake pipe first, so a post after this wakes the next wait.
    func take() -> [ConsoleEvent] {
        if wakeReadFD >= 0 {
            var sink = [UInt8](repeating: 0, count: 256)
            while read(wakeReadFD, &sink, sink.count) > 0 {}
        }
        return lock.withLock {
            defer { events.removeAll() }
            return events
        }
    }
}

/// Runs the console: owns the `Console` value on the UI thread, reads keys, performs effects as tasks
/// against `ConsoleServices` and feeds their results back as events. Never waits on the network: the UI
/// loop only polls the event queue.
public final class ConsoleRuntime {
    public private(set) var console: Console
    private let terminal: ConsoleTerminal
    private let services: ConsoleServices
    private let now: @Sendable () -> Date
    private let events = EventQueue()
    /// Refreshes in flight, so a slow etcd never piles up requests.
    private let inFlight = InFlight()
    /// How often members are asked (the 2 s) and the other periodic reads.
    public var memberInterval: TimeInterval = 2
    public var backupPollInterval: TimeInterval = 1
    public var snapshotReloadInterval: TimeInterval = 30
    /// One line per key read and per frame drawn ("key <unix seconds>", "frame <unix seconds> snapshots=<n>"),
    /// for `scripts/bench`; nil normally.
    public var trace: ((String) -> Void)?
    /// Asked every loop (at least every 100 ms): true ends `run()` as `q` would (a signal arrived).
    public var shouldStop: (@Sendable () -> Bool)?

    public init(console: Console, terminal: ConsoleTerminal, services: ConsoleServices,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.console = console
        self.terminal = terminal
        self.services = services
        self.now = now
    }

    /// Runs until the operator quits.
    public func run() {
        var lastMembers = Date.distantPast
        var lastBackupPoll = Date.distantPast
        var lastReload = now()
        var lastTick = Date.distantPast
        var dirty = true
        trace?(String(format: "start %.6f", Date().timeIntervalSince1970))
        for effect in console.start() { perform(effect) }
        lastMembers = now()
        lastBackupPoll = now()
        while true {
            if shouldStop?() == true { return }
            let current = now()
            if current.timeIntervalSince(lastTick) >= 1 {
                lastTick = current
                _ = console.apply(.tick(current))
                dirty = true
            }
            if current.timeIntervalSince(lastMembers) >= memberInterval {
                lastMembers = current
                perform(.refreshMembers)
            }
            if current.timeIntervalSince(lastBackupPoll) >= backupPollInterval {
                lastBackupPoll = current
                perform(.pollBackupRecord)
            }
            if current.timeIntervalSince(lastReload) >= snapshotReloadInterval {
                lastReload = current
                perform(.reloadSnapshotsIfChanged)
                perform(.checkSchedule)
                if console.snapshots.remoteLocation != nil { perform(.loadRemote(refresh: false)) }
            }
            for event in events.take() {
                dirty = true
                for effect in console.apply(event) { perform(effect) }
            }
            if dirty {
                draw()
                dirty = false
            }
            guard let key = terminal.readKey(timeoutMilliseconds: 100, wakeDescriptor: events.wakeReadFD) else { continue }
            trace?(String(format: "key %.6f", Date().timeIntervalSince1970))
            dirty = true
            for effect in console.handle(key) {
                if effect == .quit { return }
                perform(effect)
            }
        }
    }

    /// Renders the console at the terminal's current size and draws it.
    public func draw() {
        let size = terminal.size
        var grid = TextGrid(width: size.width, height: size.height)
        console.render(into: &grid)
        terminal.draw(grid)
        if let trace {
            let shown = console.tab == .snapshots && console.snapshots.loaded ? console.snapshots.entries.count : -1
            trace(String(format: "frame %.6f snapshots=%d", Date().timeIntervalSince1970, shown))
        }
    }

    /// Starts `effect` on a task; its result comes back through the event queue.
    func perform(_ effect: Effect) {
        let services = self.services
        let events = self.events
        let now = self.now
        let inFlight = self.inFlight
        switch effect {
        case .quit:
            return
        case .refreshMembers:
            guard inFlight.begin("members") else { return }
            Task.detached {
                defer { inFlight.end("members") }
                do {
                    events.post(.members(try await services.clusterStatus(), at: now()))
                } catch let error as EtcdClientError where error.isTLSFailure {
                    events.post(.membersTLSFailed("\(error)", at: now()))
                } catch {
                    events.post(.membersFailed("\(error)", at: now()))
                }
            }
        case .checkCluster:
            guard inFlight.begin("check") else { return }
            Task.detached {
                defer { inFlight.end("check") }
                do {
                    events.post(.checked(try await services.checkCluster(), at: now()))
                } catch {
                    events.post(.checkFailed("\(error)", at: now()))
                }
            }
        case .diagnoseDataDir:
            guard inFlight.begin("doctor") else { return }
            Task.detached {
                defer { inFlight.end("doctor") }
                let (report, dataDir) = await services.diagnoseDataDir()
                events.post(.doctor(report, dataDir: dataDir))
            }
        case .loadSnapshots:
            guard inFlight.begin("snapshots") else { return }
            Task.detached {
                defer { inFlight.end("snapshots") }
                do {
                    let listing = try await services.listSnapshots()
                    events.post(.snapshots(listing, freeBytes: await services.freeBytes(), at: now()))
                } catch {
                    events.post(.snapshotsFailed("\(error)"))
                }
            }
        case .reloadSnapshotsIfChanged:
            guard inFlight.begin("snapshots") else { return }
            Task.detached {
                defer { inFlight.end("snapshots") }
                do {
                    guard let listing = try await services.listSnapshotsIfChanged() else { return }
                    events.post(.snapshots(listing, freeBytes: await services.freeBytes(), at: now()))
                } catch {
                    events.post(.snapshotsFailed("\(error)"))
                }
            }
        case .pollBackupRecord:
            guard inFlight.begin("backup") else { return }
            Task.detached {
                defer { inFlight.end("backup") }
                let record = await services.backupRecord()
                events.post(.backupRecord(record?.0, interrupted: record?.interrupted ?? false))
            }
        case .saveSnapshot(let job):
            Task.detached {
                do {
                    let saved = try await services.takeSnapshot { events.post(.jobProgress(job: job, $0)) }
                    events.post(.saved(job: job, saved, at: now()))
                } catch {
                    events.post(.jobFinished(job: job, succeeded: false, message: "snapshot failed: \(error)", at: now()))
                }
            }
        case .loadRemote(let refresh):
            let name = refresh ? "remote-list" : "remote-cache"
            guard inFlight.begin(name) else { return }
            Task.detached {
                defer { inFlight.end(name) }
                if let view = await services.offsite(refresh: refresh) { events.post(.offsite(view)) }
            }
        case .loadControlPlane:
            guard inFlight.begin("control-plane") else { return }
            Task.detached {
                defer { inFlight.end("control-plane") }
                if let view = await services.controlPlane() { events.post(.controlPlane(view)) }
            }
        case .upload(let job, let ref):
            Task.detached {
                do {
                    let result = try await services.upload(ref) { events.post(.transferProgress(job: job, $0, at: now())) }
                    events.post(.jobFinished(job: job, succeeded: true, message: result, at: now()))
                } catch {
                    events.post(.jobFinished(job: job, succeeded: false,
                                             message: "upload failed (the local copy is kept): \(error)", at: now()))
                }
            }
        case .verifyRemote(let job, let name):
            Task.detached {
                do {
                    let result = try await services.verifyRemote(name) { events.post(.transferProgress(job: job, $0, at: now())) }
                    events.post(.jobFinished(job: job, succeeded: true, message: result, at: now()))
                } catch {
                    events.post(.jobFinished(job: job, succeeded: false, message: "\(error)", at: now()))
                }
            }
        case .pull(let job, let name, let thenRestore):
            Task.detached {
                do {
                    let ref = try await services.pull(name) { events.post(.transferProgress(job: job, $0, at: now())) }
                    events.post(.pulled(job: job, ref, message: "pulled \(name) into \(ref.path), verified good",
                                        thenRestore: thenRestore, at: now()))
                } catch {
                    events.post(.jobFinished(job: job, succeeded: false, message: "\(error)", at: now()))
                }
            }
        case .verify(let job, let ref):
            Task.detached {
                let result = await services.verify(ref)
                let good = result.health == .good
                let text = "\(ref.name): \(result.health.rawValue)" + (result.reason.map { ": \($0)" } ?? "")
                    + (good ? " (revision \(result.revision.map(String.init) ?? "?"), \(result.liveKeys.map(String.init) ?? "?") keys)" : "")
                events.post(.jobFinished(job: job, succeeded: good, message: text, at: now()))
            }
        case .delete(let job, let ref):
            Task.detached {
                do {
                    try await services.delete(ref)
                    events.post(.jobFinished(job: job, succeeded: true, message: "deleted \(ref.name)", at: now()))
                } catch {
                    events.post(.jobFinished(job: job, succeeded: false, message: "could not delete \(ref.name): \(error)", at: now()))
                }
            }
        case .planPrune:
            Task.detached {
                do {
                    events.post(.prunePlan(try await services.planPrune(now: now())))
                } catch {
                    events.post(.prunePlanFailed("\(error)"))
                }
            }
        case .prune(let job, let names):
            Task.detached {
                do {
                    let deleted = try await services.prune(names)
                    events.post(.jobFinished(job: job, succeeded: true, message: "pruned \(deleted.count) snapshot(s)", at: now()))
                } catch {
                    events.post(.jobFinished(job: job, succeeded: false, message: "prune stopped: \(error)", at: now()))
                }
            }
        case .browse(let ref):
            Task.detached {
                do {
                    let damage = await services.damage(of: ref)
                    events.post(.browseOpened(ref, try await services.browseGroups(in: ref), damage: damage))
                } catch {
                    events.post(.failed("cannot browse \(ref.name): \(error)"))
                }
            }
        case .browsePage(let ref, let request):
            Task.detached {
                do {
                    events.post(.browsePageLoaded(ref, try await services.browsePage(in: ref, request)))
                } catch {
                    events.post(.failed("cannot read objects of \(ref.name): \(error)"))
                }
            }
        case .planRestore(let ref):
            Task.detached {
                do {
                    events.post(.restorePlanned(ref, try await services.planRestore(ref)))
                } catch {
                    events.post(.restorePlanFailed(ref, "\(error)"))
                }
            }
        case .replanRestore(let ref, let edits):
            Task.detached {
                do {
                    events.post(.restorePlanned(ref, try await services.planRestore(ref, edits: edits)))
                } catch {
                    events.post(.restorePlanFailed(ref, "\(error)"))
                }
            }
        case .planClusterRestore(let ref):
            Task.detached {
                do {
                    events.post(.clusterRestorePlanned(ref, try await services.planClusterRestore(ref)))
                } catch {
                    events.post(.clusterRestorePlanFailed("\(error)"))
                }
            }
        case .runClusterRestore(let job, let ref):
            Task.detached {
                let last = await services.runClusterRestore(ref) { view in events.post(.clusterRestore(job: job, view)) }
                events.post(.clusterRestore(job: job, last))
            }
        case .planQuorumRecovery:
            Task.detached {
                do {
                    let view = try await services.planQuorumRecovery()
                    events.post(.clusterRestorePlanned(SnapshotRef(name: view.snapshot, path: ""), view))
                } catch {
                    events.post(.clusterRestorePlanFailed("\(error)"))
                }
            }
        case .runQuorumRecovery(let job, let survivor):
            Task.detached {
                let last = await services.runQuorumRecovery(survivor: survivor) { view in events.post(.clusterRestore(job: job, view)) }
                events.post(.clusterRestore(job: job, last))
            }
        case .runRestore(let job, let plan):
            runRestore(job) { try await services.runRestore(plan, onEvent: $0) }
        case .resumeRestore(let job):
            runRestore(job) { try await services.resumeRestore(onEvent: $0) }
        case .rollbackRestore(let job):
            runRestore(job) { try await services.rollbackRestore(onEvent: $0) }
        case .checkSchedule:
            guard inFlight.begin("schedule") else { return }
            Task.detached {
                defer { inFlight.end("schedule") }
                events.post(.schedule(await services.nextScheduledBackup()))
            }
        case .checkUnfinishedRestore:
            Task.detached {
                if let (plan, summary, steps) = await services.unfinishedRestore() {
                    events.post(.unfinishedRestore(plan, summary: summary, steps: steps))
                }
            }
        case .diff(let from, let to):
            Task.detached {
                do {
                    let damaged = [await services.damage(of: from), await services.damage(of: to)].compactMap { $0 }
                    events.post(.diffLoaded(from: from, to: to, try await services.diff(from: from, to: to),
                                            damage: damaged.isEmpty ? nil : damaged.joined(separator: "; ")))
                } catch {
                    events.post(.failed("cannot diff \(from.name) with \(to.name): \(error)"))
                }
            }
        }
    }
}

extension ConsoleRuntime {
    /// Runs a restore, resume or rollback; its events come back as `.restore`, a failure to start as `.restoreNotStarted`.
    private func runRestore(_ job: Int,
                            _ body: @escaping @Sendable (@escaping @Sendable (RestoreEvent) -> Void) async throws -> RestoreReport) {
        let events = self.events
        Task.detached {
            do {
                _ = try await body { events.post(.restore(job: job, $0)) }
            } catch {
                events.post(.restoreNotStarted(job: job, "\(error)"))
            }
        }
    }
}

/// Names of periodic effects currently running.
final class InFlight: @unchecked Sendable {
    private let lock = NSLock()
    private var names: Set<String> = []

    func begin(_ name: String) -> Bool { lock.withLock { names.insert(name).inserted } }
    func end(_ name: String) { _ = lock.withLock { names.remove(name) } }
}
