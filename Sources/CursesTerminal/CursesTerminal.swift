import CNCurses
import ConsoleUI

/// CursesTerminal: the only code that touches ncurses: keys in, changed cells out.
/// (Issue 6; not built yet.)
public enum CursesTerminal {}
