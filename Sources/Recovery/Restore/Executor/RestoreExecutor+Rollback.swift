import EtcdClient
import Foundation
import SnapshotStore

// The rollback: etcd stopped, the restored dir moved to the failed-restore path (kept), the original
// moved back and started. Each action is said as it happens; a problem is collected, never thrown, so the
// rollback goes as far as it can and the report names what is left to do by hand.
extension RestoreExecutor {
    func rollBack(reason: String, writer: JournalWriter, onEvent: @escaping EventHandler) async -> RollbackResult {
        onEvent(.rollbackStarted(reason: reason))
        try? writer.append(.init(event: .rollbackStarted, detail: reason))
        var actions: [String] = []
        var problems: [String] = []
        func say(_ line: String) {
            actions.append(line)
            onEvent(.output(nil, line))
        }
        do {
            say(try await service.stop(timeout: .seconds(plan.stopTimeoutSeconds)) { line in onEvent(.output(nil, line)) })
        } catch {
            problems.append("could not stop etcd: \(error)")
        }
        var failedPath: String?
        let originalAvailable = fileSystem.exists(plan.asidePath)
        if fileSystem.exists(plan.dataDir) && (originalAvailable || !plan.dataDirExisted) {
            do {
                try fileSystem.move(plan.dataDir, to: plan.failedRestorePath)
                failedPath = plan.failedRestorePath
                say("moved the restored data dir to \(plan.failedRestorePath)")
            } catch {
                problems.append("\(error)")
            }
        }
        if let wal = plan.walDir, let walAside = plan.walAsidePath, fileSystem.exists(walAside), fileSystem.exists(wal) {
            do {
                try fileSystem.move(wal, to: plan.failedRestorePath + ".wal")
                say("moved the restored WAL dir to \(plan.failedRestorePath).wal")
            } catch { problems.append("\(error)") }
        }
        var originalRestored = false
        if originalAvailable && !fileSystem.exists(plan.dataDir) {
            do {
                try fileSystem.move(plan.asidePath, to: plan.dataDir)
                originalRestored = true
                say("moved the original data dir back to \(plan.dataDir)")
                if let wal = plan.walDir, let walAside = plan.walAsidePath, fileSystem.exists(walAside) {
                    try fileSystem.move(walAside, to: wal)
                    say("moved the original WAL dir back to \(wal)")
                }
            } catch { problems.append("\(error)") }
        } else if !plan.dataDirExisted {
            problems.append("there was no data dir before the restore: nothing to bring back; etcd is left stopped")
        } else if !originalAvailable && fileSystem.exists(plan.dataDir) {
            // The restore stopped before the data dir was moved aside: it is still the original.
            originalRestored = true
            say("the data dir \(plan.dataDir) was never moved: it is the original")
        }
        var running = false
        if originalRestored && leaveStopped {
            say("etcd is left stopped: the cluster restore starts every member together")
        } else if originalRestored {
            do {
                say(try await service.start(timeout: .seconds(plan.startTimeoutSeconds)) { line in onEvent(.output(nil, line)) })
                say(try await waitHealthy { line in onEvent(.output(nil, line)) })
                running = true
            } catch {
                problems.append("etcd did not come back on the original data dir: \(error)")
            }
        }
        let result = RollbackResult(originalRestored: originalRestored, failedRestorePath: failedPath,
                                    etcdRunning: running, actions: actions, problems: problems)
        try? writer.append(.init(event: .rollbackFinished, status: problems.isEmpty ? .ok : .failed,
                                 detail: (actions + problems).joined(separator: "; ")))
        onEvent(.rollbackFinished(result))
        return result
    }
}
