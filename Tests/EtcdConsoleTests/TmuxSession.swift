import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The console running in a detached tmux session of a fixed size, on its own tmux server (so tests never
/// touch an operator's sessions); the screen is read with `capture-pane`, keys sent with `send-keys`.
final class TmuxSession: @unchecked Sendable {
    let socket: String
    let name = "console"

    /// Runs `etcd-console arguments` at `width`x`height`; when it exits the pane shows "EXITED <status>".
    /// `prefix` runs before the binary (e.g. `setsid`, to start the console outside tmux's process group).
    init(_ arguments: [String], width: Int = 80, height: Int = 24, environment: [String: String] = [:],
         prefix: [String] = []) throws {
        socket = "etcd-console-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        let env = ["LANG": "C.UTF-8", "TERM": "screen-256color"].merging(environment) { $1 }
        // NO_COLOR only when a test asks for it (swift test or CI may set it for their own output).
        let unset = ["ETCDCTL_ENDPOINTS", "ETCDCTL_CACERT", "ETCDCTL_CERT", "ETCDCTL_KEY", "ETCDCTL_USER", "ETCDCTL_PASSWORD", "NO_COLOR"]
        let command = (["env"] + unset.flatMap { ["-u", $0] } + env.map { "\($0.key)=\($0.value)" }
                       + prefix + [EtcdConsoleBinary.path] + arguments).map(Self.quote).joined(separator: " ")
            + "; echo EXITED $?; sleep 600"
        try tmux(["new-session", "-d", "-s", name, "-x", String(width), "-y", String(height), command])
    }

    deinit { kill() }

    /// Ends the tmux server: the console's terminal disappears.
    func kill() { _ = try? tmux(["kill-server"]) }

    static func quote(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    @discardableResult
    private func tmux(_ arguments: [String]) throws -> String {
        let (status, text) = try spawnAndWait(["/usr/bin/tmux", "-L", socket] + arguments)
        guard status == 0 else { throw EtcdTestSupportError("tmux \(arguments.joined(separator: " ")) failed (status \(status)): \(text)") }
        return text
    }

    /// The screen as text, one line per row.
    func screen() throws -> String { try tmux(["capture-pane", "-p", "-t", name]) }

    /// Resizes the window, as an operator resizing their terminal would (the console gets SIGWINCH).
    func resize(width: Int, height: Int) throws {
        try tmux(["resize-window", "-t", name, "-x", String(width), "-y", String(height)])
    }

    /// The foreground colors (30-37) the screen uses now, from `capture-pane -e`'s escape sequences.
    func foregroundColors() throws -> Set<Int> {
        let text = try tmux(["capture-pane", "-e", "-p", "-t", name])
        var colors: Set<Int> = []
        for match in text.matches(of: /\x1B\[([0-9;]*)m/) {
            for code in match.1.split(separator: ";").compactMap({ Int($0) }) where (30...37).contains(code) { colors.insert(code) }
        }
        return colors
    }

    /// Sends tmux key names ("Enter", "Escape", "Down", "C-d") or literal characters.
    func press(_ keys: String...) throws { try tmux(["send-keys", "-t", name] + keys) }

    /// Waits until the screen contains `text`; a test failure (with the screen) when it never does. The limit
    /// only guards against hanging forever: it is generous and nothing is measured with it.
    @discardableResult
    func waitFor(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        try await waitUntil(sourceLocation: sourceLocation, "\"\(text)\"") { $0.contains(text) }
    }

    @discardableResult
    func waitUntil(sourceLocation: SourceLocation = #_sourceLocation, _ what: String,
                   _ condition: (String) -> Bool) async throws -> String {
        var last = ""
        for _ in 0..<1200 {
            last = try screen()
            if condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the console never showed \(what); last screen:\n\(last)", sourceLocation: sourceLocation)
        throw EtcdTestSupportError("screen wait failed")
    }
}

/// Runs a program with posix_spawn and waits with waitpid; returns its status and output (stdout + stderr).
/// Foundation's Process waits until every process holding its exit-notification descriptor is gone, so a program
/// that leaves a daemon or a background job behind (tmux new-session, `sh -c "... &"`) made it hang; and a
/// daemon started without closing inherited descriptors made other tests' Process calls hang the same way.
func spawnAndWait(_ argv: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let output = try TestDirectories.make("spawn").appendingPathComponent("out").path
    defer { try? FileManager.default.removeItem(atPath: (output as NSString).deletingLastPathComponent) }
    // Nothing else of this test process goes along, signals as a shell leaves them (CleanSpawn): a tmux server
    // that inherited the mask never saw its panes exit (SIGCHLD) and outlived kill-server.
    let pid = try CleanSpawn.spawn(argv, environment: environment, output: output)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
}

