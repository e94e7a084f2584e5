//! Time as the procedure speaks of it: instants in UTC, and spans written the way people write
//! them (`4h`, `24h`, `2 weeks`, `5 business days`). Business days skip weekends and the
//! profile's holidays, so "within 5 business days" of a Friday lands on the next Friday.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

/// An instant. The domain never reads the clock: every decision receives one.
pub type Timestamp = DateTime<Utc>;

/// A length of time in a profile: either fixed, or a count of business days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Span {
    Fixed(Duration),
    BusinessDays(u32),
}

impl Span {
    pub const ZERO: Span = Span::Fixed(Duration::zero());

    pub fn hours(h: i64) -> Span {
        Span::Fixed(Duration::hours(h))
    }

    /// `t` plus this span, on `calendar`.
    pub fn after(self, t: Timestamp, calendar: &Calendar) -> Timestamp {
        match self {
            Span::Fixed(d) => t + d,
            Span::BusinessDays(n) => calendar.add_business_days(t, n),
        }
    }

    /// True when this span never ends later than `other`, whatever the start. Used to decide
    /// whether an overlay tightens its base; business days are compared conservatively
    /// (n business days last at least n days and at most n + 2·⌈n/5⌉ + 2 days plus holidays).
    pub fn never_longer_than(self, other: Span) -> bool {
        match (self, other) {
            (Span::Fixed(a), Span::Fixed(b)) => a <= b,
            (Span::BusinessDays(a), Span::BusinessDays(b)) => a <= b,
            (Span::Fixed(a), Span::BusinessDays(b)) => a <= Duration::days(i64::from(b)),
            (Span::BusinessDays(_), Span::Fixed(_)) => false,
        }
    }

    pub fn never_shorter_than(self, other: Span) -> bool {
        other.never_longer_than(self)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::BusinessDays(1) => write!(f, "1 business day"),
            Span::BusinessDays(n) => write!(f, "{n} business days"),
            Span::Fixed(d) => f.write_str(&format_duration(*d)),
        }
    }
}

/// `2 weeks`, `3 days`, `24h`, `30m`, `45s` when one unit divides the duration; otherwise its
/// parts, largest first: `23h 52m`, `1 day 2h`.
pub fn format_duration(d: Duration) -> String {
    let s = d.num_seconds();
    if s == 0 {
        return "0s".into();
    }
    if s < 0 {
        return format!("-{}", format_duration(-d));
    }
    if s % (7 * 86_400) == 0 {
        let n = s / (7 * 86_400);
        return format!("{n} week{}", if n == 1 { "" } else { "s" });
    }
    let (days, hours, minutes, seconds) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} day{}", if days == 1 { "" } else { "s" }));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if seconds > 0 {
        parts.push(format!("{seconds}s"));
    }
    parts.join(" ")
}

/// Why a span could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanError(pub String);

impl fmt::Display for SpanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Span {
    type Err = SpanError;

    /// Accepts `<n><unit>` or `<n> <unit>` with units s, m/min, h/hour, d/day, w/week and
    /// `business day(s)`; plurals optional.
    fn from_str(text: &str) -> Result<Span, SpanError> {
        let expected = || {
            SpanError(format!(
                "`{text}` is not a duration; expected a number and a unit, like `30m`, `4h`, `2 weeks` or `5 business days`"
            ))
        };
        let t = text.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        if digits == 0 {
            return Err(expected());
        }
        let n: i64 = t[..digits].parse().map_err(|_| expected())?;
        if n > 100_000 {
            return Err(SpanError(format!("`{text}` is longer than any procedure needs")));
        }
        let unit = t[digits..].trim().to_ascii_lowercase();
        if unit == "ms" {
            return Err(SpanError(format!("`{text}`: procedures count in seconds at the finest, not milliseconds")));
        }
        // Plurals: "hours", "days", "business days", but a bare "s" is seconds.
        let unit = match unit.strip_suffix('s') {
            Some(singular) if !singular.is_empty() => singular,
            _ => unit.as_str(),
        };
        let secs = match unit {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hr" | "hour" => 3_600,
            "d" | "day" => 86_400,
            "w" | "week" => 7 * 86_400,
            "business day" | "business-day" | "bd" => {
                return Ok(Span::BusinessDays(u32::try_from(n).map_err(|_| expected())?));
            }
            _ => return Err(expected()),
        };
        Ok(Span::Fixed(Duration::seconds(n * secs)))
    }
}

/// Working days: weekends and listed holidays are not business days.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calendar {
    pub holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&day)
    }

    /// The same time of day `n` business days later. Starting on a weekend counts from the next
    /// business day's start, so a Saturday request is due as if raised first thing Monday.
    pub fn add_business_days(&self, t: Timestamp, n: u32) -> Timestamp {
        let mut t = t;
        if !self.is_business_day(t.date_naive()) {
            while !self.is_business_day(t.date_naive()) {
                t = next_midnight(t);
            }
        }
        let mut left = n;
        while left > 0 {
            t += Duration::days(1);
            if self.is_business_day(t.date_naive()) {
                left -= 1;
            }
        }
        t
    }
}

fn next_midnight(t: Timestamp) -> Timestamp {
    let day = t.date_naive() + Duration::days(1);
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn spans_are_read_as_people_write_them() {
        let cases = [
            ("4h", Span::hours(4)),
            ("24h", Span::hours(24)),
            ("2s", Span::Fixed(Duration::seconds(2))),
            ("30m", Span::Fixed(Duration::minutes(30))),
            ("30 min", Span::Fixed(Duration::minutes(30))),
            ("2 weeks", Span::Fixed(Duration::days(14))),
            ("1 week", Span::Fixed(Duration::days(7))),
            ("3 days", Span::Fixed(Duration::days(3))),
            ("1 hour", Span::hours(1)),
            ("5 business days", Span::BusinessDays(5)),
            ("1 business day", Span::BusinessDays(1)),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Span>(), Ok(want), "{text}");
        }
        for bad in ["", "h", "4", "4 fortnights", "-4h", "4.5h", "business days", "500ms"] {
            assert!(bad.parse::<Span>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn spans_print_back_in_the_largest_unit() {
        for text in ["2 weeks", "3 days", "24h", "30m", "2s", "5 business days", "0s", "90m", "26h"] {
            let span: Span = text.parse().unwrap();
            let want = match text {
                "24h" => "1 day",
                "90m" => "1h 30m",
                "26h" => "1 day 2h",
                other => other,
            };
            assert_eq!(span.to_string(), want);
        }
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let cal = Calendar::default();
        // Friday 10:00 + 5 business days = next Friday 10:00.
        assert_eq!(cal.add_business_days(at("2026-11-20T10:00:00Z"), 5), at("2026-11-27T10:00:00Z"));
        // Wednesday + 1 = Thursday; Friday + 1 = Monday.
        assert_eq!(cal.add_business_days(at("2026-11-18T10:00:00Z"), 1), at("2026-11-19T10:00:00Z"));
        assert_eq!(cal.add_business_days(at("2026-11-20T10:00:00Z"), 1), at("2026-11-23T10:00:00Z"));
        // Saturday counts from Monday 00:00.
        assert_eq!(cal.add_business_days(at("2026-11-21T15:00:00Z"), 1), at("2026-11-24T00:00:00Z"));
        let mut holidays = BTreeSet::new();
        holidays.insert(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
        let cal = Calendar { holidays };
        // Thursday 24 Dec + 1 skips the Friday holiday and the weekend.
        assert_eq!(cal.add_business_days(at("2026-12-24T09:00:00Z"), 1), at("2026-12-28T09:00:00Z"));
    }

    #[test]
    fn tightening_compares_spans_conservatively() {
        let p = |s: &str| s.parse::<Span>().unwrap();
        assert!(p("3 business days").never_longer_than(p("5 business days")));
        assert!(p("2 days").never_longer_than(p("5 business days")));
        assert!(!p("6 days").never_longer_than(p("5 business days")));
        // Holidays are unknown when comparing, so business days never fit under a fixed span.
        assert!(!p("1 business day").never_longer_than(p("30 days")));
        assert!(p("2 weeks").never_shorter_than(p("1 week")));
    }
}
