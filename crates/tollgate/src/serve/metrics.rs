//! `/metrics`: the server's own figures in the OpenMetrics text format Prometheus scrapes —
//! requests by route and status, their latency, durable writes, authentication failures, the
//! size of the log and the checkpoints sent out of it.

use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::run::{Failure, error};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Target {
    target: String,
}

pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<Request, Counter>,
    latency: Family<Route, Histogram>,
    writes: Counter,
    auth_failures: Counter,
    log_size: Gauge,
    publishing: Publishing,
}

/// Checkpoints sent out of the store, and failed attempts, by `--checkpoint-to` target: what
/// the publishing threads count.
#[derive(Clone, Default)]
pub(crate) struct Publishing {
    published: Family<Target, Counter>,
    failures: Family<Target, Counter>,
}

impl Publishing {
    pub(crate) fn published(&self, target: &str) {
        self.published.get_or_create(&Target { target: target.to_owned() }).inc();
    }

    pub(crate) fn failed(&self, target: &str) {
        self.failures.get_or_create(&Target { target: target.to_owned() }).inc();
    }
}

fn latency_buckets() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Metrics {
    pub(crate) fn install() -> Result<Metrics, Failure> {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("tollgate")),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_buckets),
            writes: Counter::default(),
            auth_failures: Counter::default(),
            log_size: Gauge::default(),
            publishing: Publishing::default(),
        };
        let mut r = m.registry.lock().map_err(|_| error("metrics registry"))?;
        r.register("http_requests", "HTTP requests answered, by route and status", m.requests.clone());
        r.register("http_request_duration_seconds", "Time to answer a request, by route", m.latency.clone());
        r.register("writes", "Commands that recorded facts in the log", m.writes.clone());
        r.register("auth_failures", "Requests refused as unauthenticated", m.auth_failures.clone());
        r.register("log_entries", "Entries in the log", m.log_size.clone());
        r.register(
            "checkpoints_published",
            "Checkpoints delivered to a --checkpoint-to target",
            m.publishing.published.clone(),
        );
        r.register(
            "checkpoint_publish_failures",
            "Failed attempts to deliver a checkpoint to a --checkpoint-to target",
            m.publishing.failures.clone(),
        );
        drop(r);
        Ok(m)
    }

    pub(crate) fn request(&self, route: &str, status: StatusCode) {
        self.requests.get_or_create(&Request { route: route.to_owned(), status: status.as_u16() }).inc();
    }

    pub(crate) fn latency(&self, route: &str, took: Duration) {
        self.latency.get_or_create(&Route { route: route.to_owned() }).observe(took.as_secs_f64());
    }

    pub(crate) fn publishing(&self) -> Publishing {
        self.publishing.clone()
    }

    pub(crate) fn write(&self) {
        self.writes.inc();
    }

    pub(crate) fn auth_failure(&self) {
        self.auth_failures.inc();
    }

    pub(crate) fn render(&self, log_size: Option<u64>) -> String {
        if let Some(size) = log_size {
            self.log_size.set(i64::try_from(size).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}
