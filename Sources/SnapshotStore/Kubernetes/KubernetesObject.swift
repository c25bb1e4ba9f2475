import Foundation

/// How a Kubernetes value is stored in etcd.
public enum KubernetesValueEncoding: String, Sendable, Equatable, CaseIterable {
    /// "k8s\0" + runtime.Unknown (what kube-apiserver writes for built-in kinds).
    case protobuf
    /// A JSON object (custom resources, and clusters configured for JSON storage).
    case json
    /// "k8s:enc:<provider>:<version>:<key>:" + ciphertext: encrypted at rest, never decoded here.
    case encrypted
    /// Anything else.
    case unknown
}

/// An encrypted value's envelope prefix, e.g. provider "aescbc", version "v1", key "key1".
public struct KubernetesEncryption: Sendable, Equatable {
    public var provider: String
    public var version: String
    public var keyName: String

    public init(provider: String, version: String, keyName: String) {
        self.provider = provider
        self.version = version
        self.keyName = keyName
    }
}

/// An object's owner (metadata.ownerReferences): garbage collection deletes the object when its owner goes.
public struct KubernetesOwnerReference: Sendable, Equatable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String?
    /// The owner is the object's managing controller.
    public var controller: Bool

    public init(apiVersion: String = "", kind: String, name: String, uid: String? = nil, controller: Bool = false) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
    }
}

/// What can be learned about a Kubernetes object from its etcd key and value: identity and metadata
/// only. Object bodies (a Secret's data among them) are never decoded or kept.
public struct KubernetesObject: Sendable, Equatable {
    /// The etcd key as stored.
    public var etcdKey: String
    /// Storage resource path ("pods", "services/specs", "apps.example.com/widgets"); empty when the key
    /// is not a Kubernetes object key.
    public var resource: String
    public var namespace: String?
    public var name: String
    public var kind: String?
    public var apiVersion: String?
    public var uid: String?
    public var creationTimestamp: Date?
    /// Set when the object is being deleted (finalizers pending).
    public var deletionTimestamp: Date?
    public var labels: [String: String]
    /// metadata.finalizers: with a deletionTimestamp, what keeps the object from going (stuck terminating).
    public var finalizers: [String]
    public var ownerReferences: [KubernetesOwnerReference]
    /// Size of the stored value in bytes.
    public var valueSize: Int
    public var encoding: KubernetesValueEncoding
    public var encryption: KubernetesEncryption?
    /// Why the value could not be (fully) decoded, when it could not.
    public var problem: String?

    public init(etcdKey: String, resource: String, namespace: String?, name: String, kind: String? = nil,
                apiVersion: String? = nil, uid: String? = nil, creationTimestamp: Date? = nil,
                deletionTimestamp: Date? = nil, labels: [String: String] = [:], finalizers: [String] = [],
                ownerReferences: [KubernetesOwnerReference] = [], valueSize: Int,
                encoding: KubernetesValueEncoding, encryption: KubernetesEncryption? = nil, problem: String? = nil) {
        self.etcdKey = etcdKey
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.kind = kind
        self.apiVersion = apiVersion
        self.uid = uid
        self.creationTimestamp = creationTimestamp
        self.deletionTimestamp = deletionTimestamp
        self.labels = labels
        self.finalizers = finalizers
        self.ownerReferences = ownerReferences
        self.valueSize = valueSize
        self.encoding = encoding
        self.encryption = encryption
        self.problem = problem
    }

    public var isClusterScoped: Bool { namespace == nil }
}
