import Foundation

/// A cluster member as recorded in the "members" bucket.
public struct EtcdMember: Sendable, Equatable {
    public var id: UInt64
    public var name: String
    public var peerURLs: [String]
    /// Not always recorded: etcd 3.5 leaves client URLs out of the db (they live in the v2 store).
    public var clientURLs: [String]
    public var isLearner: Bool

    /// The id as etcd prints it: lowercase hex.
    public var hexID: String { String(id, radix: 16) }
}

extension EtcdDatabase {
    /// The members in the "members" bucket, in key (hex id) order. The id comes from the key, since the
    /// JSON number exceeds 2^53 and would lose precision as a double.
    public func members() throws -> [EtcdMember] {
        var members: [EtcdMember] = []
        try bolt.forEach(bucket: Bucket.members) { key, value in
            let keyText = String(decoding: key, as: UTF8.self)
            guard let id = UInt64(keyText, radix: 16) else {
                throw EtcdDataError(.badMember, "members key \(BoltFile.printable(key)) is not a hex member id", path: path)
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any] else {
                throw EtcdDataError(.badMember, "member \(keyText) is not a JSON object", path: path)
            }
            if let jsonID = Self.jsonUnsignedInteger(named: "id", in: value), jsonID != id {
                throw EtcdDataError(.badMember, "member \(keyText) says its id is \(String(jsonID, radix: 16))", path: path)
            }
            members.append(EtcdMember(
                id: id,
                name: object["name"] as? String ?? "",
                peerURLs: object["peerURLs"] as? [String] ?? [],
                clientURLs: object["clientURLs"] as? [String] ?? [],
                isLearner: object["isLearner"] as? Bool ?? false))
        }
        return members
    }

    /// meta/consistent_index: the raft index of the last entry applied to this db (nil when absent).
    public func consistentIndex() throws -> UInt64? {
        try metaNumber("consistent_index")
    }

    /// meta/term: the raft term of that entry (etcd 3.5 and later; nil before).
    public func term() throws -> UInt64? {
        try metaNumber("term")
    }

    /// The cluster version etcd recorded (cluster/clusterVersion), e.g. "3.5.0".
    public func clusterVersion() throws -> String? {
        var version: String?
        try bolt.forEach(bucket: Bucket.cluster) { key, value in
            if key.elementsEqual("clusterVersion".utf8) { version = String(decoding: value, as: UTF8.self) }
        }
        return version
    }

    private func metaNumber(_ name: String) throws -> UInt64? {
        var number: UInt64?
        var problem: Int?
        try bolt.forEach(bucket: Bucket.meta) { key, value in
            guard key.elementsEqual(name.utf8) else { return }
            guard value.count == 8 else {
                problem = value.count
                return
            }
            number = UInt64(bigEndian: value.loadUnaligned(as: UInt64.self))
        }
        if let problem {
            throw EtcdDataError(.badMetaEntry, "meta/\(name) is \(problem) bytes; expected 8", path: path)
        }
        return number
    }

    /// Reads a JSON number field as UInt64 from its digits (JSONSerialization would round it to a double).
    static func jsonUnsignedInteger(named name: String, in json: UnsafeRawBufferPointer) -> UInt64? {
        let needle = Array("\"\(name)\":".utf8)
        guard json.count >= needle.count else { return nil }
        var index = 0
        while index + needle.count <= json.count {
            if json[index] == needle[0], needle.indices.allSatisfy({ json[index + $0] == needle[$0] }) {
                var cursor = index + needle.count
                while cursor < json.count, json[cursor] == UInt8(ascii: " ") { cursor += 1 }
                var value: UInt64 = 0
                var digits = 0
                while cursor < json.count, json[cursor] >= UInt8(ascii: "0"), json[cursor] <= UInt8(ascii: "9") {
                    let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                    let (sum, overflow2) = times.addingReportingOverflow(UInt64(json[cursor] - UInt8(ascii: "0")))
                    if overflow1 || overflow2 { return nil }
                    value = sum
                    digits += 1
                    cursor += 1
                }
                return digits > 0 ? value : nil
            }
            index += 1
        }
        return nil
    }
}
