import EtcdClient
import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Saving a snapshot: atomic, checked, identical to etcdctl's, and nothing left on failure")
struct SnapshotSaverTests {
    private func client(_ etcd: EtcdProcess, window: Int32 = 4 << 20) throws -> EtcdClient {
        EtcdClient(EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)], streamWindowSize: window))
    }

    /// Writes `count` pseudo-random values of `size` bytes (random so the db cannot shrink them).
    private func fill(_ client: EtcdClient, prefix: String, count: Int, size: Int) async throws {
        var random = SystemRandomNumberGenerator()
        var value = [UInt8](repeating: 0, count: size)
        for i in 0..<count {
            for j in stride(from: 0, to: size, by: 8) { value[j] = UInt8.random(in: 0...255, using: &random) }
            try await client.put("\(prefix)\(i)", value: value)
        }
    }

    private func entries(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    @Test("A few hundred MB snapshot has the same db bytes and revision as etcdctl's, mode 0600, no .part", arguments: EtcdVersion.allCases)
    func sameBytesAsEtcdctl(version: EtcdVersion) async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version, name: "big\(version == .v3_4 ? "34" : "35")",
                                                           quotaBackendBytes: 4 << 30))
        defer { etcd.stopNow() }
        let client = try client(etcd)
        try await withCleanup({ await client.close() }) { () async throws in
            // 3.4 carries the few-hundred-MB case; 3.5 the same path at a smaller size to keep the suite short.
            try await fill(client, prefix: "/big/", count: version == .v3_4 ? 220 : 40, size: 1_000_000)
            let dir = try TestDirectories.make("save-big")
            let ours = dir.appendingPathComponent("ours.db").path
            let result = try await SnapshotSaver.save(from: client, to: ours)
            let theirs = dir.appendingPathComponent("etcdctl.db").path
            let saved = try etcd.etcdctl(["snapshot", "save", theirs])
            #expect(saved.succeeded, "\(saved.output)")

            let a = try Data(contentsOf: URL(fileURLWithPath: ours))
            let b = try Data(contentsOf: URL(fileURLWithPath: theirs))
            #expect(a.count == result.size)
            #expect(a.count > (version == .v3_4 ? 200_000_000 : 40_000_000))
            #expect(a.count == b.count)
            #expect(a.prefix(a.count - 32) == b.prefix(b.count - 32), "db bytes differ from etcdctl's")
            #expect(Array(a.suffix(32)).hexString == result.sha256)
            let ourStatus = try EtcdDatabase(path: ours).status()
            let theirStatus = try EtcdDatabase(path: theirs).status()
            #expect(ourStatus.revision == theirStatus.revision)
            #expect(ourStatus.revision == result.revision)
            var info = stat()
            stat(ours, &info)
            #expect(info.st_mode & 0o777 == 0o600)
            #expect(!FileManager.default.fileExists(atPath: ours + ".part"))
            #expect(result.memberName == etcd.options.name)
        }
    }

    @Test("An existing file is never overwritten")
    func existingFile() async throws {
        let etcd = try await SharedEtcdForSaves.get()
        let client = try client(etcd)
        try await withCleanup({ await client.close() }) { () async throws in
            let dir = try TestDirectories.make("save-exists")
            let path = dir.appendingPathComponent("taken.db").path
            try Data("precious".utf8).write(to: URL(fileURLWithPath: path))
            await #expect(throws: SnapshotStoreError.self) { _ = try await SnapshotSaver.save(from: client, to: path) }
            do {
                _ = try await SnapshotSaver.save(from: client, to: path)
            } catch let error as SnapshotStoreError {
                #expect(error.kind == .exists)
                #expect(error.description == "\(path) already exists; snapshots are never overwritten")
            }
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
            #expect(entries(dir) == ["taken.db"])
        }
    }

    @Test("A directory that does not exist is an I/O error naming the .part")
    func missingDirectory() async throws {
        let etcd = try await SharedEtcdForSaves.get()
        let client = try client(etcd)
        try await withCleanup({ await client.close() }) { () async throws in
            let path = "/nonexistent-\(UUID().uuidString)/snap.db"
            do {
                _ = try await SnapshotSaver.save(from: client, to: path)
                Issue.record("save into a missing directory succeeded")
            } catch let error as SnapshotStoreError {
                #expect(error.kind == .io)
                #expect(error.description == "cannot create \(path).part: No such file or directory")
            }
        }
    }

    @Test("etcd killed mid-save: clear error, no file, no .part")
    func etcdKilled() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "killsave"))
        defer { etcd.stopNow() }
        let client = try client(etcd, window: 256 << 10)
        try await withCleanup({ await client.close() }) { () async throws in
            try await fill(client, prefix: "/k/", count: 40, size: 500_000)
            let dir = try TestDirectories.make("save-killed")
            let path = dir.appendingPathComponent("snap.db").path
            let killed = ManagedFlag()
            do {
                _ = try await SnapshotSaver.save(from: client, to: path) { progress in
                    if progress.bytesReceived > 0 && killed.setOnce() { etcd.kill() }
                }
                Issue.record("save succeeded although etcd was killed")
            } catch let error as SnapshotStoreError {
                #expect(error.kind == .source)
                #expect(error.description.contains("snapshot from \(etcd.clientURL) failed after"))
                #expect(error.description.contains("the server closed the connection"))
                #expect(error.description.hasSuffix("nothing was saved"))
            }
            #expect(entries(dir).isEmpty)
        }
    }

    @Test("A cancelled save leaves nothing behind")
    func cancelled() async throws {
        let etcd = try await SharedEtcdForSaves.get()
        let client = try client(etcd, window: 64 << 10)
        try await withCleanup({ await client.close() }) { () async throws in
            let dir = try TestDirectories.make("save-cancel")
            let path = dir.appendingPathComponent("snap.db").path
            let started = ManagedFlag()
            let save = Task {
                try await SnapshotSaver.save(from: client, to: path) { _ in _ = started.setOnce() }
            }
            while !started.isSet { try await Task.sleep(for: .milliseconds(5)) }
            save.cancel()
            let result = await save.result
            #expect(throws: SnapshotStoreError.self) { try result.get() }
            if case .failure(let error as SnapshotStoreError) = result { #expect(error.kind == .cancelled) }
            #expect(entries(dir).isEmpty)
        }
    }

    @Test("A full disk: the no-space error, and the directory is left as it was")
    func diskFull() async throws {
        let etcd = try await SharedEtcdForSaves.get()
        let client = try client(etcd)
        try await withCleanup({ await client.close() }) { () async throws in
            let dir = try TestDirectories.make("save-full")
            let mounted = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir.path])
            try #require(mounted.succeeded, "a small tmpfs is needed to fill a disk: \(mounted.output)")
            defer { _ = try? runCommand("/bin/umount", [dir.path]) }
            let keep = dir.appendingPathComponent("older-snapshot.db")
            try Data(repeating: 7, count: 1000).write(to: keep)
            let path = dir.appendingPathComponent("snap.db").path
            do {
                _ = try await SnapshotSaver.save(from: client, to: path)
                Issue.record("save into a 2 MB filesystem succeeded")
            } catch let error as SnapshotStoreError {
                #expect(error.kind == .noSpace)
                #expect(error.description.contains("No space left on device (the disk is full; free space or choose another --dir)"))
            }
            #expect(entries(dir) == ["older-snapshot.db"])
        }
    }
}


extension SnapshotSaverTests {
    @Test("etcd SIGSTOPped mid-stream: the save ends after the stall timeout naming the bytes so far; nothing left")
    func stalledMidStream() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "stallsave"))
        // The first progress report comes with the first bytes written; with a 256 KiB stream window etcd can
        // have sent at most that much more when it stops, far less than the 10 MB it holds.
        let client = EtcdClient(EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)],
                                                        streamWindowSize: 256 << 10, snapshotStallTimeout: .seconds(2)))
        try await fill(client, prefix: "/stall/", count: 20, size: 500_000)
        let dir = try TestDirectories.make("save-stalled")
        let path = dir.appendingPathComponent("snap.db").path
        let stopped = ManagedFlag()
        let clock = ContinuousClock()
        let begun = clock.now
        let outcome: Result<SnapshotSaveResult, Error>
        do {
            outcome = .success(try await SnapshotSaver.save(from: client, to: path) { progress in
                if progress.bytesReceived > 0 && stopped.setOnce() { kill(etcd.pid, SIGSTOP) }
            })
        } catch {
            outcome = .failure(error)
        }
        kill(etcd.pid, SIGCONT)
        switch outcome {
        case .success:
            Issue.record("save succeeded although etcd was stopped")
        case .failure(let error):
            let text = "\(error)"
            #expect((error as? SnapshotStoreError)?.kind == .source)
            #expect(text.hasPrefix("etcd stopped sending the snapshot after "), "\(text)")
            #expect(text.contains(" for 2 s (\(etcd.clientURL); is etcd stopped or overloaded?"), "\(text)")
            #expect(!text.hasPrefix("etcd stopped sending the snapshot after 0 B"), "stopped mid-stream: \(text)")
            #expect(text.hasSuffix("nothing was saved"))
        }
        #expect(clock.now - begun >= .seconds(2), "not before the stall timeout")
        #expect(entries(dir).isEmpty)
        await client.close()
        await etcd.stop()
    }

    @Test("Disk full while writing the sidecar: the save fails whole, the snapshot is removed, the directory as before")
    func sidecarDiskFull() async throws {
        let etcd = try await SharedEtcdForSaves.get()
        let client = try client(etcd)
        let dir = try TestDirectories.make("sidecar-full")
        let mounted = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", dir.path])
        try #require(mounted.succeeded, "a small tmpfs is needed to fill a disk: \(mounted.output)")
        defer { _ = try? runCommand("/bin/umount", [dir.path]) }
        let keep = dir.appendingPathComponent("older-snapshot.db")
        try Data(repeating: 7, count: 1000).write(to: keep)
        let filler = dir.appendingPathComponent("filler").path
        let path = dir.appendingPathComponent("snap.db").path
        let catalog = SnapshotCatalog.standard(directory: dir.path)
        let outcome: Result<SnapshotCatalog.SavedSnapshot, Error>
        do {
            // The hook runs after the snapshot is complete and renamed, before verify and sidecar: the disk fills.
            outcome = .success(try await catalog.saveVerified(from: client, fileName: "snap.db",
                                                              streamed: { _ in Self.fillDisk(filler) }))
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success:
            Issue.record("save succeeded although the sidecar could not be written")
        case .failure(let error):
            let text = "\(error)"
            #expect((error as? SnapshotStoreError)?.kind == .noSpace)
            #expect(text.hasPrefix("could not write the sidecar \(path).meta.json: cannot write \(path).meta.json.part: "
                + "No space left on device (the disk is full; free space or choose another --dir)"), "\(text)")
            #expect(text.hasSuffix("the snapshot \(path) was removed again, nothing was saved"))
        }
        #expect(entries(dir) == ["filler", "older-snapshot.db"])
        await client.close()
    }

    @Test("Two saves in the same second (even the same millisecond) both produce snapshots, with parseable names")
    func sameSecondSaves() async throws {
        let etcd = try await SharedEtcdForSaves.get()
        let client = try client(etcd)
        let dir = try TestDirectories.make("same-second")
        let catalog = SnapshotCatalog.standard(directory: dir.path)
        let takenAt = Date(timeIntervalSince1970: 1_795_000_000.25)
        async let first = catalog.saveVerified(from: client, takenAt: takenAt)
        async let second = catalog.saveVerified(from: client, takenAt: takenAt)
        let names = try await [first, second].map { ($0.save.path as NSString).lastPathComponent }.sorted()
        #expect(Set(names).count == 2, "\(names)")
        #expect(names.allSatisfy { $0.hasPrefix("snapshot-20261118T") && $0.hasSuffix("Z-saves.db") }, "\(names)")
        #expect(names.first?.hasPrefix("snapshot-20261118T110640.250Z") == true, "\(names)")
        for name in names {
            #expect(SnapshotCatalog.takenAt(fromFileName: name) == Date(timeIntervalSince1970: 1_795_000_000))
        }
        #expect(try catalog.list().entries.count == 2)
        await client.close()
    }

    /// Writes `path` until the filesystem has no byte left.
    static func fillDisk(_ path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var chunk = 1 << 20
        let buffer = [UInt8](repeating: 0xee, count: chunk)
        while chunk > 0 {
            if write(fd, buffer, chunk) < 0 { chunk /= 2 }
        }
        fsync(fd)
    }
}

/// One etcd with ~6 MB of data for the failure tests that do not stop it.
enum SharedEtcdForSaves {
    private static let shared = Holder()

    static func get() async throws -> EtcdProcess { try await shared.get() }

    private actor Holder {
        private var task: Task<EtcdProcess, Error>?
        func get() async throws -> EtcdProcess {
            if let task { return try await task.value }
            let task = Task {
                let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "saves"))
                let client = EtcdClient(EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)]))
                let value = [UInt8](repeating: 0x5a, count: 300_000)
                for i in 0..<20 { try await client.put("/saves/\(i)", value: value + [UInt8(i)]) }
                await client.close()
                return etcd
            }
            self.task = task
            return try await task.value
        }
    }
}

/// A flag set once, from any thread.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    /// True for the caller that set it.
    func setOnce() -> Bool { lock.withLock { defer { value = true }; return !value } }
    var isSet: Bool { lock.withLock { value } }
}
