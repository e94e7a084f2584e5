//! A client of Prometheus's HTTP query API (`/api/v1/query`, `/api/v1/query_range`).
//!
//! Analysis fails closed: whatever stops a query from producing a number — Prometheus not
//! answering, answering late, refusing the query, or answering something this client does not
//! read — is a [`QueryError`], never an empty result, so the caller can tell "no data" (an
//! empty `Vec`) from "no answer" and record which. The query and the evaluation time are the
//! caller's, so a measurement can be repeated later against the same Prometheus.

mod decode;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::http::{self, NoAnswer};

/// Answers larger than this are refused rather than held in memory: an analysis query that
/// returns 16 MiB of JSON is a mistake in the query.
const MAX_ANSWER: u64 = 16 << 20;

/// One element of an instant vector (or a scalar, with no labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// May be NaN or infinite: `0/0` and `x/0` are what PromQL gives for a ratio with no traffic.
    pub value: f64,
}

/// One series of a range query: its labels and its points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// Why a query produced no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Nothing answered: refused connection, unknown host, not a URL.
    #[error("Prometheus at {url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    /// No whole answer within the client's timeout.
    #[error("Prometheus at {url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// Prometheus refused the query with its JSON error: `bad_data` for a query that does not
    /// parse (400), `execution` (422), `timeout` or `canceled` (503), ...
    #[error("Prometheus refused the query ({status}, {error_type}): {error}")]
    Api { status: u16, error_type: String, error: String },
    /// An HTTP error that is not Prometheus's JSON, such as a proxy's 502 or a wrong path's 404.
    #[error("Prometheus answered HTTP {status}, expected 200 with its JSON: {body}")]
    Status { status: u16, body: String },
    /// A 2xx answer that is not the API's JSON as documented.
    #[error("malformed answer from Prometheus: {reason}")]
    Malformed { reason: String },
    /// A well-formed result of a type the call does not take (an instant query's matrix or
    /// string, a range query's vector).
    #[error("the query returned a {got}, expected {expected}")]
    ResultType { got: String, expected: &'static str },
}

impl QueryError {
    /// Prometheus's `errorType` (`bad_data`, `execution`, `timeout`, ...), when it gave one.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            QueryError::Api { error_type, .. } => Some(error_type),
            _ => None,
        }
    }
}

/// A Prometheus server, by its base URL (`http://prometheus:9090`, or with a path prefix when
/// it runs behind one: `https://example.org/prometheus`).
#[derive(Clone)]
pub struct Prometheus {
    base: String,
    timeout: Duration,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus").field("base", &http::redacted(&self.base)).field("timeout", &self.timeout).finish()
    }
}

impl Prometheus {
    /// Every query, connecting and reading included, is bounded by `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Prometheus {
        Prometheus { base: base_url.trim_end_matches('/').to_owned(), timeout, agent: http::agent(timeout) }
    }

    /// The base URL, as given without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `promql` evaluated at `at`: the vector's samples (empty when no series matched), or a
    /// scalar as one sample without labels.
    pub fn query(&self, promql: &str, at: DateTime<Utc>) -> Result<Vec<Sample>, QueryError> {
        let (status, body) = self.get("/api/v1/query", &[("query", promql.to_owned()), ("time", timestamp(at))])?;
        decode::instant(status, &body)
    }

    /// `promql` evaluated every `step` from `start` to `end`, as one series per label set.
    pub fn query_range(
        &self,
        promql: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<Series>, QueryError> {
        let params = [
            ("query", promql.to_owned()),
            ("start", timestamp(start)),
            ("end", timestamp(end)),
            ("step", format!("{}", step.as_secs_f64())),
        ];
        let (status, body) = self.get("/api/v1/query_range", &params)?;
        decode::range(status, &body)
    }

    fn get(&self, path: &str, params: &[(&str, String)]) -> Result<(u16, String), QueryError> {
        let url = format!("{}{path}", self.base);
        let failed = |e: ureq::Error| match http::no_answer(&e) {
            NoAnswer::Timeout => QueryError::Timeout { url: http::redacted(&url), timeout: self.timeout },
            NoAnswer::Unreachable(reason) => QueryError::Unreachable { url: http::redacted(&url), reason },
        };
        let mut response = self
            .agent
            .get(&url)
            .header("Accept", "application/json")
            .query_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .call()
            .map_err(failed)?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(MAX_ANSWER).read_to_string().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => {
                QueryError::Malformed { reason: format!("the answer is larger than {MAX_ANSWER} bytes") }
            }
            other => failed(other),
        })?;
        Ok((status, body))
    }
}

/// RFC 3339 with milliseconds, which Prometheus takes for `time`, `start` and `end`.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    /// Answers one request with `body` and hands back its request line.
    fn one_request(body: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/prom/", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body.as_bytes()).unwrap();
            request_line
        });
        (base, handle)
    }

    #[test]
    fn an_instant_query_sends_query_and_time() {
        let (base, server) = one_request(r#"{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}"#);
        let at = DateTime::from_timestamp_millis(1435781451781).unwrap();
        let samples = Prometheus::new(&base, Duration::from_secs(5)).query(r#"sum(up{job="a b"})"#, at).unwrap();
        assert_eq!(samples[0].value, 3.0);
        assert_eq!(
            server.join().unwrap().trim(),
            "GET /prom/api/v1/query?query=sum(up%7Bjob%3D%22a%20b%22%7D)&time=2015-07-01T20%3A10%3A51.781Z HTTP/1.1"
        );
    }

    #[test]
    fn a_range_query_sends_start_end_and_step_in_seconds() {
        let (base, server) = one_request(r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#);
        let start = DateTime::from_timestamp(1435781430, 0).unwrap();
        let end = DateTime::from_timestamp(1435781460, 0).unwrap();
        let series =
            Prometheus::new(&base, Duration::from_secs(5)).query_range("up", start, end, Duration::from_millis(1500));
        assert_eq!(series.unwrap(), vec![]);
        let line = server.join().unwrap();
        assert!(line.contains("/prom/api/v1/query_range?query=up&start=2015-07-01T20%3A10%3A30.000Z&end=2015-07-01T20%3A11%3A00.000Z&step=1.5 "), "{line}");
    }

    /// A listener that never accepts: the connection is made by the kernel and nothing answers.
    #[test]
    fn no_answer_in_time_is_a_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let error = Prometheus::new(&base, Duration::from_millis(200)).query("up", DateTime::UNIX_EPOCH).unwrap_err();
        assert!(matches!(&error, QueryError::Timeout { url, .. } if url.ends_with("/api/v1/query")), "{error:?}");
        drop(listener);
    }

    #[test]
    fn times_are_rfc3339_with_milliseconds() {
        let at = DateTime::from_timestamp_millis(1435781451781).unwrap();
        assert_eq!(timestamp(at), "2015-07-01T20:10:51.781Z");
    }

    #[test]
    fn the_base_url_loses_its_trailing_slash() {
        assert_eq!(Prometheus::new("http://p:9090/", Duration::from_secs(1)).base_url(), "http://p:9090");
    }
}
