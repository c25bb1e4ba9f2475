import Foundation
import SystemSupport
import Recovery

/// The doctor's advice on a machine whose data dir is gone and whose snapshot directory holds nothing to restore
/// (a master rebuilt after a lost disk): when the remote holds a good copy, restore from it, with `--rebuild`
/// when its bundle went up too (issue 15). `doctor` and the console's Members screen show it.
public enum RebuildOffer {
    /// `report` with the remote's newest good copy as its recommendation when the data dir is missing, no local
    /// snapshot was recommended and no restore is unfinished; `report` unchanged otherwise.
    public static func amend(_ report: DoctorReport, remote: RemoteCatalog?) -> DoctorReport {
        let codes = Set(report.findings.map(\.code))
        guard codes.contains("data-dir-missing"), codes.isDisjoint(with: ["restore-unfinished", "restore-running"]),
              !report.recommendation.contains("etcd-console restore "),
              let remote, let newest = remote.snapshots.first(where: { $0.problem == nil }) else { return report }
        var amended = report
        let taken = UTCCalendar.internetDateTime(newest.manifest.takenAt)
        let what = "\(newest.name) (taken \(taken), revision \(newest.manifest.revision), member \(newest.manifest.memberName.isEmpty ? "?" : newest.manifest.memberName))"
        if let bundle = newest.manifest.bundle {
            amended.findings.append(DoctorFinding(.ok, "remote-copy",
                "\(remote.location) holds \(what) with its control-plane bundle \(bundle)",
                action: "A rebuild pulls both (checked against their manifests), puts the certificates, units and manifests back, then restores etcd's data."))
            amended.recommendation = "No data dir and no local snapshot: rebuild this master from the remote's newest good copy: etcd-console restore --rebuild \(newest.name)"
        } else {
            amended.findings.append(DoctorFinding(.ok, "remote-copy", "\(remote.location) holds \(what) (no bundle was uploaded with it)",
                action: "restore pulls it (checked against its manifest) and restores etcd's data; the certificates and units must already be in place."))
            amended.recommendation = "No data dir and no local snapshot: restore the remote's newest good copy: etcd-console restore \(newest.name)"
        }
        return amended
    }
}
