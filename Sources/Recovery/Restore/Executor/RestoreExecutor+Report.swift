import EtcdClient
import Foundation
import SnapshotStore
import SystemSupport

extension RestoreExecutor {
    func finish(failedBeforeStart error: any Error, onEvent: EventHandler) -> RestoreReport {
        let final = report(steps: [], error: error, rollback: nil)
        onEvent(.finished(final))
        return final
    }

    func report(steps: [StepResult], error: (any Error)?, rollback: RollbackResult?) -> RestoreReport {
        let aside = fileSystem.exists(plan.asidePath) ? plan.asidePath : nil
        let succeeded = error == nil && rollback == nil
        var reminders: [String] = []
        if succeeded {
            reminders.append("restart kube-apiserver, kube-controller-manager, kube-scheduler and kubelet so they drop what they cached from after the snapshot (systemctl restart kube-apiserver kube-controller-manager kube-scheduler kubelet, or move their static pod manifests out and back)")
            if let aside { reminders.append("the old data dir is kept at \(aside); remove it yourself once the cluster is confirmed good") }
            reminders.append("take a fresh snapshot now: etcd-console snapshot save")
        } else if let rollback {
            if rollback.originalRestored { reminders.append("the original data dir is back at \(plan.dataDir)") }
            if let failed = rollback.failedRestorePath { reminders.append("the restored data dir is kept at \(failed) for inspection") }
            reminders += rollback.problems.map { "rollback problem: \($0)" }
        } else if let aside {
            reminders.append("the old data dir is at \(aside)")
        }
        var pods: [String: Int]?
        if succeeded { pods = plan.snapshotPods }
        return RestoreReport(succeeded: succeeded, snapshot: plan.snapshotPath, dataDir: plan.dataDir, steps: steps,
                             rolledBack: rollback != nil, movedAside: aside, rollback: rollback,
                             error: error.map { "\($0)" }, errorKind: (error as? RestoreError)?.kind ?? (error is ProcessLaunchError ? .toolMissing : nil),
                             pods: pods, notes: plan.notes, reminders: reminders)
    }
}
