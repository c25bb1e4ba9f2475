import Foundation

/// Why a control-plane bundle could not be written, read or trusted; the message names the bundle and, where
/// there is one, the file inside it.
public struct BundleError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No bundle by that name (or no snapshot that points at one).
        case notFound
        /// The tar is damaged or a file in it does not match its manifest's SHA-256, size or metadata.
        case damaged
        /// Writing the bundle or its pointer failed.
        case io
        /// A path is unsafe (a link planted in the snapshot directory, a name that leaves it).
        case refused
    }

    public var kind: Kind
    /// The bundle file concerned.
    public var bundle: String
    public var message: String

    public init(_ kind: Kind, bundle: String, _ message: String) {
        self.kind = kind
        self.bundle = bundle
        self.message = message
    }

    public var description: String { message }
}
