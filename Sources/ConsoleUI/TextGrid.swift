/// How a cell is drawn. The terminal maps each to a color pair, or to bold/reverse/dim when colors are off
/// (`NO_COLOR`), so every state stays readable in monochrome.
public enum CellStyle: UInt8, Sendable, CaseIterable {
    case normal, title, header, selected, good, warning, bad, dim, key
}

/// One character cell: a grapheme and its style.
public struct Cell: Sendable, Equatable {
    public var character: Character
    public var style: CellStyle

    public init(_ character: Character = " ", _ style: CellStyle = .normal) {
        self.character = character
        self.style = style
    }
}

/// A screen's worth of cells, written by the pure render functions and drawn by the terminal.
///
/// Every `Character` takes one cell; writes past the right or bottom edge are clipped, never wrapped.
/// `text` is the golden-test form: one line per row, trailing spaces trimmed.
public struct TextGrid: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Cell(), count: self.width * self.height)
    }

    public subscript(row: Int, column: Int) -> Cell {
        cells[row * width + column]
    }

    /// Writes `text` from (row, column), clipped at the right edge; returns the column after the last cell written.
    @discardableResult
    public mutating func put(_ text: String, row: Int, column: Int, style: CellStyle = .normal, limit: Int? = nil) -> Int {
        guard row >= 0, row < height else { return column }
        let end = min(width, limit.map { column + $0 } ?? width)
        var col = column
        for character in text {
            if col >= end { break }
            if col >= 0 {
                cells[row * width + col] = Cell(character == "\t" || character == "\n" ? " " : character, style)
            }
            col += 1
        }
        return col
    }

    /// Sets the style of `count` cells from (row, column) without changing their characters.
    public mutating func paint(row: Int, column: Int = 0, count: Int? = nil, style: CellStyle) {
        guard row >= 0, row < height else { return }
        let end = min(width, column + (count ?? width))
        for col in max(0, column)..<max(max(0, column), end) { cells[row * width + col].style = style }
    }

    /// Clears a rectangle to blanks.
    public mutating func clear(row: Int, column: Int, height rows: Int, width columns: Int) {
        for r in max(0, row)..<min(height, row + rows) {
            for c in max(0, column)..<min(width, column + columns) { cells[r * width + c] = Cell() }
        }
    }

    /// The rows as text, trailing spaces trimmed (golden files, tmux checks).
    public var lines: [String] {
        (0..<height).map { row in
            var line = String(cells[(row * width)..<((row + 1) * width)].map(\.character))
            while line.last == " " { line.removeLast() }
            return line
        }
    }

    public var text: String { lines.joined(separator: "\n") + "\n" }

    /// Row-wise runs of cells that differ from `previous` (all cells when the size changed): what the terminal redraws.
    public func changes(from previous: TextGrid?) -> [(row: Int, column: Int, cells: ArraySlice<Cell>)] {
        var runs: [(row: Int, column: Int, cells: ArraySlice<Cell>)] = []
        let sameSize = previous.map { $0.width == width && $0.height == height } ?? false
        for row in 0..<height {
            let base = row * width
            var col = 0
            while col < width {
                if sameSize && previous!.cells[base + col] == cells[base + col] { col += 1; continue }
                let start = col
                while col < width && !(sameSize && previous!.cells[base + col] == cells[base + col]) { col += 1 }
                runs.append((row, start, cells[(base + start)..<(base + col)]))
            }
        }
        return runs
    }
}

extension String {
    /// Cut to `width` cells with "…" when longer; padded with spaces to `width` when `pad`.
    func fitted(_ width: Int, pad: Bool = false, alignRight: Bool = false) -> String {
        guard width > 0 else { return "" }
        var text = self
        if text.count > width { text = String(text.prefix(width - 1)) + "…" }
        guard pad, text.count < width else { return text }
        let padding = String(repeating: " ", count: width - text.count)
        return alignRight ? padding + text : text + padding
    }
}
