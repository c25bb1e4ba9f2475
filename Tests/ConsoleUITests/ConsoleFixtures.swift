@testable import ConsoleUI
@testable import EtcdClient
import Foundation
import Recovery
@testable import SnapshotStore

/// Consoles in the states the issue names, built from plain values at a fixed time (UTC), for golden and key tests.
enum ConsoleFixtures {
    /// 2026-11-25 12:03:01 UTC.
    static let now = Date(timeIntervalSince1970: 1_795_608_181)
    static let clock = ConsoleClock(timeZone: TimeZone(identifier: "UTC")!)
    static let directory = "/var/lib/etcd-backup"

    static func console(readonly: Bool = false) -> Console {
        Console(directory: directory, endpoints: "https://10.0.0.5:2379,https://10.0.0.6:2379,https://10.0.0.7:2379",
                readonly: readonly, now: now, clock: clock)
    }

    static func member(_ name: String, id: UInt64, ip: String, leader: Bool = false, errors: [String] = [],
                       reachable: Bool = true) -> MemberStatus {
        MemberStatus(name: name, id: id, endpoint: "https://\(ip):2379", version: reachable ? "3.5.17" : nil,
                     isLeader: reachable ? leader : nil, isLearner: false,
                     dbSize: reachable ? 48_234_496 : nil, dbSizeInUse: reachable ? 31_457_280 : nil,
                     raftTerm: reachable ? 7 : nil, raftIndex: reachable ? 1_204_332 : nil,
                     raftAppliedIndex: reachable ? 1_204_332 : nil, errors: errors,
                     latency: reachable ? .microseconds(1_840) : nil)
    }

    static let healthyMembers = [
        member("master1", id: 0x8e9e05c52164694d, ip: "10.0.0.5", leader: true),
        member("master2", id: 0x91bc3c398fb3c146, ip: "10.0.0.6"),
        member("master3", id: 0xfd422379fda50e48, ip: "10.0.0.7"),
    ]

    static let degradedMembers = [
        member("master1", id: 0x8e9e05c52164694d, ip: "10.0.0.5", leader: true, errors: ["alarm: NOSPACE"]),
        member("master2", id: 0x91bc3c398fb3c146, ip: "10.0.0.6"),
        member("master3", id: 0xfd422379fda50e48, ip: "10.0.0.7",
               errors: ["could not reach https://10.0.0.7:2379: connection refused"], reachable: false),
    ]

    /// `etcd-console check` with master3's keys differing from the other two.
    static let divergedCheck = ConsistencyCheck(
        revision: 1_204_000,
        members: [
            .init(name: "master1", endpoint: "https://10.0.0.5:2379", hash: "5d1c3a09", consistent: true, error: nil),
            .init(name: "master2", endpoint: "https://10.0.0.6:2379", hash: "5d1c3a09", consistent: true, error: nil),
            .init(name: "master3", endpoint: "https://10.0.0.7:2379", hash: "0b77e2f4", consistent: false, error: nil),
        ],
        verdict: "NOT CONSISTENT: 1 of 3 members differ at revision 1204000",
        findings: [.init(isError: true, message: "master3's keys differ from master1, master2 at revision 1204000 (hash 0b77e2f4 vs 5d1c3a09)",
                         action: "Do not restore from a snapshot of master3. Replace it: `etcdctl member remove` it, wipe its data dir (move it aside), `member add` it back with --initial-cluster-state existing.")],
        healthy: false)

    static let doctorReport = DoctorReport(findings: [
        DoctorFinding(.critical, "snap-db-missing",
                      "member/snap/0000000000000007-0000000000123456.snap is at index 1193046 but member/snap/000000000000123456.snap.db is missing and the db's consistent_index is 1180000: etcd will refuse to start with \"failed to find database snapshot file\"",
                      action: "Restore from the newest good snapshot (R on Snapshots)"),
        DoctorFinding(.ok, "wal", "3 WAL files, sequence complete"),
        DoctorFinding(.warning, "backup-same-disk", "the backups in /var/lib/etcd-backup are on the same filesystem as /var/lib/etcd",
                      action: "Copy snapshots to another disk or host"),
    ], recommendation: "Restore snapshot-20261125T120000Z-master1.db (good, 3m old)")

    static func entry(_ index: Int, health: SnapshotHealth = .good, ours: Bool = true) -> SnapshotEntry {
        let takenAt = now.addingTimeInterval(-Double(index) * 1800 - 181)
        var parts = tm()
        var seconds = time_t(takenAt.timeIntervalSince1970)
        gmtime_r(&seconds, &parts)
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                           parts.tm_hour, parts.tm_min, parts.tm_sec)
        let name = "snapshot-\(stamp)-master1.db"
        let revision = Int64(1_204_000 - index * 311)
        return SnapshotEntry(name: name, path: directory + "/" + name, size: 48_234_528 - index * 4096, modified: takenAt,
                             takenAt: takenAt, takenAtSource: ours ? .sidecar : .fileName, health: health,
                             reason: health == .corrupt ? "truncated at 21 MB of 48 MB" : nil,
                             revision: health == .good ? revision : nil, liveKeys: health == .good ? 4_812 - index : nil,
                             sha256: health == .good ? "6f1c0e3b2a9d84c7e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c" : nil,
                             clusterID: ours ? "cdf818194e3a8c32" : nil, memberID: ours ? "8e9e05c52164694d" : nil,
                             memberName: ours ? "master1" : nil, etcdVersion: ours ? "3.5.17" : nil,
                             resources: health == .good ? ["pods": 412, "secrets": 233, "configmaps": 301, "deployments": 87,
                                                            "replicasets": 260, "services/specs": 64, "events": 1_920,
                                                            "leases": 48, "namespaces": 14] : nil,
                             isOurs: ours)
    }

    static func listing(_ count: Int) -> CatalogListing {
        CatalogListing(entries: (0..<count).map { i in entry(i, health: i == 2 ? .corrupt : i == 4 ? .unverified : .good, ours: i % 3 != 1) },
                       leftoverParts: [], ignored: [])
    }

    /// Members healthy, a listing of `snapshots`, on the Snapshots tab.
    static func withSnapshots(_ count: Int, readonly: Bool = false) -> Console {
        var console = console(readonly: readonly)
        _ = console.apply(.members(healthyMembers, at: now))
        _ = console.apply(.snapshots(listing(count), freeBytes: 41_234_567_890, at: now))
        console.tab = .snapshots
        return console
    }

    static func progress(_ received: Int, of total: Int, seconds: Int64) -> SnapshotProgress {
        SnapshotProgress(bytesReceived: received, totalBytes: total, elapsed: .seconds(seconds))
    }

    static let objects: [KubernetesObject] = [
        KubernetesObject(etcdKey: "/registry/namespaces/default", resource: "namespaces", namespace: nil, name: "default",
                         kind: "Namespace", apiVersion: "v1", uid: "5b0c5c83-0d1e-4d0a-9d38-4f7f5a1b2c3d",
                         creationTimestamp: now.addingTimeInterval(-86_400 * 30), valueSize: 412, encoding: .protobuf),
        KubernetesObject(etcdKey: "/registry/pods/default/web-7d4b9c-x2v9k", resource: "pods", namespace: "default",
                         name: "web-7d4b9c-x2v9k", kind: "Pod", apiVersion: "v1", uid: "0f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                         creationTimestamp: now.addingTimeInterval(-3_600), labels: ["app": "web", "pod-template-hash": "7d4b9c"],
                         valueSize: 3_412, encoding: .protobuf),
        KubernetesObject(etcdKey: "/registry/pods/default/web-7d4b9c-zk2lp", resource: "pods", namespace: "default",
                         name: "web-7d4b9c-zk2lp", kind: "Pod", apiVersion: "v1", valueSize: 3_398, encoding: .protobuf),
        KubernetesObject(etcdKey: "/registry/pods/kube-system/etcd-master1", resource: "pods", namespace: "kube-system",
                         name: "etcd-master1", kind: "Pod", apiVersion: "v1", valueSize: 5_120, encoding: .protobuf),
        KubernetesObject(etcdKey: "/registry/secrets/default/db-password", resource: "secrets", namespace: "default",
                         name: "db-password", kind: "Secret", apiVersion: "v1", uid: "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
                         creationTimestamp: now.addingTimeInterval(-7_200), labels: ["app": "db"],
                         valueSize: 288, encoding: .protobuf),
    ]

    /// A Deployment stuck terminating (deletionTimestamp + finalizers, owned by a controller) and an encrypted Secret.
    static let stuckObjects: [KubernetesObject] = [
        KubernetesObject(etcdKey: "/registry/deployments/shop/web", resource: "deployments", namespace: "shop", name: "web",
                         kind: "Deployment", apiVersion: "apps/v1", uid: "1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a",
                         creationTimestamp: now.addingTimeInterval(-86_400 * 3), deletionTimestamp: now.addingTimeInterval(-5_400),
                         finalizers: ["foregroundDeletion", "example.com/protect"],
                         ownerReferences: [KubernetesOwnerReference(apiVersion: "example.com/v1", kind: "Shop", name: "main",
                                                                    uid: "77aa", controller: true)],
                         valueSize: 2_210, encoding: .protobuf),
        KubernetesObject(etcdKey: "/registry/secrets/shop/db", resource: "secrets", namespace: "shop", name: "db",
                         valueSize: 512, encoding: .encrypted,
                         encryption: KubernetesEncryption(provider: "aescbc", version: "v1", keyName: "key-2026")),
        KubernetesObject(etcdKey: "/registry/services/specs/shop/web", resource: "services/specs", namespace: "shop", name: "web",
                         kind: "Service", apiVersion: "v1", valueSize: 640, encoding: .protobuf),
    ]

    static let diff = SnapshotDiff(
        added: [ObjectRef(resource: "pods", namespace: "default", name: "web-7d4b9c-n8m2q")],
        removed: [ObjectRef(resource: "pods", namespace: "default", name: "web-7d4b9c-zk2lp"),
                  ObjectRef(resource: "secrets", namespace: "default", name: "old-token")],
        changed: [ObjectRef(resource: "deployments", namespace: "default", name: "web"),
                  ObjectRef(resource: "leases", namespace: "kube-system", name: "kube-scheduler")],
        summary: [DiffSummaryRow(resource: "deployments", namespace: "default", changed: 1),
                  DiffSummaryRow(resource: "leases", namespace: "kube-system", changed: 1),
                  DiffSummaryRow(resource: "pods", namespace: "default", added: 1, removed: 1),
                  DiffSummaryRow(resource: "secrets", namespace: "default", removed: 1)],
        fromRevision: 1_203_689, toRevision: 1_204_000)
}
