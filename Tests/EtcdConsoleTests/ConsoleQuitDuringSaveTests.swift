import EtcdClient
import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Quitting the console during a save leaves no .part")
struct ConsoleQuitDuringSaveTests {
    enum Ending: String, CaseIterable { case q, sigterm, sighup, terminalGone }

    /// The console's pid, found by its command line (tmux runs it through env, which execs it).
    static func consolePid(_ dir: String) async throws -> Int32 {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while clock.now < deadline {
            let found = try spawnAndWait(["/usr/bin/pgrep", "-f", "--", "^\(EtcdConsoleBinary.path) --endpoints .* --dir \(dir) "])
            if let pid = found.output.split(separator: "\n").first.flatMap({ Int32($0) }) { return pid }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw EtcdTestSupportError("the console for \(dir) never started")
    }

    static func entries(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test("q (confirmed), SIGTERM, SIGHUP and a vanished terminal each stop a save in progress and remove its .part")
    func everyEnding() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "console-quit"))
        let client = EtcdClient(EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)]))
        let value = [UInt8](repeating: 0x71, count: 1_000_000)
        for i in 0..<6 { try await client.put("/quit/\(i)", value: value + [UInt8(i)]) }
        await client.close()
        let port = try #require(Int(etcd.clientURL.split(separator: ":").last ?? ""))
        for ending in Ending.allCases {
            kill(etcd.pid, SIGCONT)
            // The console reaches etcd through a relay that stops etcd once 1 MB of the snapshot went through, so
            // the save is in progress, and stays so, however fast the machine is.
            let relay = try StoppingRelay(to: port, stopping: etcd.pid, after: 1 << 20)
            defer { relay.close() }
            let dir = try TestDirectories.make("console-quit-\(ending.rawValue)").appendingPathComponent("backups").path
            // A long stall timeout: the save must still be waiting on the stopped etcd when the console ends.
            let tmux = try TmuxSession(["--endpoints", "http://127.0.0.1:\(relay.port)", "--dir", dir,
                                        "--data-dir", etcd.dataDir.path],
                                       environment: ["ETCD_CONSOLE_STALL_TIMEOUT": "600s"])
            try await tmux.waitFor("1/1 members healthy")
            let pid = try await Self.consolePid(dir)
            try tmux.press("2")
            try tmux.press("n")
            let clock = ContinuousClock()
            var deadline = clock.now + .seconds(60)
            var part: String?
            while (part == nil || !relay.stopped) && clock.now < deadline {
                part = Self.entries(dir).first { $0.hasSuffix(".db.part") }
                if part == nil || !relay.stopped { try await Task.sleep(for: .milliseconds(20)) }
            }
            let screen = (try? tmux.screen()) ?? ""
            try #require(part != nil, "\(ending): no save started: \(screen)")
            #expect(Self.entries(dir) == [part!], "\(ending): the save is in progress")
            switch ending {
            case .q:
                try tmux.press("q")
                try await tmux.waitFor("Quit while a job runs?")
                try tmux.press("y")
                try await tmux.waitFor("EXITED 0")
            case .sigterm:
                kill(pid, SIGTERM)
                try await tmux.waitFor("EXITED 143")
            case .sighup:
                kill(pid, SIGHUP)
                try await tmux.waitFor("EXITED 129")
            case .terminalGone:
                tmux.kill()
            }
            deadline = clock.now + .seconds(60)
            while kill(pid, 0) == 0 && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(kill(pid, 0) != 0, "\(ending): the console still runs")
            #expect(Self.entries(dir).isEmpty, "\(ending): \(Self.entries(dir)) left in \(dir)")
            tmux.kill()
        }
        kill(etcd.pid, SIGCONT)
        await etcd.stop()
    }
}
