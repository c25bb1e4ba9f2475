import Foundation
import Practice
import Testing
import SnapshotStore

@Suite("Kubernetes values")
struct KubernetesObjectTests {
    @Test("Every generated value decodes back to the metadata it was made with", arguments: [1, 2, 3] as [UInt64])
    func roundTrip(seed: UInt64) {
        var encodings: [KubernetesValueEncoding: Int] = [:]
        for item in KubernetesSampleData(seed: seed, limit: .count(600), encryptedFraction: 0.5) {
            let object = KubernetesObject(etcdKey: item.key, value: item.value)
            #expect(object == item.expected, "\(item.key)")
            #expect(object.problem == nil, "\(item.key): \(object.problem ?? "")")
            encodings[object.encoding, default: 0] += 1
        }
        #expect(encodings[.protobuf, default: 0] > 300)
        #expect(encodings[.json, default: 0] > 10)
        #expect(encodings[.encrypted, default: 0] > 10)
    }

    @Test("The generator is deterministic and a smaller limit gives a prefix")
    func deterministic() {
        let long = Array(KubernetesSampleData(seed: 9, limit: .count(120)))
        let again = Array(KubernetesSampleData(seed: 9, limit: .count(120)))
        let short = Array(KubernetesSampleData(seed: 9, limit: .count(40)))
        let other = Array(KubernetesSampleData(seed: 10, limit: .count(40)))
        #expect(long == again)
        #expect(Array(long.prefix(40)) == short)
        #expect(short != other)
        #expect(Set(long.map(\.key)).count == long.count, "keys are unique")
    }

    @Test("Sizes look like a real cluster's: pods of 3-6 KB, configmaps up to about 100 KB")
    func sizes() {
        let items = Array(KubernetesSampleData(seed: 5, limit: .totalBytes(8_000_000)))
        let total = items.reduce(0) { $0 + $1.key.utf8.count + $1.value.count }
        #expect(total >= 8_000_000 && total < 8_200_000)
        let pods = items.filter { $0.expected.resource == "pods" }.map(\.value.count)
        #expect(!pods.isEmpty && pods.allSatisfy { (3_000...6_500).contains($0) })
        let configMaps = items.filter { $0.expected.resource == "configmaps" }.map(\.value.count)
        #expect(configMaps.max()! > 30_000 && configMaps.max()! <= 101_000)
        let kinds = Set(items.compactMap(\.expected.kind))
        for kind in ["Namespace", "Node", "Pod", "Deployment", "ReplicaSet", "Service", "Endpoints", "ConfigMap",
                     "Secret", "ServiceAccount", "Event", "Lease", "CustomResourceDefinition", "Widget", "Gadget"] {
            #expect(kinds.contains(kind), "\(kind)")
        }
        #expect(items.contains { $0.key == "/registry/namespaces/business" })
        #expect(items.contains { $0.key.hasPrefix("/registry/minions/") })
    }

    @Test("A JSON custom resource is read with its metadata")
    func json() throws {
        let value = """
            {"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1","namespace":"team-a",
            "uid":"0b5a1f6e-4f0e-4a43-9d1e-2f1c6d0e8b11","creationTimestamp":"2024-03-05T07:08:09Z",
            "labels":{"app":"shop","tier":"web"}},"spec":{"size":3}}
            """
        let object = KubernetesObject(etcdKey: "/registry/example.com/widgets/team-a/w1", value: Array(value.utf8))
        #expect(object.encoding == .json)
        #expect(object.resource == "example.com/widgets")
        #expect(object.namespace == "team-a")
        #expect(object.name == "w1")
        #expect(object.kind == "Widget")
        #expect(object.apiVersion == "example.com/v1")
        #expect(object.uid == "0b5a1f6e-4f0e-4a43-9d1e-2f1c6d0e8b11")
        #expect(object.labels == ["app": "shop", "tier": "web"])
        #expect(object.creationTimestamp == Date(timeIntervalSince1970: 1_709_622_489))
        #expect(object.problem == nil)
    }

    @Test("RFC 3339 timestamps with fractions and offsets parse", arguments: [
        ("1970-01-01T00:00:00Z", 0.0),
        ("2024-02-29T23:59:59Z", 1_709_251_199.0),
        ("2024-02-29T23:59:59.5Z", 1_709_251_199.5),
        ("2024-03-01T01:00:00+01:00", 1_709_251_200.0),
        ("1969-12-31T23:00:00-01:00", 0.0),
    ])
    func timestamps(text: String, seconds: Double) {
        let value = #"{"kind":"X","metadata":{"name":"x","creationTimestamp":"\#(text)"}}"#
        let object = KubernetesObject(etcdKey: "/registry/x.io/xs/x", value: Array(value.utf8))
        #expect(object.creationTimestamp == Date(timeIntervalSince1970: seconds))
    }

    @Test("An encrypted value is recognised and never decoded", arguments: [
        ("k8s:enc:aescbc:v1:key1:", "aescbc", "v1", "key1"),
        ("k8s:enc:secretbox:v1:second:", "secretbox", "v1", "second"),
        ("k8s:enc:kms:v2:vault-prod:", "kms", "v2", "vault-prod"),
    ])
    func encrypted(prefix: String, provider: String, version: String, keyName: String) {
        var value = Array(prefix.utf8)
        value += Array("k8s\u{0}".utf8) + [0x0A, 0x0B, 0x01, 0x02, 0x7B]
        let object = KubernetesObject(etcdKey: "/registry/secrets/default/db-password", value: value)
        #expect(object.encoding == .encrypted)
        #expect(object.encryption == KubernetesEncryption(provider: provider, version: version, keyName: keyName))
        #expect(object.kind == nil && object.uid == nil && object.labels.isEmpty)
        #expect(object.name == "db-password" && object.namespace == "default")
        #expect(object.valueSize == value.count)
    }

    @Test("Values that are neither protobuf, JSON nor encrypted are unknown", arguments: [
        [UInt8](), Array("hello".utf8), [0x00, 0x01, 0x02], Array("[1,2,3]".utf8), Array("k8s".utf8),
    ])
    func unknown(value: [UInt8]) {
        let object = KubernetesObject(etcdKey: "/registry/configmaps/default/x", value: value)
        #expect(object.encoding == .unknown)
        #expect(object.problem != nil)
    }

    @Test("A damaged protobuf envelope keeps its encoding and says what is wrong")
    func damagedProtobuf() throws {
        let item = try #require(Array(KubernetesSampleData(seed: 1, limit: .count(20))).first { $0.expected.resource == "pods" })
        let cut = Array(item.value.prefix(item.value.count / 2))
        let object = KubernetesObject(etcdKey: item.key, value: cut)
        #expect(object.encoding == .protobuf)
        #expect(object.problem?.contains("malformed protobuf") == true)
        #expect(object.name == item.expected.name)
    }

    @Test("Random bytes never crash the decoder", arguments: [11, 12, 13] as [UInt64])
    func randomBytes(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let samples = Array(KubernetesSampleData(seed: seed, limit: .count(60)))
        for round in 0..<2_000 {
            var value: [UInt8]
            switch round % 3 {
            case 0:
                value = random.bytes(random.next(below: 300))
            case 1:
                value = KubernetesObject.protobufMagic + random.bytes(random.next(below: 300))
            default:
                value = samples[random.next(below: samples.count)].value
                for _ in 0...random.next(below: 8) where !value.isEmpty {
                    value[random.next(below: value.count)] = UInt8(truncatingIfNeeded: random.next())
                }
                if random.next(below: 2) == 0 { value = Array(value.prefix(random.next(below: value.count + 1))) }
            }
            let object = KubernetesObject(etcdKey: "/registry/pods/default/p\(round)", value: value)
            #expect(object.valueSize == value.count)
        }
    }
}
