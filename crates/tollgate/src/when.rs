//! Times typed on the command line: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DD` in UTC,
//! or `+SPAN` (like `+2 weeks`) from now.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use tollgate_domain::{Span, Timestamp};

pub fn parse(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let t = text.trim();
    if let Some(span) = t.strip_prefix('+') {
        let span: Span = span.parse().map_err(|e: tollgate_domain::time::SpanError| e.0)?;
        return Ok(span.after(now, &Default::default()));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(t) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(t, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(format!(
        "`{text}` is not a time; expected RFC 3339 (2026-12-01T10:00:00Z), `2026-12-01 10:00` (UTC), a date, or `+2 weeks`"
    ))
}

pub fn system_now() -> Timestamp {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let now = parse("2026-11-22T10:00:00Z", system_now()).unwrap();
        for (text, want) in [
            ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00+00:00"),
            ("2026-12-01T12:00:00+02:00", "2026-12-01T10:00:00+00:00"),
            ("2026-12-01 10:00", "2026-12-01T10:00:00+00:00"),
            ("2026-12-01", "2026-12-01T00:00:00+00:00"),
            ("+2 weeks", "2026-12-06T10:00:00+00:00"),
            ("+90m", "2026-11-22T11:30:00+00:00"),
        ] {
            assert_eq!(parse(text, now).unwrap().to_rfc3339(), want, "{text}");
        }
        assert!(parse("next tuesday", now).unwrap_err().contains("is not a time"));
    }
}
