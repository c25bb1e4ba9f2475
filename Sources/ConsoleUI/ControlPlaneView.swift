import Foundation

/// What the console shows of the control-plane bundles (issue 15): the bundle each snapshot was taken with,
/// beside its detail, and the certificates that expire within 30 days, in the header. Built by the services
/// (Operations reads the bundles); ConsoleUI only shows it.
public struct ControlPlaneView: Sendable, Equatable {
    public struct Bundle: Sendable, Equatable {
        public var name: String
        public var files: Int
        public var size: Int64
        public var createdAt: Date
        /// Certificates in it that expire within 30 days (or have expired).
        public var expiringCertificates: Int
        /// Why it cannot be read, or nil.
        public var problem: String?

        public init(name: String, files: Int, size: Int64, createdAt: Date, expiringCertificates: Int, problem: String? = nil) {
            self.name = name
            self.files = files
            self.size = size
            self.createdAt = createdAt
            self.expiringCertificates = expiringCertificates
            self.problem = problem
        }
    }

    /// A certificate that expires soon, as the header shows it.
    public struct Expiring: Sendable, Equatable {
        public var path: String
        public var notAfter: Date
        public init(path: String, notAfter: Date) {
            self.path = path
            self.notAfter = notAfter
        }
    }

    /// The bundle of each snapshot, by the snapshot's file name.
    public var bundles: [String: Bundle]
    /// Soonest first.
    public var expiring: [Expiring]

    public init(bundles: [String: Bundle], expiring: [Expiring]) {
        self.bundles = bundles
        self.expiring = expiring
    }

    /// "! cert apiserver.crt expires in 9d" ("+2" when more do), "! cert apiserver.crt EXPIRED"; at most 40
    /// columns, so it fits the 80-column header beside the members summary. Nil when none expires soon.
    public func headerWarning(now: Date) -> String? {
        guard let first = expiring.first else { return nil }
        let name = String((first.path as NSString).lastPathComponent.prefix(16))
        let seconds = first.notAfter.timeIntervalSince(now)
        let when = seconds <= 0 ? "EXPIRED" : "expires in \(max(0, Int(seconds / 86_400)))d"
        let more = expiring.count > 1 ? " +\(expiring.count - 1)" : ""
        return "! cert \(name) \(when)\(more)"
    }
}
