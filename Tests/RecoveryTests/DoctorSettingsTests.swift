import EtcdTestSupport
import Foundation
import Testing
@testable import Recovery

/// The doctor on the settings restore uses: a missing data dir is one finding naming where the path came from;
/// the quota is the one etcd runs with (`--quota-backend-bytes`, discovered), with its source.
@Suite("Doctor: data dir and quota from the one settings value")
struct DoctorSettingsTests {
    @Test("No data dir: one finding \"no data dir at X (from <source>)\", not a critical per missing file")
    func missingDataDir() throws {
        let root = try TestDirectories.make("doctor-missing")
        let missing = root.appendingPathComponent("nothing-here").path
        let report = DataDirDoctor(dataDir: missing, backupDirectory: root.appendingPathComponent("backups").path,
                                   dataDirSource: "discovered: Environment=ETCD_DATA_DIR in /lib/systemd/system/etcd.service").examine()
        let dataDirFindings = report.findings.filter { !$0.code.hasPrefix("backup") && $0.code != "restore-candidate" }
        #expect(dataDirFindings.map(\.code) == ["data-dir-missing"], "\(report.findings)")
        #expect(dataDirFindings.first?.message == "no data dir at \(missing) (from discovered: Environment=ETCD_DATA_DIR in /lib/systemd/system/etcd.service)")
        #expect(dataDirFindings.first?.severity == .warning)
        #expect(!report.findings.contains { $0.severity == .critical && !$0.code.hasPrefix("backup") })
        #expect(report.recommendation.hasPrefix("Nothing to examine at \(missing)"))
        #expect(!report.recommendation.contains("No action needed"))
    }

    @Test("doctor --data-dir on a missing dir prints the one finding with the flag as its source")
    func missingDataDirCommand() throws {
        let root = try TestDirectories.make("doctor-missing-cli")
        let missing = root.appendingPathComponent("gone").path
        let result = try EtcdConsoleBinary.run(["doctor", "--data-dir", missing, "--dir", root.path,
                                                "--discovery-root", root.appendingPathComponent("no-root").path])
        #expect(result.stdout.hasPrefix("WARNING data-dir-missing: no data dir at \(missing) (from flag --data-dir)\n"), "\(result.output)")
        #expect(!result.stdout.contains("CRITICAL snap"), "\(result.stdout)")
    }

    @Test("The quota etcd runs with comes from its unit, and the finding says so")
    func discoveredQuota() async throws {
        let etcd = try await DoctorFixtures.shared.pristine(.v3_5).etcd
        let root = try TestDirectories.make("doctor-quota")
        let units = root.appendingPathComponent("etc/systemd/system")
        try FileManager.default.createDirectory(at: units, withIntermediateDirectories: true)
        try Data("[Service]\nExecStart=/usr/bin/etcd --data-dir \(etcd.dataDir.path) --quota-backend-bytes 8589934592\n".utf8)
            .write(to: units.appendingPathComponent("etcd.service"))
        let result = try EtcdConsoleBinary.run(["doctor", "--dir", root.path, "--discovery-root", root.path, "-o", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.output)")
        let findings = try #require(object["findings"] as? [[String: String]])
        let size = try #require(findings.first { $0["code"] == "db-size" }, "\(findings)")
        #expect(size["message"]?.contains("of a 8.6 GB quota (--quota-backend-bytes from discovered: ExecStart in /etc/systemd/system/etcd.service)") == true,
                "\(size)")
        let flagged = try EtcdConsoleBinary.run(["doctor", "--dir", root.path, "--discovery-root", root.path, "--quota-backend-bytes", "4294967296"])
        #expect(flagged.stdout.contains("quota (--quota-backend-bytes from flag --quota-backend-bytes)"), "\(flagged.output)")
    }
}
