import Foundation

/// `<dir>/.etcd-console-cache.json`: what the catalog learned about files so the next listing need not learn it
/// again. One file for the whole directory, read once and rewritten atomically (at most once per listing, and
/// only when something changed), so a warm listing of a thousand snapshots costs one small JSON decode and
/// `stat` calls instead of a thousand file reads.
///
/// Every record is valid only while the file it describes keeps the size and modification time (nanoseconds) it
/// was recorded with; a changed file is read or analysed again. Records of files that are gone are dropped.
struct CatalogCache: Codable, Equatable {
    static let fileName = ".etcd-console-cache.json"
    static let currentFormatVersion = 1

    struct Record: Codable, Equatable {
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

    /// The cache in `directory`, or an empty one when it is missing, unreadable, damaged or from another
    /// format or analyzer version (the cache only saves work; losing it loses nothing).
    static func load(directory: String, analyzerVersion: Int) -> CatalogCache {
        let empty = CatalogCache(analyzerVersion: analyzerVersion)
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName),
              let cache = try? decoder.decode(CatalogCache.self, from: data),
              cache.formatVersion == currentFormatVersion, cache.analyzerVersion == analyzerVersion else { return empty }
        return cache
    }

    func save(directory: String) throws(SnapshotStoreError) {
        let data: Data
        do {
            data = try Self.encoder.encode(self)
        } catch {
            throw SnapshotStoreError(.io, path: directory + "/" + Self.fileName, "could not encode the catalog cache: \(error)")
        }
        try AtomicFileWriter.replace(directory + "/" + Self.fileName, with: data, mode: 0o600)
    }

    // Dates as Foundation stores them (seconds since 2001 as a Double): a number is the fastest form to decode,
    // and unlike "seconds since 1970" it comes back bit for bit, so a warm listing equals a cold one.
    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .deferredToDate
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .deferredToDate
        return decoder
    }
}
