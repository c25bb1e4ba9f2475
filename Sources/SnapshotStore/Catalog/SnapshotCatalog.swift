import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The snapshots in one directory: what they are, how healthy, when taken, and the housekeeping around them.
///
/// Files: every regular, non-hidden file whose name ends in `.db` is a snapshot. One with a readable sidecar
/// `<file>.meta.json` is ours; any other (an etcdctl snapshot, a copy) is foreign and is described by the
/// `analyze` closure, once per file: the result is kept in `<dir>/.etcd-console-cache` for as long as the
/// file keeps its size and modification time (an "unverified" result, a file that could not be read, is not kept:
/// the next listing asks again). `*.part` files are saves in progress or left by crashed ones.
/// Symbolic links to snapshots (a `latest.db` link would list one snapshot twice, and deleting through it
/// would remove the link, not the file) and other files are ignored. A `*.db` entry that is not a regular file
/// (a FIFO, a directory, a device, a link to one of those or to nothing) is a `CatalogProblem`: found by
/// lstat/stat only, never opened. Hidden files, the cache among them, are not looked at.
public struct SnapshotCatalog: Sendable {
    public static let defaultDirectory = "/var/lib/etcd-backup"

    public let directory: String
    /// Bump when `analyze` starts to compute something different: cached analyses of another version are redone.
    public let analyzerVersion: Int
    private let analyze: @Sendable (String) -> SnapshotMetadata

    /// `analyze` computes metadata for a snapshot without a sidecar, given its path. The catalog takes only the
    /// verdict and contents from it (health, reason, revision, keys, digest, cluster, resources); `size` is the
    /// file's, and `takenAt` comes from the file name or else the modification time, so `analyze` need not
    /// guess it.
    public init(directory: String, analyzerVersion: Int = 1, analyze: @escaping @Sendable (String) -> SnapshotMetadata) {
        self.directory = directory
        self.analyzerVersion = analyzerVersion
        self.analyze = analyze
    }

    /// Lists the snapshots, newest first.
    ///
    /// Warm (sidecars and analyses in the cache) this costs one directory read, a `stat` per snapshot and sidecar
    /// and one cache decode. Files without a cached analysis are analysed here, one after another, which for large
    /// foreign snapshots takes as long as verifying them. If the cache cannot be written (a read-only copy of the
    /// directory) the listing is still complete and says so in `warnings`.
    public func list() throws(SnapshotStoreError) -> CatalogListing {
        let scan = try scanDirectory()
        let old = CatalogCache.load(directory: directory, analyzerVersion: analyzerVersion)
        var new = CatalogCache(analyzerVersion: analyzerVersion)
        var warnings: [String] = []
        // Whether `new` differs from `old`: a record read afresh and kept, or one of `old` left out (then the counts
        // differ, since every other record of `new` is one of `old`'s under the same name). Comparing the two caches
        // instead costs a deep comparison of every record (a tenth of a warm listing at 10,000 snapshots).
        var changed = false
        var entries: [SnapshotEntry] = []
        entries.reserveCapacity(scan.snapshots.count)

        for (name, file) in scan.snapshots.sorted(by: { $0.key < $1.key }) {  // warnings and analyses in name order
            let path = directory + "/" + name
            var sidecar: SnapshotMetadata?
            if let stat = scan.sidecars[name] {
                if let record = old.sidecars[name], record.size == stat.size, record.modifiedNs == stat.modifiedNs {
                    sidecar = record.metadata
                } else {
                    do {
                        sidecar = try readSidecar(Self.sidecarPath(for: path))
                        changed = true
                    } catch {
                        warnings.append("\(error.detail); analysed \(name) instead")
                    }
                }
                if let sidecar { new.sidecars[name] = .init(size: stat.size, modifiedNs: stat.modifiedNs, metadata: sidecar) }
            }
            if let sidecar, sidecar.size == file.size {
                entries.append(entry(name: name, path: path, file: file, sidecar: sidecar, content: sidecar))
                continue
            }
            if let sidecar {
                warnings.append("\(name) has \(file.size) bytes but its sidecar recorded \(sidecar.size) when it was saved: "
                    + "the file was changed afterwards, so it was verified again")
            }
            let analysis: SnapshotMetadata
            var fresh = false
            if let record = old.analyzed[name], record.size == file.size, record.modifiedNs == file.modifiedNs {
                analysis = record.metadata
            } else {
                analysis = analyze(path)
                fresh = true
            }
            // "unverified" means the file could not be read (permissions, I/O): ask again next time, it may be fixed.
            if analysis.health != .unverified {
                changed = changed || fresh
                new.analyzed[name] = .init(size: file.size, modifiedNs: file.modifiedNs, metadata: analysis)
            }
            entries.append(entry(name: name, path: path, file: file, sidecar: sidecar, content: analysis))
        }

        if changed || new.sidecars.count != old.sidecars.count || new.analyzed.count != old.analyzed.count {
            do {
                try new.save(directory: directory)
            } catch {
                warnings.append("could not update the catalog cache in \(directory): \(error.detail) (the listing is "
                    + "complete; snapshots without a sidecar will be analysed again next time)")
            }
        }
        entries.sort { a, b in a.takenAt != b.takenAt ? a.takenAt > b.takenAt : a.name > b.name }
        return CatalogListing(entries: entries, leftoverParts: scan.parts.map(\.name).sorted(),
                              ignored: scan.ignored.sorted(), warnings: warnings,
                              problems: scan.problems.sorted { $0.name < $1.name })
    }

    /// What changes whenever a file in the directory is created, renamed or removed (every save, sidecar, cache
    /// and delete goes through a rename or unlink): the directory's inode and its modification and change times in
    /// nanoseconds. Nil when the directory cannot be read. A listing taken at an equal signature is still current,
    /// but for a file rewritten in place (not how etcd-console writes), which only a full `list()` notices.
    public func directorySignature() -> DirectorySignature? {
        var info = Glibc.stat()
        guard fstatat(AT_FDCWD, directory, &info, 0) == 0 else { return nil }
        return DirectorySignature(inode: UInt64(info.st_ino),
                                  modifiedNs: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                                  changedNs: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec))
    }

    /// Writes `<snapshotPath>.meta.json` (mode 0600) atomically, replacing an older one. Call it after a
    /// successful verify; the snapshot must exist (it may live outside `directory`).
    public func writeSidecar(_ metadata: SnapshotMetadata, for snapshotPath: String) throws(SnapshotStoreError) {
        var info = stat()
        if lstat(snapshotPath, &info) != 0 {
            throw AtomicFileWriter.error(errno, "cannot write a sidecar for \(snapshotPath)", path: snapshotPath)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw SnapshotStoreError(.io, path: snapshotPath,
                                     "cannot write a sidecar for \(snapshotPath): it is not a regular file")
        }
        let sidecar = Self.sidecarPath(for: snapshotPath)
        let data: Data
        do {
            data = try metadata.sidecarJSON()
        } catch {
            throw SnapshotStoreError(.io, path: sidecar, "could not write \(sidecar): \(error.detail)")
        }
        try AtomicFileWriter.replace(sidecar, with: data, mode: 0o600)
    }

    /// Removes `*.part` files whose last write is more than `olderThan` seconds before `now`: leftovers of saves
    /// that crashed or were killed. A save in progress writes its `.part` continuously, so a threshold well
    /// above the longest pause in a save (an hour, say) never disturbs one. Returns the removed names, sorted.
    public func removeLeftoverParts(olderThan: TimeInterval, now: Date) throws(SnapshotStoreError) -> [String] {
        let limit = now.addingTimeInterval(-olderThan)
        var removed: [String] = []
        for part in try scanDirectory().parts.sorted(by: { $0.name < $1.name }) where part.modified < limit {
            let path = directory + "/" + part.name
            if unlink(path) != 0 {
                if errno == ENOENT { continue }
                throw AtomicFileWriter.error(errno, "could not remove the leftover \(path)", path: path)
            }
            removed.append(part.name)
        }
        return removed
    }

    /// Removes a listed snapshot and then its sidecar (a crash in between leaves a sidecar without a snapshot,
    /// which is harmless and listed as ignored). Refuses when the file is not in this catalog's directory or has
    /// changed since it was listed (another size or modification time): list again and decide again. A
    /// snapshot that is already gone is not an error.
    public func delete(_ entry: SnapshotEntry) throws(SnapshotStoreError) {
        let path = directory + "/" + entry.name
        guard entry.path == path, !entry.name.contains("/") else {
            throw SnapshotStoreError(.io, path: entry.path, "refusing to delete \(entry.path): it is not in the snapshot "
                + "directory \(directory)")
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            let file = FileStat(info, name: entry.name)
            guard info.st_mode & S_IFMT == S_IFREG, file.size == entry.size,
                  abs(file.modified.timeIntervalSince(entry.modified)) < 0.000_01 else {
                throw SnapshotStoreError(.io, path: path, "refusing to delete \(path): it changed since it was listed "
                    + "(now \(file.size) bytes, modified \(UTCCalendar.iso8601(file.modified))); list the snapshots again")
            }
            if unlink(path) != 0, errno != ENOENT {
                throw AtomicFileWriter.error(errno, "could not delete \(path)", path: path)
            }
        } else if errno != ENOENT {
            throw AtomicFileWriter.error(errno, "could not delete \(path)", path: path)
        }
        let sidecar = Self.sidecarPath(for: path)
        if unlink(sidecar) != 0, errno != ENOENT {
            throw AtomicFileWriter.error(errno, "deleted \(path) but could not delete its sidecar \(sidecar)", path: sidecar)
        }
    }

    // MARK: - Reading the directory

    /// Size and modification time of a directory entry.
    struct FileStat {
        var name: String
        var size: Int
        var modifiedNs: Int64
        var modified: Date { Date(timeIntervalSince1970: Double(modifiedNs / 1_000_000_000) + Double(modifiedNs % 1_000_000_000) / 1e9) }

        init(_ info: stat, name: String) {
            self.name = name
            size = Int(info.st_size)
            modifiedNs = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        }
    }

    /// One pass over the directory, sorted into kinds.
    struct DirectoryScan {
        /// Regular `*.db` files by name.
        var snapshots: [String: FileStat] = [:]
        /// Sidecars of those snapshots, by the snapshot's name.
        var sidecars: [String: FileStat] = [:]
        var parts: [FileStat] = []
        var ignored: [String] = []
        /// `*.db` entries that are not regular files (nor links to one).
        var problems: [CatalogProblem] = []
    }

    func scanDirectory() throws(SnapshotStoreError) -> DirectoryScan {
        guard let dir = opendir(directory) else {
            let err = errno
            switch err {
            case ENOENT:
                throw SnapshotStoreError(.io, path: directory, "the snapshot directory \(directory) does not exist (take a "
                    + "snapshot to create it, or choose another with --dir)")
            case ENOTDIR:
                throw SnapshotStoreError(.io, path: directory, "\(directory) is not a directory; snapshots are kept in a "
                    + "directory (choose one with --dir)")
            default:
                throw AtomicFileWriter.error(err, "cannot read the snapshot directory \(directory)", path: directory)
            }
        }
        defer { closedir(dir) }
        let fd = dirfd(dir)
        var scan = DirectoryScan()
        var sidecarNames: [String] = []

        /// The entry's stat without following links, or nil if it vanished or cannot be read.
        func stat(_ name: String) -> Glibc.stat? {
            var info = Glibc.stat()
            return fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? info : nil
        }
        func isRegular(_ info: Glibc.stat) -> Bool { info.st_mode & S_IFMT == S_IFREG }

        while let item = readdir(dir) {
            let name = withUnsafePointer(to: &item.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name.hasPrefix(".") { continue }
            if name.hasSuffix(".db") || name.hasSuffix(CompressedSnapshot.suffix) {
                guard let info = stat(name) else { continue }
                if isRegular(info) {
                    scan.snapshots[name] = FileStat(info, name: name)
                } else if let problem = Self.notASnapshotFile(name, info, directoryFD: fd) {
                    scan.problems.append(CatalogProblem(name: name, path: directory + "/" + name, reason: problem))
                } else {
                    scan.ignored.append(name)
                }
            } else if name.hasSuffix(".part") {
                guard let info = stat(name) else { continue }
                if isRegular(info) { scan.parts.append(FileStat(info, name: name)) } else { scan.ignored.append(name) }
            } else if name.hasSuffix(Self.sidecarSuffix) {
                sidecarNames.append(name)
            } else {
                scan.ignored.append(name)
            }
        }
        for name in sidecarNames {
            let snapshot = String(name.dropLast(Self.sidecarSuffix.count))
            if scan.snapshots[snapshot] != nil, let info = stat(name), isRegular(info) {
                scan.sidecars[snapshot] = FileStat(info, name: name)
            } else {
                scan.ignored.append(name)
            }
        }
        return scan
    }

    /// Why a `*.db` entry that is not a regular file is not a snapshot, or nil for a symbolic link to a
    /// regular file (a `latest.db` link: its target is listed under its own name). Uses stat only.
    static func notASnapshotFile(_ name: String, _ info: Glibc.stat, directoryFD fd: Int32) -> String? {
        func kind(_ mode: mode_t) -> String {
            switch mode & S_IFMT {
            case S_IFDIR: "a directory"
            case S_IFIFO: "a FIFO (named pipe)"
            case S_IFSOCK: "a socket"
            case S_IFCHR: "a character device"
            case S_IFBLK: "a block device"
            default: "not a regular file"
            }
        }
        let notOpened = "; it was not opened (a snapshot is a regular file: remove or rename it)"
        guard info.st_mode & S_IFMT == S_IFLNK else { return kind(info.st_mode) + ", not a regular file" + notOpened }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlinkat(fd, name, &buffer, buffer.count - 1)
        let target = length > 0 ? String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        var resolved = Glibc.stat()
        guard fstatat(fd, name, &resolved, 0) == 0 else {
            return "a symbolic link to \(target), which cannot be followed (\(errnoDescription(errno)))" + notOpened
        }
        if resolved.st_mode & S_IFMT == S_IFREG { return nil }
        return "a symbolic link to \(target), \(kind(resolved.st_mode)), not a regular file" + notOpened
    }

    private func readSidecar(_ path: String) throws(SnapshotStoreError) -> SnapshotMetadata {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SnapshotStoreError(.io, path: path, "could not read the snapshot sidecar \(path): "
                + ((error as NSError).localizedFailureReason ?? error.localizedDescription))
        }
        return try SnapshotMetadata(sidecarJSON: data, path: path)
    }

    /// An entry from our sidecar, from an analysis, or from both (our file changed since it was saved: who took
    /// it comes from the sidecar, what it holds now from the analysis).
    private func entry(name: String, path: String, file: FileStat, sidecar: SnapshotMetadata?,
                       content: SnapshotMetadata) -> SnapshotEntry {
        let origin = sidecar ?? content
        let takenAt: Date
        let source: SnapshotEntry.TakenAtSource
        if let sidecar {
            (takenAt, source) = (sidecar.takenAt, .sidecar)
        } else if let parsed = Self.takenAt(fromFileName: name) {
            (takenAt, source) = (parsed, .fileName)
        } else {
            (takenAt, source) = (file.modified, .modified)
        }
        return SnapshotEntry(name: name, path: path, size: file.size, modified: file.modified, takenAt: takenAt,
                             takenAtSource: source, health: content.health, reason: content.reason,
                             revision: content.revision, liveKeys: content.liveKeys, sha256: content.sha256,
                             clusterID: origin.clusterID ?? content.clusterID, memberID: origin.memberID ?? content.memberID,
                             memberName: origin.memberName ?? content.memberName,
                             etcdVersion: origin.etcdVersion ?? content.etcdVersion, resources: content.resources,
                             isOurs: sidecar != nil)
    }
}

/// `SnapshotCatalog.directorySignature()`.
public struct DirectorySignature: Sendable, Equatable {
    public var inode: UInt64
    public var modifiedNs: Int64
    public var changedNs: Int64
}
