//! Instants with sub-second precision: trusted-root validity periods end at `...59.999Z` and
//! are closed intervals, so whole seconds would misjudge the last second of a key's life.

use std::fmt;

use der::DateTime;

/// Seconds and nanoseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    pub secs: i64,
    pub nanos: u32,
}

impl Instant {
    pub fn from_secs(secs: i64) -> Instant {
        Instant { secs, nanos: 0 }
    }

    pub fn from_millis(millis: u64) -> Instant {
        Instant { secs: (millis / 1000) as i64, nanos: ((millis % 1000) * 1_000_000) as u32 }
    }

    pub fn from_x509(time: x509_cert::time::Time) -> Instant {
        let d = time.to_unix_duration();
        Instant { secs: d.as_secs() as i64, nanos: d.subsec_nanos() }
    }

    /// `2022-10-31T23:59:59.999Z`, or with a `+hh:mm`/`-hh:mm` offset; as protobuf JSON
    /// writes `google.protobuf.Timestamp`.
    pub fn parse_rfc3339(s: &str) -> Result<Instant, String> {
        let bad = || format!("expected an RFC 3339 time like 2023-01-01T00:00:00Z, found {s:?}");
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(bad());
        }
        let num = |range: std::ops::Range<usize>| -> Result<u16, String> {
            let part = s.get(range).ok_or_else(bad)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u16>().map_err(|_| bad())
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut rest = s.get(19..).ok_or_else(bad)?;
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 9 {
                return Err(bad());
            }
            let text = frac.get(..digits).ok_or_else(bad)?;
            nanos = text.parse::<u32>().map_err(|_| bad())? * 10u32.pow(9 - digits as u32);
            rest = frac.get(digits..).ok_or_else(bad)?;
        }
        let offset_secs: i64 = match rest {
            "Z" | "z" => 0,
            _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
                let sign = match rest.as_bytes()[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return Err(bad()),
                };
                let hours = rest.get(1..3).and_then(|h| h.parse::<i64>().ok()).ok_or_else(bad)?;
                let minutes = rest.get(4..6).and_then(|m| m.parse::<i64>().ok()).ok_or_else(bad)?;
                sign * (hours * 3600 + minutes * 60)
            }
            _ => return Err(bad()),
        };
        let date =
            DateTime::new(year, month as u8, day as u8, hour as u8, minute as u8, second as u8).map_err(|_| bad())?;
        Ok(Instant { secs: date.unix_duration().as_secs() as i64 - offset_secs, nanos })
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = u64::try_from(self.secs)
            .ok()
            .and_then(|secs| DateTime::from_unix_duration(std::time::Duration::from_secs(secs)).ok());
        match date {
            Some(d) => {
                write!(
                    f,
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    d.year(),
                    d.month(),
                    d.day(),
                    d.hour(),
                    d.minutes(),
                    d.seconds()
                )?;
                if self.nanos != 0 {
                    let frac = format!("{:09}", self.nanos);
                    write!(f, ".{}", frac.trim_end_matches('0'))?;
                }
                f.write_str("Z")
            }
            None => write!(f, "{} seconds after the Unix epoch", self.secs),
        }
    }
}

/// A closed interval `[start, end]`; `end` absent means still open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub start: Instant,
    pub end: Option<Instant>,
}

impl Validity {
    pub fn contains(&self, t: Instant) -> bool {
        self.start <= t && self.end.is_none_or(|end| t <= end)
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "{} to {}", self.start, end),
            None => write!(f, "{} onwards", self.start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_fractions_and_offsets() {
        assert_eq!(Instant::parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), Instant::from_secs(0));
        let t = Instant::parse_rfc3339("2022-10-31T23:59:59.999Z").unwrap();
        assert_eq!(t, Instant { secs: 1_667_260_799, nanos: 999_000_000 });
        assert_eq!(Instant::parse_rfc3339("2022-10-31T23:59:59.999000Z").unwrap(), t);
        assert_eq!(t.to_string(), "2022-10-31T23:59:59.999Z");
        assert_eq!(
            Instant::parse_rfc3339("2023-01-01T02:00:00+02:00").unwrap(),
            Instant::parse_rfc3339("2023-01-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn rfc3339_refuses_what_it_does_not_understand() {
        for bad in ["", "2023-01-01", "2023-01-01T00:00:00", "2023-13-01T00:00:00Z", "2023-01-01T00:00:00.Z", "x"] {
            assert!(Instant::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validity_is_closed() {
        let v = Validity { start: Instant::from_secs(10), end: Some(Instant::from_secs(20)) };
        assert!(v.contains(Instant::from_secs(10)));
        assert!(v.contains(Instant::from_secs(20)));
        assert!(!v.contains(Instant { secs: 20, nanos: 1 }));
        assert!(!v.contains(Instant::from_secs(9)));
        assert!(Validity { start: Instant::from_secs(10), end: None }.contains(Instant::from_secs(i64::MAX)));
    }
}
