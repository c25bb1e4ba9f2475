import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `<dir>/.etcd-console-cache`: what the catalog learned about files so the next listing need not learn it
/// again. One file for the whole directory, read once and rewritten atomically (at most once per listing, and
/// only when something changed), so a warm listing of ten thousand snapshots costs one small file read and
/// `stat` calls instead of ten thousand file reads.
///
/// Every record is valid only while the file it describes keeps the size and modification time (nanoseconds) it
/// was recorded with; a changed file is read or analysed again. Records of files that are gone are dropped.
///
/// The format is lines of tab-separated fields (`CatalogCacheText`), not JSON: at 10,000 snapshots a JSON cache
/// was 8.5 MB and decoding it with `JSONDecoder` took most of a listing's time (issue 13: list < 200 ms).
struct CatalogCache: Equatable {
    static let fileName = ".etcd-console-cache"
    /// The JSON cache of earlier versions; removed when the new one is written.
    static let legacyFileName = ".etcd-console-cache.json"
    static let currentFormatVersion = 2

    struct Record: Equatable {
        var size: Int
        var modifiedNs: Int64
        var metadata: SnapshotMetadata
    }

    var formatVersion = CatalogCache.currentFormatVersion
    /// The `analyzerVersion` of the catalog that wrote the records; another version starts afresh.
    var analyzerVersion: Int
    /// Results of `analyze` for snapshots without a usable sidecar, by file name, keyed by the snapshot's size and
    /// modification time.
    var analyzed: [String: Record] = [:]
    /// Contents of our sidecars, by snapshot file name, keyed by the sidecar's size and modification time.
    var sidecars: [String: Record] = [:]

    init(analyzerVersion: Int) {
        self.analyzerVersion = analyzerVersion
    }

    /// The cache in `directory`, or an empty one when it is missing, a link or not a regular file, unreadable,
    /// damaged or from another format or analyzer version (the cache only saves work; losing it loses nothing).
    static func load(directory: String, analyzerVersion: Int) -> CatalogCache {
        let empty = CatalogCache(analyzerVersion: analyzerVersion)
        guard let bytes = readRegularFile(directory + "/" + fileName),
              let cache = CatalogCacheText.decode(bytes), cache.analyzerVersion == analyzerVersion else { return empty }
        return cache
    }

    func save(directory: String) throws(SnapshotStoreError) {
        try AtomicFileWriter.replace(directory + "/" + Self.fileName, with: Data(CatalogCacheText.encode(self)), mode: 0o600)
        // The old JSON cache, if an earlier version left one (never through a link: unlink removes the link itself).
        let legacy = directory + "/" + Self.legacyFileName
        var info = stat()
        if lstat(legacy, &info) == 0, info.st_mode & S_IFMT == S_IFREG { unlink(legacy) }
    }

    /// The whole file, opened without following a link; nil for anything else.
    private static func readRegularFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size < 1 << 30 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        return bytes
    }
}

/// The cache's text: a first line `etcd-console catalog cache <format> <analyzer version>`, then one line a
/// record, `S` (sidecar) or `A` (analysis), file name, size, modification time in ns, then the metadata's 18 fields
/// (`append` lists their order). A field that is absent is empty; a present string starts with `=` (so an empty string is `=`).
/// Backslash, tab, newline and carriage return inside a string are escaped (`\\`, `\t`, `\n`, `\r`); the
/// resource counts are `name:count` pairs joined by `,` with `,` and `:` in names escaped as `\,` and `\:`.
/// Dates are `timeIntervalSinceReferenceDate` written as Swift's shortest round-trip Double, so a record read back
/// is equal bit for bit to the one written.
enum CatalogCacheText {
    private static let magic = "etcd-console catalog cache"
    /// Fields after kind, name, size and modification time.
    static let fieldCount = 18

    static func encode(_ cache: CatalogCache) -> [UInt8] {
        var out = "\(magic) \(cache.formatVersion) \(cache.analyzerVersion)\n"
        out.reserveCapacity(64 + (cache.sidecars.count + cache.analyzed.count) * 420)
        for (kind, records) in [("S", cache.sidecars), ("A", cache.analyzed)] {
            for name in records.keys.sorted() {
                let r = records[name]!
                out += kind + "\t" + escape(name) + "\t\(r.size)\t\(r.modifiedNs)\t"
                append(r.metadata, to: &out)
                out += "\n"
            }
        }
        return Array(out.utf8)
    }

    static func decode(_ bytes: [UInt8]) -> CatalogCache? {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard let header = lines.first else { return nil }
        let words = String(decoding: header, as: UTF8.self).split(separator: " ")
        guard words.count == 5, words[0...2].joined(separator: " ") == magic,
              Int(words[3]) == CatalogCache.currentFormatVersion, let analyzer = Int(words[4]) else { return nil }
        var cache = CatalogCache(analyzerVersion: analyzer)
        for line in lines.dropFirst() {
            let fields = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
            guard fields.count == 4 + fieldCount, fields[0].count == 1,
                  let name = unescape(fields[1]), !name.isEmpty,
                  let size = Int(ascii: fields[2]), let modified = Int64(ascii: fields[3]),
                  let metadata = metadata(fields[4...]) else { return nil }
            let record = CatalogCache.Record(size: size, modifiedNs: modified, metadata: metadata)
            switch fields[0].first {
            case UInt8(ascii: "S"): cache.sidecars[name] = record
            case UInt8(ascii: "A"): cache.analyzed[name] = record
            default: return nil
            }
        }
        return cache
    }

    // MARK: Fields

    private static func append(_ m: SnapshotMetadata, to out: inout String) {
        out += m.takenAt.timeIntervalSinceReferenceDate.description
        out += "\t" + optional(m.endpoint) + "\t" + optional(m.clusterID) + "\t" + optional(m.memberID)
        out += "\t" + optional(m.memberName) + "\t" + optional(m.memberPeerURLs) + "\t" + optional(m.initialCluster)
        out += "\t" + optional(m.etcdVersion) + "\t" + (m.revision.map(String.init) ?? "")
        out += "\t" + (m.liveKeys.map(String.init) ?? "") + "\t" + String(m.size) + "\t" + optional(m.sha256)
        out += "\t" + m.health.rawValue + "\t" + optional(m.reason)
        out += "\t" + (m.verifyDurationMs.map(String.init) ?? "") + "\t" + (m.saveDurationMs.map(String.init) ?? "")
        out += "\t" + (m.resources.map { resources in
            "=" + resources.keys.sorted().map { escape($0, also: true) + ":" + String(resources[$0]!) }.joined(separator: ",")
        } ?? "")
        out += "\t" + String(m.formatVersion)
    }

    private static func metadata(_ f: ArraySlice<ArraySlice<UInt8>>) -> SnapshotMetadata? {
        let f = Array(f)
        guard f.count == fieldCount, let taken = Double(String(decoding: f[0], as: UTF8.self)),
              let size = Int(ascii: f[10]), let health = SnapshotHealth(rawValue: String(decoding: f[12], as: UTF8.self)),
              let format = Int(ascii: f[17]) else { return nil }
        var m = SnapshotMetadata(takenAt: Date(timeIntervalSinceReferenceDate: taken), size: size, health: health,
                                 formatVersion: format)
        var ok = true
        func string(_ i: Int) -> String? {
            guard !f[i].isEmpty else { return nil }
            guard f[i].first == UInt8(ascii: "="), let text = unescape(f[i].dropFirst()) else { ok = false; return nil }
            return text
        }
        func number<T: FixedWidthInteger>(_ i: Int) -> T? {
            guard !f[i].isEmpty else { return nil }
            guard let value = T(ascii: f[i]) else { ok = false; return nil }
            return value
        }
        m.endpoint = string(1); m.clusterID = string(2); m.memberID = string(3); m.memberName = string(4)
        m.memberPeerURLs = string(5); m.initialCluster = string(6); m.etcdVersion = string(7)
        m.revision = number(8); m.liveKeys = number(9); m.sha256 = string(11); m.reason = string(13)
        m.verifyDurationMs = number(14); m.saveDurationMs = number(15)
        if !f[16].isEmpty {
            guard f[16].first == UInt8(ascii: "=") else { return nil }
            m.resources = resources(f[16].dropFirst())
            if m.resources == nil { return nil }
        }
        return ok ? m : nil
    }

    private static func resources(_ bytes: ArraySlice<UInt8>) -> [String: Int]? {
        var result: [String: Int] = [:]
        guard !bytes.isEmpty else { return result }
        // Split on unescaped "," and ":".
        var pairs: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex, i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == UInt8(ascii: "\\") { i += 2; continue }
            if bytes[i] == UInt8(ascii: ",") { pairs.append(bytes[start..<i]); start = i + 1 }
            i += 1
        }
        pairs.append(bytes[start..<min(i, bytes.endIndex)])
        for pair in pairs {
            var colon: Int?
            var j = pair.startIndex
            while j < pair.endIndex {
                if pair[j] == UInt8(ascii: "\\") { j += 2; continue }
                if pair[j] == UInt8(ascii: ":") { colon = j }
                j += 1
            }
            guard let colon, let name = unescape(pair[pair.startIndex..<colon]),
                  let count = Int(ascii: pair[(colon + 1)...]) else { return nil }
            result[name] = count
        }
        return result
    }

    private static func optional(_ value: String?) -> String {
        value.map { "=" + escape($0) } ?? ""
    }

    static func escape(_ text: String, also separators: Bool = false) -> String {
        guard text.utf8.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (separators && ($0 == 0x2C || $0 == 0x3A)) })
        else { return text }
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "," where separators: out += "\\,"
            case ":" where separators: out += "\\:"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func unescape(_ bytes: ArraySlice<UInt8>) -> String? {
        guard bytes.contains(UInt8(ascii: "\\")) else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            guard i + 1 < bytes.endIndex else { return nil }
            switch bytes[i + 1] {
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: ","): out.append(UInt8(ascii: ","))
            case UInt8(ascii: ":"): out.append(UInt8(ascii: ":"))
            default: return nil
            }
            i += 2
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private extension FixedWidthInteger {
    /// A decimal integer from ASCII bytes (an optional leading `-`), without going through String.
    init?(ascii bytes: ArraySlice<UInt8>) {
        var i = bytes.startIndex
        let negative = i < bytes.endIndex && bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < bytes.endIndex else { return nil }
        var value: Self = 0
        while i < bytes.endIndex {
            let d = bytes[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Self(d)) : m.addingReportingOverflow(Self(d))
            guard !o1, !o2 else { return nil }
            value = s
            i += 1
        }
        self = value
    }
}
