import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import ObjectStore
@testable import SnapshotStore

/// One SeaweedFS for this test process (it takes seconds to start); each test uses its own bucket.
enum SharedSeaweedFS {
    static let server = Task { try await SeaweedFS.start() }

    static func client(_ server: SeaweedFS, accessKey: String? = nil, secretKey: String? = nil) throws -> S3Client {
        try S3Client(endpoint: server.endpoint, credentials: S3Credentials(
            accessKeyId: accessKey ?? server.accessKey, secretAccessKey: secretKey ?? server.secretKey, source: "test"))
    }

    /// A fresh bucket; SeaweedFS's filer may need a moment after the S3 port answers, so creation is polled.
    static func bucket(_ client: S3Client, _ name: String) async throws -> String {
        let bucket = "\(name)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try await retrying { try client.createBucket(bucket) }
        return bucket
    }

    static func awsPath() throws -> String { try SeaweedFS.locateAWS() }
}

@Suite("S3 client against SeaweedFS", .serialized)
struct S3ClientTests {
    @Test("PutObject, HeadObject, GetObject and DeleteObject round-trip; aws s3 ls lists what we uploaded")
    func roundTrip() async throws {
        let server = try await SharedSeaweedFS.server.value
        let client = try SharedSeaweedFS.client(server)
        let bucket = try await SharedSeaweedFS.bucket(client, "roundtrip")
        let body = codecSampleData(300_000)
        let key = "backups/cluster-1/member a/2026-12-01T00:00:00Z-r42.json"
        try client.putObject(bucket: bucket, key: key, data: body)
        #expect(try client.headObject(bucket: bucket, key: key)?.size == body.count)
        let sink = DataByteSink()
        #expect(try client.getObject(bucket: bucket, key: key, into: sink) == body.count)
        #expect(sink.data == body && sink.finished)
        let listing = try runCommand(try SharedSeaweedFS.awsPath(),
                                     ["--endpoint-url", server.endpoint, "s3", "ls", "--recursive", "s3://\(bucket)/"],
                                     environment: server.awsEnvironment)
        #expect(listing.succeeded, "\(listing.output)")
        #expect(listing.stdout.contains("\(body.count) \(key)"))
        try client.deleteObject(bucket: bucket, key: key)
        #expect(try client.headObject(bucket: bucket, key: key) == nil)
    }

    @Test("ListObjectsV2 follows continuation tokens and stays under the prefix")
    func pagination() async throws {
        let server = try await SharedSeaweedFS.server.value
        let client = try SharedSeaweedFS.client(server)
        let bucket = try await SharedSeaweedFS.bucket(client, "pages")
        let keys = (1...7).map { "etcd/c1/m1/snap-\($0).db.zst" }
        for key in keys { try client.putObject(bucket: bucket, key: key, data: Data(key.utf8)) }
        try client.putObject(bucket: bucket, key: "foreign/other.txt", data: Data("x".utf8))
        let first = try client.listObjects(bucket: bucket, prefix: "etcd/", maxKeys: 3)
        #expect(first.objects.count == 3)
        #expect(first.nextContinuationToken != nil)
        let all = try client.listAllObjects(bucket: bucket, prefix: "etcd/", pageSize: 3)
        #expect(all.map(\.key) == keys.sorted())
        #expect(all.allSatisfy { $0.size == $0.key.utf8.count })
    }

    @Test("A 40 MiB multipart upload in 16 MiB parts arrives whole, parts in memory or spooled to an unlinked file; aws s3 ls shows its size",
          arguments: [false, true])
    func multipart(spooled: Bool) async throws {
        let server = try await SharedSeaweedFS.server.value
        let client = try SharedSeaweedFS.client(server)
        let bucket = try await SharedSeaweedFS.bucket(client, "multipart")
        let size = 40 << 20
        let key = "big/snap.db"
        let spool = try TestDirectories.make("multipart-spool")
        let upload = try MultipartUploadSink(client: client, bucket: bucket, key: key, partSize: 16 << 20,
                                             spoolDirectory: spooled ? spool.path : nil)
        defer {
            // The spool has no name: nothing is ever in its directory.
            #expect((try? FileManager.default.contentsOfDirectory(atPath: spool.path)) == [])
        }
        let source = RepeatingSource(size: size)
        try source.pump(into: upload, chunkSize: 1 << 20)
        #expect(upload.bytesUploaded == size)
        #expect(try client.headObject(bucket: bucket, key: key)?.size == size)
        let back = HashingSink()
        try client.getObject(bucket: bucket, key: key, into: back)
        #expect(back.count == size)
        #expect(back.hasher.finalize() == RepeatingSource.sha256(size: size))
        let listing = try runCommand(try SharedSeaweedFS.awsPath(),
                                     ["--endpoint-url", server.endpoint, "s3", "ls", "s3://\(bucket)/big/"],
                                     environment: server.awsEnvironment)
        #expect(listing.stdout.contains("\(size) snap.db"), "\(listing.output)")
    }

    @Test("A spool directory that does not exist fails before anything is uploaded, naming it")
    func spoolDirectoryMissing() async throws {
        let server = try await SharedSeaweedFS.server.value
        let client = try SharedSeaweedFS.client(server)
        let bucket = try await SharedSeaweedFS.bucket(client, "spool-missing")
        let missing = try TestDirectories.make("spool-missing").appendingPathComponent("gone").path
        #expect {
            _ = try MultipartUploadSink(client: client, bucket: bucket, key: "x.db", partSize: 5 << 20, spoolDirectory: missing)
        } throws: { error in
            "\(error)".contains("could not make a temporary file for the upload's parts in \(missing): No such file or directory")
        }
        #expect(try client.listAllObjects(bucket: bucket, prefix: "").isEmpty)
    }

    @Test("An aborted multipart upload leaves no object")
    func abortLeavesNothing() async throws {
        let server = try await SharedSeaweedFS.server.value
        let client = try SharedSeaweedFS.client(server)
        let bucket = try await SharedSeaweedFS.bucket(client, "abort")
        let upload = try MultipartUploadSink(client: client, bucket: bucket, key: "half.db", partSize: 5 << 20)
        try RepeatingSource(size: 6 << 20).pumpWithoutFinish(into: upload)
        #expect(upload.bytesUploaded == 5 << 20)   // one part is on the server
        upload.abort()
        #expect(upload.abortError == nil)
        #expect(try client.headObject(bucket: bucket, key: "half.db") == nil)
        #expect(try client.listAllObjects(bucket: bucket, prefix: "").isEmpty)
    }

    @Test("A wrong access key is refused as InvalidAccessKeyId, naming the key")
    func wrongAccessKey() async throws {
        let server = try await SharedSeaweedFS.server.value
        let client = try SharedSeaweedFS.client(server, accessKey: "NOSUCHKEY")
        do {
            try client.putObject(bucket: "any-bucket", key: "k", data: Data("x".utf8))
            Issue.record("a wrong access key was accepted")
        } catch {
            #expect(error.s3Code == "InvalidAccessKeyId")
            #expect(error.detail.hasPrefix("PutObject s3://any-bucket/k at \(server.endpoint) was refused: InvalidAccessKeyId (HTTP 403): the service does not know access key NOSUCHKEY (from test); check the key id"))
        }
    }

    @Test("A wrong secret key is refused as SignatureDoesNotMatch")
    func wrongSecret() async throws {
        let server = try await SharedSeaweedFS.server.value
        let good = try SharedSeaweedFS.client(server)
        let bucket = try await SharedSeaweedFS.bucket(good, "sig")
        let client = try SharedSeaweedFS.client(server, secretKey: "wrong-secret")
        do {
            _ = try client.listObjects(bucket: bucket, prefix: "")
            Issue.record("a wrong secret was accepted")
        } catch {
            #expect(error.s3Code == "SignatureDoesNotMatch")
            #expect(error.detail == "ListObjectsV2 bucket \"\(bucket)\" at \(server.endpoint) was refused: SignatureDoesNotMatch (HTTP 403): the secret access key for \(server.accessKey) (from test) is wrong, or remote.region does not match the service")
        }
    }

    @Test("A missing bucket is NoSuchBucket, naming the bucket")
    func missingBucket() async throws {
        let server = try await SharedSeaweedFS.server.value
        let client = try SharedSeaweedFS.client(server)
        do {
            try client.putObject(bucket: "no-such-bucket-here", key: "a/b", data: Data("x".utf8))
            Issue.record("a missing bucket was accepted")
        } catch {
            #expect(error.s3Code == "NoSuchBucket")
            #expect(error.detail == "PutObject s3://no-such-bucket-here/a/b at \(server.endpoint) failed: NoSuchBucket (HTTP 404): bucket \"no-such-bucket-here\" does not exist at \(server.endpoint); create it or fix remote.bucket")
        }
    }

    @Test("file -> zstd -> age -> multipart upload, then GetObject -> age -> zstd streams the bytes back")
    func pipeline() async throws {
        let server = try await SharedSeaweedFS.server.value
        let client = try SharedSeaweedFS.client(server)
        let bucket = try await SharedSeaweedFS.bucket(client, "pipeline")
        let identity = AgeIdentity.generate()
        let input = codecSampleData(12 << 20)
        let key = "etcd/c1/m1/snap.db.zst.age"
        let upload = try MultipartUploadSink(client: client, bucket: bucket, key: key, partSize: 5 << 20)
        let writer = try ZstdCompressor(downstream: try AgeEncryptor(recipients: [identity.recipient], downstream: upload))
        try DataByteSource(input).pump(into: writer)
        let reader = try ZstdDecompressor(
            upstream: try AgeDecryptor(upstream: S3ObjectSource(client: client, bucket: bucket, key: key),
                                       identities: [identity], name: key), name: key)
        #expect(try reader.readAll() == input)
    }

    @Test("A GetObject of a missing key fails the reader with NoSuchKey")
    func missingKeyThroughPipe() async throws {
        let server = try await SharedSeaweedFS.server.value
        let client = try SharedSeaweedFS.client(server)
        let bucket = try await SharedSeaweedFS.bucket(client, "nokey")
        let source = S3ObjectSource(client: client, bucket: bucket, key: "missing.db")
        do {
            _ = try source.readAll()
            Issue.record("a missing key was read")
        } catch let error as ObjectStoreError {
            #expect(error.s3Code == "NoSuchKey")
            #expect(error.detail.hasPrefix("GetObject s3://\(bucket)/missing.db at \(server.endpoint) failed: NoSuchKey (HTTP 404)"))
        }
    }
}

@Suite("S3 client transport failures")
struct S3TransportFailureTests {
    static let credentials = S3Credentials(accessKeyId: "AK", secretAccessKey: "SK", source: "test")

    @Test("An endpoint where nothing listens is reported as unreachable, with the endpoint")
    func unreachable() throws {
        let port = try freePort()
        let client = try S3Client(endpoint: "http://127.0.0.1:\(port)", credentials: Self.credentials)
        do {
            _ = try client.headObject(bucket: "b", key: "k")
            Issue.record("a closed port answered")
        } catch {
            #expect(error.kind == .unreachable)
            #expect(error.detail.hasPrefix("could not reach the S3 endpoint http://127.0.0.1:\(port) (HeadObject s3://b/k): "))
            #expect(error.detail.hasSuffix("; check remote.endpoint and that the service is running and reachable from this host"))
        }
    }

    @Test("An https endpoint whose certificate is not trusted is a TLS failure that says which CAs were trusted")
    func untrustedCertificate() async throws {
        let certificates = try TestCertificates.make()
        let port = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificates.serverCert,
                            "-key", certificates.serverKey, "-quiet"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        server.standardInput = FileHandle.nullDevice
        try server.run()
        defer {
            kill(server.processIdentifier, SIGKILL)
            let end = ContinuousClock.now + .seconds(10)
            while server.isRunning && ContinuousClock.now < end { usleep(20_000) }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while !canConnect(port) {
            #expect(ContinuousClock.now < deadline, "openssl s_server did not listen")
            if ContinuousClock.now >= deadline { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let client = try S3Client(endpoint: "https://127.0.0.1:\(port)", credentials: Self.credentials)
        do {
            _ = try client.listObjects(bucket: "b", prefix: "")
            Issue.record("an untrusted certificate was accepted")
        } catch {
            #expect(error.kind == .tls)
            #expect(error.detail.hasPrefix("TLS with the S3 endpoint https://127.0.0.1:\(port) failed (ListObjectsV2 bucket \"b\"): "))
            #expect(error.detail.contains("certificate"))
            #expect(error.detail.hasSuffix("(trusting the system CA store); set remote.ca-file to the CA that signed the endpoint's certificate"))
        }
    }
}
