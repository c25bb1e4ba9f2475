import Foundation
import Glibc
import Recovery
import SnapshotStore
import SystemSupport

/// Which host files a bundle keeps, and reading them. Every path is a host path looked up under `root` ("/" on a
/// real host, a fake root in tests and with `--root`). A file that is not there is left out silently (each
/// source is optional); one that exists but cannot be read is a warning naming it, never a failed backup.
/// Nothing is followed: a symbolic link is kept as a link, a directory's links to directories are not walked.
public struct BundleSources: Sendable {
    public var root: String
    /// `/etc/kubernetes` unless `bundle.kubernetes-dir` says otherwise: pki/**, *.conf, manifests/*.
    public var kubernetesDir: String
    /// `bundle.encryption-config`; else the file kube-apiserver's manifest names with --encryption-provider-config.
    public var encryptionConfig: String?
    /// `bundle.kubeadm-config`; else the first of <kubernetes-dir>/kubeadm-config.yaml, kubeadm.yaml that exists.
    public var kubeadmConfig: String?
    /// `bundle.extra`: more files or directories.
    public var extra: [String]
    /// How etcd runs here (discovery): its unit, drop-ins, environment files, config file and certificates.
    public var deployment: EtcdDeployment?
    /// Files etcd-console itself uses, by their real paths: its config file and the connection's CA/cert/key.
    public var ownFiles: [(path: String, reason: String)]

    /// Files larger than this are left out with a warning (a control-plane file is kilobytes).
    public static let maximumFileSize = 16 << 20

    public init(root: String = "/", kubernetesDir: String = "/etc/kubernetes", encryptionConfig: String? = nil,
                kubeadmConfig: String? = nil, extra: [String] = [], deployment: EtcdDeployment? = nil,
                ownFiles: [(path: String, reason: String)] = []) {
        self.root = root
        self.kubernetesDir = kubernetesDir
        self.encryptionConfig = encryptionConfig
        self.kubeadmConfig = kubeadmConfig
        self.extra = extra
        self.deployment = deployment
        self.ownFiles = ownFiles
    }

    /// The sources from resolved settings: the `bundle:` keys, discovery's deployment (its root is the bundle's),
    /// the config file in effect and the connection's TLS files.
    public init(resolved: ResolvedConfiguration, root: String, configFile: String?) {
        var own: [(String, String)] = []
        if let configFile { own.append((configFile, "etcd-console config")) }
        for (key, why) in [(ConfigurationKey.cacert, "etcd-console --cacert"), (.cert, "etcd-console --cert"), (.key, "etcd-console --key")] {
            if let path = resolved[key] { own.append((path, why)) }
        }
        self.init(root: root, kubernetesDir: resolved[.bundleKubernetesDir] ?? "/etc/kubernetes",
                  encryptionConfig: resolved[.bundleEncryptionConfig], kubeadmConfig: resolved[.bundleKubeadmConfig],
                  extra: (resolved[.bundleExtra] ?? "").split(separator: ",").map(String.init),
                  deployment: resolved.deployment, ownFiles: own)
    }

    /// A file read for the bundle: its manifest entry and its bytes (the link target's for a link).
    public struct Collected: Sendable {
        public var file: BundleFile
        public var content: Data
    }

    /// What `collect` found: the files, and a warning per file that is there but could not be read.
    public struct Collection: Sendable {
        public var files: [Collected]
        public var warnings: [String]
        /// Every directory above a collected file (not /), as it is on the host.
        public var directories: [BundleDirectory] = []
    }

    /// How a single path looks on disk; `read` is injected so tests can make a file unreadable as root.
    public enum ReadOutcome: Sendable {
        case missing
        case regular(Data, stat)
        case symlink(String, stat)
        case directory
        case unreadable(String)
    }

    public typealias Reader = @Sendable (String) -> ReadOutcome

    /// Reads every source once. Paths are deduplicated (the first reason wins: the etcd unit's certificate that is
    /// also under pki/ is "kubernetes pki").
    public func collect(reader: Reader = BundleSources.readFile) -> Collection {
        var seen = Set<String>()
        var files: [Collected] = []
        var warnings: [String] = []
        func add(_ hostPath: String, real: String, reason: String, recurse: Bool, named: Bool) {
            let path = Self.normalize(hostPath)
            guard !seen.contains(path) else { return }
            switch reader(real) {
            case .missing:
                if named { warnings.append("\(described(path, real)) (\(reason)) does not exist; the bundle goes without it") }
            case .unreadable(let why):
                seen.insert(path)
                warnings.append("could not read \(described(path, real)) (\(reason)): \(why); the bundle goes without it")
            case .directory:
                guard recurse else {
                    if named { warnings.append("\(described(path, real)) (\(reason)) is a directory, not a file; the bundle goes without it") }
                    return
                }
                seen.insert(path)
                let names: [String]
                do { names = try FileManager.default.contentsOfDirectory(atPath: real).sorted() } catch {
                    warnings.append("could not list \(described(path, real)) (\(reason)): \(Self.reason(error)); the bundle goes without it")
                    return
                }
                for name in names { add(path + "/" + name, real: real + "/" + name, reason: reason, recurse: true, named: false) }
            case .regular(let data, let info):
                seen.insert(path)
                files.append(Collected(file: Self.entry(path: path, kind: .file, info: info, content: data, reason: reason), content: data))
            case .symlink(let target, let info):
                seen.insert(path)
                let data = Data(target.utf8)
                var entry = Self.entry(path: path, kind: .symlink, info: info, content: data, reason: reason)
                entry.linkTarget = target
                files.append(Collected(file: entry, content: data))
            }
        }
        func host(_ path: String, _ reason: String, recurse: Bool = false, named: Bool = false) {
            add(path, real: underRoot(path), reason: reason, recurse: recurse, named: named)
        }

        let kube = Self.normalize(kubernetesDir)
        host(kube + "/pki", "kubernetes pki", recurse: true)
        for name in listing(kube) where name.hasSuffix(".conf") { host(kube + "/" + name, "kubeconfig") }
        for name in listing(kube + "/manifests") { host(kube + "/manifests/" + name, "static pod manifest") }
        if let encryptionConfig {
            host(encryptionConfig, "API server encryption config (bundle.encryption-config)", named: true)
        } else if let named = apiServerEncryptionConfig(manifestsDir: kube + "/manifests") {
            host(named, "API server encryption config (--encryption-provider-config)", named: true)
        }
        if let kubeadmConfig {
            host(kubeadmConfig, "kubeadm config (bundle.kubeadm-config)", named: true)
        } else {
            for candidate in [kube + "/kubeadm-config.yaml", kube + "/kubeadm.yaml"] { host(candidate, "kubeadm config") }
        }
        if let deployment {
            if let unit = deployment.unitFile { host(unit, "etcd unit", named: true) }
            for dropIn in deployment.unitDropIns { host(dropIn, "etcd unit drop-in", named: true) }
            for file in deployment.environmentFiles { host(file, "etcd environment file", named: true) }
            if let manifest = deployment.manifestPath { host(manifest, "etcd static pod manifest", named: true) }
            if let config = deployment.configFile { host(config, "etcd config file", named: true) }
            let tlsNames: [EtcdSetting.Name] = [.trustedCAFile, .certFile, .keyFile, .peerTrustedCAFile, .peerCertFile, .peerKeyFile]
            for name in tlsNames {
                guard let setting = deployment.settings[name], setting.source != "default", !setting.value.isEmpty else { continue }
                host(setting.value, "etcd \(name.flag)", named: true)
            }
        }
        for path in extra { host(path, "bundle.extra", recurse: true, named: true) }
        // The host's own etcd-console config, also when this run read another one (or none: a rescue system).
        host("/etc/etcd-console/config.yaml", "etcd-console config")
        for own in ownFiles {
            // etcd-console's own files are real paths; one under the root is stored as its host path. With a
            // root other than /, a file outside it belongs to the system doing the reading, not to the host.
            let real = Self.normalize(own.path)
            guard let hostPath = hostPath(ofReal: real) else { continue }
            add(hostPath, real: real, reason: own.reason, recurse: false, named: true)
        }
        var directories: [String: BundleDirectory] = [:]
        for collected in files {
            var parent = (collected.file.path as NSString).deletingLastPathComponent
            while parent != "/" && !parent.isEmpty && directories[parent] == nil {
                var info = stat()
                if lstat(underRoot(parent), &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                    directories[parent] = BundleDirectory(path: parent, mode: BundleFile.octal(UInt32(info.st_mode)), uid: info.st_uid,
                                                          gid: info.st_gid, user: Self.userName(info.st_uid), group: Self.groupName(info.st_gid))
                }
                parent = (parent as NSString).deletingLastPathComponent
            }
        }
        return Collection(files: files.sorted { $0.file.path < $1.file.path }, warnings: warnings,
                          directories: directories.values.sorted { $0.path < $1.path })
    }

    /// The file kube-apiserver's static pod manifest names with --encryption-provider-config, if any.
    func apiServerEncryptionConfig(manifestsDir: String) -> String? {
        let path = manifestsDir + "/kube-apiserver.yaml"
        guard case .regular(let data, _) = Self.readFile(underRoot(path)) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let document = try? EtcdDiscovery.parseYAML(text, file: path),
              let containers = document["spec"]?["containers"]?.sequence else { return nil }
        for container in containers {
            let command: [String] = (container["command"]?.sequence ?? []).compactMap { $0.string }
            let args: [String] = (container["args"]?.sequence ?? []).compactMap { $0.string }
            let words = command + args
            for (i, word) in words.enumerated() {
                if word.hasPrefix("--encryption-provider-config=") {
                    return String(word.dropFirst("--encryption-provider-config=".count))
                }
                if word == "--encryption-provider-config", i + 1 < words.count { return words[i + 1] }
            }
        }
        return nil
    }

    func underRoot(_ path: String) -> String {
        let trimmed = root.hasSuffix("/") ? String(root.dropLast()) : root
        return trimmed + (path.hasPrefix("/") ? path : "/" + path)
    }

    private func hostPath(ofReal real: String) -> String? {
        let trimmed = root.hasSuffix("/") ? String(root.dropLast()) : root
        if trimmed.isEmpty { return real }
        return real.hasPrefix(trimmed + "/") ? String(real.dropFirst(trimmed.count)) : nil
    }

    private func described(_ path: String, _ real: String) -> String {
        root == "/" || root.isEmpty || real != underRoot(path) ? path : "\(path) (under \(root))"
    }

    private func listing(_ hostDirectory: String) -> [String] {
        var info = stat()
        let real = underRoot(hostDirectory)
        guard lstat(real, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: real)) ?? []).sorted()
    }

    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." && !part.isEmpty {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    static func entry(path: String, kind: BundleFile.Kind, info: stat, content: Data, reason: String) -> BundleFile {
        let hasher = SHA256Hasher()
        hasher.update(content)
        let text = String(decoding: content, as: UTF8.self)
        let privateKey = text.contains("PRIVATE KEY-----") || text.contains("client-key-data:")
        let encryption = text.contains("EncryptionConfiguration") || reason.hasPrefix("API server encryption config")
        let isKey = reason.contains("-key-file") || reason == "etcd-console --key"
        var certificates: [CertificateInfo] = []
        if kind == .file {
            certificates = CertificateInfo.parsePEM(content)
            if certificates.isEmpty && text.contains("certificate-data:") { certificates = CertificateInfo.parseKubeconfig(content) }
        }
        return BundleFile(path: path, kind: kind, mode: BundleFile.octal(UInt32(info.st_mode)), uid: info.st_uid, gid: info.st_gid,
                          user: userName(info.st_uid), group: groupName(info.st_gid), size: content.count,
                          sha256: hasher.finalize().hexString, reason: reason,
                          secret: privateKey || encryption || isKey || path.hasSuffix(".key") || text.contains("token:"),
                          certificates: certificates)
    }

    /// The real reader: lstat, then a link's target or a regular file opened with O_NOFOLLOW (a link swapped in
    /// between is refused by open, not followed). FIFOs, devices and sockets are reported, never opened.
    @Sendable public static func readFile(_ real: String) -> ReadOutcome {
        readFile(real, limit: maximumFileSize)
    }

    /// `readFile` with another size limit (a bundle itself may be larger than any one file in it).
    public static func readFile(_ real: String, limit: Int) -> ReadOutcome {
        var info = stat()
        if lstat(real, &info) != 0 {
            return errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable(errnoText(errno))
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(real, &buffer, buffer.count - 1)
            if n < 0 { return .unreadable(errnoText(errno)) }
            return .symlink(String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self), info)
        case S_IFREG: break
        default: return .unreadable("it is not a regular file (a FIFO, socket or device)")
        }
        guard Int(info.st_size) <= limit else {
            return .unreadable("it is \(info.st_size) bytes, more than the \(limit >> 20) MiB a control-plane file may have")
        }
        let fd = open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { return .unreadable(errnoText(errno)) }
        defer { close(fd) }
        var opened = stat()
        guard fstat(fd, &opened) == 0, opened.st_mode & S_IFMT == S_IFREG else {
            return .unreadable("it changed into something other than a regular file while being read")
        }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                return .unreadable(errnoText(errno))
            }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
            if data.count > limit { return .unreadable("it grew past \(limit >> 20) MiB while being read") }
        }
        return .regular(data, opened)
    }

    static func errnoText(_ code: Int32) -> String {
        code == EACCES || code == EPERM ? "permission denied" : String(cString: strerror(code))
    }

    private static func reason(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return errnoText(Int32(underlying.code))
        }
        return "\(error.localizedDescription)"
    }

    static func userName(_ uid: uid_t) -> String? {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    static func groupName(_ gid: gid_t) -> String? {
        guard let entry = getgrgid(gid), let name = entry.pointee.gr_name else { return nil }
        return String(cString: name)
    }
}
