//! Tables for the schedule module: cron occurrences (L, W, #, names, Metronome's AND rule, DST
//! gaps and overlaps in New York and Berlin), refusals with their messages, time zone names,
//! and Chronos' repeating intervals (printing, counting down, DST, far-future jumps), plus
//! proptests that no input makes either parser panic.

use super::*;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn ts(s: &str) -> Timestamp {
    s.parse().expect("a timestamp in the test table")
}

fn cron(expr: &str, tz: &str) -> Cron {
    Cron::parse(expr, tz).unwrap_or_else(|e| panic!("{expr} in {tz}: {e}"))
}

/// Each row: expression, zone, search from, the occurrences that follow, in order.
#[test]
fn cron_occurrences() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str, &[&str])] = &[
        // every minute, hourly
        ("* * * * *", "UTC", "2026-01-01T00:00:30Z", &["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]),
        ("*/1 * * * *", "UTC", "2026-01-01T00:01:00Z", &["2026-01-01T00:02:00Z"]),
        ("0 * * * *", "UTC", "2026-01-01T10:00:00Z", &["2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z"]),
        ("*/15 9-17 * * MON-FRI", "UTC", "2026-03-06T17:50:00Z", &["2026-03-09T09:00:00Z", "2026-03-09T09:15:00Z"]),
        ("0/20 0 1 1 *", "UTC", "2026-01-01T00:00:00Z", &["2026-01-01T00:20:00Z", "2026-01-01T00:40:00Z"]),
        ("5,35 0 1 1,7 *", "UTC", "2026-01-01T00:10:00Z", &["2026-01-01T00:35:00Z", "2026-07-01T00:05:00Z"]),
        // L: last day of the month, February of leap and non-leap years
        ("0 0 L * *", "UTC", "2026-01-15T00:00:00Z", &["2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"]),
        ("0 0 L 2 *", "UTC", "2023-03-01T00:00:00Z", &["2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z"]),
        ("0 0 L 2 *", "UTC", "2099-03-01T00:00:00Z", &["2100-02-28T00:00:00Z"]),
        ("0 0 LW 5 *", "UTC", "2026-01-01T00:00:00Z", &["2026-05-29T00:00:00Z"]), // May 31 is a Sunday
        ("0 0 * * 5L", "UTC", "2026-03-01T00:00:00Z", &["2026-03-27T00:00:00Z"]), // last Friday
        // W: nearest weekday, within the month
        ("0 0 15W * *", "UTC", "2026-08-01T00:00:00Z", &["2026-08-14T00:00:00Z", "2026-09-15T00:00:00Z"]),
        ("0 0 1W * *", "UTC", "2026-07-15T00:00:00Z", &["2026-08-03T00:00:00Z"]), // Aug 1 is a Saturday
        // #: the nth weekday
        ("0 9 * * 1#2", "UTC", "2026-03-01T00:00:00Z", &["2026-03-09T09:00:00Z", "2026-04-13T09:00:00Z"]),
        ("0 9 * * MON#1", "UTC", "2026-03-01T00:00:00Z", &["2026-03-02T09:00:00Z"]),
        // day of week 7 and 0 are Sunday; names in any case
        ("0 0 * * 7", "UTC", "2026-03-02T00:00:00Z", &["2026-03-08T00:00:00Z", "2026-03-15T00:00:00Z"]),
        ("0 0 * * 0", "UTC", "2026-03-02T00:00:00Z", &["2026-03-08T00:00:00Z"]),
        ("0 0 * * 6-7", "UTC", "2026-03-02T00:00:00Z", &["2026-03-07T00:00:00Z", "2026-03-08T00:00:00Z"]),
        ("0 0 * * sun", "UTC", "2026-03-02T00:00:00Z", &["2026-03-08T00:00:00Z"]),
        ("0 12 * JAN MON", "UTC", "2026-02-01T00:00:00Z", &["2027-01-04T12:00:00Z", "2027-01-11T12:00:00Z"]),
        ("0 0 1 jan-feb *", "UTC", "2026-01-01T00:00:00Z", &["2026-02-01T00:00:00Z", "2027-01-01T00:00:00Z"]),
        // Metronome's AND of day of month and day of week (its CronSpecFormatTest)
        ("0 9 1-7 * 1", "UTC", "2017-10-02T10:00:00Z", &["2017-11-06T09:00:00Z"]),
        ("0 9 1-7 * 1-5", "UTC", "2017-10-02T10:00:00Z", &["2017-10-03T09:00:00Z"]),
        ("0 9 22-28 * 6-7", "UTC", "2017-10-02T10:00:00Z", &["2017-10-22T09:00:00Z"]),
        ("* * */1 * 3", "UTC", "2017-10-02T10:00:00Z", &["2017-10-04T00:00:00Z"]),
        ("0 0 29 2 *", "UTC", "2017-10-02T10:00:00Z", &["2020-02-29T00:00:00Z"]),
        ("0 0 20-31 2 *", "UTC", "2017-10-02T10:00:00Z", &["2018-02-20T00:00:00Z"]),
        ("0 0 31 2-3 *", "UTC", "2026-01-01T00:00:00Z", &["2026-03-31T00:00:00Z"]),
        // the year field
        ("0 0 1 1 * 2030", "UTC", "2026-06-01T00:00:00Z", &["2030-01-01T00:00:00Z"]),
        ("0 0 1 1 * 2030-2031", "UTC", "2030-01-01T00:00:00Z", &["2031-01-01T00:00:00Z"]),
        ("0 0 1 1 * */5", "UTC", "2026-06-01T00:00:00Z", &["2030-01-01T00:00:00Z", "2035-01-01T00:00:00Z"]),
        ("0 0 1 1 * *", "UTC", "2026-06-01T00:00:00Z", &["2027-01-01T00:00:00Z"]),
        // DST, New York, spring 2026-03-08 02:00 -> 03:00: a daily 02:30 runs once, at 03:00
        ("30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", &["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
        ("0 2 * * *", "America/New_York", "2026-03-08T01:59:00-05:00", &["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"]),
        // ... fall 2026-11-01 02:00 -> 01:00: a daily 01:30 runs once, at the first 01:30
        ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00", &["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
        ("30 1 * * *", "America/New_York", "2026-11-01T01:10:00-05:00", &["2026-11-02T01:30:00-05:00"]),
        // ... wildcard hours run by real time: the repeated hour again, the missing hour not
        ("0 * * * *", "America/New_York", "2026-11-01T00:30:00-04:00", &["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]),
        ("30 * * * *", "America/New_York", "2026-03-08T01:45:00-05:00", &["2026-03-08T03:30:00-04:00"]),
        // DST, Berlin: spring 2026-03-29 02:00 -> 03:00, fall 2026-10-25 03:00 -> 02:00
        ("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00", &["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
        ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00", &["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
        ("0 9 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00", &["2026-03-29T09:00:00+02:00"]),
        // zones by other names
        ("0 12 * * *", "PST", "2026-07-01T00:00:00Z", &["2026-07-01T19:00:00Z"]),
        ("0 12 * * *", "EST", "2026-07-01T00:00:00Z", &["2026-07-01T17:00:00Z"]),
        ("0 12 * * *", "+05:30", "2026-07-01T00:00:00Z", &["2026-07-01T06:30:00Z"]),
        ("0 12 * * *", "GMT-5", "2026-07-01T00:00:00Z", &["2026-07-01T17:00:00Z"]),
        ("0 12 * * *", "Z", "2026-07-01T00:00:00Z", &["2026-07-01T12:00:00Z"]),
        ("0 12 * * *", "Etc/UTC", "2026-07-01T00:00:00Z", &["2026-07-01T12:00:00Z"]),
    ];
    for (expr, tz, from, want) in table {
        let c = cron(expr, tz);
        let mut at = ts(from);
        for w in want.iter() {
            let next = c.next_after(at);
            assert_eq!(next, Some(ts(w)), "{expr} in {tz} after {at}");
            at = ts(w);
        }
    }
}

#[test]
fn cron_keeps_what_was_given_and_ends() {
    let c = cron(" 0 0 1 1 * 2020 ", "Europe/Berlin");
    assert_eq!(c.expr(), " 0 0 1 1 * 2020 ");
    assert_eq!(c.timezone(), "Europe/Berlin");
    // A year field wholly in the past: valid, never due again.
    assert_eq!(c.next_after(ts("2026-01-01T00:00:00Z")), None);
    let when = When::Cron(cron("0 0 * * *", "UTC"));
    assert_eq!(
        when.next_after(ts("2026-01-01T12:00:00Z")),
        Some(ts("2026-01-02T00:00:00Z"))
    );
    // Near the end of time: no occurrence, no loop.
    assert_eq!(cron("* * * * *", "UTC").next_after(Timestamp::MAX), None);
}

/// Each row: expression, and a piece of the message it is refused with.
#[test]
fn cron_refusals() {
    #[rustfmt::skip]
    let table: &[(&str, &str)] = &[
        ("0 0 30 2 *", "never occur: the day of the month must exist"),
        ("0 0 31 4 *", "never occur"),
        ("0 0 30-31 2 *", "never occur"),
        ("0 0 31 2,4,6,9,11 *", "never occur"),
        ("0 0 30 2 * 2030", "never occur in the given years"),
        ("0 0 29 2 * 2027", "never occur in the given years"),
        ("0 0 1-7 * 1#2", "no date is both day-of-month '1-7' and day-of-week '1#2'"),
        ("0 0 */5 * * 1", "a 6th field is the year (1970-2099) and '1' is not one"),
        ("*/10 * * * * 5", "there is no seconds field"),
        ("0 0 12 * * 2100", "'2100' is not one"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week) and an optional year, got 4"),
        ("0 0 0 * * * 2026", "got 7"),
        ("", "got 0"),
        ("@daily", "nicknames"),
        ("* * * FOO *", "'FOO' is not valid in the month field"),
        ("* * * * MONDAY", "'MONDAY' is not valid in the day-of-week field"),
        ("* * * * +1", "'+' is not allowed in the day-of-week field"),
        ("* * 1#2 * *", "'#' is not allowed in the day-of-month field"),
        ("L * * * *", "'L' is not valid in the minute field"),
        ("0 0 * * L", "'L' in the day-of-week field follows a day"),
        ("61 * * * *", "'61 * * * *'"),
        ("* 24 * * *", "'* 24 * * *'"),
        ("* * 32 * *", "'* * 32 * *'"),
        ("* * 0 * *", "'* * 0 * *'"),
        ("* * * 13 *", "'* * * 13 *'"),
        ("* * * * 8", "'* * * * 8'"),
        ("*/0 * * * *", "'*/0 * * * *'"),
        ("5-1 * * * *", "'5-1 * * * *'"),
        ("* * * * 1#6", "'* * * * 1#6'"),
    ];
    for (expr, want) in table {
        match Cron::parse(expr, "UTC") {
            Err(ScheduleError::Cron(msg)) => assert!(msg.contains(want), "{expr}: {msg}"),
            other => panic!("{expr}: {other:?}"),
        }
    }
}

#[test]
fn time_zone_names() {
    for good in [
        "UTC",
        "GMT",
        "Z",
        "UT",
        "America/New_York",
        "Europe/Berlin",
        "PST",
        "IST",
        "EST",
    ]
    .into_iter()
    .chain([
        "+05:30",
        "-08",
        "+0100",
        "UTC+01:00",
        "GMT-5",
        "Etc/GMT+5",
        "EST5EDT",
    ]) {
        assert!(time_zone(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "Mars/Olympus",
        "PDT",
        "+25:00",
        "+5:30",
        "UTC+",
        "GMT+1:2",
        "../etc/passwd",
    ] {
        assert_eq!(
            Cron::parse("* * * * *", bad).map(|_| ()),
            Err(ScheduleError::TimeZone(bad.to_string())),
            "{bad}"
        );
        let r = Repeating::parse("R/2014-03-08T20:00:00Z/PT1H", Some(bad)).map(|_| ());
        if !bad.is_empty() {
            assert_eq!(r, Err(ScheduleError::TimeZone(bad.to_string())), "{bad}");
        }
    }
    assert_eq!(
        ScheduleError::TimeZone("X/Y".into()).to_string(),
        "Invalid timezone: X/Y"
    );
}

fn rep(spec: &str, tz: Option<&str>) -> Repeating {
    Repeating::parse(spec, tz).unwrap_or_else(|e| panic!("{spec} in {tz:?}: {e}"))
}

/// Each row: spec, zone, how Chronos writes it back.
#[test]
fn iso_round_trip() {
    #[rustfmt::skip]
    let table: &[(&str, Option<&str>, &str)] = &[
        ("R/2014-03-08T20:00:00.000Z/PT2H", None, "R/2014-03-08T20:00:00.000Z/PT2H"),
        ("R5/2014-03-08T20:00:00Z/P1D", None, "R5/2014-03-08T20:00:00.000Z/P1D"),
        ("R/2016-02-10T05:00:00.000-08:00/P1D", None, "R/2016-02-10T05:00:00.000-08:00/P1D"),
        ("R/2016-02-10T05:00:00.000-08:00/P1D", Some("America/Los_Angeles"), "R/2016-02-10T05:00:00.000-08:00/P1D"),
        // the zone keeps the start's wall clock and drops its offset (withZoneRetainFields)
        ("R/2016-02-10T05:00:00.000Z/P1D", Some("America/Los_Angeles"), "R/2016-02-10T05:00:00.000-08:00/P1D"),
        ("R/2016-07-10T05:00:00.000Z/P1D", Some("PST"), "R/2016-07-10T05:00:00.000-07:00/P1D"),
        ("R/2016-07-10T05:00:00.000+02:00/P1D", Some(""), "R/2016-07-10T05:00:00.000+02:00/P1D"),
        ("R/2016-07-10T05:00:00/PT1M", None, "R/2016-07-10T05:00:00.000Z/PT1M"),
        ("R3/2014-03-08T20:00:00.123456Z/PT1.5S", None, "R3/2014-03-08T20:00:00.123Z/PT1.500S"),
        ("R/2014-03-08/P1Y2M3W4DT5H6M7S", None, "R/2014-03-08T00:00:00.000Z/P1Y2M3W4DT5H6M7S"),
        ("R/2014-03-08T20:00+05:30/PT36H", None, "R/2014-03-08T20:00:00.000+05:30/PT36H"),
        ("R/2014-03-08T20:00:00Z/PT0,25s", None, "R/2014-03-08T20:00:00.000Z/PT0.250S"),
        ("R/2014-03-08T20:00:00Z/PT0.000001S", None, "R/2014-03-08T20:00:00.000Z/PT0.000001S"),
        ("R0/2014-03-08T20:00:00Z/PT1H", None, "R0/2014-03-08T20:00:00.000Z/PT1H"),
        // the two 01:30s of a fall-back: the written offset picks one
        ("R/2026-11-01T01:30:00.000-05:00/P1D", Some("America/New_York"), "R/2026-11-01T01:30:00.000-05:00/P1D"),
        ("R/2026-11-01T01:30:00.000-04:00/P1D", Some("America/New_York"), "R/2026-11-01T01:30:00.000-04:00/P1D"),
        // a spring-forward gap moves the start forward by the gap, as Joda does
        ("R/2026-03-08T02:30:00.000-05:00/P1D", Some("America/New_York"), "R/2026-03-08T03:30:00.000-04:00/P1D"),
    ];
    for (spec, tz, want) in table {
        let r = rep(spec, *tz);
        assert_eq!(r.to_string(), *want, "{spec} in {tz:?}");
        let again = rep(want, *tz);
        assert_eq!(again.to_string(), *want, "{want} in {tz:?} read back");
        assert_eq!(again.start(), r.start());
        assert_eq!(r.timezone(), tz.filter(|z| !z.is_empty()));
    }
}

/// spec, zone, search from, the occurrences that follow (`None` for the end).
type IsoRow<'a> = (&'a str, Option<&'a str>, &'a str, &'a [Option<&'a str>]);

/// Each row: spec, zone, search from, the occurrences that follow (`None` for the end).
#[test]
fn iso_occurrences() {
    #[rustfmt::skip]
    let table: &[IsoRow] = &[
        ("R/2014-03-08T20:00:00.000Z/PT2H", None, "2014-03-01T00:00:00Z", &[Some("2014-03-08T20:00:00Z"), Some("2014-03-08T22:00:00Z")]),
        ("R/2014-03-08T20:00:00.000Z/PT2H", None, "2014-03-08T20:00:00Z", &[Some("2014-03-08T22:00:00Z")]),
        ("R2/2014-03-08T20:00:00.000Z/PT2H", None, "2014-03-01T00:00:00Z", &[Some("2014-03-08T20:00:00Z"), Some("2014-03-08T22:00:00Z"), None]),
        ("R0/2014-03-08T20:00:00.000Z/PT2H", None, "2014-03-01T00:00:00Z", &[None]),
        // P1D in a zone keeps the wall time across DST; PT2H keeps the elapsed time
        ("R/2026-03-07T09:00:00.000-05:00/P1D", Some("America/New_York"), "2026-03-07T00:00:00Z", &[Some("2026-03-07T09:00:00-05:00"), Some("2026-03-08T09:00:00-04:00"), Some("2026-03-09T09:00:00-04:00")]),
        ("R/2026-10-24T09:00:00.000+02:00/P1D", Some("Europe/Berlin"), "2026-10-24T08:00:00Z", &[Some("2026-10-25T09:00:00+01:00")]),
        ("R/2026-03-08T00:00:00.000-05:00/PT2H", Some("America/New_York"), "2026-03-07T00:00:00Z", &[Some("2026-03-08T00:00:00-05:00"), Some("2026-03-08T03:00:00-04:00"), Some("2026-03-08T05:00:00-04:00")]),
        ("R/2026-03-07T09:00:00.000-05:00/P1W", Some("America/New_York"), "2026-03-08T00:00:00Z", &[Some("2026-03-14T09:00:00-04:00")]),
        // without a zone the written offset is fixed: a day is 24 hours
        ("R/2026-03-07T09:00:00.000-05:00/P1D", None, "2026-03-07T15:00:00Z", &[Some("2026-03-08T14:00:00Z"), Some("2026-03-09T14:00:00Z")]),
        // months from a month end do not drift
        ("R/2014-01-31T10:00:00Z/P1M", None, "2014-01-31T10:00:00Z", &[Some("2014-02-28T10:00:00Z"), Some("2014-03-31T10:00:00Z"), Some("2014-04-30T10:00:00Z")]),
        // far after the start: found by jumping, not stepping
        ("R/2014-01-31T10:00:00Z/P1M", None, "2500-06-15T00:00:00Z", &[Some("2500-06-30T10:00:00Z")]),
        ("R/2026-03-07T09:00:00.000-05:00/P1D", Some("America/New_York"), "2900-01-01T00:00:00Z", &[Some("2900-01-01T09:00:00-05:00")]),
        ("R/2014-03-08T20:00:00.000Z/PT1S", None, "9000-01-01T00:00:00.5Z", &[Some("9000-01-01T00:00:01Z")]),
        ("R3/2014-03-08T20:00:00.000Z/PT1S", None, "9000-01-01T00:00:00Z", &[None]),
    ];
    for (spec, tz, from, want) in table {
        let r = rep(spec, *tz);
        let mut at = ts(from);
        for w in want.iter() {
            let next = r.next_after(at);
            assert_eq!(next, w.map(ts), "{spec} after {at}");
            if let Some(n) = next {
                at = n;
            }
        }
    }
}

#[test]
fn iso_far_future_is_fast() {
    let started = std::time::Instant::now();
    let hourly = rep("R/2014-03-08T20:00:00.000Z/PT2H", None);
    let t =
        hourly.start() + SignedDuration::from_hours(2 * 1_000_000) + SignedDuration::from_secs(1);
    assert_eq!(
        hourly.next_after(t),
        Some(hourly.start() + SignedDuration::from_hours(2 * 1_000_001))
    );
    let monthly = rep(
        "R/2014-03-08T20:00:00.000-08:00/P1M1D",
        Some("America/Los_Angeles"),
    );
    for year in 2100..2200 {
        let t = ts(&format!("{year}-06-15T00:00:00Z"));
        let next = monthly.next_after(t).expect("a next occurrence");
        assert!(
            next > t && next < t + SignedDuration::from_hours(24 * 33),
            "{year}: {next}"
        );
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn iso_counts_down_through_after() {
    let r = rep("R3/2014-03-08T20:00:00.000Z/PT2H", None);
    assert_eq!(r.remaining(), Some(3));
    let r = r.after(r.start()).expect("two left");
    assert_eq!(r.to_string(), "R2/2014-03-08T22:00:00.000Z/PT2H");
    assert_eq!(r.remaining(), Some(2));
    let r = r.after(r.start()).expect("one left");
    assert_eq!(r.to_string(), "R1/2014-03-09T00:00:00.000Z/PT2H");
    assert!(r.after(r.start()).is_none());
    // Occurrences before `due` count as consumed: R5 after the 3rd (at +4h) keeps two.
    let r = rep("R5/2014-03-08T20:00:00.000Z/PT2H", None);
    let later = r.after(ts("2014-03-09T01:00:00Z")).expect("two left");
    assert_eq!(later.to_string(), "R2/2014-03-09T02:00:00.000Z/PT2H");
    assert!(r.after(ts("2014-03-09T04:00:00Z")).is_none());
    // Forever stays forever; the zone and its offset stay with it.
    let r = rep(
        "R/2026-03-07T09:00:00.000-05:00/P1D",
        Some("America/New_York"),
    );
    let r = r.after(r.start()).expect("forever");
    assert_eq!(r.to_string(), "R/2026-03-08T09:00:00.000-04:00/P1D");
    assert_eq!(r.remaining(), None);
    assert_eq!(r.timezone(), Some("America/New_York"));
    // R0 never runs.
    let r0 = rep("R0/2014-03-08T20:00:00.000Z/PT2H", None);
    assert_eq!(r0.remaining(), Some(0));
    assert!(r0.after(ts("2000-01-01T00:00:00Z")).is_none());
    assert_eq!(
        When::Repeating(r0).next_after(ts("2000-01-01T00:00:00Z")),
        None
    );
}

#[test]
fn iso_empty_start_is_now() {
    let now = ts("2026-01-01T00:00:00.123456Z");
    let r = Repeating::parse_at("R//PT1H", None, now).expect("now");
    assert_eq!(r.to_string(), "R/2026-01-01T00:00:00.123Z/PT1H");
    assert_eq!(
        r.next_after(ts("2025-12-31T00:00:00Z")),
        Some(ts("2026-01-01T00:00:00.123Z"))
    );
    let r = Repeating::parse_at("R2//P1D", Some("America/New_York"), now).expect("now");
    assert_eq!(r.to_string(), "R2/2025-12-31T19:00:00.123-05:00/P1D");
    assert_eq!(r.period().get_days(), 1);
    // With a start given, `now` plays no part.
    let r = Repeating::parse_at("R/2014-03-08T20:00:00Z/PT1H", None, now).expect("start");
    assert_eq!(r.start(), ts("2014-03-08T20:00:00Z"));
}

/// Each row: spec, and a piece of the message it is refused with (`parse`, no `now`).
#[test]
fn iso_refusals() {
    #[rustfmt::skip]
    let table: &[(&str, &str)] = &[
        ("R/2014-03-08T20:00:00Z", "expected R[n]/<start>/<period>"),
        ("garbage", "expected R[n]/<start>/<period>"),
        ("", "expected R[n]/<start>/<period>"),
        ("R/2014-03-08T20:00:00Z/", "must start with P"),
        ("R/2014-03-08T20:00:00Z/1H", "must start with P"),
        ("R/2014-03-08T20:00:00Z/PT0S", "longer than zero"),
        ("R/2014-03-08T20:00:00Z/P0D", "longer than zero"),
        ("R/2014-03-08T20:00:00Z/P", "no duration"),
        ("R/2014-03-08T20:00:00Z/PT", "nothing follows T"),
        ("R/2014-03-08T20:00:00Z/P1H", "in that order"),
        ("R/2014-03-08T20:00:00Z/PT1H1H", "in that order"),
        ("R/2014-03-08T20:00:00Z/P1D1Y", "in that order"),
        ("R/2014-03-08T20:00:00Z/PT1.5H", "only the seconds may have a fraction"),
        ("R/2014-03-08T20:00:00Z/PT1.S", "1 to 9 digits"),
        ("R/2014-03-08T20:00:00Z/P-1D", "positive"),
        ("R/2014-03-08T20:00:00Z/PD", "expected a number"),
        ("R/2014-03-08T20:00:00Z/P1", "lacks its unit"),
        ("R/2014-03-08T20:00:00Z/P99999999999Y", "too large"),
        ("R/2014-03-08T20:00:00Z/PT1HX", "expected a number"),
        ("R/2014-03-08T20:00:00Z/P1é", "in that order"),
        ("R/garbage/PT1H", "the start 'garbage' is not an ISO 8601 date-time"),
        ("R/2014-02-30T20:00:00Z/PT1H", "is not an ISO 8601 date-time"),
        ("R/2014-03-08T20:00:00Z[UTC]/PT1H", "scheduleTimeZone"),
        ("R//PT1H", "the start is missing"),
        ("X/2014-03-08T20:00:00Z/PT1H", "should be R or R<n>"),
        ("R-1/2014-03-08T20:00:00Z/PT1H", "should be R or R<n>"),
        ("R99999999999999999999/2014-03-08T20:00:00Z/PT1H", "too many repetitions"),
    ];
    for (spec, want) in table {
        match Repeating::parse(spec, None) {
            Err(ScheduleError::Iso8601(msg)) => assert!(msg.contains(want), "{spec}: {msg}"),
            other => panic!("{spec}: {other:?}"),
        }
    }
}

const ZONES: [&str; 7] = [
    "",
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "PST",
    "EST",
    "+05:30",
];

proptest! {
    #[test]
    fn no_input_panics(s in ".{0,40}", zone in 0..ZONES.len()) {
        let now = ts("2026-05-01T12:00:00Z");
        if let Ok(c) = Cron::parse(&s, "UTC") {
            prop_assert!(c.next_after(now).is_none_or(|n| n > now));
        }
        let _ = Cron::parse("* * * * *", &s);
        let _ = Repeating::parse(&s, Some(&s));
        if let Ok(r) = Repeating::parse_at(&s, Some(ZONES[zone]), now) {
            let _ = (r.next_after(now), r.after(now), r.to_string());
        }
    }

    #[test]
    fn cron_like_never_panics_and_moves_forward(
        s in "([0-9*/,#?LW-]{1,4}|[A-Za-z]{3}) ([0-9*/,-]{1,4}) ([0-9*/,?LW-]{1,4}) ([0-9*/,-]{1,4}|[A-Za-z]{3}) ([0-9*/,#?L-]{1,4}|[A-Za-z]{3})( (19|20)[0-9]{2})?",
        zone in 1..ZONES.len(),
    ) {
        let now = ts("2026-05-01T12:00:00Z");
        if let Ok(c) = Cron::parse(&s, ZONES[zone]) {
            if let Some(n) = c.next_after(now) {
                prop_assert!(n > now);
                prop_assert!(c.next_after(n).is_none_or(|m| m > n));
            }
        }
    }

    #[test]
    fn iso_like_round_trips_and_steps(
        s in "R[0-9]{0,2}/20[0-9]{2}-0[1-9]-[0-2][1-9]T[01][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]0[0-9]:[0-5][0-9])?/P([1-9][0-9]{0,2}[YMWD]){0,2}(T[0-9]{1,4}[HMS])?",
        zone in 0..ZONES.len(),
        offset_hours in 0i64..200_000,
    ) {
        let tz = Some(ZONES[zone]);
        let Ok(r) = Repeating::parse(&s, tz) else { return Ok(()) };
        let printed = r.to_string();
        let again = Repeating::parse(&printed, tz).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.to_string(), printed.clone());
        prop_assert_eq!(again.start(), r.start());
        let t = r.start() + SignedDuration::from_hours(offset_hours);
        let next = r.next_after(t);
        prop_assert!(next.is_none_or(|n| n > t));
        let calendar = r.period().get_years() != 0 || r.period().get_months() != 0;
        if let (Some(rest), false) = (r.after(t), calendar) {
            // What is left after `t` is exactly what came after `t`.
            prop_assert_eq!(rest.next_after(t), next);
            prop_assert_eq!(rest.start(), next.expect("an occurrence left"));
        }
    }
}
