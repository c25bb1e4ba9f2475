import Foundation

/// The parts of a systemd service unit (main file plus drop-ins) that decide how etcd runs.
///
/// Pure: it parses text it is given. Reading files and resolving drop-in order is `EtcdDiscovery`'s job.
struct SystemdUnit: Sendable, Equatable {
    /// One `Environment=` assignment and the file that made it.
    struct Assignment: Sendable, Equatable {
        var key: String
        var value: String
        var file: String
    }

    /// One `EnvironmentFile=` entry; `optional` when it started with `-`.
    struct EnvironmentFileEntry: Sendable, Equatable {
        var path: String
        var optional: Bool
    }

    /// The words of the effective ExecStart= (quotes removed, before `$VAR` expansion) and its file.
    var execStart: [String]?
    var execStartFile: String?
    var environment: [Assignment] = []
    var environmentFiles: [EnvironmentFileEntry] = []
    var user: String?
    var workingDirectory: String?

    /// Applies one unit file or drop-in on top of what earlier files set (systemd's order).
    /// `specifiers` expands `%p`, `%n`, `%H`... ; `%%` is a literal `%`.
    mutating func apply(_ text: String, file: String, specifiers: [Character: String]) {
        for (key, rawValue) in SystemdUnit.serviceEntries(text) {
            let value = SystemdUnit.expandSpecifiers(rawValue, specifiers)
            switch key {
            case "ExecStart":
                if value.trimmingCharacters(in: .whitespaces).isEmpty {
                    execStart = nil
                    execStartFile = nil
                } else {
                    var words = SystemdUnit.words(value)
                    // Strip ExecStart prefixes: "-", "@", "+", "!", "!!", ":".
                    if var first = words.first {
                        while let c = first.first, "-@+!:".contains(c) { first.removeFirst() }
                        words[0] = first
                    }
                    execStart = words
                    execStartFile = file
                }
            case "Environment":
                if value.trimmingCharacters(in: .whitespaces).isEmpty {
                    environment = []
                } else {
                    for word in SystemdUnit.words(value) {
                        guard let eq = word.firstIndex(of: "=") else { continue }
                        environment.append(Assignment(key: String(word[..<eq]),
                                                      value: String(word[word.index(after: eq)...]), file: file))
                    }
                }
            case "EnvironmentFile":
                var path = value.trimmingCharacters(in: .whitespaces)
                if path.isEmpty {
                    environmentFiles = []
                } else {
                    let optional = path.hasPrefix("-")
                    if optional { path.removeFirst() }
                    environmentFiles.append(EnvironmentFileEntry(path: path, optional: optional))
                }
            case "User":
                let user = value.trimmingCharacters(in: .whitespaces)
                self.user = user.isEmpty ? nil : user
            case "WorkingDirectory":
                var dir = value.trimmingCharacters(in: .whitespaces)
                if dir.hasPrefix("-") { dir.removeFirst() }
                workingDirectory = dir.hasPrefix("/") ? dir : nil
            default:
                break
            }
        }
    }

    /// `Key=value` pairs of the [Service] section, with backslash-newline continuations joined
    /// (systemd joins them with a space and skips comment lines inside a continuation).
    static func serviceEntries(_ text: String) -> [(String, String)] {
        var entries: [(String, String)] = []
        var section = ""
        var pending: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if pending != nil, line.hasPrefix("#") || line.hasPrefix(";") { continue }
            var logical: String
            if let start = pending {
                logical = start + " " + line
            } else {
                if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
                logical = line
            }
            if logical.hasSuffix("\\") {
                logical.removeLast()
                pending = logical.trimmingCharacters(in: .whitespaces)
                continue
            }
            pending = nil
            if logical.hasPrefix("[") {
                section = logical
                continue
            }
            guard section == "[Service]", let eq = logical.firstIndex(of: "=") else { continue }
            let key = logical[..<eq].trimmingCharacters(in: .whitespaces)
            let value = logical[logical.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            entries.append((key, value))
        }
        if let start = pending, section == "[Service]", let eq = start.firstIndex(of: "=") {
            entries.append((start[..<eq].trimmingCharacters(in: .whitespaces),
                            start[start.index(after: eq)...].trimmingCharacters(in: .whitespaces)))
        }
        return entries
    }

    static func expandSpecifiers(_ value: String, _ specifiers: [Character: String]) -> String {
        guard value.contains("%") else { return value }
        var out = ""
        var iterator = value.makeIterator()
        while let c = iterator.next() {
            guard c == "%" else { out.append(c); continue }
            guard let s = iterator.next() else { out.append("%"); break }
            if s == "%" { out.append("%") } else if let v = specifiers[s] { out += v } else { out += "%\(s)" }
        }
        return out
    }

    /// Splits a value into words the way systemd does: whitespace separates, double and single quotes
    /// group, backslash escapes the next character.
    static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for c in text {
            if escaped {
                switch c {
                case "n": current.append("\n")
                case "t": current.append("\t")
                default: current.append(c)
                }
                escaped = false
                inWord = true
                continue
            }
            if c == "\\" { escaped = true; continue }
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
                continue
            }
            if c == "\"" || c == "'" {
                quote = c
                inWord = true
            } else if c.isWhitespace {
                if inWord { words.append(current); current = ""; inWord = false }
            } else {
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}

/// `KEY=value` files: systemd `EnvironmentFile=`, `/etc/default/etcd`, `/etc/etcd/etcd.conf`.
enum EnvironmentFileParser {
    /// Assignments in file order. `#`/`;` comments, blank lines, an optional `export ` prefix,
    /// single or double quotes, and backslash-newline continuations are understood.
    static func parse(_ text: String) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        var pending: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            var line = String(rawLine)
            if let start = pending { line = start + line; pending = nil }
            if line.hasSuffix("\\") && !line.hasSuffix("\\\\") {
                line.removeLast()
                pending = line
                continue
            }
            var trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.hasPrefix("export ") { trimmed = String(trimmed.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let eq = trimmed.firstIndex(of: "=") else { continue }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, !key.contains(" ") else { continue }
            let rawValue = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            result.append((key, unquote(rawValue)))
        }
        return result
    }

    /// `"a b"` -> `a b`, `'x'` -> `x`; an unquoted value loses a trailing ` # comment`.
    static func unquote(_ value: String) -> String {
        guard let first = value.first else { return value }
        if first == "\"" || first == "'" {
            var out = ""
            var escaped = false
            for c in value.dropFirst() {
                if escaped { out.append(c); escaped = false; continue }
                if c == "\\" && first == "\"" { escaped = true; continue }
                if c == first { return out }
                out.append(c)
            }
            return out
        }
        if let hash = value.range(of: " #") {
            return value[..<hash.lowerBound].trimmingCharacters(in: .whitespaces)
        }
        return value
    }
}
