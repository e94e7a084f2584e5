//! The adapters against the real components: the fixture service, Debian's haproxy and
//! prometheus (see `support`). A test whose component is not installed says SKIPPED and
//! passes, except under `.ci/run`, which installs them.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use support::{Fixture, Haproxy, Prometheus, binary, count_version, free_port};
use tollgate_rollout::haproxy::{AdminState, Operational, Weight};
use tollgate_rollout::smoke::{self, SmokeCheck};
use tollgate_rollout::{HaproxyTarget, QueryError, RuntimeError, Shift, Target};

fn now() -> DateTime<Utc> {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    DateTime::from_timestamp_micros(i64::try_from(since.as_micros()).unwrap()).unwrap()
}

fn shift(weight: u8) -> Shift {
    Shift {
        weight,
        artefact: "sha256:2222".into(),
        previous: Some("sha256:1111".into()),
        environment: "production".into(),
        release: "R-1".into(),
    }
}

#[test]
fn haproxy_weights_move_the_traffic_seen_through_its_frontend() {
    let Some(haproxy) = binary("haproxy", "haproxy_weights_move_the_traffic_seen_through_its_frontend") else {
        return;
    };
    let (v1, v2) = (Fixture::start(1, None), Fixture::start(2, None));
    let haproxy = Haproxy::start(&haproxy, &v1, &v2);
    let runtime = haproxy.runtime();
    let target = HaproxyTarget {
        runtime: runtime.clone(),
        backend: "app".into(),
        stable_server: "stable".into(),
        canary_server: "canary".into(),
    };

    target.shift(&shift(25)).unwrap();
    assert_eq!(runtime.weight("app", "canary").unwrap(), Weight { current: 64, initial: 128 });
    assert_eq!(runtime.weight("app", "stable").unwrap(), Weight { current: 192, initial: 128 });
    // Round robin is deterministic, about 50 of 200; the bounds leave room for the requests
    // in flight while the weights changed.
    let on_v2 = count_version(&haproxy.url, 200, 2);
    assert!((25..=75).contains(&on_v2), "{on_v2} of 200 requests reached version 2 at 25%");

    target.shift(&shift(100)).unwrap();
    assert_eq!(count_version(&haproxy.url, 100, 2), 100, "at 100% every request reaches version 2");

    target.shift(&shift(0)).unwrap();
    assert_eq!(count_version(&haproxy.url, 100, 1), 100, "at 0% every request reaches version 1");

    let servers = runtime.servers("app").unwrap();
    let names: Vec<(&str, u16, u16)> = servers.iter().map(|s| (s.name.as_str(), s.weight, s.initial_weight)).collect();
    assert_eq!(names, [("stable", 256, 128), ("canary", 0, 128)]);
    assert!(servers.iter().all(|s| s.operational == Operational::Running && s.admin == AdminState::Ready));
    assert_eq!(servers[1].port, v2.address.rsplit(':').next().unwrap().parse().ok());

    // A server in maintenance takes nothing, whatever its weight.
    target.shift(&shift(50)).unwrap();
    runtime.set_server_state("app", "canary", AdminState::Maint).unwrap();
    assert_eq!(runtime.servers("app").unwrap()[1].admin, AdminState::Maint);
    assert_eq!(count_version(&haproxy.url, 50, 1), 50);
    runtime.set_server_state("app", "canary", AdminState::Drain).unwrap();
    assert_eq!(runtime.servers("app").unwrap()[1].admin, AdminState::Drain);
    runtime.set_server_state("app", "canary", AdminState::Ready).unwrap();
    assert!((10..=40).contains(&count_version(&haproxy.url, 50, 2)));

    let error = runtime.set_weight("app", "nope", 10).unwrap_err();
    assert!(matches!(&error, RuntimeError::Refused { reply, .. } if reply == "No such server."), "{error:?}");
    let error = runtime.servers("nope").unwrap_err();
    assert_eq!(error.reply(), Some("Can't find backend."));
}

#[test]
fn prometheus_reports_the_error_rate_once_version_2_fails() {
    let Some(prometheus) = binary("prometheus", "prometheus_reports_the_error_rate_once_version_2_fails") else {
        return;
    };
    let (v1, v2) = (Fixture::start(1, None), Fixture::start(2, Some(20)));
    let server = Prometheus::start(&prometheus, &[&v1, &v2]);
    let client = tollgate_rollout::Prometheus::new(&server.url, Duration::from_secs(10));

    // Version 2 fails from its 21st request. Each batch is waited into Prometheus through the
    // fixture's own word that it was scraped, never on a clock: two scrapes apart, so `rate()`
    // sees the failures grow.
    count_version(&v1.url, 10, 1);
    count_version(&v2.url, 30, 2);
    v1.wait_scraped(10);
    v2.wait_scraped(30);
    count_version(&v2.url, 10, 2);
    v2.wait_scraped(40);
    let samples = client.query(r#"sum(rate(http_requests_total{code="500"}[1m]))"#, now()).unwrap();
    assert!(samples.first().is_some_and(|s| s.value > 0.0), "no error rate: {samples:?}");
    assert_eq!(samples.len(), 1);
    assert!(samples[0].labels.is_empty(), "a sum has no labels: {:?}", samples[0].labels);

    // Only version 2 fails.
    let by_version = client.query(r#"sum by (version) (rate(http_requests_total{code="500"}[1m]))"#, now()).unwrap();
    let failing: Vec<(&str, bool)> = by_version.iter().map(|s| (s.labels["version"].as_str(), s.value > 0.0)).collect();
    assert!(failing.contains(&("2", true)), "{by_version:?}");
    assert!(!failing.contains(&("1", true)), "{by_version:?}");

    // A range over the last seconds: one series per version and code, points in time order.
    let end = now();
    let series = client
        .query_range("http_requests_total", end - chrono::Duration::seconds(10), end, Duration::from_secs(1))
        .unwrap();
    assert_eq!(series.len(), 4, "{series:?}");
    for s in &series {
        assert!(!s.points.is_empty() && s.points.windows(2).all(|w| w[0].0 < w[1].0), "{s:?}");
        assert_eq!(s.labels["job"], "fixture");
    }

    // A scalar, and a value that is not a number.
    assert_eq!(client.query("scalar(vector(2))", now()).unwrap()[0].value, 2.0);
    assert!(client.query("vector(0) / vector(0)", now()).unwrap()[0].value.is_nan());
    assert_eq!(client.query("vector(1) / vector(0)", now()).unwrap()[0].value, f64::INFINITY);
    // An instant query of a range vector is a matrix, refused by name.
    let error = client.query("http_requests_total[5s]", now()).unwrap_err();
    assert!(matches!(&error, QueryError::ResultType { got, .. } if got == "matrix"), "{error:?}");
    // A query that matches nothing is no data, not an error.
    assert_eq!(client.query("no_such_metric", now()).unwrap(), vec![]);
}

#[test]
fn a_query_that_does_not_parse_is_refused_as_bad_data() {
    let Some(prometheus) = binary("prometheus", "a_query_that_does_not_parse_is_refused_as_bad_data") else {
        return;
    };
    let server = Prometheus::start(&prometheus, &[]);
    let client = tollgate_rollout::Prometheus::new(&server.url, Duration::from_secs(10));
    let error = client.query("sum(rate(http_requests_total[5m])", now()).unwrap_err();
    assert_eq!(error.error_type(), Some("bad_data"), "{error:?}");
    assert!(matches!(&error, QueryError::Api { status: 400, error, .. } if error.contains("parse error")), "{error:?}");
    let end = now();
    let error =
        client.query_range("up{", end - chrono::Duration::seconds(60), end, Duration::from_secs(15)).unwrap_err();
    assert_eq!(error.error_type(), Some("bad_data"), "{error:?}");
}

#[test]
fn a_prometheus_that_does_not_listen_is_unreachable() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let client = tollgate_rollout::Prometheus::new(&url, Duration::from_secs(5));
    let error = client.query("up", now()).unwrap_err();
    assert!(matches!(&error, QueryError::Unreachable { url: named, .. } if named.starts_with(&url)), "{error:?}");
}

#[test]
fn smoke_checks_and_health_follow_the_service_as_it_fails() {
    let service = Fixture::start(2, Some(1));
    let healthz = format!("{}/healthz", service.url);
    assert!(smoke::health(&healthz, Duration::from_secs(5)));
    let mut home = SmokeCheck::new("home", format!("{}/", service.url));
    home.body_contains = Some("version 2".into());

    let first = home.run();
    assert!(first.passed && first.status == Some(200), "{first:?}");
    let second = home.run();
    assert_eq!((second.passed, second.status), (false, Some(500)), "{second:?}");
    assert_eq!(second.detail, "answered 500, expected 200");
    assert!(!smoke::health(&healthz, Duration::from_secs(5)));

    let missing = SmokeCheck::new("missing", format!("{}/missing", service.url)).run();
    assert_eq!(missing.status, Some(404));
}
