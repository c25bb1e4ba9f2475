import EtcdClient
import Foundation
import Recovery
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// One restore from settings to executor: the options from the one settings value, the plan, the journal
/// lookup and the executor with its health-check connection. `etcd-console restore` and the console's restore
/// wizard both go through this type, so they cannot resolve the identity, the tool, the data dir or the
/// service differently.
public struct RestoreSession: Sendable {
    /// The one settings value of this command (flags > environment > config file > discovery, run once > defaults).
    public let settings: ResolvedConfiguration
    public let runner: any ProcessRunner
    /// How this command reaches etcd (the connection settings); the restore's health checks start from it. Called
    /// only when an executor is made, so a dry run never prompts for a password.
    public let clientConfiguration: @Sendable () throws -> EtcdClientConfiguration
    /// The operator named the endpoints (`--endpoints` or ETCDCTL_ENDPOINTS, by the settings' provenance): the
    /// restore checks health there. Otherwise it checks the plan's endpoints (discovered) with etcd's own certificates.
    public var endpointsGiven: Bool { settings.endpointsNamedByOperator }
    public var skipVerify: Bool
    public var stopTimeout: Duration
    public var startTimeout: Duration

    public init(settings: ResolvedConfiguration, runner: any ProcessRunner,
                clientConfiguration: @escaping @Sendable () throws -> EtcdClientConfiguration,
                skipVerify: Bool = false, stopTimeout: Duration = .seconds(90),
                startTimeout: Duration = .seconds(90)) {
        self.settings = settings
        self.runner = runner
        self.clientConfiguration = clientConfiguration
        self.skipVerify = skipVerify
        self.stopTimeout = stopTimeout
        self.startTimeout = startTimeout
    }

    /// How etcd runs here, as discovered once for these settings; nothing found is not an error (defaults apply).
    public var deployment: EtcdDeployment { settings.deployment ?? EtcdDeployment(kind: .none) }

    /// The member a running etcd says it is (name and peer URLs from its member list).
    public struct RunningMember: Sendable, Equatable {
        public var name: String
        public var peerURLs: [String]

        public init(name: String, peerURLs: [String]) {
            self.name = name
            self.peerURLs = peerURLs
        }
    }

    /// The restore's options for `snapshot`: the settings (each with its source), then `runningMember` when
    /// nothing the operator set (flag, environment, config file) names the member, then the wizard's `edits`.
    public func options(snapshot: String, runningMember: RunningMember? = nil, edits: RestoreEdits = RestoreEdits()) -> RestoreOptions {
        var options = RestoreOptions.resolved(snapshotPath: snapshot, settings)
        options.endpoints = endpointsGiven ? settings.endpoints.map { $0.trimmingCharacters(in: .whitespaces) } : nil
        options.skipVerify = skipVerify
        options.stopTimeout = stopTimeout
        options.startTimeout = startTimeout
        // While etcd answers, the member restores as itself: its name and peer URLs as etcd reports them win over
        // discovered files (which may describe another etcd on this host), not over what the operator set.
        let operatorSet = [ConfigurationKey.name, .initialCluster, .initialAdvertisePeerURLs].contains { key in
            settings.chosen(key).map { $0.source.layer != "discovery" } ?? false
        }
        if !operatorSet, let member = runningMember, !member.name.isEmpty, !member.peerURLs.isEmpty {
            options.name = member.name
            options.initialAdvertisePeerURLs = member.peerURLs.joined(separator: ",")
            options.initialCluster = member.peerURLs.map { "\(member.name)=\($0)" }.joined(separator: ",")
            let source = "etcd itself (member list of the running member)"
            options.sources[.name] = source
            options.sources[.initialAdvertisePeerURLs] = source
            options.sources[.initialCluster] = source
        }
        return edits.applied(to: options)
    }

    /// The data dir a restore with these settings targets (without edits): where its journal is looked for.
    public var dataDir: String { RestorePlanner.dataDir(options: options(snapshot: ""), deployment: deployment) }

    /// The unfinished journal next to the data dir, nil when there is none.
    public func unfinishedJournal() -> RestoreJournal? { RestoreJournal.unfinished(dataDir: dataDir) }

    /// The plan for `options` (from `options(snapshot:...)`). Throws `RestoreError(.journal)` while an unfinished
    /// restore of the same data dir exists, and the planner's errors.
    public func plan(_ options: RestoreOptions) async throws -> RestorePlan {
        if let journal = RestoreJournal.unfinished(dataDir: RestorePlanner.dataDir(options: options, deployment: deployment)) {
            throw RestoreError(.journal, "\(journal.summary): finish it first (etcd-console restore --resume or --rollback; the console offers both at its next start)")
        }
        var options = options
        var compressed: String?
        if CompressedSnapshot.isCompressed(options.snapshotPath) {
            // The restore tools read a plain file: a `.db.zst` is decompressed beside it first (a hidden name the
            // catalog does not list), and the plan restores from that copy.
            compressed = options.snapshotPath
            options.snapshotPath = try Self.decompressForRestore(options.snapshotPath)
        }
        var plan = try await RestorePlanner(runner: runner).plan(deployment: deployment, options: options)
        if let compressed {
            plan.notes.insert("\(compressed) is compressed: the restore uses its decompressed copy \(plan.snapshotPath) (etcd-console removes it after a restore that succeeds)", at: 0)
        }
        return plan
    }

    /// `<dir>/.<name>.db.restore` for `<dir>/<name>.db.zst`, decompressed atomically (0600); replaced when present.
    public static func restoreCopyPath(for compressed: String) -> String {
        let directory = (compressed as NSString).deletingLastPathComponent
        return directory + "/." + CompressedSnapshot.plainName((compressed as NSString).lastPathComponent) + ".restore"
    }

    static func decompressForRestore(_ path: String) throws -> String {
        let target = restoreCopyPath(for: path)
        let plain: CompressedSnapshot.Plain
        do { plain = try CompressedSnapshot.decompress(path) } catch {
            throw RestoreError(.invalidPlan, "cannot restore from \(path): \(error.detail)")
        }
        unlink(target)
        do {
            let sink = try AtomicFileSink(path: target, mode: 0o600)
            do { _ = try FileByteSource(path: plain.path).pump(into: sink) } catch {
                sink.abort()
                throw error
            }
        } catch {
            throw RestoreError(.invalidPlan, "cannot restore from \(path): could not write its decompressed copy \(target): \(error)")
        }
        PageCache.drop(path: target)
        return target
    }

    /// Removes the decompressed copy a plan of a `.db.zst` restored from (after a restore that succeeded).
    public static func removeRestoreCopy(of plan: RestorePlan) {
        let name = (plan.snapshotPath as NSString).lastPathComponent
        guard name.hasPrefix("."), name.hasSuffix(".db.restore") else { return }
        unlink(plan.snapshotPath)
    }

    /// The executor for `plan` (a new one, or one from a journal), checking health as `healthConfiguration` says.
    public func executor(for plan: RestorePlan, stopRequest: RestoreExecutor.StopRequest = .init()) throws -> RestoreExecutor {
        RestoreExecutor(plan: plan, runner: runner, clientConfiguration: try healthConfiguration(for: plan),
                        stopRequest: stopRequest)
    }

    /// How to reach the restored etcd: the connection settings when the operator named endpoints, else the plan's
    /// endpoints with the certificates etcd itself uses (a kubeadm or binary install's server cert can act as a client).
    public func healthConfiguration(for plan: RestorePlan) throws -> EtcdClientConfiguration {
        var configuration = try clientConfiguration()
        if !endpointsGiven {
            let secure = plan.endpoints.contains { $0.hasPrefix("https") }
            configuration.endpoints = try plan.endpoints.map { try Endpoint(parsing: $0, defaultSecure: secure) }
            if secure && configuration.tls.caFile == nil {
                configuration.tls = TLSConfiguration(caFile: deployment.trustedCAFile, certificateFile: deployment.certFile,
                                                     keyFile: deployment.keyFile)
            }
        }
        return configuration
    }

    /// The member `client`'s etcd says it is, nil when it does not answer (etcd down is the usual case for a restore).
    public static func runningMember(of client: EtcdClient) async -> RunningMember? {
        guard let status = try? await client.status(), let list = try? await client.memberList(),
              let member = list.members.first(where: { $0.id == status.header.memberID }) else { return nil }
        return RunningMember(name: member.name, peerURLs: member.peerUrls)
    }
}
