import ArgumentParser
import EtcdClient
import Foundation
import Operations

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that every etcd member holds the same keys, and look for alarms and space trouble.",
        discussion: """
        Hashes every member's keys at one revision (the lowest every reachable member has applied), as \
        `etcdctl endpoint hashkv --cluster` does, and names a member whose keys differ from the others. Also \
        reports raised alarms (NOSPACE, CORRUPT), members that do not answer, a database near its quota \
        (etcd 3.4 and 3.5 do not report the quota: give --quota-backend-bytes if it is not etcd's default of \
        2 GiB) and space a defragmentation would give back, each with what to do. Exits 1 when a member \
        differs, does not answer or has an alarm raised.

        Examples:
          etcd-console check --endpoints \\
              https://10.0.0.5:2379,https://10.0.0.6:2379,https://10.0.0.7:2379
          etcd-console check --quota-backend-bytes 8589934592 -o json
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("quota-backend-bytes"),
            help: ArgumentHelp("The cluster's --quota-backend-bytes, when it is not etcd's default (2 GiB).", valueName: "bytes"))
    var quotaBackendBytes: Int64?

    func validate() throws {
        if let quotaBackendBytes, quotaBackendBytes <= 0 {
            throw ValidationError("--quota-backend-bytes must be a positive number of bytes, not \(quotaBackendBytes)")
        }
    }

    func run() async throws {
        let resolved = try connection.resolve()
        let client = EtcdClient(try clientConfiguration(resolved))
        let failure = await Self.checkAndShow(ClusterCheck(client: client, settings: resolved, quotaFlag: quotaBackendBytes),
                                              as: output.output)
        await client.close()
        if let failure { throw failure }
    }

    /// Runs the check and prints it; the error to exit with (ExitCode(1) when it found trouble), or nil.
    private static func checkAndShow(_ check: ClusterCheck, as format: OutputFormat) async -> (any Error)? {
        do {
            try show(try await check.run(), as: format)
            return nil
        } catch {
            return error
        }
    }

    private static func show(_ report: ClusterCheck.Report, as format: OutputFormat) throws {
        switch format {
        case .json: try printJSON(report)
        case .table: print(CommandTables.check(report), terminator: "")
        }
        if !report.healthy { throw ExitCode(1) }
    }
}
