@testable import ConsoleUI
import Testing

@Suite("TextGrid")
struct TextGridTests {
    @Test("Text is clipped at the right edge and rows outside the grid are ignored")
    func clipping() {
        var grid = TextGrid(width: 5, height: 2)
        let end = grid.put("abcdefgh", row: 0, column: 2)
        grid.put("zz", row: 5, column: 0)
        #expect(end == 5)
        #expect(grid.lines == ["  abc", ""])
    }

    @Test("Only changed cells are redrawn, as runs per row; a new size redraws everything")
    func changes() {
        var a = TextGrid(width: 10, height: 3)
        a.put("hello", row: 1, column: 0)
        var b = a
        b.put("J", row: 1, column: 0)
        b.put("xy", row: 2, column: 7)
        b.paint(row: 0, column: 3, count: 1, style: .selected)
        let runs = b.changes(from: a)
        #expect(runs.map { "\($0.row):\($0.column):\($0.cells.count)" } == ["0:3:1", "1:0:1", "2:7:2"])
        #expect(b.changes(from: b).isEmpty)
        #expect(b.changes(from: TextGrid(width: 9, height: 3)).map(\.cells.count) == [10, 10, 10])
        #expect(b.changes(from: nil).count == 3)
    }

    @Test("A table drops its lowest-priority columns first when narrow, never the first one")
    func tableDropsColumns() {
        let columns = [TableColumn(title: "NAME", priority: 1), TableColumn(title: "ID", priority: 2),
                       TableColumn(title: "STATE", priority: 9)]
        let rows = [["a-very-long-name", "8e9e05c52164694d", "good"]]
        #expect(TableLayout(columns, rows: rows, width: 80).widths.map { $0 != nil } == [true, true, true])
        let narrow = TableLayout(columns, rows: rows, width: 24)
        #expect(narrow.widths.map { $0 != nil } == [true, false, true])
        #expect(narrow.line(rows[0]) == "a-very-long-name  good ", "padded to the STATE title")
        let tiny = TableLayout(columns, rows: rows, width: 12)
        #expect(tiny.line(rows[0]).count <= 12)
        #expect(tiny.line(rows[0]).contains("…"))
    }
}
