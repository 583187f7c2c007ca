//! When a job is due: Metronome's cron schedules and Chronos' ISO 8601 repeating intervals,
//! each in its time zone, as one [`When`] the core asks for the next occurrence after a time.
//! Pure: no clock (the caller passes the time), no I/O.
//!
//! This module owns the shared parts: the error type, [`When`], and reading a time zone name
//! the way Metronome and Chronos users write it (IANA names, Java's legacy short ids, offsets).
//! The cron side lives in `cron.rs` (on `croner`), the ISO 8601 side in `iso8601.rs` (on
//! `jiff` spans); both do their calendar arithmetic in `jiff` zones, so DST is handled by the
//! IANA rules bundled into the binary.

mod cron;
mod iso8601;
#[cfg(test)]
mod tests;

pub use self::cron::Cron;
pub use self::iso8601::Repeating;

use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

/// Why a schedule was refused; the message is what the API shows at the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("Cron expression not valid: {0}")]
    Cron(String),
    #[error("Invalid timezone: {0}")]
    TimeZone(String),
    #[error("Invalid ISO 8601 schedule: {0}")]
    Iso8601(String),
}

/// A parsed schedule.
#[derive(Clone, Debug)]
pub enum When {
    Cron(Cron),
    Repeating(Repeating),
}

impl When {
    /// The first occurrence strictly after `after`, if there is one.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            When::Cron(c) => c.next_after(after),
            When::Repeating(r) => r.next_after(after),
        }
    }
}

/// Java's `ZoneId.SHORT_IDS`: the legacy three-letter ids Java still accepts through
/// `ZoneId.of(id, SHORT_IDS)` (and `java.util.TimeZone`), which Metronome and Chronos users
/// pass. EST, MST and HST are fixed offsets here (tzdb 2005r and later), as in that table.
/// (Joda's `DateTimeZone.forTimeZone`, which Chronos went through, maps those three to
/// America/New_York, America/Denver and Pacific/Honolulu instead; we follow the Java table.)
const JAVA_SHORT_IDS: [(&str, &str); 28] = [
    ("ACT", "Australia/Darwin"),
    ("AET", "Australia/Sydney"),
    ("AGT", "America/Argentina/Buenos_Aires"),
    ("ART", "Africa/Cairo"),
    ("AST", "America/Anchorage"),
    ("BET", "America/Sao_Paulo"),
    ("BST", "Asia/Dhaka"),
    ("CAT", "Africa/Harare"),
    ("CNT", "America/St_Johns"),
    ("CST", "America/Chicago"),
    ("CTT", "Asia/Shanghai"),
    ("EAT", "Africa/Addis_Ababa"),
    ("ECT", "Europe/Paris"),
    ("IET", "America/Indiana/Indianapolis"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("MIT", "Pacific/Apia"),
    ("NET", "Asia/Yerevan"),
    ("NST", "Pacific/Auckland"),
    ("PLT", "Asia/Karachi"),
    ("PNT", "America/Phoenix"),
    ("PRT", "America/Puerto_Rico"),
    ("PST", "America/Los_Angeles"),
    ("SST", "Pacific/Guadalcanal"),
    ("VST", "Asia/Ho_Chi_Minh"),
    ("EST", "-05:00"),
    ("MST", "-07:00"),
    ("HST", "-10:00"),
];

/// A time zone by the name a user gave: an IANA name (`America/New_York`, `UTC`), one of Java's
/// short ids (`PST`), `Z`/`UTC`/`GMT`/`UT`, or an offset as Java's `ZoneId.of` reads one
/// (`+05:30`, `-08`, `UTC+01:00`, `GMT-5`). Anything else is refused rather than read as UTC
/// (Java's `TimeZone.getTimeZone`, which Chronos used, silently falls back to GMT).
pub(crate) fn time_zone(name: &str) -> Result<TimeZone, ScheduleError> {
    let refused = || ScheduleError::TimeZone(name.to_string());
    let id = JAVA_SHORT_IDS
        .iter()
        .find(|(short, _)| *short == name)
        .map_or(name, |(_, id)| *id);
    if matches!(id, "Z" | "UTC" | "GMT" | "UT") {
        return Ok(TimeZone::UTC);
    }
    if id.starts_with(['+', '-']) {
        return parse_offset(id).map(TimeZone::fixed).ok_or_else(refused);
    }
    for prefix in ["UTC", "GMT", "UT"] {
        if let Some(rest) = id.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return parse_offset(rest).map(TimeZone::fixed).ok_or_else(refused);
            }
        }
    }
    if id.is_empty() || id.len() > 64 {
        return Err(refused());
    }
    TimeZone::get(id).map_err(|_| refused())
}

/// `+h`, `+hh`, `+hh:mm`, `+hhmm`, `+hh:mm:ss`, `+hhmmss` (or `-`), at most 18 hours, as
/// Java's `ZoneOffset.of` reads them.
fn parse_offset(s: &str) -> Option<Offset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let two = |p: &str| -> Option<i32> { (p.len() == 2).then(|| p.parse().ok()).flatten() };
    let parts: Vec<&str> = rest.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [hms] if hms.len() <= 2 && !hms.is_empty() => (hms.parse().ok()?, 0, 0),
        [hms] if hms.len() == 4 => (two(&hms[..2])?, two(&hms[2..])?, 0),
        [hms] if hms.len() == 6 => (two(&hms[..2])?, two(&hms[2..4])?, two(&hms[4..])?),
        [h, m] => (two(h)?, two(m)?, 0),
        [h, m, s] => (two(h)?, two(m)?, two(s)?),
        _ => return None,
    };
    if m > 59 || sec > 59 {
        return None;
    }
    let total = h * 3600 + m * 60 + sec;
    if total > 18 * 3600 {
        return None;
    }
    Offset::from_seconds(sign * total).ok()
}
