import Foundation

/// The certificate warnings `status` prints: certificates that expire within 30 days (or have expired).
///
/// The files on disk are the truth when this user can read them (a renewed certificate stops the warning at
/// once); when none is readable here (a non-root user, a host that only keeps the backups) the newest bundle in
/// the snapshot directory is read instead, and the warning says which bundle.
public enum CertificateExpiryCheck {
    /// The expiring certificates, and the bundle they were read from (nil: from the files on disk).
    public static func check(resolved: ResolvedConfiguration, root: String? = nil, now: Date = Date()) -> (expiring: [CertificateExpiry], bundle: String?) {
        let sources = BundleSources(resolved: resolved, root: root ?? resolved.deployment?.root ?? "/", configFile: nil)
        let onDisk = sources.collect().files.map(\.file)
        if onDisk.contains(where: { !$0.certificates.isEmpty }) {
            return (CertificateExpiry.soon(in: onDisk, now: now), nil)
        }
        let store = BundleStore(directory: resolved.snapshotDirectory)
        guard let newest = store.names().last, let manifest = try? store.readManifest(named: newest) else { return ([], nil) }
        return (CertificateExpiry.soon(in: manifest.files, now: now), newest)
    }

    public static func warnings(resolved: ResolvedConfiguration, root: String? = nil, now: Date = Date()) -> [String] {
        let (expiring, bundle) = check(resolved: resolved, root: root, now: now)
        return expiring.map { $0.warning(now: now) + (bundle.map { " (from \($0))" } ?? "") }
    }
}
