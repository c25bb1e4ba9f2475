import ArgumentParser
import Foundation
import Operations
#if canImport(Glibc)
import Glibc
#endif

/// `-o table|json`; etcdctl's `-w`/`--write-out` is accepted as the same option.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

struct OutputOptions: ParsableArguments {
    @Option(name: [.customShort("o"), .customLong("output")], help: "Output format: table or json (etcdctl's -w also works).")
    var format: OutputFormat = .table

    /// etcdctl's spelling, accepted so `-w json` from muscle memory works; kept out of --help.
    @Option(name: [.customShort("w"), .customLong("write-out")], help: .hidden)
    var writeOut: OutputFormat?

    func validate() throws {
        if let writeOut, writeOut != format, format != .table {
            throw ValidationError("-o \(format.rawValue) and -w \(writeOut.rawValue) disagree: give one of them")
        }
    }

    /// The format asked for, by -o or -w.
    var output: OutputFormat { writeOut ?? format }
}

enum Terminal {
    static let stderrIsTTY = isatty(STDERR_FILENO) == 1
    static let stdinIsTTY = isatty(STDIN_FILENO) == 1
}

/// stdout and stderr written with write(2), so a closed pipe (`etcd-console status -o json | head -1`, a
/// reader that went away) ends output quietly instead of crashing: FileHandle.write traps on EPIPE, and SIGPIPE
/// is ignored for the whole process (`EtcdConsole.main`, as EtcdClient must for its sockets). After EPIPE the
/// stream drops everything written to it and the command finishes as it would have (a save still writes
/// its sidecar, exit codes stay what the command decided): only its output is lost, which its reader chose.
/// Text printed with `print` goes through stdio's buffer; it is flushed first so lines keep their order.
final class StandardStream: @unchecked Sendable {
    // @unchecked: `closed` only goes from false to true, under `lock`.
    static let output = StandardStream(fd: STDOUT_FILENO)
    static let error = StandardStream(fd: STDERR_FILENO)

    private let fd: Int32
    private let lock = NSLock()
    private var closed = false

    private init(fd: Int32) { self.fd = fd }

    /// Whether a write found the reader gone (EPIPE).
    var readerGone: Bool { lock.withLock { closed } }

    func write(_ text: String) {
        lock.withLock {
            guard !closed else { return }
            fflush(nil)  // every stdio stream: what `print` buffered comes out first
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    closed = true  // EPIPE (reader gone), EBADF, EIO: nothing more can be written here.
                    return
                }
                bytes = bytes.dropFirst(written)
            }
        }
    }
}

func printError(_ text: String, newline: Bool = true) {
    StandardStream.error.write(newline && !text.hasSuffix("\n") ? text + "\n" : text)
}

/// Pretty, key-sorted JSON on stdout. Every command prints one JSON object (never a bare array), so a tool
/// can add keys later without breaking its readers.
func printJSON<T: Encodable>(_ value: T) throws {
    let data = try commandJSONEncoder().encode(value)
    StandardStream.output.write(String(decoding: data, as: UTF8.self) + "\n")
}

/// The encoder `printJSON` uses (also for output written a piece at a time, like `snapshot browse -o json`).
func commandJSONEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // Every time in RFC 3339 UTC ("2026-11-25T14:00:00Z"), whatever type carries it (a restore plan's createdAt).
    encoder.dateEncodingStrategy = .custom { date, encoder in
        var c = encoder.singleValueContainer()
        try c.encode(rfc3339(date))
    }
    return encoder
}

/// A plain text table: a header row, left-aligned columns two spaces apart (`CommandTables.render`).
func renderTable(_ header: [String], _ rows: [[String]]) -> String {
    CommandTables.render(header, rows)
}

