import ArgumentParser
import ConsoleUI
import CursesTerminal
import EtcdClient
import Foundation
import Recovery
import SnapshotStore

@main
struct EtcdConsole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etcd-console",
        abstract: "Keep etcd backed up and bring a cluster back after a disaster.",
        discussion: """
        Without a subcommand, opens the console: Members, Snapshots and Jobs screens (? shows the keys).
        It needs a terminal of at least 40x10; 80x24 shows everything.
        Exit codes: 0 success, 1 failure (etcd unreachable, bad snapshot, ...), 2 usage error.
        """,
        version: "0.1.0",
        subcommands: [StatusCommand.self, SnapshotCommand.self, FillCommand.self, DoctorCommand.self, RestoreCommand.self,
                      PracticeServiceCommand.self])

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var directory: DirectoryOption

    @Option(help: ArgumentHelp("etcd's data dir, examined by the doctor when etcd is down (default: discovered, else /var/lib/etcd).", valueName: "dir"))
    var dataDir: String?

    @Option(help: ArgumentHelp("The systemd unit that runs etcd, for the restore wizard (default: discovered, else etcd).", valueName: "name"))
    var unit: String?

    @Flag(help: "Look only: no delete, prune or restore.")
    var readonly = false

    func run() async throws {
        guard Terminal.stdinIsTTY, isatty(STDOUT_FILENO) == 1 else {
            printError("""
            error: the console needs a terminal (stdin and stdout are not one).
            Headless commands: etcd-console status, etcd-console snapshot save, etcd-console --help.
            """)
            throw ExitCode(2)
        }
        let configuration = try connection.configuration()
        let client = EtcdClient(configuration)
        let services = LiveConsoleServices(client: client, catalog: SnapshotCatalog.standard(directory: directory.dir),
                                           dataDir: dataDir, unit: unit,
                                           endpointsGiven: (connection.endpoints ?? ProcessInfo.processInfo.environment["ETCDCTL_ENDPOINTS"]) != nil)
        let console = Console(directory: directory.dir,
                              endpoints: configuration.endpoints.map(\.description).joined(separator: ","),
                              readonly: readonly, now: Date(), clock: ConsoleClock())
        // curses is not thread-safe: one thread owns the terminal for the whole session.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                let terminal = CursesTerminal()
                ConsoleRuntime(console: console, terminal: terminal, services: services).run()
                terminal.close()
                done.resume()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        await client.close()
    }

    /// Parses, runs, and turns errors into exit codes: usage errors 2, operational errors 1.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }           // --help, --version
            if code == .validationFailure {
                printError(fullMessage(for: error))
                Foundation.exit(2)
            }
            printError("error: \(error)")
            Foundation.exit(1)
        }
    }
}
