import ArgumentParser
import EtcdClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How to reach etcd: the flags etcdctl users know, each also read from its `ETCDCTL_*` variable.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Comma-separated etcd client URLs (env ETCDCTL_ENDPOINTS).", valueName: "urls"))
    var endpoints: String?

    @Option(name: .long, help: ArgumentHelp("CA file that signs etcd's server certificate (env ETCDCTL_CACERT).", valueName: "file"))
    var cacert: String?

    @Option(name: .long, help: ArgumentHelp("Client certificate for mutual TLS (env ETCDCTL_CERT).", valueName: "file"))
    var cert: String?

    @Option(name: .long, help: ArgumentHelp("Client key for mutual TLS (env ETCDCTL_KEY).", valueName: "file"))
    var key: String?

    @Option(name: .long, help: ArgumentHelp("User name; the password comes from ETCDCTL_PASSWORD or a prompt (env ETCDCTL_USER).", valueName: "name"))
    var user: String?

    @Flag(name: .long, help: "Do not verify etcd's server certificate (dangerous; for emergencies only).")
    var insecureSkipTlsVerify = false

    @Option(name: .long, help: ArgumentHelp("Time allowed to connect to one endpoint, e.g. 3s.", valueName: "duration"))
    var dialTimeout: String = "3s"

    @Option(name: .long, help: ArgumentHelp("Time allowed for each request, e.g. 5s.", valueName: "duration"))
    var commandTimeout: String = "5s"

    func validate() throws {
        _ = try parseDuration(dialTimeout, flag: "--dial-timeout")
        _ = try parseDuration(commandTimeout, flag: "--command-timeout")
        let env = ProcessInfo.processInfo.environment
        if (cert ?? env["ETCDCTL_CERT"]) != nil && (key ?? env["ETCDCTL_KEY"]) == nil {
            throw ValidationError("--cert needs --key")
        }
        if (key ?? env["ETCDCTL_KEY"]) != nil && (cert ?? env["ETCDCTL_CERT"]) == nil {
            throw ValidationError("--key needs --cert")
        }
    }

    /// The client configuration from flags, then `ETCDCTL_*` variables, then defaults.
    func configuration(environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> EtcdClientConfiguration {
        let tls = TLSConfiguration(caFile: cacert ?? env["ETCDCTL_CACERT"], certificateFile: cert ?? env["ETCDCTL_CERT"],
                                   keyFile: key ?? env["ETCDCTL_KEY"],
                                   insecureSkipVerify: insecureSkipTlsVerify || env["ETCDCTL_INSECURE_SKIP_TLS_VERIFY"] == "true")
        let usesTLS = tls.caFile != nil || tls.certificateFile != nil || tls.insecureSkipVerify
        let list = endpoints ?? env["ETCDCTL_ENDPOINTS"] ?? (usesTLS ? "https://127.0.0.1:2379" : "http://127.0.0.1:2379")
        let parsed = try Endpoint.parseList(list, defaultSecure: usesTLS)
        var credentials: Credentials?
        if let userText = user ?? env["ETCDCTL_USER"] {
            credentials = try Self.credentials(userText, environment: env)
        }
        return EtcdClientConfiguration(endpoints: parsed, tls: tls, credentials: credentials,
                                       connectTimeout: try parseDuration(dialTimeout, flag: "--dial-timeout"),
                                       callTimeout: try parseDuration(commandTimeout, flag: "--command-timeout"))
    }

    /// `name` with the password from ETCDCTL_PASSWORD or a prompt; `name:password` is accepted as
    /// etcdctl does, with a warning, since other users can read it from the process list.
    static func credentials(_ text: String, environment env: [String: String]) throws -> Credentials {
        if let colon = text.firstIndex(of: ":") {
            FileHandle.standardError.write(Data("warning: a password on the command line is visible to other users (ps); prefer ETCDCTL_PASSWORD\n".utf8))
            return Credentials(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
        if let password = env["ETCDCTL_PASSWORD"] { return Credentials(user: text, password: password) }
        guard let password = promptPassword("Password for etcd user \(text): ") else {
            throw ValidationError("no password for user \(text): set ETCDCTL_PASSWORD or run on a terminal to be asked")
        }
        return Credentials(user: text, password: password)
    }
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
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        if let value = Double(text.dropLast(suffix.count)), value > 0 { return .milliseconds(Int64(value * scale * 1000)) }
    }
    if let value = Double(text), value > 0 { return .milliseconds(Int64(value * 1000)) }
    throw ValidationError("\(flag): \"\(text)\" is not a duration (examples: 500ms, 3s, 2m)")
}
