import Testing
import SnapshotStore

@Suite("Kubernetes keys")
struct KubernetesKeyTests {
    @Test("Keys parse into resource, namespace and name", arguments: [
        ("/registry/pods/default/web-1", "pods", "default", "web-1"),
        ("/registry/namespaces/kube-system", "namespaces", nil, "kube-system"),
        ("/registry/minions/node-1", "minions", nil, "node-1"),
        ("/registry/services/specs/default/kubernetes", "services/specs", "default", "kubernetes"),
        ("/registry/services/endpoints/kube-system/kube-dns", "services/endpoints", "kube-system", "kube-dns"),
        ("/registry/deployments/business/api", "deployments", "business", "api"),
        ("/registry/leases/kube-node-lease/node-1", "leases", "kube-node-lease", "node-1"),
        ("/registry/clusterroles/admin", "clusterroles", nil, "admin"),
        ("/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com",
         "apiextensions.k8s.io/customresourcedefinitions", nil, "widgets.example.com"),
        ("/registry/apiregistration.k8s.io/apiservices/v1.apps", "apiregistration.k8s.io/apiservices", nil, "v1.apps"),
        ("/registry/example.com/widgets/default/w-1", "example.com/widgets", "default", "w-1"),
        ("/registry/tools.example.org/gadgets/g-1", "tools.example.org/gadgets", nil, "g-1"),
        ("/registry/ranges/serviceips", "ranges", nil, "serviceips"),
        ("/registry/masterleases/10.0.0.5", "masterleases", nil, "10.0.0.5"),
        ("/registry/somethingnew/ns/obj", "somethingnew", "ns", "obj"),
    ] as [(String, String, String?, String)])
    func parses(key: String, resource: String, namespace: String?, name: String) throws {
        let parsed = try #require(KubernetesKey(key))
        #expect(parsed.resource == resource)
        #expect(parsed.namespace == namespace)
        #expect(parsed.name == name)
        #expect(parsed.isClusterScoped == (namespace == nil))
        #expect(parsed.etcdKey() == key)
    }

    @Test("Keys that are not Kubernetes object keys are rejected", arguments: [
        "", "/", "/registry", "/registry/", "/registry/pods", "foo", "/other/pods/default/x",
        "/registry/pods/default/x/extra", "/registry/pods//x", "/registry/pods/default/",
        "/registry/pods/lonely",                 // pods are namespaced
        "/registry/namespaces/default/extra",    // namespaces are cluster-scoped
        "/registryx/pods/default/x",
    ])
    func rejects(key: String) {
        #expect(KubernetesKey(key) == nil)
    }

    @Test("A custom prefix is honoured")
    func customPrefix() throws {
        let key = try #require(KubernetesKey("/k8s/prod/pods/default/web", prefix: "/k8s/prod/"))
        #expect(key.resource == "pods")
        #expect(key.etcdKey(prefix: "/k8s/prod") == "/k8s/prod/pods/default/web")
        #expect(KubernetesKey("/registry/pods/default/web", prefix: "/k8s/prod") == nil)
    }
}
