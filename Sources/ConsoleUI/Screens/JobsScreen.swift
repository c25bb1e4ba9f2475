import Foundation
import SnapshotStore

/// Jobs: saves, uploads, downloads, verifies, deletes and prunes started here, and the headless scheduled backup,
/// newest first.
public struct JobsScreen: Sendable {
    public private(set) var jobs: [Job] = []
    /// The headless backup's last progress record, shown as a job.
    public private(set) var backup: Job?
    public var selected = 0
    /// When a systemd timer or CronJob that runs backups is known: its next run, as text.
    public var nextScheduledRun: String?

    public init() {}

    static let bindings: [KeyBinding] = [
        KeyBinding([.up, .down], "select a job"),
    ]

    /// All jobs shown, running first, then newest first.
    public var all: [Job] {
        (jobs + (backup.map { [$0] } ?? [])).sorted {
            ($0.state == .running ? 1 : 0, $0.startedAt, $0.id) > ($1.state == .running ? 1 : 0, $1.startedAt, $1.id)
        }
    }

    public var running: [Job] { all.filter { $0.state == .running && $0.kind != .backup } }

    mutating func start(_ job: Job) { jobs.append(job) }

    mutating func update(_ id: Int, _ change: (inout Job) -> Void) {
        guard let index = jobs.firstIndex(where: { $0.id == id }) else { return }
        change(&jobs[index])
    }

    mutating func apply(backup record: BackupJobRecord?, interrupted: Bool) {
        backup = record.map { Job.backup($0, interrupted: interrupted) }
    }

    mutating func handle(_ key: Key) -> ScreenAction {
        if let moved = moveSelection(selected, count: all.count, key: key, page: 5) {
            selected = moved
            return .handled
        }
        return .unhandled
    }

    func render(into grid: inout TextGrid, area: Area, context: RenderContext) {
        var row = area.top
        let bottom = area.top + area.height - 1
        let list = all
        if list.isEmpty {
            grid.put(" no jobs yet: press n on Snapshots to take a snapshot", row: row, column: 0, style: .dim)
        }
        for (i, job) in list.enumerated() where row < bottom - 1 {
            let selectedRow = i == selected
            let style: CellStyle = selectedRow ? .selected
                : job.state == .running ? .title : job.state == .succeeded ? .good : .bad
            let started = context.clock.time(job.startedAt)
            let took = job.finishedAt.map { duration($0.timeIntervalSince(job.startedAt)) }
                ?? duration(context.now.timeIntervalSince(job.startedAt))
            let state = job.state.rawValue + (job.state == .running ? job.phase.map { " (\($0))" } ?? "" : "")
            let head = "\(selectedRow ? ">" : " ")\(job.kind.rawValue.fitted(18, pad: true)) \(state.fitted(20, pad: true)) \(started)  \(job.state == .running ? "for" : "took") \(took)"
            grid.put(head, row: row, column: 0, style: style)
            row += 1
            grid.put("   " + job.target, row: row, column: 0)
            row += 1
            if job.state == .running, job.showsBytes, row < bottom {
                grid.put("   " + progressLine(job, width: area.width - 4), row: row, column: 0, style: .title)
                row += 1
            }
            if let message = job.message, row < bottom {
                let lines = wrap(message, width: area.width - 4)
                // A failure's cause (an S3 error) comes at the end of its message: failed jobs get more lines.
                for line in lines.prefix(job.state == .failed ? 4 : 2) where row < bottom {
                    grid.put("   " + line, row: row, column: 0, style: job.state == .failed || job.state == .interrupted ? .bad : .dim)
                    row += 1
                }
            }
        }
        grid.put(" next scheduled backup: " + (nextScheduledRun ?? "no systemd timer or CronJob known"),
                 row: bottom, column: 0, style: .dim)
    }

    /// "[#####.....]  45%  12.3 MiB / 27.0 MiB  5.1 MiB/s  ETA 3s".
    func progressLine(_ job: Job, width: Int) -> String {
        var tail = bytes(job.bytesDone)
        if let total = job.bytesTotal { tail += " / " + bytes(total) }
        tail += "  " + bytes(Int64(job.rate)) + "/s"
        if let eta = job.etaSeconds { tail += "  ETA " + duration(eta) }
        guard let fraction = job.fraction else { return tail }
        let percent = String(format: "%3.0f%%", fraction * 100)
        let barWidth = max(10, min(40, width - tail.count - 8))
        return progressBar(fraction, width: barWidth) + " " + percent + "  " + tail
    }
}
