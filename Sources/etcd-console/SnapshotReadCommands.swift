import ArgumentParser
import EtcdClient
import Foundation
import SnapshotStore
import SystemSupport

/// Options of the commands that read Kubernetes objects out of a snapshot.
struct KubernetesReadOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The etcd key prefix kube-apiserver stores objects under (--etcd-prefix of the API "
                               + "server; OpenShift uses /kubernetes.io).", valueName: "prefix"))
    var etcdPrefix: String = KubernetesKey.defaultPrefix

    func validate() throws {
        guard etcdPrefix.hasPrefix("/") else {
            throw ValidationError("--etcd-prefix must start with '/' (like /registry or /kubernetes.io), not \"\(etcdPrefix)\"")
        }
    }

    /// The storage resource `--resource` means: kubectl names and short names map to etcd's storage names
    /// (nodes -> minions); other names must be a resource the snapshot holds (custom resources), else the
    /// error lists the known names.
    func storageResource(_ typed: String?, path: String) throws -> String? {
        guard let typed else { return nil }
        if let known = KubernetesResourceName.builtIn(named: typed) { return known.storage }
        return try storageResource(typed, held: SnapshotInspector.counts(path: path, prefix: etcdPrefix).resources)
    }

    /// The same, for a snapshot whose resources are known (`held`, storage names).
    func storageResource(_ typed: String?, held: Set<String>) throws -> String? {
        guard let typed else { return nil }
        if let known = KubernetesResourceName.builtIn(named: typed) { return known.storage }
        if held.contains(typed) { return typed }
        if held.contains(where: { SnapshotInspector.matches(storage: $0, resource: typed) }) { return typed }
        throw UnknownResourceError(typed: typed, inSnapshot: held.sorted())
    }
}

/// What a reader learned about its files before reading them; warnings are on stderr already.
struct CheckedSnapshots {
    var checks: [SnapshotReadCheck]

    /// Checks every file (trailer, structure, sidecar) and prints a warning for each damaged one.
    init(_ paths: [String]) {
        self.init(checks: paths.map { SnapshotReadCheck.run(path: $0) })
    }

    /// Checks already run (with the read in the same pass); prints a warning for each damaged file.
    init(checks: [SnapshotReadCheck]) {
        self.checks = checks
        for check in checks {
            if let warning = check.warning { printError(warning) }
        }
    }

    var anyDamaged: Bool { checks.contains(where: \.isDamaged) }

    /// The worst health of the files (corrupt over unverified over good).
    var health: SnapshotHealth {
        if checks.contains(where: { $0.health == .corrupt }) { return .corrupt }
        if checks.contains(where: { $0.health == .unverified }) { return .unverified }
        return .good
    }

    /// "flipped.db: checksum mismatch: ..." for each damaged file, or nil when all are good.
    var reason: String? {
        let damaged = checks.filter(\.isDamaged)
        guard !damaged.isEmpty else { return nil }
        return damaged.map { "\($0.path): \($0.reason ?? $0.health.rawValue)" }.joined(separator: "; ")
    }

    /// Runs the read. When it fails on a damaged file, the JSON output still says what the checks found
    /// (with the read's error) and the command exits 1; on a good file the error is the command's.
    func read<T>(json: Bool, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            if anyDamaged, json {
                try printJSON(FailedReadJSON(files: checks.map(FileHealthJSON.init), health: health, reason: reason,
                                             error: "\(error)"))
            }
            throw error
        }
    }

    /// Exit 1 after the output when a file was damaged.
    func finish() throws {
        if anyDamaged { throw ExitCode(1) }
    }
}

struct FileHealthJSON: Encodable {
    var file: String
    var health: SnapshotHealth
    var reason: String?

    init(_ check: SnapshotReadCheck) {
        file = check.path
        health = check.health
        reason = check.reason
    }

    enum CodingKeys: String, CodingKey { case file, health, reason }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(file, forKey: .file)
        try c.encode(health, forKey: .health)
        try c.encode(reason, forKey: .reason)
    }
}

/// What a reader prints in JSON when the damaged file could not be read at all.
struct FailedReadJSON: Encodable {
    var files: [FileHealthJSON]
    var health: SnapshotHealth
    var reason: String?
    var error: String
}

struct SnapshotInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Revision, size, live keys and Kubernetes objects per resource and namespace (offline).",
        discussion: """
        Works on the file alone: nothing has to be running. The file is verified first (checksum \
        trailer, bbolt structure, its sidecar): a damaged one is reported on stderr and in the JSON \
        (health, reason), what could still be read is shown, and the exit status is 1. Encrypted \
        values (k8s:enc:) are counted, never decoded. --resource takes the names kubectl users type \
        (nodes, no, svc, ep, ing, crd, deploy, ...).

        Examples:
          etcd-console snapshot inspect snap.db
          etcd-console snapshot inspect snap.db --resource pods \\
              --namespace kube-system -o json
        """)

    @Argument(help: "The snapshot file.") var file: String
    @Option(help: "Only this resource: a kubectl name or short name (pods, svc, nodes, crd) or a storage name.")
    var resource: String?
    @Option(help: "Only this namespace.") var namespace: String?
    @OptionGroup var kubernetes: KubernetesReadOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        // One pass: the verifier's walk also counts the objects (a damaged file is then read again on its own).
        let (check, counts) = SnapshotInspector.checkAndCount(path: file, prefix: kubernetes.etcdPrefix)
        let checked = CheckedSnapshots(checks: [check])
        let inspection = try checked.read(json: output.output == .json) {
            let counts = try counts.get()
            return counts.inspection(resource: try kubernetes.storageResource(resource, held: counts.resources),
                                     namespace: namespace)
        }
        switch output.output {
        case .json:
            try printJSON(InspectJSON(file: checked.checks[0], inspection))
        case .table:
            if let reason = checked.reason { print("DAMAGED:      \(reason)") }
            print("revision:     \(inspection.revision)")
            print("total size:   \(formatBytes(Int(inspection.totalSize))) (\(inspection.totalSize) bytes)")
            print("live keys:    \(inspection.liveKeys)")
            print("objects:      \(inspection.objects) Kubernetes, \(inspection.encrypted) encrypted, \(inspection.nonKubernetesKeys) other keys")
            print("")
            let resources = inspection.resources.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            print(renderTable(["RESOURCE", "STORED AS", "OBJECTS"], resources.map {
                [KubernetesResourceName.kubectlName(forStorage: $0.key) ?? $0.key, $0.key, String($0.value)]
            }), terminator: "")
            print("")
            let namespaces = inspection.namespaces.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            print(renderTable(["NAMESPACE", "OBJECTS"], namespaces.map { [$0.key, String($0.value)] }), terminator: "")
        }
        try checked.finish()
    }
}

/// `snapshot inspect -o json`: the file and its health, then what it holds.
struct InspectJSON: Encodable {
    var file: String
    var health: SnapshotHealth
    var reason: String?
    var revision: Int64
    var totalSize: Int64
    var liveKeys: Int
    /// Objects per storage resource (as etcd's keys spell it).
    var resources: [String: Int]
    /// kubectl's name for each storage resource in `resources` that is a built-in one.
    var kubectlNames: [String: String]
    var namespaces: [String: Int]
    var encrypted: Int
    var nonKubernetesKeys: Int

    init(file check: SnapshotReadCheck, _ inspection: SnapshotInspection) {
        file = check.path
        health = check.health
        reason = check.reason
        revision = inspection.revision
        totalSize = inspection.totalSize
        liveKeys = inspection.liveKeys
        resources = inspection.resources
        kubectlNames = Dictionary(uniqueKeysWithValues: inspection.resources.keys.compactMap { storage in
            KubernetesResourceName.kubectlName(forStorage: storage).map { (storage, $0) }
        })
        namespaces = inspection.namespaces
        encrypted = inspection.encrypted
        nonKubernetesKeys = inspection.nonKubernetesKeys
    }

    enum CodingKeys: String, CodingKey {
        case file, health, reason, revision, totalSize, liveKeys, resources, kubectlNames, namespaces, encrypted,
             nonKubernetesKeys
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(file, forKey: .file)
        try c.encode(health, forKey: .health)
        try c.encode(reason, forKey: .reason)
        try c.encode(revision, forKey: .revision)
        try c.encode(totalSize, forKey: .totalSize)
        try c.encode(liveKeys, forKey: .liveKeys)
        try c.encode(resources, forKey: .resources)
        try c.encode(kubectlNames, forKey: .kubectlNames)
        try c.encode(namespaces, forKey: .namespaces)
        try c.encode(encrypted, forKey: .encrypted)
        try c.encode(nonKubernetesKeys, forKey: .nonKubernetesKeys)
    }
}

struct SnapshotBrowseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "browse",
        abstract: "List the Kubernetes objects in a snapshot, or show one object's metadata (offline).",
        discussion: """
        Secret data is never shown: only metadata is read. Objects being deleted show since when and the \
        finalizers holding them; owner references and, for values encrypted at rest, the provider and \
        key name are shown too. The file is verified first: a damaged one is reported on stderr and in \
        the JSON (health, reason), what could be read is listed, and the exit status is 1.

        Examples:
          etcd-console snapshot browse snap.db --resource pods --namespace default
          etcd-console snapshot browse snap.db --resource svc
          etcd-console snapshot browse snap.db --key /registry/pods/default/web-1
        """)

    @Argument(help: "The snapshot file.") var file: String
    @Option(help: "Only this resource: a kubectl name or short name (pods, svc, nodes, crd) or a storage name.")
    var resource: String?
    @Option(help: "Only this namespace.") var namespace: String?
    @Option(help: "Show the metadata of the object stored under this etcd key.") var key: String?
    @OptionGroup var kubernetes: KubernetesReadOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let checked = CheckedSnapshots([file])
        let json = output.output == .json
        if let key {
            let found = try checked.read(json: json) {
                try SnapshotInspector.object(path: file, key: key, prefix: kubernetes.etcdPrefix)
            }
            guard let object = found else {
                printError("error: no live key \(key) in \(file)")
                throw ExitCode(1)
            }
            let shown = ObjectJSON(object)
            switch output.output {
            case .json: try printJSON(BrowseObjectJSON(file: checked.checks[0], object: shown))
            case .table:
                if let reason = checked.reason { print("DAMAGED:      \(reason)") }
                for (label, value) in shown.fields { print("\(label.padding(toLength: 13, withPad: " ", startingAt: 0)) \(value)") }
            }
            try checked.finish()
            return
        }
        // A page at a time: the index holds where each object is; objects are decoded as they are printed.
        let (browser, storage) = try checked.read(json: json) { () -> (SnapshotObjectBrowser, String?) in
            let browser = try SnapshotObjectBrowser(path: file, prefix: kubernetes.etcdPrefix)
            return (browser, try kubernetes.storageResource(resource, held: browser.counts.resources))
        }
        switch output.output {
        case .json:
            try printBrowseJSON(file: checked.checks[0], browser: browser, resource: storage)
        case .table:
            if let reason = checked.reason { print("DAMAGED: \(reason)") }
            // Two passes, each decoding one object at a time: the column widths, then the rows (as renderTable lays them out).
            let header = ["RESOURCE", "NAMESPACE", "NAME", "KIND", "API VERSION", "CREATED", "DELETION", "SIZE"]
            var widths = header.map(\.count)
            try browser.forEachObject(resource: storage, namespace: namespace) { object in
                for (i, cell) in Self.row(object).enumerated() { widths[i] = max(widths[i], cell.count) }
            }
            func line(_ cells: [String]) -> String {
                cells.enumerated().map { i, cell in
                    i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                }.joined(separator: "  ")
            }
            print(line(header))
            try browser.forEachObject(resource: storage, namespace: namespace) { print(line(Self.row($0))) }
        }
        try checked.finish()
    }

    static func row(_ o: KubernetesObject) -> [String] {
        [KubernetesResourceName.display(storage: o.resource), o.namespace ?? "-", o.name,
         o.kind ?? (o.encoding == .encrypted ? "(encrypted)" : "-"),
         o.apiVersion ?? "-", o.creationTimestamp.map(rfc3339) ?? "-",
         o.deletionTimestamp.map { "deleting since " + rfc3339($0) } ?? "-", formatBytes(o.valueSize)]
    }

    /// `BrowseListJSON`'s document, written an object at a time (each encoded as printJSON would, indented into
    /// the array), so memory does not grow with the number of objects.
    func printBrowseJSON(file check: SnapshotReadCheck, browser: SnapshotObjectBrowser, resource storage: String?) throws {
        let encoder = commandJSONEncoder()
        func encoded<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        let out = StandardStream.output
        out.write("{\n  \"file\" : \(try encoded(check.path)),\n  \"health\" : \(try encoded(check.health)),\n  \"objects\" : [")
        var first = true
        try browser.forEachObject(resource: storage, namespace: namespace) { object in
            let text = try encoded(ObjectJSON(object)).split(separator: "\n", omittingEmptySubsequences: false)
                .map { "    " + $0 }.joined(separator: "\n")
            out.write((first ? "\n" : ",\n") + text)
            first = false
        }
        out.write((first ? "\n\n  ],\n" : "\n  ],\n") + "  \"reason\" : \(try check.reason.map { try encoded($0) } ?? "null")\n}\n")
    }
}

/// `snapshot browse -o json`: the file and its health, then the objects.
struct BrowseListJSON: Encodable {
    var file: String
    var health: SnapshotHealth
    var reason: String?
    var objects: [ObjectJSON]

    init(file check: SnapshotReadCheck, objects: [ObjectJSON]) {
        file = check.path
        health = check.health
        reason = check.reason
        self.objects = objects
    }

    enum CodingKeys: String, CodingKey { case file, health, reason, objects }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(file, forKey: .file)
        try c.encode(health, forKey: .health)
        try c.encode(reason, forKey: .reason)
        try c.encode(objects, forKey: .objects)
    }
}

/// `snapshot browse --key K -o json`: the object's metadata, with the file and its health alongside.
struct BrowseObjectJSON: Encodable {
    var file: SnapshotReadCheck
    var object: ObjectJSON

    enum CodingKeys: String, CodingKey { case file, health, reason }

    func encode(to encoder: Encoder) throws {
        try object.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(file.path, forKey: .file)
        try c.encode(file.health, forKey: .health)
        try c.encode(file.reason, forKey: .reason)
    }
}

/// One object's metadata for output; no data, no annotations.
struct ObjectJSON: Encodable {
    struct Owner: Encodable {
        var kind: String
        var name: String
        var uid: String?
        var controller: Bool
    }
    struct Encryption: Encodable {
        var provider: String
        var version: String
        var keyName: String
    }

    var key: String
    var resource: String
    /// kubectl's name for the resource, when it is a built-in one ("nodes" for storage "minions").
    var kubectlResource: String?
    var namespace: String?
    var name: String
    var kind: String?
    var apiVersion: String?
    var uid: String?
    var creationTimestamp: String?
    /// Set while the object is being deleted; with finalizers left it is stuck terminating.
    var deletionTimestamp: String?
    var finalizers: [String]
    var ownerReferences: [Owner]
    var labels: [String: String]
    var valueSize: Int
    var encoding: String
    var encryption: Encryption?
    var problem: String?

    init(_ o: KubernetesObject) {
        key = o.etcdKey
        resource = o.resource
        kubectlResource = KubernetesResourceName.kubectlName(forStorage: o.resource)
        namespace = o.namespace
        name = o.name
        kind = o.kind
        apiVersion = o.apiVersion
        uid = o.uid
        creationTimestamp = o.creationTimestamp.map(rfc3339)
        deletionTimestamp = o.deletionTimestamp.map(rfc3339)
        finalizers = o.finalizers
        ownerReferences = o.ownerReferences.map { Owner(kind: $0.kind, name: $0.name, uid: $0.uid, controller: $0.controller) }
        labels = o.labels
        valueSize = o.valueSize
        encoding = o.encoding.rawValue
        encryption = o.encryption.map { Encryption(provider: $0.provider, version: $0.version, keyName: $0.keyName) }
        problem = o.problem
    }

    enum CodingKeys: String, CodingKey {
        case key, resource, kubectlResource, namespace, name, kind, apiVersion, uid, creationTimestamp,
             deletionTimestamp, finalizers, ownerReferences, labels, valueSize, encoding, encryption, problem
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key)
        try c.encode(resource, forKey: .resource)
        try c.encode(kubectlResource, forKey: .kubectlResource)
        try c.encode(namespace, forKey: .namespace)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(apiVersion, forKey: .apiVersion)
        try c.encode(uid, forKey: .uid)
        try c.encode(creationTimestamp, forKey: .creationTimestamp)
        try c.encode(deletionTimestamp, forKey: .deletionTimestamp)
        try c.encode(finalizers, forKey: .finalizers)
        try c.encode(ownerReferences, forKey: .ownerReferences)
        try c.encode(labels, forKey: .labels)
        try c.encode(valueSize, forKey: .valueSize)
        try c.encode(encoding, forKey: .encoding)
        try c.encode(encryption, forKey: .encryption)
        try c.encode(problem, forKey: .problem)
    }

    var fields: [(String, String)] {
        var fields = [("key:", key), ("resource:", resource + (kubectlResource.map { $0 == resource ? "" : " (kubectl: \($0))" } ?? "")),
                      ("namespace:", namespace ?? "-"), ("name:", name),
                      ("kind:", kind ?? "-"), ("apiVersion:", apiVersion ?? "-"), ("uid:", uid ?? "-"),
                      ("created:", creationTimestamp ?? "-")]
        if let deletionTimestamp {
            fields.append(("deleting:", "since \(deletionTimestamp)"
                + (finalizers.isEmpty ? "" : ", held by finalizers (stuck terminating until they are removed)")))
        }
        fields.append(("finalizers:", finalizers.isEmpty ? "-" : finalizers.joined(separator: ", ")))
        fields.append(("owners:", ownerReferences.isEmpty ? "-" : ownerReferences.map {
            "\($0.kind)/\($0.name)" + ($0.controller ? " (controller)" : "")
        }.joined(separator: ", ")))
        fields.append(("labels:", labels.isEmpty ? "-" : labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")))
        fields.append(("value size:", formatBytes(valueSize)))
        fields.append(("encoding:", encoding))
        if let encryption {
            fields.append(("encrypted by:", "provider \(encryption.provider) (\(encryption.version)), key \(encryption.keyName)"))
        }
        if let problem { fields.append(("problem:", problem)) }
        if resource == "secrets" { fields.append(("data:", "(redacted: Secret values are never read or shown)")) }
        return fields
    }
}

struct SnapshotDiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "What changed between two snapshots: objects added, removed and changed (offline).",
        discussion: """
        Both files are verified first. A damaged one is reported on stderr and in the JSON (health, \
        reason); the comparison of what could be read is still shown, and the exit status is 1: a diff \
        with a damaged file cannot be trusted (a flipped byte changes a value, not its revision).

        Examples:
          # what changed between the 15:45 and the 16:05 backup?
          etcd-console snapshot diff snapshot-20261125T154500Z-m1.db \\
              snapshot-20261125T160500Z-m1.db
          etcd-console snapshot diff old.db new.db -o json
        """)

    @Argument(help: "The older snapshot.") var from: String
    @Argument(help: "The newer snapshot.") var to: String
    @OptionGroup var kubernetes: KubernetesReadOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        // One pass per file: the verifiers' walks also collect the live keys the diff compares.
        let (checks, compared) = SnapshotDiffer.checkAndDiff(from, to, prefix: kubernetes.etcdPrefix)
        let checked = CheckedSnapshots(checks: checks)
        let diff = try checked.read(json: output.output == .json) { try compared.get() }
        switch output.output {
        case .json:
            try printJSON(DiffJSON(checked: checked, diff: diff))
        case .table:
            if let reason = checked.reason { print("DAMAGED: \(reason)\nThe comparison below cannot be trusted.") }
            print("revision \(diff.fromRevision) -> \(diff.toRevision): \(diff.added.count) added, \(diff.removed.count) removed, \(diff.changed.count) changed")
            if !diff.isEmpty {
                print("")
                print(renderTable(["RESOURCE", "NAMESPACE", "ADDED", "REMOVED", "CHANGED"],
                                  diff.summary.map { [KubernetesResourceName.display(storage: $0.resource), $0.namespace ?? "-",
                                                      String($0.added), String($0.removed), String($0.changed)] }),
                      terminator: "")
                print("")
                let lines = diff.added.map { ("+", $0) } + diff.removed.map { ("-", $0) } + diff.changed.map { ("~", $0) }
                for (mark, ref) in lines.sorted(by: { $0.1 < $1.1 }) { print("\(mark) \(ref)") }
            }
        }
        try checked.finish()
    }
}

/// `snapshot diff -o json`: both files with their health, the worst health and why, then the changes.
struct DiffJSON: Encodable {
    var from: FileHealthJSON
    var to: FileHealthJSON
    var health: SnapshotHealth
    var reason: String?
    var fromRevision: Int64
    var toRevision: Int64
    var added: [ObjectRef]
    var removed: [ObjectRef]
    var changed: [ObjectRef]
    var summary: [DiffSummaryRow]

    init(checked: CheckedSnapshots, diff: SnapshotDiff) {
        from = FileHealthJSON(checked.checks[0])
        to = FileHealthJSON(checked.checks[1])
        health = checked.health
        reason = checked.reason
        fromRevision = diff.fromRevision
        toRevision = diff.toRevision
        added = diff.added
        removed = diff.removed
        changed = diff.changed
        summary = diff.summary
    }

    enum CodingKeys: String, CodingKey {
        case from, to, health, reason, fromRevision, toRevision, added, removed, changed, summary
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(from, forKey: .from)
        try c.encode(to, forKey: .to)
        try c.encode(health, forKey: .health)
        try c.encode(reason, forKey: .reason)
        try c.encode(fromRevision, forKey: .fromRevision)
        try c.encode(toRevision, forKey: .toRevision)
        try c.encode(added, forKey: .added)
        try c.encode(removed, forKey: .removed)
        try c.encode(changed, forKey: .changed)
        try c.encode(summary, forKey: .summary)
    }
}
