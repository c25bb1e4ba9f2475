import ArgumentParser
import ConsoleUI
import CursesTerminal
import EtcdClient
import Foundation
import Operations
import Recovery
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

/// The console, and the default subcommand: `etcd-console --endpoints URL --dir D` opens it. Its flags live
/// here, not on the root command, so they never take a subcommand's `--dir` or `--data-dir` away from it.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Open the console: Members, Snapshots, Jobs, browse, diff and the restore wizard (the default).",
        discussion: """
        Keys: ? help, : commands (:members :snapshots :jobs :restore :q), tab or 1-3 switch screens, esc back, \
        q quit. NO_COLOR turns colors off. --readonly removes delete, prune and restore.

        Examples:
          etcd-console
          etcd-console --endpoints https://10.0.0.5:2379 --cacert ca.pem \\
              --cert c.pem --key k.pem --dir /backup/etcd
          etcd-console --readonly
        """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("Snapshot directory (env ETCD_CONSOLE_DIR, config file, else /var/lib/etcd-backup).", valueName: "dir"))
    var dir: String?

    @Option(help: ArgumentHelp("etcd's data dir, examined by the doctor when etcd is down (default: discovered, else /var/lib/etcd).", valueName: "dir"))
    var dataDir: String?

    @Option(help: ArgumentHelp("The systemd unit that runs etcd, for the restore wizard (default: discovered, else etcd).", valueName: "name"))
    var unit: String?

    @Flag(help: "Look only: no delete, prune or restore.")
    var readonly = false

    @OptionGroup var kubernetes: KubernetesReadOptions

    /// Discovery looks under this directory instead of / (the demo roots it in its sandbox, so the practice
    /// unit is the one found and no host unit such as Debian's etcd.service wins).
    @Option(help: .hidden)
    var discoveryRoot: String = "/"

    func run() async throws {
        guard Terminal.stdinIsTTY, isatty(STDOUT_FILENO) == 1 else {
            printError("""
            error: the console needs a terminal (stdin and stdout are not one).
            Headless commands: etcd-console status, etcd-console snapshot save, etcd-console --help.
            """)
            throw ExitCode(2)
        }
        // Flags > environment > config file > discovery > defaults, as for every command.
        var extra: [ConfigurationKey: String] = [:]
        if let dir { extra[.dir] = absolutePath(dir) }
        if let dataDir { extra[.dataDir] = absolutePath(dataDir) }
        if let unit { extra[.unit] = unit }
        let resolved = try connection.resolve(extra: extra, discoveryRoot: discoveryRoot)
        let configuration = try clientConfiguration(resolved)
        let client = EtcdClient(configuration)
        let directory = resolved.snapshotDirectory
        // A remote that is configured but cannot be used (no credentials, a bad key) leaves the console usable:
        // offsite is off for the session and the first line says why.
        var offsiteProblem: String?
        let store: OffsiteStore?
        do { store = try offsiteStore(resolved) } catch {
            store = nil
            offsiteProblem = "\(error)"
        }
        var services = LiveConsoleServices(client: client, catalog: SnapshotCatalog.standard(directory: directory),
                                           resolved: resolved,
                                           etcdPrefix: kubernetes.etcdPrefix)
        services.offsiteStore = store
        var starting = Console(directory: directory,
                              endpoints: configuration.endpoints.map(\.description).joined(separator: ","),
                              readonly: readonly, now: Date(), clock: ConsoleClock())
        starting.backupIntervalSeconds = resolved.interval.seconds
        starting.snapshots.remoteLocation = store?.settings.location
        if let offsiteProblem { starting.message = ("offsite copies are off: \(offsiteProblem)", true) }
        let console = starting
        let liveServices = services
        // Any way the console ends (q, SIGTERM, SIGHUP, its terminal gone) a save in progress leaves no .part:
        // the signal removes it at once and asks the UI loop to end (it restores the terminal); should the loop
        // not end within 2 s, the process ends by the signal anyway.
        let stop = ConsoleStop()
        let handlers = [SIGTERM, SIGHUP, SIGINT].map { sig in
            InterruptHandler(signals: [sig]) {
                PartFiles.removeAll()
                stop.request(signal: sig)
                DispatchQueue.global().asyncAfter(deadline: .now() + 2) { stop.endBySignal() }
            }
        }
        defer { for handler in handlers { handler.cancel() } }
        // curses is not thread-safe: one thread owns the terminal for the whole session.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                let terminal = CursesTerminal()
                terminal.hangUpCleanup = { PartFiles.removeAll() }
                let runtime = ConsoleRuntime(console: console, terminal: terminal, services: liveServices)
                runtime.shouldStop = { stop.isRequested }
                // Timings for scripts/bench: ETCD_CONSOLE_TRACE=<file> appends a line per key and per frame.
                if let path = ProcessInfo.processInfo.environment["ETCD_CONSOLE_TRACE"],
                   FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) {
                    runtime.trace = { file.write(Data(($0 + "\n").utf8)) }
                }
                runtime.run()
                terminal.close()
                PartFiles.removeAll()   // q while a save runs: the save stops with the process, its .part goes now
                done.resume()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        if stop.isRequested { stop.endBySignal() }
        await client.close()
    }
}

/// A signal asked the console to end: which one, so the process can end with its status once the terminal is
/// restored (128 + the signal: 143 for SIGTERM, 129 for SIGHUP).
final class ConsoleStop: @unchecked Sendable {
    private let lock = NSLock()
    private var signal: Int32?

    var isRequested: Bool { lock.withLock { signal != nil } }

    func request(signal: Int32) { lock.withLock { if self.signal == nil { self.signal = signal } } }

    /// Ends the process with the signal's status (any .part is already gone).
    func endBySignal() {
        PartFiles.removeAll()
        Foundation.exit(128 + (lock.withLock { signal } ?? SIGTERM))
    }
}
