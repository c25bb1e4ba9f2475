import CNCurses
import ConsoleUI
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The only code that touches ncurses: keys in, changed cells out.
///
/// Wide-character ncursesw in UTF-8 (the locale is switched to C.UTF-8 when the environment's is not UTF-8);
/// colors unless `NO_COLOR` is set or the terminal has none, in which case styles become bold/reverse/dim;
/// resizes arrive as `Key.resize` (ncurses turns SIGWINCH into KEY_RESIZE) and the next frame is drawn whole.
public final class CursesTerminal: ConsoleTerminal {
    private var previous: TextGrid?
    private var attributes: [CellStyle: attr_t] = [:]
    private var closed = false

    /// Starts curses on the controlling terminal. `environment` is read once (NO_COLOR).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        setlocale(LC_ALL, "")
        if String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" { setlocale(LC_CTYPE, "C.UTF-8") }
        set_escdelay(25)
        initscr()
        raw()
        noecho()
        nonl()
        keypad(cn_stdscr(), true)
        curs_set(0)
        let colors = environment["NO_COLOR"].map(\.isEmpty) ?? true
        if colors && has_colors() {
            start_color()
            use_default_colors()
            let pairs: [(CellStyle, Int16, attr_t)] = [
                (.title, Int16(COLOR_CYAN), cn_a_bold()), (.good, Int16(COLOR_GREEN), cn_a_normal()),
                (.warning, Int16(COLOR_YELLOW), cn_a_bold()), (.bad, Int16(COLOR_RED), cn_a_bold()),
                (.key, Int16(COLOR_CYAN), cn_a_bold()),
            ]
            for (index, (style, color, extra)) in pairs.enumerated() {
                init_pair(Int16(index + 1), color, -1)
                attributes[style] = cn_color_pair(Int16(index + 1)) | extra
            }
            attributes[.header] = cn_a_bold() | cn_a_underline()
            attributes[.selected] = cn_a_reverse()
            attributes[.dim] = cn_a_dim()
        } else {
            attributes = [.title: cn_a_bold(), .header: cn_a_bold() | cn_a_underline(), .selected: cn_a_reverse(),
                          .warning: cn_a_bold(), .bad: cn_a_bold(), .dim: cn_a_dim(), .key: cn_a_bold(), .good: cn_a_normal()]
        }
        attributes[.normal] = cn_a_normal()
    }

    deinit { close() }

    /// Gives the terminal back (also on errors: call before printing anything).
    /// Runs before the process ends because its terminal is gone (it removes a running save's `.part`).
    public var hangUpCleanup: (() -> Void)?

    public func close() {
        guard !closed else { return }
        closed = true
        endwin()
    }

    public var size: (width: Int, height: Int) { (Int(cn_cols()), Int(cn_lines())) }

    public func readKey(timeoutMilliseconds: Int, wakeDescriptor: Int32) -> Key? {
        // A key curses already holds (the rest of an escape sequence, a paste) comes first.
        if let key = readKey(timeoutMilliseconds: 0) { return key }
        var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, 2, Int32(timeoutMilliseconds))
        // EINTR: a signal such as SIGWINCH; curses turns it into KEY_RESIZE on the next read.
        if ready < 0 { return readKey(timeoutMilliseconds: 0) }
        if ready == 0 || fds[1].revents != 0 && fds[0].revents == 0 { return nil }
        // Input (or a hang-up, which the read below handles): ESCDELAY bounds the wait for a whole sequence.
        return readKey(timeoutMilliseconds: 50)
    }

    public func readKey(timeoutMilliseconds: Int) -> Key? {
        timeout(Int32(timeoutMilliseconds))
        var ch: wint_t = 0
        let result = get_wch(&ch)
        if result == KEY_CODE_YES { return Self.functionKey(Int32(ch)) }
        guard result == OK else {
            // The terminal went away (SSH dropped, tmux killed) but no SIGHUP came (another process group):
            // end as a hang-up would, instead of spinning on a dead terminal. A restore in progress is in its
            // journal; the next console start offers resume or rollback.
            if Self.terminalHungUp() {
                hangUpCleanup?()
                endwin()
                signal(SIGHUP, SIG_DFL)
                raise(SIGHUP)
                exit(129)
            }
            return nil
        }
        switch ch {
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        case 1...26: return .control(Character(Unicode.Scalar(UInt8(ch) + 96)))
        default:
            guard let scalar = Unicode.Scalar(UInt32(ch)) else { return nil }
            return .character(Character(scalar))
        }
    }

    /// True when standard input reports a hang-up or error (its terminal is gone).
    static func terminalHungUp() -> Bool {
        var poller = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) == 1 else { return false }
        return poller.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
    }

    static func functionKey(_ code: Int32) -> Key? {
        switch code {
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_LEFT: return .left
        case KEY_RIGHT: return .right
        case KEY_NPAGE: return .pageDown
        case KEY_PPAGE: return .pageUp
        case KEY_HOME: return .home
        case KEY_END: return .end
        case KEY_BTAB: return .backTab
        case KEY_ENTER: return .enter
        case KEY_BACKSPACE: return .backspace
        case KEY_RESIZE: return .resize
        default: return nil
        }
    }

    /// Draws the runs of cells that changed since the last frame, one `addwstr` per run of one style.
    public func draw(_ grid: TextGrid) {
        if let previous, previous.width != grid.width || previous.height != grid.height {
            clearok(cn_stdscr(), true)
        }
        for run in grid.changes(from: previous) {
            var column = run.column
            var start = run.cells.startIndex
            while start < run.cells.endIndex {
                let style = run.cells[start].style
                var end = start
                var text: [wchar_t] = []
                while end < run.cells.endIndex && run.cells[end].style == style {
                    text += run.cells[end].character.unicodeScalars.map { wchar_t(bitPattern: $0.value) }
                    end += 1
                }
                text.append(0)
                attrset(Int32(bitPattern: attributes[style] ?? cn_a_normal()))
                _ = mvaddwstr(Int32(run.row), Int32(column), text)
                column += end - start
                start = end
            }
        }
        attrset(Int32(bitPattern: cn_a_normal()))
        refresh()
        previous = grid
    }
}
