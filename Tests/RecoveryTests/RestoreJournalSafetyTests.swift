import EtcdTestSupport
import Foundation
@testable import Recovery
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("The restore journal never follows a planted link")
struct RestoreJournalSafetyTests {
    @Test("A journal planted as a link next to the data dir is refused, naming it; the victim is unchanged")
    func journalLink() throws {
        let dir = try TestDirectories.make("journal-link")
        let victim = try SymlinkVictim(in: dir)
        let path = RestoreJournal.path(forDataDir: dir.appendingPathComponent("etcd").path)
        try victim.plant(at: path)
        for truncate in [true, false] {
            #expect { _ = try JournalWriter(path: path, truncate: truncate) } throws: { error in
                "\(error)" == "could not open the restore journal \(path): refusing to open \(path): it is a symbolic link "
                    + "(etcd-console never writes through a link; remove it, and find out who planted it)"
            }
        }
        #expect(victim.isUnchanged)
    }

    @Test("A journal directory other users can write to is refused, saying chmod 700")
    func journalDirectoryWorldWritable() throws {
        let dir = try TestDirectories.make("journal-0777")
        #expect(chmod(dir.path, 0o777) == 0)
        let path = RestoreJournal.path(forDataDir: dir.appendingPathComponent("etcd").path)
        #expect { _ = try JournalWriter(path: path, truncate: true) } throws: { error in
            "\(error)".contains("refusing to use the restore journal's directory \(dir.path): other users can write to it "
                + "(mode 0777), so they could plant or swap files there; run chmod 700 \(dir.path)")
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
