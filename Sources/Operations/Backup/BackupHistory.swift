import Foundation
import SystemSupport
import SnapshotStore

/// What the `backup` runs on a snapshot directory have done so far: the last attempt and the last success.
/// Kept in `<dir>/.etcd-console-backup-history.json` (written atomically after each run, mode 0644: no
/// secrets) so the metrics file and `schedule status` can report the last success even after a failure.
public struct BackupHistory: Codable, Sendable, Equatable {
    public static let fileName = ".etcd-console-backup-history.json"

    public struct Run: Codable, Sendable, Equatable {
        public var startedAt: Date
        public var finishedAt: Date
        public var succeeded: Bool
        /// The snapshot written (name only), when one was.
        public var fileName: String?
        public var sizeBytes: Int?
        public var revision: Int64?
        /// The failure reason, or "saved <file> ...".
        public var message: String

        public init(startedAt: Date, finishedAt: Date, succeeded: Bool, fileName: String? = nil, sizeBytes: Int? = nil,
                    revision: Int64? = nil, message: String) {
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.succeeded = succeeded
            self.fileName = fileName
            self.sizeBytes = sizeBytes
            self.revision = revision
            self.message = message
        }

        public var durationSeconds: Double { finishedAt.timeIntervalSince(startedAt) }
    }

    public var lastAttempt: Run?
    public var lastSuccess: Run?

    public init(lastAttempt: Run? = nil, lastSuccess: Run? = nil) {
        self.lastAttempt = lastAttempt
        self.lastSuccess = lastSuccess
    }

    /// The history after `run`.
    public func recording(_ run: Run) -> BackupHistory {
        BackupHistory(lastAttempt: run, lastSuccess: run.succeeded ? run : lastSuccess)
    }

    public static func path(inDirectory directory: String) -> String {
        (directory as NSString).appendingPathComponent(fileName)
    }

    /// The history in `directory`; empty when there is none or it cannot be read.
    public static func read(fromDirectory directory: String) -> BackupHistory {
        guard let data = FileManager.default.contents(atPath: path(inDirectory: directory)) else { return BackupHistory() }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        return (try? decoder.decode(BackupHistory.self, from: data)) ?? BackupHistory()
    }

    public func write(toDirectory directory: String) throws(SnapshotStoreError) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .utcInternetDateTime
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch { preconditionFailure("BackupHistory always encodes: \(error)") }
        try AtomicFileWriter.replace(Self.path(inDirectory: directory), with: data, mode: 0o644)
    }
}
