import ArgumentParser
import Foundation
import Operations

extension RestoreCommand {
    /// `restore --rebuild`: the bundle's files back onto this machine (or under --root), plan first.
    func runRebuild() throws {
        guard let name = snapshot else { throw ValidationError("name the snapshot (or bundle) to rebuild from (etcd-console bundle list shows them)") }
        let directory: String
        if let dir {
            directory = absolutePath(dir)
        } else if name.contains("/") {
            directory = (absolutePath(name) as NSString).deletingLastPathComponent
        } else {
            directory = try connection.resolve().snapshotDirectory
        }
        let store = BundleStore(directory: directory)
        let opened: BundleStore.Opened
        do { opened = try store.open(name.contains("/") ? absolutePath(name) : name) } catch {
            printError("error: \(error.message)")
            throw ExitCode(1)
        }
        let plan = BundleRebuildPlan.make(opened, root: absolutePath(root ?? "/"), now: Date())
        if dryRun || !yes {
            if output.output == .json && dryRun {
                try printJSON(RebuildJSON(plan: plan, applied: false, written: []))
                return
            }
            print(plan.rendered(), terminator: "")
            if dryRun { return }
        }
        if !yes {
            guard Terminal.stdinIsTTY else {
                printError("error: refusing to rebuild without confirmation: there is no terminal to ask on; pass --yes to go ahead")
                throw ExitCode(2)
            }
            printError("This writes \(plan.writes.count) files under \(plan.root). Type yes to rebuild: ", newline: false)
            guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                printError("Not confirmed; nothing was changed.")
                throw ExitCode(1)
            }
        }
        let written: [BundleRebuildPlan.Step]
        do { written = try plan.apply(opened) } catch {
            printError("error: \(error.message)")
            throw ExitCode(1)
        }
        switch output.output {
        case .json:
            try printJSON(RebuildJSON(plan: plan, applied: true, written: written.map(\.path)))
        case .table:
            if yes { print(plan.rendered(), terminator: "") }
            print("rebuilt \(written.count) files from \(plan.bundle) under \(plan.root) (\(plan.movesAside.count) moved aside, \(plan.steps.count - written.count) already in place)")
            for step in plan.movesAside { print("  the old \(step.path) is at \(step.movedAsideTo ?? "")") }
            print("next: restore the snapshot's data (etcd-console restore SNAPSHOT), then start kubelet")
        }
    }
}

/// `restore --rebuild -o json`.
struct RebuildJSON: Encodable {
    var plan: BundleRebuildPlan
    var applied: Bool
    var written: [String]
}
