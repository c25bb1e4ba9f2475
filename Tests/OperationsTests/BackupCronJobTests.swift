import Foundation
import Operations
import Testing
import Yams

@Suite("Backup CronJob manifest")
struct BackupCronJobTests {
    static let job = BackupCronJob(image: "debian:bookworm-slim", interval: ScheduleInterval(count: 30, unit: .minutes),
                                   binary: "/usr/local/bin/etcd-console", backupArguments: ["--config", "/etc/etcd-console/config.yaml", "--keep-last", "4"],
                                   snapshotDirectory: "/var/lib/etcd-backup", metricsFile: "/var/lib/node-exporter/etcd-console.prom")

    @Test("The manifest parses back as a batch/v1 CronJob with every field a control-plane backup needs")
    func fields() throws {
        let object = try #require(try Yams.load(yaml: Self.job.yaml()) as? [String: Any])
        #expect(object["apiVersion"] as? String == "batch/v1")
        #expect(object["kind"] as? String == "CronJob")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["namespace"] as? String == "kube-system")
        let spec = try #require(object["spec"] as? [String: Any])
        #expect(spec["schedule"] as? String == "*/30 * * * *")
        #expect(spec["concurrencyPolicy"] as? String == "Forbid")
        #expect(spec["successfulJobsHistoryLimit"] as? Int == 3)
        #expect(spec["failedJobsHistoryLimit"] as? Int == 3)
        let jobSpec = try #require((spec["jobTemplate"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(jobSpec["backoffLimit"] as? Int == 0)
        let pod = try #require((jobSpec["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(pod["hostNetwork"] as? Bool == true)
        #expect(pod["restartPolicy"] as? String == "Never")
        #expect(pod["nodeSelector"] as? [String: String] == ["node-role.kubernetes.io/control-plane": ""])
        let tolerations = try #require(pod["tolerations"] as? [[String: String]])
        #expect(tolerations.map { $0["key"] } == ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"])
        #expect(tolerations.allSatisfy { $0["effect"] == "NoSchedule" && $0["operator"] == "Exists" })
        let containers = try #require(pod["containers"] as? [[String: Any]])
        #expect(containers.count == 1)
        #expect(containers[0]["command"] as? [String] == ["chroot", "/host", "/usr/local/bin/etcd-console", "backup",
                                                          "--config", "/etc/etcd-console/config.yaml", "--keep-last", "4"])
        let mounts = try #require(containers[0]["volumeMounts"] as? [[String: Any]])
        let volumes = try #require(pod["volumes"] as? [[String: Any]])
        func hostPath(_ name: String) -> String? {
            (volumes.first { $0["name"] as? String == name }?["hostPath"] as? [String: Any])?["path"] as? String
        }
        func mount(_ name: String) -> [String: Any]? { mounts.first { $0["name"] as? String == name } }
        #expect(hostPath("host-root") == "/")
        #expect(mount("host-root")?["readOnly"] as? Bool == true)
        #expect(hostPath("backups") == "/var/lib/etcd-backup")
        #expect(mount("backups")?["mountPath"] as? String == "/host/var/lib/etcd-backup")
        #expect(mount("backups")?["readOnly"] == nil)
        #expect(hostPath("metrics") == "/var/lib/node-exporter")
    }
}
