import Foundation

/// Why a test fixture could not be set up: what failed, on which file or command, and why.
public struct EtcdTestSupportError: Error, CustomStringConvertible, Sendable {
    /// The whole message, written for the person reading a failed test.
    public let message: String

    /// Makes an error with a message an operator can act on.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
