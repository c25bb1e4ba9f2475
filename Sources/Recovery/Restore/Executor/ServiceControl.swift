import EtcdClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Stops and starts the local etcd: systemctl for a unit, moving the manifest for a kubeadm static pod.
struct ServiceControl: Sendable {
    let target: ServiceTarget
    let runner: any ProcessRunner
    let endpoints: [String]

    /// Stops etcd and waits until it is inactive (systemd) and its client port no longer accepts connections.
    func stop(timeout: Duration, output: @escaping @Sendable (String) -> Void) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        switch target {
        case .systemd(let unit):
            let result = try await runner.run(ProcessRequest("systemctl", ["stop", unit], timeout: timeout), onLine: output)
            guard result.succeeded else {
                throw RestoreError(.serviceControl, "systemctl stop \(unit) failed (exit \(result.status)\(result.timedOut ? ", timed out" : "")): \(result.tail())")
            }
            while true {
                let state = await activeState(unit)
                if !["active", "activating", "deactivating", "reloading"].contains(state) { break }
                guard ContinuousClock.now < deadline else {
                    throw RestoreError(.serviceControl, "\(unit) is still \(state) \(timeout) after systemctl stop; stop it by hand and run restore --resume")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        case .staticPod(let manifest, let parked):
            if FileManager.default.fileExists(atPath: manifest) {
                guard rename(manifest, parked) == 0 else {
                    throw RestoreError(.serviceControl, "could not move \(manifest) to \(parked): \(String(cString: strerror(errno)))")
                }
                output("moved \(manifest) to \(parked); the kubelet stops the etcd pod")
            } else if !FileManager.default.fileExists(atPath: parked) {
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
            if FileManager.default.fileExists(atPath: parked) {
                guard rename(parked, manifest) == 0 else {
                    throw RestoreError(.serviceControl, "could not move \(parked) back to \(manifest): \(String(cString: strerror(errno)))")
                }
            }
            return "moved the manifest back to \(manifest); the kubelet starts the etcd pod"
        }
    }

    /// `systemctl is-active` (e.g. "active", "inactive", "failed"); nil for a static pod.
    func activeState(_ unit: String) async -> String {
        let result = try? await runner.run(ProcessRequest("systemctl", ["is-active", unit], timeout: .seconds(10)))
        return result?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
    }

    var unit: String? {
        if case .systemd(let unit) = target { return unit }
        return nil
    }

    private func waitUntilPortsClose(deadline: ContinuousClock.Instant, timeout: Duration) async throws {
        for url in endpoints {
            guard let endpoint = try? Endpoint(parsing: url) else { continue }
            while Self.accepts(host: endpoint.host, port: endpoint.port) {
                guard ContinuousClock.now < deadline else {
                    throw RestoreError(.serviceControl, "something still answers on \(url) \(timeout) after etcd was stopped: stop it by hand and run restore --resume")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// True when a TCP connection to host:port is accepted within half a second.
    static func accepts(host: String, port: Int) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd >= 0 {
                defer { close(fd) }
                if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return true }
                if errno == EINPROGRESS {
                    var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    if poll(&poller, 1, 500) == 1 {
                        var error: Int32 = 0
                        var length = socklen_t(MemoryLayout<Int32>.size)
                        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                        if error == 0 { return true }
                    }
                }
            }
            entry = info.pointee.ai_next
        }
        return false
    }
}
