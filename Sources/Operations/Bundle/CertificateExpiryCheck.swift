import Foundation

/// The certificate warnings `status` prints: certificates that expire within 30 days (or have expired).
///
/// The files on disk are the truth when this user can read them (a renewed certificate stops the warning at
/// once); when none is readable here (a non-root user, a host that only keeps the backups) the newest bundle in
/// the snapshot directory is read instead, and the warning says which bundle.
public enum CertificateExpiryCheck {
    public static func warnings(resolved: ResolvedConfiguration, root: String? = nil, now: Date = Date()) -> [String] {
        let sources = BundleSources(resolved: resolved, root: root ?? resolved.deployment?.root ?? "/", configFile: nil)
        let onDisk = sources.collect().files.map(\.file)
        if onDisk.contains(where: { !$0.certificates.isEmpty }) {
            return CertificateExpiry.soon(in: onDisk, now: now).map { $0.warning(now: now) }
        }
        let store = BundleStore(directory: resolved.snapshotDirectory)
        guard let newest = store.names().last, let manifest = try? store.readManifest(named: newest) else { return [] }
        return CertificateExpiry.soon(in: manifest.files, now: now).map { "\($0.warning(now: now)) (from \(newest))" }
    }
}
