import Foundation
import SystemSupport
import SnapshotStore

/// Deterministic, realistic-looking Kubernetes objects as kube-apiserver would store them in etcd, for
/// the demo, benchmarks and tests. The same seed and settings always give the same items, and a smaller
/// limit gives a prefix of a larger one.
///
/// The mix: cluster-scoped namespaces and nodes first, a few CRDs, then pods, deployments, replicasets,
/// services (specs and endpoints), configmaps, secrets, serviceaccounts, events, leases and JSON custom
/// resources spread over the namespaces. Values are "k8s\0" + runtime.Unknown envelopes whose object
/// carries a real ObjectMeta plus filler fields sized like real objects (pods 3-6 KB, configmaps up to
/// ~100 KB); custom resources are JSON; a chosen fraction of the chosen resources is stored as
/// `k8s:enc:aescbc:v1:key1:` + random bytes, as if encrypted at rest.
public struct KubernetesSampleData: Sequence, Sendable {
    public struct Item: Sendable, Equatable {
        public var key: String
        public var value: [UInt8]
        /// What `KubernetesObject(etcdKey:value:)` must read back from this item.
        public var expected: KubernetesObject
    }

    public enum Limit: Sendable, Equatable {
        /// Stop after this many items.
        case count(Int)
        /// Stop once keys and values add up to at least this many bytes.
        case totalBytes(Int)
    }

    public var seed: UInt64
    public var limit: Limit
    public var namespaces: [String]
    public var nodes: Int
    /// Fraction (0...1) of `encryptedResources` objects stored encrypted.
    public var encryptedFraction: Double
    public var encryptedResources: Set<String>
    public var prefix: String
    /// When set, every protobuf object is about this many bytes whatever its kind (the bench's 300,000 objects of
    /// 2 KB); nil: sized by kind as above.
    public var objectSize: Int?

    public init(seed: UInt64 = 1, limit: Limit, namespaces: [String] = ["default", "kube-system", "business"],
                nodes: Int = 3, encryptedFraction: Double = 0, encryptedResources: Set<String> = ["secrets"],
                prefix: String = KubernetesKey.defaultPrefix) {
        self.seed = seed
        self.limit = limit
        self.namespaces = namespaces.isEmpty ? ["default"] : namespaces
        self.nodes = nodes
        self.encryptedFraction = encryptedFraction
        self.encryptedResources = encryptedResources
        self.prefix = prefix
    }

    public func makeIterator() -> Iterator {
        Iterator(settings: self)
    }

    public struct Iterator: IteratorProtocol, Sendable {
        private let settings: KubernetesSampleData
        private var random: SplitMix64
        private var emitted = 0
        private var emittedBytes = 0
        private var plan: [Plan] = []
        private var serial = 0

        init(settings: KubernetesSampleData) {
            self.settings = settings
            random = SplitMix64(seed: settings.seed)
            for namespace in settings.namespaces { plan.append(.namespace(namespace)) }
            for index in 0..<Swift.max(0, settings.nodes) { plan.append(.node(index)) }
            plan.append(.crd("widgets", "example.com", namespaced: true))
            plan.append(.crd("gadgets", "tools.example.org", namespaced: false))
            plan.reverse()
        }

        public mutating func next() -> Item? {
            switch settings.limit {
            case .count(let count): guard emitted < count else { return nil }
            case .totalBytes(let total): guard emittedBytes < total else { return nil }
            }
            let item = plan.popLast().map { make($0) } ?? makeNamespacedOrCustom()
            emitted += 1
            emittedBytes += item.key.utf8.count + item.value.count
            return item
        }

        // MARK: - What to make

        private enum Plan {
            case namespace(String)
            case node(Int)
            case crd(String, String, namespaced: Bool)
        }

        private enum Kind: CaseIterable {
            case pod, deployment, replicaSet, service, endpoints, configMap, secret, serviceAccount, event, lease
            case widget, gadget
        }

        private static let weights: [(Kind, Int)] = [
            (.pod, 26), (.deployment, 6), (.replicaSet, 8), (.service, 5), (.endpoints, 5), (.configMap, 12),
            (.secret, 10), (.serviceAccount, 6), (.event, 12), (.lease, 4), (.widget, 4), (.gadget, 2),
        ]

        private mutating func makeNamespacedOrCustom() -> Item {
            var pick = Int(random.next(below: 100))
            var kind = Kind.pod
            for (candidate, weight) in Self.weights {
                if pick < weight {
                    kind = candidate
                    break
                }
                pick -= weight
            }
            let namespace = settings.namespaces[Int(random.next(below: UInt64(settings.namespaces.count)))]
            serial += 1
            switch kind {
            case .pod: return pod(namespace)
            case .deployment: return workload(namespace, resource: "deployments", kind: "Deployment", apiVersion: "apps/v1", size: 2000...4000)
            case .replicaSet: return workload(namespace, resource: "replicasets", kind: "ReplicaSet", apiVersion: "apps/v1", size: 1800...3500)
            case .service: return simple(namespace, resource: "services/specs", kind: "Service", apiVersion: "v1", name: "svc", size: 700...1500)
            case .endpoints: return simple(namespace, resource: "services/endpoints", kind: "Endpoints", apiVersion: "v1", name: "svc", size: 400...1200)
            case .configMap: return configMap(namespace)
            case .secret: return secret(namespace)
            case .serviceAccount: return simple(namespace, resource: "serviceaccounts", kind: "ServiceAccount", apiVersion: "v1", name: "sa", size: 200...500)
            case .event: return simple(namespace, resource: "events", kind: "Event", apiVersion: "v1", name: "event", size: 600...1300)
            case .lease: return simple(namespace, resource: "leases", kind: "Lease", apiVersion: "coordination.k8s.io/v1", name: "lease", size: 150...400)
            case .widget: return customResource(namespace: namespace)
            case .gadget: return customResource(namespace: nil)
            }
        }

        private mutating func make(_ plan: Plan) -> Item {
            switch plan {
            case .namespace(let name):
                return protobufItem(key: KubernetesKey(resource: "namespaces", namespace: nil, name: name),
                                    kind: "Namespace", apiVersion: "v1",
                                    labels: ["kubernetes.io/metadata.name": name], fillerSize: 120...300)
            case .node(let index):
                let name = "node-\(index + 1)"
                return protobufItem(key: KubernetesKey(resource: "minions", namespace: nil, name: name),
                                    kind: "Node", apiVersion: "v1",
                                    labels: ["kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                             "node-role.kubernetes.io/control-plane": index == 0 ? "" : "worker"],
                                    fillerSize: 8000...15000)
            case .crd(let plural, let group, let namespaced):
                return protobufItem(
                    key: KubernetesKey(resource: "apiextensions.k8s.io/customresourcedefinitions", namespace: nil,
                                       name: "\(plural).\(group)"),
                    kind: "CustomResourceDefinition", apiVersion: "apiextensions.k8s.io/v1",
                    labels: ["scope": namespaced ? "Namespaced" : "Cluster"], fillerSize: 2000...6000)
            }
        }

        private mutating func pod(_ namespace: String) -> Item {
            let app = Self.apps[Int(random.next(below: UInt64(Self.apps.count)))]
            let name = "\(app)-\(random.hex(10))-\(random.alnum(5))"
            return protobufItem(key: KubernetesKey(resource: "pods", namespace: namespace, name: name),
                                kind: "Pod", apiVersion: "v1",
                                labels: ["app": app, "pod-template-hash": random.hex(10), "tier": Self.tiers[Int(random.next(below: 3))]],
                                fillerSize: 3000...6000)
        }

        private mutating func workload(_ namespace: String, resource: String, kind: String, apiVersion: String,
                                       size: ClosedRange<Int>) -> Item {
            let app = Self.apps[Int(random.next(below: UInt64(Self.apps.count)))]
            let name = resource == "replicasets" ? "\(app)-\(serial)-\(random.hex(10))" : "\(app)-\(serial)"
            return protobufItem(key: KubernetesKey(resource: resource, namespace: namespace, name: name),
                                kind: kind, apiVersion: apiVersion, labels: ["app": app], fillerSize: size)
        }

        private mutating func simple(_ namespace: String, resource: String, kind: String, apiVersion: String,
                                     name: String, size: ClosedRange<Int>) -> Item {
            let app = Self.apps[Int(random.next(below: UInt64(Self.apps.count)))]
            let suffix = kind == "Event" ? ".\(random.hex(16))" : ""
            return protobufItem(key: KubernetesKey(resource: resource, namespace: namespace, name: "\(app)-\(name)-\(serial)\(suffix)"),
                                kind: kind, apiVersion: apiVersion,
                                labels: kind == "Event" ? [:] : ["app": app], fillerSize: size)
        }

        private mutating func configMap(_ namespace: String) -> Item {
            // Mostly small, some medium, a few large.
            let roll = random.next(below: 100)
            let size = roll < 80 ? 500...4000 : roll < 95 ? 4000...30000 : 30000...100_000
            let app = Self.apps[Int(random.next(below: UInt64(Self.apps.count)))]
            return protobufItem(key: KubernetesKey(resource: "configmaps", namespace: namespace, name: "\(app)-config-\(serial)"),
                                kind: "ConfigMap", apiVersion: "v1", labels: ["app": app], fillerSize: size)
        }

        private mutating func secret(_ namespace: String) -> Item {
            let app = Self.apps[Int(random.next(below: UInt64(Self.apps.count)))]
            return protobufItem(key: KubernetesKey(resource: "secrets", namespace: namespace, name: "\(app)-credentials-\(serial)"),
                                kind: "Secret", apiVersion: "v1", labels: ["app": app], fillerSize: 300...3000)
        }

        private mutating func customResource(namespace: String?) -> Item {
            let (resource, kind, apiVersion) = namespace == nil
                ? ("tools.example.org/gadgets", "Gadget", "tools.example.org/v1")
                : ("example.com/widgets", "Widget", "example.com/v1alpha1")
            let key = KubernetesKey(resource: resource, namespace: namespace, name: "\(kind.lowercased())-\(serial)")
            let uid = random.uuid()
            let created = creationDate()
            let labels = ["app": Self.apps[Int(random.next(below: UInt64(Self.apps.count)))]]
            var metadata: [String: Any] = ["name": key.name, "uid": uid,
                                           "creationTimestamp": Self.rfc3339(created), "labels": labels,
                                           "resourceVersion": "\(serial)", "generation": 1]
            if let namespace { metadata["namespace"] = namespace }
            let object: [String: Any] = ["apiVersion": apiVersion, "kind": kind, "metadata": metadata,
                                         "spec": ["size": Int(random.next(below: 10)) + 1, "color": random.alnum(8),
                                                  "notes": random.text(Int(random.next(below: 800)) + 100)]]
            let value = Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
            let expected = KubernetesObject(etcdKey: key.etcdKey(prefix: settings.prefix), resource: key.resource,
                                            namespace: namespace, name: key.name, kind: kind, apiVersion: apiVersion,
                                            uid: uid, creationTimestamp: created, labels: labels,
                                            valueSize: value.count, encoding: .json)
            return Item(key: expected.etcdKey, value: value, expected: expected)
        }

        // MARK: - Encoding

        private mutating func protobufItem(key: KubernetesKey, kind: String, apiVersion: String,
                                           labels: [String: String], fillerSize: ClosedRange<Int>) -> Item {
            let uid = random.uuid()
            let created = creationDate()
            let etcdKey = key.etcdKey(prefix: settings.prefix)
            let sizes = settings.objectSize.map { $0...$0 } ?? fillerSize
            let target = sizes.lowerBound + Int(random.next(below: UInt64(sizes.count)))

            var object = ProtobufWriter(reservingCapacity: target + 512)
            object.message(1) { meta in
                meta.field(1, string: key.name)
                if let namespace = key.namespace { meta.field(3, string: namespace) }
                meta.field(5, string: uid)
                meta.field(6, string: "\(1000 + serial)")
                meta.message(8) { time in
                    time.field(1, int64: Int64(created.timeIntervalSince1970))
                }
                for (name, value) in labels.sorted(by: { $0.key < $1.key }) {
                    meta.mapEntry(11, key: name, value: value)
                }
            }
            // Filler shaped like a spec (field 2) and status (field 3): nested strings.
            var body = ProtobufWriter(reservingCapacity: target)
            while object.count + body.count < target {
                let chunk = Swift.min(200, Swift.max(8, target - object.count - body.count))
                if kind == "Secret" {
                    body.message(2) { entry in
                        entry.field(1, string: random.alnum(8))
                        entry.field(2, bytes: random.bytes(chunk))
                    }
                } else {
                    body.message(2) { entry in
                        entry.field(1, string: random.alnum(12))
                        entry.field(2, string: random.text(chunk))
                    }
                }
            }
            var bytes = object.bytes
            bytes.append(contentsOf: body.bytes)

            var envelope = ProtobufWriter(reservingCapacity: bytes.count + 64)
            envelope.raw(KubernetesObject.protobufMagic)
            envelope.message(1) { typeMeta in
                typeMeta.field(1, string: apiVersion)
                typeMeta.field(2, string: kind)
            }
            envelope.field(2, bytes: bytes)
            envelope.field(3, string: "")
            envelope.field(4, string: "")

            if settings.encryptedFraction > 0, settings.encryptedResources.contains(key.resource),
               random.nextUnit() < settings.encryptedFraction {
                var sealed = Array("k8s:enc:aescbc:v1:key1:".utf8)
                sealed.append(contentsOf: random.bytes(16 + (envelope.count + 16) / 16 * 16))
                let expected = KubernetesObject(etcdKey: etcdKey, resource: key.resource, namespace: key.namespace,
                                                name: key.name, valueSize: sealed.count, encoding: .encrypted,
                                                encryption: KubernetesEncryption(provider: "aescbc", version: "v1", keyName: "key1"))
                return Item(key: etcdKey, value: sealed, expected: expected)
            }
            let value = envelope.bytes
            let expected = KubernetesObject(etcdKey: etcdKey, resource: key.resource, namespace: key.namespace,
                                            name: key.name, kind: kind, apiVersion: apiVersion, uid: uid,
                                            creationTimestamp: created, labels: labels, valueSize: value.count,
                                            encoding: .protobuf)
            return Item(key: etcdKey, value: value, expected: expected)
        }

        /// Whole seconds within 2024, as Kubernetes stores creation timestamps.
        private mutating func creationDate() -> Date {
            Date(timeIntervalSince1970: 1_704_067_200 + Double(random.next(below: 365 * 86_400)))
        }

        static func rfc3339(_ date: Date) -> String {
            UTCCalendar.internetDateTime(Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.towardZero)))
        }

        static let apps = ["web", "api", "worker", "cache", "billing", "auth", "search", "ingest", "metrics", "frontend",
                           "coredns", "kube-proxy", "etcd-backup", "payments", "orders", "inventory"]
        static let tiers = ["frontend", "backend", "data"]
    }
}

/// SplitMix64: small, fast, and the same on every platform, so sample data is reproducible.
struct SplitMix64: Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound > 0).
    mutating func next(below bound: UInt64) -> UInt64 {
        next().multipliedFullWidth(by: bound).high
    }

    /// Uniform in [0, 1).
    mutating func nextUnit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(count + 8)
        while result.count < count {
            withUnsafeBytes(of: next()) { result.append(contentsOf: $0) }
        }
        result.removeLast(result.count - count)
        return result
    }

    private static let alphanumerics = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)
    private static let words = ["the", "container", "image", "volume", "mount", "path", "port", "env", "value",
                                "limit", "request", "memory", "cpu", "probe", "ready", "http", "get", "tcp",
                                "restart", "policy", "always", "node", "selector", "annotation", "label",
                                "service", "account", "token", "config", "map", "secret", "key"]

    mutating func alnum(_ count: Int) -> String {
        String(decoding: (0..<count).map { _ in Self.alphanumerics[Int(next(below: 36))] }, as: UTF8.self)
    }

    mutating func hex(_ count: Int) -> String {
        String(decoding: (0..<count).map { _ in Self.hexDigits[Int(next(below: 16))] }, as: UTF8.self)
    }

    /// Word soup of about `count` bytes.
    mutating func text(_ count: Int) -> String {
        var text = ""
        text.reserveCapacity(count + 16)
        while text.utf8.count < count {
            if !text.isEmpty { text += " " }
            text += Self.words[Int(next(below: UInt64(Self.words.count)))]
        }
        return String(text.prefix(count))
    }

    mutating func uuid() -> String {
        let digits = hex(32)
        var characters = Array(digits)
        characters[12] = "4"
        characters[16] = ["8", "9", "a", "b"][Int(next(below: 4))]
        let text = String(characters)
        func slice(_ from: Int, _ to: Int) -> Substring {
            text[text.index(text.startIndex, offsetBy: from)..<text.index(text.startIndex, offsetBy: to)]
        }
        return "\(slice(0, 8))-\(slice(8, 12))-\(slice(12, 16))-\(slice(16, 20))-\(slice(20, 32))"
    }
}
