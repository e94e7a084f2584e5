//! Milliseconds since the Unix epoch, and their RFC 3339 form written straight into a buffer
//! (formatting through `chrono` or `format!` would cost more than generating the event).

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// (year, month, day) of a day number since 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Monday is 0. 1970-01-01 was a Thursday.
pub fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

fn two(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// `YYYY-MM-DDT` of a day; years are kept within 0..=9999 by the configuration.
fn write_date(out: &mut Vec<u8>, days: i64) {
    let (year, month, day) = civil_from_days(days);
    let year = year.clamp(0, 9999) as u32;
    two(out, year / 100);
    two(out, year % 100);
    out.push(b'-');
    two(out, month);
    out.push(b'-');
    two(out, day);
    out.push(b'T');
}

fn write_clock(out: &mut Vec<u8>, ms_of_day: i64) {
    let ms = ms_of_day as u32;
    two(out, ms / 3_600_000);
    out.push(b':');
    two(out, ms / 60_000 % 60);
    out.push(b':');
    two(out, ms / 1_000 % 60);
    out.push(b'.');
    let frac = ms % 1_000;
    out.push(b'0' + (frac / 100) as u8);
    two(out, frac % 100);
    out.push(b'Z');
}

/// `2026-11-01T00:00:00.000Z`.
pub fn write_rfc3339(out: &mut Vec<u8>, ms: i64) {
    write_date(out, ms.div_euclid(DAY));
    write_clock(out, ms.rem_euclid(DAY));
}

/// Formats timestamps that mostly fall on the same day as the previous one, as the event
/// stream's do: the date part is kept.
#[derive(Debug, Default)]
pub struct DayCache {
    day: Option<i64>,
    date: Vec<u8>,
}

impl DayCache {
    pub fn write(&mut self, out: &mut Vec<u8>, ms: i64) {
        let day = ms.div_euclid(DAY);
        if self.day != Some(day) {
            self.date.clear();
            write_date(&mut self.date, day);
            self.day = Some(day);
        }
        out.extend_from_slice(&self.date);
        write_clock(out, ms.rem_euclid(DAY));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(ms: i64) -> String {
        let mut out = Vec::new();
        write_rfc3339(&mut out, ms);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000Z");
        // 2026-11-01T00:00:00Z, a Sunday.
        assert_eq!(fmt(1_793_491_200_000), "2026-11-01T00:00:00.000Z");
        assert_eq!(weekday(1_793_491_200_000 / DAY), 6);
        // The leap day of 2024, one millisecond before its end.
        assert_eq!(fmt(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(fmt(951_782_400_000 + 5 * HOUR + 7 * MINUTE + 9 * SECOND + 45), "2000-02-29T05:07:09.045Z");
    }

    #[test]
    fn cached_days_match_the_plain_formatter() {
        let mut cache = DayCache::default();
        let mut ms = 1_700_000_000_000i64;
        for step in [1, 999, 3_600_000, 86_399_999, 7, 40 * DAY + 13] {
            ms += step;
            let mut a = Vec::new();
            cache.write(&mut a, ms);
            assert_eq!(String::from_utf8(a).unwrap_or_default(), fmt(ms));
        }
    }
}
