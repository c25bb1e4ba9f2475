import Foundation

/// What every render needs besides the screen's own state: the time, how to write it, and the session mode.
public struct RenderContext: Sendable {
    public var now: Date
    public var clock: ConsoleClock
    public var readonly: Bool

    public init(now: Date, clock: ConsoleClock, readonly: Bool) {
        self.now = now
        self.clock = clock
        self.readonly = readonly
    }
}

/// The part of the grid a screen draws into: rows `top..<top+height`, full width.
public struct Area: Sendable, Equatable {
    public var top: Int
    public var height: Int
    public var width: Int
}

/// What a screen's key handler asks of the console.
enum ScreenAction: Equatable {
    /// Not a key of this screen.
    case unhandled
    /// Handled; nothing more to do.
    case handled
    case effect(Effect)
    case saveSnapshot
    case verify(SnapshotRef)
    /// Copy a local snapshot to the remote (`u`).
    case upload(SnapshotRef)
    /// Stream a remote-only copy through the checks (`v` on a remote row).
    case verifyRemote(String)
    /// Pull a remote copy into the directory (`P`), then open the wizard on it (`R` on a remote row).
    case pull(String, thenRestore: Bool)
    /// `r`: the directory again, and the bucket when a remote is configured.
    case reload
    case confirm(Confirmation)
    /// A line for the operator: what happened.
    case message(String)
    /// A line for the operator: why the key did nothing (shown as an error).
    case refused(String)
    /// Leave this pushed screen.
    case close
}
