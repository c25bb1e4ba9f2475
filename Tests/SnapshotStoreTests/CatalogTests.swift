import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Counts `analyze` calls (the closure is `@Sendable`, the catalog may call it from any thread).
private final class AnalyzeLog: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: [String] = []

    var calls: [String] { lock.withLock { paths } }

    /// The closure the catalog gets: records the path and says "good" with a revision. Its `takenAt` has a
    /// fraction that does not survive a trip through "seconds since 1970", so a lossy cache would show.
    var analyze: @Sendable (String) -> SnapshotMetadata {
        { [self] path in
            lock.withLock { paths.append((path as NSString).lastPathComponent) }
            return SnapshotMetadata(takenAt: Date(timeIntervalSinceReferenceDate: 812_345_678.1), clusterID: "cafe",
                                    revision: 42, liveKeys: 7, size: 0, sha256: "ab", health: .good)
        }
    }
}

private func utc(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int = 0) -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    return calendar.date(from: DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: s))!
}

private func write(_ dir: URL, _ name: String, bytes: Int = 64) throws {
    try Data(repeating: 0xA5, count: bytes).write(to: dir.appendingPathComponent(name))
}

/// Sets a file's modification time (seconds since 1970).
private func setModified(_ path: String, _ date: Date) {
    let seconds = date.timeIntervalSince1970
    var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
    utimensat(AT_FDCWD, path, &times, 0)
}

private func ourMetadata(_ takenAt: Date, size: Int) -> SnapshotMetadata {
    SnapshotMetadata(takenAt: takenAt, endpoint: "https://10.0.0.5:2379", clusterID: "cdf818194e3a8c32",
                     memberID: "8e9e05c52164694d", memberName: "m1", etcdVersion: "3.5.17", revision: 1234, liveKeys: 99,
                     size: size, sha256: String(repeating: "0f", count: 32), health: .good, verifyDurationMs: 12,
                     saveDurationMs: 340, resources: ["pods": 12, "secrets": 3])
}

@Suite("Snapshot catalog: what is in the backup directory, cached, and its housekeeping")
struct CatalogTests {
    /// The directory from the issue: ours with a sidecar, a foreign etcdctl snapshot, a `.part`, notes, a
    /// directory named like a snapshot, a hidden file, and a symbolic link to our snapshot.
    private func mixedDirectory() throws -> (URL, ours: String, foreign: String) {
        let dir = try TestDirectories.make("catalog")
        let ours = "snapshot-20261125T140000Z-m1.db"
        let foreign = "20200630_154509_snapshot.db"
        try write(dir, ours, bytes: 100)
        try write(dir, foreign, bytes: 200)
        try write(dir, "snapshot-20261125T143000Z-m1.db.part", bytes: 10)
        try "remember to rotate".write(to: dir.appendingPathComponent("notes.txt"), atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("x.db"), withIntermediateDirectories: false)
        try write(dir, ".hidden.db")
        symlink(dir.appendingPathComponent(ours).path, dir.appendingPathComponent("latest.db").path)
        let catalog = SnapshotCatalog(directory: dir.path, analyze: { _ in fatalError("not used") })
        try catalog.writeSidecar(ourMetadata(utc(2026, 11, 25, 14, 0), size: 100), for: dir.appendingPathComponent(ours).path)
        return (dir, ours, foreign)
    }

    @Test("A mixed directory lists exactly its two snapshots, newest first, and reports the rest")
    func mixedDirectoryListing() throws {
        let (dir, ours, foreign) = try mixedDirectory()
        let log = AnalyzeLog()
        let listing = try SnapshotCatalog(directory: dir.path, analyze: log.analyze).list()

        #expect(listing.entries.map(\.name) == [ours, foreign])
        #expect(listing.leftoverParts == ["snapshot-20261125T143000Z-m1.db.part"])
        #expect(listing.ignored == ["latest.db", "notes.txt"])
        // A directory named *.db is not a snapshot file: a problem the listing reports (issue 12.9), not ignored.
        #expect(listing.problems.map(\.name) == ["x.db"])
        #expect(listing.warnings.isEmpty)
        #expect(log.calls == [foreign])

        let mine = listing.entries[0]
        #expect(mine.isOurs)
        #expect(mine.path == dir.appendingPathComponent(ours).path)
        #expect(mine.size == 100)
        #expect(mine.takenAt == utc(2026, 11, 25, 14, 0))
        #expect(mine.takenAtSource == .sidecar)
        #expect(mine.health == .good)
        #expect(mine.revision == 1234)
        #expect(mine.liveKeys == 99)
        #expect(mine.clusterID == "cdf818194e3a8c32")
        #expect(mine.memberID == "8e9e05c52164694d")
        #expect(mine.etcdVersion == "3.5.17")
        #expect(mine.resources == ["pods": 12, "secrets": 3])
        #expect(mine.ageSeconds(now: utc(2026, 11, 25, 15, 0)) == 3600)
        #expect(mine.retentionCandidate == RetentionCandidate(name: ours, takenAt: utc(2026, 11, 25, 14, 0), health: .good))

        let theirs = listing.entries[1]
        #expect(!theirs.isOurs)
        #expect(theirs.size == 200)
        #expect(theirs.takenAt == utc(2020, 6, 30, 15, 45, 9))
        #expect(theirs.takenAtSource == .fileName)
        #expect(theirs.revision == 42)
        #expect(theirs.health == .good)
    }

    @Test("A foreign file is analysed once across listings, and again after its modification time or size changes")
    func analyzeIsCached() throws {
        let (dir, _, foreign) = try mixedDirectory()
        let log = AnalyzeLog()
        let catalog = SnapshotCatalog(directory: dir.path, analyze: log.analyze)
        _ = try catalog.list()
        _ = try catalog.list()
        #expect(log.calls == [foreign])

        // Another catalog on the same directory (the next process) uses the same cache.
        _ = try SnapshotCatalog(directory: dir.path, analyze: log.analyze).list()
        #expect(log.calls == [foreign])

        let path = dir.appendingPathComponent(foreign).path
        setModified(path, utc(2021, 1, 1, 0, 0))
        _ = try catalog.list()
        #expect(log.calls == [foreign, foreign], "a new modification time invalidates the cached analysis")
        _ = try catalog.list()
        #expect(log.calls.count == 2)

        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([1, 2, 3]))
        try handle.close()
        setModified(path, utc(2021, 1, 1, 0, 0))  // same time as before: only the size differs
        let listing = try catalog.list()
        #expect(log.calls == [foreign, foreign, foreign], "a new size invalidates the cached analysis")
        #expect(listing.entries.first { $0.name == foreign }?.size == 203)

        // An analyzer of another version redoes the work.
        _ = try SnapshotCatalog(directory: dir.path, analyzerVersion: 2, analyze: log.analyze).list()
        #expect(log.calls.count == 4)
    }

    @Test("A file that could not be read (unverified) is analysed again at the next listing")
    func unverifiedIsNotCached() throws {
        let dir = try TestDirectories.make("catalog-unverified")
        try write(dir, "20200630_154509_snapshot.db")
        let log = AnalyzeLog()
        let catalog = SnapshotCatalog(directory: dir.path, analyze: { path in
            _ = log.analyze(path)
            return SnapshotMetadata(takenAt: Date(), size: 0, health: .unverified, reason: "Permission denied")
        })
        let listing = try catalog.list()
        _ = try catalog.list()
        #expect(log.calls.count == 2)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(".etcd-console-cache").path),
                "nothing was learned, so no cache is written")
        #expect(listing.entries.first?.health == .unverified)
        #expect(listing.entries.first?.reason == "Permission denied")
    }

    @Test("The cache is rewritten only when something changed, and drops files that are gone")
    func cacheRewrittenOnlyOnChange() throws {
        let (dir, ours, foreign) = try mixedDirectory()
        let catalog = SnapshotCatalog(directory: dir.path, analyze: AnalyzeLog().analyze)
        // A sidecar time with milliseconds, as SnapshotSaver writes them.
        try catalog.writeSidecar(ourMetadata(Date(timeIntervalSince1970: 1_795_615_200.377), size: 100),
                                 for: dir.appendingPathComponent(ours).path)
        let cache = dir.appendingPathComponent(".etcd-console-cache").path
        let cold = try catalog.list()
        let first = try FileManager.default.attributesOfItem(atPath: cache)[.systemFileNumber] as? Int
        let warm = try catalog.list()
        let second = try FileManager.default.attributesOfItem(atPath: cache)[.systemFileNumber] as? Int
        #expect(first != nil && first == second, "an unchanged directory does not rewrite the cache")
        #expect(warm == cold, "what comes from the cache equals what was read")
        var info = stat()
        stat(cache, &info)
        #expect(info.st_mode & 0o777 == 0o600)

        try FileManager.default.removeItem(at: dir.appendingPathComponent(foreign))
        let listing = try catalog.list()
        #expect(listing.entries.map(\.name) == [ours])
        let text = try String(contentsOfFile: cache, encoding: .utf8)
        #expect(!text.contains(foreign))
    }

    @Test("A sidecar round-trips through the file, mode 0600, and marks the snapshot as ours")
    func sidecarRoundTrip() throws {
        let dir = try TestDirectories.make("catalog-sidecar")
        let name = "snapshot-20261125T140000Z-m1.db"
        try write(dir, name, bytes: 4096)
        let path = dir.appendingPathComponent(name).path
        let catalog = SnapshotCatalog(directory: dir.path, analyze: { _ in fatalError("ours is not analysed") })
        var metadata = ourMetadata(Date(timeIntervalSince1970: 1_795_615_200.125), size: 4096)
        metadata.reason = "a reason with \"quotes\" and a / slash"
        try catalog.writeSidecar(metadata, for: path)

        let sidecar = SnapshotCatalog.sidecarPath(for: path)
        #expect(sidecar == path + ".meta.json")
        var info = stat()
        stat(sidecar, &info)
        #expect(info.st_mode & 0o777 == 0o600)
        let data = try Data(contentsOf: URL(fileURLWithPath: sidecar))
        #expect(try SnapshotMetadata(sidecarJSON: data, path: sidecar) == metadata)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"takenAt\" : \"2026-11-25T14:00:00.125Z\""), "\(text)")
        #expect(text.contains("\"formatVersion\" : 1"))

        // Written again (a later verify): replaced, still readable, no .part left.
        metadata.health = .corrupt
        try catalog.writeSidecar(metadata, for: path)
        let listing = try catalog.list()
        #expect(listing.entries.count == 1)
        #expect(listing.entries[0].isOurs)
        #expect(listing.entries[0].health == .corrupt)
        #expect(listing.leftoverParts.isEmpty)
        #expect(listing.ignored.isEmpty)
    }

    @Test("A sidecar without formatVersion or optional fields still reads; a damaged one says which field")
    func sidecarDecoding() throws {
        let minimal = Data(#"{"takenAt":"2026-11-25T14:00:00Z","size":10,"health":"unverified"}"#.utf8)
        let metadata = try SnapshotMetadata(sidecarJSON: minimal, path: "/x.meta.json")
        #expect(metadata == SnapshotMetadata(takenAt: utc(2026, 11, 25, 14, 0), size: 10, health: .unverified))

        let offset = Data(#"{"takenAt":"2026-11-25T15:00:00+01:00","size":10,"health":"good"}"#.utf8)
        #expect(try SnapshotMetadata(sidecarJSON: offset, path: "/x").takenAt == utc(2026, 11, 25, 14, 0))

        let badDate = Data(#"{"takenAt":"yesterday","size":10,"health":"good"}"#.utf8)
        let error = #expect(throws: SnapshotStoreError.self) { try SnapshotMetadata(sidecarJSON: badDate, path: "/b.meta.json") }
        #expect(error?.detail.contains("/b.meta.json") == true)
        #expect(error?.detail.contains("takenAt") == true, "\(error?.detail ?? "")")

        let missing = Data(#"{"takenAt":"2026-11-25T14:00:00Z","health":"good"}"#.utf8)
        let missingError = #expect(throws: SnapshotStoreError.self) { try SnapshotMetadata(sidecarJSON: missing, path: "/m") }
        #expect(missingError?.detail.contains("size is missing") == true, "\(missingError?.detail ?? "")")
    }

    @Test("Health is one type: sidecars keep the words good, corrupt and unverified; a word not known reads as unverified",
          arguments: SnapshotHealth.allCases)
    func healthOnDisk(health: SnapshotHealth) throws {
        let metadata = SnapshotMetadata(takenAt: utc(2026, 11, 25, 14, 0), size: 10, health: health)
        let text = String(decoding: try metadata.sidecarJSON(), as: UTF8.self)
        let words: [SnapshotHealth: String] = [.good: "good", .corrupt: "corrupt", .unverified: "unverified"]
        #expect(text.contains("\"health\" : \"\(words[health]!)\""), "\(text)")
        #expect(try SnapshotMetadata(sidecarJSON: Data(text.utf8), path: "/x").health == health)
        let newer = Data(#"{"takenAt":"2026-11-25T14:00:00Z","size":10,"health":"quarantined"}"#.utf8)
        #expect(try SnapshotMetadata(sidecarJSON: newer, path: "/x").health == .unverified)
    }

    @Test("An unreadable sidecar is a warning and the file is analysed instead")
    func damagedSidecarFallsBack() throws {
        let dir = try TestDirectories.make("catalog-damaged")
        let name = "snapshot-20261125T140000Z-m1.db"
        try write(dir, name)
        try Data("{not json".utf8).write(to: dir.appendingPathComponent(name + ".meta.json"))
        let log = AnalyzeLog()
        let listing = try SnapshotCatalog(directory: dir.path, analyze: log.analyze).list()
        #expect(log.calls == [name])
        #expect(listing.entries.count == 1)
        #expect(!listing.entries[0].isOurs)
        #expect(listing.entries[0].takenAtSource == .fileName)
        #expect(listing.entries[0].takenAt == utc(2026, 11, 25, 14, 0))
        #expect(listing.warnings.count == 1)
        #expect(listing.warnings.first?.contains(name + ".meta.json") == true)
    }

    @Test("Our snapshot whose size no longer matches its sidecar is verified again, keeping who took it")
    func changedSnapshotIsAnalysed() throws {
        let dir = try TestDirectories.make("catalog-changed")
        let name = "snapshot-20261125T140000Z-m1.db"
        try write(dir, name, bytes: 50)
        let catalog = SnapshotCatalog(directory: dir.path, analyze: { _ in
            SnapshotMetadata(takenAt: Date(timeIntervalSince1970: 0), size: 50, health: .corrupt,
                             reason: "file is shorter than its page count")
        })
        try catalog.writeSidecar(ourMetadata(utc(2026, 11, 25, 14, 0, 3), size: 4096), for: dir.appendingPathComponent(name).path)
        let listing = try catalog.list()
        let entry = try #require(listing.entries.first)
        #expect(entry.health == .corrupt)
        #expect(entry.reason == "file is shorter than its page count")
        #expect(entry.takenAt == utc(2026, 11, 25, 14, 0, 3))
        #expect(entry.memberName == "m1")
        #expect(entry.size == 50)
        #expect(listing.warnings.first?.contains("its sidecar recorded 4096") == true)
    }

    @Test("A file without a time in its name is dated by its modification time")
    func modificationTimeFallback() throws {
        let dir = try TestDirectories.make("catalog-mtime")
        try write(dir, "snapshot.db")
        setModified(dir.appendingPathComponent("snapshot.db").path, utc(2024, 2, 29, 12, 0))
        let listing = try SnapshotCatalog(directory: dir.path, analyze: AnalyzeLog().analyze).list()
        #expect(listing.entries.first?.takenAt == utc(2024, 2, 29, 12, 0))
        #expect(listing.entries.first?.takenAtSource == .modified)
        #expect(listing.entries.first?.modified == utc(2024, 2, 29, 12, 0))
    }

    static let fileNameCases: [(String, Date?)] = [
        ("snapshot-20261125T140000Z-m1.db", utc(2026, 11, 25, 14, 0)),
        ("snapshot-20261125T140000Z.db", utc(2026, 11, 25, 14, 0)),
        ("snapshot-20261125T140000Z-etcd-20200101T000000Z.db", utc(2026, 11, 25, 14, 0)),
        ("20200630_154509_snapshot.db", utc(2020, 6, 30, 15, 45, 9)),
        ("etcd-20200630154509.db", utc(2020, 6, 30, 15, 45, 9)),
        ("backup-2020-06-30T15-45-09.db", utc(2020, 6, 30, 15, 45, 9)),
        ("backup-2020-06-30_15:45:09.db", utc(2020, 6, 30, 15, 45, 9)),
        ("backup-2020-06-30 15:45:09.db", utc(2020, 6, 30, 15, 45, 9)),
        ("etcd-snapshot-2028-02-29T23:59:59Z.db", utc(2028, 2, 29, 23, 59, 59)),
        ("snapshot.db", nil),
        ("etcd-2020-06-30.db", nil),                     // no time of day
        ("20200631_154509_snapshot.db", nil),            // June 31st
        ("20200630_244509_snapshot.db", nil),            // hour 24
        ("2020-0630_154509.db", nil),                    // mixed date separators
        ("120200630_154509.db", nil),                    // touches other digits
        ("20200630_1545091.db", nil),
        ("rev-1234567890123456.db", nil),
    ]

    @Test("Times in file names are read as UTC", arguments: fileNameCases)
    func fileNameTimes(name: String, expected: Date?) {
        #expect(SnapshotCatalog.takenAt(fromFileName: name) == expected)
    }

    @Test("Leftover .part files are removed only when older than the threshold")
    func leftoverCleanup() throws {
        let dir = try TestDirectories.make("catalog-parts")
        let now = utc(2026, 11, 25, 14, 0)
        try write(dir, "old.db.part")
        try write(dir, "recent.db.part")
        try write(dir, "old.db.meta.json.part")
        try write(dir, ".hidden.part")
        try write(dir, "keep.db")
        setModified(dir.appendingPathComponent("old.db.part").path, now.addingTimeInterval(-7200))
        setModified(dir.appendingPathComponent("recent.db.part").path, now.addingTimeInterval(-60))
        setModified(dir.appendingPathComponent("old.db.meta.json.part").path, now.addingTimeInterval(-3601))
        setModified(dir.appendingPathComponent(".hidden.part").path, now.addingTimeInterval(-7200))
        setModified(dir.appendingPathComponent("keep.db").path, now.addingTimeInterval(-7200))

        let catalog = SnapshotCatalog(directory: dir.path, analyze: AnalyzeLog().analyze)
        #expect(try catalog.list().leftoverParts == ["old.db.meta.json.part", "old.db.part", "recent.db.part"])
        let removed = try catalog.removeLeftoverParts(olderThan: 3600, now: now)
        #expect(removed == ["old.db.meta.json.part", "old.db.part"])
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == [".etcd-console-cache", ".hidden.part", "keep.db", "recent.db.part"])
        #expect(try catalog.removeLeftoverParts(olderThan: 3600, now: now).isEmpty)
    }

    @Test("Deleting a snapshot removes its sidecar too")
    func deleteRemovesSidecar() throws {
        let (dir, ours, foreign) = try mixedDirectory()
        let catalog = SnapshotCatalog(directory: dir.path, analyze: AnalyzeLog().analyze)
        let listing = try catalog.list()
        for entry in listing.entries { try catalog.delete(entry) }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!left.contains(ours))
        #expect(!left.contains(ours + ".meta.json"))
        #expect(!left.contains(foreign))
        #expect(left.contains("snapshot-20261125T143000Z-m1.db.part"), "delete touches nothing else")
        #expect(try catalog.list().entries.isEmpty)
        // Deleting what is already gone is not an error.
        try catalog.delete(listing.entries[0])
    }

    @Test("Delete refuses a file that changed since it was listed, or one outside the directory")
    func deleteRefusesChangedFiles() throws {
        let (dir, ours, _) = try mixedDirectory()
        let catalog = SnapshotCatalog(directory: dir.path, analyze: AnalyzeLog().analyze)
        let entry = try #require(try catalog.list().entries.first { $0.name == ours })
        try write(dir, ours + ".tmp", bytes: 300)
        rename(dir.appendingPathComponent(ours + ".tmp").path, dir.appendingPathComponent(ours).path)
        let changed = #expect(throws: SnapshotStoreError.self) { try catalog.delete(entry) }
        #expect(changed?.detail.contains("changed since it was listed") == true)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(ours).path))

        var outside = entry
        outside.path = "/etc/passwd"
        let refused = #expect(throws: SnapshotStoreError.self) { try catalog.delete(outside) }
        #expect(refused?.detail.contains("not in the snapshot directory") == true)
    }

    @Test("A missing directory is a clear error naming it")
    func missingDirectory() throws {
        let dir = try TestDirectories.make("catalog-missing").appendingPathComponent("nope")
        let catalog = SnapshotCatalog(directory: dir.path, analyze: AnalyzeLog().analyze)
        let error = #expect(throws: SnapshotStoreError.self) { try catalog.list() }
        #expect(error?.detail == "the snapshot directory \(dir.path) does not exist (take a snapshot to create it, or "
            + "choose another with --dir)")
        #expect(error?.path == dir.path)
        #expect(throws: SnapshotStoreError.self) { try catalog.removeLeftoverParts(olderThan: 0, now: Date()) }

        let file = try TestDirectories.make("catalog-file").appendingPathComponent("plain")
        try Data().write(to: file)
        let notDir = #expect(throws: SnapshotStoreError.self) {
            try SnapshotCatalog(directory: file.path, analyze: AnalyzeLog().analyze).list()
        }
        #expect(notDir?.detail.contains("is not a directory") == true)
    }

    @Test("A directory the cache cannot be written to still lists, with a warning")
    func unwritableCache() throws {
        let dir = try TestDirectories.make("catalog-readonly")
        try write(dir, "20200630_154509_snapshot.db")
        // A directory where the cache's temporary file goes fails the write even for root (chmod would not).
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(".etcd-console-cache.part"),
                                                withIntermediateDirectories: false)
        let log = AnalyzeLog()
        let listing = try SnapshotCatalog(directory: dir.path, analyze: log.analyze).list()
        #expect(listing.entries.map(\.name) == ["20200630_154509_snapshot.db"])
        #expect(listing.entries.first?.revision == 42)
        #expect(listing.warnings.count == 1)
        #expect(listing.warnings.first?.hasPrefix("could not update the catalog cache in \(dir.path): ") == true,
                "\(listing.warnings)")
    }

    @Test("Listing 1,000 snapshots with warm metadata (timing printed; the target lives in scripts/bench)")
    func thousandWarmEntries() throws {
        let dir = try TestDirectories.make("catalog-thousand")
        let catalog = SnapshotCatalog(directory: dir.path, analyze: AnalyzeLog().analyze)
        let start = utc(2026, 1, 1, 0, 0)
        for i in 0..<1000 {
            let takenAt = start.addingTimeInterval(Double(i) * 1800)
            let name = SnapshotSaver.fileName(takenAt: takenAt, memberName: "m\(i % 3)")
            try write(dir, name, bytes: 128)
            if i % 10 == 0 { continue }  // every tenth is foreign: analysed and cached
            try catalog.writeSidecar(ourMetadata(takenAt, size: 128), for: dir.appendingPathComponent(name).path)
        }
        let clock = ContinuousClock()
        var listing = CatalogListing(entries: [], leftoverParts: [], ignored: [])
        let cold = try clock.measure { listing = try catalog.list() }
        var warm: [Duration] = []
        for _ in 0..<5 { warm.append(try clock.measure { listing = try catalog.list() }) }
        print("catalog: listing 1000 snapshots: cold (sidecars read, 100 analysed) \(cold), warm \(warm.min()!) best of 5")
        #expect(listing.entries.count == 1000)
        #expect(listing.entries.filter(\.isOurs).count == 900)
        #expect(listing.entries.first?.takenAt == start.addingTimeInterval(999 * 1800))
        #expect(zip(listing.entries, listing.entries.dropFirst()).allSatisfy { $0.takenAt > $1.takenAt })
    }
}
