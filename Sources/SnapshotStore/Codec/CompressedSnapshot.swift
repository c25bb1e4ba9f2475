import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Local zstd-compressed snapshots (`compression: zstd`, issue 14): `<name>.db.zst`, a standard zstd stream of the
/// snapshot file as etcd produced it (trailer included), so `zstd -d` gives the `.db` back byte for byte.
///
/// Readers need random access (the bbolt walk), so a compressed file is decompressed once into an unlinked
/// temporary file (O_TMPFILE, beside the snapshot: /tmp may be RAM), read through `/proc/self/fd/N`, and gone
/// when the last descriptor closes. Memory stays bounded (the stream: a 128 KiB input buffer and the frame's
/// window); the temporary file's pages are dropped from the page cache when it closes.
public enum CompressedSnapshot {
    public static let suffix = ".db.zst"

    public static func isCompressed(_ path: String) -> Bool { path.hasSuffix(suffix) }

    /// `snapshot-X.db` for `snapshot-X.db.zst`; the name itself otherwise.
    public static func plainName(_ name: String) -> String {
        isCompressed(name) ? String(name.dropLast(".zst".count)) : name
    }

    /// O_TMPFILE as Linux defines it (__O_TMPFILE | O_DIRECTORY); Glibc's macro does not import.
    static let tmpfileFlag: Int32 = 0o20000000 | O_DIRECTORY

    /// A decompressed copy held open: `path` reads it (`/proc/self/fd/N`) while this value lives.
    public final class Plain: @unchecked Sendable {
        public let fd: Int32
        public let path: String
        public let size: Int
        init(fd: Int32, size: Int) {
            self.fd = fd
            self.size = size
            self.path = "/proc/self/fd/\(fd)"
        }
        deinit {
            PageCache.drop(fd: fd)
            close(fd)
        }
    }

    /// Decompresses `path` (a `.db.zst`, opened without following a link) into an unlinked temporary file in
    /// its directory (or `temporaryDirectory` when that one cannot hold it). Errors name the file and what is
    /// wrong ("...db.zst is truncated: the zstd data ends inside a frame").
    public static func decompress(_ path: String, temporaryDirectory: String? = nil) throws(SnapshotStoreError) -> Plain {
        let input = try SafeFile.open(path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        var info = stat()
        guard fstat(input, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(input)
            throw SnapshotStoreError(.refused, path: path, "\(path) is not a regular file; a compressed snapshot is one")
        }
        let source = FileByteSource(fd: input, path: path)
        let directory = temporaryDirectory ?? (path as NSString).deletingLastPathComponent
        var fd = Glibc.open(directory.isEmpty ? "." : directory, tmpfileFlag | O_RDWR | O_CLOEXEC, 0o600)
        if fd < 0 { fd = Glibc.open(NSTemporaryDirectory(), tmpfileFlag | O_RDWR | O_CLOEXEC, 0o600) }
        guard fd >= 0 else {
            throw SnapshotStoreError(.io, path: path, "could not make a temporary file to decompress \(path) into (in \(directory)): \(errnoDescription(errno))")
        }
        let sink = DescriptorSink(fd: fd, path: path)
        do {
            let decompressor = try ZstdDecompressor(upstream: source, name: path)
            _ = try decompressor.pump(into: sink)
        } catch let error as CodecError {
            close(fd)
            throw SnapshotStoreError(error.kind == .io ? .io : .corrupt, path: path, error.detail)
        } catch {
            close(fd)
            throw SnapshotStoreError(.io, path: path, "could not decompress \(path): \(error)")
        }
        PageCache.drop(fd: input)
        return Plain(fd: fd, size: sink.count)
    }

    /// Runs `body` with a path to the snapshot as plain bytes: `path` itself when it is not compressed, else a
    /// decompressed temporary copy; `rename` puts the real name back into text that names the temporary one.
    public static func withPlain<T>(_ path: String, _ body: (_ plainPath: String, _ rename: (String) -> String) throws -> T) throws -> T {
        guard isCompressed(path) else { return try body(path, { $0 }) }
        let plain = try decompress(path)
        return try withExtendedLifetime(plain) {
            try body(plain.path, { $0.replacingOccurrences(of: plain.path, with: path) })
        }
    }
}

/// Appends to a descriptor it does not own; counts the bytes.
final class DescriptorSink: ByteSink {
    let fd: Int32
    let path: String
    private(set) var count = 0
    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw CodecError(.io, "could not write the decompressed copy of \(path): \(errnoDescription(errno))")
            }
            done += n
        }
        count += bytes.count
    }
    func finish() throws {}
}
