import EtcdTestSupport
import Foundation
import Operations
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("etcd-console config init and show, end to end")
struct ConfigCommandTests {
    /// A fake `/` holding a kubeadm static pod manifest for etcd.
    static func kubeadmRoot() throws -> URL {
        let root = try TestDirectories.make("config-root")
        let manifests = root.appendingPathComponent("etc/kubernetes/manifests")
        try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
        try """
        apiVersion: v1
        kind: Pod
        metadata:
          name: etcd
          namespace: kube-system
        spec:
          containers:
          - name: etcd
            image: registry.k8s.io/etcd:3.5.15-0
            command:
            - etcd
            - --advertise-client-urls=https://10.0.0.5:2379
            - --cert-file=/etc/kubernetes/pki/etcd/server.crt
            - --client-cert-auth=true
            - --data-dir=/var/lib/etcd
            - --key-file=/etc/kubernetes/pki/etcd/server.key
            - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.5:2379
            - --name=master-1
            - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
        """.write(to: manifests.appendingPathComponent("etcd.yaml"), atomically: true, encoding: .utf8)
        return root
    }

    @Test("config init writes a 0600 file from discovery that reads back; it refuses to overwrite without --force")
    func initFromDiscovery() throws {
        let root = try Self.kubeadmRoot()
        let dir = try TestDirectories.make("config-init")
        let path = dir.appendingPathComponent("etc-console/config.yaml").path
        let result = try ConsoleBinary.run(["config", "init", "--root", root.path, "--file", path, "--every", "1h"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.hasPrefix("wrote \(path)\n"))
        #expect(result.stdout.contains("  cacert: /etc/kubernetes/pki/etcd/ca.crt  (discovered: /etc/kubernetes/manifests/etcd.yaml"))
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let file = try ConfigFile.load(path: path)
        #expect(file.values[.endpoints]?.text == "https://10.0.0.5:2379")
        #expect(file.values[.cacert]?.text == "/etc/kubernetes/pki/etcd/ca.crt")
        #expect(file.values[.cert]?.text == "/etc/kubernetes/pki/etcd/server.crt")
        #expect(file.values[.key]?.text == "/etc/kubernetes/pki/etcd/server.key")
        #expect(file.values[.dataDir]?.text == "/var/lib/etcd")
        #expect(file.values[.every]?.text == "1h")
        #expect(file.values[.dir] == nil)   // a default: listed, commented out
        let text = try String(contentsOfFile: path, encoding: .utf8)
        // Discovery ran under --root: the comment says where the manifest it read really is.
        #expect(text.contains("# Written by `etcd-console config init` from the static pod manifest /etc/kubernetes/manifests/etcd.yaml (under \(root.path))."), "\(text)")
        #expect(text.contains("#dir: /var/lib/etcd-backup"))

        let again = try ConsoleBinary.run(["config", "init", "--root", root.path, "--file", path])
        #expect(again.status == 1)
        #expect(again.stderr == "error: \(path) already exists; not overwriting it (pass --force to replace it, or --file to write elsewhere)\n")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
        let forced = try ConsoleBinary.run(["config", "init", "--root", root.path, "--file", path, "--force"])
        #expect(forced.status == 0, "\(forced.output)")
        #expect(try ConfigFile.load(path: path).values[.every] == nil)
    }

    @Test("config show: flag over environment over file, each with its source; passwords never shown")
    func show() throws {
        let dir = try TestDirectories.make("config-show")
        let config = dir.appendingPathComponent("config.yaml")
        try """
        endpoints: [https://10.9.9.9:2379]
        cacert: /file/ca.crt
        dir: /file/backups
        metrics-file: /file/etcd.prom
        user: backup
        password-file: /file/password
        retention:
          daily: 9
        """.write(to: config, atomically: true, encoding: .utf8)
        let result = try ConsoleBinary.run(["config", "show", "--config", config.path, "--endpoints", "https://10.1.1.1:2379",
                                            "--keep-last", "2", "-o", "json"],
                                           environment: ["ETCD_CONSOLE_DIR": "/env/backups", "ETCDCTL_PASSWORD": "s3cret-pw"])
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("s3cret-pw"))
        let json = try ConsoleBinary.json(result)
        let settings = try #require(json["settings"] as? [[String: String]])
        func setting(_ key: String) -> [String: String]? { settings.first { $0["key"] == key } }
        #expect(setting("endpoints") == ["key": "endpoints", "value": "https://10.1.1.1:2379", "layer": "flag", "source": "flag --endpoints"])
        #expect(setting("dir")?["value"] == "/env/backups")
        #expect(setting("dir")?["source"] == "environment ETCD_CONSOLE_DIR")
        #expect(setting("metrics-file")?["source"] == "\(config.path):4")
        #expect(setting("cacert")?["layer"] == "file")
        #expect(setting("retention.keep-last")?["value"] == "2")
        #expect(setting("retention.daily")?["value"] == "9")
        #expect(setting("dial-timeout")?["layer"] == "default")
        let policy = try #require(json["retentionPolicy"] as? [String: Int])
        #expect(policy == ["keepLast": 2, "daily": 9])
        #expect(json["password"] as? String == "environment ETCDCTL_PASSWORD (set, not shown)")

        let inline = try ConsoleBinary.run(["config", "show", "--config", config.path, "--user", "root:hunter2"])
        #expect(inline.status == 0, "\(inline.output)")
        #expect(!inline.output.contains("hunter2"))
        #expect(inline.stdout.contains("password: given with the user name (visible in ps; prefer ETCDCTL_PASSWORD)"))
        let fromFile = try ConsoleBinary.run(["config", "show", "--config", config.path])
        #expect(fromFile.stdout.contains("password: file /file/password (not shown)"))
    }

    @Test("Bad values in ETCD_CONSOLE_* variables are usage errors naming the variable")
    func badEnvironment() throws {
        let result = try ConsoleBinary.run(["config", "show"], environment: ["ETCD_CONSOLE_EVERY": "45min"])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("error: ETCD_CONSOLE_EVERY \"45min\" does not divide an hour or a day evenly"))
    }

    @Test("snapshot list and prune take the directory and the retention from the config file; flags still win")
    func catalogCommandsReadConfig() async throws {
        let scene = try await CatalogScene.shared.get()
        let dir = try TestDirectories.make("config-catalog")
        let backups = dir.appendingPathComponent("backups")
        try FileManager.default.createDirectory(at: backups, withIntermediateDirectories: true)
        let snapshot = URL(fileURLWithPath: scene.first)
        for day in 1...3 {
            try FileManager.default.copyItem(at: snapshot, to: backups.appendingPathComponent(String(format: "snapshot-202601%02dT000000Z-m.db", day)))
        }
        let config = dir.appendingPathComponent("config.yaml")
        try "dir: \(backups.path)\nretention:\n  keep-last: 2\n".write(to: config, atomically: true, encoding: .utf8)
        let env = ["ETCD_CONSOLE_CONFIG": config.path]
        let list = try ConsoleBinary.run(["snapshot", "list", "-o", "json"], environment: env)
        #expect(list.status == 0, "\(list.output)")
        let entries = try #require(try ConsoleBinary.json(list)["snapshots"] as? [[String: Any]])
        #expect(entries.count == 3)
        let dryRun = try ConsoleBinary.run(["snapshot", "prune", "--dry-run", "-o", "json"], environment: env)
        let plan = try ConsoleBinary.json(dryRun)
        #expect((plan["delete"] as? [[String: Any]])?.count == 1, "\(dryRun.output)")
        let flagWins = try ConsoleBinary.run(["snapshot", "prune", "--dry-run", "--keep-last", "1", "-o", "json"], environment: env)
        #expect((try ConsoleBinary.json(flagWins)["delete"] as? [[String: Any]])?.count == 2, "\(flagWins.output)")
    }

    @Test("A client certificate without its key is refused naming where the certificate came from; the key may come from the file")
    func certificateHalves() throws {
        let alone = try ConsoleBinary.run(["status", "--cert", "/x/client.crt"])
        #expect(alone.status == 2)
        #expect(alone.stderr == "error: cert is set (flag --cert) but key is not: a client certificate needs both; set --key, ETCDCTL_KEY or key in the config file\n")
        let dir = try TestDirectories.make("config-halves")
        let config = dir.appendingPathComponent("config.yaml")
        try "key: /file/client.key\n".write(to: config, atomically: true, encoding: .utf8)
        let halves = try ConsoleBinary.run(["config", "show", "--config", config.path, "--cert", "/x/client.crt", "-o", "json"])
        #expect(halves.status == 0, "\(halves.output)")
        let settings = try #require(try ConsoleBinary.json(halves)["settings"] as? [[String: String]])
        #expect(settings.first { $0["key"] == "key" }?["source"] == "\(config.path):1")
    }
}
