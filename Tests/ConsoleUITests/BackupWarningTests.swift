@testable import ConsoleUI
import Foundation
import SnapshotStore
import Testing

/// The header's warning when backups fall behind their schedule (the same rule as `etcd-console status`).
@Suite("Console header backup warning")
struct BackupWarningTests {
    typealias F = ConsoleFixtures

    @Test("Backups within twice the interval: no warning; older: the age and the limit")
    func freshAndStale() {
        var console = F.withSnapshots(12)   // newest good snapshot taken 3m01s before F.now
        console.backupIntervalSeconds = 1800
        #expect(console.backupWarning == nil)
        console.backupIntervalSeconds = 60
        #expect(console.backupWarning == "! newest good backup 3m old (limit 2m)")
    }

    @Test("No good snapshot at all is named; no schedule or no listing yet means no warning")
    func noneGoodOrUnknown() {
        var console = F.console()
        console.backupIntervalSeconds = 1800
        #expect(console.backupWarning == nil, "the snapshots are not listed yet")
        let corrupt = CatalogListing(entries: [F.entry(0, health: .corrupt)], leftoverParts: [], ignored: [])
        _ = console.apply(.snapshots(corrupt, freeBytes: 1 << 30, at: F.now))
        #expect(console.backupWarning == "! no good backup")
        console.backupIntervalSeconds = nil
        #expect(console.backupWarning == nil)
    }
}
