import Foundation
import Testing
@testable import ObjectStore

@Suite("SigV4 signing and credentials")
struct S3SigningTests {
    static let example = S3Credentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE",
                                       secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", source: "test")
    static let day = Date(timeIntervalSince1970: 1_369_353_600)   // 2013-05-24T00:00:00Z

    @Test("The signature matches AWS's published GET Object example (Range header signed)")
    func getObjectExample() {
        let signer = SigV4Signer(credentials: Self.example, region: "us-east-1")
        let headers = signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: [],
                                  headers: [("Range", "bytes=0-9")], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.day)
        let authorization = headers.first { $0.0 == "Authorization" }?.1
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
        #expect(!headers.contains { $0.0.lowercased() == "range" || $0.0 == "host" })
    }

    @Test("The signature matches AWS's published GET Bucket (list) example (query parameters sorted)")
    func listExample() {
        let signer = SigV4Signer(credentials: Self.example, region: "us-east-1")
        let headers = signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/",
                                  query: [("prefix", "J"), ("max-keys", "2")], headers: [],
                                  payloadHash: SigV4Signer.emptyPayloadHash, date: Self.day)
        #expect(headers.first { $0.0 == "Authorization" }?.1.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }

    @Test("A session token is sent and signed")
    func sessionToken() {
        var credentials = Self.example
        credentials.sessionToken = "token-123"
        let headers = SigV4Signer(credentials: credentials, region: "eu-west-1")
            .sign(method: "GET", host: "h", path: "/b/k", query: [], headers: [], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.day)
        #expect(headers.contains { $0 == ("x-amz-security-token", "token-123") })
        #expect(headers.first { $0.0 == "Authorization" }?.1.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token") == true)
        #expect(!credentials.description.contains("token-123"))
        #expect(!credentials.description.contains(credentials.secretAccessKey))
    }

    @Test("Keys are percent-encoded per segment, query values fully")
    func encoding() {
        #expect(SigV4Signer.encode("/p/c1/m 1/2026-12-01T00:00:00Z-r5.db.zst", keepSlash: true)
                == "/p/c1/m%201/2026-12-01T00%3A00%3A00Z-r5.db.zst")
        #expect(SigV4Signer.canonicalQuery([("uploads", ""), ("a/b", "c d")]) == "a%2Fb=c%20d&uploads=")
    }

    @Test("Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when both are set")
    func environmentCredentials() throws {
        let credentials = try S3Credentials.resolve(
            environment: ["AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_SESSION_TOKEN": "T"], home: "/nonexistent")
        #expect(credentials == S3Credentials(accessKeyId: "AK", secretAccessKey: "SK", sessionToken: "T",
                                             source: "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"))
        #expect(throws: ObjectStoreError.self) { try S3Credentials.resolve(environment: ["AWS_ACCESS_KEY_ID": "AK"], home: "/x") }
        do {
            _ = try S3Credentials.resolve(environment: ["AWS_ACCESS_KEY_ID": "AK"], home: "/x")
        } catch {
            #expect(error.detail == "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or unset both to use a credentials file")
        }
    }

    @Test("Credentials come from an AWS INI file with a profile; a missing profile names the ones there")
    func fileCredentials() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s3creds-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("credentials").path
        try """
            # comment
            [default]
            aws_access_key_id = DEFAULTKEY
            aws_secret_access_key = defaultsecret

            [backup]
            aws_access_key_id=BACKUPKEY
            aws_secret_access_key=backup/secret+x
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let viaEnv = try S3Credentials.resolve(environment: ["AWS_SHARED_CREDENTIALS_FILE": path, "AWS_PROFILE": "backup"], home: "/x")
        #expect(viaEnv.accessKeyId == "BACKUPKEY" && viaEnv.secretAccessKey == "backup/secret+x")
        #expect(viaEnv.source == "\(path) [backup]")
        let explicit = try S3Credentials.resolve(environment: ["AWS_ACCESS_KEY_ID": "IGNORED", "AWS_SECRET_ACCESS_KEY": "x"],
                                                 credentialsFile: path, profile: "default", home: "/x")
        #expect(explicit.accessKeyId == "DEFAULTKEY")
        do {
            _ = try S3Credentials.resolve(environment: [:], credentialsFile: path, profile: "prod", home: "/x")
            Issue.record("a missing profile was accepted")
        } catch {
            #expect(error.kind == .credentials)
            #expect(error.detail == "credentials file \(path) has no profile [prod] (it has: backup, default)")
        }
        do {
            _ = try S3Credentials.resolve(environment: [:], home: "/nonexistent-home")
            Issue.record("no credentials were accepted")
        } catch {
            #expect(error.detail.hasPrefix("no S3 credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and the credentials file /nonexistent-home/.aws/credentials cannot be read"))
        }
    }

    @Test("An endpoint that is not scheme://host[:port] is refused before any request")
    func badEndpoint() {
        for (endpoint, expected) in [
            ("s3.example.com", "remote endpoint \"s3.example.com\" is not an http:// or https:// URL (for example https://s3.example.com or http://127.0.0.1:8333)"),
            ("https://s3.example.com/bucket", "remote endpoint \"https://s3.example.com/bucket\" has a path or query; give only scheme://host[:port] and put the bucket in remote.bucket"),
        ] {
            do {
                _ = try S3Client(endpoint: endpoint, credentials: Self.example)
                Issue.record("\(endpoint) was accepted")
            } catch {
                #expect(error.detail == expected)
            }
        }
    }
}
