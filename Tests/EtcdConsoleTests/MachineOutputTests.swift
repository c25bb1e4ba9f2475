import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built binary with stdout a pipe whose read end is already closed: every write to stdout fails
/// with EPIPE (or raises SIGPIPE), as with `etcd-console status -o json | true` once `true` has exited.
func runIntoClosedPipe(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> (reason: Process.TerminationReason, status: Int32, stderr: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw EtcdTestSupportError("pipe: \(String(cString: strerror(errno)))") }
    close(fds[0])
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ConsoleBinary.path)
    process.arguments = arguments
    let output = FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
    process.standardOutput = output
    let errors = try TestDirectories.make("closed-pipe").appendingPathComponent("stderr")
    FileManager.default.createFile(atPath: errors.path, contents: nil)
    process.standardError = try FileHandle(forWritingTo: errors)
    try process.run()
    try output.close()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        guard ContinuousClock.now < deadline else {
            process.terminate()
            throw EtcdTestSupportError("etcd-console \(arguments.joined(separator: " ")) did not end within \(timeout)")
        }
        usleep(20_000)  // polling the exit, not waiting for it to happen
    }
    return (process.terminationReason, process.terminationStatus, (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
}

@Suite("Machine output: closed pipes, JSON shapes, -w (issue 11.6, 11.8)")
struct MachineOutputTests {
    static let etcd = SharedProcess(EtcdOptions(version: .v3_5, name: "machine-output"))

    @Test("status -o json, status, snapshot save -o json and snapshot list into a closed pipe end quietly, exit 0")
    func closedPipe() async throws {
        let etcd = try await Self.etcd.get()
        let dir = try TestDirectories.make("closed-pipe-save")
        for arguments in [["status", "--endpoints", etcd.clientURL, "-o", "json"],
                          ["status", "--endpoints", etcd.clientURL],
                          ["snapshot", "save", "--endpoints", etcd.clientURL, "--dir", dir.path, "-o", "json", "--data-dir", "/nonexistent"],
                          ["snapshot", "list", "--dir", dir.path, "-o", "json"]] {
            let result = try runIntoClosedPipe(arguments)
            #expect(result.reason == .exit, "\(arguments): ended by signal \(result.status)")
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"), "\(result.stderr)")
            #expect(!result.stderr.contains("backtrace"), "\(result.stderr)")
        }
        // The save whose output nobody read still finished: snapshot and sidecar are there and good.
        let list = try ConsoleBinary.json(try ConsoleBinary.run(["snapshot", "list", "--dir", dir.path, "-o", "json"]))
        let snapshots = try #require(list["snapshots"] as? [[String: Any]])
        #expect(snapshots.count == 1)
        #expect(snapshots.first?["health"] as? String == "good")
    }

    @Test("status -o json with etcd down lists each endpoint with reachable false and the error, exit 1")
    func statusDown() throws {
        let result = try ConsoleBinary.run(["status", "--endpoints", "http://127.0.0.1:9,http://127.0.0.1:11", "-o", "json"])
        #expect(result.status == 1)
        let report = try ConsoleBinary.json(result)
        let members = try #require(report["members"] as? [[String: Any]])
        #expect(members.compactMap { $0["endpoint"] as? String }.sorted() == ["http://127.0.0.1:11", "http://127.0.0.1:9"])
        for member in members {
            #expect(member["reachable"] as? Bool == false)
            #expect(member["id"] is NSNull)
            let endpoint = member["endpoint"] as? String ?? "?"
            #expect((member["errors"] as? [String])?.first?.hasPrefix("could not reach \(endpoint): connection refused") == true,
                    "\(member)")
        }
        #expect(result.stderr.contains("error: none of the 2 endpoints answered:"))
        let one = try ConsoleBinary.run(["status", "--endpoints", "http://127.0.0.1:9", "-w", "json"])
        #expect(one.status == 1)
        #expect((try ConsoleBinary.json(one)["members"] as? [[String: Any]])?.count == 1)
    }

    @Test("-w json and --write-out table are accepted as etcdctl spells them")
    func writeOut() async throws {
        let etcd = try await Self.etcd.get()
        let json = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL, "-w", "json"])
        #expect(json.status == 0, "\(json.output)")
        #expect((try ConsoleBinary.json(json)["members"] as? [Any])?.count == 1)
        let table = try ConsoleBinary.run(["status", "--endpoints", etcd.clientURL, "--write-out", "table"])
        #expect(table.status == 0)
        #expect(table.stdout.hasPrefix("ENDPOINT"))
        let bad = try ConsoleBinary.run(["status", "-w", "yaml"])
        #expect(bad.status == 2)
    }

    @Test("Every command's JSON top level is an object, with times in RFC 3339 UTC")
    func objectsAtTheTop() async throws {
        let scene = try await CatalogScene.shared.get()
        let scratch = try TestDirectories.make("json-top")
        let tool = try #require(try EtcdBinaries.locate(.v3_5).etcdutl)
        let noBackups = try TestDirectories.make("json-no-backups")
        // Each command with the exit status it has here: doctor and schedule status exit 1 when they find
        // something to act on (no data dir; no backup ever ran), and still print their whole report.
        let commands: [([String], Int32)] = [
            (["snapshot", "list", "--dir", scene.dir.path], 0),
            (["snapshot", "verify", "--all", "--dir", scene.dir.path], 0),
            (["snapshot", "verify", scene.first], 0),
            (["snapshot", "inspect", scene.first], 0),
            (["snapshot", "browse", scene.first, "--resource", "pods"], 0),
            (["snapshot", "diff", scene.first, scene.second], 0),
            (["snapshot", "prune", "--dir", scene.dir.path, "--dry-run"], 0),
            (["snapshot", "save", "--file", scratch.appendingPathComponent("saved.db").path, "--endpoints", scene.etcd.clientURL], 0),
            (["status", "--endpoints", scene.etcd.clientURL], 0),
            (["doctor", "--data-dir", scratch.appendingPathComponent("no-data").path], 1),
            (["config", "show"], 0),
            (["schedule", "status", "--dir", noBackups.path], 1),
            (["restore", scene.first, "--dry-run", "--data-dir", scratch.appendingPathComponent("restored").path,
              "--restore-tool", tool, "--endpoints", scene.etcd.clientURL], 0),
        ]
        let rfc3339 = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/
        for (command, status) in commands {
            let result = try ConsoleBinary.run(command + ["-o", "json"], environment: ["HOME": scratch.path])
            #expect(result.status == status, "\(command): \(result.output)")
            let top = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
            #expect(top is [String: Any], "\(command) prints \(type(of: top))")
            // No time as a bare number: every key ending in At or Timestamp holds an RFC 3339 string.
            func times(_ value: Any) -> [(String, Any)] {
                if let object = value as? [String: Any] {
                    return object.flatMap { key, inner in
                        (key.hasSuffix("At") || key.hasSuffix("Timestamp") ? [(key, inner)] : []) + times(inner)
                    }
                }
                if let array = value as? [Any] { return array.flatMap(times) }
                return []
            }
            for (key, value) in times(top) where !(value is NSNull) {
                #expect((value as? String)?.wholeMatch(of: rfc3339) != nil, "\(command): \(key) = \(value)")
            }
        }
    }
}
