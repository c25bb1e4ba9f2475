import Foundation

/// The `etcd-console-backup.service` + `.timer` pair that runs `etcd-console backup` on the master, without
/// Kubernetes. The timer is `Persistent=true` (a run missed while the host was off happens at boot) with a
/// `RandomizedDelaySec=`; the service is a hardened oneshot that may read everything (etcd's certificates,
/// the config file) but write only the snapshot directory and the metrics file's directory.
public struct SystemdBackupUnits: Sendable, Equatable {
    public static let serviceName = "etcd-console-backup.service"
    public static let timerName = "etcd-console-backup.timer"

    /// Absolute path of the etcd-console binary.
    public var binary: String
    /// The arguments after `backup` (e.g. `--config /etc/etcd-console/config.yaml`).
    public var backupArguments: [String]
    public var interval: ScheduleInterval
    public var snapshotDirectory: String
    public var metricsFile: String?
    /// etcd's unit, to order the backup after it when both start at boot.
    public var etcdUnit: String?

    public init(binary: String, backupArguments: [String], interval: ScheduleInterval, snapshotDirectory: String,
                metricsFile: String?, etcdUnit: String?) {
        self.binary = binary
        self.backupArguments = backupArguments
        self.interval = interval
        self.snapshotDirectory = snapshotDirectory
        self.metricsFile = metricsFile
        self.etcdUnit = etcdUnit
    }

    public var service: String {
        let command = ([binary, "backup"] + backupArguments).map(Self.quote).joined(separator: " ")
        var writable = [snapshotDirectory]
        if let metricsFile {
            // A missing directory is skipped ("-"), so the unit still starts without node_exporter installed.
            writable.append("-" + (metricsFile as NSString).deletingLastPathComponent)
        }
        let after = ["network-online.target"] + (etcdUnit.map { [$0.hasSuffix(".service") ? $0 : $0 + ".service"] } ?? [])
        return """
        # Written by `etcd-console schedule systemd`. One headless backup: save, verify, retention, metrics.
        # Logs: journalctl -u \(Self.serviceName)   Last result: etcd-console schedule status
        [Unit]
        Description=etcd-console backup of etcd (snapshot, verify, retention, metrics)
        Documentation=man:systemd.timer(5)
        Wants=network-online.target
        After=\(after.joined(separator: " "))

        [Service]
        Type=oneshot
        ExecStart=\(command)
        # Snapshots hold Secrets: files are created 0600 and the directory 0700.
        UMask=0077
        Nice=10
        IOSchedulingClass=best-effort
        IOSchedulingPriority=7
        TimeoutStartSec=1h
        # Hardening. The whole file system is read-only except the snapshot directory and the metrics
        # directory; reading etcd's certificates (even ones owned by the etcd user) keeps working.
        ProtectSystem=strict
        ReadWritePaths=\(writable.map(Self.quote).joined(separator: " "))
        ProtectHome=read-only
        PrivateTmp=yes
        PrivateDevices=yes
        NoNewPrivileges=yes
        CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_DAC_OVERRIDE
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectKernelLogs=yes
        ProtectControlGroups=yes
        ProtectClock=yes
        ProtectHostname=yes
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
        RestrictNamespaces=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        SystemCallArchitectures=native

        """
    }

    public var timer: String {
        """
        # Written by `etcd-console schedule systemd`: etcd-console backup every \(interval).
        # Next run: systemctl list-timers \(Self.timerName)
        [Unit]
        Description=etcd-console backup of etcd every \(interval)
        Documentation=man:systemd.timer(5)

        [Timer]
        OnCalendar=\(interval.onCalendar)
        # A run missed while the host was down (the power cut) happens as soon as it is back.
        Persistent=true
        # Spread masters and clusters that share storage over the first \(interval.randomizedDelaySeconds)s.
        RandomizedDelaySec=\(interval.randomizedDelaySeconds)
        AccuracySec=1s
        Unit=\(Self.serviceName)

        [Install]
        WantedBy=timers.target

        """
    }

    /// A word for a systemd command line or path list: quoted when it holds spaces, quotes or backslashes;
    /// `%` is doubled because systemd expands specifiers there.
    static func quote(_ word: String) -> String {
        let escaped = word.replacingOccurrences(of: "%", with: "%%")
        guard escaped.contains(where: { " \t\"'\\;".contains($0) }) else { return escaped }
        return "\"" + escaped.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
