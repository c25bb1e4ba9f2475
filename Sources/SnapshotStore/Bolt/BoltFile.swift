#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemSupport

/// A read-only view of a bbolt database file (an etcd `member/snap/db`, or the db part of a snapshot).
///
/// The file is memory-mapped read-only; iteration hands out `UnsafeRawBufferPointer` slices of the
/// mapping that are valid only inside the closure that receives them. The resident part of the mapping is
/// bounded (`BoltResidency`): pages are released as a walk moves on, so memory stays small at any file size. Every page id, offset and count
/// read from the file is treated as untrusted: corruption is reported as a `BoltError`, never a crash.
/// (A file truncated by someone else while it is mapped can still raise SIGBUS, as with any mmap reader.)
public final class BoltFile: @unchecked Sendable {
    // @unchecked: every stored property is immutable after init and the mapping is read-only.

    public let path: String
    /// How many bytes of the file are the database (a snapshot's sha256 trailer excluded).
    public let fileLength: Int
    public let pageSize: Int
    /// The meta page in use: the valid one with the higher txid.
    public let meta: BoltMeta
    /// Which meta page is in use (0 or 1).
    public let metaPage: Int
    /// Why the other meta page could not be used, when it could not (a torn write leaves one bad).
    public let otherMetaProblem: String?

    let base: UnsafeRawPointer
    let mappedLength: Int
    /// Kept open for page-cache advice (`releaseMemory(dropPageCache:)`).
    let fd: Int32
    let residency: BoltResidency

    /// Bytes the database occupies: meta.pgid * pageSize (what `etcdctl snapshot status` calls totalSize).
    public var databaseSize: Int { Int(meta.pgid) * pageSize }
    /// Pages below the high-water mark; every reachable page id is below this.
    var pageLimit: UInt64 { meta.pgid }

    /// Opens and maps `path`. `length` is how many leading bytes are the database: pass it when the
    /// caller has stripped a trailer (an etcd snapshot ends in a 32-byte sha256 of the db).
    public init(path: String, length: Int? = nil) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a regular file).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw BoltError(.cannotOpen, "could not open: \(Self.errnoText())", path: path)
        }
        var keepOpen = false
        defer { if !keepOpen { close(fd) } }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw BoltError(.cannotOpen, "could not stat: \(Self.errnoText())", path: path)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw BoltError(.cannotOpen, "not a regular file", path: path)
        }
        let size = Int(info.st_size)
        let dbLength = length ?? size
        guard dbLength >= 0, dbLength <= size else {
            throw BoltError(.truncated, "the file has \(size) bytes, fewer than the \(dbLength) expected", path: path)
        }
        guard dbLength > 0 else {
            throw BoltError(.empty, "the file is empty", path: path)
        }
        guard let mapping = mmap(nil, dbLength, PROT_READ, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            throw BoltError(.cannotOpen, "could not map \(dbLength) bytes: \(Self.errnoText())", path: path)
        }
        let pointer = UnsafeRawPointer(mapping)
        do {
            let chosen = try Self.chooseMeta(UnsafeRawBufferPointer(start: pointer, count: dbLength))
            pageSize = chosen.pageSize
            meta = chosen.meta
            metaPage = chosen.index
            otherMetaProblem = chosen.otherProblem
        } catch let error as BoltError {
            munmap(mapping, dbLength)
            throw error.at(path: path)
        }
        base = pointer
        mappedLength = dbLength
        fileLength = dbLength
        self.fd = fd
        residency = BoltResidency(base: pointer, length: dbLength)
        keepOpen = true
        // No madvise(WILLNEED): a revision lookup reads a handful of pages and should not pull a
        // multi-gigabyte file into memory; full walks do fine with the kernel's default read-ahead.
    }

    deinit {
        residency.unregister()
        munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
        close(fd)
    }

    /// The whole database as bytes (valid while this object lives).
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: base, count: fileLength))
    }

    static func errnoText() -> String {
        errnoDescription(errno)
    }
}

// MARK: - Choosing a meta page

extension BoltFile {
    struct ChosenMeta {
        var pageSize: Int
        var meta: BoltMeta
        var index: Int
        var otherProblem: String?
    }

    static let headerSize = 16
    static let minimumPageSize = 512
    static let maximumPageSize = 1 << 20

    static func isPlausiblePageSize(_ size: Int) -> Bool {
        size >= minimumPageSize && size <= maximumPageSize && size & (size - 1) == 0
    }

    /// Reads meta 0 for the page size (probing meta 1 at 512 << i when meta 0 is bad), then uses the
    /// valid meta with the higher txid, as bbolt does.
    static func chooseMeta(_ file: UnsafeRawBufferPointer) throws -> ChosenMeta {
        let metaEnd = headerSize + BoltMeta.size
        func metaAt(_ offset: Int) -> BoltMeta? {
            guard offset + metaEnd <= file.count else { return nil }
            return BoltMeta(at: file.baseAddress! + offset + headerSize)
        }

        let meta0 = metaAt(0)
        guard let meta0 else {
            throw BoltError(.notBolt, "not a bbolt file: it has only \(file.count) bytes, too few for a meta page")
        }
        var problem0 = meta0.problem
        if problem0 == nil, !isPlausiblePageSize(Int(meta0.pageSize)) {
            problem0 = "page size \(meta0.pageSize) is not a power of two between 512 and 1 MiB"
        }

        var pageSize: Int
        var meta1: BoltMeta?
        var problem1: String?
        if problem0 == nil {
            pageSize = Int(meta0.pageSize)
            meta1 = metaAt(pageSize)
            if let meta1 {
                problem1 = meta1.problem
                if problem1 == nil, Int(meta1.pageSize) != pageSize {
                    problem1 = "page size \(meta1.pageSize) differs from meta page 0's \(pageSize)"
                }
            } else {
                problem1 = "the file ends before meta page 1"
            }
        } else {
            // Meta 0 is unusable: look for a valid meta 1 at each plausible page size.
            pageSize = 0
            var shift = 0
            var probeProblem: String?
            while minimumPageSize << shift <= maximumPageSize {
                let candidate = minimumPageSize << shift
                if let probe = metaAt(candidate), probe.magic == BoltMeta.magic {
                    if probe.problem == nil, Int(probe.pageSize) == candidate {
                        pageSize = candidate
                        meta1 = probe
                        break
                    }
                    probeProblem = probeProblem ?? "meta page 1 at byte \(candidate): \(probe.problem ?? "page size \(probe.pageSize)")"
                }
                shift += 1
            }
            if meta1 == nil {
                if meta0.magic == BoltMeta.magic || probeProblem != nil {
                    throw BoltError(.notBolt, "both meta pages are invalid (meta page 0: \(problem0!); \(probeProblem ?? "no meta page 1 found"))")
                }
                throw BoltError(.notBolt, "not a bbolt file: no bbolt meta page at the start (\(problem0!))")
            }
        }

        let index: Int
        let chosen: BoltMeta
        let otherProblem: String?
        switch (problem0, problem1) {
        case (nil, nil):
            index = meta1!.txid > meta0.txid ? 1 : 0
            chosen = index == 1 ? meta1! : meta0
            otherProblem = nil
        case (nil, let problem?):
            (index, chosen, otherProblem) = (0, meta0, "meta page 1: \(problem)")
        case (let problem?, nil):
            (index, chosen, otherProblem) = (1, meta1!, "meta page 0: \(problem)")
        case (let problem0?, let problem1?):
            throw BoltError(.notBolt, "both meta pages are invalid (meta page 0: \(problem0); meta page 1: \(problem1))")
        }

        try validate(chosen, index: index, pageSize: pageSize, fileLength: file.count)
        return ChosenMeta(pageSize: pageSize, meta: chosen, index: index, otherProblem: otherProblem)
    }

    static func validate(_ meta: BoltMeta, index: Int, pageSize: Int, fileLength: Int) throws {
        let page = UInt64(index)
        guard meta.pgid >= 3 else {
            throw BoltError(.badMeta, page: page, "meta page \(index) says the database has \(meta.pgid) pages; it needs at least 3")
        }
        let filePages = UInt64(fileLength / pageSize)
        guard meta.pgid <= filePages else {
            let need = meta.pgid.multipliedReportingOverflow(by: UInt64(pageSize))
            let needText = need.overflow ? "more than 2^64" : "\(need.partialValue)"
            throw BoltError(.truncated, page: page,
                            "the file is truncated: meta page \(index) says the database spans \(meta.pgid) pages of \(pageSize) bytes (\(needText) bytes), but the file holds \(fileLength) bytes (\(filePages) whole pages)")
        }
        guard meta.root >= 2, meta.root < meta.pgid else {
            throw BoltError(.badMeta, page: page, "meta page \(index) puts the root bucket at page \(meta.root), outside pages 2..<\(meta.pgid)")
        }
        if meta.freelistIsStored, meta.freelist < 2 || meta.freelist >= meta.pgid {
            throw BoltError(.badMeta, page: page, "meta page \(index) puts the freelist at page \(meta.freelist), outside pages 2..<\(meta.pgid)")
        }
    }
}
