@testable import EtcdClient
import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("The snapshot stream: progress, back-pressure, cancellation, etcd dying")
struct SnapshotStreamTests {
    @Test("Chunks carry remaining bytes and end with the SHA-256 of the database", arguments: EtcdVersion.allCases)
    func chunksAndTrailer(version: EtcdVersion) async throws {
        let etcd = try await SharedEtcd.plain(version).get()
        let client = makeClient([etcd.endpoint])
        try await withCleanup({ await client.close() }) { () async throws in
            try await fill(client, prefix: "/stream/\(version.rawValue)/", count: 40, size: 20_000)
            var chunks: [SnapshotChunk] = []
            for try await chunk in try await client.snapshot() { chunks.append(chunk) }
            let db = chunks.dropLast().reduce(into: Data()) { $0.append($1.blob) }
            let total = Int(chunks[0].remainingBytes) + chunks[0].blob.count
            #expect(db.count == total)
            #expect(db.count % 4096 == 0)
            #expect(chunks.last?.blob.count == 32)
            #expect(chunks.last?.remainingBytes == 0)
            // remaining bytes count down to zero as the database arrives.
            #expect(zip(chunks.dropLast(), chunks.dropLast().dropFirst()).allSatisfy { $0.remainingBytes >= $1.remainingBytes })
            #expect(chunks.dropLast().allSatisfy { $0.blob.count <= 32 * 1024 })
        }
    }

    @Test("A slow reader holds etcd back: no more than the stream window is received ahead of it")
    func backPressure() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "backpressure"))
        defer { etcd.stopNow() }
        let window: Int32 = 256 << 10
        let client = makeClient([etcd.endpoint], streamWindowSize: window)
        try await withCleanup({ await client.close() }) { () async throws in
            try await fill(client, prefix: "/bp/", count: 40, size: 500_000)   // ~20 MB
            let stream = try await client.snapshot()
            var iterator = stream.makeAsyncIterator()
            let first = try #require(try await iterator.next())
            let total = Int(first.remainingBytes) + first.blob.count
            #expect(total > 15_000_000)
            try await Task.sleep(for: .milliseconds(800))
            let received = stream.bytesReceivedForTesting
            #expect(received <= Int(window) + 32 * 1024 + 64)
            // Reading on still delivers the whole database.
            var bytes = first.blob.count
            var last = 0
            while let chunk = try await iterator.next() {
                bytes += chunk.blob.count
                last = chunk.blob.count
            }
            #expect(bytes - last == total)
        }
    }

    @Test("Stopping early cancels the stream and the connection stays usable")
    func cancellation() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_5, name: "cancel"))
        defer { etcd.stopNow() }
        let client = makeClient([etcd.endpoint], streamWindowSize: 128 << 10)
        try await withCleanup({ await client.close() }) { () async throws in
            try await fill(client, prefix: "/cancel/", count: 20, size: 500_000)
            let stream = try await client.snapshot()
            var iterator = stream.makeAsyncIterator()
            _ = try await iterator.next()
            stream.cancel()
            let error = await clientError { _ = try await iterator.next() }
            #expect(error?.kind == .cancelled)
            // The server saw the RST_STREAM: the same connection serves the next call at once.
            #expect(try await client.status().version.hasPrefix("3.5."))
            #expect(try await client.count(prefix: "/cancel/") == 20)
        }
    }

    @Test("Cancelling the reading task cancels the stream")
    func taskCancellation() async throws {
        let etcd = try await SharedEtcd.plain35.get()
        let client = makeClient([etcd.endpoint], streamWindowSize: 64 << 10)
        try await withCleanup({ await client.close() }) { () async throws in
            try await fill(client, prefix: "/taskcancel/", count: 10, size: 200_000)
            let reader = Task {
                var n = 0
                for try await _ in try await client.snapshot() {
                    n += 1
                    try await Task.sleep(for: .milliseconds(50))
                }
                return n
            }
            try await Task.sleep(for: .milliseconds(200))
            reader.cancel()
            let result = await reader.result
            #expect(throws: (any Error).self) { try result.get() }
            #expect(try await client.status().version.hasPrefix("3.5."))
        }
    }

    @Test("etcd killed in the middle of a snapshot ends the stream with connection closed")
    func etcdKilledMidStream() async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: .v3_4, name: "killed"))
        defer { etcd.stopNow() }
        let client = makeClient([etcd.endpoint], streamWindowSize: 256 << 10)
        try await withCleanup({ await client.close() }) { () async throws in
            try await fill(client, prefix: "/killed/", count: 40, size: 500_000)
            let stream = try await client.snapshot()
            var iterator = stream.makeAsyncIterator()
            _ = try await iterator.next()
            etcd.kill()
            let error = await clientError { while try await iterator.next() != nil {} }
            #expect(error?.kind == .connectionClosed)
            #expect(error?.detail.contains("/etcdserverpb.Maintenance/Snapshot: the server closed the connection after") == true)
            #expect(error?.endpoint == etcd.clientURL)
        }
    }
}
