import Foundation

/// What the console shows of `etcd-console check` (issue 16): each member's KV hash at one revision, the
/// verdict line and the findings. The services build it from Operations' `ClusterCheck.Report`, so the console
/// says the same as the command.
public struct ConsistencyCheck: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        /// The member's name (its endpoint when it has none): the Members screen's rows are matched by it.
        public var name: String
        public var endpoint: String
        /// The hash as etcdctl prints it (8 hex digits); nil when the member could not be hashed.
        public var hash: String?
        /// True when its keys match the majority, false when they differ, nil when not compared.
        public var consistent: Bool?
        public var error: String?

        public init(name: String, endpoint: String, hash: String?, consistent: Bool?, error: String?) {
            self.name = name
            self.endpoint = endpoint
            self.hash = hash
            self.consistent = consistent
            self.error = error
        }
    }

    public struct Finding: Sendable, Equatable {
        public var isError: Bool
        public var message: String
        public var action: String

        public init(isError: Bool, message: String, action: String) {
            self.isError = isError
            self.message = message
            self.action = action
        }
    }

    public var revision: Int64
    public var members: [Member]
    /// One line: "consistent: 3/3 members have the same keys at revision 42", "NOT CONSISTENT: …".
    public var verdict: String
    public var findings: [Finding]
    public var healthy: Bool

    public init(revision: Int64, members: [Member], verdict: String, findings: [Finding], healthy: Bool) {
        self.revision = revision
        self.members = members
        self.verdict = verdict
        self.findings = findings
        self.healthy = healthy
    }

    /// The row of a member of the Members screen (by name, else endpoint).
    func member(_ name: String, endpoint: String) -> Member? {
        members.first { !name.isEmpty && $0.name == name } ?? members.first { $0.endpoint == endpoint }
    }
}

/// The Members screen's last consistency check.
public enum ConsistencyCheckState: Sendable, Equatable {
    case none
    case running(since: Date)
    case done(ConsistencyCheck, at: Date)
    case failed(String, at: Date)
}
