import ArgumentParser
import Foundation
import Operations
import SnapshotStore

/// `restore REMOTE-NAME`: a snapshot that is not a local file but is in the remote catalog is pulled into the
/// snapshot directory (checked against its manifest, verified, with its sidecar) and restored from there.
enum RemoteRestoreSource {
    static func localPath(for snapshot: String, _ resolved: ResolvedConfiguration) throws -> String {
        if FileManager.default.fileExists(atPath: snapshot) { return snapshot }
        let inDirectory = (resolved.snapshotDirectory as NSString).appendingPathComponent(snapshot)
        if !snapshot.contains("/"), FileManager.default.fileExists(atPath: inDirectory) { return inDirectory }
        guard !snapshot.contains("/") || !snapshot.hasPrefix("/"), let store = try offsiteStore(resolved) else { return snapshot }
        printError("\(snapshot) is not a local file; pulling it from \(store.settings.location)")
        do {
            try SafeFile.createDirectory(resolved.snapshotDirectory)
            let path = try store.pull(snapshot, into: resolved.snapshotDirectory)
            printError("pulled \(path) (checksums match the manifest, verified good)")
            return path
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
