import ArgumentParser
import EtcdClient
import Foundation
import Operations
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

/// RFC 3339 UTC time to the second, as the JSON outputs carry it (`CommandTables.rfc3339`).
func rfc3339(_ date: Date) -> String { CommandTables.rfc3339(date) }

/// "3m", "2h05m", "4d03h": ages in the tables (`CommandTables.age`).
func formatAge(_ seconds: TimeInterval) -> String { CommandTables.age(seconds) }

struct SnapshotListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the snapshots in the directory, newest first, with health, revision and keys.",
        discussion: """
        Lists every *.db file: ours (with a .meta.json sidecar) and ones made by etcdctl. Files without a \
        sidecar are verified once and the result cached (.etcd-console-cache). Leftover .part files \
        from crashed saves are reported (snapshot prune removes them).

        Examples:
          etcd-console snapshot list
          etcd-console snapshot list --dir /backup/etcd -o json
          etcd-console snapshot list --remote
        """)

    @OptionGroup var directory: DirectoryOption
    @OptionGroup var output: OutputOptions

    @Flag(help: "Also list the remote copies (remote: in the config file), showing where each snapshot lives.")
    var remote = false

    func run() throws {
        if remote { return try RemoteSnapshotList.run(directory: directory, output: output.output) }
        let dir = try directory.resolved()
        let listing = try SnapshotCatalog.standard(directory: dir).list()
        let now = Date()
        for warning in listing.warnings { printError("warning: \(warning)") }
        for part in listing.leftoverParts {
            printError("leftover from an interrupted save: \(part) (snapshot prune removes it)")
        }
        for problem in listing.problems { printError("error: \(problem.path) is not a snapshot file: \(problem.reason)") }
        let unreadable = listing.entries.filter { $0.health == .unverified }
        for entry in unreadable { printError("error: \(entry.reason ?? "cannot read \(entry.path)")") }
        switch output.output {
        case .json:
            StandardStream.output.write(ListJSON(directory: dir, snapshots: listing.entries.map { ListEntryJSON($0, now: now) },
                                                 problems: listing.problems.map(ProblemJSON.init),
                                                 leftoverParts: listing.leftoverParts, warnings: listing.warnings).json.prettyText + "\n")
        case .table:
            if listing.entries.isEmpty {
                print(listing.problems.isEmpty ? "no snapshots in \(dir)"
                      : "no snapshots in \(dir); \(listing.problems.count) *.db entries are not snapshot files (see above)")
            } else {
                print(Self.table(listing, now: now), terminator: "")
            }
        }
        if !listing.problems.isEmpty || !unreadable.isEmpty { throw ExitCode(1) }
    }

    static func table(_ listing: CatalogListing, now: Date) -> String {
        CommandTables.snapshotList(listing, now: now)
    }
}

/// `snapshot list -o json`, written with `JSONValue` (the same bytes `printJSON` would write, much faster at
/// 10,000 snapshots).
struct ListJSON {
    var directory: String
    var snapshots: [ListEntryJSON]
    var problems: [ProblemJSON]
    var leftoverParts: [String]
    var warnings: [String]

    var json: JSONValue {
        .object([("directory", .string(directory)), ("leftoverParts", .strings(leftoverParts)),
                 ("problems", .array(problems.map(\.json))), ("snapshots", .array(snapshots.map(\.json))),
                 ("warnings", .strings(warnings))])
    }
}

/// A `*.db` entry that is not a snapshot file, in `list` and `verify --all` JSON.
struct ProblemJSON: Encodable {
    var name: String
    var path: String
    var reason: String

    init(_ problem: CatalogProblem) {
        name = problem.name
        path = problem.path
        reason = problem.reason
    }

    var json: JSONValue { .object([("name", .string(name)), ("path", .string(path)), ("reason", .string(reason))]) }
}

struct ListEntryJSON {
    var name: String
    var path: String
    var size: Int
    var takenAt: String
    var ageSeconds: Int
    var health: SnapshotHealth
    var reason: String?
    var revision: Int64?
    var liveKeys: Int?
    var clusterId: String?
    var memberId: String?
    var memberName: String?
    var etcdVersion: String?
    var resources: [String: Int]?

    init(_ e: SnapshotEntry, now: Date) {
        name = e.name
        path = e.path
        size = e.size
        takenAt = rfc3339(e.takenAt)
        ageSeconds = Int(e.ageSeconds(now: now))
        health = e.health
        reason = e.reason
        revision = e.revision
        liveKeys = e.liveKeys
        clusterId = e.clusterID
        memberId = e.memberID
        memberName = e.memberName
        etcdVersion = e.etcdVersion
        resources = e.resources
    }

    /// Keys in sorted order already (the writer then skips sorting). `reason`, `revision` and `liveKeys` are always
    /// there (null when unknown); the cluster, member, version and resources only when known.
    var json: JSONValue {
        var pairs: [(String, JSONValue)] = [("ageSeconds", .int(ageSeconds))]
        pairs.reserveCapacity(14)
        if let clusterId { pairs.append(("clusterId", .string(clusterId))) }
        if let etcdVersion { pairs.append(("etcdVersion", .string(etcdVersion))) }
        pairs.append(("health", .string(health.rawValue)))
        pairs.append(("liveKeys", .optional(liveKeys)))
        if let memberId { pairs.append(("memberId", .string(memberId))) }
        if let memberName { pairs.append(("memberName", .string(memberName))) }
        pairs += [("name", .string(name)), ("path", .string(path)), ("reason", .optional(reason))]
        if let resources { pairs.append(("resources", .counts(resources))) }
        pairs += [("revision", .optional(revision)), ("size", .int(size)), ("takenAt", .string(takenAt))]
        return .object(pairs)
    }
}

struct SnapshotVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a snapshot: SHA-256 trailer, bbolt structure, etcd keys. Exit 1 when corrupt.",
        discussion: """
        Examples:
          etcd-console snapshot verify snapshot-20261125T140000Z-master1.db
          etcd-console snapshot verify --all --dir /backup/etcd -o json
          etcd-console snapshot verify --remote snapshot-20261125T140000Z-master1.db
        """)

    @Argument(help: "The snapshot file.") var file: String?
    @Flag(help: "Verify every snapshot in --dir.") var all = false
    @Flag(help: "Verify the remote copy named FILE, streamed (decrypt, decompress, checksums); nothing written.")
    var remote = false
    @OptionGroup var directory: DirectoryOption
    @OptionGroup var identity: IdentityOption
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if all == (file != nil) { throw ValidationError("give a FILE or --all") }
        if remote && all { throw ValidationError("--remote verifies one remote snapshot: give its NAME, not --all") }
    }

    func run() throws {
        if remote {
            let resolved = try directory.config.resolve(flags: [:])
            return try RemoteSnapshotVerify.run(resolved: resolved, name: file!, identity: identity.identity, output: output.output)
        }
        guard all else {
            let result = SnapshotVerifier.verify(path: file!)
            switch output.output {
            case .json: try printJSON(VerifyJSON(file: file!, result))
            case .table: print(Self.line(file!, result))
            }
            if result.health != .good { throw ExitCode(1) }
            return
        }
        let dir = try directory.resolved()
        let listing = try SnapshotCatalog.standard(directory: dir).list()
        let results = listing.entries.map { (path: $0.path, result: SnapshotVerifier.verify(path: $0.path)) }
        switch output.output {
        case .json:
            try printJSON(VerifyAllJSON(directory: dir, snapshots: results.map { VerifyJSON(file: $0.path, $0.result) },
                                        problems: listing.problems.map(ProblemJSON.init)))
        case .table:
            for (path, r) in results { print(Self.line(path, r)) }
            for problem in listing.problems { print("\(problem.path): not a snapshot file: \(problem.reason)") }
            if results.isEmpty && listing.problems.isEmpty { print("no snapshots in \(dir)") }
        }
        if !listing.problems.isEmpty || results.contains(where: { $0.result.health != .good }) { throw ExitCode(1) }
    }

    static func line(_ path: String, _ r: SnapshotVerification) -> String {
        let detail = r.reason.map { ": \($0)" } ?? ""
        let facts = r.health == .good ? " (revision \(r.revision.map(String.init) ?? "?"), \(r.liveKeys.map(String.init) ?? "?") keys)" : ""
        return "\(path): \(r.health.rawValue)\(detail)\(facts)"
    }
}

/// `snapshot verify --all -o json`.
struct VerifyAllJSON: Encodable {
    var directory: String
    var snapshots: [VerifyJSON]
    var problems: [ProblemJSON]
}

struct VerifyJSON: Encodable {
    var file: String
    var health: SnapshotHealth
    var reason: String?
    var revision: Int64?
    var liveKeys: Int?
    var sha256: String?
    var kind: String

    init(file: String, _ r: SnapshotVerification) {
        self.file = file
        health = r.health
        reason = r.reason
        revision = r.revision
        liveKeys = r.liveKeys
        sha256 = r.sha256
        kind = r.kind.rawValue
    }

    enum CodingKeys: String, CodingKey { case file, health, reason, revision, liveKeys, sha256, kind }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(file, forKey: .file)
        try c.encode(health, forKey: .health)
        try c.encode(reason, forKey: .reason)
        try c.encode(revision, forKey: .revision)
        try c.encode(liveKeys, forKey: .liveKeys)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(kind, forKey: .kind)
    }
}

struct SnapshotPruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete old snapshots by a retention policy; never the newest good one.",
        discussion: """
        Policy flags override the config file's retention keys one by one; with neither, the default policy \
        applies: the last 6, plus the newest good snapshot per hour \
        for 24 hours, per day for 7 days, per week for 4 weeks and per month for 3 months. Nothing is \
        deleted when the newest snapshot is not good. Corrupt snapshots never count as kept copies. \
        --dry-run lists what would go and why each one stays. Also removes .part files left by saves that \
        crashed more than an hour ago.

        Examples:
          etcd-console snapshot prune --dry-run
          etcd-console snapshot prune --keep-last 6
          etcd-console snapshot prune --keep-last 4 --daily 7 --weekly 4 -o json
        """)

    @OptionGroup var directory: DirectoryOption
    @OptionGroup var retention: RetentionOptions
    @Flag(help: "Only show what would be deleted.") var dryRun = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        var flags = retention.configurationFlags
        flags[.dir] = directory.dir.map(absolutePath)
        let resolved = try directory.config.resolve(flags: flags)
        let catalog = SnapshotCatalog.standard(directory: resolved.snapshotDirectory)
        let outcome = try catalog.prune(policy: resolved.retentionPolicy, now: Date(), dryRun: dryRun)
        let plan = outcome.plan
        let removedParts = outcome.removedParts
        switch output.output {
        case .json:
            try printJSON(PruneJSON(dryRun: dryRun, keep: plan.keep.map { .init(name: $0.name, reasons: $0.reasons) },
                                    delete: plan.delete.map { .init(name: $0.name, reason: $0.reason) },
                                    deletesNothingReason: plan.deletesNothingReason, removedParts: removedParts))
        case .table:
            if let why = plan.deletesNothingReason { print("nothing to delete: \(why)") }
            for item in plan.keep { print("keep    \(item.name)  (\(item.reasons.joined(separator: "; ")))") }
            for item in plan.delete { print("\(dryRun ? "would delete" : "deleted") \(item.name)  (\(item.reason))") }
            for part in removedParts { print("removed leftover \(part)") }
        }
    }
}

struct PruneJSON: Encodable {
    struct Kept: Encodable { var name: String; var reasons: [String] }
    struct Deleted: Encodable { var name: String; var reason: String }
    var dryRun: Bool
    var keep: [Kept]
    var delete: [Deleted]
    var deletesNothingReason: String?
    var removedParts: [String]
}

/// Retention flags, shared by `snapshot prune`, `backup` and `schedule`.
struct RetentionOptions: ParsableArguments {
    @Option(help: "Keep the N newest good snapshots.") var keepLast: Int?
    @Option(help: "Keep the newest good snapshot of each of the last H hours.") var hourly: Int?
    @Option(help: "Keep the newest good snapshot of each of the last D days.") var daily: Int?
    @Option(help: "Keep the newest good snapshot of each of the last W weeks.") var weekly: Int?
    @Option(help: "Keep the newest good snapshot of each of the last M months.") var monthly: Int?

    func validate() throws {
        for (flag, value) in [("--keep-last", keepLast), ("--hourly", hourly), ("--daily", daily),
                              ("--weekly", weekly), ("--monthly", monthly)] {
            if let value, value < 0 { throw ValidationError("\(flag) must be 0 or more") }
        }
    }
}
