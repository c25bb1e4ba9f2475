import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Files we write never follow a planted symbolic link")
struct SafeFileTests {
    static func refusal(_ path: String) -> String { "refusing to open \(path): it is a symbolic link" }

    @Test("A snapshot's .part planted as a link is refused, naming it; the victim is unchanged")
    func partLink() throws {
        let dir = try TestDirectories.make("safe-part")
        let victim = try SymlinkVictim(in: dir)
        let path = dir.appendingPathComponent("snapshot.db").path
        try victim.plant(at: path + ".part")
        #expect { _ = try AtomicFileWriter(path: path) } throws: { error in
            (error as? SnapshotStoreError)?.kind == .refused && "\(error)".hasPrefix(Self.refusal(path + ".part"))
        }
        #expect(victim.isUnchanged)
    }

    @Test("A snapshot's final name planted as a link (even dangling) is refused before and at the rename")
    func finalNameLink() throws {
        let dir = try TestDirectories.make("safe-final")
        let victim = try SymlinkVictim(in: dir)
        let path = dir.appendingPathComponent("snapshot.db").path
        try victim.plant(at: path)
        #expect { _ = try AtomicFileWriter(path: path) } throws: { error in
            "\(error)".hasPrefix(Self.refusal(path))
        }
        // Planted while the save runs: the commit refuses instead of renaming over the link, and the .part goes.
        try FileManager.default.removeItem(atPath: path)
        let writer = try AtomicFileWriter(path: path)
        try writer.write(Data("db bytes".utf8))
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/nonexistent/dangling")
        #expect { try writer.commit() } throws: { error in "\(error)".hasPrefix(Self.refusal(path)) }
        #expect(!FileManager.default.fileExists(atPath: path + ".part"))
        #expect(victim.isUnchanged)
    }

    @Test("A sidecar planted as a link is refused, naming it; the victim is unchanged")
    func sidecarLink() throws {
        let dir = try TestDirectories.make("safe-sidecar")
        let victim = try SymlinkVictim(in: dir)
        let snapshot = dir.appendingPathComponent("snapshot-20261125T140000Z-m1.db").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: snapshot))
        let sidecar = SnapshotCatalog.sidecarPath(for: snapshot)
        try victim.plant(at: sidecar)
        let catalog = SnapshotCatalog.standard(directory: dir.path)
        let metadata = SnapshotMetadata(takenAt: Date(), size: 1, health: .good)
        #expect { try catalog.writeSidecar(metadata, for: snapshot) } throws: { error in
            "\(error)".hasPrefix(Self.refusal(sidecar))
        }
        // The sidecar's own .part planted as a link: refused too, not unlinked and recreated silently.
        try FileManager.default.removeItem(atPath: sidecar)
        try victim.plant(at: sidecar + ".part")
        #expect { try catalog.writeSidecar(metadata, for: snapshot) } throws: { error in
            "\(error)".hasPrefix(Self.refusal(sidecar + ".part"))
        }
        #expect(victim.isUnchanged)
    }

    @Test("The catalog cache planted as a link is not written; the listing says so and is still complete")
    func cacheLink() throws {
        let dir = try TestDirectories.make("safe-cache")
        let victim = try SymlinkVictim(in: dir.deletingLastPathComponent())
        try Data("not a snapshot".utf8).write(to: dir.appendingPathComponent("foreign.db"))
        let cache = dir.appendingPathComponent(".etcd-console-cache").path
        try victim.plant(at: cache)
        let listing = try SnapshotCatalog.standard(directory: dir.path).list()
        #expect(listing.entries.map(\.name) == ["foreign.db"])
        #expect(listing.warnings.contains { $0.contains(Self.refusal(cache)) }, "\(listing.warnings)")
        #expect(victim.isUnchanged)
    }

    @Test("The backup progress record planted as a link is refused, naming it; the victim is unchanged")
    func progressRecordLink() throws {
        let dir = try TestDirectories.make("safe-record")
        let victim = try SymlinkVictim(in: dir.deletingLastPathComponent())
        let path = BackupJobRecord.path(inDirectory: dir.path)
        try victim.plant(at: path)
        #expect { try BackupJobRecord(startedAt: Date(), phase: .saving).write(toDirectory: dir.path) } throws: { error in
            "\(error)".hasPrefix(Self.refusal(path))
        }
        #expect(victim.isUnchanged)
    }

    @Test("A FIFO under a name we write is refused without blocking on it")
    func fifoRefused() throws {
        let dir = try TestDirectories.make("safe-fifo")
        let path = dir.appendingPathComponent("etcd.prom").path
        #expect(mkfifo(path + ".part", 0o600) == 0)
        #expect { try AtomicFileWriter.replace(path, with: Data("x".utf8)) } throws: { error in
            "\(error)" == "refusing to open \(path).part: it is not a regular file (remove it or choose another path)"
        }
        #expect { _ = try SafeFile.open(path + ".part", flags: O_RDWR | O_CREAT) } throws: { error in
            "\(error)".hasPrefix("refusing to open \(path).part: it is not a regular file")
        }
    }

    @Test("A link higher up the path (the directory itself) is the operator's choice and is followed")
    func directoryLinkFollowed() throws {
        let dir = try TestDirectories.make("safe-dirlink")
        let real = dir.appendingPathComponent("real")
        try FileManager.default.createDirectory(at: real, withIntermediateDirectories: false)
        let link = dir.appendingPathComponent("backups").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real.path)
        try AtomicFileWriter.replace(link + "/x.json", with: Data("{}".utf8))
        #expect(FileManager.default.contents(atPath: real.appendingPathComponent("x.json").path) == Data("{}".utf8))
    }
}

@Suite("Directories we write into")
struct DirectorySafetyTests {
    @Test("A directory other users can write to is refused, saying chmod 700")
    func worldWritableRefused() throws {
        let dir = try TestDirectories.make("dir-0777")
        #expect(chmod(dir.path, 0o777) == 0)
        #expect { _ = try SafeFile.checkDirectory(dir.path) } throws: { error in
            "\(error)" == "refusing to use the snapshot directory \(dir.path): other users can write to it (mode 0777), "
                + "so they could plant or swap files there; run chmod 700 \(dir.path)"
        }
        #expect(chmod(dir.path, 0o770) == 0)
        #expect { _ = try SafeFile.checkDirectory(dir.path, what: "the metrics file's directory") } throws: { error in
            "\(error)".hasPrefix("refusing to use the metrics file's directory \(dir.path): other users can write to it (mode 0770)")
        }
    }

    @Test("A directory another (non-root) user owns is refused, saying chown")
    func foreignOwnerRefused() throws {
        let dir = try TestDirectories.make("dir-nobody")
        #expect(chmod(dir.path, 0o700) == 0)
        #expect(chown(dir.path, 65534, 65534) == 0)
        #expect { _ = try SafeFile.checkDirectory(dir.path) } throws: { error in
            "\(error)" == "refusing to use the snapshot directory \(dir.path): it belongs to nobody (uid 65534), not to root "
                + "or to the user running etcd-console, so its owner could plant or swap files there; run chown root "
                + "\(dir.path) && chmod 700 \(dir.path)"
        }
    }

    @Test("A directory others can list gives a warning; 0700 none; new directories and their parents are 0700")
    func listableWarnsAndNewIs0700() throws {
        let dir = try TestDirectories.make("dir-0755")
        #expect(chmod(dir.path, 0o755) == 0)
        #expect(try SafeFile.checkDirectory(dir.path) == "others can list the snapshot directory \(dir.path) (mode 0755) "
            + "and the snapshots in it hold Kubernetes Secrets; run chmod 700 \(dir.path)")
        #expect(try SafeFile.checkDirectory(dir.path, warnIfListable: false) == nil)
        let nested = dir.appendingPathComponent("a/b").path
        let old = umask(0)
        defer { umask(old) }
        try SafeFile.createDirectory(nested)
        var info = stat()
        #expect(stat(nested, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(stat(dir.appendingPathComponent("a").path, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(try SafeFile.checkDirectory(nested) == nil)
    }
}
