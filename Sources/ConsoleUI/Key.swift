/// A key press, as the terminal decodes it.
public enum Key: Sendable, Hashable {
    case character(Character)
    /// Ctrl plus a letter, lower case (`.control("d")` is ctrl-d).
    case control(Character)
    case enter, escape, tab, backTab, backspace
    case up, down, left, right, pageUp, pageDown, home, end
    /// The terminal changed size.
    case resize

    /// How help and the footer write the key: `q`, `ctrl-d`, `enter`, `↑`.
    public var label: String {
        switch self {
        case .character(" "): return "space"
        case .character(let c): return String(c)
        case .control(let c): return "ctrl-\(c)"
        case .enter: return "enter"
        case .escape: return "esc"
        case .tab: return "tab"
        case .backTab: return "shift-tab"
        case .backspace: return "backspace"
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .pageUp: return "pgup"
        case .pageDown: return "pgdn"
        case .home: return "home"
        case .end: return "end"
        case .resize: return "resize"
        }
    }
}

/// One row of the key binding table: help, the footer and the docs are generated from these.
public struct KeyBinding: Sendable, Equatable {
    public var keys: [Key]
    public var title: String
    /// Changes or deletes something that cannot be undone: confirmed first, and gone with `--readonly`.
    public var isDestructive: Bool
    /// A word or two for the footer hint line; nil: not in the footer.
    public var footer: String?

    public init(_ keys: [Key], _ title: String, destructive: Bool = false, footer: String? = nil) {
        self.keys = keys
        self.title = title
        self.isDestructive = destructive
        self.footer = footer
    }

    public var label: String { keys.map(\.label).joined(separator: "/") }

    /// The bindings a session may use: all, or without the destructive ones when read-only.
    public static func available(_ bindings: [KeyBinding], readonly: Bool) -> [KeyBinding] {
        readonly ? bindings.filter { !$0.isDestructive } : bindings
    }

    /// True when `key` belongs to a binding the session may use.
    public static func allows(_ key: Key, in bindings: [KeyBinding], readonly: Bool) -> Bool {
        available(bindings, readonly: readonly).contains { $0.keys.contains(key) }
    }
}
