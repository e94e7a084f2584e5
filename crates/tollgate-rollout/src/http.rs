//! What the HTTP adapters share: an agent that hands back every status (each adapter decides
//! what a status means), a bounded body read, and the line between "no answer in time" and
//! "no answer at all", which the callers report differently.

use std::io::Read;
use std::time::Duration;

/// An agent whose every request, body included, ends within `timeout`, and that returns 4xx
/// and 5xx responses instead of turning them into errors: Prometheus's error body is on a 400.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into()
}

/// [`agent`] that follows no redirect: a probe reports the status the path itself answers, so a
/// login redirect does not pass for the page behind it.
pub(crate) fn probe_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoAnswer {
    /// It ran out of its time (connecting, sending or reading).
    Timeout,
    /// It could not be sent: refused, no route, unknown host, not a URL, TLS.
    Unreachable(String),
}

pub(crate) fn no_answer(error: &ureq::Error) -> NoAnswer {
    match error {
        ureq::Error::Timeout(_) => NoAnswer::Timeout,
        ureq::Error::Io(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => {
            NoAnswer::Timeout
        }
        other => NoAnswer::Unreachable(other.to_string()),
    }
}

/// At most `limit` bytes of a response body, as text (lossy: a smoke check or an error report
/// wants what it can show, not a decoding error).
pub(crate) fn read_prefix(response: &mut ureq::http::Response<ureq::Body>, limit: u64) -> Result<String, ureq::Error> {
    let mut bytes = Vec::new();
    response.body_mut().as_reader().take(limit).read_to_end(&mut bytes).map_err(ureq::Error::from)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last `max` characters of `text`, trimmed, for error messages.
pub(crate) fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let start = text.char_indices().nth(count - max).map_or(0, |(i, _)| i);
    format!("…{}", &text[start..])
}

/// A URL fit for a log line: scheme, host and path, without the query string or user info,
/// where webhook URLs carry their secrets.
pub(crate) fn redacted(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => without_query.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_of_long_text() {
        assert_eq!(tail("  short \n", 10), "short");
        assert_eq!(tail("abcdefghij", 4), "…ghij");
        assert_eq!(tail("ééééé", 2), "…éé");
    }

    #[test]
    fn redacted_drops_query_and_credentials() {
        assert_eq!(redacted("https://hooks.example/deploy?token=s3cret"), "https://hooks.example/deploy");
        assert_eq!(redacted("https://user:pw@hooks.example/x#frag"), "https://hooks.example/x");
        assert_eq!(redacted("http://127.0.0.1:9/"), "http://127.0.0.1:9/");
        assert_eq!(redacted("http://h/a@b"), "http://h/a@b");
    }
}
