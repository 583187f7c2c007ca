//! Chronos' schedules: the ISO 8601 repeating interval `R[n]/<start>/<period>` with its
//! `scheduleTimeZone`, read, stepped and written back as Chronos does (mesos/chronos
//! `Iso8601Expressions.scala`, `JobUtils.scala`, Joda-Time underneath).
//!
//! - `R` repeats forever, `Rn` n times (`R0` never runs).
//! - The start is an ISO 8601 date-time (`2014-03-08T20:00:00.000Z`, `…-08:00`, a date alone
//!   is midnight); empty (`R//PT1H`) means "now" and needs [`Repeating::parse_at`]. Starts are
//!   kept to the millisecond, as Joda keeps them.
//! - The zone rule (Chronos' `convertToDateTime`: `DateTime.parse(start)` then, when
//!   `scheduleTimeZone` is set, `withZoneRetainFields(zone)`): with a time zone, the start's
//!   wall clock is read in that zone and its written offset is ignored (except to choose
//!   between the two instants of a wall time a fall-back repeats; a wall time in a
//!   spring-forward gap moves forward by the gap, as in Joda). Without one, the start stays at
//!   the offset it was written with, as a fixed offset (`Z` is UTC; no offset at all is read
//!   as UTC, the zone Chronos servers run in). An empty start is now, in the time zone if one
//!   is given (Chronos took now in UTC and, after rewriting it, misread it in the zone).
//! - The period `P[n]Y[n]M[n]W[n]DT[n]H[n]M[n]S` (fraction on the seconds only, as in Joda's
//!   `ISOPeriodFormat.standard`) is added in the schedule's zone: calendar units keep the wall
//!   time across DST (`P1D` stays at 09:00), time units are elapsed time (`PT2H` is two real
//!   hours). Occurrence k is `start + k × period` in one addition, so a month-end start does not
//!   drift (Jan 31, Feb 28, Mar 31); without a zone, days are 24 hours (a fixed offset has no
//!   DST), as in Chronos.
//! - Printing is Chronos' `Iso8601Expressions.create`: `R4/2014-03-08T22:00:00.000Z/PT2H`,
//!   the start in the schedule's zone (`Z` for a zero offset, else `±hh:mm`), the period in
//!   Joda's standard form.

use super::{time_zone, ScheduleError};
use jiff::civil::Time;
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp, Zoned};
use std::fmt;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// An ISO 8601 repeating interval `R[n]/<start>/<period>` in a time zone.
#[derive(Clone, Debug)]
pub struct Repeating {
    /// Occurrences left counting the one at `start`; `None` is forever.
    count: Option<u64>,
    start: Zoned,
    period: Span,
    /// The period's length when it has no calendar units (none of Y, M, W, D).
    fixed_nanos: Option<i128>,
    timezone: Option<String>,
}

impl Repeating {
    /// Read `spec` with an explicit start (an empty start is refused: use [`Self::parse_at`]).
    pub fn parse(spec: &str, timezone: Option<&str>) -> Result<Repeating, ScheduleError> {
        Self::read(spec, timezone, None)
    }

    /// Read `spec`, an empty start meaning `now`.
    pub fn parse_at(
        spec: &str,
        timezone: Option<&str>,
        now: Timestamp,
    ) -> Result<Repeating, ScheduleError> {
        Self::read(spec, timezone, Some(now))
    }

    fn read(
        spec: &str,
        timezone: Option<&str>,
        now: Option<Timestamp>,
    ) -> Result<Repeating, ScheduleError> {
        let err = |why: String| ScheduleError::Iso8601(format!("'{}': {why}", spec.trim()));
        let mut parts = spec.trim().splitn(3, '/');
        let (Some(reps), Some(start), Some(period)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(err(
                "expected R[n]/<start>/<period>, e.g. R/2014-03-08T20:00:00.000Z/PT2H".into(),
            ));
        };
        let count = repetitions(reps).map_err(err)?;
        let timezone = timezone.filter(|z| !z.is_empty());
        let zone = timezone.map(time_zone).transpose()?;
        let start = if start.is_empty() {
            let now = now.ok_or_else(|| err("the start is missing".into()))?;
            to_millis(now).to_zoned(zone.unwrap_or(TimeZone::UTC))
        } else {
            parse_start(start, zone).map_err(err)?
        };
        let period = parse_period(period).map_err(err)?;
        Ok(Repeating {
            count,
            start,
            fixed_nanos: fixed_nanos(&period),
            period,
            timezone: timezone.map(str::to_string),
        })
    }

    /// The first occurrence.
    pub fn start(&self) -> Timestamp {
        self.start.timestamp()
    }

    /// Occurrences left, counting the one at [`Self::start`]; `None` is forever.
    pub fn remaining(&self) -> Option<u64> {
        self.count
    }

    /// The period, in the units it was written in.
    pub fn period(&self) -> Span {
        self.period
    }

    /// The `scheduleTimeZone` as given, if any.
    pub fn timezone(&self) -> Option<&str> {
        self.timezone.as_deref()
    }

    /// The first occurrence strictly after `after` among start, start+p, start+2p, … (the
    /// first `n` of them for `Rn`). Found by division for a fixed-length period and by a
    /// doubling-then-halving search over k for a calendar one: a few dozen steps at most,
    /// however far `after` lies past the start.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let k = self.index_after(after)?;
        if self.count.is_some_and(|n| k >= n) {
            return None;
        }
        self.occurrence(k).map(|z| z.timestamp())
    }

    /// The schedule as Chronos rewrites it after the occurrence at `due` ran: the start moved
    /// to the first occurrence after `due`, the count lowered by the occurrences at or before
    /// `due` (the occurrences left are exactly those of `self` after `due`); `None` when none
    /// remain. (Chronos itself lowered the count by one per run, however many occurrences a
    /// late run collapsed; here the caller decides what became of each occurrence.)
    pub fn after(&self, due: Timestamp) -> Option<Repeating> {
        let k = self.index_after(due)?;
        let count = match self.count {
            Some(n) if k >= n => return None,
            Some(n) => Some(n - k),
            None => None,
        };
        Some(Repeating {
            count,
            start: self.occurrence(k)?,
            period: self.period,
            fixed_nanos: self.fixed_nanos,
            timezone: self.timezone.clone(),
        })
    }

    /// Occurrence k (counting from 0 at the start), ignoring the count; `None` past the
    /// representable range.
    fn occurrence(&self, k: u64) -> Option<Zoned> {
        if k == 0 {
            return Some(self.start.clone());
        }
        match self.fixed_nanos {
            Some(len) => {
                let total = len.checked_mul(i128::from(k))?;
                let d = SignedDuration::try_from_nanos_i128(total)?;
                self.start.checked_add(d).ok()
            }
            None => {
                let span = self.period.checked_mul(i64::try_from(k).ok()?).ok()?;
                self.start.checked_add(span).ok()
            }
        }
    }

    /// The smallest k whose occurrence is after `t`, ignoring the count.
    fn index_after(&self, t: Timestamp) -> Option<u64> {
        let start = self.start.timestamp();
        if start > t {
            return Some(0);
        }
        if let Some(len) = self.fixed_nanos {
            let elapsed = t.as_nanosecond() - start.as_nanosecond();
            return u64::try_from(elapsed / len + 1).ok();
        }
        // Occurrences grow with k (every unit of the period is positive), so double k until
        // past `t`, then halve the gap. `None` (out of range) counts as past `t`.
        let at_or_before = |k: u64| self.occurrence(k).is_some_and(|z| z.timestamp() <= t);
        let (mut lo, mut hi) = (0u64, 1u64);
        while at_or_before(hi) {
            lo = hi;
            hi = hi.checked_mul(2).filter(|h| *h < 1 << 48)?;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if at_or_before(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }
}

impl fmt::Display for Repeating {
    /// Chronos' form: `R4/2014-03-08T22:00:00.000Z/PT2H`, `R/2016-02-10T05:00:00.000-08:00/P1D`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.count {
            Some(n) => write!(f, "R{n}/")?,
            None => f.write_str("R/")?,
        }
        let dt = self.start.datetime();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.subsec_nanosecond() / 1_000_000
        )?;
        write_offset(f, self.start.offset())?;
        f.write_str("/")?;
        write_period(f, &self.period)
    }
}

/// `R` or `R<n>`.
fn repetitions(s: &str) -> Result<Option<u64>, String> {
    let digits = s
        .strip_prefix('R')
        .ok_or_else(|| format!("'{s}' should be R or R<n> (the number of repetitions)"))?;
    if digits.is_empty() {
        return Ok(None);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{s}' should be R or R<n> (the number of repetitions)"
        ));
    }
    digits
        .parse()
        .map(Some)
        .map_err(|_| format!("'{s}': too many repetitions"))
}

/// The start, by the zone rule in the module doc, to the millisecond.
fn parse_start(s: &str, zone: Option<TimeZone>) -> Result<Zoned, String> {
    let bad = |e: &dyn fmt::Display| format!("the start '{s}' is not an ISO 8601 date-time: {e}");
    let pieces = Pieces::parse(s).map_err(|e| bad(&e))?;
    if pieces.time_zone_annotation().is_some() {
        return Err(format!(
            "the start '{s}' has a time zone annotation; give the zone as scheduleTimeZone"
        ));
    }
    let dt = pieces
        .date()
        .to_datetime(pieces.time().unwrap_or(Time::midnight()));
    let offset = match pieces.offset() {
        Some(PiecesOffset::Zulu) => Some(Offset::UTC),
        Some(PiecesOffset::Numeric(n)) => Some(n.offset()),
        _ => None,
    };
    let zoned = match zone {
        Some(zone) => {
            let ambiguous = zone.to_ambiguous_zoned(dt);
            match ambiguous.offset() {
                AmbiguousOffset::Fold { after, .. } if Some(after) == offset => ambiguous.later(),
                _ => ambiguous.compatible(),
            }
        }
        None => match offset {
            Some(o) if o != Offset::UTC => dt.to_zoned(TimeZone::fixed(o)),
            _ => dt.to_zoned(TimeZone::UTC),
        },
    }
    .map_err(|e| bad(&e))?;
    Ok(to_millis(zoned.timestamp()).to_zoned(zoned.time_zone().clone()))
}

/// `t` without its sub-millisecond part (Joda keeps milliseconds).
fn to_millis(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

/// `P[n]Y[n]M[n]W[n]DT[n]H[n]M[n]S`, every number a whole non-negative number but the seconds,
/// which may have a fraction (`.` or `,`, up to 9 digits); longer than zero.
fn parse_period(s: &str) -> Result<Span, String> {
    let bad = |why: &str| format!("the period '{s}' is not an ISO 8601 duration: {why}");
    let body = s
        .strip_prefix('P')
        .ok_or_else(|| bad("it must start with P"))?;
    if body.contains('-') {
        return Err(bad("it must be positive"));
    }
    let (date, time) = match body.find(['T', 't']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mut span = Span::new();
    let mut any = false;
    let mut units: &[u8] = b"YMWD";
    for (part, is_time) in [(Some(date), false), (time, true)] {
        let Some(mut rest) = part else { continue };
        if is_time {
            units = b"HMS";
            if rest.is_empty() {
                return Err(bad("nothing follows T"));
            }
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let number = &rest[..digits];
            rest = &rest[digits..];
            let mut fraction = "";
            if let Some(after) = rest.strip_prefix(['.', ',']) {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                fraction = &after[..n];
                rest = &after[n..];
                if fraction.is_empty() || fraction.len() > 9 {
                    return Err(bad("a fraction has 1 to 9 digits"));
                }
            }
            if number.is_empty() {
                return Err(bad("expected a number"));
            }
            let Some(c) = rest.chars().next() else {
                return Err(bad("a number lacks its unit"));
            };
            rest = &rest[c.len_utf8()..];
            let unit = if c.is_ascii() {
                c.to_ascii_uppercase() as u8
            } else {
                0
            };
            let Some(at) = units.iter().position(|u| *u == unit) else {
                return Err(bad(
                    "units must be Y M W D, then T and H M S, in that order",
                ));
            };
            units = &units[at + 1..];
            if !fraction.is_empty() && unit != b'S' {
                return Err(bad("only the seconds may have a fraction"));
            }
            let n: i64 = number.parse().map_err(|_| bad("a number is too large"))?;
            span = add_unit(span, unit, is_time, n, fraction)
                .map_err(|_| bad("a number is too large"))?;
            any = true;
        }
    }
    if !any {
        return Err(bad("it has no duration"));
    }
    if span.is_zero() {
        return Err(bad("the period must be longer than zero"));
    }
    Ok(span)
}

fn add_unit(
    span: Span,
    unit: u8,
    is_time: bool,
    n: i64,
    fraction: &str,
) -> Result<Span, jiff::Error> {
    Ok(match (unit, is_time) {
        (b'Y', false) => span.try_years(n)?,
        (b'M', false) => span.try_months(n)?,
        (b'W', false) => span.try_weeks(n)?,
        (b'D', false) => span.try_days(n)?,
        (b'H', true) => span.try_hours(n)?,
        (b'M', true) => span.try_minutes(n)?,
        _ => {
            // Seconds: the fraction, padded to nanoseconds, split into ms, µs and ns.
            let mut nanos: i64 = 0;
            for (i, b) in fraction
                .bytes()
                .chain(std::iter::repeat(b'0'))
                .take(9)
                .enumerate()
            {
                nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
            }
            span.try_seconds(n)?
                .try_milliseconds(nanos / 1_000_000)?
                .try_microseconds(nanos / 1_000 % 1_000)?
                .try_nanoseconds(nanos % 1_000)?
        }
    })
}

/// The period's length in nanoseconds if it has only time units.
fn fixed_nanos(p: &Span) -> Option<i128> {
    if p.get_years() != 0 || p.get_months() != 0 || p.get_weeks() != 0 || p.get_days() != 0 {
        return None;
    }
    let len = i128::from(p.get_hours()) * 3600 * NANOS_PER_SECOND
        + i128::from(p.get_minutes()) * 60 * NANOS_PER_SECOND
        + i128::from(p.get_seconds()) * NANOS_PER_SECOND
        + i128::from(p.get_milliseconds()) * 1_000_000
        + i128::from(p.get_microseconds()) * 1_000
        + i128::from(p.get_nanoseconds());
    (len > 0).then_some(len)
}

/// `Z` for a zero offset, else `±hh:mm` (`±hh:mm:ss` for an offset with seconds), as Joda's
/// `ISODateTimeFormat.dateTime()` prints it.
fn write_offset(f: &mut fmt::Formatter<'_>, offset: Offset) -> fmt::Result {
    let secs = offset.seconds();
    if secs == 0 {
        return f.write_str("Z");
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    write!(f, "{sign}{:02}:{:02}", a / 3600, a / 60 % 60)?;
    if !a.is_multiple_of(60) {
        write!(f, ":{:02}", a % 60)?;
    }
    Ok(())
}

/// Joda's `ISOPeriodFormat.standard()`: the non-zero units in order, the seconds with a
/// fraction when there is one (`PT1.500S`).
fn write_period(f: &mut fmt::Formatter<'_>, p: &Span) -> fmt::Result {
    f.write_str("P")?;
    for (n, u) in [
        (i64::from(p.get_years()), 'Y'),
        (i64::from(p.get_months()), 'M'),
        (i64::from(p.get_weeks()), 'W'),
        (i64::from(p.get_days()), 'D'),
    ] {
        if n != 0 {
            write!(f, "{n}{u}")?;
        }
    }
    let sub = p.get_milliseconds() * 1_000_000 + p.get_microseconds() * 1_000 + p.get_nanoseconds();
    let (h, m, s) = (p.get_hours(), p.get_minutes(), p.get_seconds());
    if h == 0 && m == 0 && s == 0 && sub == 0 {
        return Ok(());
    }
    f.write_str("T")?;
    if h != 0 {
        write!(f, "{h}H")?;
    }
    if m != 0 {
        write!(f, "{m}M")?;
    }
    if s != 0 || sub != 0 {
        write!(f, "{s}")?;
        if sub % 1_000_000 == 0 && sub != 0 {
            write!(f, ".{:03}", sub / 1_000_000)?;
        } else if sub % 1_000 == 0 && sub != 0 {
            write!(f, ".{:06}", sub / 1_000)?;
        } else if sub != 0 {
            write!(f, ".{sub:09}")?;
        }
        f.write_str("S")?;
    }
    Ok(())
}
