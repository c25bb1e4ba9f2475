import EtcdClient
import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Seeded runs over the hardening cases of issue 12 (planted links and other non-files under every name we write,
/// directory modes, a stalled stream), so they stay covered as the writers change. A failure names its seed.
@Suite("Seeded hardening cases: planted names, directory modes, stalls")
struct HardeningFuzzTests {
    enum Target: CaseIterable { case snapshotPart, snapshotFinal, sidecar, sidecarPart, cache, progressRecord }
    enum Plant: CaseIterable { case linkToVictim, danglingLink, fifo }

    /// Runs the write of `target` in `dir`, with the planted name `planted`; returns the error text or nil.
    static func attempt(_ target: Target, in dir: URL) -> (planted: String, error: String?) {
        let snapshot = dir.appendingPathComponent("snapshot-20261125T140000.000Z-m1.db").path
        let catalog = SnapshotCatalog.standard(directory: dir.path)
        let metadata = SnapshotMetadata(takenAt: Date(), size: 1, health: .good)
        func run(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch { return "\(error)" }
        }
        switch target {
        case .snapshotPart:
            return (snapshot + ".part", run { _ = try AtomicFileWriter(path: snapshot) })
        case .snapshotFinal:
            return (snapshot, run { _ = try AtomicFileWriter(path: snapshot) })
        case .sidecar, .sidecarPart:
            let foreign = dir.appendingPathComponent("foreign.db").path
            FileManager.default.createFile(atPath: foreign, contents: Data("x".utf8))
            let sidecar = SnapshotCatalog.sidecarPath(for: foreign)
            return (target == .sidecar ? sidecar : sidecar + ".part", run { try catalog.writeSidecar(metadata, for: foreign) })
        case .cache:
            let cache = dir.appendingPathComponent(".etcd-console-cache").path
            FileManager.default.createFile(atPath: dir.appendingPathComponent("foreign.db").path, contents: Data("x".utf8))
            return (cache, run {
                let listing = try catalog.list()
                if let warning = listing.warnings.first { throw SnapshotStoreError(.io, path: cache, warning) }
            })
        case .progressRecord:
            return (BackupJobRecord.path(inDirectory: dir.path),
                    run { try BackupJobRecord(startedAt: Date(), phase: .saving).write(toDirectory: dir.path) })
        }
    }

    @Test("300 seeded cases: a planted link, dangling link or FIFO under each name we write is refused by name; the directory mode decides refusal or warning; the victim never changes")
    func plantedNamesAndModes() throws {
        let root = try TestDirectories.make("hardening-fuzz")
        let victim = try SymlinkVictim(in: root)
        var random = SeededRandom(seed: 0x1212_2026)
        for seed in 0..<300 {
            let dir = root.appendingPathComponent("case-\(seed)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
            let mode = mode_t(0o700 | random.next(below: 0o100))
            #expect(chmod(dir.path, mode) == 0)
            let target = Target.allCases[random.next(below: Target.allCases.count)]
            let plant = Plant.allCases[random.next(below: Plant.allCases.count)]
            let octal = "0" + String(mode, radix: 8)

            // The directory rule first, as every writer applies it.
            let verdict = Result { try SafeFile.checkDirectory(dir.path) }
            if mode & 0o022 != 0 {
                #expect(throws: SnapshotStoreError.self, "seed \(seed) mode \(octal)") { try verdict.get() }
                if case .failure(let error) = verdict {
                    #expect("\(error)".hasSuffix("other users can write to it (mode \(octal)), so they could plant or swap "
                        + "files there; run chmod 700 \(dir.path)"), "seed \(seed): \(error)")
                }
            } else {
                let warning = try verdict.get()
                #expect((warning != nil) == (mode & 0o005 != 0), "seed \(seed) mode \(octal): \(warning ?? "no warning")")
            }

            // The name we are about to write, planted.
            let (planted, _) = Self.attempt(target, in: URL(fileURLWithPath: "/nonexistent"))
            let name = (planted as NSString).lastPathComponent
            let path = dir.appendingPathComponent(name).path
            switch plant {
            case .linkToVictim: try victim.plant(at: path)
            case .danglingLink: try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: root.path + "/gone")
            case .fifo: #expect(mkfifo(path, 0o600) == 0)
            }
            let (_, error) = Self.attempt(target, in: dir)
            let expected = plant == .fifo ? "refusing to open \(path): it is not a regular file"
                : "refusing to open \(path): it is a symbolic link"
            #expect(error?.contains(expected) == true, "seed \(seed) \(target) \(plant): \(error ?? "no error")")
            #expect(victim.isUnchanged, "seed \(seed) \(target) \(plant): the victim changed")
        }
    }

    @Test("Seeded stall points: etcd stopped after N bytes ends the save after the stall timeout, nothing left")
    func seededStalls() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "stallfuzz"))
        let client = EtcdClient(EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)],
                                                        streamWindowSize: 256 << 10, snapshotStallTimeout: .seconds(1)))
        let value = [UInt8](repeating: 0x33, count: 400_000)
        for i in 0..<25 { try await client.put("/fuzz/\(i)", value: value + [UInt8(i)]) }
        var random = SeededRandom(seed: 0x5701)
        let dir = try TestDirectories.make("stall-fuzz")
        for seed in 0..<3 {
            let stopAfter = 32 << 10 + random.next(below: 3 << 20)   // somewhere in the first 3 MB of ~10 MB
            let path = dir.appendingPathComponent("snap-\(seed).db").path
            let stopped = StopOnce()
            var message = "saved"
            do {
                _ = try await SnapshotSaver.save(from: client, to: path, progressInterval: .zero) { progress in
                    if progress.bytesReceived >= stopAfter, stopped.first() { kill(etcd.pid, SIGSTOP) }
                }
            } catch {
                message = "\(error)"
            }
            kill(etcd.pid, SIGCONT)
            if stopped.happened {
                #expect(message.hasPrefix("etcd stopped sending the snapshot after "), "seed \(seed) at \(stopAfter): \(message)")
                #expect(message.contains(" for 1 s ("), "seed \(seed): \(message)")
            } else {
                Issue.record("seed \(seed): the save finished before \(stopAfter) bytes were reported")
            }
            #expect(!FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: path + ".part"),
                    "seed \(seed): something was left")
        }
        await client.close()
        await etcd.stop()
    }
}

/// True for the first caller only; remembers that it happened.
final class StopOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    func first() -> Bool { lock.withLock { defer { done = true }; return !done } }
    var happened: Bool { lock.withLock { done } }
}
