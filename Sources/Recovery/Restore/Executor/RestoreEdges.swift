import EtcdClient
import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

// The restore executor's side effects, injected (STYLE: "side effects at the edges"): the etcd it checks,
// the file system it moves data dirs in, and the clock it times steps and waits by. Each has a live
// implementation here and a fake in `Practice` (`FakeRestoreFileSystem`, `FakeEtcdHealthProbe`,
// `FakeRestoreClock`), so every rollback branch has a fast test with no etcd and no processes.

/// What `status` says about a running etcd.
public struct EtcdHealth: Sendable, Equatable {
    public var version: String
    public var revision: Int64

    public init(version: String, revision: Int64) {
        self.version = version
        self.revision = revision
    }
}

/// One member as the member list shows it.
public struct EtcdMemberFacts: Sendable, Equatable {
    public var name: String
    public var peerURLs: [String]

    public init(name: String, peerURLs: [String]) {
        self.name = name
        self.peerURLs = peerURLs
    }
}

/// What the verify step compares with the snapshot.
public struct RestoredEtcdState: Sendable, Equatable {
    public var revision: Int64
    public var keys: Int
    public var members: [EtcdMemberFacts]

    public init(revision: Int64, keys: Int, members: [EtcdMemberFacts]) {
        self.revision = revision
        self.keys = keys
        self.members = members
    }
}

/// Asks the local etcd how it is, for the steps after the restore and for the rollback.
public protocol EtcdHealthProbe: Sendable {
    /// `status` of the first endpoint that answers; throws when none does.
    func health() async throws -> EtcdHealth
    /// Revision, key count and members; throws when etcd cannot be read.
    func restoredState() async throws -> RestoredEtcdState
    /// The keys under `prefix` (keys only).
    func keys(prefix: String) async throws -> [String]
    /// True when something accepts a TCP connection on `endpoint` (a client URL): etcd has not let go of its port.
    func accepts(_ endpoint: String) -> Bool
}

/// The file system operations of a restore. Errors are `RestoreError(.fileSystem)` naming the path and errno.
public protocol RestoreFileSystem: Sendable {
    func exists(_ path: String) -> Bool
    func isExecutable(_ path: String) -> Bool
    /// The size of a regular file, nil when it cannot be stat'ed.
    func size(of path: String) -> Int64?
    /// Free bytes for an unprivileged writer in the nearest existing directory at or above `path`.
    func freeSpace(near path: String) throws -> (directory: String, bytes: Int64)
    /// rename(2), then fsync of the destination's directory.
    func move(_ source: String, to destination: String) throws
    /// lchown of `root` and everything below it.
    func chownTree(_ root: String, uid: UInt32, gid: UInt32) throws
    func chmod(_ path: String, mode: UInt16) throws
}

/// Time for the executor: step durations, deadlines, polling pauses and timestamps in file names.
public protocol RestoreClock: Sendable {
    var now: ContinuousClock.Instant { get }
    var date: Date { get }
    func sleep(for duration: Duration) async throws
}

// MARK: live implementations

/// The real etcd, reached with short timeouts (2 s connect, 5 s call) so a silent peer cannot stall a step.
public struct LiveEtcdHealthProbe: EtcdHealthProbe {
    let configuration: EtcdClientConfiguration

    public init(clientConfiguration: EtcdClientConfiguration) {
        var configuration = clientConfiguration
        configuration.connectTimeout = .seconds(2)
        configuration.callTimeout = .seconds(5)
        self.configuration = configuration
    }

    public func health() async throws -> EtcdHealth {
        try await withClient { client in
            let status = try await client.status()
            return EtcdHealth(version: status.version, revision: status.header.revision)
        }
    }

    public func restoredState() async throws -> RestoredEtcdState {
        try await withClient { client in
            let status = try await client.status()
            let keys = try await client.count(prefix: "")
            let members = try await client.memberList()
            return RestoredEtcdState(revision: status.header.revision, keys: keys,
                                     members: members.members.map { EtcdMemberFacts(name: $0.name, peerURLs: $0.peerUrls) })
        }
    }

    public func keys(prefix: String) async throws -> [String] {
        try await withClient { client in
            try await client.list(prefix: prefix, keysOnly: true).kvs.map { String(decoding: $0.key, as: UTF8.self) }
        }
    }

    /// A client for one call, closed (awaited) whether the call threw or not.
    private func withClient<T: Sendable>(_ body: (EtcdClient) async throws -> T) async throws -> T {
        let client = EtcdClient(configuration)
        do {
            let value = try await body(client)
            await client.close()
            return value
        } catch {
            await client.close()
            throw error
        }
    }

    public func accepts(_ endpoint: String) -> Bool {
        guard let parsed = try? Endpoint(parsing: endpoint) else { return false }
        return Self.accepts(host: parsed.host, port: parsed.port)
    }

    /// True when a TCP connection to host:port is accepted within half a second.
    static func accepts(host: String, port: Int) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd >= 0 {
                defer { close(fd) }
                if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return true }
                if errno == EINPROGRESS {
                    var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    if poll(&poller, 1, 500) == 1 {
                        var error: Int32 = 0
                        var length = socklen_t(MemoryLayout<Int32>.size)
                        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                        if error == 0 { return true }
                    }
                }
            }
            entry = info.pointee.ai_next
        }
        return false
    }
}

/// The host's file system.
public struct LiveRestoreFileSystem: RestoreFileSystem {
    public init() {}

    public func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    public func isExecutable(_ path: String) -> Bool { FileManager.default.isExecutableFile(atPath: path) }

    public func size(of path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    public func freeSpace(near path: String) throws -> (directory: String, bytes: Int64) {
        switch FreeSpace.near(path) {
        case .success(let space): return space
        case .failure(let error): throw RestoreError(.fileSystem, "\(error)")
        }
    }

    public func move(_ source: String, to destination: String) throws {
        guard rename(source, destination) == 0 else {
            throw RestoreError(.fileSystem, "could not move \(source) to \(destination): \(errnoDescription())")
        }
        JournalWriter.fsyncDirectory(of: destination)
    }

    public func chownTree(_ root: String, uid: UInt32, gid: UInt32) throws {
        var paths = [root]
        if let enumerator = FileManager.default.enumerator(atPath: root) {
            for case let relative as String in enumerator { paths.append(root + "/" + relative) }
        }
        for path in paths where lchown(path, uid, gid) != 0 {
            throw RestoreError(.fileSystem, "could not chown \(path) to \(uid):\(gid): \(errnoDescription())")
        }
    }

    public func chmod(_ path: String, mode: UInt16) throws {
        guard Glibc.chmod(path, mode_t(mode)) == 0 else {
            throw RestoreError(.fileSystem, "could not chmod \(path): \(errnoDescription())")
        }
    }
}

/// The monotonic clock for durations and waits, the wall clock for names.
public struct LiveRestoreClock: RestoreClock {
    public init() {}
    public var now: ContinuousClock.Instant { ContinuousClock.now }
    public var date: Date { Date() }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
