import ArgumentParser
import Dispatch
import EtcdClient
import Foundation
import Operations
import SnapshotStore
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Take, list, verify, inspect, compare and prune etcd snapshots.",
        discussion: """
        Exit codes: 0 good, 1 corrupt or failed, 2 usage.

        Examples:
          etcd-console snapshot save
          etcd-console snapshot list -o json
          etcd-console snapshot verify --all
        """,
        subcommands: [SnapshotSaveCommand.self, SnapshotListCommand.self, SnapshotVerifyCommand.self,
                      SnapshotInspectCommand.self, SnapshotBrowseCommand.self, SnapshotDiffCommand.self,
                      SnapshotPruneCommand.self, SnapshotPushCommand.self, SnapshotPullCommand.self])
}

/// `--dir`, shared by the catalog commands; without it the directory comes from ETCD_CONSOLE_DIR, the config
/// file, else /var/lib/etcd-backup.
struct DirectoryOption: ParsableArguments {
    @Option(help: ArgumentHelp("Snapshot directory (env ETCD_CONSOLE_DIR, config file, else /var/lib/etcd-backup).", valueName: "dir"))
    var dir: String?

    @OptionGroup var config: ConfigOption

    /// The snapshot directory after precedence.
    func resolved() throws -> String {
        if let dir { return absolutePath(dir) }
        return try config.resolve(flags: [:]).snapshotDirectory
    }
}

struct SnapshotSaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Stream a snapshot from etcd to a file, atomically; verify it; record its metadata.",
        discussion: """
        Writes <file>.part (mode 0600), checks the SHA-256 trailer while streaming, fsyncs, renames and \
        fsyncs the directory; then verifies the file (trailer, bbolt structure, etcd keys) and writes \
        <file>.meta.json. A failed or interrupted save leaves nothing under the final name and removes \
        the .part. Prints the path (or JSON with path, size, sha256, revision, durationMs, health).

        Examples:
          etcd-console snapshot save                      # into /var/lib/etcd-backup
          etcd-console snapshot save --dir /backup/etcd -o json
          etcd-console snapshot save --file /root/before-upgrade.db
          etcd-console snapshot save /root/before-upgrade.db   # as etcdctl takes it
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("Directory for a timestamped snapshot file (default /var/lib/etcd-backup).", valueName: "dir"))
    var dir: String?

    @Option(name: .customLong("file"), help: ArgumentHelp("Exact file to write (must not exist).", valueName: "path"))
    var fileOption: String?

    @Argument(help: ArgumentHelp("The file to write, as `etcdctl snapshot save FILE` takes it (same as --file).", valueName: "file"))
    var fileArgument: String?

    /// --file or the positional FILE (etcdctl's habit): one of them at most.
    var file: String? { fileOption ?? fileArgument }

    @Option(help: ArgumentHelp("etcd's data dir, to warn when snapshots share its disk.", valueName: "dir"))
    var dataDir: String?

    @Option(help: ArgumentHelp("none or zstd: store the snapshot as <name>.db.zst (default: config compression for a timestamped file; a --file ending in .db.zst is compressed).", valueName: "codec"))
    var compression: String?

    @Option(help: ArgumentHelp("End the save when etcd sends nothing for this long, e.g. 30s (env ETCD_CONSOLE_STALL_TIMEOUT; default 30s; not a total limit).", valueName: "duration"))
    var stallTimeout: String?

    func validate() throws {
        if fileOption != nil && fileArgument != nil {
            throw ValidationError("give the file once: either --file PATH or PATH, not both")
        }
        if dir != nil && file != nil { throw ValidationError("use either --dir or --file, not both") }
        if let compression, !["none", "zstd"].contains(compression) {
            throw ValidationError("--compression must be none or zstd, not \"\(compression)\"")
        }
        if compression == "none", file.map(CompressedSnapshot.isCompressed) == true {
            throw ValidationError("--file names a .db.zst but --compression is none: name a .db file, or drop --compression")
        }
    }

    func run() async throws {
        var extra: [ConfigurationKey: String] = [:]
        extra[.dir] = dir.map(absolutePath)
        extra[.stallTimeout] = stallTimeout
        let resolved = try connection.resolve(extra: extra)
        let directory = file.map { ($0 as NSString).deletingLastPathComponent } ?? resolved.snapshotDirectory
        let client = EtcdClient(try clientConfiguration(resolved))
        let catalog = SnapshotCatalog.standard(directory: directory.isEmpty ? "." : directory)
        let bar = ProgressLine(enabled: Terminal.stderrIsTTY && output.output == .table)
        // A .db.zst is saved plain under its .db name, verified, then compressed (SnapshotCatalog.compress).
        let compress = compression == "zstd" || file.map(CompressedSnapshot.isCompressed) == true
            || (compression == nil && file == nil && resolved[.compression] == "zstd")
        let fileName = file.map { CompressedSnapshot.plainName(($0 as NSString).lastPathComponent) }
        if let fileName, compress, SafeFile.exists(catalog.directory + "/" + fileName + ".zst") {
            throw ValidationError("\(catalog.directory)/\(fileName).zst already exists")
        }
        let save = Task { try await catalog.saveVerified(from: client, fileName: fileName, progress: { bar.update($0) }) }
        let interrupt = InterruptHandler { save.cancel() }
        defer { interrupt.cancel() }
        var saved: SnapshotCatalog.SavedSnapshot
        do {
            saved = try await save.value
            bar.finish()
            if compress {
                saved = try catalog.compress(saved, level: resolved[.compressionLevel].flatMap { Int32($0) } ?? Zstd.defaultLevel)
            }
        } catch {
            bar.finish()
            await client.close()
            throw error
        }
        await client.close()
        for warning in saved.warnings { printError("warning: " + warning) }
        if let dataDir = dataDir.map(absolutePath) ?? resolved[.dataDir],
           let warning = catalog.sameFilesystemWarning(dataDir: dataDir) { printError(warning) }
        let result = saved.save
        switch output.output {
        case .json:
            try printJSON(SaveJSON(path: result.path, size: saved.metadata.size, sha256: result.sha256, revision: result.revision,
                                   durationMs: Int(result.duration.milliseconds), endpoint: result.endpoint,
                                   memberName: result.memberName, etcdVersion: result.etcdVersion,
                                   health: saved.verification.health, liveKeys: saved.verification.liveKeys))
        case .table:
            print(result.path)
        }
    }
}

struct SaveJSON: Encodable {
    var path: String
    var size: Int
    var sha256: String
    var revision: Int64
    var durationMs: Int
    var endpoint: String
    var memberName: String?
    var etcdVersion: String
    var health: SnapshotHealth
    var liveKeys: Int?
}

/// A one-line progress bar on stderr (bytes, rate, ETA), redrawn at most every 100 ms.
final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let lock = NSLock()
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ progress: SnapshotProgress) {
        guard enabled else { return }
        var line = "snapshot " + formatBytes(progress.bytesReceived)
        if let total = progress.totalBytes, let fraction = progress.fraction {
            let width = 24
            let filled = Int(fraction * Double(width))
            line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
                + String(format: "%3.0f%% ", fraction * 100) + formatBytes(progress.bytesReceived) + "/" + formatBytes(total)
        }
        line += "  " + formatBytes(Int(progress.rate)) + "/s"
        if let eta = progress.eta { line += "  ETA " + formatDuration(eta) }
        lock.withLock {
            drawn = true
            printError("\r\u{1B}[K" + line + "\u{1B}[K", newline: false)
        }
    }

    func finish() {
        lock.withLock {
            if drawn { printError("\r\u{1B}[K", newline: false) }
            drawn = false
        }
    }
}

/// Turns SIGINT/SIGTERM (or the given signals) into a cancellation so a save can clean up its .part before exiting.
final class InterruptHandler: @unchecked Sendable {
    private let signals: [Int32]
    private var sources: [DispatchSourceSignal] = []

    init(signals: [Int32] = [SIGINT, SIGTERM], _ action: @escaping @Sendable () -> Void) {
        self.signals = signals
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
        for sig in signals { signal(sig, SIG_DFL) }
    }
}
