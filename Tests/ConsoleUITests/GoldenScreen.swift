@testable import ConsoleUI
import EtcdTestSupport
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
        if let problem = try GoldenFile.compare(text, with: file, what: "screen \(name) at \(width)x\(height)") {
            Issue.record(Comment(rawValue: problem), sourceLocation: sourceLocation)
        }
    }
}
