import Foundation
import SystemSupport
import Glibc
import SnapshotStore

/// The journal of `restore --rebuild`'s file placement, beside the bundles (`<snapshot dir>/.rebuild-journal`):
/// the plan first, then one fsync'd JSON line after each change (a file moved aside, a directory created, a file
/// written with its SHA-256), then `finished` or `rolled-back`. A placement that fails half way is rolled back
/// from it at once; `restore --rebuild --rollback` undoes a finished one; `--resume` (or running the rebuild
/// again) continues one that was interrupted: the plan is made again, and what is already in place is unchanged.
public struct BundleRebuildJournal: Sendable {
    public struct Record: Codable, Sendable, Equatable {
        public enum Event: String, Codable, Sendable {
            case planned
            case movedAside = "moved-aside"
            case createdDirectory = "created-directory"
            case wrote
            case finished
            case rolledBack = "rolled-back"
        }
        public var event: Event
        public var at: Date
        public var path: String?
        public var to: String?
        public var sha256: String?
        public var link: Bool?
        public var plan: BundleRebuildPlan?

        public init(_ event: Event, path: String? = nil, to: String? = nil, sha256: String? = nil, link: Bool? = nil,
                    plan: BundleRebuildPlan? = nil) {
            self.event = event
            self.at = Date()
            self.path = path
            self.to = to
            self.sha256 = sha256
            self.link = link
            self.plan = plan
        }
    }

    public let path: String
    public var records: [Record]

    public static func path(directory: String) -> String { directory + "/.rebuild-journal" }

    /// The journal's plan, when it holds one.
    public var plan: BundleRebuildPlan? { records.first { $0.event == .planned }?.plan }
    public var isFinished: Bool { records.last.map { $0.event == .finished || $0.event == .rolledBack } ?? true }
    public var isRolledBack: Bool { records.last?.event == .rolledBack }

    /// Reads the journal (nil when there is none). A planted link is refused.
    public static func read(directory: String) throws(BundleError) -> BundleRebuildJournal? {
        let path = path(directory: directory)
        guard SafeFile.exists(path) else { return nil }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 { throw BundleError(.io, bundle: path, "cannot read the rebuild journal \(path): \(BundleSources.errnoText(errno))") }
        let data = (try? FileHandle(fileDescriptor: fd, closeOnDealloc: true).readToEnd()) ?? Data()
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        var records: [Record] = []
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            // A line cut by a crash is the last one: what it would have said did not happen for sure.
            guard let record = try? decoder.decode(Record.self, from: Data(line)) else { continue }
            records.append(record)
        }
        return BundleRebuildJournal(path: path, records: records)
    }

    /// Appends one record and fsyncs it.
    public static func append(_ record: Record, directory: String, truncate: Bool = false) throws(BundleError) {
        let path = path(directory: directory)
        let flags = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | (truncate ? O_TRUNC : 0)
        let fd = open(path, flags, 0o600)
        if fd < 0 { throw BundleError(.io, bundle: path, "cannot write the rebuild journal \(path): \(BundleSources.errnoText(errno))") }
        defer { close(fd) }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .utcInternetDateTime
        encoder.outputFormatting = [.sortedKeys]
        guard var line = try? encoder.encode(record) else { return }
        line.append(UInt8(ascii: "\n"))
        let ok = line.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
        if !ok || fsync(fd) != 0 {
            throw BundleError(.io, bundle: path, "cannot write the rebuild journal \(path): \(BundleSources.errnoText(errno))")
        }
    }

    /// Undoes what the journal says was done, newest first: a written file is removed when it still holds what
    /// the rebuild wrote (else moved to `<path>.after-rebuild-<time>`: never lost); a moved-aside file goes back to
    /// its path; a created directory is removed when empty. Returns what was done and what could not be.
    public func rollBack(now: Date = Date()) -> (actions: [String], problems: [String]) {
        let stamp = BundleStore.stamp(now)
        var actions: [String] = []
        var problems: [String] = []
        for record in records.reversed() {
            guard let target = record.path else { continue }
            switch record.event {
            case .wrote:
                var info = stat()
                guard lstat(target, &info) == 0 else { continue }
                let unchanged: Bool
                if record.link == true {
                    unchanged = info.st_mode & S_IFMT == S_IFLNK
                } else if info.st_mode & S_IFMT == S_IFREG, case .regular(let data, _) = BundleSources.readFile(target) {
                    let hasher = SHA256Hasher()
                    hasher.update(data)
                    unchanged = hasher.finalize().hexString == record.sha256
                } else {
                    unchanged = false
                }
                if unchanged {
                    if unlink(target) == 0 { actions.append("removed \(target) (written by the rebuild)") }
                    else { problems.append("could not remove \(target): \(BundleSources.errnoText(errno))") }
                } else {
                    let kept = target + ".after-rebuild-" + stamp
                    if rename(target, kept) == 0 { actions.append("\(target) changed after the rebuild: kept at \(kept)") }
                    else { problems.append("could not move \(target) to \(kept): \(BundleSources.errnoText(errno))") }
                }
            case .movedAside:
                guard let aside = record.to else { continue }
                var info = stat()
                if lstat(target, &info) == 0 {
                    problems.append("\(target) is there again: the original stays at \(aside)")
                } else if rename(aside, target) == 0 {
                    actions.append("moved \(aside) back to \(target)")
                } else {
                    problems.append("could not move \(aside) back to \(target): \(BundleSources.errnoText(errno))")
                }
            case .createdDirectory:
                if rmdir(target) == 0 { actions.append("removed the directory \(target) (created by the rebuild)") }
                else if errno != ENOENT { actions.append("kept the directory \(target): \(BundleSources.errnoText(errno))") }
            case .planned, .finished, .rolledBack:
                continue
            }
        }
        return (actions, problems)
    }
}
