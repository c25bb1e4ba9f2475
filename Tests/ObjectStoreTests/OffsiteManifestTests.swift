import Foundation
import Testing
@testable import ObjectStore

@Suite("Offsite object layout and manifest")
struct OffsiteManifestTests {
    static let taken = Date(timeIntervalSince1970: 1_795_000_000)   // 2026-11-18T11:06:40Z

    @Test("Object and manifest keys follow <prefix>/<cluster>/<member>/<UTC time>-r<revision>.db.zst[.age]")
    func keys() {
        let layout = OffsiteObjectLayout(prefix: "/etcd-backups/", clusterId: "cdf818194e3a8c32", member: "master-1",
                                         takenAt: Self.taken, revision: 4711, encrypted: true)
        #expect(layout.objectKey == "etcd-backups/cdf818194e3a8c32/master-1/20261118T110640Z-r4711.db.zst.age")
        #expect(layout.manifestKey == layout.objectKey + ".manifest.json")
        var plain = layout
        plain.prefix = ""
        plain.encrypted = false
        #expect(plain.objectKey == "cdf818194e3a8c32/master-1/20261118T110640Z-r4711.db.zst")
    }

    @Test("A manifest survives a JSON round trip, with snake_case keys and an ISO 8601 time")
    func roundTrip() throws {
        let manifest = OffsiteManifest(clusterId: "cdf818194e3a8c32", memberId: "8e9e05c52164694d", memberName: "master-1",
                                       revision: 4711, etcdVersion: "3.5.1", takenAt: Self.taken,
                                       dbSHA256: String(repeating: "a", count: 64), dbSize: 20_480,
                                       objectSHA256: String(repeating: "b", count: 64), objectSize: 3_100,
                                       codec: .zstdAge, ageRecipients: ["sha256:0123456789abcdef0123456789abcdef"],
                                       etcdConsoleVersion: "0.9.0")
        let data = try manifest.encoded()
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"taken_at\" : \"2026-11-18T11:06:40Z\""))
        #expect(text.contains("\"codec\" : \"zstd+age\""))
        #expect(try OffsiteManifest.decode(data, key: "k") == manifest)
    }

    @Test("A damaged or newer-format manifest is refused with the key")
    func badManifest() throws {
        do {
            _ = try OffsiteManifest.decode(Data("{\"format\": 1".utf8), key: "p/c/m/x.manifest.json")
            Issue.record("a damaged manifest was read")
        } catch {
            #expect(error.detail.hasPrefix("manifest p/c/m/x.manifest.json is not a valid etcd-console manifest: "))
        }
        var json = try JSONSerialization.jsonObject(with: OffsiteManifest(
            clusterId: "c", memberId: "m", memberName: "n", revision: 1, etcdVersion: "3.5.1", takenAt: Self.taken,
            dbSHA256: "", dbSize: 0, objectSHA256: "", objectSize: 0, codec: .zstd, ageRecipients: [],
            etcdConsoleVersion: "x").encoded()) as! [String: Any]
        json["format"] = 2
        let newer = try JSONSerialization.data(withJSONObject: json)
        do {
            _ = try OffsiteManifest.decode(newer, key: "k2")
            Issue.record("a newer manifest was read")
        } catch {
            #expect(error.detail == "manifest k2 has format 2; this etcd-console reads format 1: upgrade etcd-console")
        }
    }
}
