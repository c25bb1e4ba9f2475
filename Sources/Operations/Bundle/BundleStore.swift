import Foundation
import SystemSupport
import Glibc
import SnapshotStore

/// The bundles in a snapshot directory: `bundle-<UTC time>.tar` files (mode 0600, written atomically: `.part`,
/// fsync, rename, fsync of the directory; never through a link), each with its manifest as the first member,
/// and one small pointer per snapshot, `<snapshot>.bundle.json`, naming the bundle taken with it.
///
/// A bundle is stored again only when the files changed: a backup whose files have the content digest of a
/// bundle already in the directory (which still verifies) points its snapshot at that one.
public struct BundleStore: Sendable {
    public let directory: String
    public static let prefix = "bundle-"
    public static let suffix = ".tar"
    public static let pointerSuffix = ".bundle.json"

    public init(directory: String) {
        self.directory = directory
    }

    /// The pointer beside a snapshot: `<snapshot path>.bundle.json`.
    public static func pointerPath(forSnapshot path: String) -> String { path + pointerSuffix }

    /// What a snapshot's pointer says.
    public struct Pointer: Codable, Sendable, Equatable {
        public var bundle: String
        public var contentDigest: String
        public init(bundle: String, contentDigest: String) {
            self.bundle = bundle
            self.contentDigest = contentDigest
        }
    }

    /// The outcome of storing a collection: the bundle the snapshot belongs to, and whether it was written now.
    public struct Stored: Sendable {
        public var name: String
        public var manifest: BundleManifest
        public var reused: Bool
        /// A bundle with the same digest that did not verify (it was replaced by a new one): the reason.
        public var replacedDamaged: String?
    }

    /// Writes a bundle for `collection` unless one with the same content digest is already here and verifies.
    public func store(_ collection: BundleSources.Collection, root: String, now: Date,
                      hostname: String = ProcessInfo.processInfo.hostName) throws(BundleError) -> Stored {
        let manifest = BundleManifest(createdAt: now, hostname: hostname, root: root, files: collection.files.map(\.file),
                                      directories: collection.directories)
        var damaged: String?
        for name in names().reversed() {
            guard let existing = try? readManifest(named: name), existing.contentDigest == manifest.contentDigest else { continue }
            do {
                _ = try open(name)
                return Stored(name: name, manifest: existing, reused: true)
            } catch {
                damaged = error.message
            }
        }
        var name = Self.prefix + Self.stamp(now) + Self.suffix
        var n = 2
        while SafeFile.exists(directory + "/" + name) {
            name = Self.prefix + Self.stamp(now) + "-\(n)" + Self.suffix
            n += 1
        }
        let path = directory + "/" + name
        var tar = Data()
        let manifestData: Data
        do { manifestData = try BundleManifest.encoder().encode(manifest) } catch {
            throw BundleError(.io, bundle: path, "could not encode the manifest of \(path): \(error)")
        }
        tar += BundleTar.member(name: BundleManifest.memberName, kind: .file, mode: 0o600, uid: 0, gid: 0, user: "root",
                                group: "root", mtime: now, content: manifestData)
        for collected in collection.files {
            let file = collected.file
            tar += BundleTar.member(name: BundleManifest.memberName(for: file.path), kind: file.kind == .symlink ? .symlink : .file,
                                    mode: file.permissions, uid: file.uid, gid: file.gid, user: file.user, group: file.group,
                                    mtime: now, content: collected.content, linkTarget: file.linkTarget ?? "")
        }
        tar += BundleTar.end
        do {
            let writer = try AtomicFileWriter(path: path, mode: 0o600, bufferSize: 1 << 16)
            try writer.write(tar)
            try writer.commit()
        } catch {
            throw BundleError(error.kind == .refused ? .refused : .io, bundle: path, "could not write the bundle \(path): \(error.detail)")
        }
        return Stored(name: name, manifest: manifest, reused: false, replacedDamaged: damaged)
    }

    /// Points a snapshot at its bundle (atomically, mode 0600, never through a link).
    public func link(snapshot snapshotPath: String, to stored: Stored) throws(BundleError) {
        let pointer = Pointer(bundle: stored.name, contentDigest: stored.manifest.contentDigest)
        let path = Self.pointerPath(forSnapshot: snapshotPath)
        do {
            let data = try BundleManifest.encoder().encode(pointer)
            try AtomicFileWriter.replace(path, with: data + Data("\n".utf8), mode: 0o600)
        } catch let error as SnapshotStoreError {
            throw BundleError(error.kind == .refused ? .refused : .io, bundle: stored.name, "could not write \(path): \(error.detail)")
        } catch {
            throw BundleError(.io, bundle: stored.name, "could not write \(path): \(error)")
        }
    }

    /// The pointer of a snapshot (by path), or nil when it has none.
    public func pointer(forSnapshot snapshotPath: String) -> Pointer? {
        let path = Self.pointerPath(forSnapshot: snapshotPath)
        guard case .regular(let data, _) = BundleSources.readFile(path) else { return nil }
        return try? JSONDecoder().decode(Pointer.self, from: data)
    }

    /// Bundle file names in the directory, oldest first: by the time in the name, then its `-2`, `-3` counter
    /// (plain string order would put `bundle-T-2.tar` before `bundle-T.tar`).
    public func names() -> [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return all.filter { $0.hasPrefix(Self.prefix) && $0.hasSuffix(Self.suffix) }.sorted { Self.order($0) < Self.order($1) }
    }

    /// ("20261202T183000Z", 1) for bundle-20261202T183000Z.tar, ( ..., 2) for bundle-20261202T183000Z-2.tar.
    static func order(_ name: String) -> (String, Int, String) {
        let core = name.dropFirst(prefix.count).dropLast(suffix.count)
        let parts = core.split(separator: "-", maxSplits: 1)
        let counter = parts.count == 2 ? Int(parts[1]) ?? 0 : 1
        return (String(parts.first ?? ""), counter, name)
    }

    /// One row of `bundle list`.
    public struct Summary: Sendable {
        public var name: String
        public var path: String
        public var size: Int
        public var manifest: BundleManifest
        /// Snapshots whose pointer names this bundle, by file name.
        public var snapshots: [String]
    }

    /// Every bundle with its manifest (read from the tar's first member, not verified: `open` verifies), and a
    /// problem line for each that cannot be read.
    public func list() -> (bundles: [Summary], problems: [String]) {
        var pointers: [String: [String]] = [:]
        let all = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        for name in all where name.hasSuffix(Self.pointerSuffix) {
            let snapshot = String(name.dropLast(Self.pointerSuffix.count))
            if let pointer = pointer(forSnapshot: directory + "/" + snapshot) { pointers[pointer.bundle, default: []].append(snapshot) }
        }
        var bundles: [Summary] = []
        var problems: [String] = []
        for name in names() {
            let path = directory + "/" + name
            do {
                let manifest = try readManifest(named: name)
                var info = stat()
                let size = lstat(path, &info) == 0 ? Int(info.st_size) : 0
                bundles.append(Summary(name: name, path: path, size: size, manifest: manifest, snapshots: pointers[name] ?? []))
            } catch {
                problems.append(error.message)
            }
        }
        return (bundles, problems)
    }

    /// A bundle read and checked: every member's bytes against the manifest's SHA-256 and size, nothing missing,
    /// nothing extra. `files` maps host paths to their content.
    public struct Opened: Sendable {
        public var name: String
        public var path: String
        public var manifest: BundleManifest
        public var contents: [String: Data]
    }

    /// Finds a bundle by file name, path, or the name/path of a snapshot whose pointer names one.
    public func resolve(_ nameOrPath: String) throws(BundleError) -> String {
        let candidate = nameOrPath.hasPrefix("/") ? nameOrPath : directory + "/" + nameOrPath
        if nameOrPath.hasSuffix(Self.suffix) {
            guard SafeFile.exists(candidate) else {
                throw BundleError(.notFound, bundle: candidate, "no bundle \(candidate) (etcd-console bundle list shows them)")
            }
            return candidate
        }
        if let pointer = pointer(forSnapshot: candidate) {
            return ((candidate as NSString).deletingLastPathComponent) + "/" + pointer.bundle
        }
        throw BundleError(.notFound, bundle: candidate,
                          "no bundle named \(nameOrPath) in \(directory), and no snapshot there points at one (etcd-console bundle list shows them)")
    }

    /// Reads and verifies a bundle (name, path, or a snapshot's name). A damaged one is refused with the file at fault.
    public func open(_ nameOrPath: String) throws(BundleError) -> Opened {
        let path = try resolve(nameOrPath)
        let name = (path as NSString).lastPathComponent
        let data = try readTar(path)
        let members: [BundleTar.Member]
        do { members = try BundleTar.read(data) } catch {
            throw BundleError(.damaged, bundle: path, "the bundle \(path) is damaged: \(error.message)")
        }
        let manifest = try decodeManifest(members, path: path)
        var contents: [String: Data] = [:]
        var expected = Dictionary(manifest.files.map { (BundleManifest.memberName(for: $0.path), $0) }, uniquingKeysWith: { a, _ in a })
        for member in members.dropFirst() {
            guard let file = expected.removeValue(forKey: member.name) else {
                throw BundleError(.damaged, bundle: path, "the bundle \(path) is damaged: it holds /\(member.name), which its manifest does not list")
            }
            let content = member.kind == .symlink ? Data(member.linkTarget.utf8) : member.content
            let hasher = SHA256Hasher()
            hasher.update(content)
            let digest = hasher.finalize().hexString
            if digest != file.sha256 || content.count != file.size {
                throw BundleError(.damaged, bundle: path,
                                  "the bundle \(path) is damaged: \(file.path) does not match its manifest (SHA-256 \(digest), \(content.count) bytes; the manifest records \(file.sha256), \(file.size) bytes)")
            }
            if member.mode & 0o7777 != file.permissions || member.uid != file.uid || member.gid != file.gid {
                throw BundleError(.damaged, bundle: path,
                                  "the bundle \(path) is damaged: \(file.path) has mode \(BundleFile.octal(member.mode)) owner \(member.uid):\(member.gid) in the tar, the manifest records \(file.mode) \(file.uid):\(file.gid)")
            }
            contents[file.path] = content
        }
        if let missing = expected.values.map(\.path).sorted().first {
            throw BundleError(.damaged, bundle: path, "the bundle \(path) is damaged: its manifest lists \(missing), which the tar does not hold")
        }
        return Opened(name: name, path: path, manifest: manifest, contents: contents)
    }

    /// The manifest only (the tar's first member, read without the rest of the file), for listing and for
    /// finding an unchanged bundle; not a verification.
    public func readManifest(named name: String) throws(BundleError) -> BundleManifest {
        let path = name.hasPrefix("/") ? name : directory + "/" + name
        var info = stat()
        guard lstat(path, &info) == 0 else { throw BundleError(.notFound, bundle: path, "no bundle \(path) (etcd-console bundle list shows them)") }
        guard info.st_mode & S_IFMT == S_IFREG else { _ = try readTar(path); throw BundleError(.refused, bundle: path, "refusing to read \(path)") }
        let fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 { throw BundleError(.io, bundle: path, "could not read the bundle \(path): \(BundleSources.errnoText(errno))") }
        defer { close(fd) }
        func read(_ count: Int) -> Data {
            var data = Data()
            var chunk = [UInt8](repeating: 0, count: min(count, 1 << 16))
            while data.count < count {
                let n = Glibc.read(fd, &chunk, min(chunk.count, count - data.count))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                data.append(contentsOf: chunk[0..<n])
            }
            return data
        }
        let header = read(BundleTar.block)
        // The manifest member's size, from its header (octal at 124, 12 bytes); the rest of the header is checked
        // by BundleTar.read on the first member plus the end-of-archive blocks appended here.
        let sizeText = String(decoding: header.dropFirst(124).prefix(12).prefix { $0 != 0 }, as: UTF8.self)
            .trimmingCharacters(in: CharacterSet(charactersIn: " "))
        guard header.count == BundleTar.block, let size = Int(sizeText, radix: 8), size >= 0, size <= 64 << 20 else {
            throw BundleError(.damaged, bundle: path, "the bundle \(path) is damaged: its first tar header is unreadable")
        }
        let content = read(size)
        guard content.count == size else {
            throw BundleError(.damaged, bundle: path, "the bundle \(path) is damaged: it ends inside its manifest (truncated)")
        }
        let members: [BundleTar.Member]
        do { members = try BundleTar.read(header + content + BundleTar.padding(size) + BundleTar.end) } catch {
            throw BundleError(.damaged, bundle: path, "the bundle \(path) is damaged: \(error.message)")
        }
        return try decodeManifest(members, path: path)
    }

    private func decodeManifest(_ members: [BundleTar.Member], path: String) throws(BundleError) -> BundleManifest {
        guard let first = members.first, first.name == BundleManifest.memberName else {
            throw BundleError(.damaged, bundle: path, "the bundle \(path) is damaged: its first member is not \(BundleManifest.memberName)")
        }
        do {
            let manifest = try BundleManifest.decoder().decode(BundleManifest.self, from: first.content)
            guard BundleManifest.digest(of: manifest.files, directories: manifest.directories) == manifest.contentDigest else {
                throw BundleError(.damaged, bundle: path, "the bundle \(path) is damaged: its manifest's content digest does not match its entries")
            }
            return manifest
        } catch let error as BundleError {
            throw error
        } catch {
            throw BundleError(.damaged, bundle: path, "the bundle \(path) is damaged: its manifest is not readable JSON (\(error))")
        }
    }

    private func readTar(_ path: String) throws(BundleError) -> Data {
        switch BundleSources.readFile(path, limit: 1 << 30) {
        case .regular(let data, _): return data
        case .missing: throw BundleError(.notFound, bundle: path, "no bundle \(path) (etcd-console bundle list shows them)")
        case .symlink: throw BundleError(.refused, bundle: path, "refusing to read the bundle \(path): it is a symbolic link (remove it, and find out who planted it)")
        case .directory: throw BundleError(.refused, bundle: path, "refusing to read the bundle \(path): it is a directory")
        case .unreadable(let why): throw BundleError(.io, bundle: path, "could not read the bundle \(path): \(why)")
        }
    }

    /// Removes pointers whose snapshot is gone, then bundles no pointer names, except the newest bundle.
    /// Returns the bundle names deleted.
    public func removeUnreferenced() -> [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var referenced = Set<String>()
        for name in all where name.hasSuffix(Self.pointerSuffix) {
            let snapshot = directory + "/" + String(name.dropLast(Self.pointerSuffix.count))
            if !SafeFile.exists(snapshot) {
                unlink(directory + "/" + name)
                continue
            }
            if let pointer = pointer(forSnapshot: snapshot) { referenced.insert(pointer.bundle) }
        }
        let bundles = names()
        var deleted: [String] = []
        for name in bundles.dropLast() where !referenced.contains(name) {
            var info = stat()
            let path = directory + "/" + name
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            if unlink(path) == 0 { deleted.append(name) }
        }
        return deleted
    }

    /// "20261202T183000Z"
    public static func stamp(_ date: Date) -> String {
        UTCCalendar.compact(date)
    }
}

/// What changed between two bundles: files added, removed, and changed (content, mode, owner, link target).
public struct BundleDiff: Sendable, Equatable {
    public struct Change: Sendable, Equatable {
        public var path: String
        /// "content", "mode 0644 -> 0600", "owner root:root -> etcd:etcd", "link target".
        public var what: [String]
        public init(path: String, what: [String]) {
            self.path = path
            self.what = what
        }
    }

    public var added: [BundleFile]
    public var removed: [BundleFile]
    public var changed: [Change]

    public init(from a: BundleManifest, to b: BundleManifest) {
        let old = Dictionary(a.files.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        let new = Dictionary(b.files.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        added = b.files.filter { old[$0.path] == nil }
        removed = a.files.filter { new[$0.path] == nil }
        changed = b.files.compactMap { file -> Change? in
            guard let before = old[file.path] else { return nil }
            var what: [String] = []
            if before.kind != file.kind { what.append("kind \(before.kind.rawValue) -> \(file.kind.rawValue)") }
            if before.sha256 != file.sha256 { what.append(file.kind == .symlink ? "link target" : "content") }
            if before.mode != file.mode { what.append("mode \(before.mode) -> \(file.mode)") }
            if before.uid != file.uid || before.gid != file.gid { what.append("owner \(before.owner) -> \(file.owner)") }
            return what.isEmpty ? nil : Change(path: file.path, what: what)
        }
        // Directories (named with a trailing /): only their mode and owner can change; one added or removed
        // follows its files and is not listed.
        let oldDirectories = Dictionary(a.directories.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        for directory in b.directories {
            guard let before = oldDirectories[directory.path] else { continue }
            var what: [String] = []
            if before.mode != directory.mode { what.append("mode \(before.mode) -> \(directory.mode)") }
            if before.uid != directory.uid || before.gid != directory.gid {
                what.append("owner \(before.user ?? String(before.uid)):\(before.group ?? String(before.gid)) -> \(directory.user ?? String(directory.uid)):\(directory.group ?? String(directory.gid))")
            }
            if !what.isEmpty { changed.append(Change(path: directory.path + "/", what: what)) }
        }
        changed.sort { $0.path < $1.path }
    }

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
}
