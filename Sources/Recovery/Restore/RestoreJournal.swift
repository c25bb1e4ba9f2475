import Foundation
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// How a step ended.
public enum StepStatus: String, Codable, Sendable {
    case ok, failed, skipped
}

/// The journal of one restore, next to the data dir (`<data-dir>.restore-journal`): the plan, then each
/// step's start and end, appended and fsync'd one JSON line at a time, so that after a crash (an SSH drop
/// kills the console) the next `restore` or console start can see how far it got and resume or roll back.
///
/// A line cut short by a crash is ignored when reading. A journal whose last event is `finished` or
/// `rollback-finished` is done; any other is unfinished.
public struct RestoreJournal: Sendable {
    public enum Event: String, Codable, Sendable {
        case planned
        case stepStarted = "step-started"
        case stepFinished = "step-finished"
        case rollbackStarted = "rollback-started"
        case rollbackFinished = "rollback-finished"
        case finished
    }

    public struct Record: Codable, Sendable, Equatable {
        public var at: Date
        public var event: Event
        public var step: RestoreStepKind?
        public var status: StepStatus?
        public var detail: String?
        public var pid: Int32?
        public var plan: RestorePlan?

        public init(at: Date = Date(), event: Event, step: RestoreStepKind? = nil, status: StepStatus? = nil,
                    detail: String? = nil, pid: Int32? = nil, plan: RestorePlan? = nil) {
            self.at = at
            self.event = event
            self.step = step
            self.status = status
            self.detail = detail
            self.pid = pid
            self.plan = plan
        }
    }

    public static func path(forDataDir dataDir: String) -> String { dataDir + ".restore-journal" }

    public let path: String
    public let plan: RestorePlan
    public let records: [Record]

    /// The journal at `path`. Throws `RestoreError(.journal)` when it cannot be read or has no plan.
    public static func load(path: String) throws -> RestoreJournal {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RestoreError(.journal, "cannot read the restore journal \(path)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        let records = data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(Record.self, from: Data($0)) }
        guard let plan = records.first(where: { $0.event == .planned })?.plan else {
            throw RestoreError(.journal, "the restore journal \(path) holds no plan (damaged?); move it away to start over")
        }
        return RestoreJournal(path: path, plan: plan, records: records)
    }

    /// The unfinished journal next to `dataDir`, or nil when there is none (or it is finished).
    public static func unfinished(dataDir: String) -> RestoreJournal? {
        let path = path(forDataDir: dataDir)
        guard FileManager.default.fileExists(atPath: path), let journal = try? load(path: path) else { return nil }
        return journal.isFinished ? nil : journal
    }

    public var isFinished: Bool {
        guard let last = records.last else { return false }
        return last.event == .finished || last.event == .rollbackFinished
    }

    /// The last recorded outcome of `step`, nil when it never finished.
    public func status(of step: RestoreStepKind) -> StepStatus? {
        records.last(where: { $0.event == .stepFinished && $0.step == step })?.status
    }

    /// The step that started but has no end (the process died in it).
    public var interruptedStep: RestoreStepKind? {
        guard let last = records.last(where: { $0.event == .stepStarted || $0.event == .stepFinished }),
              last.event == .stepStarted else { return nil }
        return last.step
    }

    public var rollbackStarted: Bool { records.contains { $0.event == .rollbackStarted } }

    /// True once the data dir was moved aside (rollback has something to bring back).
    public var movedAside: Bool { status(of: .moveAside) == .ok }

    /// The first step that has not ended ok or skipped: where a resume starts.
    public var resumeStep: RestoreStepKind? {
        RestoreStepKind.allCases.first { status(of: $0) != .ok && status(of: $0) != .skipped }
    }

    /// One line for an operator: "restore of X started 17:05:21 by pid 123 stopped in step restore".
    public var summary: String {
        let started = records.first?.at ?? plan.createdAt
        let pid = records.first?.pid.map { " by pid \($0)" } ?? ""
        var text = "an unfinished restore of \(plan.snapshotPath) into \(plan.dataDir) (started \(UTCCalendar.internetDateTime(started))\(pid))"
        if rollbackStarted {
            text += " was rolling back"
        } else if let step = interruptedStep {
            text += " stopped during step \(step.rawValue)"
        } else if let step = resumeStep {
            text += " stopped before step \(step.rawValue)"
        }
        if movedAside { text += "; the old data dir is at \(plan.asidePath)" }
        return text
    }
}

/// Appends records to a journal file, each followed by fsync.
final class JournalWriter: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private let encoder: JSONEncoder

    /// Opens `path` for appending; with `truncate`, starts a new journal (fsyncing the directory too).
    init(path: String, truncate: Bool) throws {
        self.path = path
        do throws(SnapshotStoreError) {
            // Never in a directory others can write, never through a planted link (SafeFile refuses, naming the path).
            _ = try SafeFile.checkDirectory((path as NSString).deletingLastPathComponent,
                                            what: "the restore journal's directory", warnIfListable: false)
            fd = try SafeFile.open(path, flags: O_WRONLY | O_CREAT | O_APPEND | (truncate ? O_TRUNC : 0), mode: 0o600)
        } catch {
            throw RestoreError(.journal, "could not open the restore journal \(path): \(error.detail)")
        }
        encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .utcInternetDateTime
        encoder.outputFormatting = [.sortedKeys]
        if truncate { Self.fsyncDirectory(of: path) }
    }

    deinit { close(fd) }

    func append(_ record: RestoreJournal.Record) throws {
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        try lock.withLock {
            let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == line.count, fsync(fd) == 0 else {
                throw RestoreError(.journal, "could not write the restore journal \(path): \(errnoDescription(errno))")
            }
        }
    }

    static func fsyncDirectory(of path: String) {
        let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }
}
