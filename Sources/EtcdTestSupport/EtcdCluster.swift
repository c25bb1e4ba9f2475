import Foundation

/// A real etcd cluster of several members on loopback ports, each an `EtcdProcess` with its own data directory
/// and log, started together (a new member serves clients only once a quorum has formed).
public final class EtcdCluster: Sendable {
    /// The members, in the order of `--initial-cluster`: m1, m2, m3...
    public let members: [EtcdProcess]

    /// The cluster token every member was started with.
    public let token: String

    private init(members: [EtcdProcess], token: String) {
        self.members = members
        self.token = token
    }

    /// Every member's client URL, comma-separated (for --endpoints).
    public var endpoints: String { members.map(\.clientURL).joined(separator: ",") }

    /// `--initial-cluster` as the members were started: "m1=http://127.0.0.1:P1,m2=...".
    public var initialCluster: String { members.map { "\($0.options.name)=\($0.peerURL)" }.joined(separator: ",") }

    /// Starts `size` members named m1...mN of `version` and waits until every one serves clients.
    /// Heartbeat and election timeouts are etcd's defaults (100 ms / 1 s): shorter ones make a loaded
    /// 2-core test host change leaders while a test runs.
    ///
    /// `prepare`, when given, runs for each member before any starts, with what the member will be started as: a
    /// test can fill the data directory first (`etcdutl snapshot restore` with that name, peer URL, cluster and
    /// token), so the cluster comes up from it.
    public static func start(_ version: EtcdVersion, size: Int = 3, name: String = "cluster",
                             prepare: (@Sendable (MemberPlan) throws -> Void)? = nil) async throws -> EtcdCluster {
        let binaries = try EtcdBinaries.locate(version)
        var attempt = 0
        while true {
            attempt += 1
            let ports = try LoopbackPorts.pick(2 * size)
            let token = "etcd-console-test-\(name)"
            let names = (1...size).map { "m\($0)" }
            let peers = names.indices.map { "http://127.0.0.1:\(ports[2 * $0 + 1])" }
            let initialCluster = zip(names, peers).map { "\($0)=\($1)" }.joined(separator: ",")
            var members: [EtcdProcess] = []
            for (index, member) in names.enumerated() {
                let options = EtcdOptions(version: version, name: member, extraFlags: [
                    "--initial-cluster", initialCluster, "--initial-cluster-token", token,
                    "--heartbeat-interval", "100", "--election-timeout", "1000",
                ])
                let directory = try TestDirectories.make("etcd-\(version.rawValue)-\(name)-\(member)")
                let process = EtcdProcess(options: options, binaries: binaries, directory: directory,
                                          clientPort: ports[2 * index], peerPort: ports[2 * index + 1])
                try prepare?(MemberPlan(name: member, dataDir: process.dataDir, peerURL: process.peerURL,
                                        initialCluster: initialCluster, token: token, binaries: binaries))
                members.append(process)
            }
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for member in members { group.addTask { try await member.launch() } }
                    try await group.waitForAll()
                }
                return EtcdCluster(members: members, token: token)
            } catch let error as EtcdTestSupportError where attempt < 3 && error.message.contains("address already in use") {
                for member in members { member.stopNow() }
                continue
            } catch {
                for member in members { member.stopNow() }
                throw error
            }
        }
    }

    /// What one member will be started as, for `start(prepare:)`.
    public struct MemberPlan: Sendable {
        public var name: String
        public var dataDir: URL
        public var peerURL: String
        public var initialCluster: String
        public var token: String
        public var binaries: EtcdBinaries
    }

    /// Stops every member (blocking, for `defer`).
    public func stopNow() {
        for member in members { member.stopNow() }
    }
}
