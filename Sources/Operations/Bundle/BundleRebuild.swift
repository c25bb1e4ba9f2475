import Foundation
import Glibc
import SnapshotStore

/// Putting a bundle's files back onto a machine (`restore --rebuild`): a plan computed first (every file it
/// writes, every existing file that differs and is moved aside), then applied. An existing file is never
/// overwritten: one that differs (content, mode, owner, or not a regular file at all, e.g. a planted link) is
/// renamed to `<path>.before-rebuild-<UTC time>` first; one that is already identical is left alone.
public struct BundleRebuildPlan: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable {
        /// Nothing there: the file is written.
        case write
        /// The same content, mode and owner are already there: nothing is done.
        case unchanged
        /// Something different is there: it is moved aside, then the file is written.
        case moveAside = "move-aside"
    }

    public struct Step: Codable, Sendable, Equatable {
        /// The host path, e.g. /etc/kubernetes/pki/ca.crt.
        public var path: String
        /// Where it is written (under the root).
        public var target: String
        public var action: Action
        public var kind: BundleFile.Kind
        public var mode: String
        public var uid: UInt32
        public var gid: UInt32
        public var size: Int
        /// For move-aside: where the existing file goes, and why it differs.
        public var movedAsideTo: String?
        public var difference: String?
    }

    /// A directory of the bundle: created with its mode and owner when missing; one already there is left as it is
    /// (`note` says when its mode or owner differ); anything else there is moved aside first.
    public struct DirectoryStep: Codable, Sendable, Equatable {
        public enum Action: String, Codable, Sendable { case create, exists, moveAside = "move-aside" }
        public var path: String
        public var target: String
        public var action: Action
        public var mode: String
        public var uid: UInt32
        public var gid: UInt32
        public var movedAsideTo: String?
        public var note: String?
    }

    public var bundle: String
    public var root: String
    public var directories: [DirectoryStep]
    public var steps: [Step]

    public var writes: [Step] { steps.filter { $0.action != .unchanged } }
    public var movesAside: [Step] { steps.filter { $0.action == .moveAside } }

    /// The plan for putting `opened`'s files under `root` ("/" on the new machine; a directory in tests).
    public static func make(_ opened: BundleStore.Opened, root: String, now: Date) -> BundleRebuildPlan {
        let stamp = BundleStore.stamp(now)
        let trimmed = root.hasSuffix("/") ? String(root.dropLast()) : root
        var directories: [DirectoryStep] = []
        for directory in opened.manifest.directories.sorted(by: { $0.path < $1.path }) {
            let target = trimmed + directory.path
            var step = DirectoryStep(path: directory.path, target: target, action: .create, mode: directory.mode,
                                     uid: directory.uid, gid: directory.gid)
            var info = stat()
            if lstat(target, &info) == 0 {
                if info.st_mode & S_IFMT == S_IFDIR {
                    step.action = .exists
                    let mode = BundleFile.octal(UInt32(info.st_mode))
                    if mode != directory.mode || info.st_uid != directory.uid || info.st_gid != directory.gid {
                        step.note = "here \(mode) \(info.st_uid):\(info.st_gid), in the bundle \(directory.mode) \(directory.uid):\(directory.gid); left as it is"
                    }
                } else {
                    step.action = .moveAside
                    step.movedAsideTo = target + ".before-rebuild-" + stamp
                    step.note = "it is not a directory"
                }
            }
            directories.append(step)
        }
        var steps: [Step] = []
        for file in opened.manifest.files {
            let target = trimmed + file.path
            var step = Step(path: file.path, target: target, action: .write, kind: file.kind, mode: file.mode, uid: file.uid,
                            gid: file.gid, size: file.size)
            if let difference = difference(at: target, from: file, content: opened.contents[file.path] ?? Data()) {
                if difference != "missing" {
                    step.action = .moveAside
                    step.movedAsideTo = target + ".before-rebuild-" + stamp
                    step.difference = difference
                }
            } else {
                step.action = .unchanged
            }
            steps.append(step)
        }
        return BundleRebuildPlan(bundle: opened.name, root: root, directories: directories, steps: steps)
    }

    /// nil when `target` already holds exactly this file; "missing" when nothing is there; else what differs.
    static func difference(at target: String, from file: BundleFile, content: Data) -> String? {
        var info = stat()
        guard lstat(target, &info) == 0 else { return "missing" }
        let type = info.st_mode & S_IFMT
        switch file.kind {
        case .symlink:
            guard type == S_IFLNK else { return "it is not a symbolic link" }
            if case .symlink(let target, _) = BundleSources.readFile(target), target == file.linkTarget {
                return info.st_uid == file.uid && info.st_gid == file.gid ? nil : "its owner differs"
            }
            return "it points elsewhere"
        case .file:
            guard type == S_IFREG else { return type == S_IFLNK ? "it is a symbolic link" : "it is not a regular file" }
            var what: [String] = []
            if case .regular(let data, _) = BundleSources.readFile(target) {
                if data != content { what.append("content") }
            } else {
                what.append("content (unreadable)")
            }
            if BundleFile.octal(UInt32(info.st_mode)) != file.mode { what.append("mode \(BundleFile.octal(UInt32(info.st_mode))) instead of \(file.mode)") }
            if info.st_uid != file.uid || info.st_gid != file.gid { what.append("owner \(info.st_uid):\(info.st_gid) instead of \(file.uid):\(file.gid)") }
            return what.isEmpty ? nil : what.joined(separator: ", ")
        }
    }

    /// Applies the plan: for each step, moves aside (rename, never a copy), creates missing parent directories
    /// (0755 root), writes `.part` (O_EXCL, O_NOFOLLOW), sets owner and mode, fsyncs, renames over nothing, fsyncs
    /// the directory. Stops at the first failure with an error naming the file; what was done stays done (every
    /// moved-aside file is still there under its new name).
    ///
    /// With `journal` (a directory), each change is recorded in `BundleRebuildJournal` once made, so a failure can be
    /// rolled back from it.
    public func apply(_ opened: BundleStore.Opened, journal: String? = nil) throws(BundleError) -> [Step] {
        func note(_ record: BundleRebuildJournal.Record) throws(BundleError) {
            if let journal { try BundleRebuildJournal.append(record, directory: journal) }
        }
        func parents(of target: String) throws(BundleError) {
            for created in try Self.makeParents(of: target, bundle: opened.path) { try note(.init(.createdDirectory, path: created)) }
        }
        for directory in directories where directory.action != .exists {
            if let aside = directory.movedAsideTo {
                if rename(directory.target, aside) != 0 {
                    throw BundleError(.io, bundle: opened.path, "could not move \(directory.target) aside to \(aside): \(BundleSources.errnoText(errno)); nothing more was written")
                }
                try note(.init(.movedAside, path: directory.target, to: aside))
            }
            try parents(of: directory.target)
            let mode = mode_t(UInt32(directory.mode, radix: 8) ?? 0o755)
            if mkdir(directory.target, 0o700) != 0 {
                throw BundleError(.io, bundle: opened.path, "could not create the directory \(directory.target): \(BundleSources.errnoText(errno))")
            }
            try note(.init(.createdDirectory, path: directory.target))
            if lchown(directory.target, directory.uid, directory.gid) != 0 || chmod(directory.target, mode) != 0 {
                throw BundleError(.io, bundle: opened.path, "could not create the directory \(directory.target): \(BundleSources.errnoText(errno))")
            }
            try Self.syncDirectory(of: directory.target, bundle: opened.path)
        }
        var done: [Step] = []
        for step in steps where step.action != .unchanged {
            if let aside = step.movedAsideTo {
                if rename(step.target, aside) != 0 {
                    throw BundleError(.io, bundle: opened.path, "could not move \(step.target) aside to \(aside): \(BundleSources.errnoText(errno)); nothing more was written")
                }
                try note(.init(.movedAside, path: step.target, to: aside))
                try Self.syncDirectory(of: step.target, bundle: opened.path)
            }
            try parents(of: step.target)
            let content = opened.contents[step.path] ?? Data()
            switch step.kind {
            case .symlink:
                if symlink(String(decoding: content, as: UTF8.self), step.target) != 0 || lchown(step.target, step.uid, step.gid) != 0 {
                    throw BundleError(.io, bundle: opened.path, "could not create the link \(step.target): \(BundleSources.errnoText(errno))")
                }
            case .file:
                try Self.write(content, to: step.target, mode: mode_t(UInt32(step.mode, radix: 8) ?? 0o600), uid: step.uid, gid: step.gid,
                               bundle: opened.path)
            }
            let hasher = SHA256Hasher()
            hasher.update(content)
            try note(.init(.wrote, path: step.target, sha256: hasher.finalize().hexString, link: step.kind == .symlink ? true : nil))
            try Self.syncDirectory(of: step.target, bundle: opened.path)
            done.append(step)
        }
        return done
    }

    private static func write(_ data: Data, to path: String, mode: mode_t, uid: uid_t, gid: gid_t, bundle: String) throws(BundleError) {
        let part = path + ".part"
        let fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 { throw BundleError(.io, bundle: bundle, "could not create \(part): \(BundleSources.errnoText(errno))") }
        let ok = data.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
        let failed = !ok || fchown(fd, uid, gid) != 0 || fchmod(fd, mode) != 0 || fsync(fd) != 0
        let code = errno
        close(fd)
        if failed {
            unlink(part)
            throw BundleError(.io, bundle: bundle, "could not write \(path): \(BundleSources.errnoText(code))")
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            unlink(part)
            throw BundleError(.refused, bundle: bundle, "\(path) appeared while rebuilding; not overwriting it")
        }
        if rename(part, path) != 0 {
            let code = errno
            unlink(part)
            throw BundleError(.io, bundle: bundle, "could not rename \(part) to \(path): \(BundleSources.errnoText(code))")
        }
    }

    /// Creates the missing parents of `path` (0755), outermost first; returns the ones it created.
    private static func makeParents(of path: String, bundle: String) throws(BundleError) -> [String] {
        let parent = (path as NSString).deletingLastPathComponent
        var info = stat()
        if parent.isEmpty || lstat(parent, &info) == 0 { return [] }
        var created = try makeParents(of: parent, bundle: bundle)
        if mkdir(parent, 0o755) != 0 {
            if errno == EEXIST { return created }
            throw BundleError(.io, bundle: bundle, "could not create the directory \(parent): \(BundleSources.errnoText(errno))")
        }
        created.append(parent)
        _ = chmod(parent, 0o755)
        return created
    }

    private static func syncDirectory(of path: String, bundle: String) throws(BundleError) {
        let fd = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { return }
        defer { close(fd) }
        if fsync(fd) != 0 {
            throw BundleError(.io, bundle: bundle, "could not fsync the directory of \(path): \(BundleSources.errnoText(errno))")
        }
    }

    /// The plan as an operator reads it: one line per file.
    public func rendered() -> String {
        var lines = ["Rebuild from \(bundle) onto \(root): \(writes.count) to write (\(movesAside.count) existing moved aside first), \(steps.count - writes.count) already in place", ""]
        for directory in directories {
            switch directory.action {
            case .create: lines.append("  mkdir       \(directory.path)/  \(directory.mode) \(directory.uid):\(directory.gid)")
            case .exists: if let note = directory.note { lines.append("  directory   \(directory.path)/  \(note)") }
            case .moveAside: lines.append("  move aside  \(directory.path) (\(directory.note ?? "")) -> \(directory.movedAsideTo ?? ""), then mkdir \(directory.mode) \(directory.uid):\(directory.gid)")
            }
        }
        for step in steps {
            let owner = "\(step.uid):\(step.gid)"
            switch step.action {
            case .write:
                lines.append("  write       \(step.path)  \(step.mode) \(owner)  \(step.kind == .symlink ? "link" : "\(step.size) B")")
            case .unchanged:
                lines.append("  unchanged   \(step.path)")
            case .moveAside:
                lines.append("  move aside  \(step.path) (\(step.difference ?? "differs")) -> \(step.movedAsideTo ?? ""), then write \(step.mode) \(owner)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
