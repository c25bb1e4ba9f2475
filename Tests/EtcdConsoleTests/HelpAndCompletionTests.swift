import EtcdTestSupport
import Foundation
import Testing

@Suite("Help, examples, JSON output and shell completions")
struct HelpAndCompletionTests {
    static let commands = ["", "status", "check", "snapshot", "snapshot save", "snapshot list", "snapshot verify", "snapshot inspect",
                           "snapshot browse", "snapshot diff", "snapshot prune", "snapshot push", "snapshot pull", "backup", "bundle", "bundle list", "bundle show", "bundle diff", "schedule", "schedule systemd",
                           "schedule cronjob", "schedule status", "config", "config init", "config show", "doctor",
                           "restore", "console"]
    static let readCommands = ["status", "check", "snapshot list", "snapshot verify", "snapshot inspect", "snapshot browse", "snapshot diff",
                               "snapshot prune", "schedule status", "config show", "doctor", "bundle list", "bundle show", "bundle diff"]

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
            #expect(line == "  etcd-console" || line.hasPrefix("  etcd-console ") || line.hasPrefix("      ") || line.hasPrefix("  #")
                    || line.hasPrefix("  ETCDCTL_") || line.hasPrefix("  ETCD_CONSOLE_"), "\(command): \(line)")
        }
    }

    /// `Golden/help-<command words joined by ->.txt`; `RECORD_SNAPSHOTS=1` re-records and fails the run.
    static var goldenDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    }

    @Test("Every command's --help is exactly its golden text at 80 columns: paragraphs wrapped by ArgumentParser, no line over 80 but the usage synopsis", arguments: commands)
    func goldenHelp(command: String) throws {
        let words = command.split(separator: " ").map(String.init)
        let result = try ConsoleBinary.run(words + ["--help"], environment: ["COLUMNS": "80"])
        #expect(result.status == 0, "\(result.output)")
        for line in result.stdout.split(separator: "\n") where line.count > 80 && !line.hasPrefix("USAGE:") {
            Issue.record("\(command) --help: a line of \(line.count) columns: \(line)")
        }
        let name = "help-" + (words.isEmpty ? "root" : words.joined(separator: "-")) + ".txt"
        if let problem = try GoldenFile.compare(result.stdout, with: Self.goldenDirectory.appendingPathComponent(name),
                                                what: "\(command) --help") {
            Issue.record(Comment(rawValue: problem))
        }
    }

    @Test("A paragraph of --help is not broken by hard line ends in the source: no prose line ends far short of the width when the next line continues it")
    func helpIsNotRagged() throws {
        for command in Self.commands {
            let words = command.split(separator: " ").map(String.init)
            let lines = try ConsoleBinary.run(words + ["--help"], environment: ["COLUMNS": "80"]).stdout
                .components(separatedBy: "\n")
            guard let examples = lines.firstIndex(of: "Examples:") ?? lines.firstIndex(where: { $0.hasPrefix("USAGE:") }) else { continue }
            // The discussion: from the line after OVERVIEW's paragraph to Examples:. A line followed by another prose
            // line of the same paragraph must have been filled to near the width (ArgumentParser breaks at words).
            for i in 1..<examples where !lines[i].isEmpty && !lines[i].hasPrefix(" ") && i + 1 < examples {
                let next = lines[i + 1]
                guard !next.isEmpty, !next.hasPrefix(" "), let firstWord = next.split(separator: " ").first else { continue }
                #expect(lines[i].count + 1 + firstWord.count >= 80,  // ArgumentParser fills lines to 79 columns at 80
                        "\(command) --help line \(i + 1) is ragged (\(lines[i].count) columns, next word '\(firstWord)' would fit): \(lines[i])")
            }
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
