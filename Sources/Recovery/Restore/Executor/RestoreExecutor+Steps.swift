import EtcdClient
import Foundation
import SnapshotStore
import SystemSupport

// The steps of a restore: each decides from the plan and what the injected edges observe, and acts
// through them (`fileSystem`, `probe`, `runner`, `service`); a failure is a `RestoreError` the run loop
// turns into a rollback or a report.
extension RestoreExecutor {
    /// Does one step; returns its status and a one-line detail, or throws a `RestoreError`.
    func perform(_ kind: RestoreStepKind, output: @escaping @Sendable (String) -> Void) async throws -> (StepStatus, String) {
        switch kind {
        case .preflight:
            return (.ok, try await preflight(output: output))
        case .stopEtcd:
            return (.ok, try await service.stop(timeout: .seconds(plan.stopTimeoutSeconds), output: output))
        case .moveAside:
            return try moveAside()
        case .restore:
            return (.ok, try await restore(output: output))
        case .fixOwnership:
            return (.ok, try fixOwnership())
        case .startEtcd:
            return (.ok, try await service.start(timeout: .seconds(plan.startTimeoutSeconds), output: output))
        case .waitHealthy:
            return (.ok, try await waitHealthy(output: output))
        case .verify:
            return (.ok, try await verify())
        case .checkPods:
            return (.ok, await checkPods(output: output))
        }
    }

    func preflight(output: @Sendable (String) -> Void) async throws -> String {
        var passed: [String] = []
        // The snapshot.
        switch plan.snapshotHealth {
        case .good:
            passed.append("snapshot verifies good (revision \(plan.snapshotRevision.map(String.init) ?? "?"), \(plan.snapshotKeys.map(String.init) ?? "?") keys)")
        case .unverified:
            passed.append("snapshot structure OK, no checksum trailer")
        default:
            guard plan.skipVerify else {
                throw RestoreError(.badSnapshot, "snapshot \(plan.snapshotPath) does not verify: \(plan.snapshotReason ?? plan.snapshotHealth.rawValue); pick another snapshot (etcd-console snapshot list)")
            }
            passed.append("snapshot does NOT verify (\(plan.snapshotReason ?? plan.snapshotHealth.rawValue)); going on because checks were forced off")
        }
        guard fileSystem.size(of: plan.snapshotPath) == plan.snapshotSize else {
            throw RestoreError(.badSnapshot, "snapshot \(plan.snapshotPath) changed or vanished since the plan was made")
        }
        output(passed.last!)
        // The tool.
        guard fileSystem.isExecutable(plan.tool.path) else {
            throw RestoreError(.toolMissing, "the restore tool \(plan.tool.path) is gone")
        }
        passed.append(plan.tool.version)
        output(plan.tool.version)
        // Space: the restore writes about the snapshot's size; twice that leaves room for etcd to run.
        let (directory, free) = try fileSystem.freeSpace(near: (plan.dataDir as NSString).deletingLastPathComponent)
        let needed = 2 * plan.snapshotSize
        guard free >= needed else {
            throw RestoreError(.noSpace, "not enough free space in \(directory): \(formatBytes(Int(free))) free, a restore of this \(formatBytes(Int(plan.snapshotSize))) snapshot needs at least \(formatBytes(Int(needed))) (2x); free space there or restore into another --data-dir")
        }
        passed.append("\(formatBytes(Int(free))) free in \(directory) (need \(formatBytes(Int(needed))))")
        output(passed.last!)
        // Service control.
        switch plan.service {
        case .systemd(let unit):
            guard runner.locate("systemctl") != nil else {
                throw RestoreError(.toolMissing, "systemctl not found: etcd cannot be stopped and started for the restore (use --static-pod-manifest for a kubeadm static pod)")
            }
            passed.append("systemctl controls \(unit) (now \(await service.activeState(unit)))")
        case .staticPod(let manifest, let parked):
            guard fileSystem.exists(manifest) || fileSystem.exists(parked) else {
                throw RestoreError(.serviceControl, "the static pod manifest \(manifest) does not exist")
            }
            passed.append("static pod manifest \(manifest)")
        }
        output(passed.last!)
        if fileSystem.exists(plan.asidePath) {
            throw RestoreError(.fileSystem, "\(plan.asidePath) already exists; wait a second and plan again")
        }
        return passed.joined(separator: "; ")
    }

    func moveAside() throws -> (StepStatus, String) {
        var moved: [String] = []
        if fileSystem.exists(plan.dataDir) {
            guard !fileSystem.exists(plan.asidePath) else {
                throw RestoreError(.fileSystem, "both \(plan.dataDir) and \(plan.asidePath) exist; look at them and move one away by hand")
            }
            try fileSystem.move(plan.dataDir, to: plan.asidePath)
            moved.append("\(plan.dataDir) -> \(plan.asidePath)")
        } else if fileSystem.exists(plan.asidePath) {
            moved.append("\(plan.dataDir) was already at \(plan.asidePath)")
        }
        if let wal = plan.walDir, let walAside = plan.walAsidePath, fileSystem.exists(wal) {
            do {
                try fileSystem.move(wal, to: walAside)
                moved.append("\(wal) -> \(walAside)")
            } catch {
                if fileSystem.exists(plan.asidePath) && !fileSystem.exists(plan.dataDir) {
                    try? fileSystem.move(plan.asidePath, to: plan.dataDir)
                }
                throw error
            }
        }
        if moved.isEmpty { return (.skipped, "\(plan.dataDir) does not exist: nothing to move aside") }
        return (.ok, "moved " + moved.joined(separator: "; "))
    }

    func restore(output: @escaping @Sendable (String) -> Void) async throws -> String {
        // A dir left by a restore that was interrupted: keep it (as data), out of the way.
        for directory in [plan.dataDir, plan.walDir].compactMap({ $0 }) where fileSystem.exists(directory) {
            let partial = "\(directory).partial-restore-\(SnapshotSaver.compactTimestamp(clock.date))"
            try fileSystem.move(directory, to: partial)
            output("moved the half-restored \(directory) left by an interrupted run to \(partial)")
        }
        let request = plan.restoreRequest
        output("$ \(request.description)")
        let result = try await runner.run(request, onLine: output)
        guard result.succeeded else {
            throw RestoreError(.restoreTool, "\((plan.tool.path as NSString).lastPathComponent) snapshot restore failed (exit \(result.status)\(result.timedOut ? ", timed out" : "")): \(result.tail(3))")
        }
        guard fileSystem.exists(plan.dataDir + "/member/snap/db") else {
            throw RestoreError(.restoreTool, "\(plan.tool.path) reported success but \(plan.dataDir)/member/snap/db does not exist")
        }
        var detail = "restored revision \(plan.snapshotRevision.map(String.init) ?? "?") into \(plan.dataDir) as member \(plan.memberName)"
        if plan.tool.supportsBumpRevision { detail += " (revision bumped by 1000000000, compacted)" }
        return detail
    }

    func fixOwnership() throws -> String {
        let owner = plan.ownership
        for directory in [plan.dataDir, plan.walDir].compactMap({ $0 }) {
            try fileSystem.chownTree(directory, uid: owner.uid, gid: owner.gid)
        }
        try fileSystem.chmod(plan.dataDir, mode: owner.mode)
        return "\(plan.dataDir) owned by \(owner.display), mode \(String(owner.mode, radix: 8))"
    }

    func waitHealthy(output: @Sendable (String) -> Void) async throws -> String {
        let began = clock.now
        let deadline = began + .seconds(plan.startTimeoutSeconds)
        var lastError = "no answer yet"
        var lastState = ""
        while clock.now < deadline {
            if let unit = service.unit {
                let state = await service.activeState(unit)
                if state != lastState { output("systemctl is-active \(unit): \(state)") }
                lastState = state
                if state == "failed" || state == "inactive" {
                    throw RestoreError(.unhealthy, "etcd exited after the restore (systemctl is-active \(unit): \(state)); see journalctl -u \(unit)")
                }
            }
            do {
                let status = try await probe.health()
                let waited = clock.now - began
                return "etcd \(status.version) answers on \(plan.endpoints.first ?? "") after \(waited.components.seconds)s (revision \(status.revision))"
            } catch {
                let text = "\(error)"
                if text != lastError { output(text) }
                lastError = text
            }
            try await clock.sleep(for: .milliseconds(100))
        }
        throw RestoreError(.unhealthy, "etcd did not answer on \(plan.endpoints.joined(separator: ",")) within \(plan.startTimeoutSeconds)s after the start: \(lastError)")
    }

    func verify() async throws -> String {
        let state: RestoredEtcdState
        do {
            state = try await probe.restoredState()
        } catch {
            throw RestoreError(.verification, "could not read the restored etcd: \(error)")
        }
        var problems: [String] = []
        let keys = state.keys
        if let revision = plan.snapshotRevision, state.revision < revision {
            problems.append("revision \(state.revision) is below the snapshot's \(revision)")
        }
        if let expected = plan.snapshotKeys, keys != expected {
            problems.append("\(keys) keys, the snapshot holds \(expected)")
        }
        let expectedNames = Set(plan.initialCluster.split(separator: ",").compactMap { $0.split(separator: "=").first.map(String.init) })
        let names = Set(state.members.map(\.name).filter { !$0.isEmpty })
        if !names.isEmpty, names != expectedNames {
            problems.append("members \(names.sorted().joined(separator: ",")), expected \(expectedNames.sorted().joined(separator: ","))")
        }
        let expectedPeers = Set(plan.initialAdvertisePeerURLs.split(separator: ",").map(String.init))
        if let mine = state.members.first(where: { $0.name == plan.memberName }), Set(mine.peerURLs) != expectedPeers {
            problems.append("member \(plan.memberName) has peer URLs \(mine.peerURLs.joined(separator: ",")), expected \(expectedPeers.sorted().joined(separator: ","))")
        }
        guard problems.isEmpty else {
            throw RestoreError(.verification, "the restored etcd does not match the snapshot: " + problems.joined(separator: "; "))
        }
        return "revision \(state.revision), \(keys) keys, members \(names.sorted().joined(separator: ","))"
    }

    func checkPods(output: @escaping @Sendable (String) -> Void) async -> String {
        var parts: [String] = []
        do {
            var perNamespace: [String: Int] = [:]
            for key in try await probe.keys(prefix: "/registry/pods/") {
                let path = key.dropFirst("/registry/pods/".count)
                if let namespace = path.split(separator: "/").first { perNamespace[String(namespace), default: 0] += 1 }
            }
            let total = perNamespace.values.reduce(0, +)
            let expected = plan.snapshotPods.values.reduce(0, +)
            for namespace in perNamespace.keys.sorted() { output("pods in \(namespace): \(perNamespace[namespace]!)") }
            parts.append("\(total) pods in \(perNamespace.count) namespaces in etcd (snapshot: \(expected))")
            let missing = plan.snapshotPods.filter { perNamespace[$0.key, default: 0] != $0.value }.keys.sorted()
            if !missing.isEmpty { parts.append("pod counts differ in \(missing.joined(separator: ","))") }
        } catch {
            parts.append("could not list pods from etcd: \(error)")
        }
        parts.append(await kubectlPods(output: output))
        return parts.joined(separator: "; ")
    }

    /// `kubectl get pods -A` when kubectl and a kubeconfig exist; a soft check: a note, never a failure.
    func kubectlPods(output: @escaping @Sendable (String) -> Void) async -> String {
        guard runner.locate("kubectl") != nil else { return "kubectl not installed: pods checked in etcd only" }
        let candidates = [environment["KUBECONFIG"], "/etc/kubernetes/admin.conf",
                          environment["HOME"].map { "\($0)/.kube/config" }].compactMap { $0 }
        guard let kubeconfig = candidates.first(where: { fileSystem.exists($0) }) else {
            return "no kubeconfig found (KUBECONFIG, /etc/kubernetes/admin.conf, ~/.kube/config): kubectl not run"
        }
        let result = try? await runner.run(ProcessRequest("kubectl", ["--kubeconfig", kubeconfig, "get", "pods", "-A", "--request-timeout=10s"],
                                                          timeout: .seconds(20)), onLine: output)
        guard let result, result.succeeded else {
            return "kubectl get pods -A did not answer (the API server may still be starting): \(result?.tail(1) ?? "could not run kubectl")"
        }
        return "kubectl get pods -A listed \(max(0, result.output.split(separator: "\n").count - 1)) pods"
    }
}
