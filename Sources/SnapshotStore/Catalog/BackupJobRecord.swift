import Foundation
import SystemSupport

/// What a headless `etcd-console backup` run is doing, recorded in the snapshot directory so that a
/// console (another process, maybe another SSH session) can show the job live on its Jobs screen.
///
/// Contract: the writer replaces `<dir>/.etcd-console-backup.json` atomically (never a half-written
/// file) at each phase change and at most about once a second while bytes stream; readers poll it.
/// A record whose `phase` is not finished and whose `pid` is no longer alive is a run that died:
/// readers show it as `interrupted`, not as running.
public struct BackupJobRecord: Codable, Sendable, Equatable {
    public enum Phase: String, Codable, Sendable, CaseIterable {
        case connecting, saving, verifying, uploading, retention, metrics, succeeded, failed

        /// True once the run has ended, well or badly.
        public var isFinished: Bool { self == .succeeded || self == .failed }
    }

    public static let fileName = ".etcd-console-backup.json"

    public var pid: Int32
    public var host: String
    public var startedAt: Date
    public var updatedAt: Date
    public var phase: Phase
    /// The snapshot file being written (name only, in the same directory), once known.
    public var fileName: String?
    public var bytesWritten: Int64
    /// Expected size, from etcd's db size; nil when unknown.
    public var bytesTotal: Int64?
    public var finishedAt: Date?
    /// While `uploading`: the snapshot being copied offsite and the bytes of it read so far (issue 14).
    public var uploadFileName: String?
    public var uploadBytes: Int64?
    public var uploadTotal: Int64?
    /// One line for operators: the failure reason, or "saved <file> (12.3 MiB, revision 42)".
    public var message: String?

    public init(pid: Int32 = ProcessInfo.processInfo.processIdentifier,
                host: String = ProcessInfo.processInfo.hostName,
                startedAt: Date, updatedAt: Date? = nil, phase: Phase, fileName: String? = nil,
                bytesWritten: Int64 = 0, bytesTotal: Int64? = nil, finishedAt: Date? = nil,
                message: String? = nil) {
        self.pid = pid
        self.host = host
        self.startedAt = startedAt
        self.updatedAt = updatedAt ?? startedAt
        self.phase = phase
        self.fileName = fileName
        self.bytesWritten = bytesWritten
        self.bytesTotal = bytesTotal
        self.finishedAt = finishedAt
        self.message = message
    }

    public static func path(inDirectory directory: String) -> String {
        (directory as NSString).appendingPathComponent(fileName)
    }

    /// Writes the record atomically (temp file, fsync, rename, fsync dir), mode 0644: it holds no secrets,
    /// and a console run by another user should be able to read it.
    public func write(toDirectory directory: String) throws(SnapshotStoreError) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .utcInternetDateTime
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch {
            preconditionFailure("BackupJobRecord always encodes: \(error)")
        }
        try AtomicFileWriter.replace(Self.path(inDirectory: directory), with: data, mode: 0o644)
    }

    /// The record in `directory`, or nil when there is none or it cannot be read as one.
    public static func read(fromDirectory directory: String) -> BackupJobRecord? {
        guard let data = FileManager.default.contents(atPath: path(inDirectory: directory)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        return try? decoder.decode(BackupJobRecord.self, from: data)
    }

    /// True when the run is not finished but its process is gone (on this host) : it died mid-run.
    public func isInterrupted(currentHost: String = ProcessInfo.processInfo.hostName) -> Bool {
        guard !phase.isFinished, host == currentHost else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}
