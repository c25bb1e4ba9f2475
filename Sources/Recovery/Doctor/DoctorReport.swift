import Foundation

/// One thing the doctor checked: how bad it is, a stable code to match on, what it found and what to do next.
public struct DoctorFinding: Codable, Sendable, Equatable {
    public enum Severity: String, Codable, Sendable {
        case ok, warning, critical
    }

    public var severity: Severity
    /// Stable identifier of the check or problem (`snap-db-missing`, `db-corrupt`, `wal-sequence`, ...).
    public var code: String
    public var message: String
    /// The next step an operator can take ("" when there is nothing to do).
    public var action: String

    public init(_ severity: Severity, _ code: String, _ message: String, action: String = "") {
        self.severity = severity
        self.code = code
        self.message = message
        self.action = action
    }
}

/// Everything the doctor found in a data dir and the one thing it recommends.
public struct DoctorReport: Codable, Sendable {
    public var findings: [DoctorFinding]
    public var recommendation: String

    public init(findings: [DoctorFinding], recommendation: String) {
        self.findings = findings
        self.recommendation = recommendation
    }

    public var hasCritical: Bool { findings.contains { $0.severity == .critical } }

    /// The findings with a given code.
    public func findings(_ code: String) -> [DoctorFinding] { findings.filter { $0.code == code } }
}
