import ArgumentParser
import Foundation
import Operations
import Recovery
import SnapshotStore
import SystemSupport

struct ScheduleStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Last backup run, last success, next run, and the newest good snapshot's age.",
        discussion: """
        Reads the snapshot directory (the backup's progress record and history, the snapshots) and asks \
        systemd for the timer's next run. Exit codes: 0 fine; 1 when there is no good snapshot, the newest \
        good one is older than twice the interval, or the last run failed or died.

        Examples:
          etcd-console schedule status
          etcd-console schedule status --dir /backup/etcd -o json
        """)

    @OptionGroup var config: ConfigOption

    @Option(help: ArgumentHelp("Snapshot directory (default from the config file, else /var/lib/etcd-backup).", valueName: "dir"))
    var dir: String?

    @Option(help: ArgumentHelp("The schedule's interval (default from the config file, else 30min).", valueName: "interval"))
    var every: String?

    @OptionGroup var output: OutputOptions

    func run() async throws {
        var flags: [ConfigurationKey: String] = [:]
        flags[.dir] = dir.map(absolutePath)
        flags[.every] = every
        let resolved = try config.resolve(flags: flags)
        let directory = resolved.snapshotDirectory
        let record = BackupJobRecord.read(fromDirectory: directory)
        let listing = FileManager.default.fileExists(atPath: directory) ? try SnapshotCatalog.standard(directory: directory).list() : nil
        let status = ScheduleStatus(directory: directory, interval: resolved.interval, record: record,
                                    interrupted: record?.isInterrupted() ?? false,
                                    history: BackupHistory.read(fromDirectory: directory),
                                    entries: listing?.entries ?? [], nextRun: await Self.nextTimerRun(), now: Date())
        switch output.output {
        case .json: try printJSON(ScheduleStatusJSON(status))
        case .table: print(Self.text(status), terminator: "")
        }
        if status.needsAttention { throw ExitCode(1) }
    }

    /// The timer's next elapse as systemd prints it, or nil (no systemd, timer not installed).
    static func nextTimerRun() async -> String? {
        let request = ProcessRequest("systemctl", ["show", "--property=NextElapseUSecRealtime", "--value", SystemdBackupUnits.timerName],
                                     timeout: .seconds(10))
        guard let result = try? await SystemProcessRunner().run(request), result.succeeded else { return nil }
        let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty || text == "n/a" ? nil : text
    }

    static func text(_ status: ScheduleStatus) -> String {
        var lines = ["snapshot directory: \(status.directory)", "schedule: every \(status.interval)"]
        if let run = status.lastRun, let state = status.lastRunState {
            var line = "last run: \(state.rawValue), started \(rfc3339(run.startedAt)) (pid \(run.pid))"
            if let message = run.message { line += ": \(message)" }
            lines.append(line)
        } else {
            lines.append("last run: none recorded (etcd-console backup has not run on this directory)")
        }
        lines.append("last success: " + (status.lastSuccess.map { "\(rfc3339($0.finishedAt)) (\($0.message))" } ?? "never"))
        lines.append("next run: " + (status.nextRun ?? "unknown (no systemd timer etcd-console-backup.timer found)"))
        let fresh = status.freshness
        switch fresh.verdict {
        case .none:
            lines.append("newest good snapshot: none: take one now with etcd-console backup")
        case .fresh, .stale:
            var line = "newest good snapshot: \(fresh.newestGood ?? "?"), \(formatAge(fresh.ageSeconds ?? 0)) old"
            if fresh.verdict == .stale { line += ": STALE, older than twice the \(status.interval) schedule (\(formatAge(fresh.limitSeconds)))" }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

struct ScheduleStatusJSON: Encodable {
    var directory: String
    var every: String
    var lastRunState: String?
    var lastRunStartedAt: String?
    var lastRunFinishedAt: String?
    var lastRunMessage: String?
    var lastSuccessAt: String?
    var lastSuccessFile: String?
    var nextRun: String?
    var newestGood: String?
    var newestGoodAgeSeconds: Int?
    var freshness: String
    var needsAttention: Bool

    init(_ status: ScheduleStatus) {
        directory = status.directory
        every = status.interval.description
        lastRunState = status.lastRunState?.rawValue
        lastRunStartedAt = status.lastRun.map { rfc3339($0.startedAt) }
        lastRunFinishedAt = status.lastRun?.finishedAt.map(rfc3339)
        lastRunMessage = status.lastRun?.message
        lastSuccessAt = status.lastSuccess.map { rfc3339($0.finishedAt) }
        lastSuccessFile = status.lastSuccess?.fileName
        nextRun = status.nextRun
        newestGood = status.freshness.newestGood
        newestGoodAgeSeconds = status.freshness.ageSeconds.map { Int($0) }
        freshness = status.freshness.verdict.rawValue
        needsAttention = status.needsAttention
    }

    enum CodingKeys: String, CodingKey {
        case directory, every, lastRunState, lastRunStartedAt, lastRunFinishedAt, lastRunMessage, lastSuccessAt,
             lastSuccessFile, nextRun, newestGood, newestGoodAgeSeconds, freshness, needsAttention
    }

    /// Every key is present, null when unknown.
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(directory, forKey: .directory)
        try c.encode(every, forKey: .every)
        try c.encode(lastRunState, forKey: .lastRunState)
        try c.encode(lastRunStartedAt, forKey: .lastRunStartedAt)
        try c.encode(lastRunFinishedAt, forKey: .lastRunFinishedAt)
        try c.encode(lastRunMessage, forKey: .lastRunMessage)
        try c.encode(lastSuccessAt, forKey: .lastSuccessAt)
        try c.encode(lastSuccessFile, forKey: .lastSuccessFile)
        try c.encode(nextRun, forKey: .nextRun)
        try c.encode(newestGood, forKey: .newestGood)
        try c.encode(newestGoodAgeSeconds, forKey: .newestGoodAgeSeconds)
        try c.encode(freshness, forKey: .freshness)
        try c.encode(needsAttention, forKey: .needsAttention)
    }
}
