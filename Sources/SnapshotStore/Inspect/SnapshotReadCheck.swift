import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What every reader of a snapshot (inspect, browse, diff, the console's browse and diff) checks before it
/// reads the file: `SnapshotVerifier.verify(path:)` (trailer first, then structure and etcd's data), and,
/// for one of our snapshots, whether the file is still the one its sidecar describes (a trailer cut off
/// exactly leaves a page-aligned file the verifier cannot tell from a member's raw db).
///
/// Readers still read a damaged file when they can (what it holds helps forensics), but say so before
/// their output (`warning`), carry `health` and `reason` in their JSON, and exit 1.
public struct SnapshotReadCheck: Sendable, Equatable {
    public var path: String
    /// The verdict after the sidecar comparison; `.good` only when both passed.
    public var health: SnapshotHealth
    /// Why the file is not good (or the verifier's note on a good one, "no checksum trailer; structure OK").
    public var reason: String?
    /// The verifier's own result, unchanged.
    public var verification: SnapshotVerification

    public init(path: String, health: SnapshotHealth, reason: String?, verification: SnapshotVerification) {
        self.path = path
        self.health = health
        self.reason = reason
        self.verification = verification
    }

    /// Verifies `path` and compares it with its sidecar `<path>.meta.json`, when there is a readable one.
    public static func run(path: String) -> SnapshotReadCheck {
        run(path: path, reading: nil, copying: nil)
    }

    /// `reading`: called with the live keys the verifier's walk collected, while the file is still open, when the
    /// contents checked out (the sidecar is compared after it).
    /// `copying`: filled with the live keys as the walk meets them (complete only when the check passes).
    static func run(path: String, reading: ((LiveKeyIndex) -> Void)? = nil, copying: LiveKeyCopy? = nil) -> SnapshotReadCheck {
        let verification = SnapshotVerifier.verify(path: path, streamedDigest: nil, dropPageCache: true, reading: reading,
                                                   copying: copying)
        var check = SnapshotReadCheck(path: path, health: verification.health, reason: verification.reason,
                                      verification: verification)
        guard verification.health == .good, let problem = sidecarDisagreement(path: path, verification) else { return check }
        check.health = .corrupt
        check.reason = problem
        return check
    }

    /// True unless the file is good.
    public var isDamaged: Bool { health != .good }

    /// The line a reader prints on stderr before its output, or nil for a good file.
    public var warning: String? {
        switch health {
        case .good:
            return nil
        case .corrupt:
            return "warning: \(path) is damaged: \(reason ?? "it does not verify"). What follows is what could still "
                + "be read from it; do not restore from it (pick a good one: etcd-console snapshot list)"
        case .unverified:
            return "warning: \(reason ?? "cannot read \(path)"): it could not be verified"
        }
    }

    /// Why the file is not the one its sidecar recorded, or nil (no sidecar, an unreadable one, or it agrees).
    static func sidecarDisagreement(path: String, _ verification: SnapshotVerification) -> String? {
        let sidecarPath = SnapshotCatalog.sidecarPath(for: path)
        var info = stat()
        guard lstat(sidecarPath, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
              let data = FileManager.default.contents(atPath: sidecarPath),
              let sidecar = try? SnapshotMetadata(sidecarJSON: data, path: sidecarPath) else { return nil }
        var file = stat()
        guard stat(path, &file) == 0 else { return nil }
        let size = Int(file.st_size)
        if sidecar.size != size {
            let cut = sidecar.size - size
            let how = cut == EtcdDatabase.trailerSize && !verification.hasTrailer
                ? "its 32-byte checksum trailer was cut off"
                : cut > 0 ? "\(cut) bytes are missing (truncated)" : "\(-cut) bytes were added"
            return "the file has \(size) bytes but its sidecar \(sidecarPath) recorded \(sidecar.size) when it was saved: \(how)"
        }
        if let recorded = sidecar.sha256, let now = verification.sha256, recorded != now {
            return "its SHA-256 \(now.prefix(12))… differs from the \(recorded.prefix(12))… its sidecar \(sidecarPath) recorded: "
                + "it was replaced or resealed after it was saved"
        }
        if sidecar.sha256 != nil, !verification.hasTrailer {
            return "no checksum trailer, but its sidecar \(sidecarPath) says it was saved with one"
        }
        return nil
    }
}
