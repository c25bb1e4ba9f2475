import ArgumentParser
import EtcdClient
import Foundation
import Operations
import SnapshotStore

@main
struct EtcdConsole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etcd-console",
        abstract: "Keep etcd backed up and bring a cluster back after a disaster.",
        discussion: """
        Without a subcommand, opens the console (the default subcommand `console`, whose flags may be given directly: etcd-console --endpoints URL --dir DIR). It needs a terminal; 80x24 shows everything. \
        Exit codes: 0 success, 1 failure (etcd unreachable, bad snapshot, ...), 2 usage error.

        Examples:
          etcd-console status
          etcd-console backup                      # save, verify, retention, metrics
          etcd-console schedule systemd --install  # every 30 min, without Kubernetes
          etcd-console snapshot list
          etcd-console --generate-completion-script bash \\
              > /etc/bash_completion.d/etcd-console
        """,
        version: "0.1.0",
        subcommands: [ConsoleCommand.self, StatusCommand.self, CheckCommand.self, SnapshotCommand.self, BackupCommand.self, BundleCommand.self, ScheduleCommand.self,
                      ConfigCommand.self, DoctorCommand.self, RestoreCommand.self, DemoCommand.self,
                      FillCommand.self, PracticeServiceCommand.self],
        defaultSubcommand: ConsoleCommand.self)

    /// Parses, runs, and turns errors into exit codes: usage errors 2, operational errors 1.
    static func main() async {
        // A closed stdout is EPIPE on write (StandardStream), not a signal that kills us mid-save.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch let error as UnknownResourceError {
            printError("error: \(error)")                       // a --resource value no one knows: usage
            Foundation.exit(2)
        } catch let error as ConfigurationError {
            printError("error: \(error)")
            Foundation.exit(2)
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
