//! When a job is due: Metronome's cron schedules and Chronos' ISO 8601 repeating intervals,
//! each in its time zone, as one [`When`] the core asks for the next occurrence after a time.
//! Pure: no clock (the caller passes the time), no I/O.

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

/// A cron expression (5 fields, optional 6th year field) in a time zone.
#[derive(Clone, Debug)]
pub struct Cron {}

impl Cron {
    pub fn parse(_expr: &str, _timezone: &str) -> Result<Cron, ScheduleError> {
        Err(ScheduleError::Cron("not yet".into()))
    }
    pub fn next_after(&self, _after: Timestamp) -> Option<Timestamp> {
        None
    }
}

/// An ISO 8601 repeating interval `R[n]/<start>/<period>` in a time zone.
#[derive(Clone, Debug)]
pub struct Repeating {}

impl Repeating {
    pub fn parse(_spec: &str, _timezone: Option<&str>) -> Result<Repeating, ScheduleError> {
        Err(ScheduleError::Iso8601("not yet".into()))
    }
    pub fn parse_at(_spec: &str, _timezone: Option<&str>, _now: Timestamp) -> Result<Repeating, ScheduleError> {
        Err(ScheduleError::Iso8601("not yet".into()))
    }
    pub fn start(&self) -> Timestamp {
        Timestamp::UNIX_EPOCH
    }
    pub fn remaining(&self) -> Option<u64> {
        None
    }
    pub fn next_after(&self, _after: Timestamp) -> Option<Timestamp> {
        None
    }
}
