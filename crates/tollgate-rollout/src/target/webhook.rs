//! Traffic moved by an HTTP endpoint of the deployer's own: Tollgate POSTs the shift as JSON,
//!
//! ```json
//! {"weight": 25, "artefact": "sha256:...", "previous": "sha256:..." | null,
//!  "environment": "production", "release": "R-12"}
//! ```
//!
//! and a 2xx answer means the shift took. The body is built here by hand, not derived from
//! [`Shift`], so renaming a field in the code cannot change what receivers read.

use std::time::Duration;

use super::{Shift, Target, TargetError};
use crate::http::{self, NoAnswer};

#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// May carry a secret in its query string; [`Target::describe`] and errors leave it out.
    pub url: String,
    pub timeout: Duration,
}

impl WebhookTarget {
    pub fn new(url: impl Into<String>, timeout: Duration) -> WebhookTarget {
        WebhookTarget { url: url.into(), timeout }
    }
}

/// The JSON body of a shift.
pub(crate) fn body(shift: &Shift) -> serde_json::Value {
    serde_json::json!({
        "weight": shift.weight,
        "artefact": shift.artefact,
        "previous": shift.previous,
        "environment": shift.environment,
        "release": shift.release,
    })
}

impl Target for WebhookTarget {
    fn shift(&self, shift: &Shift) -> Result<(), TargetError> {
        shift.percent()?;
        let url = http::redacted(&self.url);
        let mut response = http::agent(self.timeout)
            .post(&self.url)
            .content_type("application/json")
            .send(body(shift).to_string())
            .map_err(|e| match http::no_answer(&e) {
                NoAnswer::Timeout => TargetError::WebhookTimeout { url: url.clone(), timeout: self.timeout },
                NoAnswer::Unreachable(reason) => TargetError::Unreachable { url: url.clone(), reason },
            })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body = http::read_prefix(&mut response, 4096).unwrap_or_default();
        Err(TargetError::Refused { url, status, body: http::tail(&body, 500) })
    }

    fn describe(&self) -> String {
        format!("webhook {}", http::redacted(&self.url))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// An HTTP server for one request: hands back the request's head and body, answers `reply`.
    fn one_request(reply: &'static str) -> (String, thread::JoinHandle<(String, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/deploy?token=s3cret", listener.local_addr().unwrap());
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream.write_all(reply.as_bytes()).unwrap();
            (head, String::from_utf8(body).unwrap())
        });
        (url, handle)
    }

    fn shift() -> Shift {
        Shift {
            weight: 5,
            artefact: "sha256:aa".into(),
            previous: None,
            environment: "staging".into(),
            release: "R-2".into(),
        }
    }

    #[test]
    fn posts_the_shift_as_json_and_takes_a_2xx() {
        let (url, server) = one_request("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        WebhookTarget::new(url, Duration::from_secs(5)).shift(&shift()).unwrap();
        let (head, body) = server.join().unwrap();
        assert!(head.starts_with("POST /hooks/deploy?token=s3cret HTTP/1.1"), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"weight": 5, "artefact": "sha256:aa", "previous": null, "environment": "staging", "release": "R-2"})
        );
    }

    #[test]
    fn another_status_is_refused_with_the_answer_and_without_the_secret() {
        let (url, _server) = one_request(
            "HTTP/1.1 409 Conflict\r\nContent-Length: 20\r\nConnection: close\r\n\r\nrollout in progress\n",
        );
        let error = WebhookTarget::new(url, Duration::from_secs(5)).shift(&shift()).unwrap_err();
        assert!(
            matches!(&error, TargetError::Refused { status: 409, body, .. } if body == "rollout in progress"),
            "{error:?}"
        );
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn nothing_listening_is_unreachable() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let target = WebhookTarget::new(format!("http://127.0.0.1:{port}/x"), Duration::from_secs(5));
        let error = target.shift(&shift()).unwrap_err();
        assert!(matches!(error, TargetError::Unreachable { .. }), "{error:?}");
        assert_eq!(target.describe(), format!("webhook http://127.0.0.1:{port}/x"));
    }
}
