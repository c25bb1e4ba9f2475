import EtcdClient
import Foundation
import SnapshotStore
import Yams
#if canImport(Glibc)
import Glibc
#endif

/// One member of the cluster to restore, and how to reach its host.
public struct ClusterMember: Codable, Sendable, Equatable {
    /// The member's `--name`.
    public var name: String
    /// Its `--initial-advertise-peer-urls`.
    public var peerURLs: [String]
    /// Its client URLs (health, hashKV); empty: `<peer host>:2379`.
    public var clientURLs: [String]
    /// The SSH destination (`host` or `user@host`, as `ssh` takes it); nil: this machine, reached directly.
    public var ssh: String?
    public var sshPort: Int?
    /// Settings for that host's `etcd-console restore` (nil: its own discovery / config file decides).
    public var dataDir: String?
    public var unit: String?
    public var restoreTool: String?
    /// The etcd-console program on that host.
    public var console: String
    /// Where the snapshot is copied to on that host.
    public var snapshotDir: String

    public init(name: String, peerURLs: [String], clientURLs: [String] = [], ssh: String? = nil, sshPort: Int? = nil,
                dataDir: String? = nil, unit: String? = nil, restoreTool: String? = nil,
                console: String = "etcd-console", snapshotDir: String = "/var/lib/etcd-backup") {
        self.name = name
        self.peerURLs = peerURLs
        self.clientURLs = clientURLs.isEmpty ? Self.defaultClientURLs(peerURLs) : clientURLs
        self.ssh = ssh
        self.sshPort = sshPort
        self.dataDir = dataDir
        self.unit = unit
        self.restoreTool = restoreTool
        self.console = console
        self.snapshotDir = snapshotDir
    }

    /// "m2 (root@10.0.0.2)" / "m1 (this host)".
    public var label: String { "\(name) (\(ssh.map { $0 + (sshPort.map { ":\($0)" } ?? "") } ?? "this host"))" }

    /// etcd's default client port on the peer URL's host.
    static func defaultClientURLs(_ peers: [String]) -> [String] {
        peers.compactMap { peer in
            guard var parts = URLComponents(string: peer), parts.host != nil else { return nil }
            parts.port = 2379
            return parts.string
        }
    }
}

/// Where the members came from, in the order they are asked: an inventory file, the live member list, the
/// snapshot's sidecar (the `--initial-cluster` recorded at save time).
public struct ClusterInventory: Sendable, Equatable {
    public var members: [ClusterMember]
    /// `ssh-options:` of the file: `ssh -o` options for every host (IdentityFile=..., UserKnownHostsFile=...).
    public var sshOptions: [String] = []
    /// "inventory /etc/etcd-console/cluster.yaml", "the live member list (https://...)", "the snapshot's sidecar".
    public var source: String

    public init(members: [ClusterMember], source: String, sshOptions: [String] = []) {
        self.members = members
        self.source = source
        self.sshOptions = sshOptions
    }

    /// `--initial-cluster` for the restore: every member's name and peer URLs.
    public var initialCluster: String {
        members.flatMap { member in member.peerURLs.map { "\(member.name)=\($0)" } }.joined(separator: ",")
    }

    public var clientURLs: [String] { members.flatMap(\.clientURLs) }

    /// Reads an inventory file:
    ///
    /// ```yaml
    /// ssh-user: root            # optional, for every host
    /// ssh-options:              # optional `ssh -o` options for every host
    ///   - IdentityFile=/root/.ssh/etcd-restore
    /// snapshot-dir: /var/lib/etcd-backup
    /// members:
    ///   - name: master-1
    ///     host: local           # this machine: no SSH
    ///     peer-urls: https://10.0.0.1:2380
    ///   - name: master-2
    ///     host: 10.0.0.2        # the SSH destination (user@host works too)
    ///     ssh-port: 22
    ///     peer-urls: https://10.0.0.2:2380
    ///     client-urls: https://10.0.0.2:2379
    ///     data-dir: /var/lib/etcd
    ///     unit: etcd
    ///     restore-tool: /usr/local/bin/etcdutl
    ///     etcd-console: /usr/local/bin/etcd-console
    /// ```
    public static func load(path: String) throws -> ClusterInventory {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ELOOP ? "it is a symbolic link (refused: name the real file)" : String(cString: strerror(errno))
            throw ClusterRestoreError("cannot read the inventory \(path): \(reason)")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let data = (try? handle.readToEnd()) ?? Data()
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String) throws -> ClusterInventory {
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch {
            throw ClusterRestoreError("the inventory \(path) is not valid YAML: \(error)")
        }
        guard let top = root as? [String: Any] else {
            throw ClusterRestoreError("the inventory \(path) must be a mapping with a members: list")
        }
        let known: Set<String> = ["members", "ssh-user", "ssh-options", "snapshot-dir", "etcd-console"]
        if let unknown = top.keys.sorted().first(where: { !known.contains($0) }) {
            throw ClusterRestoreError("the inventory \(path) has an unknown key \(unknown) (known: \(known.sorted().joined(separator: ", ")))")
        }
        let user = try string(top["ssh-user"], "ssh-user", path)
        let snapshotDir = try string(top["snapshot-dir"], "snapshot-dir", path) ?? "/var/lib/etcd-backup"
        let console = try string(top["etcd-console"], "etcd-console", path) ?? "etcd-console"
        var sshOptions: [String] = []
        if let value = top["ssh-options"] {
            guard let list = value as? [Any], let texts = list as? [String], texts.allSatisfy({ $0.contains("=") && !$0.hasPrefix("-") }) else {
                throw ClusterRestoreError("the inventory \(path): ssh-options must be a list of ssh -o options like IdentityFile=/root/.ssh/id_ed25519")
            }
            sshOptions = texts
        }
        guard let list = top["members"] as? [Any], !list.isEmpty else {
            throw ClusterRestoreError("the inventory \(path) has no members: list (one entry per member, each with name, host and peer-urls)")
        }
        let memberKeys: Set<String> = ["name", "host", "ssh-port", "peer-urls", "client-urls", "data-dir", "unit", "restore-tool", "etcd-console", "snapshot-dir"]
        var members: [ClusterMember] = []
        for (index, item) in list.enumerated() {
            let at = "member \(index + 1)"
            guard let entry = item as? [String: Any] else { throw ClusterRestoreError("the inventory \(path): \(at) is not a mapping") }
            if let unknown = entry.keys.sorted().first(where: { !memberKeys.contains($0) }) {
                throw ClusterRestoreError("the inventory \(path): \(at) has an unknown key \(unknown) (known: \(memberKeys.sorted().joined(separator: ", ")))")
            }
            guard let name = try string(entry["name"], "\(at) name", path), !name.isEmpty else {
                throw ClusterRestoreError("the inventory \(path): \(at) has no name (the member's --name)")
            }
            guard let host = try string(entry["host"], "\(name) host", path), !host.isEmpty else {
                throw ClusterRestoreError("the inventory \(path): member \(name) has no host (an SSH destination, or local for this machine)")
            }
            let peers = try urls(entry["peer-urls"], "\(name) peer-urls", path)
            guard !peers.isEmpty else { throw ClusterRestoreError("the inventory \(path): member \(name) has no peer-urls") }
            let clients = try urls(entry["client-urls"], "\(name) client-urls", path)
            var port: Int?
            if let value = entry["ssh-port"] {
                guard let number = value as? Int, (1...65535).contains(number) else {
                    throw ClusterRestoreError("the inventory \(path): member \(name) ssh-port must be a port number")
                }
                port = number
            }
            var destination: String?
            if host != "local" { destination = (user != nil && !host.contains("@")) ? "\(user!)@\(host)" : host }
            members.append(ClusterMember(name: name, peerURLs: peers, clientURLs: clients, ssh: destination, sshPort: port,
                                         dataDir: try string(entry["data-dir"], "\(name) data-dir", path),
                                         unit: try string(entry["unit"], "\(name) unit", path),
                                         restoreTool: try string(entry["restore-tool"], "\(name) restore-tool", path),
                                         console: try string(entry["etcd-console"], "\(name) etcd-console", path) ?? console,
                                         snapshotDir: try string(entry["snapshot-dir"], "\(name) snapshot-dir", path) ?? snapshotDir))
        }
        try checkDistinct(members, source: "the inventory \(path)")
        return ClusterInventory(members: members, source: "the inventory \(path)", sshOptions: sshOptions)
    }

    /// The members of a live cluster (names, peer and client URLs); each host reached over SSH at its peer URL's
    /// host unless that address is this machine's.
    public static func fromMemberList(_ members: [(name: String, peerURLs: [String], clientURLs: [String])], source: String,
                                      sshUser: String?, isLocal: (String) -> Bool = ClusterInventory.isLocalAddress) throws -> ClusterInventory {
        let list = members.map { member in
            let host = member.peerURLs.first.flatMap { URLComponents(string: $0)?.host } ?? ""
            return ClusterMember(name: member.name, peerURLs: member.peerURLs, clientURLs: member.clientURLs,
                                 ssh: isLocal(host) ? nil : (sshUser.map { "\($0)@\(host)" } ?? host))
        }
        try checkDistinct(list, source: source)
        return ClusterInventory(members: list, source: source)
    }

    /// The members named by an `--initial-cluster` value (name=peer-url,...), as the snapshot's sidecar records it.
    public static func fromInitialCluster(_ value: String, source: String, sshUser: String?,
                                          isLocal: (String) -> Bool = ClusterInventory.isLocalAddress) throws -> ClusterInventory {
        var order: [String] = []
        var peers: [String: [String]] = [:]
        for entry in value.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, URLComponents(string: parts[1])?.host != nil else {
                throw ClusterRestoreError("\(source): \"\(entry)\" is not name=peer-url")
            }
            if peers[parts[0]] == nil { order.append(parts[0]) }
            peers[parts[0], default: []].append(parts[1])
        }
        return try fromMemberList(order.map { (name: $0, peerURLs: peers[$0]!, clientURLs: []) }, source: source,
                                  sshUser: sshUser, isLocal: isLocal)
    }

    /// True for a non-loopback address of this machine or its host name: that member is restored directly.
    /// Loopback addresses are never "this machine" here: test hosts and single-machine labs use 127.0.0.x
    /// for several hosts.
    public static func isLocalAddress(_ host: String) -> Bool {
        if host.isEmpty { return false }
        var name = [CChar](repeating: 0, count: 256)
        if gethostname(&name, name.count) == 0,
           String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) == host { return true }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return false }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr else { continue }
            let family = Int32(address.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            guard getnameinfo(address, length, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            let numeric = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if numeric.hasPrefix("127.") || numeric == "::1" { continue }
            if numeric == host || numeric.split(separator: "%").first.map(String.init) == host { return true }
        }
        return false
    }

    private static func checkDistinct(_ members: [ClusterMember], source: String) throws {
        var names = Set<String>()
        var peers = Set<String>()
        for member in members {
            guard names.insert(member.name).inserted else { throw ClusterRestoreError("\(source) names the member \(member.name) twice") }
            for peer in member.peerURLs {
                guard peers.insert(peer).inserted else { throw ClusterRestoreError("\(source) gives the peer URL \(peer) to two members") }
            }
        }
        guard members.count >= 2 else {
            throw ClusterRestoreError("\(source) names \(members.count) member: a cluster restore is for 2 or more (restore one member with etcd-console restore)")
        }
    }

    private static func string(_ value: Any?, _ field: String, _ path: String) throws -> String? {
        guard let value else { return nil }
        if let text = value as? String { return text }
        if let number = value as? Int { return String(number) }
        throw ClusterRestoreError("the inventory \(path): \(field) must be text")
    }

    private static func urls(_ value: Any?, _ field: String, _ path: String) throws -> [String] {
        guard let value else { return [] }
        let words: [String]
        if let text = value as? String {
            words = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } else if let list = value as? [Any] {
            words = try list.map { item in
                guard let text = item as? String else { throw ClusterRestoreError("the inventory \(path): \(field) must be URLs") }
                return text
            }
        } else {
            throw ClusterRestoreError("the inventory \(path): \(field) must be a URL or a list of URLs")
        }
        for word in words {
            guard let parts = URLComponents(string: word), ["http", "https"].contains(parts.scheme ?? ""), parts.host != nil, parts.port != nil else {
                throw ClusterRestoreError("the inventory \(path): \(field) \"\(word)\" is not a URL like https://10.0.0.2:2380")
            }
        }
        return words
    }
}

/// A cluster restore that cannot go on; the message says what and on which host.
public struct ClusterRestoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
