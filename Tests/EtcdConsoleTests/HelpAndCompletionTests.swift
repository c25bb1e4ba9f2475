import EtcdTestSupport
import Foundation
import Testing

@Suite("Help, examples, JSON output and shell completions")
struct HelpAndCompletionTests {
    static let commands = ["", "status", "snapshot", "snapshot save", "snapshot list", "snapshot verify", "snapshot inspect",
                           "snapshot browse", "snapshot diff", "snapshot prune", "backup", "schedule", "schedule systemd",
                           "schedule cronjob", "schedule status", "config", "config init", "config show", "doctor"]
    static let readCommands = ["status", "snapshot list", "snapshot verify", "snapshot inspect", "snapshot browse", "snapshot diff",
                               "snapshot prune", "schedule status", "config show", "doctor"]

    @Test("Every command's --help has examples that fit 80 columns", arguments: commands)
    func examples(command: String) throws {
        let words = command.split(separator: " ").map(String.init)
        let result = try ConsoleBinary.run(words + ["--help"], environment: ["COLUMNS": "80"])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex(of: "Examples:"), "no Examples: in \(command) --help")
        let examples = lines[(start + 1)...].prefix { !$0.hasPrefix("USAGE") && !$0.isEmpty }
        #expect(!examples.isEmpty)
        for line in examples {
            #expect(line.hasPrefix("  "), "\(command): an example was wrapped: \(line)")
            #expect(line.hasPrefix("  etcd-console ") || line.hasPrefix("      ") || line.hasPrefix("  #")
                    || line.hasPrefix("  ETCDCTL_") || line.hasPrefix("  ETCD_CONSOLE_"), "\(command): \(line)")
        }
    }

    @Test("Every read command offers -o json", arguments: readCommands)
    func json(command: String) throws {
        let result = try ConsoleBinary.run(command.split(separator: " ").map(String.init) + ["--help"])
        #expect(result.stdout.contains("-o, --output <output>"), "\(command)")
    }

    @Test("Completion scripts for bash, zsh and fish name the commands; the bash one parses", arguments: ["bash", "zsh", "fish"])
    func completions(shell: String) throws {
        let result = try ConsoleBinary.run(["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result.output)")
        for command in ["backup", "schedule", "config", "snapshot", "status", "doctor"] {
            #expect(result.stdout.contains(command), "\(shell) completion lacks \(command)")
        }
        #expect(!result.stdout.contains("fill"), "the hidden fill command should not be completed")
        let checkers = ["bash": "/bin/bash", "zsh": "/usr/bin/zsh"]
        if let checker = checkers[shell], FileManager.default.isExecutableFile(atPath: checker) {
            let dir = try TestDirectories.make("completion")
            let file = dir.appendingPathComponent("etcd-console.\(shell)")
            try result.stdout.write(to: file, atomically: true, encoding: .utf8)
            let syntax = try runCommand(checker, ["-n", file.path])
            #expect(syntax.status == 0, "\(syntax.output)")
        }
    }
}
