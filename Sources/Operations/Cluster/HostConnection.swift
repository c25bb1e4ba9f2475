import Foundation
import SystemSupport

/// How the coordinator reaches the hosts: the system's OpenSSH client, so the operator's ~/.ssh/config, agent
/// and known_hosts apply. Host keys are checked (BatchMode: an unknown key fails instead of asking); a host that
/// stops answering is given up after ServerAlive probes, not waited on forever.
public struct SSHSettings: Sendable, Equatable {
    /// `--ssh-user`: the login for hosts whose destination names none.
    public var user: String?
    /// `--ssh-option`: extra `-o` options (IdentityFile=..., UserKnownHostsFile=..., ProxyJump=...).
    public var options: [String]
    public var connectTimeoutSeconds: Int

    public init(user: String? = nil, options: [String] = [], connectTimeoutSeconds: Int = 10) {
        self.user = user
        self.options = options
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    var common: [String] {
        var arguments = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=\(connectTimeoutSeconds)",
                         "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if let user { arguments += ["-o", "User=\(user)"] }
        for option in options { arguments += ["-o", option] }
        return arguments
    }
}

/// Runs commands on one member's host: over SSH, or directly when the member is this machine.
public struct HostConnection: Sendable {
    public let member: ClusterMember
    public let ssh: SSHSettings
    let runner: any ProcessRunner

    public init(member: ClusterMember, ssh: SSHSettings, runner: any ProcessRunner) {
        self.member = member
        self.ssh = ssh
        self.runner = runner
    }

    public var isLocal: Bool { member.ssh == nil }

    /// The request that runs `command` (program and arguments) on the host.
    public func request(_ command: [String], timeout: Duration) -> ProcessRequest {
        guard let destination = member.ssh else {
            return ProcessRequest(command[0], Array(command.dropFirst()), timeout: timeout)
        }
        var arguments = ssh.common
        if let port = member.sshPort { arguments += ["-p", String(port)] }
        // ssh joins its words with spaces for the remote shell: quote each one.
        arguments += [destination, "--", command.map(shellQuoted).joined(separator: " ")]
        return ProcessRequest("ssh", arguments, timeout: timeout)
    }

    /// Runs `command` on the host. A connection that fails (ssh's own exit status 255) is a ClusterRestoreError
    /// naming the host; a command that fails returns its outcome.
    public func run(_ command: [String], timeout: Duration = .seconds(60),
                    onLine: @escaping @Sendable (String) -> Void = { _ in }) async throws -> ProcessOutcome {
        let outcome: ProcessOutcome
        do {
            outcome = try await runner.run(request(command, timeout: timeout), onLine: onLine)
        } catch {
            throw ClusterRestoreError("\(member.label): cannot run \(command[0]): \(error)")
        }
        if !isLocal && outcome.status == 255 {
            throw ClusterRestoreError("\(member.label) cannot be reached over SSH: \(outcome.tail(3))")
        }
        if outcome.timedOut {
            throw ClusterRestoreError("\(member.label): \(command.prefix(2).joined(separator: " ")) did not finish within \(timeout)")
        }
        return outcome
    }

    /// Copies `remotePath` on the host to a local file (scp, with the same options as ssh).
    public func fetch(_ remotePath: String, to localPath: String, timeout: Duration) async throws {
        guard let destination = member.ssh else {
            throw ClusterRestoreError("\(member.label): fetch is for a host reached over SSH")
        }
        try await scp(from: "\(destination):\(remotePath)", to: localPath, timeout: timeout,
                      failure: "copying \(remotePath) from there failed")
    }

    /// Copies a local file to `remotePath` on the host (scp, with the same options as ssh).
    public func copy(_ localPath: String, to remotePath: String, timeout: Duration) async throws {
        guard let destination = member.ssh else { return }
        try await scp(from: localPath, to: "\(destination):\(remotePath)", timeout: timeout,
                      failure: "copying the snapshot to \(remotePath) failed")
    }

    private func scp(from source: String, to target: String, timeout: Duration, failure: String) async throws {
        var arguments = ["-q"] + ssh.common
        if let port = member.sshPort { arguments += ["-P", String(port)] }
        arguments += [source, target]
        let outcome: ProcessOutcome
        do {
            outcome = try await runner.run(ProcessRequest("scp", arguments, timeout: timeout), onLine: { _ in })
        } catch {
            throw ClusterRestoreError("\(member.label): cannot run scp: \(error)")
        }
        guard outcome.succeeded else {
            throw ClusterRestoreError("\(member.label): \(failure)\(outcome.timedOut ? " (timed out)" : ""): \(outcome.tail(3))")
        }
    }
}
