import ArgumentParser
import EtcdClient
import Foundation
import Operations
import Recovery
import SnapshotStore
import SystemSupport

/// `restore --cluster`: every member of a multi-member cluster restored from one snapshot, over SSH.
struct ClusterRestoreOptions: ParsableArguments {
    @Flag(help: "Restore every member of a multi-member cluster from this snapshot: copied to each host over SSH and checked there, each member restored with its own name and peer URLs, the same --initial-cluster and a new token, all started together, hashKV compared. A failure before the members start rolls every host back.")
    var cluster = false

    @Option(help: ArgumentHelp("With --cluster: the members and their hosts (YAML; see the README). Default: cluster-inventory from the config file, else the live member list (--endpoints), else the snapshot's sidecar.", valueName: "file"))
    var inventory: String?

    @Option(help: ArgumentHelp("With --cluster: the SSH login for hosts whose destination names none.", valueName: "user"))
    var sshUser: String?

    @Option(help: ArgumentHelp("With --cluster: an `ssh -o` option for every host (repeatable), e.g. IdentityFile=/root/.ssh/restore.", valueName: "option"))
    var sshOption: [String] = []

    @Option(help: ArgumentHelp("With --cluster, when quorum is lost and no snapshot will do: restore every member from this surviving member's data (its etcd stopped, its member/snap/db copied and verified); `newest` picks the member whose db has the highest revision. Leave out the snapshot.", valueName: "member"))
    var fromSurvivor: String?

    @Option(help: ArgumentHelp("With --cluster: the coordinator's journal (default: .cluster-restore-journal.json in the snapshot directory).", valueName: "file"))
    var clusterJournal: String?

    func validate(restoring snapshot: String?, resume: Bool, rollback: Bool, rebuild: Bool, noStart: Bool) throws {
        guard cluster else {
            if inventory != nil || sshUser != nil || !sshOption.isEmpty || clusterJournal != nil || fromSurvivor != nil {
                throw ValidationError("--inventory, --ssh-user, --ssh-option, --from-survivor and --cluster-journal are for --cluster")
            }
            return
        }
        if rebuild || noStart { throw ValidationError("--cluster restores every member; it does not take --rebuild or --no-start") }
        if fromSurvivor != nil && (snapshot != nil || resume || rollback) {
            throw ValidationError("--from-survivor takes the survivor's data instead of a snapshot: leave out the snapshot (and --resume/--rollback)")
        }

    }
}

extension RestoreCommand {
    func runClusterRestore() async throws {
        if name != nil || initialCluster != nil || initialAdvertisePeerUrls != nil || staticPodManifest != nil {
            printError("error: with --cluster each member's name and peer URLs come from the inventory (or the live member list, or the snapshot's sidecar); leave out --name, --initial-cluster, --initial-advertise-peer-urls and --static-pod-manifest")
            throw ExitCode(2)
        }
        let resolved = try connection.resolve(extra: [:], discoveryRoot: discoveryRoot)
        let journalPath = cluster.clusterJournal.map(absolutePath) ?? ClusterRestore.defaultJournalPath(directory: resolved.snapshotDirectory)
        let ssh = SSHSettings(user: cluster.sshUser, options: cluster.sshOption)
        let configuration = try clientConfiguration(resolved)
        let json = output.output == .json

        let restore: ClusterRestore
        var journal: ClusterRestore.Journal?
        if resume || rollback {
            guard let found = ClusterRestore.readJournal(journalPath), !found.finished else {
                printError("error: no unfinished cluster restore journal at \(journalPath)")
                throw ExitCode(1)
            }
            journal = found
            restore = ClusterRestore(snapshotPath: found.snapshot, inventory: ClusterInventory(members: found.members, source: "the journal \(journalPath)",
                                                                                sshOptions: found.sshOptions ?? []),
                                     ssh: ssh, runner: SystemProcessRunner(), clientConfiguration: configuration,
                                     token: found.token, journalPath: journalPath)
            printError("Found an unfinished cluster restore of \(found.snapshot): " +
                       found.hosts.map { "\($0.name) \($0.phase.rawValue)" }.joined(separator: ", "))
        } else if let survivor = cluster.fromSurvivor {
            let inventory: ClusterInventory
            let copy: String
            do {
                guard let file = cluster.inventory.map(absolutePath) ?? resolved[.clusterInventory] else {
                    throw ClusterRestoreError("--from-survivor needs the inventory: --inventory FILE or cluster-inventory in the config file")
                }
                inventory = try ClusterInventory.load(path: file)
                var survivor = survivor
                if survivor == "newest" {
                    // Which member's data is newest: each db inspected on its own host.
                    let candidates = await ClusterRestore.survivorCandidates(inventory, ssh: SSHSettings(user: ssh.user, options: inventory.sshOptions + ssh.options),
                                                                             runner: SystemProcessRunner())
                    for candidate in candidates {
                        printError("  \(candidate.member): " + (candidate.revision.map { "data at revision \($0)" } ?? (candidate.problem ?? "?")))
                    }
                    guard let newest = ClusterRestore.newest(candidates) else {
                        throw ClusterRestoreError("no member has readable data (above): restore every member from a snapshot instead (restore --cluster SNAPSHOT)")
                    }
                    printError("newest data: \(newest.member) at revision \(newest.revision!)")
                    survivor = newest.member
                }
                guard let member = inventory.members.first(where: { $0.name == survivor }) else {
                    throw ClusterRestoreError("the survivor \(survivor) is not a member in \(inventory.source) (members: \(inventory.members.map(\.name).joined(separator: ", ")))")
                }
                if dryRun {
                    // Nothing is stopped or copied: every host must answer, and the plan is said.
                    let probe = ClusterRestore(snapshotPath: "", inventory: inventory, ssh: ssh, runner: SystemProcessRunner(),
                                               clientConfiguration: configuration, journalPath: journalPath)
                    let problems = await probe.reachAll(inventory.members).compactMap { $0 }
                    printError(Self.renderPlan(probe).replacingOccurrences(of: "Cluster restore of ", with: "Cluster restore from the survivor \(survivor)'s data (stopped, its member/snap/db copied)"))
                    if let problem = problems.first { throw ClusterRestoreError("\(problem); nothing was changed on any host") }
                    print("Dry run: every host answers; nothing was changed (the survivor's etcd keeps running).")
                    return
                }
                if !yes { try askYes("This stops etcd on \(member.label), copies its db, then restores every member from it.", to: "restore the cluster") }
                let survivorSSH = SSHSettings(user: ssh.user, options: inventory.sshOptions + ssh.options)
                copy = try await ClusterRestore.takeSurvivorCopy(of: member, ssh: survivorSSH, runner: SystemProcessRunner(),
                                                                 directory: resolved.snapshotDirectory) { event in
                    if !json, case .step(let text) = event { printError("== \(text)") }
                }
            } catch let error as ClusterRestoreError {
                printError("error: \(error)")
                throw ExitCode(1)
            }
            restore = ClusterRestore(snapshotPath: copy, inventory: inventory, ssh: ssh, runner: SystemProcessRunner(),
                                     clientConfiguration: configuration, token: initialClusterToken, journalPath: journalPath)
            if !json { printError(Self.renderPlan(restore)) }
        } else {
            let path = try RemoteRestoreSource.localPath(for: snapshot ?? "", resolved)
            guard FileManager.default.fileExists(atPath: path) else {
                printError("error: \(path): no such snapshot (etcd-console snapshot list shows them)")
                throw ExitCode(1)
            }
            let inventory: ClusterInventory
            do {
                inventory = try await membership(snapshot: path, configuration: configuration, resolved: resolved)
            } catch let error as ClusterRestoreError {
                printError("error: \(error)")
                throw ExitCode(1)
            }
            restore = ClusterRestore(snapshotPath: path, inventory: inventory, ssh: ssh, runner: SystemProcessRunner(),
                                     clientConfiguration: configuration, token: initialClusterToken, journalPath: journalPath)
            if !json || !yes { printError(Self.renderPlan(restore)) }
            if !dryRun && !yes { try askYes("This stops etcd on every host above and replaces each member's data dir.", to: "restore the cluster") }
        }

        let onEvent: ClusterRestore.EventHandler = { event in
            guard !json else { return }
            switch event {
            case .step(let text): printError("== \(text)")
            case .output(let host, let line): printError("   [\(host)] \(line)")
            case .phase(let host, let phase): printError("   [\(host)] -> \(phase.rawValue)")
            }
        }
        let report: ClusterRestore.Report
        if let journal {
            report = rollback ? await restore.rollback(journal, onEvent: onEvent) : await restore.resume(journal, onEvent: onEvent)
        } else {
            report = await restore.run(dryRun: dryRun, onEvent: onEvent)
        }
        if json {
            try printJSON(report)
        } else {
            print(Self.renderReport(report))
        }
        let rolledBackAsAsked = rollback && report.rolledBack && report.error == nil
        if !report.succeeded && !rolledBackAsAsked { throw ExitCode(1) }
    }

    /// The members, in order: the inventory file, the live member list, the snapshot's sidecar.
    private func membership(snapshot path: String, configuration: EtcdClientConfiguration,
                            resolved: ResolvedConfiguration) async throws -> ClusterInventory {
        if let file = cluster.inventory { return try ClusterInventory.load(path: absolutePath(file)) }
        if let file = resolved[.clusterInventory] { return try ClusterInventory.load(path: file) }
        var quick = configuration
        quick.connectTimeout = .seconds(2)
        quick.callTimeout = .seconds(3)
        let client = EtcdClient(quick)
        let live = try? await client.memberList()
        await client.close()
        if let list = live, list.members.count > 1 {
            let members = list.members.filter { !$0.name.isEmpty }.map { (name: $0.name, peerURLs: $0.peerUrls, clientURLs: $0.clientUrls) }
            return try ClusterInventory.fromMemberList(members, source: "the live member list (\(quick.endpoints.map(\.description).joined(separator: ",")))",
                                                       sshUser: cluster.sshUser)
        }
        let sidecarPath = SnapshotCatalog.sidecarPath(for: path)
        if let data = FileManager.default.contents(atPath: sidecarPath),
           let metadata = try? SnapshotMetadata(sidecarJSON: data, path: sidecarPath), let recorded = metadata.initialCluster {
            return try ClusterInventory.fromInitialCluster(recorded, source: "the snapshot's sidecar (--initial-cluster at save time)",
                                                           sshUser: cluster.sshUser)
        }
        throw ClusterRestoreError("no membership for the cluster restore: give --inventory FILE (members, hosts, peer URLs), or --endpoints of the live cluster; the snapshot's sidecar records none")
    }

    static func renderPlan(_ restore: ClusterRestore) -> String {
        var lines = ["Cluster restore of \(restore.snapshotPath)",
                     "  members from \(restore.inventory.source)",
                     "  --initial-cluster \(restore.inventory.initialCluster)",
                     "  --initial-cluster-token \(restore.token) (new)",
                     "  journal \(restore.journalPath)"]
        for member in restore.inventory.members {
            lines.append("  \(member.name): \(member.ssh.map { "ssh \($0)\(member.sshPort.map { " -p \($0)" } ?? "")" } ?? "this host"), peer \(member.peerURLs.joined(separator: ",")), client \(member.clientURLs.joined(separator: ","))")
        }
        lines.append("Steps: reach every host; copy the snapshot to each and check its SHA-256 there; plan on each host (restore --dry-run); "
                     + "restore each member with etcd left stopped (restore --no-start; a failure rolls every host back); start every member together (restore --resume); "
                     + "check hashKV of every member at one revision and the new cluster id.")
        return lines.joined(separator: "\n")
    }

    static func renderReport(_ report: ClusterRestore.Report) -> String {
        var lines: [String] = []
        let width = max(6, report.hosts.map(\.name.count).max() ?? 0)
        lines.append("MEMBER".padding(toLength: width, withPad: " ", startingAt: 0) + "  PHASE        HOST")
        for host in report.hosts {
            lines.append(host.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                         + host.phase.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + "  " + host.host)
            if let detail = host.detail { lines.append("  " + detail) }
        }
        if report.dryRun && report.succeeded {
            lines.append("Dry run: every host answers, holds the snapshot (SHA-256 \(report.sha256)) and plans its restore; nothing was changed.")
        } else if report.succeeded {
            lines.append("Restored the cluster from \(report.snapshot): hashKV equal on every member at revision \(report.revision ?? 0); cluster id \(report.oldClusterID ?? "?") -> \(report.newClusterID ?? "?").")
        } else if report.rolledBack {
            lines.append(report.error.map { "Cluster restore FAILED: \($0)" } ?? "Rolled back: every host is back on its original data dir.")
        } else {
            lines.append("Cluster restore FAILED: \(report.error ?? "see above")")
        }
        for reminder in report.reminders { lines.append("next: \(reminder)") }
        return lines.joined(separator: "\n")
    }
}
