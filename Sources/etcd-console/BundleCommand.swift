import ArgumentParser
import Foundation
import Operations
import SnapshotStore
import SystemSupport

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "List, show and compare the control-plane bundles kept beside the snapshots.",
        discussion: """
        Every backup keeps the files a rebuilt master needs (Kubernetes pki, kubeconfigs, static pod manifests, \
        the API server's encryption config, etcd's unit, config and certificates, kubeadm's and etcd-console's \
        config) in a bundle-<UTC time>.tar beside the snapshot, mode 0600; <snapshot>.bundle.json names the \
        bundle of each snapshot. A bundle is stored again only when a file changed. Contents are never \
        printed: only paths, sizes, modes, owners and, for certificates, subject, SANs and expiry. \
        Exit codes: 0 good, 1 a bundle is missing or damaged, 2 usage.

        Examples:
          etcd-console bundle list
          etcd-console bundle show bundle-20261202T183000Z.tar
          etcd-console bundle show snapshot-20261202T183000Z-m1.db -o json
          etcd-console bundle diff OLD.tar NEW.tar
        """,
        subcommands: [BundleListCommand.self, BundleShowCommand.self, BundleDiffCommand.self, BundlePushCommand.self,
                      BundlePullCommand.self])
}

struct BundleListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the bundles in the snapshot directory, oldest first, with their files and snapshots.",
        discussion: """
        Reads each bundle's manifest (its first member); `bundle show` verifies every file's SHA-256. A bundle \
        whose manifest cannot be read is reported on stderr and the exit status is 1.

        Examples:
          etcd-console bundle list
          etcd-console bundle list --dir /backup/etcd -o json
          etcd-console bundle list --remote            # the bundles in the bucket
        """)

    @OptionGroup var directory: DirectoryOption
    @OptionGroup var output: OutputOptions

    @Flag(help: "List the bundles in the remote bucket instead (where each is, its health).")
    var remote = false

    func run() throws {
        if remote {
            let resolved = try directory.config.resolve(flags: directory.dir.map { [.dir: absolutePath($0)] } ?? [:])
            return try RemoteBundleList.run(resolved, output: output.output)
        }
        let dir = try directory.resolved()
        let (bundles, problems) = BundleStore(directory: dir).list()
        let now = Date()
        for problem in problems { printError("error: \(problem)") }
        switch output.output {
        case .json:
            try printJSON(BundleListJSON(directory: dir, bundles: bundles.map { BundleSummaryJSON($0, now: now) }, problems: problems))
        case .table:
            if bundles.isEmpty {
                print("no bundles in \(dir)")
            } else {
                let rows = bundles.map { bundle -> [String] in
                    let expiring = CertificateExpiry.soon(in: bundle.manifest.files, now: now).count
                    return [bundle.name, rfc3339(bundle.manifest.createdAt), String(bundle.manifest.files.count),
                            formatBytes(bundle.size), expiring == 0 ? "-" : String(expiring),
                            bundle.snapshots.isEmpty ? "-" : String(bundle.snapshots.count)]
                }
                print(renderTable(["NAME", "CREATED", "FILES", "SIZE", "EXPIRING CERTS", "SNAPSHOTS"], rows), terminator: "")
            }
        }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}

struct BundleShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a bundle's files: path, size, mode, owner, and each certificate's subject, SANs and expiry.",
        discussion: """
        NAME is a bundle's file name or path, or a snapshot's name or path (its bundle). The bundle is verified \
        first: a file whose bytes do not match the manifest's SHA-256 is named and the exit status is 1. Key \
        material is never printed.

        Examples:
          etcd-console bundle show bundle-20261202T183000Z.tar
          etcd-console bundle show snapshot-20261202T183000Z-m1.db -o json
        """)

    @Argument(help: ArgumentHelp("The bundle (or a snapshot whose bundle to show).", valueName: "name"))
    var name: String

    @OptionGroup var directory: DirectoryOption
    @OptionGroup var output: OutputOptions

    func run() throws {
        let store = BundleStore(directory: try directory.resolved())
        let bundle = try openBundle(store, name)
        let now = Date()
        switch output.output {
        case .json:
            try printJSON(BundleShowJSON(name: bundle.name, path: bundle.path, manifest: bundle.manifest, now: now))
        case .table:
            let manifest = bundle.manifest
            print("\(bundle.name): \(manifest.files.count) files, created \(rfc3339(manifest.createdAt)) on \(manifest.hostname)"
                  + (manifest.root == "/" ? "" : " (read under \(manifest.root))") + "; verified")
            print("")
            let rows = manifest.files.map { file -> [String] in
                [file.path, file.mode, file.owner, file.kind == .symlink ? "-> \(file.linkTarget ?? "")" : formatBytes(file.size),
                 file.reason + (file.secret ? " (key material, not shown)" : "")]
            }
            print(renderTable(["PATH", "MODE", "OWNER", "SIZE", "WHY"], rows), terminator: "")
            let certificates = manifest.files.flatMap { file in file.certificates.map { (file.path, $0) } }
            if !certificates.isEmpty {
                print("\nCertificates:")
                for (path, certificate) in certificates {
                    print("  \(path)")
                    print("    subject \(certificate.subject)\(certificate.isCA ? " (CA)" : ""), issuer \(certificate.issuer)")
                    if !certificate.sans.isEmpty { print("    SANs \(certificate.sans.joined(separator: ", "))") }
                    print("    not after \(rfc3339(certificate.notAfter)) (\(Self.remaining(certificate.notAfter, now: now)))")
                }
            }
        }
        for expiring in CertificateExpiry.soon(in: bundle.manifest.files, now: now) {
            printError("warning: \(expiring.warning(now: now))")
        }
    }

    static func remaining(_ date: Date, now: Date) -> String {
        let seconds = date.timeIntervalSince(now)
        if seconds <= 0 { return "expired \(formatAge(-seconds)) ago" }
        return "in \(Int(seconds / 86_400)) days"
    }
}

struct BundleDiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two bundles: files added, removed, and changed (content, mode, owner).",
        discussion: """
        A and B are bundle names or paths, or snapshots (their bundles). Both are verified first.

        Examples:
          etcd-console bundle diff OLD.tar NEW.tar
          etcd-console bundle diff OLD.db NEW.db -o json
        """)

    @Argument(help: ArgumentHelp("The older bundle (or snapshot).", valueName: "a"))
    var a: String
    @Argument(help: ArgumentHelp("The newer bundle (or snapshot).", valueName: "b"))
    var b: String

    @OptionGroup var directory: DirectoryOption
    @OptionGroup var output: OutputOptions

    func run() throws {
        let store = BundleStore(directory: try directory.resolved())
        let first = try openBundle(store, a)
        let second = try openBundle(store, b)
        let diff = BundleDiff(from: first.manifest, to: second.manifest)
        switch output.output {
        case .json:
            try printJSON(BundleDiffJSON(a: first.name, b: second.name, added: diff.added.map(\.path),
                                         removed: diff.removed.map(\.path),
                                         changed: diff.changed.map { .init(path: $0.path, changes: $0.what) }))
        case .table:
            if diff.isEmpty {
                print("\(first.name) and \(second.name) hold the same files")
                return
            }
            var rows: [[String]] = []
            rows += diff.added.map { ["added", $0.path, ""] }
            rows += diff.removed.map { ["removed", $0.path, ""] }
            rows += diff.changed.map { ["changed", $0.path, $0.what.joined(separator: ", ")] }
            print(renderTable(["CHANGE", "PATH", "WHAT"], rows), terminator: "")
            print("\(diff.added.count) added, \(diff.removed.count) removed, \(diff.changed.count) changed")
        }
    }
}

/// Opens and verifies a bundle; a missing or damaged one is an error naming it (exit 1).
private func openBundle(_ store: BundleStore, _ name: String) throws -> BundleStore.Opened {
    do { return try store.open(name.contains("/") ? absolutePath(name) : name) } catch {
        printError("error: \(error.message)")
        throw ExitCode(1)
    }
}

struct BundleListJSON: Encodable {
    var directory: String
    var bundles: [BundleSummaryJSON]
    var problems: [String]
}

struct BundleSummaryJSON: Encodable {
    var name: String
    var path: String
    var size: Int
    var createdAt: Date
    var hostname: String
    var files: Int
    var contentDigest: String
    var snapshots: [String]
    var expiringCertificates: [ExpiringJSON]

    init(_ summary: BundleStore.Summary, now: Date) {
        name = summary.name
        path = summary.path
        size = summary.size
        createdAt = summary.manifest.createdAt
        hostname = summary.manifest.hostname
        files = summary.manifest.files.count
        contentDigest = summary.manifest.contentDigest
        snapshots = summary.snapshots
        expiringCertificates = CertificateExpiry.soon(in: summary.manifest.files, now: now).map { ExpiringJSON($0) }
    }
}

struct ExpiringJSON: Encodable {
    var path: String
    var subject: String
    var notAfter: Date
    /// `status`: the bundle it was read from, when not from the files on disk.
    var bundle: String?
    init(_ expiry: CertificateExpiry, bundle: String? = nil) {
        path = expiry.path
        subject = expiry.subject
        notAfter = expiry.notAfter
        self.bundle = bundle
    }
}

struct BundleShowJSON: Encodable {
    var name: String
    var path: String
    var createdAt: Date
    var hostname: String
    var root: String
    var contentDigest: String
    var verified = true
    var files: [BundleFile]
    var directories: [BundleDirectory]
    var expiringCertificates: [ExpiringJSON]

    init(name: String, path: String, manifest: BundleManifest, now: Date) {
        self.name = name
        self.path = path
        createdAt = manifest.createdAt
        hostname = manifest.hostname
        root = manifest.root
        contentDigest = manifest.contentDigest
        files = manifest.files
        directories = manifest.directories
        expiringCertificates = CertificateExpiry.soon(in: manifest.files, now: now).map { ExpiringJSON($0) }
    }
}

struct BundleDiffJSON: Encodable {
    struct Change: Encodable {
        var path: String
        var changes: [String]
    }
    var a: String
    var b: String
    var added: [String]
    var removed: [String]
    var changed: [Change]
}
