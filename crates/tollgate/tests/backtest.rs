//! `tollgate analysis backtest` on a store holding a recorded rollout: a canary 5% → 100% whose
//! every step (shift, smoke check, each measurement, promotion, completion) went through
//! `decide` as the executor records it, at simulated times in the hour before now, so nothing
//! waits on the real clock. A tighter threshold is then backtested through the binary, embedded
//! and as a client of `tollgate serve` (the plan file uploaded).

mod support;

use std::sync::Arc;

use chrono::Utc;
use support::Tg;
use support::walk::Walk;
use tollgate_app::codec::time;
use tollgate_domain::playbook::Runner;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::rollout::analysis::Measured;
use tollgate_domain::rollout::progress::{Measurement, RolloutFact, SmokeRecord};
use tollgate_domain::{Command, Timestamp};

/// The plan the rollout ran: error ratio under 1%, three samples, each stage held a minute.
const CANARY: &str = r#"strategy = "canary"
steps = [{ weight = 5, hold = "1m" }, { weight = 100, hold = "1m" }]
prometheus = "http://prometheus:9090"

[target]
kind = "haproxy"
admin = "/run/haproxy/admin.sock"
backend = "payments"
stable = "v1"
canary = "v2"

[[analysis]]
name = "error-ratio"
query = "sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))"
condition = "< 0.01"
interval = "10s"
min-samples = 3

[signals]
error-rate = "sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))"
health = "http://payments/healthz"

[[smoke]]
name = "home"
url = "http://payments/"
"#;

impl Walk {
    fn step(&mut self, id: ReleaseId, fact: RolloutFact) {
        self.run("dev", Command::RecordRollout { release: id, fact }).unwrap();
    }

    /// Stage `stage` shifted now, its smoke check passed, `ratios` measured every 10 s from 10 s
    /// after the shift, then promoted a second after its minute's hold. When it was shifted.
    fn stage(&mut self, id: ReleaseId, stage: u32, weight: u32, ratios: &[f64]) -> Timestamp {
        let shifted = self.now;
        self.step(id, RolloutFact::Shifted { stage, weight });
        let smoke = SmokeRecord {
            stage,
            name: "home".into(),
            url: "http://payments/".into(),
            status: Some(200),
            passed: true,
            detail: "answered 200".into(),
        };
        self.step(id, RolloutFact::SmokeChecked(smoke));
        for (i, ratio) in ratios.iter().enumerate() {
            self.now = shifted + chrono::Duration::seconds(10 * (i as i64 + 1));
            let at = self.now;
            let query = "sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))".into();
            let m = Measurement {
                stage: Some(stage),
                name: "error-ratio".into(),
                query,
                at,
                measured: Measured::Value(*ratio),
            };
            self.step(id, RolloutFact::Measured(m));
        }
        self.now = shifted + chrono::Duration::seconds(61);
        self.step(id, RolloutFact::StagePassed { stage });
        shifted
    }
}

/// A store holding release `payments 3.1.0` rolled out by [`CANARY`] through both stages in the
/// hour before now, the error ratio 0.7% once in stage 0 (30 s after its shift) and 0.1-0.2%
/// otherwise.
/// The release, and when stage 0 was shifted.
fn rolled_out(tg: &Tg) -> (ReleaseId, Timestamp) {
    let (mut walk, id) = support::walk::ready_release(&tg.db);
    let plan = Arc::new(tollgate_app::codec_rollout::plan_from_text("canary.toml", CANARY).unwrap());
    let start = Command::StartRollout { release: id, environment: "production".into(), plan, artefact: None };
    walk.run("dev", start).unwrap();
    let baseline = Measurement {
        stage: None,
        name: "error-rate".into(),
        query: "sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))".into(),
        at: walk.now,
        measured: Measured::Value(0.002),
    };
    walk.step(id, RolloutFact::Measured(baseline));
    let stage_0 = walk.stage(id, 0, 5, &[0.001, 0.002, 0.007, 0.001, 0.002, 0.001]);
    walk.stage(id, 1, 100, &[0.001; 6]);
    walk.step(id, RolloutFact::Completed);
    let release = &walk.app.state().releases[&id];
    assert!(release.rollouts[0].finished() && release.live_since().is_some(), "the rollout completed");
    assert!(walk.now < Utc::now(), "the walk ran into the present");
    (id, stage_0)
}

/// Writes `text` as a plan file beside the store: its path.
fn plan_file(tg: &Tg, name: &str, text: &str) -> String {
    let path = tg.path(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_tighter_threshold_is_reported_to_have_rolled_back_the_stage_it_would_have() {
    // Given a rollout promoted through 5% and 100% with one 0.7% error ratio at 30 s in stage 0
    let tg = Tg::new();
    let (id, stage_0) = rolled_out(&tg);
    let id = id.to_string();
    // When a plan allowing only 0.5% is backtested on it
    let tighter = plan_file(&tg, "tighter.toml", &CANARY.replace("< 0.01", "< 0.005"));
    let text = tg.ok("rita", &["analysis", "backtest", &tighter, "--release", &id]);
    // Then stage 0 is reported as differing: promoted, but rolled back at 30 s by the candidate
    let failed_at = stage_0 + chrono::Duration::seconds(30);
    let when = tollgate_domain::gate::when(failed_at);
    assert!(text.contains("stage 0 at 5%, 6 measurement(s) judged: DIFFERS"), "{text}");
    assert!(
        text.contains(&format!(
            "candidate: rolled back at {when} (error-ratio: 1 measurement(s) failed `< 0.005` (limit 0), last 0.007)"
        )),
        "{text}"
    );
    assert!(text.contains("stage 1 at 100%, 6 measurement(s) judged: same (not reached under the candidate"), "{text}");
    assert!(text.trim_end().ends_with("2 stage(s) judged, 1 would have differed"), "{text}");
    // And the JSON says the same, with the time
    let v = tg.json("rita", &["analysis", "backtest", &tighter, "--service", "payments"]);
    assert_eq!(v["stages_judged"], 2, "{v}");
    assert_eq!(v["stages_differing"], 1, "{v}");
    let stage = &v["releases"][0]["rollouts"][0]["stages"][0];
    assert_eq!(stage["recorded"]["outcome"], "promoted", "{v}");
    assert_eq!(stage["candidate"]["outcome"], "failed", "{v}");
    assert_eq!(stage["candidate"]["at"], time(failed_at), "{v}");
    assert_eq!(stage["differs"], true, "{v}");

    // When the plan that ran is backtested, then nothing differs and nothing is to be said
    let same = plan_file(&tg, "same.toml", CANARY);
    let v = tg.json("rita", &["analysis", "backtest", &same]);
    assert_eq!((v["stages_judged"].as_u64(), v["stages_differing"].as_u64()), (Some(2), Some(0)), "{v}");
    assert_eq!(v["releases"][0]["rollouts"][0]["findings"], serde_json::json!([]), "{v}");

    // When the candidate measures a metric the rollout never measured, then it is a finding,
    // and every stage would have paused on it: it never passes
    let p99 = "\n[[analysis]]\nname = \"checkout-p99\"\nquery = \"histogram_quantile(0.99, rate(latency_bucket[1m]))\"\ncondition = \"< 0.3\"\ninterval = \"10s\"\n";
    let unknown = plan_file(&tg, "p99.toml", &format!("{CANARY}{p99}"));
    let text = tg.ok("rita", &["analysis", "backtest", &unknown]);
    assert!(
        text.contains("finding: `checkout-p99` was never measured in this rollout: it cannot be backtested"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("2 stage(s) judged, 2 would have differed"), "{text}");

    // When the plan does not parse, then its file, line and field are named, and exit 1
    let bad = plan_file(&tg, "bad.toml", &CANARY.replace("< 0.01", "below 0.01"));
    let out = tg.run("rita", &["analysis", "backtest", &bad]);
    support::check(&out, 1, &["analysis", "backtest", &bad]);
    let said = support::stderr(&out);
    let line = CANARY.lines().position(|l| l.starts_with("condition")).unwrap() + 1;
    assert!(said.contains(&format!("{bad}:{line}:1: analysis[0].condition: `below 0.01`")), "{said}");

    // And as a client of the server, the plan uploaded, the answer is the embedded one
    tg.serve("rita");
    let remote = tg.ok("rita", &["analysis", "backtest", &tighter, "--release", &id]);
    let local = tg.local("rita", &["analysis", "backtest", &tighter, "--release", &id]);
    assert_eq!(remote, String::from_utf8(local.stdout).unwrap());
}
