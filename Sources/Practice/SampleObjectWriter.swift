import EtcdClient
import Foundation
import SnapshotStore

/// Puts `KubernetesSampleData` into etcd, `concurrency` puts in flight; returns the objects and bytes written.
/// For the demo, `fill` and benchmarks: never for a production etcd.
public func writeSampleObjects(to client: EtcdClient, limit: KubernetesSampleData.Limit, seed: UInt64,
                               concurrency: Int) async throws -> (written: Int, bytes: Int) {
    try await writeSampleObjects(to: client, data: KubernetesSampleData(seed: seed, limit: limit), concurrency: concurrency)
}

/// Puts these objects into etcd (`fill --object-bytes` sets their size), `concurrency` puts in flight.
public func writeSampleObjects(to client: EtcdClient, data: KubernetesSampleData,
                               concurrency: Int) async throws -> (written: Int, bytes: Int) {
    var iterator = data.makeIterator()
    var written = 0
    var bytes = 0
    try await withThrowingTaskGroup(of: Int.self) { group in
        var inFlight = 0
        while let item = iterator.next() {
            if inFlight == concurrency {
                bytes += try await group.next() ?? 0
                written += 1
                inFlight -= 1
            }
            group.addTask {
                try await client.put(item.key, value: item.value)
                return item.value.count
            }
            inFlight += 1
        }
        while let n = try await group.next() {
            bytes += n
            written += 1
        }
    }
    return (written, bytes)
}
