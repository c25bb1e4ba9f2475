import Foundation
import Yams

/// Finds how etcd runs on this host and reads its settings, with zero configuration on a typical master.
///
/// Looks, in this order, for: a systemd unit `etcd.service` whose ExecStart runs etcd (main file in
/// /etc/systemd/system, /run/systemd/system, /lib/systemd/system or /usr/lib/systemd/system, plus
/// `etcd.service.d/*.conf` drop-ins), a kubeadm static pod manifest `/etc/kubernetes/manifests/etcd.yaml`,
/// then `/etc/etcd/etcd.conf.yml` or `/etc/etcd/etcd.conf` alone. The first found wins; with none, every
/// setting is etcd's default. Within a deployment etcd's own rules apply: flags override `ETCD_*`
/// environment variables, and `--config-file` makes etcd ignore all other flags and variables.
/// `overrides` (the operator's command-line flags) win over everything.
///
/// Every path is looked up under `root`, so tests can use a temporary directory as a fake `/`; paths in
/// the result and in errors are the host paths etcd sees (without `root`).
public struct EtcdDiscovery: Sendable {
    public let root: String
    /// The systemd unit to look for, without `.service` (`etcd`; `--unit` / `unit:` name another).
    public let unitName: String
    static let unitDirectories = ["/etc/systemd/system", "/run/systemd/system",
                                  "/lib/systemd/system", "/usr/lib/systemd/system"]
    static let manifestPath = "/etc/kubernetes/manifests/etcd.yaml"
    static let yamlConfigPath = "/etc/etcd/etcd.conf.yml"
    static let envConfigPath = "/etc/etcd/etcd.conf"

    public init(root: String = "/", unit: String = "etcd") {
        self.root = root
        let trimmed = unit.hasSuffix(".service") ? String(unit.dropLast(".service".count)) : unit
        self.unitName = trimmed.isEmpty ? "etcd" : trimmed
    }

    /// The deployment found on this host. Throws `DiscoveryError` when a file that decides the answer
    /// cannot be read or parsed (the error names the file, and the line for YAML).
    public func discover(overrides: [EtcdSetting.Name: String] = [:]) throws -> EtcdDeployment {
        var deployment = try discoverDeployment(overrides: overrides)
        deployment.root = root
        return deployment
    }

    private func discoverDeployment(overrides: [EtcdSetting.Name: String]) throws -> EtcdDeployment {
        if let deployment = try discoverSystemd(overrides: overrides) { return deployment }
        if let deployment = try discoverStaticPod(overrides: overrides) { return deployment }
        if let deployment = try discoverConfigFile(overrides: overrides) { return deployment }
        let resolved = try resolve(flags: [:], environment: [:], overrides: overrides, workingDirectory: nil)
        return EtcdDeployment(kind: .none, configFile: resolved.configFile, settings: resolved.settings)
    }

    // MARK: systemd

    private func discoverSystemd(overrides: [EtcdSetting.Name: String]) throws -> EtcdDeployment? {
        let service = unitName + ".service"
        guard let unitFile = Self.unitDirectories.map({ $0 + "/" + service }).first(where: { isFile($0) }) else {
            return nil
        }
        var unit = SystemdUnit()
        let specifiers: [Character: String] = ["p": unitName, "N": unitName, "n": service,
                                               "i": "", "H": hostname()]
        unit.apply(try read(unitFile), file: unitFile, specifiers: specifiers)
        let dropInFiles = dropIns(for: service)
        var readEnvironmentFiles: [String] = []
        for dropIn in dropInFiles {
            unit.apply(try read(dropIn), file: dropIn, specifiers: specifiers)
        }

        // The unit's environment: Environment= first, then EnvironmentFile= in order (files win).
        var notes: [String] = []
        var environment: [String: (value: String, source: String)] = [:]
        for assignment in unit.environment {
            environment[assignment.key] = (assignment.value, "Environment=\(assignment.key) in \(assignment.file)")
        }
        for entry in unit.environmentFiles {
            guard isFile(entry.path) else {
                if !entry.optional {
                    notes.append("EnvironmentFile \(entry.path) named in the unit does not exist; systemd will refuse to start etcd")
                }
                continue
            }
            readEnvironmentFiles.append(entry.path)
            for (key, value) in EnvironmentFileParser.parse(try read(entry.path)) {
                environment[key] = (value, "EnvironmentFile \(entry.path)")
            }
        }

        guard let execStart = unit.execStart, let execFile = unit.execStartFile else { return nil }
        let words = Self.expand(execStart, environment: environment)
        guard let program = words.first, Self.runsEtcd(program.text) else { return nil }
        let flags = Self.flags(in: words.dropFirst()) { word in
            let base = "ExecStart in \(execFile)"
            return word.via.map { "\(base) via \($0)" } ?? base
        }
        var etcdEnvironment: [EtcdSetting.Name: EtcdSetting] = [:]
        for (key, entry) in environment {
            if let name = EtcdSetting.Name(flagOrVariable: key), key.hasPrefix("ETCD_") {
                etcdEnvironment[name] = EtcdSetting(value: entry.value, source: entry.source)
            }
        }
        let resolved = try resolve(flags: flags, environment: etcdEnvironment, overrides: overrides,
                                   workingDirectory: unit.workingDirectory)
        var deployment = EtcdDeployment(kind: .systemd, unitName: unitName, unitFile: unitFile,
                                        configFile: resolved.configFile, settings: resolved.settings,
                                        runAsUser: unit.user ?? "root", notes: notes, etcdProgram: program.text)
        deployment.unitDropIns = dropInFiles
        deployment.environmentFiles = readEnvironmentFiles
        return deployment
    }

    /// Drop-ins `<service>.d/*.conf` from every unit directory, sorted by file name; a file in a
    /// directory earlier in `unitDirectories` (e.g. /etc) replaces one of the same name later on.
    private func dropIns(for service: String) -> [String] {
        var byName: [String: String] = [:]
        for directory in Self.unitDirectories.reversed() {
            let dir = directory + "/" + service + ".d"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: hostPath(dir))) ?? []
            for name in names where name.hasSuffix(".conf") {
                byName[name] = dir + "/" + name
            }
        }
        return byName.keys.sorted().compactMap { byName[$0] }
    }

    // MARK: static pod

    private func discoverStaticPod(overrides: [EtcdSetting.Name: String]) throws -> EtcdDeployment? {
        let path = Self.manifestPath
        guard isFile(path) else { return nil }
        let document = try Self.parseYAML(try read(path), file: path)
        guard let containers = document?["spec"]?["containers"]?.sequence else { return nil }
        func command(_ container: Node) -> [String] {
            container["command"]?.sequence?.compactMap { $0.string } ?? []
        }
        guard let container = containers.first(where: { $0["name"]?.string == "etcd" })
            ?? containers.first(where: { command($0).first.map(Self.runsEtcd) ?? false }) else { return nil }

        var flags: [EtcdSetting.Name: EtcdSetting] = [:]
        let commandWords = command(container)
        let start = commandWords.first.map(Self.runsEtcd) ?? false ? 1 : 0
        flags = Self.flags(in: commandWords.dropFirst(start).map { ExpandedWord(text: $0, via: nil) }[...]) { _ in
            "\(path) (command)"
        }
        let args = container["args"]?.sequence?.compactMap { $0.string } ?? []
        flags.merge(Self.flags(in: args.map { ExpandedWord(text: $0, via: nil) }[...]) { _ in "\(path) (args)" },
                    uniquingKeysWith: { _, new in new })
        var environment: [EtcdSetting.Name: EtcdSetting] = [:]
        for variable in container["env"]?.sequence ?? [] {
            guard let key = variable["name"]?.string, key.hasPrefix("ETCD_"),
                  let name = EtcdSetting.Name(flagOrVariable: key),
                  let value = variable["value"]?.string else { continue }
            environment[name] = EtcdSetting(value: value, source: "\(path) (env \(key))")
        }
        let resolved = try resolve(flags: flags, environment: environment, overrides: overrides,
                                   workingDirectory: container["workingDir"]?.string)
        return EtcdDeployment(kind: .staticPod, manifestPath: path, configFile: resolved.configFile,
                              settings: resolved.settings, runAsUser: "root",
                              etcdProgram: start == 1 ? commandWords.first : nil)
    }

    // MARK: config file alone

    private func discoverConfigFile(overrides: [EtcdSetting.Name: String]) throws -> EtcdDeployment? {
        if isFile(Self.yamlConfigPath) {
            let path = Self.yamlConfigPath
            let flags: [EtcdSetting.Name: EtcdSetting] = [.configFile: EtcdSetting(value: path, source: path)]
            let resolved = try resolve(flags: flags, environment: [:], overrides: overrides,
                                       workingDirectory: nil, configSourceLabel: path)
            return EtcdDeployment(kind: .configFile, configFile: resolved.configFile ?? path,
                                  settings: resolved.settings)
        }
        if isFile(Self.envConfigPath) {
            let path = Self.envConfigPath
            var environment: [EtcdSetting.Name: EtcdSetting] = [:]
            for (key, value) in EnvironmentFileParser.parse(try read(path)) where key.hasPrefix("ETCD_") {
                if let name = EtcdSetting.Name(flagOrVariable: key) {
                    environment[name] = EtcdSetting(value: value, source: path)
                }
            }
            let resolved = try resolve(flags: [:], environment: environment, overrides: overrides,
                                       workingDirectory: nil)
            return EtcdDeployment(kind: .configFile, configFile: resolved.configFile ?? path,
                                  settings: resolved.settings)
        }
        return nil
    }

    // MARK: files under root

    func hostPath(_ path: String) -> String {
        let trimmedRoot = root.hasSuffix("/") ? String(root.dropLast()) : root
        return trimmedRoot + (path.hasPrefix("/") ? path : "/" + path)
    }

    func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: hostPath(path), isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: hostPath(path)) else {
            let reason = FileManager.default.fileExists(atPath: hostPath(path)) ? "permission denied" : "no such file"
            throw DiscoveryError(file: path, action: "read", reason: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DiscoveryError(file: path, action: "read", reason: "not UTF-8 text")
        }
        return text
    }

    private func hostname() -> String {
        if let text = try? read("/etc/hostname") {
            let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !name.isEmpty { return name }
        }
        return ProcessInfo.processInfo.hostName
    }

    /// Parses YAML into a node tree; errors name the file and the line.
    public static func parseYAML(_ text: String, file: String) throws -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            switch error {
            case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
                 let .composer(context, problem, mark, _):
                let detail = context.map { "\(problem) (\($0.text) at line \($0.mark.line))" } ?? problem
                throw DiscoveryError(file: file, line: mark.line, reason: detail)
            case let .duplicatedKeysInMapping(duplicates, context):
                throw DiscoveryError(file: file, line: context.mark.line,
                                     reason: "duplicate keys \(duplicates.joined(separator: ", "))")
            default:
                throw DiscoveryError(file: file, reason: "\(error)")
            }
        } catch {
            throw DiscoveryError(file: file, reason: "\(error)")
        }
    }
}
