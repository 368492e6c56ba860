//! Five-field cron expressions (`minute hour day-of-month month day-of-week`, UTC) and the
//! next time one is due.
//!
//! Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists `a,b`. Day of
//! week is 0–7 (0 and 7 are Sunday). As in Vixie cron, when both day fields are restricted a day
//! matches either.

use time::{Duration, OffsetDateTime, Time};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

fn field(text: &str, min: u32, max: u32, name: &str) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let restricted = text != "*";
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s >= 1)
                    .ok_or_else(|| format!("{name}: bad step in {part:?}"))?;
                (range, step)
            }
            None => (part, 1),
        };
        let number = |s: &str| -> Result<u32, String> {
            s.parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| format!("{name}: {s:?} is not in {min}-{max}"))
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return Err(format!("{name}: range {range:?} runs backwards"));
            }
            (a, b)
        } else {
            let a = number(range)?;
            (a, if step > 1 { max } else { a })
        };
        let mut value = from;
        while value <= to {
            bits |= 1 << value;
            value += step;
        }
    }
    Ok((bits, restricted))
}

impl Schedule {
    /// Parses an expression; the error says which field is wrong.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let fields: Vec<&str> = expression.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day month weekday), not {}",
                fields.len()
            ));
        };
        let (minutes, _) = field(minute, 0, 59, "minute")?;
        let (hours, _) = field(hour, 0, 23, "hour")?;
        let (days, days_restricted) = field(day, 1, 31, "day of month")?;
        let (months, _) = field(month, 1, 12, "month")?;
        let (mut weekdays, weekdays_restricted) = field(weekday, 0, 7, "day of week")?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & 0x7f;
        }
        Ok(Schedule {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_restricted,
            weekdays_restricted,
        })
    }

    fn day_matches(&self, at: OffsetDateTime) -> bool {
        let day = self.days & (1 << at.day()) != 0;
        let weekday = self.weekdays & (1 << at.weekday().number_days_from_sunday()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }

    /// The first due time strictly after `after_ms` (ms since the epoch, UTC), within about
    /// five years; `None` for expressions that never match (`0 0 31 2 *`).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start = OffsetDateTime::from_unix_timestamp(after_ms.div_euclid(1000)).ok()?;
        let mut at = start.replace_second(0).ok()? + Duration::minutes(1);
        let limit = start + Duration::days(366 * 5);
        while at <= limit {
            if self.months & (1 << u8::from(at.month())) == 0 {
                let (year, month) = match u8::from(at.month()) {
                    12 => (at.year() + 1, time::Month::January),
                    m => (at.year(), time::Month::try_from(m + 1).ok()?),
                };
                at = at
                    .replace_day(1)
                    .ok()?
                    .replace_year(year)
                    .ok()?
                    .replace_month(month)
                    .ok()?
                    .replace_time(Time::MIDNIGHT);
                continue;
            }
            if !self.day_matches(at) {
                at = at.replace_time(Time::MIDNIGHT) + Duration::days(1);
                continue;
            }
            if self.hours & (1 << at.hour()) == 0 {
                at = at.replace_minute(0).ok()? + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << at.minute()) == 0 {
                at += Duration::minutes(1);
                continue;
            }
            return Some((at.unix_timestamp_nanos() / 1_000_000) as i64);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        let at = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        (at.unix_timestamp_nanos() / 1_000_000) as i64
    }

    #[test]
    fn next_due_times_match_hand_computed_ones() {
        let cases = [
            (
                "*/5 * * * *",
                "2026-11-27T23:02:10Z",
                "2026-11-27T23:05:00Z",
            ),
            ("* * * * *", "2026-11-27T23:02:00Z", "2026-11-27T23:03:00Z"),
            (
                "0 9 * * 1-5",
                "2026-11-27T23:02:00Z",
                "2026-11-30T09:00:00Z",
            ),
            ("30 2 1 * *", "2026-12-15T00:00:00Z", "2027-01-01T02:30:00Z"),
            ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
            (
                "15,45 */6 * * 7",
                "2026-11-27T23:02:00Z",
                "2026-11-29T00:15:00Z",
            ),
            (
                "0 12 13 * 5",
                "2026-11-01T00:00:00Z",
                "2026-11-06T12:00:00Z",
            ),
        ];
        for (expression, after, expected) in cases {
            let schedule = Schedule::parse(expression).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                schedule.next_after(ms(after)),
                Some(ms(expected)),
                "{expression} after {after}"
            );
        }
        let never = Schedule::parse("0 0 31 2 *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(never.next_after(ms("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (expression, needle) in [
            ("* * * *", "5 fields"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day of week"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "backwards"),
        ] {
            let error = Schedule::parse(expression).err().unwrap_or_default();
            assert!(error.contains(needle), "{expression}: {error}");
        }
    }
}
