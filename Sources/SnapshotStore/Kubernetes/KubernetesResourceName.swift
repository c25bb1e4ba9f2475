/// The names kubectl users type for a resource (`services`, `svc`, `service`), and the name kube-apiserver
/// stores it under in etcd (`services/specs`). Most are the same; the ones that are not are why
/// `--resource nodes` used to find nothing: nodes are stored as `minions`, services as `services/specs`,
/// endpoints as `services/endpoints`, ingresses as `ingress`, CRDs under their group.
public struct KubernetesResourceName: Sendable, Equatable {
    /// The plural `kubectl api-resources` prints: what the operator sees in kubectl.
    public var kubectl: String
    /// Short names and the singular, as kubectl accepts them.
    public var aliases: [String]
    /// The resource segment(s) of the etcd key (`/registry/<storage>/...`).
    public var storage: String

    public init(_ kubectl: String, _ aliases: [String], storage: String? = nil) {
        self.kubectl = kubectl
        self.aliases = aliases
        self.storage = storage ?? kubectl
    }

    /// Built-in resources, in `kubectl api-resources` order (core, then the groups).
    public static let builtIn: [KubernetesResourceName] = [
        .init("configmaps", ["cm", "configmap"]),
        .init("endpoints", ["ep"], storage: "services/endpoints"),
        .init("events", ["ev", "event"]),
        .init("limitranges", ["limits", "limitrange"]),
        .init("namespaces", ["ns", "namespace"]),
        .init("nodes", ["no", "node"], storage: "minions"),
        .init("persistentvolumeclaims", ["pvc", "persistentvolumeclaim"]),
        .init("persistentvolumes", ["pv", "persistentvolume"]),
        .init("pods", ["po", "pod"]),
        .init("podtemplates", ["podtemplate"]),
        .init("replicationcontrollers", ["rc", "replicationcontroller"], storage: "controllers"),
        .init("resourcequotas", ["quota", "resourcequota"]),
        .init("secrets", ["secret"]),
        .init("serviceaccounts", ["sa", "serviceaccount"]),
        .init("services", ["svc", "service"], storage: "services/specs"),
        .init("mutatingwebhookconfigurations", ["mutatingwebhookconfiguration"]),
        .init("validatingwebhookconfigurations", ["validatingwebhookconfiguration"]),
        .init("validatingadmissionpolicies", ["validatingadmissionpolicy"]),
        .init("validatingadmissionpolicybindings", ["validatingadmissionpolicybinding"]),
        .init("customresourcedefinitions", ["crd", "crds", "customresourcedefinition"],
              storage: "apiextensions.k8s.io/customresourcedefinitions"),
        .init("apiservices", ["apiservice"], storage: "apiregistration.k8s.io/apiservices"),
        .init("controllerrevisions", ["controllerrevision"]),
        .init("daemonsets", ["ds", "daemonset"]),
        .init("deployments", ["deploy", "deployment"]),
        .init("replicasets", ["rs", "replicaset"]),
        .init("statefulsets", ["sts", "statefulset"]),
        .init("horizontalpodautoscalers", ["hpa", "horizontalpodautoscaler"]),
        .init("cronjobs", ["cj", "cronjob"]),
        .init("jobs", ["job"]),
        .init("certificatesigningrequests", ["csr", "certificatesigningrequest"]),
        .init("leases", ["lease"]),
        .init("endpointslices", ["endpointslice"]),
        .init("flowschemas", ["flowschema"]),
        .init("prioritylevelconfigurations", ["prioritylevelconfiguration"]),
        .init("ingressclasses", ["ingressclass"]),
        .init("ingresses", ["ing", "ingress"], storage: "ingress"),
        .init("networkpolicies", ["netpol", "networkpolicy"]),
        .init("runtimeclasses", ["runtimeclass"]),
        .init("poddisruptionbudgets", ["pdb", "poddisruptionbudget"]),
        .init("podsecuritypolicies", ["psp", "podsecuritypolicy"], storage: "podsecuritypolicy"),
        .init("clusterrolebindings", ["clusterrolebinding"]),
        .init("clusterroles", ["clusterrole"]),
        .init("rolebindings", ["rolebinding"]),
        .init("roles", ["role"]),
        .init("priorityclasses", ["pc", "priorityclass"]),
        .init("csidrivers", ["csidriver"]),
        .init("csinodes", ["csinode"]),
        .init("csistoragecapacities", ["csistoragecapacity"]),
        .init("storageclasses", ["sc", "storageclass"]),
        .init("volumeattachments", ["volumeattachment"]),
        .init("volumeattributesclasses", ["vac", "volumeattributesclass"]),
        .init("ipaddresses", ["ip", "ipaddress"]),
        .init("servicecidrs", ["servicecidr"]),
        .init("resourceclaims", ["resourceclaim"]),
        .init("resourceclaimtemplates", ["resourceclaimtemplate"]),
        .init("resourceslices", ["resourceslice"]),
        .init("deviceclasses", ["deviceclass"]),
    ]

    private static let byTypedName: [String: KubernetesResourceName] = {
        var names: [String: KubernetesResourceName] = [:]
        for resource in builtIn {
            for name in [resource.kubectl, resource.storage] + resource.aliases where names[name] == nil {
                names[name] = resource
            }
        }
        return names
    }()

    private static let byStorage: [String: KubernetesResourceName] =
        Dictionary(builtIn.map { ($0.storage, $0) }, uniquingKeysWith: { first, _ in first })

    /// The built-in resource a typed name means: kubectl's plural, a short name, the singular, etcd's
    /// storage name, or `<name>.<group>` (`deployments.apps`), in any case. Nil for anything else.
    public static func builtIn(named typed: String) -> KubernetesResourceName? {
        let name = typed.lowercased()
        if let known = byTypedName[name] { return known }
        if let dot = name.firstIndex(of: "."), let known = byTypedName[String(name[..<dot])] { return known }
        return nil
    }

    /// kubectl's name for a storage resource, when it is a built-in one (`minions` -> `nodes`).
    public static func kubectlName(forStorage storage: String) -> String? {
        byStorage[storage]?.kubectl
    }

    /// "nodes (stored as minions)" for a storage name kubectl spells differently; the name alone otherwise.
    public static func display(storage: String) -> String {
        guard let kubectl = kubectlName(forStorage: storage), kubectl != storage else { return storage }
        return "\(kubectl) (\(storage))"
    }

    /// The names `--resource` accepts, one line per resource: "services, svc, service -> services/specs".
    public static var knownNamesText: String {
        builtIn.map { resource in
            let names = ([resource.kubectl] + resource.aliases).joined(separator: ", ")
            return resource.storage == resource.kubectl ? names : "\(names) -> \(resource.storage)"
        }.joined(separator: "\n")
    }
}

/// A `--resource` value that names no built-in resource and no resource in the snapshot.
public struct UnknownResourceError: Error, Sendable, CustomStringConvertible {
    public var typed: String
    /// Storage resources the snapshot holds (so a custom resource can be found by its plural).
    public var inSnapshot: [String]

    public init(typed: String, inSnapshot: [String]) {
        self.typed = typed
        self.inSnapshot = inSnapshot
    }

    public var description: String {
        var text = "unknown resource \"\(typed)\": not a kubectl resource name or short name, and the snapshot holds "
            + "no resource of that name.\n"
        if !inSnapshot.isEmpty {
            text += "Resources in this snapshot: \(inSnapshot.map(KubernetesResourceName.display(storage:)).joined(separator: ", ")).\n"
        }
        text += "Known names (kubectl plural, short names, singular -> where etcd stores it):\n"
            + KubernetesResourceName.knownNamesText
        return text
    }
}
