import Foundation

extension KubernetesObject {
    /// The 4 bytes kube-apiserver puts before a protobuf-encoded runtime.Unknown.
    public static let protobufMagic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]  // "k8s\0"
    /// The prefix of a value encrypted at rest.
    public static let encryptedPrefix: [UInt8] = Array("k8s:enc:".utf8)

    /// Decodes what it can of a stored object. Never throws: a value it cannot read comes back with
    /// `.unknown` encoding (or its encoding and a `problem`). Encrypted values are recognised, not opened.
    public init(etcdKey: String, value: UnsafeRawBufferPointer, prefix: String = KubernetesKey.defaultPrefix) {
        var decoded = Decoded()
        var encoding = KubernetesValueEncoding.unknown
        var encryption: KubernetesEncryption?
        if value.starts(with: Self.protobufMagic) {
            encoding = .protobuf
            do {
                try decoded.decodeProtobuf(UnsafeRawBufferPointer(rebasing: value[4...]))
            } catch {
                decoded.problem = "\(error)"
            }
        } else if value.starts(with: Self.encryptedPrefix) {
            encoding = .encrypted
            encryption = Self.encryption(value)
        } else if let first = value.first(where: { !Decoded.isJSONWhitespace($0) }), first == UInt8(ascii: "{") {
            encoding = .json
            decoded.decodeJSON(value)
        } else {
            decoded.problem = value.isEmpty ? "the value is empty" : "the value is neither protobuf, JSON nor encrypted"
        }
        // The key is the authority on identity; when it does not parse, use what the object says.
        let key = KubernetesKey(etcdKey, prefix: prefix)
        let metadataNamespace = decoded.namespace.flatMap { $0.isEmpty ? nil : $0 }
        self.init(etcdKey: etcdKey, resource: key?.resource ?? "",
                  namespace: key == nil ? metadataNamespace : key?.namespace,
                  name: key?.name ?? decoded.name ?? "",
                  kind: decoded.kind, apiVersion: decoded.apiVersion, uid: decoded.uid,
                  creationTimestamp: decoded.creationTimestamp, deletionTimestamp: decoded.deletionTimestamp,
                  labels: decoded.labels, finalizers: decoded.finalizers, ownerReferences: decoded.ownerReferences,
                  valueSize: value.count, encoding: encoding, encryption: encryption,
                  problem: decoded.problem)
    }

    public init(etcdKey: String, value: [UInt8], prefix: String = KubernetesKey.defaultPrefix) {
        self = value.withUnsafeBytes { KubernetesObject(etcdKey: etcdKey, value: $0, prefix: prefix) }
    }
}

/// The metadata pulled out of a value while decoding it.
private struct Decoded {
    var apiVersion: String?
    var kind: String?
    var name: String?
    var namespace: String?
    var uid: String?
    var creationTimestamp: Date?
    var deletionTimestamp: Date?
    var labels: [String: String] = [:]
    var finalizers: [String] = []
    var ownerReferences: [KubernetesOwnerReference] = []
    var problem: String?

    // MARK: - Protobuf

    mutating func decodeProtobuf(_ bytes: UnsafeRawBufferPointer) throws(ProtobufDecodingError) {
        // runtime.Unknown {typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4}
        var reader = ProtobufReader(bytes)
        var raw: UnsafeRawBufferPointer?
        while let field = try reader.nextField() {
            switch field.number {
            case 1:
                var typeMeta = ProtobufReader(try reader.expectLengthDelimited(field))
                while let inner = try typeMeta.nextField() {
                    switch inner.number {
                    case 1: apiVersion = String(decoding: try typeMeta.expectLengthDelimited(inner), as: UTF8.self)
                    case 2: kind = String(decoding: try typeMeta.expectLengthDelimited(inner), as: UTF8.self)
                    default: try typeMeta.skip(inner.wireType)
                    }
                }
            case 2:
                raw = try reader.expectLengthDelimited(field)
            default:
                try reader.skip(field.wireType)
            }
        }
        guard let raw else {
            throw ProtobufDecodingError("the envelope has no object (runtime.Unknown.raw)")
        }
        // The object: field 1 is ObjectMeta for every Kubernetes kind. The rest is not ours to read.
        var object = ProtobufReader(raw)
        while let field = try object.nextField() {
            if field.number == 1 {
                try decodeObjectMeta(try object.expectLengthDelimited(field))
            } else {
                try object.skip(field.wireType)
            }
        }
    }

    private mutating func decodeObjectMeta(_ bytes: UnsafeRawBufferPointer) throws(ProtobufDecodingError) {
        var reader = ProtobufReader(bytes)
        while let field = try reader.nextField() {
            switch field.number {
            case 1: name = String(decoding: try reader.expectLengthDelimited(field), as: UTF8.self)
            case 3: namespace = String(decoding: try reader.expectLengthDelimited(field), as: UTF8.self)
            case 5: uid = String(decoding: try reader.expectLengthDelimited(field), as: UTF8.self)
            case 8: creationTimestamp = try Self.decodeTime(try reader.expectLengthDelimited(field))
            case 9: deletionTimestamp = try Self.decodeTime(try reader.expectLengthDelimited(field))
            case 11:
                var entry = ProtobufReader(try reader.expectLengthDelimited(field))
                var key = "", value = ""
                while let inner = try entry.nextField() {
                    switch inner.number {
                    case 1: key = String(decoding: try entry.expectLengthDelimited(inner), as: UTF8.self)
                    case 2: value = String(decoding: try entry.expectLengthDelimited(inner), as: UTF8.self)
                    default: try entry.skip(inner.wireType)
                    }
                }
                labels[key] = value
            case 13:
                ownerReferences.append(try Self.decodeOwnerReference(try reader.expectLengthDelimited(field)))
            case 14:
                finalizers.append(String(decoding: try reader.expectLengthDelimited(field), as: UTF8.self))
            default:
                try reader.skip(field.wireType)
            }
        }
    }

    /// metav1.OwnerReference {kind=1, name=3, uid=4, apiVersion=5, controller=6 bool}.
    private static func decodeOwnerReference(_ bytes: UnsafeRawBufferPointer) throws(ProtobufDecodingError) -> KubernetesOwnerReference {
        var reader = ProtobufReader(bytes)
        var owner = KubernetesOwnerReference(kind: "", name: "")
        while let field = try reader.nextField() {
            switch field.number {
            case 1: owner.kind = String(decoding: try reader.expectLengthDelimited(field), as: UTF8.self)
            case 3: owner.name = String(decoding: try reader.expectLengthDelimited(field), as: UTF8.self)
            case 4: owner.uid = String(decoding: try reader.expectLengthDelimited(field), as: UTF8.self)
            case 5: owner.apiVersion = String(decoding: try reader.expectLengthDelimited(field), as: UTF8.self)
            case 6: owner.controller = try reader.expectVarint(field) != 0
            default: try reader.skip(field.wireType)
            }
        }
        return owner
    }

    /// metav1.Time {seconds=1 int64, nanos=2 int32}.
    private static func decodeTime(_ bytes: UnsafeRawBufferPointer) throws(ProtobufDecodingError) -> Date {
        var reader = ProtobufReader(bytes)
        var seconds: Int64 = 0
        var nanos: Int64 = 0
        while let field = try reader.nextField() {
            switch field.number {
            case 1: seconds = Int64(bitPattern: try reader.expectVarint(field))
            case 2: nanos = Int64(Int32(truncatingIfNeeded: try reader.expectVarint(field)))
            default: try reader.skip(field.wireType)
            }
        }
        return Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1e9)
    }

    // MARK: - JSON

    mutating func decodeJSON(_ bytes: UnsafeRawBufferPointer) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            problem = "the value starts like JSON but is not a JSON object"
            return
        }
        apiVersion = object["apiVersion"] as? String
        kind = object["kind"] as? String
        guard let metadata = object["metadata"] as? [String: Any] else {
            problem = "the JSON object has no metadata"
            return
        }
        name = metadata["name"] as? String
        namespace = metadata["namespace"] as? String
        uid = metadata["uid"] as? String
        creationTimestamp = (metadata["creationTimestamp"] as? String).flatMap(KubernetesObject.parseRFC3339)
        deletionTimestamp = (metadata["deletionTimestamp"] as? String).flatMap(KubernetesObject.parseRFC3339)
        finalizers = (metadata["finalizers"] as? [Any])?.compactMap { $0 as? String } ?? []
        ownerReferences = ((metadata["ownerReferences"] as? [Any]) ?? []).compactMap { item in
            guard let owner = item as? [String: Any], let kind = owner["kind"] as? String, let name = owner["name"] as? String
            else { return nil }
            return KubernetesOwnerReference(apiVersion: owner["apiVersion"] as? String ?? "", kind: kind, name: name,
                                            uid: owner["uid"] as? String, controller: owner["controller"] as? Bool ?? false)
        }
        if let labels = metadata["labels"] as? [String: Any] {
            for (key, value) in labels {
                if let text = value as? String { self.labels[key] = text }
            }
        }
    }

    static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

}

extension KubernetesObject {
    /// Parses the RFC 3339 timestamps Kubernetes writes ("2024-05-01T12:30:00Z", optional fraction,
    /// "Z" or a ±hh:mm offset).
    static func parseRFC3339(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == UInt8(ascii: " "),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var cursor = 19
        var fraction = 0.0
        if cursor < bytes.count, bytes[cursor] == UInt8(ascii: ".") {
            cursor += 1
            var scale = 0.1
            while cursor < bytes.count, bytes[cursor] >= 0x30, bytes[cursor] <= 0x39 {
                fraction += Double(bytes[cursor] - 0x30) * scale
                scale /= 10
                cursor += 1
            }
        }
        var offset = 0
        guard cursor < bytes.count else { return nil }
        switch bytes[cursor] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard cursor + 1 == bytes.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard cursor + 6 == bytes.count, bytes[cursor + 3] == UInt8(ascii: ":"),
                  let hours = number(cursor + 1..<cursor + 3), let minutes = number(cursor + 4..<cursor + 6)
            else { return nil }
            offset = (hours * 3600 + minutes * 60) * (bytes[cursor] == UInt8(ascii: "+") ? 1 : -1)
        default:
            return nil
        }
        // Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    // MARK: - Encrypted

    /// Reads "k8s:enc:<provider>:<version>:<key name>:" from the start of an encrypted value.
    static func encryption(_ value: UnsafeRawBufferPointer) -> KubernetesEncryption? {
        var fields: [String] = []
        var start = encryptedPrefix.count
        var index = start
        let limit = min(value.count, start + 512)
        while index < limit, fields.count < 3 {
            if value[index] == UInt8(ascii: ":") {
                fields.append(String(decoding: UnsafeRawBufferPointer(rebasing: value[start..<index]), as: UTF8.self))
                start = index + 1
            }
            index += 1
        }
        guard fields.count == 3 else { return nil }
        return KubernetesEncryption(provider: fields[0], version: fields[1], keyName: fields[2])
    }
}
