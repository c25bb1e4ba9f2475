import Foundation
import Yams

/// A word of a command line after `$VAR` expansion; `via` names the variable it came from.
struct ExpandedWord: Sendable, Equatable {
    var text: String
    var via: String?
}

extension EtcdDiscovery {
    /// etcd's boolean flags: `--flag` alone means true, and never takes the next word as its value.
    static let booleanFlags: Set<String> = [
        "client-cert-auth", "peer-client-cert-auth", "auto-tls", "peer-auto-tls", "debug", "enable-v2",
        "enable-pprof", "strict-reconfig-check", "force-new-cluster", "enable-grpc-gateway", "version",
        "experimental-initial-corrupt-check", "experimental-enable-distributed-tracing",
    ]

    /// Whether a program path is etcd itself (`/usr/local/bin/etcd`, `etcd`).
    static func runsEtcd(_ program: String) -> Bool {
        program.split(separator: "/").last.map(String.init) == "etcd"
    }

    /// systemd's expansion: a word that is exactly `$VAR` becomes the variable's whitespace-separated
    /// words; `${VAR}` (and `$VAR` inside a longer word) is replaced in place. Unknown variables are empty.
    static func expand(_ words: [String], environment: [String: (value: String, source: String)]) -> [ExpandedWord] {
        var out: [ExpandedWord] = []
        for word in words {
            if word.hasPrefix("$"), !word.hasPrefix("${"), isVariableName(word.dropFirst()) {
                let key = String(word.dropFirst())
                guard let entry = environment[key] else { continue }
                let via = "$\(key) (\(entry.source))"
                out += entry.value.split(whereSeparator: \.isWhitespace).map { ExpandedWord(text: String($0), via: via) }
                continue
            }
            guard word.contains("$") else { out.append(ExpandedWord(text: word, via: nil)); continue }
            var text = ""
            var via: String?
            var rest = Substring(word)
            while let dollar = rest.firstIndex(of: "$") {
                text += rest[..<dollar]
                var after = rest[rest.index(after: dollar)...]
                var key = ""
                if after.hasPrefix("{"), let close = after.firstIndex(of: "}") {
                    key = String(after[after.index(after: after.startIndex)..<close])
                    after = after[after.index(after: close)...]
                } else {
                    let name = after.prefix(while: { $0 == "_" || $0.isLetter || $0.isNumber })
                    key = String(name)
                    after = after[name.endIndex...]
                }
                if key.isEmpty {
                    text += "$"
                } else if let entry = environment[key] {
                    text += entry.value
                    via = via ?? "$\(key) (\(entry.source))"
                }
                rest = after
            }
            text += rest
            out.append(ExpandedWord(text: text, via: via))
        }
        return out
    }

    private static func isVariableName(_ text: Substring) -> Bool {
        guard let first = text.first, first == "_" || first.isLetter else { return false }
        return text.allSatisfy { $0 == "_" || $0.isLetter || $0.isNumber }
    }

    /// etcd flags in `--flag=value`, `--flag value`, `-flag=value` and bare boolean forms; later flags win.
    /// Flags discovery does not track are skipped (with their value).
    static func flags(in words: ArraySlice<ExpandedWord>,
                      source: (ExpandedWord) -> String) -> [EtcdSetting.Name: EtcdSetting] {
        var result: [EtcdSetting.Name: EtcdSetting] = [:]
        let words = Array(words)
        var index = 0
        while index < words.count {
            let word = words[index]
            index += 1
            guard word.text.hasPrefix("-"), word.text.count > 1 else { continue }
            let body = word.text.drop(while: { $0 == "-" })
            let flag: String
            let value: String
            if let eq = body.firstIndex(of: "=") {
                flag = String(body[..<eq])
                value = String(body[body.index(after: eq)...])
            } else if booleanFlags.contains(String(body)) {
                flag = String(body)
                value = "true"
            } else if index < words.count, !words[index].text.hasPrefix("-") {
                flag = String(body)
                value = words[index].text
                index += 1
            } else {
                flag = String(body)
                value = ""
            }
            if let name = EtcdSetting.Name(rawValue: flag) {
                result[name] = EtcdSetting(value: value, source: source(word))
            }
        }
        return result
    }

    /// Applies etcd's precedence to what a deployment gives it, then the operator's overrides, then
    /// etcd's defaults. Returns the settings and the YAML config file in effect, if any.
    func resolve(flags: [EtcdSetting.Name: EtcdSetting], environment: [EtcdSetting.Name: EtcdSetting],
                 overrides: [EtcdSetting.Name: String], workingDirectory: String?,
                 configSourceLabel: String? = nil) throws -> (settings: [EtcdSetting.Name: EtcdSetting], configFile: String?) {
        let directory = workingDirectory ?? "/"
        var settings = environment.merging(flags, uniquingKeysWith: { _, flag in flag })
        let commandLine = overrides.mapValues { EtcdSetting(value: $0, source: "command line") }
        settings.merge(commandLine, uniquingKeysWith: { _, override in override })
        settings = settings.filter { !$0.value.value.isEmpty }

        var configFile: String?
        if let config = settings[.configFile] {
            // With a config file etcd ignores every other flag and variable.
            let path = Self.absolute(config.value, in: directory)
            configFile = path
            settings = try readConfigYAML(path, label: configSourceLabel ?? "--config-file \(path)")
            settings[.configFile] = EtcdSetting(value: path, source: config.source)
            settings.merge(commandLine.filter { !$0.value.value.isEmpty }, uniquingKeysWith: { _, override in override })
        }

        func setDefault(_ name: EtcdSetting.Name, _ value: String) {
            if settings[name] == nil { settings[name] = EtcdSetting(value: value, source: "default") }
        }
        setDefault(.name, "default")
        setDefault(.dataDir, "\(settings[.name]!.value).etcd")
        settings[.dataDir]!.value = Self.absolute(settings[.dataDir]!.value, in: directory)
        setDefault(.walDir, settings[.dataDir]!.value + "/member/wal")
        settings[.walDir]!.value = Self.absolute(settings[.walDir]!.value, in: directory)
        setDefault(.listenClientURLs, "http://localhost:2379")
        setDefault(.advertiseClientURLs, "http://localhost:2379")
        setDefault(.listenPeerURLs, "http://localhost:2380")
        setDefault(.initialAdvertisePeerURLs, "http://localhost:2380")
        let memberName = settings[.name]!.value
        let initialCluster = settings[.initialAdvertisePeerURLs]!.value.split(separator: ",")
            .map { "\(memberName)=\($0.trimmingCharacters(in: .whitespaces))" }.joined(separator: ",")
        setDefault(.initialCluster, initialCluster)
        setDefault(.initialClusterToken, "etcd-cluster")
        setDefault(.initialClusterState, "new")
        setDefault(.clientCertAuth, "false")
        setDefault(.peerClientCertAuth, "false")
        return (settings, configFile)
    }

    static func absolute(_ path: String, in directory: String) -> String {
        if path.hasPrefix("/") { return path }
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        return base + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    /// Settings from etcd's YAML config file (keys named as the flags; TLS under
    /// `client-transport-security` and `peer-transport-security`).
    func readConfigYAML(_ path: String, label: String) throws -> [EtcdSetting.Name: EtcdSetting] {
        guard let document = try Self.parseYAML(try read(path), file: path) else { return [:] }
        guard document.mapping != nil else {
            throw DiscoveryError(file: path, line: 1, reason: "expected a mapping of etcd settings at the top level")
        }
        func scalar(_ node: Node?) -> String? {
            guard let value = node?.scalar?.string, !["", "~", "null"].contains(value) else { return nil }
            return value
        }
        var settings: [EtcdSetting.Name: EtcdSetting] = [:]
        let nested: Set<EtcdSetting.Name> = [.certFile, .keyFile, .trustedCAFile, .clientCertAuth,
                                             .peerCertFile, .peerKeyFile, .peerTrustedCAFile, .peerClientCertAuth,
                                             .configFile]
        for name in EtcdSetting.Name.allCases where !nested.contains(name) {
            if let value = scalar(document[name.rawValue]) {
                settings[name] = EtcdSetting(value: value, source: label)
            }
        }
        let security: [(section: String, key: String, name: EtcdSetting.Name)] = [
            ("client-transport-security", "cert-file", .certFile),
            ("client-transport-security", "key-file", .keyFile),
            ("client-transport-security", "trusted-ca-file", .trustedCAFile),
            ("client-transport-security", "client-cert-auth", .clientCertAuth),
            ("peer-transport-security", "cert-file", .peerCertFile),
            ("peer-transport-security", "key-file", .peerKeyFile),
            ("peer-transport-security", "trusted-ca-file", .peerTrustedCAFile),
            ("peer-transport-security", "client-cert-auth", .peerClientCertAuth),
        ]
        for entry in security {
            if let value = scalar(document[entry.section]?[entry.key]) {
                settings[entry.name] = EtcdSetting(value: value, source: "\(label) (\(entry.section))")
            }
        }
        return settings
    }
}
