//! Metronome's cron schedules: `minute hour day-of-month month day-of-week [year]` in a time
//! zone, read as Metronome reads them (cron-utils with Metronome's own definition) and
//! evaluated by `croner` in a `jiff` zone.
//!
//! Rules, and where they come from:
//! - Five fields plus an optional sixth, the year (1970-2099, cron-utils' range). There is no
//!   seconds field: a sixth field that is not a year is refused, as Metronome refuses it.
//! - Day of week 0-7 (0 and 7 are Sunday), names `JAN`-`DEC` and `SUN`-`SAT` (any case), `*`,
//!   `*/n`, `a/n`, ranges, lists; `L`, `LW`, `nW` in the day of month; `n#k`, `nL` in the day of
//!   week. Nicknames (`@daily`) are refused, as cron-utils refuses them under this definition.
//! - Day of month and day of week both restricted: BOTH must match. croner's default is the
//!   Vixie/POSIX OR, but Metronome's definition calls cron-utils'
//!   `matchDayOfWeekAndDayOfMonth()` (dcos/metronome `CronSpec.scala`; its tests expect
//!   `0 9 1-7 * 1` to be the first Monday of the month), so we parse with croner's
//!   `dom_and_dow(true)` and match Metronome, not Vixie.
//! - A pattern no date can ever match is refused (`0 0 30 2 *`, `0 0 31 4 *`, and with the AND
//!   rule also e.g. `0 0 1-7 * 1#2`): Metronome refused the first kind only, and cron-utils
//!   searched forever on the rest.
//! - DST, as croner does it (Vixie cron's rules). A fixed-time job (one minute of one hour)
//!   whose wall time falls in a spring-forward gap runs once, at the first instant after the
//!   gap (02:30 in New York on the spring day runs at 03:00 EDT), so no day is skipped; one
//!   whose wall time occurs twice in a fall-back overlap runs once, at the first. Jobs with a
//!   wildcard, step, range or list in the minute or hour run by real time: the gap's wall
//!   times do not exist and are not run, and the repeated hour is run again (an hourly job
//!   runs at 01:00 EDT and at 01:00 EST, an hour apart, as an hourly job should).

use super::{time_zone, ScheduleError};
use croner::parser::{CronParser, Seconds, Year};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The year field's range (cron-utils' default for years, which Metronome keeps).
const FIRST_YEAR: u16 = 1970;
const LAST_YEAR: u16 = 2099;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A cron expression (5 fields, optional 6th year field) in a time zone.
#[derive(Clone, Debug)]
pub struct Cron {
    expr: String,
    timezone: String,
    zone: TimeZone,
    cron: croner::Cron,
}

impl Cron {
    /// Read `expr` in the zone named `timezone` (IANA, Java short id, or offset).
    pub fn parse(expr: &str, timezone: &str) -> Result<Cron, ScheduleError> {
        let fields = Fields::split(expr)?;
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Required)
            .dom_and_dow(true)
            .sloppy_ranges(true)
            .build()
            .parse(&fields.croner_pattern())
            .map_err(|e| ScheduleError::Cron(format!("'{}': {e}", expr.trim())))?;
        fields.check_possible(&cron)?;
        let zone = time_zone(timezone)?;
        Ok(Cron {
            expr: expr.to_string(),
            timezone: timezone.to_string(),
            zone,
            cron,
        })
    }

    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The time zone as given.
    pub fn timezone(&self) -> &str {
        &self.timezone
    }

    /// The first occurrence strictly after `after`, in the zone, DST-correct (see the module
    /// doc). `None` when there is none before the year 5000 (croner's search bound), e.g. a
    /// year field that lies wholly in the past.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let mut from = after.to_zoned(self.zone.clone());
        // croner only ever moves forward; the second round is a guard, not a search.
        for _ in 0..2 {
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            if next.timestamp() > after {
                return Some(next.timestamp());
            }
            from = next;
        }
        None
    }
}

/// The fields of an expression, checked and rewritten for croner.
struct Fields {
    minute: String,
    hour: String,
    dom: String,
    month: String,
    dow: String,
    /// `None`: no year field (every year).
    year: Option<String>,
}

impl Fields {
    fn split(expr: &str) -> Result<Fields, ScheduleError> {
        let err = |why: String| ScheduleError::Cron(format!("'{}': {why}", expr.trim()));
        if expr.contains('@') {
            return Err(err(
                "nicknames such as @daily are not supported; give the 5 fields".into(),
            ));
        }
        let parts: Vec<&str> = expr.split_whitespace().collect();
        let year = match parts.len() {
            5 => None,
            6 if parts[5] == "*" => None,
            6 => Some(year_field(parts[5]).ok_or_else(|| {
                err(format!(
                    "a 6th field is the year ({FIRST_YEAR}-{LAST_YEAR}) and '{}' is not one \
                     (there is no seconds field: minute hour day-of-month month day-of-week [year])",
                    parts[5]
                ))
            })?),
            n => {
                return Err(err(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week) and an \
                     optional year, got {n}"
                )))
            }
        };
        let dow = field(parts[4], "day-of-week", &WEEKDAYS, 0, "L#?").map_err(err)?;
        if dow.split(',').any(|item| item.starts_with('L')) {
            return Err(err(format!(
                "'L' in the day-of-week field follows a day (5L is the last Friday): '{}'",
                parts[4]
            )));
        }
        Ok(Fields {
            minute: field(parts[0], "minute", &[], 0, "").map_err(err)?,
            hour: field(parts[1], "hour", &[], 0, "").map_err(err)?,
            dom: field(parts[2], "day-of-month", &[], 0, "LW?").map_err(err)?,
            month: field(parts[3], "month", &MONTHS, 1, "").map_err(err)?,
            dow,
            year,
        })
    }

    /// croner's 7-field form: a zero seconds field first, the year last.
    fn croner_pattern(&self) -> String {
        format!(
            "0 {} {} {} {} {} {}",
            self.minute,
            self.hour,
            self.dom,
            self.month,
            self.dow,
            self.year.as_deref().unwrap_or("*")
        )
    }

    /// Refuse a pattern no date can match. Without a year field the calendar repeats every 400
    /// years (146097 days, a whole number of weeks), so one cycle decides; with one, its years
    /// (at most 130) do. The scan stops at the first match, which is nearly always at once.
    fn check_possible(&self, cron: &croner::Cron) -> Result<(), ScheduleError> {
        if matches_some_day(cron, self.year.is_some()) {
            return Ok(());
        }
        let pattern = format!("'{} {}'", self.dom, self.month);
        // Would the day of month alone have matched (is it the weekday that rules all out)?
        let dom_only = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Required)
            .sloppy_ranges(true)
            .build()
            .parse(&format!(
                "0 0 0 {} {} * {}",
                self.dom,
                self.month,
                self.year.as_deref().unwrap_or("*")
            ));
        let why = match dom_only {
            Ok(c) if matches_some_day(&c, self.year.is_some()) => format!(
                "no date is both day-of-month '{}' and day-of-week '{}' (when both are given, \
                 both must match, as in Metronome)",
                self.dom, self.dow
            ),
            _ if self.year.is_some() => format!(
                "day-of-month and month {pattern} never occur in the given years: the day of \
                 the month must exist in the month"
            ),
            _ => format!(
                "day-of-month and month {pattern} never occur: the day of the month must exist \
                 in the month (February has at most 29 days, so running on Feb 30 is invalid)"
            ),
        };
        Err(ScheduleError::Cron(why))
    }
}

/// Whether any day in the years that matter matches the date fields of `cron`.
fn matches_some_day(cron: &croner::Cron, has_year: bool) -> bool {
    let p = &cron.pattern;
    let years: Box<dyn Iterator<Item = i16>> = if has_year {
        Box::new(
            (FIRST_YEAR as i16..=LAST_YEAR as i16)
                .filter(|y| matches!(p.year_match(*y as i32), Ok(true))),
        )
    } else {
        Box::new(2000..2400)
    };
    for year in years {
        for month in 1..=12i8 {
            if !matches!(p.month_match(month as u32), Ok(true)) {
                continue;
            }
            let Ok(first) = Date::new(year, month, 1) else {
                continue;
            };
            let weekday0 = first.weekday().to_sunday_zero_offset() as u32;
            for day in 1..=first.days_in_month() as u32 {
                let weekday = croner::Weekday::from_days_from_sunday(weekday0 + day - 1);
                if matches!(
                    p.day_match(year as i32, month as u32, day, weekday),
                    Ok(true)
                ) {
                    return true;
                }
            }
        }
    }
    false
}

/// One of the five fields: upper-cased, names replaced by numbers (`names[i]` -> `i + base`),
/// and only the characters this field may hold.
fn field(
    raw: &str,
    what: &str,
    names: &[&str],
    base: usize,
    extra: &str,
) -> Result<String, String> {
    let upper = raw.to_ascii_uppercase();
    let mut out = String::with_capacity(upper.len());
    let mut chars = upper.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_ascii_alphabetic() {
            let mut end = i + 1;
            while let Some((j, d)) = chars.peek() {
                if !d.is_ascii_alphabetic() {
                    break;
                }
                end = j + 1;
                chars.next();
            }
            let word = &upper[i..end];
            if let Some(n) = names.iter().position(|n| *n == word) {
                out.push_str(&(n + base).to_string());
            } else if word.chars().all(|l| extra.contains(l)) {
                out.push_str(word);
            } else {
                return Err(format!(
                    "'{word}' is not valid in the {what} field ('{raw}')"
                ));
            }
        } else if c.is_ascii_digit() || "*,-/".contains(c) || extra.contains(c) {
            out.push(c);
        } else {
            return Err(format!(
                "'{c}' is not allowed in the {what} field ('{raw}')"
            ));
        }
    }
    Ok(out)
}

/// The year field, rewritten so that steps count from 1970 as in cron-utils (`*/2` is 1970,
/// 1972, …; `2020/5` is 2020, 2025, …); `None` if it is not a year field.
fn year_field(raw: &str) -> Option<String> {
    let year = |s: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|y| (FIRST_YEAR..=LAST_YEAR).contains(y))
    };
    let mut out = Vec::new();
    for item in raw.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s.parse::<u16>().ok().filter(|s| *s > 0)?)),
            None => (item, None),
        };
        let (from, to) = match range {
            "*" => (FIRST_YEAR, LAST_YEAR),
            _ => match range.split_once('-') {
                Some((a, b)) => (year(a)?, year(b)?),
                None => {
                    let a = year(range)?;
                    (a, if step.is_some() { LAST_YEAR } else { a })
                }
            },
        };
        if from > to {
            return None;
        }
        out.push(match (range, step) {
            ("*", None) => "*".to_string(),
            (_, None) if from == to => from.to_string(),
            (_, None) => format!("{from}-{to}"),
            (_, Some(s)) => format!("{from}-{to}/{s}"),
        });
    }
    Some(out.join(","))
}
