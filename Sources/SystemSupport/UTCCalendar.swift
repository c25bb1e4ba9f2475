import Foundation

/// Proleptic Gregorian calendar arithmetic in UTC, without `Calendar`, `TimeZone` or `DateFormatter`: retention
/// buckets, their labels, sidecar and JSON dates, timestamps in file names and object keys. Pure integer math, so
/// it is fast, exact and independent of the machine's time zone and locale, and it keeps ICU's time zone and
/// locale data out of memory (a `TimeZone` costs 1.8 MB of resident ICU pages, a `DateFormatter` 4.4 MB more:
/// issue 13's 64 MiB bound for a backup with its upload).
public enum UTCCalendar {
    /// A point in UTC broken into its civil fields.
    public struct Fields: Equatable, Sendable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
        /// Nanoseconds within the second, 0..<1_000_000_000.
        public var nanosecond: Int

        public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanosecond: Int) {
            (self.year, self.month, self.day, self.hour, self.minute, self.second, self.nanosecond)
                = (year, month, day, hour, minute, second, nanosecond)
        }
    }

    public static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    public static func floorMod(_ a: Int, _ b: Int) -> Int { a - floorDiv(a, b) * b }

    /// Whole seconds since 1970-01-01T00:00:00Z, rounded down (so 13:59:59.9 is in the 13:00 hour).
    public static func epochSeconds(_ date: Date) -> Int {
        Int(date.timeIntervalSince1970.rounded(.down))
    }

    /// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day number (Howard Hinnant's `civil_from_days`).
    public static func civil(days z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// The date for civil fields in UTC, or nil when a field is out of range (month 13, February 30, ...).
    public static func date(_ f: Fields) -> Date? {
        guard (1...12).contains(f.month), (1...daysInMonth(year: f.year, month: f.month)).contains(f.day),
              (0...23).contains(f.hour), (0...59).contains(f.minute), (0...59).contains(f.second),
              (0..<1_000_000_000).contains(f.nanosecond) else { return nil }
        let seconds = days(year: f.year, month: f.month, day: f.day) * 86_400 + f.hour * 3600 + f.minute * 60 + f.second
        return Date(timeIntervalSince1970: Double(seconds) + Double(f.nanosecond) / 1e9)
    }

    public static func fields(_ date: Date) -> Fields {
        let t = date.timeIntervalSince1970
        var seconds = Int(t.rounded(.down))
        var nanos = Int(((t - Double(seconds)) * 1e9).rounded())
        if nanos >= 1_000_000_000 { seconds += 1; nanos -= 1_000_000_000 }
        let day = floorDiv(seconds, 86_400)
        let inDay = seconds - day * 86_400
        let (y, m, d) = civil(days: day)
        return Fields(year: y, month: m, day: d, hour: inDay / 3600, minute: inDay % 3600 / 60, second: inDay % 60,
                      nanosecond: nanos)
    }

    /// The Monday-based week number since the epoch (1970-01-01 was a Thursday; ISO weeks start on Monday).
    public static func weekIndex(days: Int) -> Int { floorDiv(days + 3, 7) }

    /// ISO 8601 week-numbering year and week of a day: the week belongs to the year of its Thursday.
    public static func isoWeek(days: Int) -> (year: Int, week: Int) {
        let weekday = floorMod(days + 3, 7)           // Monday 0 ... Sunday 6
        let thursday = days - weekday + 3
        let year = civil(days: thursday).year
        return (year, (thursday - Self.days(year: year, month: 1, day: 1)) / 7 + 1)
    }

    /// Two-digit (or wider) zero-padded decimal.
    public static func pad(_ value: Int, _ width: Int = 2) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// `2026-11-25T14:00:00.123Z`: ISO 8601 in UTC with milliseconds (sidecars are read by people too).
    public static func iso8601(_ date: Date) -> String {
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded())
        let f = fields(Date(timeIntervalSince1970: Double(floorDiv(ms, 1000))))
        return "\(pad(f.year, 4))-\(pad(f.month))-\(pad(f.day))T\(pad(f.hour)):\(pad(f.minute)):\(pad(f.second))"
            + ".\(pad(floorMod(ms, 1000), 3))Z"
    }

    /// `20261125T170521Z` (`milliseconds`: `20261125T170521.123Z`): UTC for file names and object keys, sorting by
    /// time. As `DateFormatter` did: the time is rounded to the millisecond, then the fields are cut.
    public static func compact(_ date: Date, milliseconds: Bool = false) -> String {
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded())
        let f = fields(Date(timeIntervalSince1970: Double(floorDiv(ms, 1000))))
        return "\(pad(f.year, 4))\(pad(f.month))\(pad(f.day))T\(pad(f.hour))\(pad(f.minute))\(pad(f.second))"
            + (milliseconds ? ".\(pad(floorMod(ms, 1000), 3))Z" : "Z")
    }

    /// `2026-11-25T17:05:21Z`: RFC 3339 in UTC to the second, as `ISO8601DateFormatter` wrote it (rounded to the
    /// millisecond, then cut to the second).
    public static func internetDateTime(_ date: Date) -> String {
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded())
        let f = fields(Date(timeIntervalSince1970: Double(floorDiv(ms, 1000))))
        return "\(pad(f.year, 4))-\(pad(f.month))-\(pad(f.day))T\(pad(f.hour)):\(pad(f.minute)):\(pad(f.second))Z"
    }

    /// Parses `yyyy-MM-ddTHH:mm:ss[.fraction](Z|±HH:MM)`; nil for anything else.
    public static func parseISO8601(_ text: String) -> Date? {
        var cursor = ASCIICursor(Array(text.utf8))
        func number(_ width: Int) -> Int? { cursor.number(width) }
        func expect(_ c: UInt8) -> Bool { cursor.take(c) }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")),
              let day = number(2), expect(UInt8(ascii: "T")) || expect(UInt8(ascii: " ")),
              let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2), expect(UInt8(ascii: ":")),
              let second = number(2) else { return nil }
        var nanos = 0
        if expect(UInt8(ascii: ".")) {
            var digits = 0
            while let digit = cursor.digit() {
                if digits < 9 { nanos = nanos * 10 + digit }
                digits += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 9) { nanos *= 10 }
        }
        var offset = 0
        if expect(UInt8(ascii: "Z")) {
        } else if let signByte = cursor.takeAny(of: "+-") {
            let sign = signByte == UInt8(ascii: "-") ? -1 : 1
            guard let h = number(2), expect(UInt8(ascii: ":")), let m = number(2), h < 24, m < 60 else { return nil }
            offset = sign * (h * 3600 + m * 60)
        } else {
            return nil
        }
        guard cursor.atEnd,
              let local = date(Fields(year: year, month: month, day: day, hour: hour, minute: minute, second: second,
                                      nanosecond: nanos)) else { return nil }
        return local.addingTimeInterval(TimeInterval(-offset))
    }
}

/// Reads fixed-width decimal numbers and single separator bytes from ASCII text, left to right.
public struct ASCIICursor {
    public let bytes: [UInt8]
    public var index: Int

    public init(_ bytes: [UInt8], at index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    public var atEnd: Bool { index == bytes.count }

    /// True when the byte at `offset` (relative to the cursor) is a decimal digit.
    public func isDigit(at offset: Int = 0) -> Bool {
        let i = index + offset
        return i >= 0 && i < bytes.count && bytes[i] >= 48 && bytes[i] <= 57
    }

    /// Exactly `width` digits as a number, or nil (and the cursor does not move).
    public mutating func number(_ width: Int) -> Int? {
        guard index + width <= bytes.count else { return nil }
        var value = 0
        for k in index..<(index + width) {
            guard bytes[k] >= 48, bytes[k] <= 57 else { return nil }
            value = value * 10 + Int(bytes[k] - 48)
        }
        index += width
        return value
    }

    /// One digit, or nil.
    public mutating func digit() -> Int? { number(1) }

    /// Takes `c` if it is next.
    public mutating func take(_ c: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == c else { return false }
        index += 1
        return true
    }

    /// Takes one of `allowed` if it is next and returns it.
    public mutating func takeAny(of allowed: String) -> UInt8? {
        guard index < bytes.count, allowed.utf8.contains(bytes[index]) else { return nil }
        index += 1
        return bytes[index - 1]
    }
}

extension JSONEncoder.DateEncodingStrategy {
    /// What `.iso8601` writes (`2026-11-25T17:05:21Z`: the sub-second part cut), without Foundation's formatter.
    public static var utcInternetDateTime: JSONEncoder.DateEncodingStrategy {
        .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(UTCCalendar.internetDateTime(Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))))
        }
    }
}

extension JSONDecoder.DateDecodingStrategy {
    /// Reads what `.iso8601` read (and a fraction or an offset too), without Foundation's ICU-backed formatter.
    public static var utcInternetDateTime: JSONDecoder.DateDecodingStrategy {
        .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = UTCCalendar.parseISO8601(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "Expected date string to be ISO8601-formatted.")
            }
            return date
        }
    }
}
