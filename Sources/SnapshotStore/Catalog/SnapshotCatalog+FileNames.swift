import Foundation
import SystemSupport

extension SnapshotCatalog {
    /// The sidecar of a snapshot: `<file>.meta.json` next to it.
    public static func sidecarPath(for snapshotPath: String) -> String { snapshotPath + sidecarSuffix }

    static let sidecarSuffix = ".meta.json"

    /// The time written in a snapshot's file name, read as UTC; nil when the name holds none.
    ///
    /// Recognised: a date and a time of day with seconds, not touching other digits, such as our
    /// `snapshot-20261125T140000Z-m1.db`, etcdctl-script names like `20200630_154509_snapshot.db`
    /// (`date +%Y%m%d_%H%M%S`), `etcd-20200630154509.db` and `backup-2020-06-30T15-45-09.db` /
    /// `backup-2020-06-30_15:45:09.db`. The separator between date and time may be `T`, `_`, `-`, a space or
    /// nothing; a trailing `Z` is allowed. Names without a time of day (`etcd-2020-06-30.db`) are not read: the
    /// modification time says more.
    ///
    /// Why UTC even without a `Z`: the scripts that write such names mostly run in containers (a Kubernetes
    /// CronJob with the etcd or a busybox image), where `date` prints UTC because no time zone is configured;
    /// reading them in the console's own zone would shift them by the distance between two machines we know
    /// nothing about. A name written in another zone is off by whole hours at most, which moves it between
    /// hourly buckets but keeps the order among files from the same script.
    public static func takenAt(fromFileName name: String) -> Date? {
        let b = Array(name.utf8)
        func isDigit(_ i: Int) -> Bool { i >= 0 && i < b.count && b[i] >= 48 && b[i] <= 57 }
        var start = 0
        while start + 14 <= b.count {
            defer { start += 1 }
            guard isDigit(start), !isDigit(start - 1) else { continue }
            if let date = match(b, at: start) { return date }
        }
        return nil
    }

    /// `yyyy[-]MM[-]dd[T_- ]HH[:-]mm[:-]ss[Z]` at `start`, followed by a non-digit or the end.
    private static func match(_ b: [UInt8], at start: Int) -> Date? {
        var cursor = ASCIICursor(b, at: start)
        func number(_ width: Int) -> Int? { cursor.number(width) }
        func separator(_ allowed: String) -> UInt8? { cursor.takeAny(of: allowed) }
        /// The same separator as before, if there was one.
        func same(_ sep: UInt8?) -> Bool { sep.map { cursor.take($0) } ?? true }
        guard let year = number(4), (1990...2199).contains(year) else { return nil }
        let dateSep = separator("-")
        guard let month = number(2), same(dateSep), let day = number(2) else { return nil }
        _ = separator("T_- ")
        guard let hour = number(2) else { return nil }
        let timeSep = separator(":-")
        guard let minute = number(2), same(timeSep), let second = number(2) else { return nil }
        _ = separator("Z")
        if cursor.isDigit() { return nil }
        return UTCCalendar.date(.init(year: year, month: month, day: day, hour: hour, minute: minute, second: second,
                                      nanosecond: 0))
    }
}
