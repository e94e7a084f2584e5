//! The rollout executor of `tollgate serve`, against real components: Debian's prometheus
//! (scraping every second) and haproxy (the target, over its admin socket), and the fixture
//! service (version 1 healthy; version 2 healthy, or failing after it has taken some traffic),
//! under steady load through haproxy; a feature flag's rollouts go to the fake Unleash of the
//! rollout crate's tests instead. Each test prints the figures it measured.
//!
//! These tests wait on the real clock, as Prometheus and haproxy run on it: each wait is for a
//! state of the store (polled) bounded far above what it needs, and no assertion is about how
//! long anything took. The figures are printed, not asserted.

#[path = "../../tollgate-rollout/tests/support/mod.rs"]
mod components;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use components::unleash::FakeUnleash;
use components::{Fixture, Haproxy, Prometheus, binary};
use serde_json::Value;
use support::Tg;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::rollout::progress::RolloutFact;
use tollgate_domain::{Event, Timestamp};
use tollgate_ledger::{Ledger, SqliteLedger};

/// The bound on every wait: far above what any step needs.
const PATIENCE: Duration = Duration::from_secs(120);

/// A store holding a minor release of `payments` ready to deploy (see `support::walk`).
fn ready_release(tg: &Tg) -> ReleaseId {
    support::walk::ready_release(&tg.db).1
}

/// Steady load through haproxy's frontend until stopped: a burst of [`PER_SCRAPE`] requests
/// each time Prometheus scrapes version 1 (every second), so the load keeps Prometheus's
/// clock, not one of its own.
struct Load {
    running: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const PER_SCRAPE: u64 = 100;

impl Load {
    fn start(url: &str, scrapes: std::sync::mpsc::Receiver<String>) -> Load {
        let (running, sent) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicU64::new(0)));
        let (r, s, url) = (Arc::clone(&running), Arc::clone(&sent), url.to_owned());
        let thread = std::thread::spawn(move || {
            let agent = components::agent();
            for line in scrapes {
                if !r.load(Ordering::Relaxed) {
                    return;
                }
                if line.starts_with("scraped ") {
                    for _ in 0..PER_SCRAPE {
                        let _ = agent.get(&url).call();
                    }
                    s.fetch_add(PER_SCRAPE, Ordering::Relaxed);
                }
            }
        });
        Load { running, sent, thread: Some(thread) }
    }
}

impl Load {
    /// Stops the load; the requests it sent.
    fn stop(world: &mut World) -> u64 {
        let load = world.load.take().expect("running");
        let sent = load.sent.load(Ordering::Relaxed);
        drop(load);
        sent
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Everything a rollout test runs against.
struct World {
    _v1: Fixture,
    _v2: Fixture,
    _prometheus: Prometheus,
    haproxy: Haproxy,
    prometheus_url: String,
    load: Option<Load>,
    /// A webhook the server sends each new checkpoint to, and what it received.
    checkpoints: String,
    commits: std::sync::mpsc::Receiver<()>,
}

fn world(test: &str, v2_fails_after: Option<u64>) -> Option<World> {
    let (prometheus, haproxy) = (binary("prometheus", test)?, binary("haproxy", test)?);
    let (mut v1, v2) = (Fixture::start(1, None), Fixture::start(2, v2_fails_after));
    let prom = Prometheus::start(&prometheus, &[&v1, &v2]);
    let lb = Haproxy::start(&haproxy, &v1, &v2);
    // Before the rollout all traffic is on version 1, as in production before a deployment;
    // version 2 has answered a few requests (its series exist in Prometheus).
    lb.runtime().set_weight("app", "canary", 0).unwrap();
    components::count_version(&v2.url, 5, 2);
    v2.wait_scraped(5);
    let prometheus_url = prom.url.clone();
    let load = Some(Load::start(&lb.url, v1.take_scrapes()));
    let (tx, commits) = std::sync::mpsc::channel();
    let checkpoints = support::http::serve(move |_| {
        let _ = tx.send(());
        (200, "text/plain", String::new())
    });
    let checkpoints = format!("{checkpoints}/checkpoint");
    Some(World { _v1: v1, _v2: v2, _prometheus: prom, haproxy: lb, prometheus_url, load, checkpoints, commits })
}

/// A canary through 5, 25 and 100 percent, each held 6 s (the first second or two of a stage
/// may measure NaN, 0/0, before Prometheus has scraped the canary's new requests), judged every second on version 2's
/// error ratio; `query` replaces that ratio (a metric that does not exist, for no data).
fn plan(world: &World, query: Option<&str>) -> String {
    let ratio = r#"sum(rate(http_requests_total{version="2",code="500"}[3s])) / sum(rate(http_requests_total{version="2"}[3s]))"#;
    let target = format!(
        "kind = \"haproxy\"\nadmin = \"{}\"\nbackend = \"app\"\nstable = \"stable\"\ncanary = \"canary\"\n",
        world.haproxy.socket.display()
    );
    plan_of(world, "strategy = \"canary\"\n", &target, query.unwrap_or(ratio))
}

/// The token the fake Unleash accepts, given to the server as `UNLEASH_TOKEN`.
const UNLEASH_TOKEN: &str = "*:*.7c2e9a41d0b35f68e1a4c7d9b2f0e3a6c5d8b1f4e7a0c3d6b9e2f5a8";

/// The feature-flag rollout of `new-checkout` in `unleash` through 5, 25 and 100 percent, each
/// held 6 s, judged every second on version 1's error ratio: all traffic stays on version 1
/// through haproxy (the flag gates users, which the fixture does not read), so what this plan
/// shows is the executor raising the flag and Prometheus judging each stage.
fn flag_plan(world: &World, unleash: &FakeUnleash) -> String {
    let ratio = r#"sum(rate(http_requests_total{version="1",code="500"}[3s])) / sum(rate(http_requests_total{version="1"}[3s]))"#;
    let target = format!(
        "kind = \"unleash\"\nurl = \"{}\"\nenvironment = \"production\"\ntoken-env = \"UNLEASH_TOKEN\"\n",
        unleash.url
    );
    plan_of(world, "strategy = \"feature-flag\"\nflag = \"new-checkout\"\n", &target, ratio)
}

/// A plan of `strategy` (its lines before the steps) through 5, 25 and 100 percent, each held
/// 6 s, shifting `target` (its `[target]` table's lines), judged every second on `query`, with
/// the error-rate and health signals the minor release type's minimum asks for and a smoke check
/// of the frontend.
fn plan_of(world: &World, strategy: &str, target: &str, query: &str) -> String {
    format!(
        r#"{strategy}steps = [{{ weight = 5, hold = "6s" }}, {{ weight = 25, hold = "6s" }}, {{ weight = 100, hold = "6s" }}]
prometheus = "{prometheus}"

[target]
{target}
[signals]
error-rate = 'sum(rate(http_requests_total{{code="500"}}[3s])) / sum(rate(http_requests_total[3s]))'
health = "{frontend}/healthz"
interval = "1s"

[[analysis]]
name = "error-ratio"
query = '{query}'
condition = "< 0.01"
interval = "1s"
min-samples = 2
inconclusive-limit = 3

[[smoke]]
name = "home"
url = "{frontend}/"
"#,
        prometheus = world.prometheus_url,
        frontend = world.haproxy.url,
    )
}

fn start(tg: &Tg, id: ReleaseId, plan: &str) {
    start_with(tg, id, "canary.toml", plan, "canary 5% (");
}

/// Starts the rollout of `plan`, uploaded as `file`, which `rollout start` must describe as
/// starting with `stages`.
fn start_with(tg: &Tg, id: ReleaseId, file: &str, plan: &str, stages: &str) {
    let file = tg.path(file);
    std::fs::write(&file, plan).unwrap();
    let out =
        tg.ok("dev", &["rollout", "start", &id.to_string(), "--env", "production", "--plan", file.to_str().unwrap()]);
    assert!(out.contains(&format!("rollout to production started ({stages}")), "{out}");
}

fn status(tg: &Tg, id: ReleaseId) -> Value {
    tg.json("dev", &["rollout", "status", &id.to_string()])
}

/// Checks the rollout's status after each commit to the store until `done` says so, and returns
/// that status. The server sends every new checkpoint to the test's webhook (`--checkpoint-to`),
/// so each arrival means the log grew; the bound only makes a stuck rollout fail with its status.
fn wait_for(tg: &Tg, world: &World, id: ReleaseId, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    loop {
        let now = status(tg, id);
        if done(&now) {
            return now;
        }
        if world.commits.recv_timeout(PATIENCE).is_err() {
            panic!("the rollout never got to {what}: {now:#}");
        }
    }
}

/// `tollgate serve` on the store, sending its checkpoints to the world's webhook.
fn serve(tg: &Tg, world: &World) {
    serve_with_env(tg, world, &[]);
}

/// As [`serve`], the server's environment changed by `env` (a variable with no value removed).
fn serve_with_env(tg: &Tg, world: &World, env: &[(&str, Option<&str>)]) {
    tg.serve_with_env("rita", &["--checkpoint-to", &world.checkpoints], env);
}

/// A measured figure, on the process's own stderr: the harness captures `eprintln!` of a
/// passing test, and CI's log should show the figures.
fn figure(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Every fact of the store, in log order.
fn facts(tg: &Tg) -> Vec<tollgate_domain::Fact> {
    let ledger = SqliteLedger::open_for_audit(&tg.db, None).unwrap();
    let mut all = Vec::new();
    ledger
        .scan(0, &mut |record| {
            all.push(tollgate_app::codec::decode(&record.payload).unwrap().fact);
            Ok(())
        })
        .unwrap();
    all
}

fn rollout_facts(tg: &Tg) -> Vec<(Timestamp, RolloutFact)> {
    facts(tg)
        .into_iter()
        .filter_map(|f| match f.event {
            Event::Rollout { fact, .. } => Some((f.at, fact)),
            _ => None,
        })
        .collect()
}

fn canary_weight(world: &World) -> u16 {
    world.haproxy.runtime().weight("app", "canary").unwrap().current
}

#[test]
fn a_healthy_version_2_is_promoted_through_5_25_100_and_resumes_after_kill_9() {
    let test = "a_healthy_version_2_is_promoted_through_5_25_100_and_resumes_after_kill_9";
    let Some(mut world) = world(test, None) else { return };
    let tg = Tg::new();
    let id = ready_release(&tg);
    serve(&tg, &world);
    let began = Instant::now();
    start(&tg, id, &plan(&world, None));

    // When the server is killed -9 once the first stage has passed
    wait_for(&tg, &world, id, "stage 1", |s| s["stage"] == 1);
    let pid = tg.remote.lock().unwrap().as_ref().unwrap().pid();
    assert!(std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    drop(tg.remote.lock().unwrap().take());
    // and started again
    serve(&tg, &world);

    // Then the rollout resumes where the log says it was and completes
    let done = wait_for(&tg, &world, id, "completion", |s| s["state"] == "completed");
    let took = began.elapsed();
    assert_eq!(done["stages_passed"], 3, "{done:#}");
    assert_eq!(canary_weight(&world), 256, "all traffic on version 2");
    // with every stage shifted and promoted exactly once
    let steps = rollout_facts(&tg);
    let count = |f: &dyn Fn(&RolloutFact) -> bool| steps.iter().filter(|(_, s)| f(s)).count();
    for stage in 0..3 {
        assert_eq!(count(&|s| matches!(s, RolloutFact::Shifted { stage: n, .. } if *n == stage)), 1, "stage {stage}");
        assert_eq!(count(&|s| *s == RolloutFact::StagePassed { stage }), 1, "stage {stage}");
    }
    assert_eq!(count(&|s| *s == RolloutFact::Completed), 1);
    // and the deployment recorded as finished, successfully, by the person who started it
    let finished: Vec<_> = facts(&tg)
        .into_iter()
        .filter(|f| matches!(f.event, Event::DeploymentFinished { success: true, .. }))
        .map(|f| f.actor)
        .collect();
    assert_eq!(finished, ["dev"]);
    let measured = count(&|s| matches!(s, RolloutFact::Measured(_)));
    let sent = Load::stop(&mut world);
    figure(format!(
        "FIGURE healthy canary 5/25/100 (6 s holds, 1 s analysis) promoted in {:.1} s with a kill -9 and restart after stage 0; {measured} measurements recorded; {sent} requests of steady load through haproxy",
        took.as_secs_f64()
    ));
}

#[test]
fn a_failing_version_2_is_rolled_back_to_version_1_without_approval() {
    let test = "a_failing_version_2_is_rolled_back_to_version_1_without_approval";
    // Version 2 fails once it has answered 20 requests: 15 after the 5 before the rollout, at 5% of 100 a second.
    let Some(mut world) = world(test, Some(20)) else { return };
    let tg = Tg::new();
    let id = ready_release(&tg);
    serve(&tg, &world);
    start(&tg, id, &plan(&world, None));

    let done = wait_for(&tg, &world, id, "the end of the rollback", |s| s["state"] == "rolled back");
    assert_eq!(canary_weight(&world), 0, "all traffic back on version 1");
    assert!(done["stages_passed"].as_u64().unwrap() < 3, "{done:#}");
    let sent = Load::stop(&mut world);

    // The rollback was decided by the executor for the deployer, no approval, and timed.
    let all = facts(&tg);
    let started = all.iter().find(|f| matches!(f.event, Event::RollbackStarted { .. })).expect("a rollback");
    let Event::RollbackStarted { reason, .. } = &started.event else { unreachable!() };
    // The analysis saw the errors, or a smoke check met version 2 failing first.
    assert!(reason.starts_with("automatic: "), "{reason}");
    assert!(reason.contains("error-ratio") || reason.contains("smoke check"), "{reason}");
    assert_eq!(started.actor, "dev");
    let seconds = all.iter().find_map(|f| match f.event {
        Event::RollbackCompleted { seconds, .. } => Some(seconds),
        _ => None,
    });
    assert!(seconds.is_some(), "the rollback completed");
    // No rollback over 15 minutes, so no non-conformance for it.
    assert!(!all.iter().any(|f| matches!(&f.event, Event::NcRaised(nc) if nc.subject.contains("rollback"))));

    // Figures: from the first measurement that saw the fault to all traffic on version 1.
    let steps = rollout_facts(&tg);
    let seen = steps
        .iter()
        .find_map(|(_, s)| match s {
            RolloutFact::Measured(m)
                if m.name == "error-ratio"
                    && matches!(m.measured, tollgate_domain::rollout::analysis::Measured::Value(v) if v >= 0.01) =>
            {
                Some(m.at)
            }
            _ => None,
        })
        .expect("a failing measurement");
    let restored = steps.iter().find(|(_, s)| *s == RolloutFact::TrafficRestored).expect("traffic restored").0;
    let confirmed = all.iter().find(|f| matches!(f.event, Event::RollbackCompleted { .. })).unwrap().at;
    figure(format!(
        "FIGURE fault visible in Prometheus (first failing measurement) -> 100% on version 1: {} ms; -> version 1 confirmed healthy (rollback complete): {} ms (target < 10 s; the procedure allows 15 min); the fault reached Prometheus at most one 1 s measurement interval before it was measured; {sent} requests of steady load",
        (restored - seen).num_milliseconds(),
        (confirmed - seen).num_milliseconds()
    ));
}

#[test]
fn a_rollout_whose_metric_returns_no_data_never_promotes() {
    let test = "a_rollout_whose_metric_returns_no_data_never_promotes";
    let Some(mut world) = world(test, None) else { return };
    let tg = Tg::new();
    let id = ready_release(&tg);
    serve(&tg, &world);
    start(&tg, id, &plan(&world, Some("sum(rate(no_such_metric_total[3s]))")));

    // Then the analysis is inconclusive and the rollout holds at its first stage, paused.
    let paused = wait_for(&tg, &world, id, "a pause", |s| s["state"] == "paused");
    assert_eq!((paused["stage"].as_u64(), paused["weight"].as_u64()), (Some(0), Some(5)), "{paused:#}");
    assert_eq!(paused["stages_passed"], 0);
    assert!(paused["next"].as_str().unwrap().starts_with("paused: error-ratio: "), "{paused:#}");
    assert_eq!(canary_weight(&world), 13, "5% of haproxy's 256");
    // and the deployment is not finished: no promotion, no completion.
    let steps = rollout_facts(&tg);
    assert!(!steps.iter().any(|(_, s)| matches!(s, RolloutFact::StagePassed { .. } | RolloutFact::Completed)));
    assert!(!facts(&tg).iter().any(|f| matches!(f.event, Event::DeploymentFinished { .. })));
    let sent = Load::stop(&mut world);
    figure(format!(
        "FIGURE a metric with no data: paused at stage 0 (5%) after {} measurement(s), never promoted; {sent} requests of steady load",
        steps.iter().filter(|(_, s)| matches!(s, RolloutFact::Measured(m) if m.name == "error-ratio")).count()
    ));
}

#[test]
fn a_p1_alert_from_alertmanager_rolls_the_deployment_back() {
    let test = "a_p1_alert_from_alertmanager_rolls_the_deployment_back";
    let Some(mut world) = world(test, None) else { return };
    let tg = Tg::new();
    let id = ready_release(&tg);
    serve(&tg, &world);
    // Holds long enough that the alert comes in the middle of the rollout.
    start(&tg, id, &plan(&world, None).replace("hold = \"6s\"", "hold = \"60s\""));
    wait_for(&tg, &world, id, "stage 0", |s| s["stage"] == 0);

    // When Alertmanager posts a P1 alert for the service, authenticated as the on-call SRE
    let (url, token) = {
        let remote = tg.remote.lock().unwrap();
        let remote = remote.as_ref().unwrap();
        (remote.url.clone(), remote.token("omar"))
    };
    let notification = serde_json::json!({
        "version": "4", "groupKey": "{}:{alertname=\"CheckoutErrors\"}", "status": "firing", "receiver": "tollgate",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {"status": "firing", "labels": {"alertname": "CheckoutErrors", "service": "payments", "severity": "P1"},
             "annotations": {"summary": "checkout failing for 2% of users"}, "startsAt": Utc::now().to_rfc3339(),
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph", "fingerprint": "c0ffee0000000001"},
            {"status": "firing", "labels": {"alertname": "DiskFull", "service": "ledger", "severity": "P1"},
             "annotations": {}, "startsAt": Utc::now().to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "", "fingerprint": "c0ffee0000000002"}
        ]
    });
    let sent = Instant::now();
    let mut answer = components::agent()
        .post(&format!("{url}/api/v1/alertmanager"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(notification.to_string())
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer: Value = serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(answer["attributed"][0]["release"], id.to_string(), "{answer:#}");
    assert_eq!(answer["unattributed"][0]["alert"], "DiskFull/c0ffee0000000002", "{answer:#}");
    // A credential Alertmanager does not have is refused, and writes nothing.
    let forged = components::agent()
        .post(&format!("{url}/api/v1/alertmanager"))
        .header("Authorization", "Bearer tgt_forged_secret")
        .header("Content-Type", "application/json")
        .send(notification.to_string())
        .unwrap();
    assert_eq!(forged.status(), 401);

    // Then the executor rolls back on 4.5's P1 trigger, without approval
    wait_for(&tg, &world, id, "the end of the rollback", |s| s["state"] == "rolled back");
    let took = sent.elapsed();
    assert_eq!(canary_weight(&world), 0);
    let all = facts(&tg);
    let reason = all
        .iter()
        .find_map(|f| match &f.event {
            Event::RollbackStarted { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(reason.starts_with("automatic: p1-incident (Any P1 incident"), "{reason}");
    assert!(reason.contains("CheckoutErrors/c0ffee0000000001"), "{reason}");
    let incidents =
        all.iter().filter(|f| matches!(&f.event, Event::Rollout { fact: RolloutFact::Incident { .. }, .. })).count();
    assert_eq!(incidents, 1);
    let sent_requests = Load::stop(&mut world);
    figure(format!(
        "FIGURE a P1 alert posted by Alertmanager -> rollback complete (version 1 confirmed healthy): {} ms, measured by the test at the commit that showed it; {sent_requests} requests of steady load",
        took.as_millis()
    ));
}

#[test]
fn a_feature_flag_is_raised_through_5_25_100_in_unleash_as_prometheus_judges_each_stage() {
    let test = "a_feature_flag_is_raised_through_5_25_100_in_unleash_as_prometheus_judges_each_stage";
    let Some(mut world) = world(test, None) else { return };
    let unleash = FakeUnleash::start(UNLEASH_TOKEN, "new-checkout");
    let tg = Tg::new();
    let id = ready_release(&tg);
    // Given a server holding the Unleash admin token in the variable the plan names
    serve_with_env(&tg, &world, &[("UNLEASH_TOKEN", Some(UNLEASH_TOKEN))]);
    let began = Instant::now();
    start_with(&tg, id, "flag.toml", &flag_plan(&world, &unleash), "feature-flag `new-checkout` 5% (6s) → 25% (");

    // Then the executor raises the flag stage by stage and the rollout completes
    let done = wait_for(&tg, &world, id, "completion", |s| s["state"] == "completed");
    let took = began.elapsed();
    assert_eq!(
        (done["strategy"].as_str(), done["stages_passed"].as_u64()),
        (Some("feature-flag"), Some(3)),
        "{done:#}"
    );
    // with each rollout written to Unleash once, in order, and the flag on in production
    assert_eq!(unleash.rollouts(), ["5", "25", "100"]);
    assert_eq!(unleash.rollout().as_deref(), Some("100"));
    assert!(unleash.enabled(), "the flag is on in production");
    assert_eq!(canary_weight(&world), 0, "haproxy untouched: all traffic stayed on version 1");
    // and the log has each stage shifted at its weight and passed once, each promotion before
    // the next shift
    let steps = rollout_facts(&tg);
    let path: Vec<&RolloutFact> = steps
        .iter()
        .map(|(_, s)| s)
        .filter(|s| matches!(s, RolloutFact::Shifted { .. } | RolloutFact::StagePassed { .. } | RolloutFact::Completed))
        .collect();
    let expected = [
        RolloutFact::Shifted { stage: 0, weight: 5 },
        RolloutFact::StagePassed { stage: 0 },
        RolloutFact::Shifted { stage: 1, weight: 25 },
        RolloutFact::StagePassed { stage: 1 },
        RolloutFact::Shifted { stage: 2, weight: 100 },
        RolloutFact::StagePassed { stage: 2 },
        RolloutFact::Completed,
    ];
    assert_eq!(path, expected.iter().collect::<Vec<_>>());
    // each stage judged by Prometheus: at least the analysis's 2 samples, each a number under 1%
    for stage in 0..3 {
        let judged: Vec<f64> = steps
            .iter()
            .filter_map(|(_, s)| match s {
                RolloutFact::Measured(m) if m.stage == Some(stage) && m.name == "error-ratio" => Some(&m.measured),
                _ => None,
            })
            .map(|m| match m {
                tollgate_domain::rollout::analysis::Measured::Value(v) => *v,
                other => panic!("stage {stage} measured {other:?}"),
            })
            .collect();
        assert!(judged.len() >= 2 && judged.iter().all(|v| *v < 0.01), "stage {stage}: {judged:?}");
    }
    // and the deployment recorded as finished, successfully, by the person who started it
    let finished: Vec<_> = facts(&tg)
        .into_iter()
        .filter(|f| matches!(f.event, Event::DeploymentFinished { success: true, .. }))
        .map(|f| f.actor)
        .collect();
    assert_eq!(finished, ["dev"]);
    let measured = steps.iter().filter(|(_, s)| matches!(s, RolloutFact::Measured(_))).count();
    let requests = unleash.log_from(0).len();
    let sent = Load::stop(&mut world);
    figure(format!(
        "FIGURE feature flag 5/25/100 through Unleash's Admin API (6 s holds, 1 s analysis on version 1) completed in {:.1} s; {requests} requests to the fake Unleash, rollouts written {:?}; {measured} measurements recorded; {sent} requests of steady load through haproxy",
        took.as_secs_f64(),
        unleash.rollouts()
    ));
}

#[test]
fn a_server_without_the_unleash_token_rolls_the_flag_back_naming_the_variable() {
    let test = "a_server_without_the_unleash_token_rolls_the_flag_back_naming_the_variable";
    let Some(mut world) = world(test, None) else { return };
    let unleash = FakeUnleash::start(UNLEASH_TOKEN, "new-checkout");
    let tg = Tg::new();
    let id = ready_release(&tg);
    // Given a server without the variable the plan names for the token
    serve_with_env(&tg, &world, &[("UNLEASH_TOKEN", None)]);
    let began = Instant::now();
    start_with(&tg, id, "flag.toml", &flag_plan(&world, &unleash), "feature-flag `new-checkout` 5% (");

    // Then the first shift fails the executor's three attempts and it rolls back on its own,
    // naming the variable
    let rolling = wait_for(&tg, &world, id, "a rollback", |s| s["state"] == "rolling back");
    let decided = began.elapsed();
    assert_eq!((rolling["stage"].as_u64(), rolling["stages_passed"].as_u64()), (None, Some(0)), "{rolling:#}");
    assert_eq!(rolling["next"], "traffic goes back to the previous version", "{rolling:#}");
    let started =
        facts(&tg).into_iter().find(|f| matches!(f.event, Event::RollbackStarted { .. })).expect("a rollback");
    let Event::RollbackStarted { reason, .. } = &started.event else { unreachable!() };
    assert_eq!(
        reason,
        "automatic: the target failed 3 shifts in a row, the split is unknown: the server has no environment variable UNLEASH_TOKEN holding the Unleash token"
    );
    assert_eq!(started.actor, "dev");
    assert!(!rollout_facts(&tg).iter().any(|(_, s)| matches!(s, RolloutFact::Shifted { .. })));
    // The restore cannot reach Unleash without the token either: that server never sent it a
    // request, from the first shift to its stop.
    tg.stop_server();
    assert_eq!(unleash.log_from(0), Vec::<String>::new());

    // When the server is started again with the token
    serve_with_env(&tg, &world, &[("UNLEASH_TOKEN", Some(UNLEASH_TOKEN))]);
    let restarted = Instant::now();

    // Then the rollback restores the flag to 0%, leaves it off, and completes once version 1
    // answers healthy
    let done = wait_for(&tg, &world, id, "the end of the rollback", |s| s["state"] == "rolled back");
    let restored = restarted.elapsed();
    assert_eq!(done["stages_passed"], 0, "{done:#}");
    assert_eq!(unleash.rollouts(), ["0"]);
    assert!(!unleash.enabled(), "the flag was never turned on");
    let steps = rollout_facts(&tg);
    assert_eq!(steps.iter().filter(|(_, s)| *s == RolloutFact::TrafficRestored).count(), 1);
    assert!(!steps.iter().any(|(_, s)| matches!(s, RolloutFact::Shifted { .. } | RolloutFact::StagePassed { .. })));
    let all = facts(&tg);
    assert_eq!(all.iter().filter(|f| matches!(f.event, Event::RollbackCompleted { .. })).count(), 1);
    assert!(!all.iter().any(|f| matches!(f.event, Event::DeploymentFinished { success: true, .. })));
    let sent = Load::stop(&mut world);
    figure(format!(
        "FIGURE a server without the Unleash token: rollback started {:.1} s after the rollout (3 failed shifts), no request reached Unleash; restarted with the token, rolled back (flag written at 0%, left off; version 1 confirmed healthy) {:.1} s after the restart; {sent} requests of steady load",
        decided.as_secs_f64(),
        restored.as_secs_f64()
    ));
}
