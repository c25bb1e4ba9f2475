import ArgumentParser
import EtcdClient
import Foundation
import Practice
import SnapshotStore
import SystemSupport

/// Writes Kubernetes-shaped objects into an etcd: for demos, benchmarks and drills. Hidden from
/// --help because it writes to whatever etcd it is pointed at.
struct FillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fill",
        abstract: "Write Kubernetes-shaped sample objects into etcd (demos and benchmarks only).",
        shouldDisplay: false)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Stop after about this many megabytes of values.")
    var megabytes: Int?

    @Option(help: "Stop after this many objects.")
    var count: Int?

    @Option(help: "Seed of the generator: the same seed writes the same objects.")
    var seed: UInt64 = 1

    @Option(help: "Puts in flight at once.")
    var concurrency: Int = 16

    @Option(help: "Make every protobuf object about this many bytes (default: sized by kind, 0.2-100 KB).")
    var objectBytes: Int?

    func validate() throws {
        if (megabytes == nil) == (count == nil) { throw ValidationError("give exactly one of --megabytes or --count") }
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let objectBytes, objectBytes < 1 { throw ValidationError("--object-bytes must be at least 1") }
    }

    func run() async throws {
        let client = EtcdClient(try connection.configuration())
        let limit: KubernetesSampleData.Limit = megabytes.map { .totalBytes($0 * 1_000_000) } ?? .count(count ?? 0)
        let started = ContinuousClock.now
        var data = KubernetesSampleData(seed: seed, limit: limit)
        data.objectSize = objectBytes
        let (written, bytes) = try await writeSampleObjects(to: client, data: data, concurrency: concurrency)
        await client.close()
        let seconds = Double((ContinuousClock.now - started).components.seconds) + 0.001
        print("wrote \(written) objects, \(formatBytes(bytes)) in \(String(format: "%.1f", seconds))s")
    }
}
