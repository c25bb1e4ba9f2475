import Operations
import Testing

@Suite("Config file parsing")
struct ConfigFileTests {
    static let path = "/etc/etcd-console/config.yaml"

    @Test("A full file is read with each value's line; lists and comma strings both work")
    func fullFile() throws {
        let text = """
        # comment
        endpoints:
          - https://10.0.0.5:2379
          - https://10.0.0.6:2379
        cacert: /etc/kubernetes/pki/etcd/ca.crt
        cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
        key: /etc/kubernetes/pki/etcd/healthcheck-client.key
        insecure-skip-tls-verify: no
        dir: /backup/etcd
        retention:
          keep-last: 12
          daily: 7
        schedule:
          every: 60min
        metrics-file: /var/lib/prometheus/node-exporter/etcd-console.prom
        """
        let file = try ConfigFile.parse(text, path: Self.path)
        #expect(file.values[.endpoints] == .init(text: "https://10.0.0.5:2379,https://10.0.0.6:2379", line: 2))
        #expect(file.values[.cacert]?.line == 5)
        #expect(file.values[.insecureSkipTLSVerify]?.text == "false")
        #expect(file.values[.keepLast] == .init(text: "12", line: 11))
        #expect(file.values[.daily]?.text == "7")
        #expect(file.values[.hourly] == nil)
        #expect(file.values[.every] == .init(text: "1h", line: 14))
        let comma = try ConfigFile.parse("endpoints: http://a:2379, http://b:2379\n", path: Self.path)
        #expect(comma.values[.endpoints]?.text == "http://a:2379,http://b:2379")
    }

    @Test("An empty file, or one with only comments, sets nothing")
    func empty() throws {
        #expect(try ConfigFile.parse("", path: Self.path).values.isEmpty)
        #expect(try ConfigFile.parse("# nothing here\n#dir: /x\nretention:\n", path: Self.path).values.isEmpty)
    }

    @Test("Bad files are refused with the file, the line and the key", arguments: [
        ("dir: /backup\nretension:\n  keep-last: 3\n",
         "/etc/etcd-console/config.yaml:2: unknown key \"retension\"; did you mean \"retention\"?"),
        ("endpoints: http://a:2379\nfoo: bar\n",
         "/etc/etcd-console/config.yaml:2: unknown key \"foo\" (known keys here:"),
        ("keep-last: 3\n",
         "/etc/etcd-console/config.yaml:1: unknown key \"keep-last\"; it belongs under \"retention:\""),
        ("retention:\n  keep-last: six\n",
         "/etc/etcd-console/config.yaml:2: retention.keep-last must be a whole number 0 or more, not \"six\""),
        ("retention:\n  hourly: -1\n",
         "/etc/etcd-console/config.yaml:2: retention.hourly must be a whole number 0 or more, not \"-1\""),
        ("retention:\n  every: 1h\n",
         "/etc/etcd-console/config.yaml:2: unknown key \"retention.every\""),
        ("retention: 6\n",
         "/etc/etcd-console/config.yaml:1: retention must be a mapping (indented keys under \"retention:\"), not a single value"),
        ("dir: backups\n",
         "/etc/etcd-console/config.yaml:1: dir must be an absolute path (starting with /), not \"backups\""),
        ("\n\ncacert:\n  file: /x\n",
         "/etc/etcd-console/config.yaml:3: cacert must be a single value, not a mapping"),
        ("insecure-skip-tls-verify: maybe\n",
         "/etc/etcd-console/config.yaml:1: insecure-skip-tls-verify must be true or false, not \"maybe\""),
        ("dial-timeout: soon\n",
         "/etc/etcd-console/config.yaml:1: dial-timeout must be a duration such as 500ms, 3s or 2m, not \"soon\""),
        ("schedule:\n  every: 7min\n",
         "/etc/etcd-console/config.yaml:2: schedule.every \"7min\" does not divide an hour or a day evenly"),
        ("- dir\n- /x\n",
         "/etc/etcd-console/config.yaml:1: the file must be a mapping of keys to values (key: value)"),
        ("dir: /x\n  bad: [\n",
         "/etc/etcd-console/config.yaml:2: not valid YAML:"),
        ("dir: /a\ndir: /b\n",
         "/etc/etcd-console/config.yaml:1: not valid YAML: duplicate keys dir"),
    ])
    func refused(text: String, expected: String) {
        #expect(throws: ConfigurationError.self) { try ConfigFile.parse(text, path: Self.path) }
        do {
            _ = try ConfigFile.parse(text, path: Self.path)
        } catch {
            #expect(error.message.hasPrefix(expected), "\(error.message)")
            #expect(error.file == Self.path)
        }
    }

    @Test("A missing file named explicitly is an error that says so")
    func missing() {
        do {
            _ = try ConfigFile.load(path: "/nonexistent/etcd-console.yaml")
            Issue.record("a missing file was accepted")
        } catch {
            #expect(error.message == "could not read /nonexistent/etcd-console.yaml: no such file")
        }
    }
}
