import Foundation
import Recovery
import SnapshotStore

/// Breaks a (stopped) etcd data dir the way the power loss that started this project did: the db lost its last
/// commits, so its consistent index is below the newest raft snapshot the WAL records, and the
/// `<index>.snap.db` etcd would then need does not exist. etcd 3.4+ refuses to start with "failed to find
/// database snapshot file" (3.3: "snap: snapshot file doesn't exist").
///
/// Done by rewriting the 8-byte big-endian value after every `consistent_index` key in `member/snap/db`; bbolt
/// leaf pages carry no checksum, so the db stays structurally valid, exactly like a db that lost its tail.
public enum FoundingFailure {
    public struct Breakage: Sendable, Equatable {
        /// The newest `.snap` file and its raft index.
        public var snapFile: String
        public var snapIndex: UInt64
        /// The db's consistent index after the change (below `snapIndex`).
        public var consistentIndex: UInt64
    }

    public static func reproduce(dataDir: String) throws -> Breakage {
        let snapDir = dataDir + "/member/snap"
        let names = try FileManager.default.contentsOfDirectory(atPath: snapDir)
            .filter { RaftSnapshotFile.parseName($0) != nil }.sorted()
        guard let newest = names.last else {
            throw DemoError("no .snap file in \(snapDir): etcd must have taken a raft snapshot first (write more keys, or run it with a low --snapshot-count)")
        }
        let snapshot = try RaftSnapshotFile.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: snapDir + "/" + newest))))
        guard snapshot.index > 10 else { throw DemoError("the newest snapshot's index \(snapshot.index) is too low to go below") }
        let lowered = snapshot.index - 10
        let dbPath = snapDir + "/db"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dbPath)))
        let key = Array("consistent_index".utf8)
        var patched = 0
        var i = 0
        while i + key.count + 8 <= bytes.count {
            if bytes[i] == key[0], bytes[i..<(i + key.count)].elementsEqual(key) {
                for b in 0..<8 { bytes[i + key.count + b] = UInt8(truncatingIfNeeded: lowered >> (8 * UInt64(7 - b))) }
                patched += 1
                i += key.count
            } else {
                i += 1
            }
        }
        guard patched > 0 else { throw DemoError("no consistent_index key in \(dbPath)") }
        try Data(bytes).write(to: URL(fileURLWithPath: dbPath))
        try? FileManager.default.removeItem(atPath: snapDir + "/" + RaftSnapshotFile.databaseFileName(index: snapshot.index))
        return Breakage(snapFile: newest, snapIndex: snapshot.index, consistentIndex: lowered)
    }
}
