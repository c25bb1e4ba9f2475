import Foundation
import SnapshotStore

/// The Prometheus textfile a backup run leaves for node_exporter's textfile collector
/// (`--collector.textfile.directory`): gauges in the text exposition format, every sample labelled with the
/// snapshot directory. Written with `AtomicFileWriter.replace` (temp file `<name>.part`, which the collector
/// ignores because it does not end in `.prom`, then rename), so a scrape never sees half a file.
///
/// Alert on `time() - etcd_console_backup_last_success_timestamp_seconds` (the file's own age gauge is only
/// as fresh as the last run) or on `etcd_console_backup_last_attempt_success == 0`.
public struct BackupMetrics: Sendable, Equatable {
    public var directory: String
    public var history: BackupHistory
    /// Snapshots per health (good, corrupt, unverified) after retention.
    public var snapshotCounts: [String: Int]
    public var totalBytes: Int
    public var newestGoodTakenAt: Date?
    public var now: Date
    /// Offsite copies (issue 14), when a remote is configured: the last upload, bytes uploaded, and the lag.
    public var offsite: OffsiteStatus?

    public init(directory: String, history: BackupHistory, entries: [SnapshotEntry], now: Date) {
        self.directory = directory
        self.history = history
        var counts: [String: Int] = [:]
        for health in SnapshotHealth.allCases { counts[health.rawValue] = 0 }
        for entry in entries { counts[entry.health.rawValue, default: 0] += 1 }
        self.snapshotCounts = counts
        self.totalBytes = entries.reduce(0) { $0 + $1.size }
        self.newestGoodTakenAt = entries.filter { $0.health == .good }.map(\.takenAt).max()
        self.now = now
    }

    /// The file's text.
    public func render() -> String {
        let label = "dir=\"\(Self.escape(directory))\""
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(String, Double)]) {
            guard !samples.isEmpty else { return }
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for (labels, value) in samples { out += "\(name){\(labels)} \(Self.number(value))\n" }
        }
        let attempt = history.lastAttempt
        let success = history.lastSuccess
        gauge("etcd_console_backup_last_attempt_timestamp_seconds", "When the last backup run finished (Unix time).",
              attempt.map { [(label, Self.timestamp($0.finishedAt))] } ?? [])
        gauge("etcd_console_backup_last_attempt_success", "1 when the last backup run wrote a good snapshot, else 0.",
              attempt.map { [(label, $0.succeeded ? 1 : 0)] } ?? [])
        gauge("etcd_console_backup_last_duration_seconds", "How long the last backup run took.",
              attempt.map { [(label, $0.durationSeconds)] } ?? [])
        gauge("etcd_console_backup_last_success_timestamp_seconds", "When the last successful backup run finished (Unix time).",
              success.map { [(label, Self.timestamp($0.finishedAt))] } ?? [])
        gauge("etcd_console_backup_last_success_size_bytes", "Size of the snapshot the last successful run wrote.",
              success?.sizeBytes.map { [(label, Double($0))] } ?? [])
        gauge("etcd_console_backup_last_success_revision", "etcd revision in the snapshot the last successful run wrote.",
              success?.revision.map { [(label, Double($0))] } ?? [])
        gauge("etcd_console_snapshots", "Snapshots in the directory by health, after retention.",
              snapshotCounts.keys.sorted().map { ("\(label),health=\"\($0)\"", Double(snapshotCounts[$0] ?? 0)) })
        gauge("etcd_console_snapshots_bytes", "Total size of the snapshots in the directory.", [(label, Double(totalBytes))])
        gauge("etcd_console_newest_good_snapshot_timestamp_seconds", "When the newest good snapshot was taken (Unix time).",
              newestGoodTakenAt.map { [(label, Self.timestamp($0))] } ?? [])
        gauge("etcd_console_newest_good_snapshot_age_seconds", "Age of the newest good snapshot when the file was written.",
              newestGoodTakenAt.map { [(label, max(0, now.timeIntervalSince($0)))] } ?? [])
        if let offsite {
            gauge("etcd_console_offsite_last_success_timestamp_seconds", "When the last offsite upload succeeded (Unix time).",
                  offsite.lastSuccess.map { [(label, Self.timestamp($0))] } ?? [])
            gauge("etcd_console_offsite_uploaded_bytes", "Bytes uploaded offsite by all runs (compressed and encrypted).",
                  [(label, Double(offsite.bytesUploaded))])
            gauge("etcd_console_offsite_lag_seconds", "How much older the newest offsite copy is than the newest good local snapshot (0 when it is offsite).",
                  offsite.lagSeconds.map { [(label, $0)] } ?? [])
            gauge("etcd_console_offsite_missing_snapshots", "Good local snapshots without an offsite copy.",
                  [(label, Double(offsite.missing.count))])
        }
        return out
    }

    /// Writes the file atomically, mode 0644 (node_exporter often runs as its own user).
    public func write(to path: String) throws(SnapshotStoreError) {
        try AtomicFileWriter.replace(path, with: Data(render().utf8), mode: 0o644)
    }

    /// Unix time in whole seconds: what the history file keeps, so every run writes the same value for one event.
    static func timestamp(_ date: Date) -> Double { date.timeIntervalSince1970.rounded(.down) }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Whole numbers without a fraction; others with millisecond precision.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.3f", value)
    }
}
