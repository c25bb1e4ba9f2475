/// Just enough XML for S3's answers (ListObjectsV2, CreateMultipartUpload, errors): S3 sends flat, predictable
/// documents, so elements are found by name rather than with a general parser (FoundationXML needs libxml2).
enum XMLText {
    /// The inner text of every `<name>...</name>` in `text`, in order (not nested in itself).
    static func elements(_ name: String, in text: Substring) -> [Substring] {
        var found: [Substring] = []
        var rest = text[...]
        let open = "<\(name)>", close = "</\(name)>"
        while let start = rest.range(of: open) {
            guard let end = rest[start.upperBound...].range(of: close) else { break }
            found.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return found
    }

    /// The unescaped text of the first `<name>` element, or nil.
    static func value(_ name: String, in text: Substring) -> String? {
        elements(name, in: text).first.map { unescape(String($0)) }
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = text
        for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&apos;", "'"), ("&#34;", "\""), ("&#39;", "'"), ("&#xD;", "\r"), ("&#xA;", "\n"), ("&#13;", "\r"), ("&#10;", "\n")] {
            out = out.replacingOccurrences(of: entity, with: character)
        }
        return out.replacingOccurrences(of: "&amp;", with: "&")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

import Foundation
