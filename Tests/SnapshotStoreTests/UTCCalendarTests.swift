import Foundation
import SystemSupport
import Testing

/// `UTCCalendar`'s formatters replaced Foundation's (ICU-backed) ones in file names, object keys, locks and JSON;
/// Foundation's are the oracle here, over dates spread across centuries, leap days and sub-second times.
@Suite("UTC formatting without ICU matches Foundation's formatters")
struct UTCCalendarTests {
    static func dates() -> [Date] {
        var random = SeededRandom(seed: 0x5eed)
        var dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 951_782_400.999),   // 2000-02-29
                     Date(timeIntervalSince1970: 4_107_542_399.9995), Date(timeIntervalSince1970: 1_795_000_000.0001)]
        for _ in 0..<2_000 {
            dates.append(Date(timeIntervalSince1970: Double(random.next() % 6_000_000_000) + Double(random.next() % 1_000_000) / 1e6))
        }
        return dates
    }

    static func formatter(_ format: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = format
        return formatter
    }

    @Test("compact (file names, object keys, SigV4) and internetDateTime (locks, JSON) write what DateFormatter and ISO8601DateFormatter wrote")
    func matchesFoundation() {
        let compact = Self.formatter("yyyyMMdd'T'HHmmss'Z'")
        let milliseconds = Self.formatter("yyyyMMdd'T'HHmmss.SSS'Z'")
        let internet = ISO8601DateFormatter()
        internet.formatOptions = [.withInternetDateTime]
        var mismatches: [String] = []
        for date in Self.dates() {
            if UTCCalendar.compact(date) != compact.string(from: date) { mismatches.append("compact \(date.timeIntervalSince1970)") }
            if UTCCalendar.compact(date, milliseconds: true) != milliseconds.string(from: date) {
                mismatches.append("ms \(date.timeIntervalSince1970): \(UTCCalendar.compact(date, milliseconds: true)) vs \(milliseconds.string(from: date))")
            }
            if UTCCalendar.internetDateTime(date) != internet.string(from: date) { mismatches.append("internet \(date.timeIntervalSince1970)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test("JSON dates: ours encode as .iso8601 did; each side decodes the other's; junk is a decoding error")
    func jsonStrategies() throws {
        struct Stamp: Codable, Equatable { var at: Date }
        let ours = JSONEncoder()
        ours.dateEncodingStrategy = .utcInternetDateTime
        let foundation = JSONEncoder()
        foundation.dateEncodingStrategy = .iso8601
        let oursDecoder = JSONDecoder()
        oursDecoder.dateDecodingStrategy = .utcInternetDateTime
        let foundationDecoder = JSONDecoder()
        foundationDecoder.dateDecodingStrategy = .iso8601
        for date in Self.dates().prefix(200) {
            let stamp = Stamp(at: date)
            let a = try ours.encode(stamp), b = try foundation.encode(stamp)
            #expect(a == b, "\(String(decoding: a, as: UTF8.self)) vs \(String(decoding: b, as: UTF8.self))")
            #expect(try oursDecoder.decode(Stamp.self, from: b) == foundationDecoder.decode(Stamp.self, from: a))
        }
        #expect(throws: DecodingError.self) { try oursDecoder.decode(Stamp.self, from: Data(#"{"at":"yesterday"}"#.utf8)) }
    }
}
