import EtcdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("runCommand: starting a program a test has just written")
struct RunCommandTests {
    /// A script still open for writing: exec fails with ETXTBSY until the writer closes it.
    static func openScript(_ name: String) throws -> (path: String, descriptor: Int32) {
        let path = try TestDirectories.make(name).appendingPathComponent("tool.sh").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        try #require(fd >= 0)
        let text = "#!/bin/sh\necho started \"$@\"\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        return (path, fd)
    }

    @Test("A script busy for a moment (ETXTBSY) is started once its writer closes it")
    func busyThenFree() throws {
        let (path, fd) = try Self.openScript("busy-then-free")
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { close(fd) }
        let result = try runCommand(path, ["x"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout == "started x\n")
    }

    @Test("A script that stays busy is an error naming it, after the retries")
    func staysBusy() throws {
        let (path, fd) = try Self.openScript("stays-busy")
        defer { close(fd) }
        #expect(throws: EtcdTestSupportError.self) { try runCommand(path, []) }
        do {
            _ = try runCommand(path, [])
        } catch {
            #expect("\(error)".contains("could not start \(path)"), "\(error)")
        }
    }
}
