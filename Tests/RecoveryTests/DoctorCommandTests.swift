import EtcdTestSupport
import Foundation
import Testing
@testable import Recovery

@Suite("Doctor: the etcd-console doctor command and the real etcd")
struct DoctorCommandTests {
    @Test("doctor -o json on a healthy data dir exits 0; on the founding failure it exits 1 and names snap-db-missing")
    func json() async throws {
        let c = try await DoctorCase.make(.v3_5)
        defer { c.remove() }
        let healthy = try EtcdConsoleBinary.run(["doctor", "--data-dir", c.dataDir, "--dir", c.backupDir, "-o", "json"])
        #expect(healthy.status == 0, "\(healthy.output)")

        try makeDatabaseBehindSnapshot(dataDir: c.dataDir)
        let result = try EtcdConsoleBinary.run(["doctor", "--data-dir", c.dataDir, "--dir", c.backupDir, "-o", "json"])
        #expect(result.status == 1, "\(result.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                                  "not a JSON object: \(result.stdout)")
        #expect(Set(object.keys) == ["findings", "recommendation"])
        let findings = try #require(object["findings"] as? [[String: String]])
        #expect(findings.allSatisfy { Set($0.keys) == ["severity", "code", "message", "action"] })
        #expect(findings.contains { $0["code"] == "snap-db-missing" && $0["severity"] == "critical" })
        let recommendation = try #require(object["recommendation"] as? String)
        #expect(recommendation.contains("etcd-console restore \(c.backupDir)/\(c.pristine.backupName)"))

        let table = try EtcdConsoleBinary.run(["doctor", "--data-dir", c.dataDir, "--dir", c.backupDir])
        #expect(table.status == 1)
        #expect(table.stdout.contains("CRITICAL snap-db-missing: "))
        #expect(table.stdout.contains("\n  -> Restore from the newest good snapshot"))
    }

    @Test("The real etcd refuses to start on the data dir the doctor calls snap-db-missing",
          arguments: [EtcdVersion.v3_4, .v3_5])
    func etcdRefusesToStart(version: EtcdVersion) async throws {
        let etcd = try await DoctorFixtures.shared.pristine(version).etcd
        let made = try makeDatabaseBehindSnapshot(dataDir: etcd.dataDir.path)
        let report = DataDirDoctor(dataDir: etcd.dataDir.path, backupDirectory: nil).examine()
        #expect(report.severity("snap-db-missing") == .critical, "\(report.summary)")

        var started = false
        do {
            try await etcd.restart()
            started = true
        } catch {}
        await etcd.stop()
        #expect(!started, "etcd \(version.rawValue) started although \(made.name) has no .snap.db")
        let log = (try? String(contentsOf: etcd.logFile, encoding: .utf8)) ?? ""
        #expect(log.contains("failed to find database snapshot file"), "log tail: \(log.suffix(2000))")
    }
}
