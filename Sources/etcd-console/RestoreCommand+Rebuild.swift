import ArgumentParser
import Foundation
import Operations
import SnapshotStore

extension RestoreCommand {
    /// `restore --rebuild`: the bundle's files back onto this machine (or under --root), plan first; then, when
    /// a snapshot was named (and not --files-only), etcd's data restored from it with the settings of the files
    /// just put back (journaled, started, checked: the normal restore).
    func runRebuild() async throws {
        if rollback { return try rollbackRebuild() }
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
        let unfinished = try? BundleRebuildJournal.read(directory: directory)
        if let journal = unfinished ?? nil, !journal.isFinished, !resume {
            printError("""
            error: an unfinished rebuild of \(journal.plan?.bundle ?? "a bundle") onto \(journal.plan?.root ?? "?") (journal \(journal.path)).
            Finish it first: etcd-console restore --rebuild --resume \(name)   (the plan is made again; files in place are left)
                         or: etcd-console restore --rebuild --rollback --dir \(directory)   (undo what it wrote)
            """)
            throw ExitCode(1)
        }
        var target = name.contains("/") ? absolutePath(name) : name
        var pulledSnapshot: String?
        if (try? store.resolve(target)) == nil, !name.contains("/") {
            // Not here: the disk that held the backups is gone too. Pull the snapshot and its bundle (or the
            // bundle alone) from the remote, checked against their manifests.
            if let pulled = try pullForRebuild(name, into: directory) { (target, pulledSnapshot) = pulled }
        }
        let opened: BundleStore.Opened
        do { opened = try store.open(target) } catch {
            printError("error: \(error.message)")
            throw ExitCode(1)
        }
        let plan = BundleRebuildPlan.make(opened, root: absolutePath(root ?? "/"), now: Date())
        let snapshotPath = pulledSnapshot
            ?? (name.hasSuffix(BundleStore.suffix) ? nil : (name.contains("/") ? absolutePath(name) : directory + "/" + name))
        let thenRestore = !filesOnly && snapshotPath.map { SafeFile.exists($0) } == true
        if dryRun && thenRestore && output.output == .table {
            print("then: restore etcd's data from \(snapshotPath!) with the settings of the files above (its plan is made once they are in place; --files-only skips it)")
        }
        if dryRun || !yes {
            if output.output == .json && dryRun {
                try printJSON(RebuildJSON(plan: plan, applied: false, written: []))
                return
            }
            print(plan.rendered(), terminator: "")
            if dryRun { return }
        }
        if !yes {
            try askYes("This writes \(plan.writes.count) files under \(plan.root)\(thenRestore ? ", then restores etcd from \(snapshotPath!)" : "").",
                       to: "rebuild")
        }
        let written: [BundleRebuildPlan.Step]
        do {
            try BundleRebuildJournal.append(.init(.planned, plan: plan), directory: directory, truncate: true)
            written = try plan.apply(opened, journal: directory)
            try BundleRebuildJournal.append(.init(.finished), directory: directory)
        } catch {
            printError("error: \(error.message)")
            // Half placed is worse than not at all: what was done is undone from the journal (never deleting a
            // file that differs from what the rebuild wrote, and putting every moved-aside file back).
            if let journal = try? BundleRebuildJournal.read(directory: directory), journal.plan != nil {
                let (actions, problems) = journal.rollBack()
                for action in actions { printError("rolled back: \(action)") }
                for problem in problems { printError("could not roll back: \(problem)") }
                try? BundleRebuildJournal.append(.init(.rolledBack), directory: directory)
                printError(problems.isEmpty ? "Rolled back: the files under \(plan.root) are as they were before the rebuild."
                                            : "Rolled back with problems (above); the journal is \(journal.path)")
            }
            throw ExitCode(1)
        }
        switch output.output {
        case .json:
            // With the etcd restore after it, its report is the JSON on stdout; the files go to stderr.
            let json = RebuildJSON(plan: plan, applied: true, written: written.map(\.path))
            if thenRestore {
                printError("rebuilt \(written.count) files from \(plan.bundle) under \(plan.root) (\(plan.movesAside.count) moved aside)")
            } else {
                try printJSON(json)
            }
        case .table:
            if yes { print(plan.rendered(), terminator: "") }
            print("rebuilt \(written.count) files from \(plan.bundle) under \(plan.root) (\(plan.movesAside.count) moved aside, \(plan.steps.count - written.count) already in place)")
            for step in plan.movesAside { print("  the old \(step.path) is at \(step.movedAsideTo ?? "")") }
            if !thenRestore {
                print("next: restore the snapshot's data (etcd-console restore \(snapshotPath ?? "SNAPSHOT")), then start kubelet")
            }
        }
        guard thenRestore, let snapshotPath else { return }
        if output.output == .table { print("restoring etcd's data from \(snapshotPath) with the settings under \(plan.root):") }
        try await restoreEtcd(snapshot: snapshotPath, discoveryRoot: absolutePath(root ?? "/"))
    }
}

extension RestoreCommand {
    /// `restore --rebuild --rollback`: undoes the last rebuild's file placement from its journal.
    func rollbackRebuild() throws {
        let directory = try dir.map(absolutePath) ?? connection.resolve().snapshotDirectory
        let journal: BundleRebuildJournal
        do {
            guard let found = try BundleRebuildJournal.read(directory: directory), found.plan != nil else {
                printError("error: no rebuild journal in \(directory) (\(BundleRebuildJournal.path(directory: directory)))")
                throw ExitCode(1)
            }
            journal = found
        } catch let error as BundleError {
            printError("error: \(error.message)")
            throw ExitCode(1)
        }
        if journal.isRolledBack {
            printError("error: the rebuild of \(journal.plan!.bundle) onto \(journal.plan!.root) was already rolled back")
            throw ExitCode(1)
        }
        let changes = journal.records.filter { [.wrote, .movedAside, .createdDirectory].contains($0.event) }.count
        if !yes {
            try askYes("This undoes \(changes) changes of the rebuild of \(journal.plan!.bundle) under \(journal.plan!.root).", to: "roll back")
        }
        let (actions, problems) = journal.rollBack()
        do { try BundleRebuildJournal.append(.init(.rolledBack), directory: directory) } catch {
            printError("warning: \(error.message)")
        }
        for action in actions { print("rolled back: \(action)") }
        for problem in problems { print("could not roll back: \(problem)") }
        print(problems.isEmpty ? "Rolled back the rebuild of \(journal.plan!.bundle): the files under \(journal.plan!.root) are as they were before it (etcd's data is not touched: restore --rollback does that)."
                               : "Rolled back with problems (above).")
        if !problems.isEmpty { throw ExitCode(1) }
    }
}

extension RestoreCommand {
    /// Asks "<question> Type yes to <action>: " on the terminal; refuses (exit 2) without one, exit 1 unless yes.
    func askYes(_ question: String, to action: String) throws {
        guard Terminal.stdinIsTTY else {
            printError("error: refusing to \(action) without confirmation: there is no terminal to ask on; pass --yes to go ahead")
            throw ExitCode(2)
        }
        printError("\(question) Type yes to \(action): ", newline: false)
        guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
            printError("Not confirmed; nothing was changed.")
            throw ExitCode(1)
        }
    }
}

/// `restore --rebuild -o json`.
struct RebuildJSON: Encodable {
    var plan: BundleRebuildPlan
    var applied: Bool
    var written: [String]
}

extension RestoreCommand {
    /// Pulls what `--rebuild NAME` needs from the remote into `directory`: a remote snapshot and the bundle its
    /// manifest names, or a remote bundle by its name. Returns the bundle to open and the pulled snapshot's path;
    /// nil when no remote is configured (the local "no bundle named" error then says what is missing).
    func pullForRebuild(_ name: String, into directory: String) throws -> (bundle: String, snapshot: String?)? {
        var flags: [ConfigurationKey: String] = [:]
        if let dir { flags[.dir] = absolutePath(dir) }
        let resolved = try connection.config.resolve(flags: flags)
        guard let store = try offsiteStore(resolved) else { return nil }
        do {
            try SafeFile.createDirectory(directory)   // a fresh machine has no snapshot directory yet
        } catch {
            printError("error: could not create the snapshot directory \(directory): \(error)")
            throw ExitCode(1)
        }
        do {
            if name.hasPrefix(BundleStore.prefix) && name.hasSuffix(BundleStore.suffix) {
                printError("\(name) is not in \(directory); pulling it from \(store.settings.location)")
                let path = try store.pullBundle(name, into: directory)
                printError("pulled \(path) (checksums match its manifests)")
                return (path, nil)
            }
            let remote = try store.find(name)
            guard let bundle = remote.manifest.bundle else {
                printError("error: the remote snapshot \(remote.name) was uploaded without a bundle (its backup kept none, or bundles are not copied offsite: remote.age-recipients); a rebuild needs one")
                throw ExitCode(1)
            }
            printError("\(name) is not in \(directory); pulling it and \(bundle) from \(store.settings.location)")
            let snapshotPath = SafeFile.exists(directory + "/" + remote.name) ? directory + "/" + remote.name
                : try store.pull(remote.name, into: directory)
            let bundlePath = try store.pullBundle(bundle, into: directory)
            printError("pulled \(snapshotPath) and \(bundlePath) (checksums match the manifests, snapshot verified good)")
            return (bundlePath, snapshotPath)
        } catch let error as OffsiteError {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
