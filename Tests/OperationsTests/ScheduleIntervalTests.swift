import Operations
import Testing

@Suite("Schedule intervals")
struct ScheduleIntervalTests {
    @Test("Intervals that divide an hour or a day map to OnCalendar and cron", arguments: [
        ("30min", "30min", "*:00/30", "*/30 * * * *"),
        ("15m", "15min", "*:00/15", "*/15 * * * *"),
        ("60 minutes", "1h", "hourly", "0 * * * *"),
        ("hourly", "1h", "hourly", "0 * * * *"),
        ("6h", "6h", "*-*-* 00/6:00:00", "0 */6 * * *"),
        ("24h", "1d", "daily", "0 0 * * *"),
        ("1d", "1d", "daily", "0 0 * * *"),
    ])
    func mapping(input: String, normal: String, onCalendar: String, cron: String) throws {
        let interval = try ScheduleInterval.parse(input).get()
        #expect(interval.description == normal)
        #expect(interval.onCalendar == onCalendar)
        #expect(interval.cron == cron)
    }

    @Test("Intervals that do not divide an hour or a day, and nonsense, are refused with the reason", arguments: [
        ("7min", "does not divide an hour or a day evenly"),
        ("5h", "does not divide an hour or a day evenly"),
        ("2d", "does not divide an hour or a day evenly"),
        ("0min", "does not divide an hour or a day evenly"),
        ("often", "must be an interval such as 15min, 30min, 1h, 6h or 1d, not \"often\""),
        ("30 secs", "must be an interval such as"),
    ])
    func refused(input: String, expected: String) {
        guard case .failure(let error) = ScheduleInterval.parse(input) else {
            Issue.record("\(input) was accepted")
            return
        }
        #expect(error.reason.contains(expected), "\(error.reason)")
    }

    @Test("The randomized delay is a tenth of the interval, at most five minutes")
    func randomizedDelay() throws {
        #expect(try ScheduleInterval.parse("30min").get().randomizedDelaySeconds == 180)
        #expect(try ScheduleInterval.parse("15min").get().randomizedDelaySeconds == 90)
        #expect(try ScheduleInterval.parse("1d").get().randomizedDelaySeconds == 300)
    }
}
