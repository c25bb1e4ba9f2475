import EtcdClient
import Foundation
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Restores every member of a multi-member etcd from one snapshot, as etcd's disaster-recovery procedure says,
/// driving each host's own `etcd-console restore` (the journaled single-member restore) over SSH:
///
/// 1. every host answers (refused before anything changes when one does not);
/// 2. the snapshot is copied to every host and its SHA-256 checked there;
/// 3. every host plans its restore (`restore --dry-run`: the snapshot verified there, the settings resolved);
/// 4. on every host at once: etcd stopped, the data dir moved aside, the snapshot restored with the member's
///    own `--name` and peer URLs, the same `--initial-cluster` and a new token, etcd left stopped
///    (`restore --no-start`); a failure on any host rolls every host back and starts the old cluster again;
/// 5. every member started at once (`restore --resume`: a member of a cluster is ready only with a quorum);
/// 6. hashKV of every member at one revision must be equal; the cluster id must be new.
///
/// Each host journals its own steps (`<data-dir>.restore-journal`); the coordinator journals which host reached
/// which phase (`journalPath`), so `restore --cluster --resume / --rollback` finish or undo an interrupted run.
public struct ClusterRestore: Sendable {
    public enum Phase: String, Codable, Sendable {
        case pending, reached, copied, planned, prepared, failed, started
        case rolledBack = "rolled-back"
    }

    public struct HostState: Codable, Sendable, Equatable {
        public var name: String
        public var host: String
        public var phase: Phase
        public var snapshot: String?
        public var detail: String?
    }

    /// The coordinator's journal: enough to resume or roll back from another process.
    public struct Journal: Codable, Sendable, Equatable {
        public var createdAt: Date
        public var snapshot: String
        public var sha256: String
        public var token: String
        public var initialCluster: String
        public var oldClusterID: String?
        public var members: [ClusterMember]
        public var hosts: [HostState]
        public var finished: Bool
        /// The inventory's ssh-options (nil in a journal of a run without them).
        public var sshOptions: [String]? = nil
    }

    public struct Report: Encodable, Sendable {
        public var succeeded: Bool
        public var dryRun: Bool
        public var snapshot: String
        public var sha256: String
        public var membership: String
        public var initialCluster: String
        public var token: String
        public var hosts: [HostState]
        public var oldClusterID: String?
        public var newClusterID: String?
        /// hashKV of every member at one revision (nil when not checked).
        public var consistent: Bool?
        public var revision: Int64?
        public var memberHashes: [String: String]
        public var rolledBack: Bool
        public var error: String?
        public var reminders: [String]
        public var journal: String
    }

    public enum Event: Sendable {
        /// A line of a host's output.
        case output(host: String, line: String)
        /// What the coordinator does now.
        case step(String)
        case phase(host: String, Phase)
    }

    public typealias EventHandler = @Sendable (Event) -> Void

    public let snapshotPath: String
    public let inventory: ClusterInventory
    public let ssh: SSHSettings
    public let runner: any ProcessRunner
    /// TLS and credentials for the members' client URLs (the endpoints are the inventory's).
    public let clientConfiguration: EtcdClientConfiguration
    public let token: String
    public let journalPath: String
    public var prepareTimeout: Duration = .seconds(3600)
    public var startTimeout: Duration = .seconds(300)

    public init(snapshotPath: String, inventory: ClusterInventory, ssh: SSHSettings, runner: any ProcessRunner,
                clientConfiguration: EtcdClientConfiguration, token: String? = nil, journalPath: String) {
        self.snapshotPath = snapshotPath
        self.inventory = inventory
        var ssh = ssh
        ssh.options = inventory.sshOptions + ssh.options
        self.ssh = ssh
        self.runner = runner
        self.clientConfiguration = clientConfiguration
        self.token = token ?? Self.newToken()
        self.journalPath = journalPath
    }

    /// "etcd-console-20261203T061500Z": a new `--initial-cluster-token`, so a member of the old cluster that comes
    /// back can never join the restored one.
    public static func newToken(now: Date = Date()) -> String { "etcd-console-" + BundleStore.stamp(now) }

    /// The default journal: beside the snapshot directory, hidden from the catalog.
    public static func defaultJournalPath(directory: String) -> String { directory + "/.cluster-restore-journal.json" }

    func connection(_ member: ClusterMember) -> HostConnection { HostConnection(member: member, ssh: ssh, runner: runner) }

    // MARK: run

    public func run(dryRun: Bool, onEvent: @escaping EventHandler = { _ in }) async -> Report {
        var hosts = inventory.members.map { HostState(name: $0.name, host: $0.label, phase: .pending) }
        let sha: String
        do { sha = try Self.sha256(of: snapshotPath) } catch {
            return report(hosts: hosts, sha: "", error: "\(error)", dryRun: dryRun)
        }
        if let existing = Self.readJournal(journalPath), !existing.finished {
            return report(hosts: existing.hosts, sha: sha, error: "an unfinished cluster restore of \(existing.snapshot) (journal \(journalPath)): finish it with restore --cluster --resume or undo it with restore --cluster --rollback first", dryRun: dryRun)
        }
        let oldID = await clusterID()

        // 1. Every host answers before anything is touched.
        onEvent(.step("Reaching every host"))
        let reached = await reachAll(inventory.members)
        for (index, problem) in reached.enumerated() {
            hosts[index].phase = problem == nil ? .reached : .failed
            hosts[index].detail = problem
            onEvent(.phase(host: hosts[index].name, hosts[index].phase))
        }
        if let problem = reached.compactMap({ $0 }).first {
            return report(hosts: hosts, sha: sha, error: "\(problem); nothing was changed on any host", dryRun: dryRun, oldID: oldID)
        }

        // 2. The snapshot on every host, its SHA-256 checked there. 3. Every host's own plan. The hosts are
        // separate machines: each does this at the same time.
        let placed = await withTaskGroup(of: (Int, Result<String, ClusterRestoreError>).self) { group in
            for (index, member) in inventory.members.enumerated() {
                group.addTask {
                    do {
                        let remote = try await place(member, sha: sha, onEvent: onEvent)
                        onEvent(.phase(host: member.name, .copied))
                        onEvent(.step("Planning on \(member.label)"))
                        let outcome = try await connection(member).run(restoreCommand(member, snapshot: remote) + ["--dry-run"],
                                                                       timeout: .seconds(600)) { line in onEvent(.output(host: member.name, line: line)) }
                        guard outcome.succeeded else {
                            throw ClusterRestoreError("\(member.label): the restore plan failed (exit \(outcome.status)): \(Self.failureLine(outcome))")
                        }
                        onEvent(.phase(host: member.name, .planned))
                        return (index, .success(remote))
                    } catch let error as ClusterRestoreError {
                        return (index, .failure(error))
                    } catch {
                        return (index, .failure(ClusterRestoreError("\(member.label): \(error)")))
                    }
                }
            }
            var results = [Result<String, ClusterRestoreError>?](repeating: nil, count: inventory.members.count)
            for await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
        var firstProblem: String?
        for (index, result) in placed.enumerated() {
            switch result {
            case .success(let remote):
                hosts[index].snapshot = remote
                hosts[index].phase = .planned
            case .failure(let error):
                hosts[index].phase = .failed
                hosts[index].detail = "\(error)"
                firstProblem = firstProblem ?? "\(error)"
            }
        }
        if let firstProblem {
            return report(hosts: hosts, sha: sha, error: "\(firstProblem); nothing was changed on any host (the copies of the snapshot are kept)", dryRun: dryRun, oldID: oldID)
        }
        if dryRun { return report(hosts: hosts, sha: sha, error: nil, dryRun: true, oldID: oldID) }

        var journal = Journal(createdAt: Date(), snapshot: snapshotPath, sha256: sha, token: token,
                              initialCluster: inventory.initialCluster, oldClusterID: oldID,
                              members: inventory.members, hosts: hosts, finished: false,
                              sshOptions: inventory.sshOptions.isEmpty ? nil : inventory.sshOptions)
        do { try write(journal) } catch {
            return report(hosts: hosts, sha: sha, error: "cannot write the cluster journal \(journalPath): \(error); nothing was changed on any host", dryRun: false, oldID: oldID)
        }

        // 4. Every host restored, etcd left stopped (all at once: separate machines). A failure on any host
        // rolls every host back once all have finished.
        let snapshots = journal.hosts.map { $0.snapshot! }
        let prepared = await onEveryHost(inventory.members) { member in
            onEvent(.step("Restoring on \(member.label)"))
            let index = inventory.members.firstIndex(of: member)!
            do {
                let outcome = try await connection(member).run(restoreCommand(member, snapshot: snapshots[index]) + ["--yes", "--no-start"],
                                                               timeout: prepareTimeout) { line in onEvent(.output(host: member.name, line: line)) }
                return outcome.succeeded ? nil : "\(member.label): the restore failed (exit \(outcome.status)): \(Self.failureLine(outcome))"
            } catch { return "\(error)" }
        }
        for (index, problem) in prepared.enumerated() {
            journal.hosts[index].phase = problem == nil ? .prepared : .failed
            journal.hosts[index].detail = problem
            onEvent(.phase(host: journal.hosts[index].name, journal.hosts[index].phase))
        }
        try? write(journal)
        if let failure = prepared.compactMap({ $0 }).first {
            var result = await rollBack(&journal, reason: failure, onEvent: onEvent)
            result.error = "\(failure); every host was rolled back" + (result.error.map { " with problems: \($0)" } ?? "")
            return result
        }
        return await startAll(&journal, onEvent: onEvent)
    }

    /// Runs `body` for each of `members` at once (they are separate machines) and returns each one's problem (nil:
    /// went well), in the order given.
    func onEveryHost(_ members: [ClusterMember], _ body: @escaping @Sendable (ClusterMember) async -> String?) async -> [String?] {
        await withTaskGroup(of: (Int, String?).self) { group in
            for (index, member) in members.enumerated() {
                group.addTask { (index, await body(member)) }
            }
            var results = [String?](repeating: nil, count: members.count)
            for await (index, problem) in group { results[index] = problem }
            return results
        }
    }

    /// Asks every host for `etcd-console --version` at once: nil for a host that answers, else why not.
    public func reachAll(_ members: [ClusterMember]) async -> [String?] {
        await onEveryHost(members) { member in
            do {
                let outcome = try await connection(member).run([member.console, "--version"], timeout: .seconds(30))
                return outcome.succeeded ? nil : "\(member.label): \(member.console) --version failed (exit \(outcome.status)): \(outcome.tail(2)); is etcd-console installed there?"
            } catch { return "\(error)" }
        }
    }

    /// Continues an interrupted cluster restore: hosts that were prepared are started together and checked.
    public func resume(_ journal: Journal, onEvent: @escaping EventHandler = { _ in }) async -> Report {
        var journal = journal
        if journal.hosts.contains(where: { $0.phase == .failed || $0.phase == .planned || $0.phase == .pending }) {
            return await rollBack(&journal, reason: "the run stopped before every host was restored", onEvent: onEvent)
        }
        return await startAll(&journal, onEvent: onEvent)
    }

    /// Rolls an interrupted cluster restore back on every host it touched.
    public func rollback(_ journal: Journal, onEvent: @escaping EventHandler = { _ in }) async -> Report {
        var journal = journal
        return await rollBack(&journal, reason: "rollback requested", onEvent: onEvent)
    }

    // MARK: steps

    /// `etcd-console restore SNAPSHOT` with the member's identity and the cluster's.
    func restoreCommand(_ member: ClusterMember, snapshot: String) -> [String] {
        var command = [member.console, "restore", snapshot,
                       "--name", member.name,
                       "--initial-cluster", inventory.initialCluster,
                       "--initial-cluster-token", token,
                       "--initial-advertise-peer-urls", member.peerURLs.joined(separator: ","),
                       "--endpoints", member.clientURLs.joined(separator: ",")]
        command += hostSettings(member)
        return command
    }

    /// What another run on the host needs to find that host's restore journal.
    func journalSettings(_ member: ClusterMember) -> [String] {
        member.dataDir.map { ["--data-dir", $0] } ?? []
    }

    func hostSettings(_ member: ClusterMember) -> [String] {
        var flags: [String] = []
        if let dir = member.dataDir { flags += ["--data-dir", dir] }
        if let unit = member.unit { flags += ["--unit", unit] }
        if let tool = member.restoreTool { flags += ["--restore-tool", tool] }
        return flags
    }

    /// Copies the snapshot to the host (`<snapshot-dir>/<name>`, written as a hidden .part, its SHA-256 checked
    /// there, then renamed) and returns its path there. A different file already at that path is never replaced.
    func place(_ member: ClusterMember, sha: String, onEvent: @escaping EventHandler) async throws -> String {
        let host = connection(member)
        if host.isLocal { return snapshotPath }
        let name = (snapshotPath as NSString).lastPathComponent
        let final = member.snapshotDir + "/" + name
        let part = member.snapshotDir + "/." + name + ".part"
        onEvent(.step("Copying the snapshot to \(member.label):\(final)"))
        let existing = try await host.run(["sh", "-c", "umask 077 && mkdir -p \"$1\" && if [ -e \"$2\" ]; then sha256sum \"$2\"; fi", "sh",
                                           member.snapshotDir, final], timeout: .seconds(600))
        guard existing.succeeded else {
            throw ClusterRestoreError("\(member.label): cannot prepare \(member.snapshotDir): \(existing.tail(2))")
        }
        if let found = Self.firstHash(existing.output) {
            guard found == sha else {
                throw ClusterRestoreError("\(member.label): a different file is already at \(final) (SHA-256 \(found), the snapshot's is \(sha)): move it away, or set snapshot-dir for that host")
            }
            onEvent(.output(host: member.name, line: "the snapshot is already at \(final) (SHA-256 equal)"))
            return final
        }
        try await host.copy(snapshotPath, to: part, timeout: .seconds(3600))
        let check = try await host.run(["sha256sum", part], timeout: .seconds(1800))
        guard check.succeeded, let remote = Self.firstHash(check.output) else {
            throw ClusterRestoreError("\(member.label): cannot compute the SHA-256 of \(part): \(check.tail(2))")
        }
        guard remote == sha else {
            _ = try? await host.run(["rm", "-f", part])
            throw ClusterRestoreError("\(member.label): the copy of the snapshot is corrupt: SHA-256 \(remote) there, \(sha) here")
        }
        let moved = try await host.run(["mv", part, final])
        guard moved.succeeded else { throw ClusterRestoreError("\(member.label): cannot rename \(part): \(moved.tail(2))") }
        onEvent(.output(host: member.name, line: "copied to \(final); SHA-256 checked there: \(sha)"))
        return final
    }

    /// 5 and 6: every prepared member started together, then the cluster checked.
    func startAll(_ journal: inout Journal, onEvent: @escaping EventHandler) async -> Report {
        onEvent(.step("Starting every member together"))
        let members = journal.members
        let timeout = startTimeout
        let outcomes = await onEveryHost(members) { member in
            do {
                let outcome = try await connection(member).run([member.console, "restore", "--resume", "--yes"] + journalSettings(member),
                                                               timeout: timeout) { line in onEvent(.output(host: member.name, line: line)) }
                // No open journal there: that host's restore already ran to its end (a resumed run whose
                // coordinator died after starting it); the cluster check below says whether all is well.
                if outcome.succeeded || outcome.output.contains("no unfinished restore journal") { return nil }
                return "\(member.label): start and checks failed (exit \(outcome.status)): \(Self.failureLine(outcome))"
            } catch { return "\(error)" }
        }
        for (index, problem) in outcomes.enumerated() {
            journal.hosts[index].phase = problem == nil ? .started : .failed
            journal.hosts[index].detail = problem
            onEvent(.phase(host: journal.hosts[index].name, journal.hosts[index].phase))
        }
        journal.finished = true
        try? write(journal)
        var result = report(hosts: journal.hosts, sha: journal.sha256, error: outcomes.compactMap { $0 }.first, dryRun: false,
                            oldID: journal.oldClusterID, journal: journal)
        onEvent(.step("Checking the cluster: hashKV of every member at one revision"))
        await check(&result, expected: members.map(\.name))
        return result
    }

    /// hashKV equal on every member, every member listed, a new cluster id.
    func check(_ result: inout Report, expected: [String]) async {
        let client = EtcdClient(membersConfiguration)
        var problems: [String] = []
        do {
            let list = try await client.memberList()
            result.newClusterID = String(list.header.clusterID, radix: 16)
            let names = Set(list.members.map(\.name))
            if names != Set(expected) { problems.append("the restored cluster lists the members \(names.sorted().joined(separator: ", ")), expected \(expected.joined(separator: ", "))") }
            if let old = result.oldClusterID, old == result.newClusterID { problems.append("the cluster id \(old) did not change: a member kept its old data") }
            let report = try await ClusterCheck(client: client).run()
            result.consistent = report.consistent
            result.revision = report.revision
            for member in report.members { result.memberHashes[member.name] = member.hash.map { String($0, radix: 16) } ?? (member.error ?? "no answer") }
            if report.consistent != true { problems.append("hashKV differs between members at revision \(report.revision): \(result.memberHashes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))") }
        } catch {
            problems.append("the restored cluster does not answer: \(error)")
        }
        await client.close()
        if !problems.isEmpty {
            result.succeeded = false
            result.error = ([result.error].compactMap { $0 } + problems).joined(separator: "; ")
        }
    }

    /// Every host the run touched goes back to its old data and starts, all at once (`restore --rollback` on each:
    /// a member of the old cluster is ready only once a quorum of them runs, so one after the other would wait
    /// forever). Each host's rollback uses its own plan: systemctl, or the static pod manifest moved back.
    func rollBack(_ journal: inout Journal, reason: String, onEvent: @escaping EventHandler) async -> Report {
        onEvent(.step("Rolling back every host and starting the old members together: \(reason)"))
        let touched = journal.hosts.indices.filter {
            [.prepared, .failed, .started].contains(journal.hosts[$0].phase) && journal.hosts[$0].snapshot != nil
        }
        let members = journal.members
        let timeout = prepareTimeout
        let problemsByHost = await onEveryHost(touched.map { members[$0] }) { member in
            do {
                let outcome = try await connection(member).run([member.console, "restore", "--rollback", "--yes"] + journalSettings(member),
                                                               timeout: timeout) { line in onEvent(.output(host: member.name, line: line)) }
                // No journal: that host's restore never began (nothing to undo there).
                if outcome.succeeded || outcome.output.contains("no unfinished restore journal") { return nil }
                return "\(member.label): rollback failed (exit \(outcome.status)): \(Self.failureLine(outcome))"
            } catch { return "\(error)" }
        }
        let outcomes = zip(touched, problemsByHost).map { ($0, $1) }
        var problems: [String] = []
        for (index, problem) in outcomes {
            if let problem {
                problems.append(problem)
            } else {
                journal.hosts[index].phase = .rolledBack
                onEvent(.phase(host: journal.hosts[index].name, .rolledBack))
            }
        }
        journal.finished = problems.isEmpty
        try? write(journal)
        var result = report(hosts: journal.hosts, sha: journal.sha256, error: problems.isEmpty ? nil : problems.joined(separator: "; "),
                            dryRun: false, oldID: journal.oldClusterID, journal: journal)
        result.rolledBack = true
        result.succeeded = false
        result.reminders = problems.isEmpty ? ["the old cluster runs again on its original data dirs; the restored data dirs were kept at <data-dir>.failed-restore-<time> on each host"] : ["finish by hand on the hosts named above, then run etcd-console restore --cluster --rollback again"]
        return result
    }

    // MARK: helpers

    /// The connection settings aimed at every member's client URLs.
    var membersConfiguration: EtcdClientConfiguration {
        var configuration = clientConfiguration
        configuration.endpoints = inventory.clientURLs.compactMap { try? Endpoint(parsing: $0) }
        return configuration
    }

    func clusterID() async -> String? {
        var configuration = membersConfiguration
        configuration.connectTimeout = .seconds(2)
        configuration.callTimeout = .seconds(3)
        let client = EtcdClient(configuration)
        let list = try? await client.memberList()
        await client.close()
        return list.map { String($0.header.clusterID, radix: 16) }
    }

    func report(hosts: [HostState], sha: String, error: String?, dryRun: Bool, oldID: String? = nil, journal: Journal? = nil) -> Report {
        Report(succeeded: error == nil, dryRun: dryRun, snapshot: snapshotPath, sha256: sha, membership: inventory.source,
               initialCluster: journal?.initialCluster ?? inventory.initialCluster, token: journal?.token ?? token, hosts: hosts,
               oldClusterID: oldID, newClusterID: nil, consistent: nil, revision: nil, memberHashes: [:], rolledBack: false,
               error: error,
               reminders: error == nil && !dryRun ? ["restart kube-apiserver on every master (it keeps the old revision in its watch cache): systemctl restart kube-apiserver, or move its static pod manifest out of /etc/kubernetes/manifests and back"] : [],
               journal: journalPath)
    }

    func write(_ journal: Journal) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .utcInternetDateTime
        let data = try encoder.encode(journal)
        try AtomicFileWriter.replace(journalPath, with: data)
    }

    public static func readJournal(_ path: String) -> Journal? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        return try? decoder.decode(Journal.self, from: data)
    }

    /// What a host's `etcd-console restore` said went wrong: its failed step's line and its verdict, else the
    /// last lines.
    static func failureLine(_ outcome: ProcessOutcome) -> String {
        let lines = outcome.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let failed = lines.filter { $0.hasPrefix("FAILED (") || $0.hasPrefix("Restore FAILED:") || $0.hasPrefix("error:") }
        return failed.isEmpty ? outcome.tail(3) : failed.joined(separator: "; ")
    }

    static func firstHash(_ output: String) -> String? {
        for line in output.split(separator: "\n") {
            let word = line.split(separator: " ").first.map(String.init) ?? ""
            if word.count == 64, word.allSatisfy(\.isHexDigit) { return word.lowercased() }
        }
        return nil
    }

    /// The file's SHA-256, read in 1 MiB pieces (bounded memory), its pages dropped after.
    public static func sha256(of path: String) throws -> String {
        let fd = try SafeFile.open(path, flags: O_RDONLY)
        defer { close(fd) }
        let hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw ClusterRestoreError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        return hasher.finalize().hexString
    }
}
