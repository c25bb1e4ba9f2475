import Foundation

/// The tar format bundles are written in: POSIX ustar (what `tar -tvf` and `tar -xpf` read), with a pax
/// extended header for a name longer than ustar's 100 + 155 bytes. Only regular files and symbolic links.
/// Pure: bytes in, bytes out; the caller writes the file atomically.
enum BundleTar {
    static let block = 512

    /// One member read back from a tar.
    struct Member: Equatable {
        enum Kind: Equatable { case file, symlink, other(UInt8) }
        var name: String
        var kind: Kind
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
        var user: String
        var group: String
        var linkTarget: String
        var content: Data
    }

    /// Header(s) + content + padding of one member.
    static func member(name: String, kind: Member.Kind, mode: UInt32, uid: UInt32, gid: UInt32, user: String?,
                       group: String?, mtime: Date, content: Data, linkTarget: String = "") -> Data {
        var out = Data()
        let split = splitName(name)
        let maxID: UInt32 = 0o7777777  // what ustar's 8-byte field holds
        if split == nil || linkTarget.utf8.count > 100 || uid > maxID || gid > maxID {
            var records = ""
            if split == nil { records += paxRecord("path", name) }
            if linkTarget.utf8.count > 100 { records += paxRecord("linkpath", linkTarget) }
            if uid > maxID { records += paxRecord("uid", String(uid)) }
            if gid > maxID { records += paxRecord("gid", String(gid)) }
            let body = Data(records.utf8)
            out += header(name: "PaxHeaders/" + String(name.suffix(80)), prefix: "", type: UInt8(ascii: "x"), mode: 0o644,
                          uid: 0, gid: 0, user: nil, group: nil, size: body.count, mtime: mtime, linkTarget: "")
            out += body + padding(body.count)
        }
        let (prefix, short) = split ?? ("", String(decoding: name.utf8.suffix(99), as: UTF8.self))
        let type: UInt8 = kind == .symlink ? UInt8(ascii: "2") : UInt8(ascii: "0")
        out += header(name: short, prefix: prefix, type: type, mode: mode, uid: min(uid, maxID), gid: min(gid, maxID), user: user, group: group,
                      size: kind == .symlink ? 0 : content.count, mtime: mtime,
                      linkTarget: String(decoding: linkTarget.utf8.prefix(100), as: UTF8.self))
        if kind != .symlink { out += content + padding(content.count) }
        return out
    }

    /// The two zero blocks that end an archive.
    static var end: Data { Data(count: 2 * block) }

    static func padding(_ count: Int) -> Data {
        let rest = count % block
        return rest == 0 ? Data() : Data(count: block - rest)
    }

    /// "len key=value\n" where len counts the whole record, itself included.
    static func paxRecord(_ key: String, _ value: String) -> String {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).count + body.utf8.count != length { length += 1 }
        return "\(length)\(body)"
    }

    /// ustar's name split: prefix (<= 155 bytes) "/" name (<= 100 bytes); nil when it does not fit.
    static func splitName(_ name: String) -> (prefix: String, name: String)? {
        let bytes = Array(name.utf8)
        if bytes.count <= 100 { return ("", name) }
        for (i, byte) in bytes.enumerated().reversed() where byte == UInt8(ascii: "/") {
            if i <= 155 && bytes.count - i - 1 <= 100 && bytes.count - i - 1 > 0 {
                return (String(decoding: bytes[..<i], as: UTF8.self), String(decoding: bytes[(i + 1)...], as: UTF8.self))
            }
        }
        return nil
    }

    private static func header(name: String, prefix: String, type: UInt8, mode: UInt32, uid: UInt32, gid: UInt32,
                               user: String?, group: String?, size: Int, mtime: Date, linkTarget: String) -> Data {
        var h = [UInt8](repeating: 0, count: block)
        func put(_ text: String, at offset: Int, width: Int) {
            for (i, byte) in text.utf8.prefix(width).enumerated() { h[offset + i] = byte }
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits, at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(Int(mode & 0o7777), at: 100, width: 8)
        octal(Int(uid), at: 108, width: 8)
        octal(Int(gid), at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(max(0, Int(mtime.timeIntervalSince1970)), at: 136, width: 12)
        h[156] = type
        put(linkTarget, at: 157, width: 100)
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        put(user ?? "", at: 265, width: 32)
        put(group ?? "", at: 297, width: 32)
        put(prefix, at: 345, width: 155)
        for i in 148..<156 { h[i] = UInt8(ascii: " ") }
        let sum = h.reduce(0) { $0 + Int($1) }
        let digits = String(sum, radix: 8)
        put(String(repeating: "0", count: max(0, 6 - digits.count)) + digits, at: 148, width: 6)
        h[154] = 0
        h[155] = UInt8(ascii: " ")
        return Data(h)
    }

    /// Every member of a tar, in order. Throws a message (the caller names the bundle) when a header's checksum is
    /// wrong or the archive ends inside a member.
    static func read(_ data: Data) throws(TarProblem) -> [Member] {
        let bytes = [UInt8](data)
        var members: [Member] = []
        var offset = 0
        var paxPath: String?
        var paxLink: String?
        var paxUID: UInt32?
        var paxGID: UInt32?
        while true {
            guard offset + block <= bytes.count else {
                throw TarProblem(offset == bytes.count ? "it ends without tar's end-of-archive blocks (truncated?)"
                                 : "it ends inside a tar header at byte \(offset) (truncated)")
            }
            let h = Array(bytes[offset..<(offset + block)])
            if h.allSatisfy({ $0 == 0 }) { return members }
            func text(_ at: Int, _ width: Int) -> String {
                let field = h[at..<(at + width)]
                return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
            }
            func number(_ at: Int, _ width: Int) -> Int? {
                let digits = text(at, width).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
                return digits.isEmpty ? 0 : Int(digits, radix: 8)
            }
            var copy = h
            for i in 148..<156 { copy[i] = UInt8(ascii: " ") }
            let sum = copy.reduce(0) { $0 + Int($1) }
            let shortName = text(0, 100)
            guard let recorded = number(148, 8), recorded == sum else {
                throw TarProblem("the tar header of \(shortName.isEmpty ? "a member" : shortName) at byte \(offset) has a wrong checksum (damaged)")
            }
            guard let size = number(124, 12), size >= 0 else {
                throw TarProblem("the tar header of \(shortName) has an unreadable size")
            }
            let start = offset + block
            guard start + size <= bytes.count else {
                throw TarProblem("it ends inside \(shortName) (\(bytes.count - start) of \(size) bytes; truncated)")
            }
            let content = Data(bytes[start..<(start + size)])
            offset = start + size + (size % block == 0 ? 0 : block - size % block)
            let type = h[156]
            if type == UInt8(ascii: "x") {
                for (key, value) in parsePax(content) {
                    if key == "path" { paxPath = value }
                    if key == "linkpath" { paxLink = value }
                    if key == "uid" { paxUID = UInt32(value) }
                    if key == "gid" { paxGID = UInt32(value) }
                }
                continue
            }
            let prefix = text(345, 155)
            let name = paxPath ?? (prefix.isEmpty ? shortName : prefix + "/" + shortName)
            let kind: Member.Kind = type == UInt8(ascii: "0") || type == 0 ? .file : type == UInt8(ascii: "2") ? .symlink : .other(type)
            members.append(Member(name: name, kind: kind, mode: UInt32(number(100, 8) ?? 0), uid: paxUID ?? UInt32(number(108, 8) ?? 0),
                                  gid: paxGID ?? UInt32(number(116, 8) ?? 0), user: text(265, 32), group: text(297, 32),
                                  linkTarget: paxLink ?? text(157, 100), content: content))
            paxPath = nil
            paxLink = nil
            paxUID = nil
            paxGID = nil
        }
    }

    private static func parsePax(_ data: Data) -> [(String, String)] {
        var result: [(String, String)] = []
        var rest = Substring(String(decoding: data, as: UTF8.self))
        while let space = rest.firstIndex(of: " "), let length = Int(rest[..<space]), length > 0,
              let end = rest.utf8.index(rest.startIndex, offsetBy: length, limitedBy: rest.endIndex) {
            let record = rest[rest.index(after: space)..<end].dropLast()  // without "\n"
            if let equals = record.firstIndex(of: "=") {
                result.append((String(record[..<equals]), String(record[record.index(after: equals)...])))
            }
            rest = rest[end...]
        }
        return result
    }
}

/// A tar that cannot be read, in words; `BundleStore` adds the bundle's path.
struct TarProblem: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
