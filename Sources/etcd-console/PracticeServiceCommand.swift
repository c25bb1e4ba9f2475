import ArgumentParser
import Foundation
import Practice
import Recovery

/// Hidden: installs the practice systemctl (for the demo sandbox, benchmarks and drills on hosts where
/// systemd is not PID 1) and defines one unit that runs the given etcd command.
struct PracticeServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "practice-service",
        abstract: "Install a practice systemctl that runs an etcd command as a unit (sandboxes and benchmarks only).",
        discussion: """
        Prints the directory to put first on PATH. Example:
          PATH=$(etcd-console practice-service --dir /tmp/p --unit etcd -- /usr/bin/etcd --data-dir /tmp/d):$PATH
          systemctl start etcd
        """,
        shouldDisplay: false)

    @Option(help: ArgumentHelp("Directory for the stand-in and its state.", valueName: "dir"))
    var dir: String

    @Option(help: ArgumentHelp("Unit name.", valueName: "name"))
    var unit: String = "etcd"

    @Argument(parsing: .postTerminator, help: "The command the unit runs.")
    var command: [String]

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the unit's command after --") }
    }

    func run() throws {
        let practice = try PracticeSystemctl.install(in: dir)
        try practice.define(unit: unit, command: command)
        print(practice.binDirectory)
    }
}
