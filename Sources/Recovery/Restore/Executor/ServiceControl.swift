import EtcdClient
import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Stops and starts the local etcd: systemctl for a unit, moving the manifest for a kubeadm static pod.
struct ServiceControl: Sendable {
    let target: ServiceTarget
    let runner: any ProcessRunner
    let endpoints: [String]
    let fileSystem: any RestoreFileSystem
    let probe: any EtcdHealthProbe
    let clock: any RestoreClock

    /// Stops etcd and waits until it is inactive (systemd) and its client port no longer accepts connections.
    func stop(timeout: Duration, output: @escaping @Sendable (String) -> Void) async throws -> String {
        let deadline = clock.now + timeout
        switch target {
        case .systemd(let unit):
            let result = try await runner.run(ProcessRequest("systemctl", ["stop", unit], timeout: timeout), onLine: output)
            guard result.succeeded else {
                throw RestoreError(.serviceControl, "systemctl stop \(unit) failed (exit \(result.status)\(result.timedOut ? ", timed out" : "")): \(result.tail())")
            }
            while true {
                let state = await activeState(unit)
                if !["active", "activating", "deactivating", "reloading"].contains(state) { break }
                guard clock.now < deadline else {
                    throw RestoreError(.serviceControl, "\(unit) is still \(state) \(timeout) after systemctl stop; stop it by hand and run restore --resume")
                }
                try await clock.sleep(for: .milliseconds(100))
            }
        case .staticPod(let manifest, let parked):
            if fileSystem.exists(manifest) {
                try asServiceControl { try fileSystem.move(manifest, to: parked) }
                output("moved \(manifest) to \(parked); the kubelet stops the etcd pod")
            } else if !fileSystem.exists(parked) {
                throw RestoreError(.serviceControl, "the static pod manifest \(manifest) does not exist (nor \(parked))")
            }
        }
        try await waitUntilPortsClose(deadline: deadline, timeout: timeout)
        return "etcd stopped (\(target.description)); \(endpoints.joined(separator: ",")) closed"
    }

    /// Starts etcd (does not wait for health).
    func start(timeout: Duration, output: @escaping @Sendable (String) -> Void) async throws -> String {
        switch target {
        case .systemd(let unit):
            let result = try await runner.run(ProcessRequest("systemctl", ["start", unit], timeout: timeout), onLine: output)
            guard result.succeeded else {
                throw RestoreError(.serviceControl, "systemctl start \(unit) failed (exit \(result.status)): \(result.tail()); see journalctl -u \(unit)")
            }
            return "systemctl start \(unit)"
        case .staticPod(let manifest, let parked):
            if fileSystem.exists(parked) {
                try asServiceControl { try fileSystem.move(parked, to: manifest) }
            }
            return "moved the manifest back to \(manifest); the kubelet starts the etcd pod"
        }
    }

    /// `systemctl is-active` (e.g. "active", "inactive", "failed"); nil for a static pod.
    func activeState(_ unit: String) async -> String {
        let result = try? await runner.run(ProcessRequest("systemctl", ["is-active", unit], timeout: .seconds(10)))
        return result?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
    }

    /// A failed manifest move is a service-control failure (etcd could not be stopped or started).
    private func asServiceControl(_ body: () throws -> Void) throws {
        do { try body() } catch let error as RestoreError {
            throw RestoreError(.serviceControl, error.message)
        }
    }

    var unit: String? {
        if case .systemd(let unit) = target { return unit }
        return nil
    }

    private func waitUntilPortsClose(deadline: ContinuousClock.Instant, timeout: Duration) async throws {
        for url in endpoints {
            while probe.accepts(url) {
                guard clock.now < deadline else {
                    throw RestoreError(.serviceControl, "something still answers on \(url) \(timeout) after etcd was stopped: stop it by hand and run restore --resume")
                }
                try await clock.sleep(for: .milliseconds(100))
            }
        }
    }
}
