import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A root-only 0600 file outside the directory under test, and a way to plant links to it.
public struct SymlinkVictim {
    public static let content = "root:$6$not-to-be-truncated:19000:0:99999:7:::\n"
    public let path: String

    public init(in root: URL) throws {
        path = root.appendingPathComponent("victim-shadow-\(UUID().uuidString.prefix(8))").path  // one per test: tests run in parallel
        try Data(Self.content.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
    }

    /// Plants `link` -> the victim.
    public func plant(at link: String) throws {
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
    }

    /// The victim still holds exactly what it held (content and size), and is still 0600.
    public var isUnchanged: Bool {
        var info = stat()
        guard stat(path, &info) == 0, info.st_size == Self.content.utf8.count, info.st_mode & 0o777 == 0o600,
              let data = FileManager.default.contents(atPath: path) else { return false }
        return String(decoding: data, as: UTF8.self) == Self.content
    }
}
