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
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // Nothing else of this test process goes along: a tmux server that kept, say, the descriptor through which
    // Foundation learns that another test's etcdctl exited would make that test wait until tmux ends.
    closeFrom(&actions, 3)
    let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
    let cArguments = argv.map { strdup($0) } + [nil]
    let cEnvironment = env.map { strdup($0) } + [nil]
    defer { (cArguments + cEnvironment).forEach { free($0) } }
    // Signals as a shell would leave them: this test thread blocks most signals, and a tmux server that inherited
    // the mask never saw its panes exit (SIGCHLD) and outlived kill-server.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, cEnvironment)
    guard spawned == 0 else { throw EtcdTestSupportError("could not run \(argv[0]): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
}

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which the Glibc module does not export.
private let closeFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
        preconditionFailure("glibc without posix_spawn_file_actions_addclosefrom_np (needs 2.34+)")
    }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()
