import EtcdTestSupport
import Foundation
import Testing
@testable import Recovery
#if canImport(Glibc)
import Glibc
#endif

/// `etcd-console restore` run as an operator runs it, against the practice-systemctl etcd of a `RestoreLab`.
@Suite("etcd-console restore", .serialized)
struct RestoreCommandTests {
    @Test("--dry-run prints every step's exact commands and changes nothing")
    func dryRun() async throws {
        let lab = try await RestoreLab.make(.v3_5)
        defer { lab.tearDownNow() }
        let result = try EtcdConsoleBinary.run(["restore", lab.snapshot, "--dry-run"] + lab.flags, environment: ["PATH": lab.environment["PATH"]!])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("systemctl stop etcd"))
        #expect(result.stdout.contains("etcdutl snapshot restore \(lab.snapshot) --data-dir \(lab.dataDir) --name master"))
        #expect(result.stdout.contains("mv \(lab.dataDir) \(lab.dataDir).before-restore-"))
        #expect(try await lab.contents().hasAfterSnapshotKey)
        #expect(!FileManager.default.fileExists(atPath: RestoreJournal.path(forDataDir: lab.dataDir)))

        let json = try EtcdConsoleBinary.run(["restore", lab.snapshot, "--dry-run", "-o", "json"] + lab.flags, environment: ["PATH": lab.environment["PATH"]!])
        let plan = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let steps = try #require(plan?["steps"] as? [[String: Any]])
        #expect(steps.compactMap { $0["kind"] as? String } == RestoreStepKind.allCases.map(\.rawValue))
        // JSON for machines (issue 11.8): times in RFC 3339 UTC, modes as octal strings.
        let createdAt = try #require(plan?["createdAt"] as? String, "createdAt is not a string: \(json.stdout)")
        #expect(createdAt.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/) != nil, "\(createdAt)")
        let mode = try #require((plan?["ownership"] as? [String: Any])?["mode"] as? String, "\(json.stdout)")
        #expect(mode.wholeMatch(of: /0[0-7]{3}/) != nil, "\(mode)")
    }

    @Test("Restored as a member the unit does not run: verify fails, it rolls back, and says what to change and how to plan again")
    func wrongMemberName() async throws {
        let lab = try await RestoreLab.make(.v3_5)
        defer { lab.tearDownNow() }
        var flags = lab.flags
        let name = try #require(flags.firstIndex(of: "--name"))
        flags[name + 1] = "other"
        let cluster = try #require(flags.firstIndex(of: "--initial-cluster"))
        flags[cluster + 1] = "other=\(lab.etcd.peerURL)"
        let result = try EtcdConsoleBinary.run(["restore", lab.snapshot, "--yes"] + flags, environment: ["PATH": lab.environment["PATH"]!])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stdout.contains("Rolled back."), "\(result.output)")
        #expect(result.stdout.contains("change: etcd's unit starts a member name other than the one restored; give the unit's with --name (and --initial-cluster), then plan again:"), "\(result.output)")
        #expect(result.stdout.contains("\n  etcd-console restore \(lab.snapshot) --dry-run\n"))
        #expect(try await lab.contents().hasAfterSnapshotKey, "the original data is back")
    }

    @Test("Without --yes and without a terminal it refuses, exit 2, and changes nothing")
    func refusesWithoutTerminal() async throws {
        let lab = try await RestoreLab.make(.v3_4)
        defer { lab.tearDownNow() }
        let result = try EtcdConsoleBinary.run(["restore", lab.snapshot] + lab.flags, environment: ["PATH": lab.environment["PATH"]!])
        #expect(result.status == 2)
        #expect(result.stderr.contains("refusing to restore without confirmation"))
        #expect(try await lab.isActive() == "active")
        #expect(try await lab.contents().hasAfterSnapshotKey)
    }

    @Test("Killed after the move step: the journal shows it, restore --resume completes it (JSON report)")
    func killedAfterMoveThenResume() async throws {
        let lab = try await RestoreLab.make(.v3_5)
        defer { lab.tearDownNow() }
        try await killAfterMove(lab)
        let journal = try #require(RestoreJournal.unfinished(dataDir: lab.dataDir))
        #expect(journal.movedAside)
        let diagnosis = DataDirDoctor(dataDir: lab.dataDir, now: Date()).examine()
        #expect(diagnosis.severity("restore-unfinished") == .critical, "\(diagnosis.summary)")
        #expect(diagnosis.findings("restore-unfinished").first?.action.contains("restore --resume") == true)

        let blocked = try EtcdConsoleBinary.run(["restore", lab.snapshot, "--yes"] + lab.flags, environment: ["PATH": lab.environment["PATH"]!])
        #expect(blocked.status == 1)
        #expect(blocked.stderr.contains("restore --resume"))

        let resumed = try EtcdConsoleBinary.run(["restore", "--resume", "--yes", "-o", "json"] + lab.flags.filter { $0 != lab.snapshot },
                                                environment: ["PATH": lab.environment["PATH"]!])
        #expect(resumed.status == 0, "\(resumed.output)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
        #expect(report["rolledBack"] as? Bool == false)
        #expect(report["movedAside"] as? String == journal.plan.asidePath)
        let steps = try #require(report["steps"] as? [[String: Any]])
        #expect(steps.allSatisfy { Set($0.keys).isSuperset(of: ["name", "status", "durationMs", "detail"]) })
        #expect(steps.last?["name"] as? String == "check-pods")
        #expect(try await lab.contents().keys == lab.snapshotKeys)
        #expect(RestoreJournal.unfinished(dataDir: lab.dataDir) == nil)
    }

    @Test("Two restore --resume at once on one journal: the second waits for the first, then finds it finished; etcd started once, every key back")
    func twoResumesAtOnce() async throws {
        let lab = try await RestoreLab.make(.v3_5)
        defer { lab.tearDownNow() }
        try await killAfterMove(lab)
        // The first resume runs the journal's restore tool, the slow wrapper, which waits again (its once-marker
        // and release file removed) until the release file: the second resume starts while the first holds the journal's lock.
        try? FileManager.default.removeItem(atPath: lab.root.appendingPathComponent("release-tool.once").path)
        try FileManager.default.removeItem(atPath: lab.root.appendingPathComponent("release-tool").path)
        let arguments = [EtcdConsoleBinary.path, "restore", "--resume", "--yes"] + lab.flags.filter { $0 != lab.snapshot }
        let environment = ["PATH": lab.environment["PATH"]!]
        let outputs = ["first", "second"].map { lab.root.appendingPathComponent("resume-\($0).log").path }
        let first = try CleanSpawn.spawn(arguments, environment: environment, output: outputs[0])
        let lockFile = RestoreJournal.path(forDataDir: lab.dataDir) + ".lock"
        try await poll("the first resume to hold the lock and its restore tool to wait") {
            (try? String(contentsOfFile: lockFile, encoding: .utf8))?.hasPrefix("\(first) ") == true
                && FileManager.default.fileExists(atPath: lab.root.appendingPathComponent("release-tool.once").path)
        }
        // Doctor, meanwhile, says a restore is running (not "resume it"), and names it.
        let during = DataDirDoctor(dataDir: lab.dataDir, now: Date()).examine()
        #expect(during.findings("restore-running").first?.message.contains("a restore is running on \(lab.dataDir) now (pid \(first), started ") == true,
                "\(during.summary)")
        #expect(during.findings("restore-unfinished").isEmpty)
        #expect(during.recommendation == "A restore is running on \(lab.dataDir) now: let it finish, then run doctor again")
        let second = try CleanSpawn.spawn(arguments, environment: environment, output: outputs[1])
        try await poll("the second resume to say it waits") {
            ((try? String(contentsOfFile: outputs[1], encoding: .utf8)) ?? "").contains("waiting for another etcd-console restore (pid \(first), started ")
        }
        FileManager.default.createFile(atPath: lab.root.appendingPathComponent("release-tool").path, contents: nil)
        var statuses: [Int32] = []
        for pid in [first, second] {
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            statuses.append((status >> 8) & 0xff)
        }
        let logs = outputs.map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" }
        #expect(statuses == [0, 1], "\(logs)")
        #expect(logs[1].contains("no unfinished restore journal at \(RestoreJournal.path(forDataDir: lab.dataDir)) any more: another etcd-console restore (pid \(first), started "),
                "\(logs[1])")
        #expect(!logs[1].contains("/\(RestoreStepKind.allCases.count)] "), "the second run ran no step: \(logs[1])")
        #expect(try await lab.isActive() == "active")
        #expect(try await lab.contents().keys == lab.snapshotKeys)
        #expect(RestoreJournal.unfinished(dataDir: lab.dataDir) == nil)
        let after = DataDirDoctor(dataDir: lab.dataDir, now: Date()).examine()
        #expect(after.findings("restore-running").isEmpty && after.findings("restore-unfinished").isEmpty, "\(after.summary)")
    }

    /// Polls `condition` every 20 ms for up to 120 s.
    private func poll(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("Killed after the move step: restore --rollback brings the original data dir back and starts etcd")
    func killedAfterMoveThenRollback() async throws {
        let lab = try await RestoreLab.make(.v3_4)
        defer { lab.tearDownNow() }
        try await killAfterMove(lab)
        let journal = try #require(RestoreJournal.unfinished(dataDir: lab.dataDir))

        let result = try EtcdConsoleBinary.run(["restore", "--rollback", "--yes"] + lab.flags, environment: ["PATH": lab.environment["PATH"]!])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("Rolled back"))
        #expect(try await lab.isActive() == "active")
        #expect(try await lab.contents().hasAfterSnapshotKey, "the original data is not back")
        #expect(!FileManager.default.fileExists(atPath: journal.plan.asidePath))
        #expect(RestoreJournal.unfinished(dataDir: lab.dataDir) == nil)
    }

    @Test("Ctrl-C after the move step stops between steps and rolls back: exit 1, original data, etcd running")
    func interruptRollsBack() async throws {
        let lab = try await RestoreLab.make(.v3_5)
        defer { lab.tearDownNow() }
        let (status, stderr) = try await killAfterMove(lab, signal: SIGINT)
        #expect(status == 1, "\(stderr)")
        #expect(stderr.contains("Interrupted: stopping after the current step"))
        #expect(stderr.contains("ROLLING BACK"))
        #expect(RestoreJournal.unfinished(dataDir: lab.dataDir) == nil)
        #expect(try await lab.isActive() == "active")
        #expect(try await lab.contents().hasAfterSnapshotKey)
    }

    @Test("Zero configuration: a TLS etcd is found from its systemd unit and checked with its own certificates")
    func discoveredTLSRestore() async throws {
        let lab = try await RestoreLab.make(.v3_5, tls: true)
        defer { lab.tearDownNow() }
        let discoveryRoot = try lab.writeSystemdUnit()
        let path = ["PATH": lab.environment["PATH"]!]

        let dryRun = try EtcdConsoleBinary.run(["restore", lab.snapshot, "--dry-run", "--discovery-root", discoveryRoot], environment: path)
        #expect(dryRun.status == 0, "\(dryRun.output)")
        #expect(dryRun.stdout.contains("--data-dir \(lab.dataDir) --name master --initial-cluster master=\(lab.etcd.peerURL) --initial-cluster-token etcd-console-test"))
        #expect(dryRun.stdout.contains("--endpoints \(lab.etcd.clientURL)"))

        let result = try EtcdConsoleBinary.run(["restore", lab.snapshot, "--yes", "-o", "json", "--discovery-root", discoveryRoot], environment: path)
        #expect(result.status == 0, "\(result.output)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["succeeded"] as? Bool == true)
        let contents = try await lab.contents()
        #expect(contents.keys == lab.snapshotKeys)
        #expect(!contents.hasAfterSnapshotKey)
    }

    /// Starts `restore --yes` and SIGKILLs it as soon as the journal records the data dir moved aside.
    @discardableResult
    private func killAfterMove(_ lab: RestoreLab, signal: Int32 = SIGKILL) async throws -> (status: Int32, stderr: String) {
        // The restore tool waits, before restoring, until this test has sent its signal (the release file) or
        // etcd-console is gone, so the signal lands inside the restore step however slowly this test notices the
        // journal line (the test pool can be starved on 2 busy cores: with a fixed 3 s wait a fresh-clone CI run
        // saw the restore finish first). Killed, the tool exits without restoring; interrupted, it restores. Only
        // the first restore waits (`--resume` runs the journal's tool, this wrapper, again).
        let slow = lab.root.appendingPathComponent("slow-tools")
        try FileManager.default.createDirectory(at: slow, withIntermediateDirectories: true)
        let tools = (lab.etcd.binaries.etcdctl as NSString).deletingLastPathComponent
        for tool in ["etcdutl", "etcdctl"] where FileManager.default.isExecutableFile(atPath: "\(tools)/\(tool)") {
            let wrapper = slow.appendingPathComponent(tool).path
            let release = lab.root.appendingPathComponent("release-tool").path
            let script = """
                #!/bin/sh
                if [ "$1 $2" = "snapshot restore" ] && [ "$3" != "--help" ] && mkdir '\(release).once' 2>/dev/null; then
                  waited=0
                  while [ ! -e '\(release)' ] && kill -0 $PPID 2>/dev/null && [ $waited -lt 1200 ]; do sleep 0.05; waited=$((waited + 1)); done
                  kill -0 $PPID 2>/dev/null || exit 1
                fi
                exec '\(tools)/\(tool)' "$@"

                """
            try Data(script.utf8).write(to: URL(fileURLWithPath: wrapper))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper)
        }
        var environment = lab.environment
        environment["PATH"] = slow.path + ":" + (environment["PATH"] ?? "")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: EtcdConsoleBinary.path)
        // Named with --restore-tool: the planner prefers the tool next to the unit's etcd over PATH (issue 11.2),
        // which would bypass the slow wrapper.
        let slowTool = ["etcdutl", "etcdctl"].map { slow.appendingPathComponent($0).path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }!
        process.arguments = ["restore", lab.snapshot, "--yes", "--restore-tool", slowTool] + lab.flags
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        let stderr = lab.root.appendingPathComponent("restore-\(signal).err")
        FileManager.default.createFile(atPath: stderr.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: stderr)
        try process.run()
        let journal = RestoreJournal.path(forDataDir: lab.dataDir)
        var killed = false
        for _ in 0..<3000 where !killed {
            if let text = try? String(contentsOfFile: journal, encoding: .utf8),
               text.split(separator: "\n").contains(where: { $0.contains("\"event\":\"step-finished\"") && $0.contains("\"step\":\"move-data-dir\"") }) {
                kill(process.processIdentifier, signal)
                killed = true
                // Interrupted, etcd-console finishes the step: let the tool restore. Killed, the tool must not
                // (it notices etcd-console gone once the wait below reaps it).
                if signal != SIGKILL {
                    FileManager.default.createFile(atPath: lab.root.appendingPathComponent("release-tool").path, contents: nil)
                }
            } else {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        process.waitUntilExit()
        // Killed before its tool began (the signal can land between the journal's step-started line and the
        // tool's start), the first wrapper never ran: without the release file the resume's run would wait.
        FileManager.default.createFile(atPath: lab.root.appendingPathComponent("release-tool").path, contents: nil)
        try #require(killed, "the restore never recorded the move step")
        return (process.terminationStatus, (try? String(contentsOf: stderr, encoding: .utf8)) ?? "")
    }
}
