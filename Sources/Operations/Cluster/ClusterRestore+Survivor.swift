import Foundation
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Lost quorum without a usable snapshot: one member's data is intact, the others are gone for good. etcd's
/// recovery documentation: a member's backend file (`member/snap/db`), taken while that member is stopped, holds
/// every applied key and can be restored like a snapshot (without a checksum trailer: `--skip-hash-check`).
/// The survivor's etcd is stopped, its db copied beside it on its host (its data dir is not touched here; the
/// restore then moves it aside, never deletes it) and brought to this machine, verified, and every member
/// restored from it as from any snapshot.
extension ClusterRestore {
    /// Takes the survivor's db as a snapshot file in `directory` on this machine and returns its path.
    public static func takeSurvivorCopy(of member: ClusterMember, ssh: SSHSettings, runner: any ProcessRunner,
                                        directory: String, now: Date = Date(),
                                        onEvent: @escaping EventHandler = { _ in }) async throws -> String {
        guard let dataDir = member.dataDir else {
            throw ClusterRestoreError("the survivor \(member.name) needs its data-dir in the inventory (its member/snap/db is copied)")
        }
        let host = HostConnection(member: member, ssh: ssh, runner: runner)
        let unit = member.unit ?? "etcd"
        onEvent(.step("Stopping etcd on the survivor \(member.label), so its db is complete and still"))
        let stopped = try await host.run(["systemctl", "stop", unit], timeout: .seconds(120)) { line in onEvent(.output(host: member.name, line: line)) }
        guard stopped.succeeded else {
            throw ClusterRestoreError("\(member.label): systemctl stop \(unit) failed: \(stopped.tail(3)); nothing was changed")
        }
        let name = "survivor-\(member.name)-\(BundleStore.stamp(now)).db"
        let remote = member.snapshotDir + "/" + name
        let local = directory + "/" + name
        onEvent(.step("Copying \(dataDir)/member/snap/db on \(member.label)"))
        // cp to a hidden .part, then rename: the copy on the host is complete or absent. A planted link at the
        // db is refused (cp would follow it).
        let copied = try await host.run(["sh", "-c", "set -e; umask 077; [ ! -L \"$1/member/snap/db\" ] || { echo \"$1/member/snap/db is a symbolic link: refused\" >&2; exit 3; }; mkdir -p \"$2\"; cp \"$1/member/snap/db\" \"$2/.$3.part\"; sync \"$2/.$3.part\" 2>/dev/null || true; mv \"$2/.$3.part\" \"$2/$3\"", "sh",
                                         dataDir, member.snapshotDir, name], timeout: .seconds(3600))
        guard copied.succeeded else {
            _ = try? await host.run(["systemctl", "start", unit], timeout: .seconds(30))
            throw ClusterRestoreError("\(member.label): cannot copy \(dataDir)/member/snap/db: \(copied.tail(3)); etcd was started again, nothing else changed")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if host.isLocal {
            if remote != local { try FileManager.default.copyItem(atPath: remote, toPath: local) }
        } else {
            let part = directory + "/." + name + ".part"
            try await host.fetch(remote, to: part, timeout: .seconds(3600))
            guard rename(part, local) == 0 else {
                throw ClusterRestoreError("cannot rename \(part): \(String(cString: strerror(errno)))")
            }
        }
        _ = chmod(local, 0o600)
        onEvent(.output(host: member.name, line: "the survivor's db is at \(local) (and \(remote) on its host)"))
        return local
    }
}

extension ClusterRestore {
    /// One member's data as its host reads it (`snapshot inspect` of its `member/snap/db`, run there).
    public struct SurvivorCandidate: Sendable, Equatable {
        public var member: String
        public var revision: Int64?
        /// Why it cannot be the survivor (no data dir in the inventory, no db, damaged, host unreachable).
        public var problem: String?
    }

    /// Which member has the newest intact data: every member's db inspected on its own host at once (its etcd may
    /// run; the read is read-only). The newest is the highest revision; a tie goes to the first in the inventory.
    public static func survivorCandidates(_ inventory: ClusterInventory, ssh: SSHSettings,
                                          runner: any ProcessRunner) async -> [SurvivorCandidate] {
        await withTaskGroup(of: (Int, SurvivorCandidate).self) { group in
            for (index, member) in inventory.members.enumerated() {
                group.addTask {
                    guard let dataDir = member.dataDir else {
                        return (index, SurvivorCandidate(member: member.name, problem: "no data-dir in the inventory"))
                    }
                    let db = dataDir + "/member/snap/db"
                    do {
                        let outcome = try await HostConnection(member: member, ssh: ssh, runner: runner)
                            .run([member.console, "snapshot", "inspect", db], timeout: .seconds(600))
                        let revision = outcome.output.split(separator: "\n")
                            .first { $0.hasPrefix("revision:") }
                            .flatMap { Int64($0.dropFirst("revision:".count).trimmingCharacters(in: .whitespaces)) }
                        guard outcome.succeeded, let revision else {
                            return (index, SurvivorCandidate(member: member.name, problem: "\(db) cannot be read: \(failureLine(outcome))"))
                        }
                        return (index, SurvivorCandidate(member: member.name, revision: revision))
                    } catch {
                        return (index, SurvivorCandidate(member: member.name, problem: "\(error)"))
                    }
                }
            }
            var results = [SurvivorCandidate?](repeating: nil, count: inventory.members.count)
            for await (index, candidate) in group { results[index] = candidate }
            return results.compactMap { $0 }
        }
    }

    /// The candidate with the highest revision (the first of equals), nil when none has readable data.
    public static func newest(_ candidates: [SurvivorCandidate]) -> SurvivorCandidate? {
        candidates.reduce(nil) { best, next in
            guard let revision = next.revision else { return best }
            guard let current = best?.revision else { return next }
            return revision > current ? next : best
        }
    }
}
