/// An mvccpb.KeyValue read in place: `key` and `value` point into the mapped database and are valid only
/// inside the closure that receives them.
public struct EtcdKeyValue {
    public var key: UnsafeRawBufferPointer
    public var value: UnsafeRawBufferPointer
    public var createRevision: Int64
    public var modRevision: Int64
    public var version: Int64
    public var lease: Int64

    /// Decodes mvccpb.KeyValue {key=1, create_revision=2, mod_revision=3, version=4, value=5, lease=6}.
    /// Unknown fields are skipped, as protobuf readers do.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(ProtobufDecodingError) {
        let empty = UnsafeRawBufferPointer(start: bytes.baseAddress, count: 0)
        key = empty
        value = empty
        createRevision = 0
        modRevision = 0
        version = 0
        lease = 0
        var reader = ProtobufReader(bytes)
        while let field = try reader.nextField() {
            switch field.number {
            case 1: key = try reader.expectLengthDelimited(field)
            case 2: createRevision = Int64(bitPattern: try reader.expectVarint(field))
            case 3: modRevision = Int64(bitPattern: try reader.expectVarint(field))
            case 4: version = Int64(bitPattern: try reader.expectVarint(field))
            case 5: value = try reader.expectLengthDelimited(field)
            case 6: lease = Int64(bitPattern: try reader.expectVarint(field))
            default: try reader.skip(field.wireType)
            }
        }
    }
}

/// A key as it stands at the newest revision, with its value left in the mapped file.
public struct EtcdLiveKey {
    public var key: UnsafeRawBufferPointer
    public var value: UnsafeRawBufferPointer
    public var createRevision: Int64
    /// The revision of its last change (from the "key" bucket key, which etcd treats as authoritative).
    public var modRevision: Int64
    public var version: Int64
    public var lease: Int64

    /// The key as text (Kubernetes keys are ASCII paths).
    public var keyString: String { String(decoding: key, as: UTF8.self) }
}
