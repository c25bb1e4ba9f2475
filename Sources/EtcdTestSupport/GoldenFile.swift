import Foundation

/// Golden files: text a test produced compared with a file in the test target, byte for byte.
///
/// `RECORD_SNAPSHOTS=1` writes the file instead, and the comparison reports that as a failure, so every
/// re-record is looked at before it is committed. The caller records the returned problem with its own test
/// framework (`Issue.record(problem, sourceLocation:)`): this library does not link one.
public enum GoldenFile {
    /// True when this run re-records golden files (RECORD_SNAPSHOTS=1).
    public static var recording: Bool { ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" }

    /// nil when `text` equals `file`; otherwise what to report: the numbered lines that differ, a missing file,
    /// or that the file was just recorded. `what` names the output in the message ("screen members at 80x24").
    public static func compare(_ text: String, with file: URL, what: String) throws -> String? {
        if recording {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: file)
            return "recorded \(file.lastPathComponent) (RECORD_SNAPSHOTS=1 always fails: look at the file, then run again without it)"
        }
        guard let expected = try? String(contentsOf: file, encoding: .utf8) else {
            return "no golden file \(file.path): run with RECORD_SNAPSHOTS=1 to record it"
        }
        if expected == text { return nil }
        return "\(what) differs from \(file.lastPathComponent):\n\(lineDiff(expected, text))"
    }

    /// The lines that differ, numbered, expected ("-") then actual ("+").
    public static func lineDiff(_ expected: String, _ actual: String) -> String {
        let a = expected.components(separatedBy: "\n")
        let b = actual.components(separatedBy: "\n")
        return (0..<max(a.count, b.count)).compactMap { i -> String? in
            let x = i < a.count ? a[i] : "<none>", y = i < b.count ? b[i] : "<none>"
            return x == y ? nil : "\(i + 1) - \(x)\n\(i + 1) + \(y)"
        }.joined(separator: "\n")
    }
}
