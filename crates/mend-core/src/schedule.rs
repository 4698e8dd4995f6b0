//! When a job runs by itself: `schedule = "every 15m"` or a cron
//! expression (`"0 3 * * *"`: five fields, or six with seconds first),
//! evaluated in local time.

use chrono::{Local, TimeZone};

use crate::job::parse_duration_ms;

/// The shortest interval allowed: a job is not a busy loop.
pub const MIN_INTERVAL_MS: u64 = 1_000;

/// A job's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every so often, counted from the last start.
    Every {
        /// The interval.
        ms: u64,
    },
    /// A cron expression (checked when parsed).
    Cron {
        /// The expression as written.
        expr: String,
    },
}

fn cron(expr: &str) -> Result<croner::Cron, String> {
    croner::Cron::new(expr).with_seconds_optional().parse().map_err(|e| format!("`{expr}` is not a cron expression: {e}"))
}

impl Schedule {
    /// Parses `every DURATION` or a cron expression.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let s = s.trim();
        if let Some(d) = s.strip_prefix("every ") {
            let ms = parse_duration_ms(d)?;
            if ms < MIN_INTERVAL_MS {
                return Err(format!("`{s}` is too often: at least every {} s", MIN_INTERVAL_MS / 1000));
            }
            return Ok(Schedule::Every { ms });
        }
        if s.split_whitespace().count() < 5 {
            return Err(format!("`{s}` is neither `every DURATION` (e.g. every 15m) nor a cron expression (e.g. 0 3 * * *)"));
        }
        cron(s)?;
        Ok(Schedule::Cron { expr: s.to_owned() })
    }

    /// The first time after `after_ms` (ms since epoch) the job is due.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Schedule::Every { ms } => after_ms.checked_add(*ms as i64),
            Schedule::Cron { expr } => {
                let c = cron(expr).ok()?;
                let after = Local.timestamp_millis_opt(after_ms).single()?;
                c.find_next_occurrence(&after, false).ok().map(|t| t.timestamp_millis())
            }
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Every { ms } => write!(f, "every {} s", ms / 1000),
            Schedule::Cron { expr } => write!(f, "cron `{expr}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    #[test]
    fn intervals_and_cron_expressions_parse_and_tick() {
        assert_eq!(Schedule::parse("every 15m").unwrap(), Schedule::Every { ms: 900_000 });
        assert_eq!(Schedule::parse("every 15m").unwrap().next_after(1_000), Some(901_000));
        let c = Schedule::parse("30 3 * * *").unwrap();
        let now = Local.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap().timestamp_millis();
        let next = Local.timestamp_millis_opt(c.next_after(now).unwrap()).unwrap();
        assert_eq!((next.day(), next.hour(), next.minute()), (23, 3, 30));
        let s = Schedule::parse("*/10 * * * * *").unwrap();
        let t = Local.with_ymd_and_hms(2026, 11, 22, 12, 0, 5).unwrap().timestamp_millis();
        assert_eq!(s.next_after(t), Some(t + 5_000));
    }

    #[test]
    fn bad_schedules_say_why() {
        assert!(Schedule::parse("every 10ms").unwrap_err().contains("too often"));
        assert!(Schedule::parse("every fortnight").is_err());
        assert!(Schedule::parse("sometimes").unwrap_err().contains("neither"));
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("").is_err());
    }
}
