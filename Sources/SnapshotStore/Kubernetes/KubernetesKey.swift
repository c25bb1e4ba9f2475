/// Where a Kubernetes object lives in etcd: `/registry/<resource>/<namespace>/<name>` for namespaced
/// kinds, `/registry/<resource>/<name>` for cluster-scoped ones. A resource is one segment (`pods`), two
/// for a few built-ins (`services/specs`, `services/endpoints`), or `<group>/<plural>` for API groups
/// stored under their group (`apiextensions.k8s.io/customresourcedefinitions`, custom resources).
public struct KubernetesKey: Sendable, Hashable, CustomStringConvertible {
    public var resource: String
    /// Nil for cluster-scoped objects.
    public var namespace: String?
    public var name: String

    public static let defaultPrefix = "/registry"

    public init(resource: String, namespace: String?, name: String) {
        self.resource = resource
        self.namespace = namespace
        self.name = name
    }

    /// Parses an etcd key; nil when it is not a Kubernetes object key under `prefix`, or when its shape
    /// contradicts what is known about the resource's scope.
    public init?(_ key: String, prefix: String = KubernetesKey.defaultPrefix) {
        var trimmedPrefix = Substring(prefix)
        while trimmedPrefix.hasSuffix("/") { trimmedPrefix = trimmedPrefix.dropLast() }
        guard key.hasPrefix(trimmedPrefix + "/") else { return nil }
        let segments = key.dropFirst(trimmedPrefix.count + 1).split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count >= 2, segments.allSatisfy({ !$0.isEmpty }) else { return nil }

        var resourceSegments = 1
        if segments[0].contains(".") || Self.twoSegmentResources.contains("\(segments[0])/\(segments[1])") {
            resourceSegments = 2
        }
        let rest = segments.count - resourceSegments
        guard rest == 1 || rest == 2 else { return nil }
        let resource = segments[0..<resourceSegments].joined(separator: "/")
        if let scope = Self.knownScope(of: resource) {
            guard (scope == .namespaced) == (rest == 2) else { return nil }
        }
        self.resource = resource
        namespace = rest == 2 ? String(segments[resourceSegments]) : nil
        name = String(segments[segments.count - 1])
    }

    public var isClusterScoped: Bool { namespace == nil }

    /// The etcd key under `prefix`.
    public func etcdKey(prefix: String = KubernetesKey.defaultPrefix) -> String {
        var trimmedPrefix = Substring(prefix)
        while trimmedPrefix.hasSuffix("/") { trimmedPrefix = trimmedPrefix.dropLast() }
        if let namespace { return "\(trimmedPrefix)/\(resource)/\(namespace)/\(name)" }
        return "\(trimmedPrefix)/\(resource)/\(name)"
    }

    public var description: String {
        if let namespace { return "\(resource) \(namespace)/\(name)" }
        return "\(resource) \(name)"
    }

    // MARK: - What is known about built-in resources

    public enum Scope: Sendable {
        case namespaced, clusterScoped
    }

    /// The scope of a built-in resource (by its storage path), or nil for resources not in the tables
    /// (custom resources: their key shape tells).
    public static func knownScope(of resource: String) -> Scope? {
        if clusterScopedResources.contains(resource) { return .clusterScoped }
        if namespacedResources.contains(resource) { return .namespaced }
        return nil
    }

    /// Resources stored under two path segments.
    public static let twoSegmentResources: Set<String> = [
        "services/specs", "services/endpoints",
    ]

    /// Cluster-scoped built-ins, as their storage paths spell them (nodes are stored as `minions`).
    public static let clusterScopedResources: Set<String> = [
        "namespaces", "minions", "persistentvolumes", "clusterroles", "clusterrolebindings",
        "storageclasses", "priorityclasses", "csidrivers", "csinodes", "volumeattachments",
        "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
        "validatingadmissionpolicies", "validatingadmissionpolicybindings",
        "certificatesigningrequests", "runtimeclasses", "ingressclasses", "podsecuritypolicy",
        "flowschemas", "prioritylevelconfigurations", "masterleases", "ranges",
        "apiextensions.k8s.io/customresourcedefinitions", "apiregistration.k8s.io/apiservices",
        "clustercidrs", "ipaddresses", "servicecidrs", "storageversionmigrations", "volumeattributesclasses",
        "resourceslices", "deviceclasses",
    ]

    /// Namespaced built-ins, as their storage paths spell them.
    public static let namespacedResources: Set<String> = [
        "pods", "services/specs", "services/endpoints", "endpointslices", "configmaps", "secrets",
        "serviceaccounts", "events", "leases", "limitranges", "resourcequotas", "podtemplates",
        "persistentvolumeclaims", "controllers", "deployments", "replicasets", "statefulsets",
        "daemonsets", "controllerrevisions", "jobs", "cronjobs", "horizontalpodautoscalers",
        "poddisruptionbudgets", "roles", "rolebindings", "networkpolicies", "ingress",
        "csistoragecapacities", "resourceclaims", "resourceclaimtemplates", "podschedulingcontexts",
    ]
}
