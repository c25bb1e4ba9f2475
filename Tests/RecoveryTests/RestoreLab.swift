import EtcdClient
import EtcdTestSupport
import Foundation
import Practice
import SystemSupport
import Testing
@testable import Recovery
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

/// A host to restore on: a real etcd (3.4 or 3.5) holding Kubernetes-shaped data, run as the unit `etcd`
/// by the practice systemctl (systemd is not PID 1 here), a real snapshot of it, then one more key written
/// after the snapshot (`after-snapshot`) so a test can tell the original data from the restored.
struct RestoreLab {
    let version: EtcdVersion
    let root: URL
    let etcd: EtcdProcess
    let practice: PracticeSystemctl
    let snapshot: String
    let snapshotKeys: Int
    let snapshotPods: [String: Int]
    let runner: SystemProcessRunner
    let environment: [String: String]
    /// Set for a lab whose etcd requires client certificates (`tls: true`).
    let certificates: TestCertificates?

    static let unit = "etcd"
    static let objects = 400

    static func make(_ version: EtcdVersion, name: String = "master", extraFlags: [String] = [],
                     tls: Bool = false) async throws -> RestoreLab {
        let root = try TestDirectories.make("restore-\(version.rawValue)")
        let certificates = tls ? try TestCertificates.make() : nil
        let etcdTLS: EtcdTLS = certificates.map { .mutual(cert: $0.serverCert, key: $0.serverKey, trustedCA: $0.caCert) } ?? .none
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version, name: name, tls: etcdTLS, extraFlags: extraFlags))
        do {
            let client = EtcdClient(try clientConfiguration(etcd, certificates))
            for item in KubernetesSampleData(seed: 7, limit: .count(objects)) {
                try await client.put(item.key, value: item.value)
            }
            let snapshot = root.appendingPathComponent("snapshot.db").path
            let save = try etcd.etcdctl(["snapshot", "save", snapshot])
            try #require(save.succeeded, "etcdctl snapshot save failed: \(save.output)")
            try await client.put("after-snapshot", value: Data("written after the snapshot".utf8))
            await client.close()
            await etcd.stop()

            let practice = try PracticeSystemctl.install(in: root.appendingPathComponent("practice").path)
            try practice.define(unit: unit, command: etcd.commandLine)
            let tools = (etcd.binaries.etcdctl as NSString).deletingLastPathComponent
            var environment = ProcessInfo.processInfo.environment
            environment["PATH"] = "\(practice.binDirectory):\(tools):/usr/sbin:/usr/bin:/sbin:/bin"
            environment["HOME"] = root.path
            environment["KUBECONFIG"] = nil
            for key in environment.keys where key.hasPrefix("ETCDCTL_") || key.hasPrefix("ETCD_") { environment[key] = nil }
            let lab = RestoreLab(version: version, root: root, etcd: etcd, practice: practice, snapshot: snapshot,
                                 snapshotKeys: objects, snapshotPods: try SnapshotInspector.inspect(path: snapshot, resource: "pods").namespaces,
                                 runner: SystemProcessRunner(environment: environment), environment: environment,
                                 certificates: certificates)
            try await lab.systemctl("start")
            return lab
        } catch {
            await etcd.stop()
            throw error
        }
    }

    var dataDir: String { etcd.dataDir.path }

    static func clientConfiguration(_ etcd: EtcdProcess, _ certificates: TestCertificates?) throws -> EtcdClientConfiguration {
        let tls = certificates.map { TLSConfiguration(caFile: $0.caCert, certificateFile: $0.clientCert, keyFile: $0.clientKey) }
        return EtcdClientConfiguration(endpoints: [try Endpoint(parsing: etcd.clientURL)], tls: tls ?? TLSConfiguration())
    }

    var clientConfiguration: EtcdClientConfiguration {
        get throws { try Self.clientConfiguration(etcd, certificates) }
    }

    /// Writes the unit a binary install has (`/etc/systemd/system/etcd.service`, ExecStart with continuation
    /// lines) under a fake root for discovery; returns the root.
    func writeSystemdUnit() throws -> String {
        let discoveryRoot = root.appendingPathComponent("host").path
        let directory = discoveryRoot + "/etc/systemd/system"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var flags: [String] = []
        var words = etcd.flags[...]
        while let word = words.popFirst() {
            if let next = words.first, !next.hasPrefix("--") {
                flags.append("\(word)=\(next)")
                words.removeFirst()
            } else {
                flags.append(word)
            }
        }
        let unit = """
            [Unit]
            Description=etcd key-value store
            After=network-online.target

            [Service]
            Type=notify
            ExecStart=\(etcd.binaries.etcd) \\
              \(flags.joined(separator: " \\\n  "))
            Restart=on-failure
            LimitNOFILE=65536

            [Install]
            WantedBy=multi-user.target

            """
        try Data(unit.utf8).write(to: URL(fileURLWithPath: directory + "/etcd.service"))
        return discoveryRoot
    }

    func systemctl(_ verb: String) async throws {
        let result = try await runner.run(ProcessRequest("systemctl", [verb, Self.unit], timeout: .seconds(60)))
        try #require(result.succeeded, "systemctl \(verb) \(Self.unit) failed: \(result.output)")
    }

    func isActive() async throws -> String {
        try await runner.run(ProcessRequest("systemctl", ["is-active", Self.unit])).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The restore options a careful operator would pass on this host (nothing discoverable here).
    func options(snapshot: String? = nil, dataDir: String? = nil, skipVerify: Bool = false) -> RestoreOptions {
        RestoreOptions(snapshotPath: snapshot ?? self.snapshot, dataDir: dataDir ?? self.dataDir, name: etcd.options.name,
                       initialCluster: "\(etcd.options.name)=\(etcd.peerURL)", initialClusterToken: "etcd-console-test",
                       initialAdvertisePeerURLs: etcd.peerURL, unit: Self.unit, endpoints: [etcd.clientURL],
                       skipVerify: skipVerify, stopTimeout: .seconds(60), startTimeout: .seconds(60))
    }

    /// The same as command-line flags for `etcd-console restore`.
    var flags: [String] {
        ["--data-dir", dataDir, "--name", etcd.options.name, "--initial-cluster", "\(etcd.options.name)=\(etcd.peerURL)",
         "--initial-cluster-token", "etcd-console-test", "--initial-advertise-peer-urls", etcd.peerURL,
         "--unit", Self.unit, "--endpoints", etcd.clientURL, "--discovery-root", root.path + "/no-such-root",
         "--start-timeout", "60s"]
    }

    func plan(_ options: RestoreOptions? = nil) async throws -> RestorePlan {
        try await RestorePlanner(runner: runner).plan(deployment: EtcdDeployment(kind: .none), options: options ?? self.options())
    }

    func executor(_ plan: RestorePlan) throws -> RestoreExecutor {
        RestoreExecutor(plan: plan, runner: runner,
                        clientConfiguration: try clientConfiguration,
                        environment: environment)
    }

    /// Key count and whether the post-snapshot key is there, read from the running etcd.
    func contents() async throws -> (keys: Int, hasAfterSnapshotKey: Bool, pods: [String: Int]) {
        let client = EtcdClient(try clientConfiguration)
        return try await withCleanup({ await client.close() }) {
            let keys = try await client.count(prefix: "")
            let after = try await client.get("after-snapshot") != nil
            var pods: [String: Int] = [:]
            for kv in try await client.list(prefix: "/registry/pods/", keysOnly: true).kvs {
                let namespace = String(decoding: kv.key, as: UTF8.self).split(separator: "/")[2]
                pods[String(namespace), default: 0] += 1
            }
            return (keys, after, pods)
        }
    }

    /// Ends the practice unit's etcd (SIGKILL: the lab is thrown away) and removes the lab's files, before the
    /// test returns (a `defer` cannot await, and a detached task may outlive the test process).
    func tearDownNow() {
        if let pid = practice.pid(unit: Self.unit) {
            kill(pid, SIGKILL)
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(20_000) }
        }
        try? FileManager.default.removeItem(at: root)
    }
}

/// Records events from the executor (called from any thread).
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [RestoreEvent] = []
    private let onEvent: @Sendable (RestoreEvent) -> Void

    init(onEvent: @escaping @Sendable (RestoreEvent) -> Void = { _ in }) { self.onEvent = onEvent }

    var handler: RestoreExecutor.EventHandler { { [self] event in lock.withLock { events.append(event) }; onEvent(event) } }

    var all: [RestoreEvent] { lock.withLock { events } }

    var startedSteps: [RestoreStepKind] {
        all.compactMap { if case .stepStarted(let kind) = $0 { kind } else { nil } }
    }

    /// The `.output` lines, in order.
    var outputs: [String] {
        all.compactMap { if case .output(_, let line) = $0 { line } else { nil } }
    }

    var rollbackStarted: Bool {
        all.contains { if case .rollbackStarted = $0 { true } else { false } }
    }
}

extension RestoreReport {
    func status(_ kind: RestoreStepKind) -> StepStatus? { steps.last { $0.kind == kind }?.status }
    var summary: String { steps.map { "\($0.kind.rawValue): \($0.status.rawValue) \($0.detail)" }.joined(separator: "\n") + "\nerror: \(error ?? "none")" }
}
