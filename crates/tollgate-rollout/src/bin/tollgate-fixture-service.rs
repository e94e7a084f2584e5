//! A tiny HTTP service for the integration tests: one version of an application, healthy, or
//! failing once it has taken some traffic.
//!
//! ```text
//! tollgate-fixture-service --listen 127.0.0.1:0 --version 2 [--fail-after 50] [--exit-on-eof]
//! ```
//!
//! - `/` answers 200 `version N`, or 500 `version N failing` once N requests to `/` were served
//!   with `--fail-after N`;
//! - `/healthz` answers 200 `ok`, or 500 once `/` fails;
//! - `/metrics` is Prometheus's text format: `http_requests_total{code,version}` (requests to
//!   `/`, both codes present from the start so `rate()` has a series before the first failure)
//!   and the `http_request_duration_seconds{version}` histogram.
//!
//! It prints `listening on http://ADDR` once bound, so `--listen 127.0.0.1:0` gives a free port
//! without a race, and `scraped N` after each answer to `/metrics` (N: the requests to `/` that
//! answer counted at least), so a test can wait for Prometheus to have read its traffic instead
//! of waiting on a clock. With `--exit-on-eof` it exits when its standard input closes: a test that
//! dies cannot leave it running.
//!
//! Standard library only, a thread per connection, HTTP/1.1 keep-alive: its clients are ureq,
//! HAProxy and Prometheus's scraper sending GETs, and the library it sits in should not carry an
//! HTTP server for the sake of a test fixture.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

struct Options {
    listen: String,
    version: String,
    fail_after: Option<u64>,
    exit_on_eof: bool,
}

const USAGE: &str = "usage: tollgate-fixture-service --listen ADDR --version N [--fail-after N] [--exit-on-eof]";

fn options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let (mut listen, mut version, mut fail_after, mut exit_on_eof) = (None, None, None, false);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = Some(value()?),
            "--version" => version = Some(value()?),
            "--fail-after" => {
                let text = value()?;
                fail_after = Some(text.parse().map_err(|_| format!("--fail-after {text:?}: expected a count"))?);
            }
            "--exit-on-eof" => exit_on_eof = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let version = version.ok_or("--version is required")?;
    // It goes into a label value and a body unescaped.
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return Err(format!("--version {version:?}: expected letters, digits, '.', '-', '_'"));
    }
    Ok(Options { listen: listen.ok_or("--listen is required")?, version, fail_after, exit_on_eof })
}

/// Counts since start: requests to `/` by code, and their durations.
struct Service {
    version: String,
    fail_after: Option<u64>,
    served: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
}

impl Service {
    fn failing(&self) -> bool {
        self.fail_after.is_some_and(|n| self.served.load(Ordering::SeqCst) >= n)
    }

    fn answer(&self, path: &str) -> (u16, &'static str, String) {
        match path {
            "/" => {
                let started = Instant::now();
                let before = self.served.fetch_add(1, Ordering::SeqCst);
                let fails = self.fail_after.is_some_and(|n| before >= n);
                let answer = if fails {
                    self.failed.fetch_add(1, Ordering::SeqCst);
                    (500, "text/plain", format!("version {} failing\n", self.version))
                } else {
                    self.ok.fetch_add(1, Ordering::SeqCst);
                    (200, "text/plain", format!("version {}\n", self.version))
                };
                self.observe(started.elapsed());
                answer
            }
            "/healthz" if self.failing() => (500, "text/plain", "failing\n".into()),
            "/healthz" => (200, "text/plain", "ok\n".into()),
            "/metrics" => (200, "text/plain; version=0.0.4", self.metrics()),
            _ => (404, "text/plain", "not found\n".into()),
        }
    }

    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.sum_micros.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    fn metrics(&self) -> String {
        let v = &self.version;
        let (ok, failed) = (self.ok.load(Ordering::SeqCst), self.failed.load(Ordering::SeqCst));
        let mut text = String::new();
        text.push_str("# HELP http_requests_total Requests to / by status code.\n");
        text.push_str("# TYPE http_requests_total counter\n");
        text.push_str(&format!("http_requests_total{{code=\"200\",version=\"{v}\"}} {ok}\n"));
        text.push_str(&format!("http_requests_total{{code=\"500\",version=\"{v}\"}} {failed}\n"));
        text.push_str("# HELP http_request_duration_seconds Time to answer a request to /.\n");
        text.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (bound, count) in BUCKETS.iter().zip(&self.buckets) {
            let count = count.load(Ordering::SeqCst);
            text.push_str(&format!("http_request_duration_seconds_bucket{{version=\"{v}\",le=\"{bound}\"}} {count}\n"));
        }
        let total = ok + failed;
        let sum = self.sum_micros.load(Ordering::SeqCst) as f64 / 1e6;
        text.push_str(&format!("http_request_duration_seconds_bucket{{version=\"{v}\",le=\"+Inf\"}} {total}\n"));
        text.push_str(&format!("http_request_duration_seconds_sum{{version=\"{v}\"}} {sum}\n"));
        text.push_str(&format!("http_request_duration_seconds_count{{version=\"{v}\"}} {total}\n"));
        text
    }
}

/// Requests on one connection until the client closes it or asks to.
fn serve(service: &Service, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut words = request_line.split_whitespace();
        let (method, target, version) = (words.next(), words.next(), words.next());
        let (mut close, mut length) = (version != Some("HTTP/1.1"), 0u64);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_ascii_lowercase());
                match name.as_str() {
                    "connection" if value == "close" => close = true,
                    "connection" if value == "keep-alive" => close = false,
                    "content-length" => length = value.parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink())?;
        let scrape = target.is_some_and(|t| t.starts_with("/metrics"));
        // Counted before the counts are rendered: the answer holds at least these requests.
        let counted = service.ok.load(Ordering::SeqCst) + service.failed.load(Ordering::SeqCst);
        let (status, content_type, body) = match (method, target) {
            (Some("GET" | "HEAD"), Some(target)) => service.answer(target.split('?').next().unwrap_or(target)),
            _ => (405, "text/plain", "GET only\n".to_owned()),
        };
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Internal Server Error",
        };
        let connection = if close { "close" } else { "keep-alive" };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
            body.len()
        );
        // One write: head and body in two would wait on Nagle's algorithm and the peer's delayed
        // acknowledgement, 40 ms a request through haproxy.
        let mut response = head.into_bytes();
        if method != Some("HEAD") {
            response.extend_from_slice(body.as_bytes());
        }
        writer.write_all(&response)?;
        writer.flush()?;
        if scrape {
            // What a test waits on instead of a clock: Prometheus has read these counts.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "scraped {counted}").and_then(|()| out.flush());
        }
        if close {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    let options = match options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("tollgate-fixture-service: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&options.listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("tollgate-fixture-service: cannot listen on {}: {e}", options.listen);
            return ExitCode::FAILURE;
        }
    };
    let address = listener.local_addr().expect("a bound listener has an address");
    println!("listening on http://{address}");
    let _ = std::io::stdout().flush();
    if options.exit_on_eof {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    let service = Arc::new(Service {
        version: options.version,
        fail_after: options.fail_after,
        served: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        sum_micros: AtomicU64::new(0),
    });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let service = service.clone();
        std::thread::spawn(move || {
            let _ = serve(&service, stream);
        });
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(fail_after: Option<u64>) -> Service {
        let args = ["--listen", "127.0.0.1:0", "--version", "2"].map(String::from);
        let options = options(args.into_iter()).unwrap();
        Service {
            version: options.version,
            fail_after,
            served: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }

    #[test]
    fn fails_once_it_has_served_n_requests_and_health_follows() {
        let service = service(Some(2));
        assert_eq!(service.answer("/healthz").0, 200);
        assert_eq!(service.answer("/").2, "version 2\n");
        assert_eq!(service.answer("/").0, 200);
        assert_eq!(service.answer("/healthz").0, 500);
        assert_eq!(service.answer("/"), (500, "text/plain", "version 2 failing\n".into()));
        let metrics = service.answer("/metrics").2;
        assert!(metrics.contains("http_requests_total{code=\"200\",version=\"2\"} 2\n"), "{metrics}");
        assert!(metrics.contains("http_requests_total{code=\"500\",version=\"2\"} 1\n"), "{metrics}");
        assert!(metrics.contains("http_request_duration_seconds_count{version=\"2\"} 3\n"), "{metrics}");
        assert!(metrics.contains("http_request_duration_seconds_bucket{version=\"2\",le=\"+Inf\"} 3\n"), "{metrics}");
    }

    #[test]
    fn both_codes_are_exported_before_any_request() {
        let metrics = service(None).metrics();
        assert!(metrics.contains("code=\"500\",version=\"2\"} 0\n"), "{metrics}");
    }

    #[test]
    fn arguments_are_checked() {
        let parse = |args: &[&str]| options(args.iter().map(|a| a.to_string())).err();
        assert_eq!(parse(&["--listen", "x"]), Some("--version is required".into()));
        assert!(parse(&["--listen", "x", "--version", "2\"}"]).unwrap().contains("expected letters"));
        assert!(
            parse(&["--listen", "x", "--version", "2", "--fail-after", "ten"]).unwrap().contains("expected a count")
        );
        assert!(parse(&["--bogus"]).unwrap().contains("unknown argument"));
    }
}
