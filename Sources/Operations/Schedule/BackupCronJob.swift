import Foundation
import Yams

/// A Kubernetes CronJob (batch/v1) that runs the same `etcd-console backup` on a control-plane node, for
/// those who prefer Kubernetes to schedule it. It stops when the cluster does; the systemd timer does not.
///
/// The pod uses the host's network (etcd listens on the node's loopback), runs on control-plane nodes only
/// (nodeSelector + tolerations for both the current and the pre-1.24 taint), and runs the host's own
/// etcd-console with `chroot /host`: the host's root is mounted read-only (binary, libraries, config file,
/// etcd's certificates) and the snapshot directory read-write over it. So no image has to carry
/// etcd-console; any small image with `chroot` does. concurrencyPolicy Forbid and the backup's own lock
/// keep runs from overlapping.
public struct BackupCronJob: Sendable, Equatable {
    public var name = "etcd-console-backup"
    public var namespace = "kube-system"
    public var image: String
    public var interval: ScheduleInterval
    /// Absolute path of etcd-console on the host.
    public var binary: String
    /// Arguments after `backup`.
    public var backupArguments: [String]
    public var snapshotDirectory: String
    /// The metrics file, whose directory is mounted read-write too.
    public var metricsFile: String?

    public init(image: String, interval: ScheduleInterval, binary: String, backupArguments: [String],
                snapshotDirectory: String, metricsFile: String?) {
        self.image = image
        self.interval = interval
        self.binary = binary
        self.backupArguments = backupArguments
        self.snapshotDirectory = snapshotDirectory
        self.metricsFile = metricsFile
    }

    /// The manifest as YAML, with a comment header.
    public func yaml() -> String {
        let body: String
        do { body = try Yams.serialize(node: manifest(), indent: 2) } catch {
            preconditionFailure("the CronJob manifest always serializes: \(error)")
        }
        return """
        # Written by `etcd-console schedule cronjob`. Apply with: kubectl apply -f <this file>
        # It runs only while the cluster runs: the systemd timer (`etcd-console schedule systemd`) is the safer default.

        """ + body
    }

    func manifest() -> Node {
        var writable: [(name: String, path: String)] = [("backups", snapshotDirectory)]
        if let metricsFile { writable.append(("metrics", (metricsFile as NSString).deletingLastPathComponent)) }
        let volumes: [Node] = [map(("name", str("host-root")), ("hostPath", map(("path", str("/")), ("type", str("Directory")))))]
            + writable.map { volume in
                map(("name", str(volume.name)), ("hostPath", map(("path", str(volume.path)), ("type", str("DirectoryOrCreate")))))
            }
        let mounts: [Node] = [map(("name", str("host-root")), ("mountPath", str("/host")), ("readOnly", bool(true)))]
            + writable.map { volume in map(("name", str(volume.name)), ("mountPath", str("/host" + volume.path))) }
        let command = ["chroot", "/host", binary, "backup"] + backupArguments
        let container = map(
            ("name", str("backup")),
            ("image", str(image)),
            ("command", Node(command.map(str))),
            ("securityContext", map(("runAsUser", int(0)), ("allowPrivilegeEscalation", bool(false)),
                                    ("readOnlyRootFilesystem", bool(true)))),
            ("resources", map(("requests", map(("cpu", str("100m")), ("memory", str("64Mi")))))),
            ("volumeMounts", Node(mounts)))
        let tolerations: [Node] = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"].map { key in
            map(("key", str(key)), ("operator", str("Exists")), ("effect", str("NoSchedule")))
        }
        let podSpec = map(
            ("hostNetwork", bool(true)),
            ("dnsPolicy", str("ClusterFirstWithHostNet")),
            ("restartPolicy", str("Never")),
            ("priorityClassName", str("system-cluster-critical")),
            ("nodeSelector", map(("node-role.kubernetes.io/control-plane", str("")))),
            ("tolerations", Node(tolerations)),
            ("containers", Node([container])),
            ("volumes", Node(volumes)))
        let labels = map(("app.kubernetes.io/name", str(name)))
        return map(
            ("apiVersion", str("batch/v1")),
            ("kind", str("CronJob")),
            ("metadata", map(("name", str(name)), ("namespace", str(namespace)), ("labels", labels))),
            ("spec", map(
                ("schedule", str(interval.cron)),
                ("concurrencyPolicy", str("Forbid")),
                ("startingDeadlineSeconds", int(Int(min(interval.seconds, 3600)))),
                ("successfulJobsHistoryLimit", int(3)),
                ("failedJobsHistoryLimit", int(3)),
                ("jobTemplate", map(("spec", map(
                    ("backoffLimit", int(0)),
                    ("activeDeadlineSeconds", int(3600)),
                    ("ttlSecondsAfterFinished", int(86400)),
                    ("template", map(("metadata", map(("labels", labels))), ("spec", podSpec)))))))
            )))
    }

    private func map(_ pairs: (String, Node)...) -> Node { Node(pairs.map { (Node($0.0), $0.1) }) }
    /// A string, quoted when YAML would read it plain as something else ("" as null, "4" as a number, "on" as true):
    /// Kubernetes wants strings in `command`, labels and node selectors.
    private func str(_ text: String) -> Node {
        let plain = Resolver.default.resolveTag(of: Node(text)) == .str
        return Node(text, Tag(.str), plain ? .any : .doubleQuoted)
    }
    private func int(_ value: Int) -> Node { Node(String(value), Tag(.int)) }
    private func bool(_ value: Bool) -> Node { Node(value ? "true" : "false", Tag(.bool)) }
}
