import Foundation
import SystemSupport
import SnapshotStore

/// What a bundle holds: one entry per file, with what a rebuild needs to put it back (path, mode, owner) and
/// what proves the bytes are the ones read (size, SHA-256). It is the tar's first member, so a bundle is one
/// self-describing file; `contentDigest` names the contents (not the time), so an unchanged host is recognised.
public struct BundleManifest: Codable, Sendable, Equatable {
    /// The manifest's name inside the tar (always its first member).
    public static let memberName = "etcd-console-bundle.json"
    public static let currentFormat = 1

    public var format: Int
    public var createdAt: Date
    /// The host's name when the bundle was made.
    public var hostname: String
    /// The directory the host's files were read under ("/" on a real host; a fake root in tests, `--root`).
    public var root: String
    /// SHA-256 over every entry's path, kind, mode, owner and content digest (`BundleManifest.digest`).
    public var contentDigest: String
    public var files: [BundleFile]
    /// The directories that hold the files (up to, not including, /), with their modes and owners, so a rebuild
    /// creates /etc/etcd/ssl as it was (0700 etcd:etcd), not 0755 root. Not tar members: only the manifest has them.
    public var directories: [BundleDirectory]

    public init(createdAt: Date, hostname: String, root: String, files: [BundleFile], directories: [BundleDirectory] = []) {
        self.format = Self.currentFormat
        self.createdAt = createdAt
        self.hostname = hostname
        self.root = root
        self.files = files.sorted { $0.path < $1.path }
        self.directories = directories.sorted { $0.path < $1.path }
        self.contentDigest = Self.digest(of: self.files, directories: self.directories)
    }

    /// The digest of a set of entries: equal digests mean the same files with the same bytes, modes and owners,
    /// in directories with the same modes and owners.
    public static func digest(of files: [BundleFile], directories: [BundleDirectory] = []) -> String {
        let hasher = SHA256Hasher()
        for directory in directories.sorted(by: { $0.path < $1.path }) {
            let line = ["directory", directory.path, directory.mode, String(directory.uid), String(directory.gid)].joined(separator: "\t") + "\n"
            hasher.update(Data(line.utf8))
        }
        for file in files.sorted(by: { $0.path < $1.path }) {
            let line = [file.path, file.kind.rawValue, file.mode, String(file.uid), String(file.gid), file.sha256,
                        file.linkTarget ?? ""].joined(separator: "\t") + "\n"
            hasher.update(Data(line.utf8))
        }
        return hasher.finalize().hexString
    }

    /// The member name inside the tar for a host path: the path without its leading "/" (as GNU tar stores it).
    public static func memberName(for path: String) -> String {
        String(path.drop { $0 == "/" })
    }

    public func file(_ path: String) -> BundleFile? { files.first { $0.path == path } }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .utcInternetDateTime
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .utcInternetDateTime
        return decoder
    }
}

/// A directory that holds files of a bundle: its mode and owner.
public struct BundleDirectory: Codable, Sendable, Equatable {
    public var path: String
    public var mode: String
    public var uid: UInt32
    public var gid: UInt32
    public var user: String?
    public var group: String?

    public init(path: String, mode: String, uid: UInt32, gid: UInt32, user: String?, group: String?) {
        self.path = path
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.user = user
        self.group = group
    }

    public var permissions: UInt32 { UInt32(mode, radix: 8) ?? 0o755 }
}

/// One file of a bundle. Its content is never in the manifest: only its digest and, for certificates, what
/// OpenSSL reads from them (subject, SANs, validity). `secret` marks files that hold key material (private
/// keys, kubeconfigs with embedded keys, the API server's encryption config): their bytes are never printed.
public struct BundleFile: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case file
        /// A symbolic link, kept as a link (its target is not followed or read).
        case symlink
    }

    /// The host path, absolute: "/etc/kubernetes/pki/ca.crt".
    public var path: String
    public var kind: Kind
    /// Permission bits as an octal string, "0600".
    public var mode: String
    public var uid: UInt32
    public var gid: UInt32
    /// The owner's and group's names on the host that made the bundle, when known.
    public var user: String?
    public var group: String?
    public var size: Int
    /// SHA-256 of the content (of the link target's text for a link).
    public var sha256: String
    public var linkTarget: String?
    /// Why it is in the bundle: "kubernetes pki", "etcd unit", "etcd --cert-file", ...
    public var reason: String
    public var secret: Bool
    /// The certificates in the file (a PEM bundle, or a kubeconfig's client-certificate-data), first first.
    public var certificates: [CertificateInfo]

    public init(path: String, kind: Kind, mode: String, uid: UInt32, gid: UInt32, user: String?, group: String?,
                size: Int, sha256: String, linkTarget: String? = nil, reason: String, secret: Bool,
                certificates: [CertificateInfo]) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.user = user
        self.group = group
        self.size = size
        self.sha256 = sha256
        self.linkTarget = linkTarget
        self.reason = reason
        self.secret = secret
        self.certificates = certificates
    }

    /// The permission bits as a number.
    public var permissions: UInt32 { UInt32(mode, radix: 8) ?? 0o600 }

    /// "root:root" or "999:999" when the names are not known.
    public var owner: String { "\(user ?? String(uid)):\(group ?? String(gid))" }

    public static func octal(_ mode: UInt32) -> String {
        let text = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - text.count)) + text
    }
}
