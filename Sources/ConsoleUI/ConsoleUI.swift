/// ConsoleUI: the console's screens as state + key handling + rendering into a text grid.
/// Pure: never imports CNCurses and performs no I/O. (Issue 6; not built yet.)
public enum ConsoleUI {}
