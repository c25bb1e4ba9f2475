import ArgumentParser
import Foundation
import Operations
import SnapshotStore
import SystemSupport

/// `bundle push`: a local bundle to the remote, beside the snapshots that point at it.
struct BundlePushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Copy a local bundle to the remote, age-encrypted (backup and snapshot push do it by themselves).",
        discussion: """
        The bundle is verified, then goes to <prefix>/<cluster-id>/<member>/bundles/<name>.zst.age with a JSON \
        manifest beside it, written last; cluster and member are those of a snapshot that points at it. It \
        holds private keys: without remote.age-recipients it is refused unless remote.bundle-unencrypted is \
        true. A bundle already in the bucket with the same content is not uploaded again.

        Examples:
          etcd-console bundle push bundle-20261202T183000Z.tar
          etcd-console bundle push snapshot-20261202T183000Z-m1.db     # that snapshot's bundle
        """)

    @Argument(help: ArgumentHelp("Bundle file name (or a snapshot whose bundle to push).", valueName: "name"))
    var name: String

    @OptionGroup var directory: DirectoryOption

    func run() throws {
        let resolved = try directory.config.resolve(flags: directory.dir.map { [.dir: absolutePath($0)] } ?? [:])
        let store = try requiredOffsiteStore(resolved)
        let dir = resolved.snapshotDirectory
        let bundles = BundleStore(directory: dir)
        let path: String
        do { path = try bundles.resolve(name) } catch {
            printError("error: \(error.message)")
            throw ExitCode(1)
        }
        let bundleName = (path as NSString).lastPathComponent
        // Place it beside a snapshot that points at it (the newest); a bundle no snapshot names goes under
        // this host's name.
        let owner = (try? SnapshotCatalog.standard(directory: dir).list().entries)?
            .filter { bundles.pointer(forSnapshot: $0.path)?.bundle == bundleName }
            .max { $0.takenAt < $1.takenAt }
        let result = try transfer("upload") {
            try store.pushBundle(bundleName, directory: dir, clusterId: owner?.clusterID ?? "unknown-cluster",
                                 member: owner?.memberName ?? owner?.memberID ?? ProcessInfo.processInfo.hostName, progress: $0)
        }
        print("s3://\(store.settings.bucket)/\(result.objectKey)\(result.alreadyThere ? " (already there)" : "")")
    }
}

/// `bundle pull`: a remote bundle into the snapshot directory, checked.
struct BundlePullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download a remote bundle into the directory, atomically, checked against its manifests.",
        discussion: """
        Streams the object through age and zstd into <name>.part (mode 0600), checks the object's and the \
        tar's SHA-256 against the remote manifest, fsyncs and renames, then checks every file against the \
        bundle's own manifest. A failure leaves nothing behind. `restore --rebuild` pulls by itself.

        Examples:
          etcd-console bundle pull bundle-20261202T183000Z.tar --identity /root/etcd-age.key
        """)

    @Argument(help: ArgumentHelp("Remote bundle name (bundle list --remote).", valueName: "name"))
    var name: String

    @OptionGroup var directory: DirectoryOption
    @OptionGroup var identity: IdentityOption

    func run() throws {
        let resolved = try directory.config.resolve(flags: directory.dir.map { [.dir: absolutePath($0)] } ?? [:])
        let store = try requiredOffsiteStore(resolved, identity: identity.identity)
        print(try transfer("pull") { try store.pullBundle(name, into: resolved.snapshotDirectory, progress: $0) })
    }
}

/// `bundle list --remote`.
enum RemoteBundleList {
    static func run(_ resolved: ResolvedConfiguration, output: OutputFormat) throws {
        let store = try requiredOffsiteStore(resolved)
        let listed: (bundles: [RemoteBundle], unreadable: [String])
        do { listed = try store.listBundles() } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let local = Set(BundleStore(directory: resolved.snapshotDirectory).names())
        for problem in listed.unreadable { printError("error: \(problem)") }
        switch output {
        case .json:
            try printJSON(RemoteBundleListJSON(location: store.settings.location, bundles: listed.bundles.map {
                .init(name: $0.name, objectKey: $0.objectKey, createdAt: $0.manifest.createdAt, files: $0.manifest.fileCount,
                      objectSize: $0.manifest.objectSize, codec: $0.manifest.codec.rawValue, local: local.contains($0.name),
                      problem: $0.problem)
            }, unreadable: listed.unreadable))
        case .table:
            if listed.bundles.isEmpty {
                print("no bundles in \(store.settings.location)")
            } else {
                let rows = listed.bundles.map { bundle -> [String] in
                    [bundle.name, rfc3339(bundle.manifest.createdAt), String(bundle.manifest.fileCount),
                     formatBytes(Int(bundle.manifest.objectSize)), bundle.manifest.codec.rawValue,
                     local.contains(bundle.name) ? "both" : "remote", bundle.problem ?? "good"]
                }
                print(renderTable(["NAME", "CREATED", "FILES", "SIZE", "CODEC", "WHERE", "HEALTH"], rows), terminator: "")
            }
        }
        if !listed.unreadable.isEmpty || listed.bundles.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
    }
}

struct RemoteBundleListJSON: Encodable {
    struct Row: Encodable {
        var name: String
        var objectKey: String
        var createdAt: Date
        var files: Int
        var objectSize: Int64
        var codec: String
        var local: Bool
        var problem: String?
    }
    var location: String
    var bundles: [Row]
    var unreadable: [String]
}
