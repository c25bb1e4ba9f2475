import ArgumentParser
import Dispatch
import EtcdClient
import Foundation
import SnapshotStore
#if canImport(Glibc)
import Glibc
#endif

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Take and manage etcd snapshots.",
        subcommands: [SnapshotSaveCommand.self])
}

struct SnapshotSaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Stream a snapshot from etcd to a file, atomically, checking its SHA-256 trailer.",
        discussion: """
        Writes <file>.part (mode 0600), checks the trailer while streaming, fsyncs, renames and fsyncs
        the directory. A failed or interrupted save leaves nothing under the final name and removes
        the .part. Prints the path (or JSON with path, size, sha256, revision, durationMs).

        Examples:
          etcd-console snapshot save                      # into /var/lib/etcd-backup
          etcd-console snapshot save --dir /backup/etcd -o json
          etcd-console snapshot save --file /root/before-upgrade.db
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("Directory for a timestamped snapshot file.", valueName: "dir"))
    var dir: String?

    @Option(help: ArgumentHelp("Exact file to write (must not exist).", valueName: "path"))
    var file: String?

    func validate() throws {
        if dir != nil && file != nil { throw ValidationError("use either --dir or --file, not both") }
    }

    func run() async throws {
        let client = EtcdClient(try connection.configuration())
        let path: String
        if let file {
            path = file
        } else {
            let directory = dir ?? "/var/lib/etcd-backup"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let status = try await client.status()
            let name = try? await client.memberList().members.first { $0.id == status.header.memberID }?.name
            path = (directory as NSString).appendingPathComponent(SnapshotSaver.fileName(takenAt: Date(), memberName: name))
        }
        let showProgress = Terminal.stderrIsTTY && output.output == .table
        let bar = ProgressLine(enabled: showProgress)
        let save = Task {
            try await SnapshotSaver.save(from: client, to: path, progress: { bar.update($0) })
        }
        let interrupt = InterruptHandler { save.cancel() }
        defer { interrupt.cancel() }
        let result: SnapshotSaveResult
        do {
            result = try await save.value
            bar.finish()
        } catch {
            bar.finish()
            await client.close()
            throw error
        }
        await client.close()
        switch output.output {
        case .json:
            try printJSON(SaveJSON(path: result.path, size: result.size, sha256: result.sha256, revision: result.revision,
                                   durationMs: Int(result.duration.milliseconds),
                                   endpoint: result.endpoint, memberName: result.memberName, etcdVersion: result.etcdVersion))
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

/// Turns SIGINT/SIGTERM into a cancellation so a save can clean up its .part before exiting.
final class InterruptHandler: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    init(_ action: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
