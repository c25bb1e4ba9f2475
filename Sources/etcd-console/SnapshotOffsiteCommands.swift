import ArgumentParser
import EtcdClient
import Foundation
import SystemSupport
import ObjectStore
import Operations
import SnapshotStore

/// The offsite store `resolved` configures (`remote:`), with credentials from the AWS_* environment or the
/// credentials file; nil when no remote is configured.
func offsiteStore(_ resolved: ResolvedConfiguration,
                  environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> OffsiteStore? {
    let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    guard let settings = try OffsiteSettings.from(resolved, environment: env, home: home) else { return nil }
    return try OffsiteStore(settings: settings, version: EtcdConsole.configuration.version)
}

/// The offsite store, or a usage error saying how to configure one.
func requiredOffsiteStore(_ resolved: ResolvedConfiguration, identity: String? = nil) throws -> OffsiteStore {
    guard var store = try offsiteStore(resolved) else {
        throw ValidationError("no remote is configured: set remote.endpoint and remote.bucket in the config file (or ETCD_CONSOLE_REMOTE_ENDPOINT and ETCD_CONSOLE_REMOTE_BUCKET)")
    }
    if let identity {
        var settings = store.settings
        settings.identityFile = absolutePath(identity)
        store = try OffsiteStore(settings: settings, version: store.version)
    }
    return store
}

/// Runs one upload or download with a progress line on a terminal (`verb`: upload, pull); a failure is printed
/// after `errorPrefix` and ends the command with exit status 1.
func transfer<T>(_ verb: String, errorPrefix: String = "", _ body: (_ progress: @escaping (Int64, Int64) -> Void) throws -> T) throws -> T {
    let bar = TransferLine(enabled: Terminal.stderrIsTTY, verb: verb)
    do {
        let result = try body { bar.update($0, $1) }
        bar.finish()
        return result
    } catch {
        bar.finish()
        printError("error: \(errorPrefix)\(error)")
        throw ExitCode(1)
    }
}

/// `--identity FILE`, shared by the commands that decrypt.
struct IdentityOption: ParsableArguments {
    @Option(help: ArgumentHelp("age identity file that decrypts the remote copies (config remote.age-identity-file).", valueName: "file"))
    var identity: String?
}

struct SnapshotPushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Copy a good local snapshot to the remote (zstd, age when recipients are set, multipart upload).",
        discussion: """
        The object goes to <prefix>/<cluster-id>/<member>/<UTC time>-r<revision>.db.zst[.age] with a JSON \
        manifest beside it, written last. A failed upload is aborted: nothing is left in the bucket. The \
        snapshot's control-plane bundle goes to <member>/bundles/ beside it, age-encrypted (without \
        remote.age-recipients only when remote.bundle-unencrypted is true).

        Examples:
          etcd-console snapshot push snapshot-20261201T120000Z-m1.db
        """)

    @Argument(help: ArgumentHelp("Snapshot file name in the directory.", valueName: "name"))
    var name: String

    @OptionGroup var directory: DirectoryOption

    func run() throws {
        let resolved = try directory.config.resolve(flags: directory.dir.map { [.dir: absolutePath($0)] } ?? [:])
        let store = try requiredOffsiteStore(resolved)
        let dir = resolved.snapshotDirectory
        let catalog = SnapshotCatalog.standard(directory: dir)
        let entries = try catalog.list().entries
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw ValidationError("no snapshot \(name) in \(dir) (snapshot list shows them)")
        }
        let bar = TransferLine(enabled: Terminal.stderrIsTTY, verb: "upload")
        let result: PushResult
        do {
            result = try store.pushRecorded(entry, directory: dir, progress: { bar.update($0, $1) })
            bar.finish()
        } catch {
            bar.finish()
            printError("error: \(error)")
            throw ExitCode(1)
        }
        print("s3://\(store.settings.bucket)/\(result.objectKey)")
        // The snapshot's bundle goes beside it (encrypted), unless the settings keep bundles local.
        guard BundleStore(directory: dir).pointer(forSnapshot: entry.path) != nil else { return }
        if let refusal = store.bundleRefusal {
            printError("warning: \(refusal)")
            return
        }
        let pushed = try transfer("upload", errorPrefix: "the snapshot is offsite, but its bundle is not: ") {
            try store.pushBundle(of: entry, progress: $0)
        }
        if let bundle = pushed {
            print("s3://\(store.settings.bucket)/\(bundle.objectKey)\(bundle.alreadyThere ? " (bundle already there)" : "")")
        }
    }
}

struct SnapshotPullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download a remote snapshot into the directory, atomically, checked against its manifest.",
        discussion: """
        Streams the object through age and zstd into <name>.part (mode 0600), checks the object's and the \
        snapshot's SHA-256 against the manifest, fsyncs and renames; then verifies the file and writes its \
        sidecar. A failure (tampering, disk full, wrong identity) leaves nothing behind.

        Examples:
          etcd-console snapshot pull snapshot-20261201T120000Z-m1.db
          etcd-console snapshot pull NAME --identity /root/etcd-age.key
        """)

    @Argument(help: ArgumentHelp("Remote snapshot name (snapshot list --remote).", valueName: "name"))
    var name: String

    @OptionGroup var directory: DirectoryOption
    @OptionGroup var identity: IdentityOption

    func run() throws {
        let resolved = try directory.config.resolve(flags: directory.dir.map { [.dir: absolutePath($0)] } ?? [:])
        let store = try requiredOffsiteStore(resolved, identity: identity.identity)
        let dir = resolved.snapshotDirectory
        try SafeFile.createDirectory(dir)
        let bar = TransferLine(enabled: Terminal.stderrIsTTY, verb: "pull")
        do {
            let path = try store.pull(name, into: dir, progress: { bar.update($0, $1) })
            bar.finish()
            print(path)
        } catch {
            bar.finish()
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `snapshot list --remote`: local and remote snapshots side by side.
enum RemoteSnapshotList {
    static func run(directory option: DirectoryOption, output: OutputFormat) throws {
        let resolved = try option.config.resolve(flags: option.dir.map { [.dir: absolutePath($0)] } ?? [:])
        let directory = resolved.snapshotDirectory
        let store = try requiredOffsiteStore(resolved)
        let remote: RemoteCatalog
        do { remote = try store.list(cacheDirectory: FileManager.default.fileExists(atPath: directory) ? directory : nil) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        for item in remote.unreadable { printError("warning: ignored \(item)") }
        let local = (try? SnapshotCatalog.standard(directory: directory).list().entries) ?? []
        let rows = OffsiteListing.rows(local: local, remote: remote)
        switch output {
        case .json:
            try printJSON(RemoteListJSON(directory: directory, remote: remote.location, snapshots: rows, unreadable: remote.unreadable))
        case .table:
            if rows.isEmpty {
                print("no snapshots in \(directory) or \(remote.location)")
            } else {
                // One cluster revision held by several members: its rows together, marked with the same letter.
                var letters: [String: String] = [:]
                let rowsText = rows.map { row -> [String] in
                    var group = "-"
                    if let key = row.group {
                        if letters[key] == nil { letters[key] = String(UnicodeScalar(UInt8(65 + letters.count % 26))) }
                        group = letters[key]!
                    }
                    return [row.name, row.location.rawValue, row.health, UTCCalendar.internetDateTime(row.takenAt), row.revision.map(String.init) ?? "-",
                            row.member ?? "-", group, row.localSize.map { formatBytes($0) } ?? "-", row.remoteSize.map { formatBytes(Int($0)) } ?? "-"]
                }
                print(renderTable(["NAME", "WHERE", "HEALTH", "TAKEN (UTC)", "REVISION", "MEMBER", "SAME REV", "SIZE", "REMOTE SIZE"], rowsText),
                      terminator: "")
            }
        }
        if rows.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
    }
}

struct RemoteListJSON: Encodable {
    var directory: String
    var remote: String
    var snapshots: [OffsiteListing.Row]
    var unreadable: [String]
}

/// `snapshot verify --remote NAME`.
enum RemoteSnapshotVerify {
    static func run(resolved: ResolvedConfiguration, name: String, identity: String?, output: OutputFormat) throws {
        let store = try requiredOffsiteStore(resolved, identity: identity)
        let result: RemoteVerification
        let bar = TransferLine(enabled: Terminal.stderrIsTTY && output == .table, verb: "verify")
        do {
            result = try store.verify(name, progress: { bar.update($0, $1) })
            bar.finish()
        } catch {
            bar.finish()
            switch output {
            case .json: try printJSON(RemoteVerifyJSON(name: name, health: .corrupt, reason: error.message))
            case .table: printError("error: \(error)")
            }
            throw ExitCode(1)
        }
        switch output {
        case .json:
            try printJSON(RemoteVerifyJSON(name: result.name, health: .good, objectKey: result.objectKey,
                                           objectSHA256: result.objectSHA256, dbSHA256: result.dbSHA256,
                                           dbSize: result.dbSize, hasTrailer: result.hasTrailer))
        case .table:
            print("\(result.name): good (s3://\(store.settings.bucket)/\(result.objectKey); object and snapshot SHA-256 match the manifest; \(result.hasTrailer ? "etcd trailer matches" : "no etcd trailer"); \(formatBytes(Int(result.dbSize))))")
        }
    }
}

struct RemoteVerifyJSON: Encodable {
    var name: String
    var health: SnapshotHealth
    var reason: String?
    var objectKey: String?
    var objectSHA256: String?
    var dbSHA256: String?
    var dbSize: Int64?
    var hasTrailer: Bool?
}

/// "upload 12.0 MiB/40.0 MiB" on stderr, redrawn at most every 100 ms.
final class TransferLine: @unchecked Sendable {
    private let enabled: Bool
    private let verb: String
    private let lock = NSLock()
    private var last = Date.distantPast
    private var drawn = false
    private let started = Date()

    init(enabled: Bool, verb: String) {
        self.enabled = enabled
        self.verb = verb
    }

    func update(_ done: Int64, _ total: Int64) {
        guard enabled else { return }
        lock.withLock {
            let now = Date()
            guard now.timeIntervalSince(last) >= 0.1 else { return }
            last = now
            let rate = Double(done) / max(now.timeIntervalSince(started), 0.001)
            var line = "\(verb) \(formatBytes(Int(done)))/\(formatBytes(Int(total)))  \(formatBytes(Int(rate)))/s"
            if rate > 0, total > done { line += "  ETA " + formatDuration(.seconds(Double(total - done) / rate)) }
            drawn = true
            printError("\r\u{1B}[K" + line, newline: false)
        }
    }

    func finish() {
        lock.withLock {
            if drawn { printError("\r\u{1B}[K", newline: false) }
            drawn = false
        }
    }
}

/// `status`'s offsite line: from the local record only (no request to the bucket), when a remote is configured.
enum OffsiteFreshnessWarning {
    static func check(_ resolved: ResolvedConfiguration, now: Date = Date()) -> String? {
        guard resolved[.remoteEndpoint] != nil, let bucket = resolved[.remoteBucket] else { return nil }
        let directory = resolved.snapshotDirectory
        guard let entries = try? SnapshotCatalog.standard(directory: directory).list().entries, !entries.isEmpty else { return nil }
        let status = OffsiteStatus(record: OffsiteRecord.read(fromDirectory: directory), bucket: bucket, entries: entries)
        return status.warning(intervalSeconds: resolved.interval.seconds, now: now).map { "offsite (s3://\(bucket)): \($0)" }
    }
}
