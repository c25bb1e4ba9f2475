/// etcd's data inside a readable bbolt file is not what etcd writes.
public struct EtcdDataError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// A bucket etcd always creates is missing.
        case missingBucket
        /// A "key" bucket key is not an 8-byte revision, '_', an 8-byte sub-revision (and 't').
        case badRevisionKey
        /// A "key" bucket value is not a valid mvccpb.KeyValue.
        case badKeyValue
        /// A "members" entry is not a member record etcd would write.
        case badMember
        /// A "meta" entry (consistent_index, term) has the wrong size.
        case badMetaEntry
    }

    public let kind: Kind
    public let message: String
    public var path: String?

    public init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    public var description: String {
        if let path { return "\(path): \(message)" }
        return message
    }
}
