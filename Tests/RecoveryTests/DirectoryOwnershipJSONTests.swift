import Foundation
import Recovery
import Testing

@Suite("A restore plan's JSON for machines")
struct DirectoryOwnershipJSONTests {
    @Test("mode is written as chmod reads it (\"0700\"); a journal that holds the number still reads")
    func mode() throws {
        let ownership = DirectoryOwnership(uid: 998, gid: 997, mode: 0o700, display: "etcd:etcd")
        let text = String(decoding: try JSONEncoder().encode(ownership), as: UTF8.self)
        #expect(text.contains(#""mode":"0700""#), "\(text)")
        #expect(try JSONDecoder().decode(DirectoryOwnership.self, from: Data(text.utf8)) == ownership)
        let old = Data(#"{"uid":998,"gid":997,"mode":448,"display":"etcd:etcd"}"#.utf8)
        #expect(try JSONDecoder().decode(DirectoryOwnership.self, from: old) == ownership)
        let bad = Data(#"{"uid":998,"gid":997,"mode":"rwx","display":"etcd:etcd"}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(DirectoryOwnership.self, from: bad) }
        #expect(DirectoryOwnership.octal(0o55) == "0055")
        #expect(DirectoryOwnership.octal(0o4750) == "4750")
    }
}
