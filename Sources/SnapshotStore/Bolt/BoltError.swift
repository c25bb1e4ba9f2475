/// What went wrong while reading a bbolt file: a kind to match on, the page where it was found and a
/// message an operator can act on ("page 1234 points outside the file (file has 900 pages)").
public struct BoltError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The file could not be opened, inspected or mapped (the message carries errno's text).
        case cannotOpen
        /// The file has no bytes at all.
        case empty
        /// Neither meta page is a valid bbolt meta page: this is not a bbolt file.
        case notBolt
        /// The file ends before the pages the meta page says the database uses.
        case truncated
        /// A meta page passed its checksum but its contents are impossible (root outside the database...).
        case badMeta
        /// A page id points past the database's high-water mark or past the end of the file.
        case pageOutOfBounds
        /// A page's header names a different page id than the page's position in the file.
        case badPageId
        /// A page has the wrong type for where it is referenced from (a meta page inside a tree...).
        case badPageType
        /// A page's element count does not fit in the page (or a branch page has no elements).
        case countOutOfBounds
        /// An element's key or value lies outside its page, or its flags are not valid.
        case badElement
        /// Keys are not strictly increasing, or a child's keys fall outside its parent's key range.
        case unsorted
        /// A page refers back to one of its own ancestors.
        case cycle
        /// A page is reachable from two different places in the tree.
        case sharedPage
        /// With a stored freelist: a page below the high-water mark is neither reachable nor free (bbolt's check).
        case unreachable
        /// Trees or nested buckets are nested deeper than any real database can be.
        case tooDeep
        /// The named bucket does not exist.
        case noSuchBucket
        /// A top-level entry that should be a bucket is a plain key.
        case notABucket
    }

    public let kind: Kind
    /// The page where the problem was found, when there is one (for an inline bucket: the page holding it).
    public let page: UInt64?
    public let message: String
    /// The file being read, when known.
    public var path: String?

    public init(_ kind: Kind, page: UInt64? = nil, _ message: String, path: String? = nil) {
        self.kind = kind
        self.page = page
        self.message = message
        self.path = path
    }

    public var description: String {
        if let path { return "\(path): \(message)" }
        return message
    }

    func at(path: String) -> BoltError {
        var copy = self
        if copy.path == nil { copy.path = path }
        return copy
    }
}
