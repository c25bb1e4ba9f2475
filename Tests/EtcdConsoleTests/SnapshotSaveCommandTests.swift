import EtcdTestSupport
import Foundation
import SnapshotStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("etcd-console snapshot save, end to end")
struct SnapshotSaveCommandTests {
    static let etcd = SharedProcess(EtcdOptions(version: .v3_4, name: "console-save"))

    @Test("--dir writes a timestamped, member-named file with mode 0600 and prints JSON about it")
    func saveToDirectory() async throws {
        let etcd = try await Self.etcd.get()
        _ = try etcd.etcdctl(["put", "/registry/pods/default/web-1", "x"])
        let dir = try TestDirectories.make("cli-save")
        // The data dir given is on the same filesystem as the snapshot directory: a warning, not a failure.
        let result = try ConsoleBinary.run(["snapshot", "save", "--endpoints", etcd.clientURL, "--dir", dir.path, "-o", "json",
                                            "--data-dir", etcd.dataDir.path])
        #expect(result.stderr.contains("warning: the snapshot directory \(dir.path) is on the same filesystem as etcd's data dir \(etcd.dataDir.path)"))
        #expect(result.status == 0, "\(result.output)")
        let json = try ConsoleBinary.json(result)
        let path = try #require(json["path"] as? String)
        #expect(URL(fileURLWithPath: path).deletingLastPathComponent().path == dir.path)
        let name = URL(fileURLWithPath: path).lastPathComponent
        #expect(name.range(of: #"^snapshot-\d{8}T\d{6}\.\d{3}Z-console-save\.db$"#, options: .regularExpression) != nil, "\(name)")
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(json["size"] as? Int == Int(info.st_size))
        #expect((json["sha256"] as? String)?.count == 64)
        #expect((json["durationMs"] as? Int).map { $0 >= 0 } == true)
        let revision = try #require(json["revision"] as? Int)
        #expect(Int64(revision) == (try EtcdDatabase(path: path).revision()))
        // etcd's own tool accepts the file.
        let status = try etcd.etcdctl(["snapshot", "status", path, "-w", "json"])
        #expect(status.succeeded, "\(status.output)")
        #expect(status.stdout.contains("\"revision\":\(revision)"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == [name, name + ".meta.json"])
        // The sidecar records the verified facts.
        let sidecar = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + ".meta.json"))) as? [String: Any])
        #expect(sidecar["health"] as? String == "good")
        #expect(sidecar["revision"] as? Int == revision)
        #expect(sidecar["memberName"] as? String == "console-save")
    }

    @Test("--file prints the path; an existing file is refused with exit 1 and left alone")
    func saveToFile() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("cli-file")
        let path = dir.appendingPathComponent("before-upgrade.db").path
        let first = try ConsoleBinary.run(["snapshot", "save", "--endpoints", etcd.clientURL, "--file", path])
        #expect(first.status == 0, "\(first.output)")
        #expect(first.stdout == path + "\n")
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let second = try ConsoleBinary.run(["snapshot", "save", "--endpoints", etcd.clientURL, "--file", path])
        #expect(second.status == 1)
        #expect(second.stderr == "error: \(path) already exists; snapshots are never overwritten\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("--dir and --file together is a usage error (exit 2)")
    func bothTargets() throws {
        let result = try ConsoleBinary.run(["snapshot", "save", "--dir", "/tmp", "--file", "/tmp/x.db"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("use either --dir or --file, not both"))
    }

    @Test("FILE as etcdctl takes it (`snapshot save FILE`) writes that file, relative to the working directory")
    func positionalFile() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("cli-positional")
        let path = dir.appendingPathComponent("etcdctl-style.db").path
        let saved = try ConsoleBinary.run(["snapshot", "save", path, "--endpoints", etcd.clientURL])
        #expect(saved.status == 0, "\(saved.output)")
        #expect(saved.stdout == path + "\n")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(FileManager.default.fileExists(atPath: path + ".meta.json"))
        let both = try ConsoleBinary.run(["snapshot", "save", path + "2", "--file", path + "3"])
        #expect(both.status == 2)
        #expect(both.stderr.contains("give the file once: either --file PATH or PATH, not both"), "\(both.output)")
        let dirToo = try ConsoleBinary.run(["snapshot", "save", path + "4", "--dir", "/tmp"])
        #expect(dirToo.status == 2)
        #expect(dirToo.stderr.contains("use either --dir or --file, not both"))
    }

    @Test("etcd unreachable: exit 1, nothing written")
    func unreachable() throws {
        let dir = try TestDirectories.make("cli-unreachable")
        let result = try ConsoleBinary.run(["snapshot", "save", "--endpoints", "http://127.0.0.1:9", "--dir", dir.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("could not reach http://127.0.0.1:9: connection refused"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}

@Suite("snapshot save on a terminal")
struct SnapshotSaveTerminalTests {
    @Test("On a terminal a progress bar with percent, rate and ETA is drawn on stderr, then cleared")
    func progressBar() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-tty"))
        defer { etcd.stopNow() }
        // ~30 MB so the save lasts long enough for a few redraws.
        for i in 0..<30 {
            let value = String(repeating: String(format: "%08x", i &* 2654435761), count: 125_000)
            _ = try etcd.etcdctl(["put", "/tty/\(i)"], stdin: value)
        }
        let dir = try TestDirectories.make("cli-tty")
        let path = dir.appendingPathComponent("tty.db").path
        let typescript = dir.appendingPathComponent("typescript").path
        // script(1) gives the command a pseudo-terminal and records everything written to it.
        let command = "\(ConsoleBinary.path) snapshot save --endpoints \(etcd.clientURL) --file \(path) --data-dir /nonexistent"
        let result = try runCommand("/usr/bin/script", ["-q", "-e", "-c", command, typescript])
        #expect(result.status == 0, "\(result.output)")
        let screen = try String(contentsOfFile: typescript, encoding: .utf8)
        #expect(screen.contains("%"), "no percentage in: \(screen.suffix(400))")
        #expect(screen.contains("/s"))
        #expect(screen.contains("ETA"))
        #expect(screen.contains("\r\u{1B}[K"))
        #expect(screen.contains(path))
        // Without a terminal nothing but the path is printed.
        let plain = try ConsoleBinary.run(["snapshot", "save", "--endpoints", etcd.clientURL, "--file", path + ".2",
                                           "--data-dir", "/nonexistent"])
        #expect(plain.stdout == path + ".2\n")
        #expect(plain.stderr.isEmpty)
    }
}

@Suite("snapshot save without permission to write")
struct SnapshotSavePermissionTests {
    @Test("A directory the user may not write to: exit 1, the reason and what to do, directory unchanged (run as nobody)")
    func permissionDenied() async throws {
        let etcd = try await SnapshotSaveCommandTests.etcd.get()
        let dir = try TestDirectories.make("cli-perm")
        chmod(dir.path, 0o755)   // root-owned: nobody may read it but not write it
        var parent = dir.deletingLastPathComponent()
        // Only the test's own directories are opened up for traversal, never /tmp itself.
        while parent.path.hasPrefix(TestDirectories.base) {
            chmod(parent.path, 0o755)
            parent = parent.deletingLastPathComponent()
        }
        try Data("older".utf8).write(to: dir.appendingPathComponent("older.db"))
        let result = try runCommand("/usr/sbin/runuser", ["-u", "nobody", "--", ConsoleBinary.path, "snapshot", "save",
                                                          "--endpoints", etcd.clientURL, "--dir", dir.path, "--data-dir", "/nonexistent"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("Permission denied (check the directory's owner and mode, or run as a user who may write there)"),
                "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["older.db"])
    }
}

@Suite("snapshot save interrupted by Ctrl-C")
struct SnapshotSaveInterruptTests {
    @Test("SIGINT during a save: exit 1, 'snapshot cancelled; nothing was saved', no file and no .part")
    func interrupted() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "console-sigint"))
        defer { etcd.stopNow() }
        // Enough data (~40 MB) that the stream lasts longer than the polling below.
        let fill = try ConsoleBinary.run(["fill", "--endpoints", etcd.clientURL, "--megabytes", "40", "--command-timeout", "60s"], timeout: .seconds(600))
        try #require(fill.status == 0, "\(fill.output)")
        let dir = try TestDirectories.make("cli-sigint")
        let path = dir.appendingPathComponent("interrupted.db").path
        let save = Process()
        save.executableURL = URL(fileURLWithPath: ConsoleBinary.path)
        save.arguments = ["snapshot", "save", "--endpoints", etcd.clientURL, "--file", path, "--data-dir", "/nonexistent"]
        let errURL = dir.appendingPathComponent("stderr.txt")
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        save.standardError = try FileHandle(forWritingTo: errURL)
        save.standardOutput = FileHandle.nullDevice
        // Freeze etcd as soon as the .part exists, so the save is stuck mid-stream when Ctrl-C arrives.
        try save.run()
        var sawPart = false
        for _ in 0..<5000 where !sawPart {
            sawPart = FileManager.default.fileExists(atPath: path + ".part")
            if !sawPart { usleep(1000) }
        }
        try #require(sawPart, "the save never created its .part")
        kill(etcd.pid, SIGSTOP)
        defer { kill(etcd.pid, SIGCONT) }
        kill(save.processIdentifier, SIGINT)
        for _ in 0..<500 where save.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!save.isRunning)
        #expect(save.terminationStatus == 1)
        let stderr = try String(contentsOf: errURL, encoding: .utf8)
        #expect(stderr.contains("snapshot cancelled; nothing was saved"), "\(stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["stderr.txt"])
    }
}
