/// Why the demo sandbox could not be built or broken.
public struct DemoError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
