/// A table column: its title, how it aligns, and how soon it is dropped when the screen is narrow
/// (the lowest `priority` goes first; the first column is never dropped).
struct TableColumn {
    var title: String
    var alignRight = false
    var priority = 5
    /// Widest the column may grow; longer values are cut with "…".
    var maxWidth = 60
}

/// Lays out rows of text under column titles in `width` cells: pure, used by every list screen.
struct TableLayout {
    var columns: [TableColumn]
    /// The width of each column, nil when dropped.
    var widths: [Int?]

    init(_ columns: [TableColumn], rows: [[String]], width: Int) {
        self.columns = columns
        var natural = columns.map { min($0.maxWidth, $0.title.count) }
        for row in rows {
            for (i, cell) in row.enumerated() where i < natural.count {
                natural[i] = min(columns[i].maxWidth, max(natural[i], cell.count))
            }
        }
        var kept = Array(repeating: true, count: columns.count)
        func total() -> Int {
            zip(natural, kept).reduce(0) { $0 + ($1.1 ? $1.0 + 2 : 0) } - 2
        }
        let order = columns.indices.dropFirst().sorted { (columns[$0].priority, -$0) < (columns[$1].priority, -$1) }
        for index in order where total() > width { kept[index] = false }
        var widths: [Int?] = zip(natural, kept).map { $1 ? $0 : nil }
        // Still too wide: shrink the widest kept column.
        var excess = total() - width
        while excess > 0, let widest = widths.indices.filter({ widths[$0] != nil }).max(by: { widths[$0]! < widths[$1]! }),
              widths[widest]! > 3 {
            let cut = min(excess, widths[widest]! - 3)
            widths[widest]! -= cut
            excess -= cut
        }
        self.widths = widths
    }

    /// One line of the table (header or row), columns two spaces apart.
    func line(_ cells: [String]) -> String {
        var parts: [String] = []
        for (i, column) in columns.enumerated() {
            guard let width = widths[i] else { continue }
            parts.append((i < cells.count ? cells[i] : "").fitted(width, pad: true, alignRight: column.alignRight))
        }
        return parts.joined(separator: "  ")
    }

    var header: String { line(columns.map(\.title)) }
}

/// The first row shown of a list of `count` rows in `height` lines so that `selected` is visible.
func scrollOffset(selected: Int, count: Int, height: Int) -> Int {
    guard height > 0, count > height else { return 0 }
    return min(max(0, selected - height + 1), count - height)
}

/// Moves a selection by a key: ↑/↓, k/j, page up/down, home/end. Returns nil when the key is not a movement.
func moveSelection(_ selected: Int, count: Int, key: Key, page: Int) -> Int? {
    guard count > 0 else {
        switch key {
        case .up, .down, .pageUp, .pageDown, .home, .end, .character("j"), .character("k"): return 0
        default: return nil
        }
    }
    let moved: Int
    switch key {
    case .up, .character("k"): moved = selected - 1
    case .down, .character("j"): moved = selected + 1
    case .pageUp: moved = selected - max(1, page)
    case .pageDown: moved = selected + max(1, page)
    case .home, .character("g"): moved = 0
    case .end, .character("G"): moved = count - 1
    default: return nil
    }
    return min(max(0, moved), count - 1)
}

/// Words wrapped into lines of at most `width` cells.
func wrap(_ text: String, width: Int) -> [String] {
    guard width > 0 else { return [] }
    var lines: [String] = []
    var current = ""
    for word in text.split(separator: " ", omittingEmptySubsequences: true) {
        if current.isEmpty {
            current = String(word)
        } else if current.count + 1 + word.count <= width {
            current += " " + word
        } else {
            lines.append(current)
            current = String(word)
        }
        while current.count > width {
            lines.append(String(current.prefix(width)))
            current = String(current.dropFirst(width))
        }
    }
    if !current.isEmpty { lines.append(current) }
    return lines
}

/// Items joined by " · " into lines of at most `width` cells; an item is never split unless it alone is too wide.
func wrapItems(_ items: [String], width: Int) -> [String] {
    var lines: [String] = []
    var current = ""
    for item in items {
        if current.isEmpty {
            current = item
        } else if current.count + 3 + item.count <= width {
            current += " · " + item
        } else {
            lines.append(current)
            current = item
        }
    }
    if !current.isEmpty { lines.append(current) }
    return lines.flatMap { $0.count > width ? wrap($0, width: width) : [$0] }
}
