import EtcdClient
import EtcdTestSupport
import Foundation
import Testing
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Damage to a real etcd 3.5 snapshot (or a path that is not a snapshot at all), each expected to be
/// reported with its own reason.
enum SnapshotDamage: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case empty
    case randomBytes
    case randomBytesOfTrailerSize
    case truncatedAtPageBoundary
    case truncatedMidPage
    case truncatedJustShort
    case truncatedInsideFirstMetaPage
    case flippedDataByte
    case flippedMetaByte
    case flippedTrailerByte
    case flippedLastTrailerByte
    case trailerMissing
    case truncatedInsideTrailer
    case branchCountLoweredResealed
    case leafCountLoweredResealed
    case pageOutsideFile
    case pageCycle
    case hugeCount
    case noKeyBucket
    case badRevisionKey
    case jsonNamedDB
    case directoryNamedDB
    case parentIsAFile
    case fifo

    var testDescription: String { rawValue }
}

/// What verify must say about a damaged file.
struct ExpectedVerdict {
    var health: SnapshotHealth
    var kind: SnapshotVerification.Kind
    /// The whole reason, or its start plus parts it must contain.
    var reason: String
    var exact = true
    var contains: [String] = []
}

@Suite("Verify tells a good snapshot from a damaged one, and says why")
struct VerifyTests {
    @Test("Each kind of damage is reported with its own reason, never a crash", arguments: SnapshotDamage.allCases)
    func damaged(damage: SnapshotDamage) async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let (path, expected) = try VerifyScenario.make(damage, fixture: fixture, for: "verify")
        let result = SnapshotVerifier.verify(path: path)
        #expect(result.health == expected.health, "\(result)")
        #expect(result.kind == expected.kind, "\(result)")
        if expected.exact {
            #expect(result.reason == expected.reason)
        } else {
            #expect(result.reason?.hasPrefix(expected.reason) == true, "\(String(describing: result.reason))")
        }
        for part in expected.contains {
            #expect(result.reason?.contains(part) == true, "\(String(describing: result.reason)) should contain \(part)")
        }
        if result.health != .good {
            #expect(result.revision == nil && result.liveKeys == nil)
        }
        if result.reason?.hasPrefix("checksum mismatch") == true {
            #expect(result.sha256 == nil && result.hasTrailer)
        }
    }

    @Test("Snapshots saved by etcdctl are good, with etcdctl's revision and size", arguments: EtcdVersion.allCases)
    func goodSnapshot(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let result = SnapshotVerifier.verify(path: fixture.snapshotPath)
        #expect(result.health == .good)
        #expect(result.reason == nil)
        #expect(result.kind == .snapshot)
        #expect(result.hasTrailer)
        let trailer = try #require(try EtcdDatabase(path: fixture.snapshotPath).integrityTrailer)
        #expect(result.sha256 == trailer.hexString)
        #expect(result.revision == fixture.snapshotStatus.revision)
        #expect(result.totalSize == fixture.snapshotStatus.totalSize)
        #expect(result.liveKeys == fixture.liveKeys.count)
        #expect(result.durationMs >= 0 && result.durationMs < 10_000)
    }

    @Test("A member's db copy (no trailer) is good with a note", arguments: EtcdVersion.allCases)
    func rawDatabase(version: EtcdVersion) async throws {
        let fixture = try await SnapshotFixture.get(version)
        let result = SnapshotVerifier.verify(path: fixture.dbPath)
        #expect(result == SnapshotVerification(
            health: .good, reason: "no checksum trailer; structure OK", hasTrailer: false, sha256: nil,
            revision: fixture.dbStatus.revision, liveKeys: fixture.liveKeys.count, totalSize: fixture.dbStatus.totalSize,
            kind: .rawDatabase, durationMs: result.durationMs))
    }

    @Test("A torn meta page under a matching trailer: bbolt uses the other one, and verify says so")
    func tornMetaWithMatchingTrailer() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        var file = try VerifyScenario.layout(fixture)
        file.bytes[16 + 48] ^= 0x40  // meta 0's txid: its checksum no longer matches
        let path = try VerifyScenario.write("torn-meta-resealed", VerifyScenario.sealed(file.bytes), fixture: fixture)
        #expect(try EtcdDatabase(path: path).bolt.metaPage == 1)
        let result = SnapshotVerifier.verify(path: path)
        #expect(result.health == .good)
        #expect(result.kind == .snapshot)
        #expect(result.reason?.hasPrefix("warning: meta page 0: checksum is 0x") == true, "\(String(describing: result.reason))")
        #expect(result.revision == fixture.snapshotStatus.revision)
    }

    @Test("Cutting 1 to 31 bytes off a snapshot's end is corrupt, never a good raw database", arguments: Array(1...31))
    func cutInsideTrailer(cut: Int) async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.snapshotPath)))
        let path = try VerifyScenario.write("cut-\(cut)", Array(bytes.dropLast(cut)), fixture: fixture)
        let result = SnapshotVerifier.verify(path: path)
        #expect(result.health == .corrupt, "\(result)")
        #expect(result.reason?.hasPrefix("truncated inside the checksum trailer: the file has \(bytes.count - cut) bytes, \(32 - cut) past the last whole 4096-byte page") == true,
                "\(String(describing: result.reason))")
        #expect(result.revision == nil && result.liveKeys == nil)
    }

    @Test("A snapshot whose sidecar records a trailer is corrupt without one; the same bytes without a sidecar stay a good raw db")
    func sidecarSaysTrailer() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let file = try VerifyScenario.layout(fixture)
        let path = try VerifyScenario.write("sidecar-trailer", file.bytes, fixture: fixture)
        let before = SnapshotVerifier.verify(path: path)
        #expect(before.health == .good && before.reason == "no checksum trailer; structure OK", "\(before)")

        let sha = VerifyScenario.sha256(file.bytes).hexString
        let catalog = SnapshotCatalog(directory: (path as NSString).deletingLastPathComponent) { _ in
            SnapshotMetadata(takenAt: Date(), size: 0, health: .unverified)
        }
        try catalog.writeSidecar(SnapshotMetadata(takenAt: Date(), size: file.bytes.count + 32, sha256: sha, health: .good), for: path)
        let after = SnapshotVerifier.verify(path: path)
        #expect(after.health == .corrupt)
        #expect(after.kind == .rawDatabase)
        #expect(after.reason == "truncated: the checksum trailer is missing; its sidecar x.db.meta.json records a snapshot saved with one (sha256 \(sha.prefix(12))…), so the file was cut short (use another snapshot)")

        // A sidecar that records no digest (a raw db copy we catalogued) asks for no trailer.
        try catalog.writeSidecar(SnapshotMetadata(takenAt: Date(), size: file.bytes.count, health: .good), for: path)
        #expect(SnapshotVerifier.verify(path: path).health == .good)
    }

    @Test("A missing file is unverified with the system's reason")
    func missing() {
        let result = SnapshotVerifier.verify(path: "/nonexistent/snapshot.db")
        #expect(result.health == .unverified)
        #expect(result.kind == .notSnapshot)
        #expect(result.reason == "cannot read /nonexistent/snapshot.db: No such file or directory")
    }

    @Test("A verification survives a JSON round trip unchanged")
    func codable() async throws {
        let fixture = try await SnapshotFixture.get(.v3_5)
        let result = SnapshotVerifier.verify(path: fixture.snapshotPath)
        let decoded = try JSONDecoder().decode(SnapshotVerification.self, from: JSONEncoder().encode(result))
        #expect(decoded == result)
    }
}

/// Makes the damaged files (shared with the inspect tests, which must fail on the same files).
enum VerifyScenario {
    static func layout(_ fixture: SnapshotFixture) throws -> BoltFileBytes {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.snapshotPath)))
        let bolt = try EtcdDatabase(path: fixture.snapshotPath).bolt
        return try BoltFileBytes(Array(bytes.prefix(bolt.fileLength)), pageSize: bolt.pageSize, rootPage: Int(bolt.meta.root))
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        let hasher = SHA256Hasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    /// The database bytes with a freshly computed trailer, so that the structure check is what fails.
    static func sealed(_ database: [UInt8]) -> [UInt8] {
        database + sha256(database)
    }

    /// Writes `bytes` to `<fixture directory>/verify-<name>/x.db`.
    static func write(_ name: String, _ bytes: [UInt8], fixture: SnapshotFixture) throws -> String {
        let directory = fixture.directory.appendingPathComponent("verify-\(name)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("x.db").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func checksumMismatch(trailer: [UInt8], database: [UInt8]) -> String {
        let expected = trailer.hexString, actual = sha256(database).hexString
        if expected.prefix(12) == actual.prefix(12) {
            // Damage at the end of the trailer: 12 digits would not show the difference.
            return "checksum mismatch: the file was changed after it was written (trailer \(expected), computed \(actual))"
        }
        return "checksum mismatch: the file was changed after it was written (trailer \(expected.prefix(12))…, computed \(actual.prefix(12))…)"
    }

    /// The file for `damage` and what verify must say about it; `user` keeps the files of suites running in
    /// parallel apart.
    static func make(_ damage: SnapshotDamage, fixture: SnapshotFixture, for user: String = "verify") throws -> (String, ExpectedVerdict) {
        let original = try layout(fixture)
        let db = original.bytes
        let trailer = Array(try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.snapshotPath))).suffix(32))
        let pageSize = original.pageSize
        let pages = db.count / pageSize
        let name = "\(user)-\(damage.rawValue)"
        func corruptStructure(_ parts: [String]) -> ExpectedVerdict {
            ExpectedVerdict(health: .corrupt, kind: .snapshot, reason: "corrupt bbolt structure: ", exact: false, contains: parts)
        }
        func truncated(_ length: Int) throws -> (String, ExpectedVerdict) {
            let path = try write(name, Array((db + trailer).prefix(length)), fixture: fixture)
            let have = formatBytes(length), want = formatBytes(db.count)
            let reason = have == want ? "truncated at \(have) of \(want) (\(length) of \(db.count) bytes)" : "truncated at \(have) of \(want)"
            return (path, ExpectedVerdict(health: .corrupt, kind: .rawDatabase, reason: reason))
        }

        switch damage {
        case .empty:
            return (try write(name, [], fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .notSnapshot, reason: "empty file (0 bytes): not an etcd snapshot"))
        case .randomBytes, .randomBytesOfTrailerSize:
            var random = SeededRandom(seed: 7)
            let bytes = random.bytes(damage == .randomBytes ? 65_536 : 65_536 + 32)
            return (try write(name, bytes, fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .notSnapshot,
                                    reason: "not an etcd snapshot: no bbolt database header (no meta page with bbolt's magic number)"))
        case .truncatedAtPageBoundary:
            return try truncated(pages / 2 * pageSize)
        case .truncatedMidPage:
            return try truncated(pages / 3 * pageSize + 1234)
        case .truncatedJustShort:
            return try truncated(db.count - 100)
        case .truncatedInsideFirstMetaPage:
            return (try write(name, Array(db.prefix(50)), fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .rawDatabase,
                                    reason: "truncated at 50 B: the file ends inside the first meta page"))
        case .flippedDataByte:
            var damaged = db
            damaged[original.offset(page: original.firstLeaf) + pageSize / 2] ^= 0x01
            return (try write(name, damaged + trailer, fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .snapshot, reason: checksumMismatch(trailer: trailer, database: damaged)))
        case .flippedMetaByte:
            var damaged = db
            damaged[16 + 48] ^= 0x40  // meta 0's txid: bbolt falls back to meta 1, the trailer still catches it
            return (try write(name, damaged + trailer, fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .snapshot, reason: checksumMismatch(trailer: trailer, database: damaged)))
        case .flippedTrailerByte, .flippedLastTrailerByte:
            var damagedTrailer = trailer
            damagedTrailer[damage == .flippedTrailerByte ? 0 : 31] ^= 0x80
            return (try write(name, db + damagedTrailer, fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .snapshot, reason: checksumMismatch(trailer: damagedTrailer, database: db)))
        case .trailerMissing:
            return (try write(name, db, fixture: fixture),
                    ExpectedVerdict(health: .good, kind: .rawDatabase, reason: "no checksum trailer; structure OK"))
        case .truncatedInsideTrailer:
            // Issue 12.7: 5 bytes cut off the end leave 27 of the trailer's 32: not a whole number of pages.
            let length = db.count + 27
            return (try write(name, Array((db + trailer).prefix(length)), fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .rawDatabase,
                                    reason: "truncated inside the checksum trailer: the file has \(length) bytes, 27 past the last whole \(pageSize)-byte page; a database is whole pages, so those bytes are what is left of the 32-byte SHA-256 trailer (the file was cut short; use another snapshot)"))
        case .branchCountLoweredResealed, .leafCountLoweredResealed:
            // Issue 12.8: one element fewer, trailer recomputed: the subtree or entry it no longer counts is lost.
            var file = original
            let page = damage == .branchCountLoweredResealed ? file.keyBucketRoot : file.firstLeaf
            let count = BoltFileBytes.u16(file.bytes, file.offset(page: page) + 10)
            file.setU16(count - 1, at: file.offset(page: page) + 10)
            let kind = damage == .branchCountLoweredResealed ? "branch" : "leaf"
            #expect(file.flags(page: page) == (kind == "branch" ? 0x01 : 0x02), "page \(page) should be a \(kind) page")
            return (try write(name, sealed(file.bytes), fixture: fixture),
                    corruptStructure(["page \(page) claims \(count - 1) elements, but its data starts at byte \(16 + Int(count) * 16), not at byte \(16 + Int(count - 1) * 16)",
                                      "the element count was changed"]))
        case .pageOutsideFile:
            var file = original
            file.setU64(9_000_000, at: file.offset(page: file.keyBucketRoot, element: 0) + 8)
            return (try write(name, sealed(file.bytes), fixture: fixture),
                    corruptStructure(["refers to page 9000000, which is outside the database"]))
        case .pageCycle:
            var file = original
            file.setU64(UInt64(file.keyBucketRoot), at: file.offset(page: file.keyBucketRoot, element: 0) + 8)
            return (try write(name, sealed(file.bytes), fixture: fixture),
                    corruptStructure(["page \(file.keyBucketRoot)", "cycle"]))
        case .hugeCount:
            var file = original
            file.setU16(0xFFFF, at: file.offset(page: file.firstLeaf) + 10)
            return (try write(name, sealed(file.bytes), fixture: fixture),
                    corruptStructure(["page \(file.firstLeaf) claims 65535 elements"]))
        case .noKeyBucket:
            // Rename the top-level bucket "key" to "kez": still sorted between "cluster" and "lease".
            var file = original
            let rootStart = file.offset(page: file.rootPage)
            var keyStart: Int?
            for index in 0..<Int(BoltFileBytes.u16(file.bytes, rootStart + 10)) {
                let element = file.offset(page: file.rootPage, element: index)
                let start = element + Int(BoltFileBytes.u32(file.bytes, element + 4))
                let size = Int(BoltFileBytes.u32(file.bytes, element + 8))
                if Array(file.bytes[start..<start + size]) == Array("key".utf8) { keyStart = start }
            }
            let found = try #require(keyStart, "the root page should list the \"key\" bucket")
            file.bytes[found + 2] = UInt8(ascii: "z")
            return (try write(name, sealed(file.bytes), fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .notSnapshot, reason: "not an etcd snapshot: no \"key\" bucket"))
        case .badRevisionKey:
            var file = original
            let element = file.offset(page: file.firstLeaf, element: 1)
            let keyStart = element + Int(BoltFileBytes.u32(file.bytes, element + 4))
            file.bytes[keyStart + 8] = UInt8(ascii: "`")  // the '_' between main and sub revision
            return (try write(name, sealed(file.bytes), fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .snapshot, reason: "corrupt etcd data: key bucket key 0x", exact: false,
                                    contains: ["is not a revision"]))
        case .jsonNamedDB:
            let json = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"}}"#
            return (try write(name, Array(json.utf8), fixture: fixture),
                    ExpectedVerdict(health: .corrupt, kind: .notSnapshot,
                                    reason: "not an etcd snapshot: the file is JSON text, not a bbolt database"))
        case .directoryNamedDB:
            let path = fixture.directory.appendingPathComponent("verify-\(name)/x.db").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return (path, ExpectedVerdict(health: .unverified, kind: .notSnapshot, reason: "cannot read \(path): Is a directory"))
        case .parentIsAFile:
            let parent = try write(name, Array("plain file".utf8), fixture: fixture)
            let path = parent + "/x.db"
            return (path, ExpectedVerdict(health: .unverified, kind: .notSnapshot, reason: "cannot read \(path): Not a directory"))
        case .fifo:
            let directory = fixture.directory.appendingPathComponent("verify-\(name)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent("x.db").path
            guard mkfifo(path, 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
            return (path, ExpectedVerdict(health: .unverified, kind: .notSnapshot,
                                          reason: "cannot read \(path): not a regular file (a FIFO)"))
        }
    }
}
