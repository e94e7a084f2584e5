//! HTTP smoke checks of a service's critical paths, run after every stage of a rollout; their
//! results become evidence, so a result says what was asked, what came back and how long it
//! took, and a check never fails by error: an unreachable URL is a failed check with a reason.

use std::time::{Duration, Instant};

use crate::http::{self, NoAnswer};

/// How much of a body `body_contains` looks at: a smoke check reads a page, not a download.
const BODY_LIMIT: u64 = 1 << 20;

/// `GET url`, passing when the status is `expect_status` (redirects are not followed) and,
/// when given, the body contains `body_contains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeCheck {
    pub name: String,
    pub url: String,
    pub expect_status: u16,
    pub body_contains: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeResult {
    pub name: String,
    /// The URL without its query string, which may hold a secret.
    pub url: String,
    /// `None` when nothing answered.
    pub status: Option<u16>,
    pub passed: bool,
    /// Why it passed or failed, in a sentence.
    pub detail: String,
    /// From sending the request to the end of the body read, in milliseconds.
    pub millis: u64,
}

impl SmokeCheck {
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> SmokeCheck {
        SmokeCheck {
            name: name.into(),
            url: url.into(),
            expect_status: 200,
            body_contains: None,
            timeout: Duration::from_secs(10),
        }
    }

    pub fn run(&self) -> SmokeResult {
        let started = Instant::now();
        let (status, passed, detail) = self.outcome();
        SmokeResult {
            name: self.name.clone(),
            url: http::redacted(&self.url),
            status,
            passed,
            detail,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn outcome(&self) -> (Option<u16>, bool, String) {
        let mut response = match http::probe_agent(self.timeout).get(&self.url).call() {
            Ok(response) => response,
            Err(e) => {
                let why = match http::no_answer(&e) {
                    NoAnswer::Timeout => format!("no answer within {:?}", self.timeout),
                    NoAnswer::Unreachable(reason) => format!("unreachable: {reason}"),
                };
                return (None, false, why);
            }
        };
        let status = response.status().as_u16();
        if status != self.expect_status {
            return (Some(status), false, format!("answered {status}, expected {}", self.expect_status));
        }
        let Some(needle) = &self.body_contains else {
            return (Some(status), true, format!("answered {status}"));
        };
        match http::read_prefix(&mut response, BODY_LIMIT) {
            Ok(body) if body.contains(needle.as_str()) => {
                (Some(status), true, format!("answered {status} with {needle:?} in the body"))
            }
            Ok(body) => (
                Some(status),
                false,
                format!(
                    "answered {status} without {needle:?} in the first {} bytes of the body: {}",
                    body.len(),
                    body.chars().take(200).collect::<String>().trim()
                ),
            ),
            Err(e) => (Some(status), false, format!("answered {status}, then the body could not be read: {e}")),
        }
    }
}

/// Every check, in order; all run even after one fails, so the evidence is whole.
pub fn run_all(checks: &[SmokeCheck]) -> Vec<SmokeResult> {
    checks.iter().map(SmokeCheck::run).collect()
}

/// Whether `url` answers 200 within `timeout`: the health probe behind the "health endpoint
/// non-200 for more than 2 consecutive checks" trigger, where no answer counts as non-200.
pub fn health(url: &str, timeout: Duration) -> bool {
    matches!(http::probe_agent(timeout).get(url).call(), Ok(response) if response.status().as_u16() == 200)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// Answers every request with `reply`, until the test ends.
    fn server(reply: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        base
    }

    const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nversion 2";

    #[test]
    fn status_and_body_pass() {
        let base = server(OK);
        let mut check = SmokeCheck::new("home", format!("{base}/?key=s3cret"));
        check.body_contains = Some("version 2".into());
        let result = check.run();
        assert!(result.passed, "{result:?}");
        assert_eq!(result.status, Some(200));
        assert_eq!(result.url, format!("{base}/"));
        assert_eq!(result.detail, "answered 200 with \"version 2\" in the body");
    }

    #[test]
    fn a_missing_text_fails_showing_the_body() {
        let base = server(OK);
        let mut check = SmokeCheck::new("home", base);
        check.body_contains = Some("version 3".into());
        let result = check.run();
        assert!(!result.passed);
        assert!(
            result.detail.contains("without \"version 3\"") && result.detail.ends_with("version 2"),
            "{}",
            result.detail
        );
    }

    #[test]
    fn another_status_fails_and_a_redirect_is_not_followed() {
        let base = server("HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let result = SmokeCheck::new("checkout", format!("{base}/checkout")).run();
        assert_eq!((result.status, result.passed), (Some(302), false));
        assert_eq!(result.detail, "answered 302, expected 200");
        let mut expect_redirect = SmokeCheck::new("checkout", format!("{base}/checkout"));
        expect_redirect.expect_status = 302;
        assert!(expect_redirect.run().passed);
    }

    #[test]
    fn nothing_listening_fails_without_a_status() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/healthz");
        let results = run_all(&[SmokeCheck::new("health", url.clone())]);
        assert_eq!(results.len(), 1);
        assert_eq!((results[0].status, results[0].passed), (None, false));
        assert!(results[0].detail.starts_with("unreachable"), "{}", results[0].detail);
        assert!(!health(&url, Duration::from_secs(5)));
    }

    #[test]
    fn health_is_200_only() {
        assert!(health(&server(OK), Duration::from_secs(5)));
        let failing = server("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert!(!health(&failing, Duration::from_secs(5)));
    }
}
