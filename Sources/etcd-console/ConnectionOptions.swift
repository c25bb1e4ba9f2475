import ArgumentParser
import EtcdClient
import Foundation
import Operations
#if canImport(Glibc)
import Glibc
#endif

/// How to reach etcd: the flags etcdctl users know, each also read from its `ETCDCTL_*` variable, then from the
/// config file (`--config`, `ETCD_CONSOLE_CONFIG`, else /etc/etcd-console/config.yaml), then from discovery.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Comma-separated etcd client URLs (env ETCDCTL_ENDPOINTS).", valueName: "urls"))
    var endpoints: String?

    @Option(name: .long, help: ArgumentHelp("CA file that signs etcd's server certificate (env ETCDCTL_CACERT).", valueName: "file"))
    var cacert: String?

    @Option(name: .long, help: ArgumentHelp("Client certificate for mutual TLS (env ETCDCTL_CERT).", valueName: "file"))
    var cert: String?

    @Option(name: .long, help: ArgumentHelp("Client key for mutual TLS (env ETCDCTL_KEY).", valueName: "file"))
    var key: String?

    @Option(name: .long, help: ArgumentHelp("User name; the password comes from ETCDCTL_PASSWORD, the config file's password-file or a prompt (env ETCDCTL_USER).", valueName: "name"))
    var user: String?

    @Flag(name: .long, help: "Do not verify etcd's server certificate (dangerous; for emergencies only).")
    var insecureSkipTlsVerify = false

    @Option(name: .long, help: ArgumentHelp("Time allowed to connect to one endpoint, e.g. 3s (default 3s).", valueName: "duration"))
    var dialTimeout: String?

    @Option(name: .long, help: ArgumentHelp("Time allowed for each request, e.g. 5s (default 5s).", valueName: "duration"))
    var commandTimeout: String?

    @OptionGroup var config: ConfigOption

    func validate() throws {
        if let dialTimeout { _ = try parseDuration(dialTimeout, flag: "--dial-timeout") }
        if let commandTimeout { _ = try parseDuration(commandTimeout, flag: "--command-timeout") }
        // A certificate without its key (or the reverse) is checked after precedence: the other half may come
        // from the environment or the config file.
    }

    /// The connection flags given on the command line, for the resolver.
    var flags: [ConfigurationKey: String] {
        var flags: [ConfigurationKey: String] = [:]
        flags[.endpoints] = endpoints
        flags[.cacert] = cacert.map(absolutePath)
        flags[.cert] = cert.map(absolutePath)
        flags[.key] = key.map(absolutePath)
        flags[.user] = user
        flags[.dialTimeout] = dialTimeout
        flags[.commandTimeout] = commandTimeout
        if insecureSkipTlsVerify { flags[.insecureSkipTLSVerify] = "true" }
        return flags
    }

    /// Every setting after precedence: these flags plus `extra` (a command's own flags), the environment, the
    /// config file, discovery, defaults.
    func resolve(extra: [ConfigurationKey: String] = [:],
                 environment env: [String: String] = ProcessInfo.processInfo.environment,
                 discoveryRoot: String = "/") throws -> ResolvedConfiguration {
        try config.resolve(flags: flags.merging(extra) { _, command in command }, environment: env,
                           discoveryRoot: discoveryRoot)
    }

    /// The client configuration from the resolved settings.
    func configuration(environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> EtcdClientConfiguration {
        try clientConfiguration(try resolve(environment: env), environment: env)
    }

    /// `name` with the password from ETCDCTL_PASSWORD, the password file or a prompt; `name:password` is accepted
    /// as etcdctl does, with a warning, since other users can read it from the process list.
    static func credentials(_ text: String, passwordFile: String?, environment env: [String: String]) throws -> Credentials {
        if let colon = text.firstIndex(of: ":") {
            printError("warning: a password on the command line is visible to other users (ps); prefer ETCDCTL_PASSWORD")
            return Credentials(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
        if let password = env["ETCDCTL_PASSWORD"] { return Credentials(user: text, password: password) }
        if let passwordFile {
            guard let data = FileManager.default.contents(atPath: passwordFile) else {
                throw ValidationError("could not read the password file \(passwordFile) for etcd user \(text): run as a user who may read it, or set ETCDCTL_PASSWORD")
            }
            let password = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
            return Credentials(user: text, password: password)
        }
        guard let password = promptPassword("Password for etcd user \(text): ") else {
            throw ValidationError("no password for user \(text): set ETCDCTL_PASSWORD, password-file in the config file, or run on a terminal to be asked")
        }
        return Credentials(user: text, password: password)
    }
}

/// The etcd client configuration for resolved settings.
func clientConfiguration(_ resolved: ResolvedConfiguration,
                         environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> EtcdClientConfiguration {
    let tls = TLSConfiguration(caFile: resolved[.cacert], certificateFile: resolved[.cert], keyFile: resolved[.key],
                               insecureSkipVerify: resolved.insecureSkipTLSVerify)
    let usesTLS = tls.caFile != nil || tls.certificateFile != nil || tls.insecureSkipVerify
    let parsed = try Endpoint.parseList(resolved.endpoints.joined(separator: ","), defaultSecure: usesTLS)
    var credentials: Credentials?
    if let userText = resolved[.user] {
        credentials = try ConnectionOptions.credentials(userText, passwordFile: resolved[.passwordFile], environment: env)
    }
    return EtcdClientConfiguration(endpoints: parsed, tls: tls, credentials: credentials,
                                   connectTimeout: resolved.dialTimeout, callTimeout: resolved.commandTimeout,
                                   snapshotStallTimeout: resolved.stallTimeout)
}

/// A path made absolute against the working directory (the config resolver only takes absolute paths).
func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    return (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
}

/// Reads a password from the terminal with echo off; nil when there is no terminal.
func promptPassword(_ prompt: String) -> String? {
    let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var original = termios()
    guard tcgetattr(fd, &original) == 0 else { return nil }
    var silent = original
    silent.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(fd, TCSAFLUSH, &silent)
    defer { tcsetattr(fd, TCSAFLUSH, &original) }
    _ = prompt.withCString { write(fd, $0, strlen($0)) }
    var bytes: [UInt8] = []
    var c: UInt8 = 0
    while read(fd, &c, 1) == 1 && c != UInt8(ascii: "\n") && c != UInt8(ascii: "\r") { bytes.append(c) }
    _ = write(fd, "\n", 1)
    return String(decoding: bytes, as: UTF8.self)
}

/// "500ms", "3s", "2m", "1h" or a bare number of seconds.
func parseDuration(_ text: String, flag: String) throws -> Duration {
    if let duration = ConfigurationKey.parseDuration(text) { return duration }
    throw ValidationError("\(flag): \"\(text)\" is not a duration (examples: 500ms, 3s, 2m)")
}
