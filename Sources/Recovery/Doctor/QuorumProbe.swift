import Foundation

/// Which members of a multi-member cluster still answer, for the doctor's "lost quorum" finding: each member of
/// `--initial-cluster` is probed on its peer URL (a TCP connect with a short timeout: a member whose etcd runs
/// listens there, TLS or not, whether or not the cluster has a leader). Nothing is sent.
public struct QuorumProbe: Sendable {
    public struct Member: Sendable, Equatable {
        public var name: String
        public var peerURL: String
        public var answers: Bool
    }

    /// `name=peer-url,...` as etcd's `--initial-cluster` (a name may appear once per peer URL).
    public let initialCluster: String
    /// This member's `--name`, when known.
    public let localName: String?
    /// Whether something accepts a connection at a peer URL; the default connects over TCP.
    public var answers: @Sendable (String) -> Bool

    public init(initialCluster: String, localName: String?, answers: (@Sendable (String) -> Bool)? = nil) {
        self.initialCluster = initialCluster
        self.localName = localName
        self.answers = answers ?? { QuorumProbe.connects(to: $0) }
    }

    /// The members (one entry per name, answering when any of its peer URLs does), in `--initial-cluster` order.
    public func probe() -> [Member] {
        var order: [String] = []
        var urls: [String: [String]] = [:]
        for entry in initialCluster.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { continue }
            if urls[parts[0]] == nil { order.append(parts[0]) }
            urls[parts[0], default: []].append(parts[1])
        }
        return order.map { name in
            let peers = urls[name] ?? []
            return Member(name: name, peerURL: peers.joined(separator: ","), answers: peers.contains { answers($0) })
        }
    }

    /// The doctor's finding: ok while a majority answers, critical ("quorum-lost") otherwise; nil for a single
    /// member or an unreadable `--initial-cluster`.
    public func finding(dataIntact: Bool) -> DoctorFinding? {
        let members = probe()
        guard members.count > 1 else { return nil }
        let answering = members.filter(\.answers)
        let majority = members.count / 2 + 1
        func label(_ m: Member) -> String { m.name == localName ? "\(m.name) (this member)" : m.name }
        let who = "answering: \(answering.isEmpty ? "none" : answering.map(label).joined(separator: ", "))"
        let silent = members.filter { !$0.answers }
        if answering.count >= majority {
            let rest = silent.isEmpty ? "" : "; not answering: " + silent.map { "\(label($0)) at \($0.peerURL)" }.joined(separator: ", ")
            return DoctorFinding(.ok, "quorum", "\(answering.count) of \(members.count) members answer on their peer URLs, a majority (\(who)\(rest))")
        }
        let action = dataIntact
            ? "If the silent members are gone for good, recover from this member's data (the checks above found it intact): etcd-console restore --cluster --inventory <cluster.yaml> --from-survivor \(localName ?? "<this member>") restores every member from it over SSH. By hand: stop etcd, keep a copy of the data dir, start this member alone with --force-new-cluster, then add the others back one at a time (etcdctl member add NAME --peer-urls URL, an empty data dir, --initial-cluster-state existing). Otherwise restore every member from one snapshot with a new --initial-cluster-token."
            : "This member's data is damaged (see above): restore every member from one snapshot with the same --initial-cluster and a new --initial-cluster-token, or recover from another member whose data is intact (run etcd-console doctor there)."
        return DoctorFinding(.critical, "quorum-lost",
            "only \(answering.count) of \(members.count) members answer on their peer URLs (\(who); not answering: \(silent.map { "\(label($0)) at \($0.peerURL)" }.joined(separator: ", "))): without \(majority) the cluster cannot elect a leader or accept writes",
            action: action)
    }

    /// True when a TCP connection to the URL's host and port (default 2380) opens within half a second (the
    /// restore's health probe's connect).
    public static func connects(to url: String) -> Bool {
        guard let components = URLComponents(string: url), var host = components.host, !host.isEmpty else { return false }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return LiveEtcdHealthProbe.accepts(host: host, port: components.port ?? 2380)
    }
}
