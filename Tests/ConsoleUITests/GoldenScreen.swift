@testable import ConsoleUI
import Foundation
import Testing

/// Golden screens: a console rendered at a fixed size compared with `Snapshots/<name>-<W>x<H>.txt`.
/// `RECORD_SNAPSHOTS=1` writes the files and fails the run, so every re-record is looked at.
enum GoldenScreen {
    static let sizes = [(80, 24), (120, 40)]

    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")
    }

    static func render(_ console: Console, width: Int, height: Int) -> TextGrid {
        var grid = TextGrid(width: width, height: height)
        console.render(into: &grid)
        return grid
    }

    static func check(_ console: Console, _ name: String, width: Int, height: Int,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let text = render(console, width: width, height: height).text
        let file = directory.appendingPathComponent("\(name)-\(width)x\(height).txt")
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: file)
            Issue.record("recorded \(file.lastPathComponent) (RECORD_SNAPSHOTS=1 always fails: look at the file, then run again without it)",
                         sourceLocation: sourceLocation)
            return
        }
        guard let expected = try? String(contentsOf: file, encoding: .utf8) else {
            Issue.record("no golden file \(file.path): run with RECORD_SNAPSHOTS=1 to record it", sourceLocation: sourceLocation)
            return
        }
        if expected != text {
            let diff = lineDiff(expected, text)
            Issue.record("screen \(name) at \(width)x\(height) differs from \(file.lastPathComponent):\n\(diff)",
                         sourceLocation: sourceLocation)
        }
    }

    /// The lines that differ, numbered, expected then actual.
    static func lineDiff(_ expected: String, _ actual: String) -> String {
        let a = expected.components(separatedBy: "\n")
        let b = actual.components(separatedBy: "\n")
        var out: [String] = []
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : "<none>"
            let y = i < b.count ? b[i] : "<none>"
            if x != y { out.append("\(i + 1) - \(x)\n\(i + 1) + \(y)") }
        }
        return out.joined(separator: "\n")
    }
}
