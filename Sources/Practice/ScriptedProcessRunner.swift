import Recovery
import Foundation
import SystemSupport

/// A `ProcessRunner` that plays back expected commands in order (the test double ships in `Practice`,
/// so every test and the console's wizard tests use the same one). An unexpected command, or one out of
/// order, is answered with exit 127 and recorded in `problems`; `unmet` lists expectations never called.
public final class ScriptedProcessRunner: ProcessRunner, @unchecked Sendable {
    public struct Expectation: Sendable {
        public var program: String
        public var arguments: [String]?
        public var outcome: ProcessOutcome
        /// What the command does to the world when it runs (a fake restore tool creating the data dir in a
        /// `FakeRestoreFileSystem`), before its outcome is returned.
        public var effect: (@Sendable () -> Void)?

        /// `arguments` nil matches any arguments.
        public init(_ program: String, _ arguments: [String]? = nil, status: Int32 = 0, output: String = "",
                    then effect: (@Sendable () -> Void)? = nil) {
            self.program = program
            self.arguments = arguments
            self.outcome = ProcessOutcome(status: status, output: output)
            self.effect = effect
        }
    }

    private let lock = NSLock()
    private var expectations: [Expectation]
    private var calls: [ProcessRequest] = []
    private var failures: [String] = []
    /// Programs `locate` finds, with their paths.
    public let installed: [String: String]

    /// Called once, at the first call that does not match (a test passes `{ Issue.record(...) }` so it fails there,
    /// with the call in the message, rather than later on a wrong result).
    private let onUnexpected: (@Sendable (String) -> Void)?

    public init(installed: [String: String], expectations: [Expectation],
                onUnexpected: (@Sendable (String) -> Void)? = nil) {
        self.installed = installed
        self.expectations = expectations
        self.onUnexpected = onUnexpected
    }

    public func locate(_ program: String) -> String? {
        if program.contains("/") { return installed.values.contains(program) ? program : nil }
        return installed[program]
    }

    public func run(_ request: ProcessRequest, onLine: @escaping @Sendable (String) -> Void) async throws -> ProcessOutcome {
        let (matched, firstProblem): ((ProcessOutcome, (@Sendable () -> Void)?), String?) = lock.withLock {
            let before = failures.count
            let matched = match(request)
            return (matched, before == 0 && failures.count == 1 ? failures[0] : nil)
        }
        if let firstProblem { onUnexpected?("scripted runner: \(firstProblem)") }
        let (outcome, effect) = matched
        effect?()
        outcome.output.split(separator: "\n").forEach { onLine(String($0)) }
        return outcome
    }

    /// The expectation `request` meets (consumed), or exit 127 and a recorded problem. Called under the lock.
    private func match(_ request: ProcessRequest) -> (ProcessOutcome, (@Sendable () -> Void)?) {
        do {
            calls.append(request)
            guard let next = expectations.first else {
                failures.append("unexpected call: \(request)")
                return (ProcessOutcome(status: 127, output: "unexpected call"), nil)
            }
            let program = (request.program as NSString).lastPathComponent
            guard next.program == program, next.arguments == nil || next.arguments! == request.arguments else {
                failures.append("expected \(next.program) \(next.arguments?.joined(separator: " ") ?? "…"), got \(request)")
                return (ProcessOutcome(status: 127, output: "unexpected call"), nil)
            }
            expectations.removeFirst()
            return (next.outcome, next.effect)
        }
    }

    /// Every command run so far, in order.
    public var requests: [ProcessRequest] { lock.withLock { calls } }
    /// Calls that did not match.
    public var problems: [String] { lock.withLock { failures } }
    /// Expectations never met.
    public var unmet: [Expectation] { lock.withLock { expectations } }
}
