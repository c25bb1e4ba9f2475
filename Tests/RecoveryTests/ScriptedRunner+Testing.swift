import Practice
import SystemSupport
import Testing

extension ScriptedProcessRunner {
    /// A scripted runner that fails the running test at the first call it did not expect.
    static func failingTest(installed: [String: String], expectations: [Expectation]) -> ScriptedProcessRunner {
        ScriptedProcessRunner(installed: installed, expectations: expectations, onUnexpected: { Issue.record(Comment(rawValue: $0)) })
    }
}
