//! When scheduled runs are due (feature `schedule`, enabled by `service` and `temporal`): an
//! interval (`"15m"`) or a 5-field cron expression (`"0 3 * * *"`, UTC), parsed by `croner`,
//! plus jitter. The plain description both executors read: the in-process scheduler
//! (`service`) and Temporal Schedules (`transport::temporal`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::error::{Error, Result};

/// How often a run of one mode is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every so often, counted from the end of the last run of that mode.
    Every(Duration),
    /// At the times a 5-field cron expression (minute hour day-of-month month day-of-week)
    /// names, in UTC.
    Cron(Box<Cron>),
}

/// When an integration's runs are due.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncSchedule {
    /// Full runs (list everything, sweep what is gone).
    pub full: Option<Schedule>,
    /// Incremental runs (provider deltas).
    pub incremental: Option<Schedule>,
    /// The largest random delay added to each due time; `None`: each schedule's
    /// [`Schedule::default_jitter`].
    pub jitter: Option<Duration>,
}

impl SyncSchedule {
    /// No scheduled runs (webhooks only, or runs a host starts itself).
    pub fn none() -> Self {
        Self::default()
    }

    /// The jitter for one of the schedules.
    pub fn jitter_for(&self, schedule: &Schedule) -> Duration {
        self.jitter.unwrap_or_else(|| schedule.default_jitter())
    }
}

/// Intervals below this would only hammer the provider.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

impl FromStr for Schedule {
    type Err = Error;

    /// `"90s"`, `"15m"`, `"6h"` (anything `humantime` reads), or a 5-field cron expression
    /// such as `"0 3 * * *"` or `"*/10 * * * *"` (also `@daily`, `@hourly`).
    fn from_str(raw: &str) -> Result<Self> {
        let text = raw.trim();
        if let Ok(every) = humantime::parse_duration(text) {
            if every < MIN_INTERVAL {
                return Err(Error::invalid_config(
                    "schedule",
                    format!("{raw:?} is shorter than 1s; use a longer interval"),
                ));
            }
            return Ok(Schedule::Every(every));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        parser
            .parse(text)
            .map(|c| Schedule::Cron(Box::new(c)))
            .map_err(|e| {
                Error::invalid_config(
                    "schedule",
                    format!(
                        "{raw:?} is neither an interval (\"15m\", \"6h\") nor a 5-field cron expression (\"0 3 * * *\"): {e}"
                    ),
                )
            })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {}", fmt_duration(*d)),
            Schedule::Cron(c) => write!(f, "cron {:?} (UTC)", c.pattern.to_string()),
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl Schedule {
    /// The cron pattern as written (`"0 3 * * *"`, `"@daily"`); `None` for an interval.
    pub fn cron_pattern(&self) -> Option<String> {
        match self {
            Schedule::Every(_) => None,
            Schedule::Cron(c) => Some(c.pattern.to_string()),
        }
    }

    /// When the next run is due, given when the last one of this mode ran (`None`: never —
    /// then it is due now: a schedule whose tick was missed runs once, without a pile-up).
    /// For an interval that is `last + interval`; for cron the first matching minute after
    /// `last`. The result may be in the past: the run is overdue and starts at once.
    pub fn next_due(&self, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some(last) = last else {
            return now;
        };
        match self {
            Schedule::Every(d) => {
                last + chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX)
            }
            Schedule::Cron(c) => c
                .find_next_occurrence(&last, false)
                // A pattern that never matches again (e.g. 30 February) is never due.
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// The ticks in `(after, until]` (at most `cap`): how many ticks a run that lasted over
    /// them overlapped and so skipped.
    pub fn ticks_between(&self, after: DateTime<Utc>, until: DateTime<Utc>, cap: u64) -> u64 {
        let mut n = 0;
        let mut t = after;
        while n < cap {
            let next = self.next_due(Some(t), until);
            if next > until || next <= t {
                break;
            }
            n += 1;
            t = next;
        }
        n
    }

    /// The default jitter: a tenth of an interval, at most 30 s; 30 s for cron (many
    /// integrations on `0 3 * * *` should not all hit the providers and the store at once).
    pub fn default_jitter(&self) -> Duration {
        match self {
            Schedule::Every(d) => (*d / 10).min(Duration::from_secs(30)),
            Schedule::Cron(_) => Duration::from_secs(30),
        }
    }
}

/// A uniformly random duration in `[0, max]` (from the OS-seeded UUID generator: jitter needs
/// spread, not cryptographic quality).
#[cfg_attr(not(feature = "service"), allow(dead_code))]
pub(crate) fn jitter(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let random = uuid::Uuid::new_v4().as_u64_pair().0;
    Duration::from_nanos(random % nanos.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, h, m, 0).unwrap()
    }

    #[test]
    fn intervals_and_cron_expressions_parse() {
        assert_eq!(
            "15m".parse::<Schedule>().unwrap(),
            Schedule::Every(Duration::from_secs(900))
        );
        assert_eq!(
            "1h 30m".parse::<Schedule>().unwrap(),
            Schedule::Every(Duration::from_secs(5_400))
        );
        assert!(matches!(
            "0 3 * * *".parse::<Schedule>().unwrap(),
            Schedule::Cron(_)
        ));
        assert!(matches!(
            "@daily".parse::<Schedule>().unwrap(),
            Schedule::Cron(_)
        ));
    }

    #[test]
    fn bad_schedules_are_named_with_both_accepted_forms() {
        for bad in ["soon", "0 3 * *", "0 0 3 * * *", "61 * * * *", "500ms", ""] {
            let e = bad.parse::<Schedule>().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidConfig, "{bad}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn next_due_counts_from_the_last_run_and_is_now_when_there_was_none() {
        let every = Schedule::Every(Duration::from_secs(600));
        assert_eq!(every.next_due(None, at(10, 0)), at(10, 0));
        assert_eq!(every.next_due(Some(at(9, 55)), at(10, 0)), at(10, 5));
        let nightly: Schedule = "0 3 * * *".parse().unwrap();
        assert_eq!(
            nightly.next_due(Some(at(3, 0)), at(10, 0)),
            at(3, 0) + chrono::Duration::days(1)
        );
        // Down at 03:00: the last run was yesterday, so the missed tick is due (once) now.
        let yesterday = at(3, 0) - chrono::Duration::days(1);
        assert_eq!(nightly.next_due(Some(yesterday), at(10, 0)), at(3, 0));
    }

    #[test]
    fn ticks_between_counts_the_overlapped_ticks() {
        let every = Schedule::Every(Duration::from_secs(60));
        assert_eq!(every.ticks_between(at(10, 0), at(10, 5), 100), 5);
        assert_eq!(every.ticks_between(at(10, 0), at(10, 0), 100), 0);
        let quarter: Schedule = "*/15 * * * *".parse().unwrap();
        assert_eq!(quarter.ticks_between(at(10, 1), at(11, 0), 100), 4);
        assert_eq!(every.ticks_between(at(10, 0), at(12, 0), 3), 3);
    }

    #[test]
    fn jitter_stays_in_bounds_and_spreads() {
        let max = Duration::from_millis(100);
        let draws: Vec<Duration> = (0..200).map(|_| jitter(max)).collect();
        assert!(draws.iter().all(|d| *d <= max));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(50)));
        assert!(draws.iter().any(|d| *d < Duration::from_millis(50)));
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            Schedule::Every(Duration::from_secs(600)).default_jitter(),
            Duration::from_secs(30)
        );
        assert_eq!(
            Schedule::Every(Duration::from_secs(2)).default_jitter(),
            Duration::from_millis(200)
        );
    }
}
