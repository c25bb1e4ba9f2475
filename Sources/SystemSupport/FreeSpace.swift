import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Free space on the file system that holds a path.
public enum FreeSpace {
    /// The nearest existing directory at or above `path` and the bytes an unprivileged writer may still use
    /// there (statvfs f_bavail x f_frsize); nil with the errno text when statvfs fails.
    public static func near(_ path: String) -> Result<(directory: String, bytes: Int64), FreeSpaceError> {
        var directory = path.isEmpty ? "/" : path
        while !FileManager.default.fileExists(atPath: directory) && directory != "/" {
            directory = (directory as NSString).deletingLastPathComponent
        }
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else { return .failure(FreeSpaceError(directory: directory, reason: errnoDescription())) }
        return .success((directory, Int64(fs.f_bavail) * Int64(fs.f_frsize)))
    }
}

/// statvfs failed on `directory`.
public struct FreeSpaceError: Error, Sendable, CustomStringConvertible {
    public var directory: String
    public var reason: String
    public var description: String { "cannot read free space of \(directory): \(reason)" }
}
