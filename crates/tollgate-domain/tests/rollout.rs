//! Rollouts Tollgate's executor runs, as `decide` holds them to the procedure: starting one is a
//! deployment with all its rules; every step is checked against the rollout as recorded, so a
//! promotion the analysis did not pass is refused whoever records it (4.4.4), the go decider
//! records none of it (3.4), and a rollback needs no approval but completes only once traffic
//! is back on the previous version (4.5).

mod support;

use std::sync::Arc;

use support::*;
use tollgate_domain::policy::Opens;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::rollout::analysis::Measured;
use tollgate_domain::rollout::progress::{Measurement, RolloutFact, RolloutPlan, SmokeRecord};
use tollgate_domain::{Command, Event};

const CANARY: &str = r#"strategy = "canary"
steps = [{ weight = 5, hold = "1m" }, { weight = 100, hold = "1m" }]
prometheus = "http://prometheus:9090"

[target]
kind = "haproxy"
admin = "/run/haproxy/admin.sock"
backend = "shop"
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
health = "http://shop/healthz"
interval = "10s"

[[smoke]]
name = "home"
url = "http://shop/"
"#;

fn plan(text: &str) -> Arc<RolloutPlan> {
    let plan = tollgate_profile::load_plan("canary.toml", text).unwrap();
    Arc::new(RolloutPlan { name: "canary.toml".into(), sha256: "0".repeat(64), text: text.into(), plan })
}

/// A minor release whose deployment gate is open, the go decision taken by rita.
fn ready(w: &mut World) -> ReleaseId {
    let id = w.release_ready_to_deploy("minor");
    w.open_gate_but(id, "go-decision");
    w.ok("rita", Command::Go { release: id });
    id
}

/// Starts the rollout and takes its error-rate baseline.
fn start(w: &mut World, id: ReleaseId, text: &str) -> Vec<Event> {
    let events = w.ok(
        "dev",
        Command::StartRollout { release: id, environment: "production".into(), plan: plan(text), artefact: None },
    );
    let baseline = RolloutFact::Measured(Measurement {
        stage: None,
        name: "error-rate".into(),
        query: "q".into(),
        at: w.now,
        measured: Measured::Value(0.002),
    });
    step(w, "dev", id, baseline).unwrap();
    events
}

fn step(w: &mut World, actor: &str, id: ReleaseId, fact: RolloutFact) -> Result<Vec<Event>, Vec<String>> {
    match w.run(actor, Command::RecordRollout { release: id, fact }) {
        Ok(events) => Ok(events),
        Err(tollgate_domain::Rejection::Refused(r)) => {
            Err(r.into_iter().map(|r| format!("[{}] {}", r.rule, r.reason)).collect())
        }
        Err(other) => Err(vec![other.to_string()]),
    }
}

fn measured(w: &World, value: f64) -> RolloutFact {
    RolloutFact::Measured(Measurement {
        stage: Some(0),
        name: "error-ratio".into(),
        query: "q".into(),
        at: w.now,
        measured: Measured::Value(value),
    })
}

#[test]
fn starting_a_rollout_is_a_deployment_with_its_plan_artefact_and_rollback_target() {
    let mut w = World::qms();
    let id = ready(&mut w);
    let events = start(&mut w, id, CANARY);
    assert!(matches!(&events[0], Event::DeploymentStarted { environment, .. } if environment == "production"));
    let Event::RolloutStarted { artefact, previous, .. } = &events[1] else { panic!("{events:?}") };
    let only = w.release(id).artefacts.values().next().unwrap().digest.clone();
    assert_eq!(*artefact, only);
    assert_eq!(*previous, None, "the first release of the service has nothing to go back to");
}

#[test]
fn the_go_decider_can_neither_start_a_rollout_nor_record_its_steps() {
    let mut w = World::qms();
    let id = ready(&mut w);
    w.ok("eve", Command::GrantRoles { name: "rita".into(), roles: ["devops-engineer".into()].into() });
    let refused = w.refused(
        "rita",
        Command::StartRollout { release: id, environment: "production".into(), plan: plan(CANARY), artefact: None },
    );
    assert!(rules(&refused).contains("separation-of-duties"), "{refused:?}");
    start(&mut w, id, CANARY);
    let refused = step(&mut w, "rita", id, RolloutFact::Shifted { stage: 0, weight: 5 }).unwrap_err();
    assert!(refused.iter().any(|r| r.starts_with("[separation-of-duties]")), "{refused:?}");
}

#[test]
fn a_plan_without_a_target_is_refused_naming_the_field() {
    let mut w = World::qms();
    let id = ready(&mut w);
    let no_target = CANARY.replace("[target]\nkind = \"haproxy\"\nadmin = \"/run/haproxy/admin.sock\"\nbackend = \"shop\"\nstable = \"v1\"\ncanary = \"v2\"\n", "");
    let invalid = w.invalid(
        "dev",
        Command::StartRollout { release: id, environment: "production".into(), plan: plan(&no_target), artefact: None },
    );
    assert!(invalid.iter().any(|m| m.contains("names no [target]")), "{invalid:?}");
}

#[test]
fn steps_follow_the_plan_and_a_promotion_needs_a_passed_analysis() {
    let mut w = World::qms();
    let id = ready(&mut w);
    start(&mut w, id, CANARY);
    // A shift that skips a stage is refused; the plan's first is taken.
    let skip = step(&mut w, "dev", id, RolloutFact::Shifted { stage: 1, weight: 100 }).unwrap_err();
    assert!(
        skip[0].starts_with("[rollout] stage 1 at 100% is not what the plan does next (next: stage 0 at 5%)"),
        "{skip:?}"
    );
    step(&mut w, "dev", id, RolloutFact::Shifted { stage: 0, weight: 5 }).unwrap();
    // Given the smoke check passed and two passing measurements (three needed)
    let smoke = SmokeRecord {
        stage: 0,
        name: "home".into(),
        url: "http://shop/".into(),
        status: Some(200),
        passed: true,
        detail: "answered 200".into(),
    };
    step(&mut w, "dev", id, RolloutFact::SmokeChecked(smoke)).unwrap();
    for _ in 0..2 {
        w.pass(chrono::Duration::seconds(10));
        let m = measured(&w, 0.001);
        step(&mut w, "dev", id, m).unwrap();
    }
    // When the hold is over, then a promotion is still refused: the analysis is inconclusive
    w.pass(chrono::Duration::minutes(1));
    let early = step(&mut w, "dev", id, RolloutFact::StagePassed { stage: 0 }).unwrap_err();
    assert!(early[0].contains("2 passing measurement(s), 3 needed"), "{early:?}");
    // and with a third passing measurement, the stage passes
    let m = measured(&w, 0.002);
    step(&mut w, "dev", id, m).unwrap();
    step(&mut w, "dev", id, RolloutFact::StagePassed { stage: 0 }).unwrap();
    // A completion before the last stage is refused.
    let done = step(&mut w, "dev", id, RolloutFact::Completed).unwrap_err();
    assert!(done[0].contains("stages still to pass (next: stage 1 at 100%)"), "{done:?}");
}

#[test]
fn a_failed_analysis_refuses_promotion_and_the_rollback_needs_the_traffic_restored() {
    let mut w = World::qms();
    let id = ready(&mut w);
    start(&mut w, id, CANARY);
    step(&mut w, "dev", id, RolloutFact::Shifted { stage: 0, weight: 5 }).unwrap();
    let m = measured(&w, 0.05);
    step(&mut w, "dev", id, m).unwrap();
    let refused = step(&mut w, "dev", id, RolloutFact::StagePassed { stage: 0 }).unwrap_err();
    assert!(refused[0].contains("error-ratio: 1 measurement(s) failed `< 0.01`"), "{refused:?}");
    // The deployment's end is the executor's to record while it runs.
    let by_hand = w.refused("dev", Command::DeploymentFinished { release: id, success: true });
    assert_eq!(rules(&by_hand), ["rollout".to_owned()].into());
    // The on-call engineer's call: one command, no approval.
    let events = w.ok("omar", Command::StartRollback { release: id, reason: "error ratio 5%".into() });
    assert!(matches!(events[0], Event::DeploymentFinished { success: false, .. }));
    // The rollback completes only once the traffic is back on the previous version.
    let early = w.refused("omar", Command::CompleteRollback { release: id });
    assert_eq!(rules(&early), ["rollout".to_owned()].into());
    step(&mut w, "dev", id, RolloutFact::TrafficRestored).unwrap();
    let twice = step(&mut w, "dev", id, RolloutFact::TrafficRestored).unwrap_err();
    assert!(twice[0].contains("only during a rollback, once"), "{twice:?}");
    w.ok("omar", Command::CompleteRollback { release: id });
}

#[test]
fn an_emergency_goes_direct_with_its_rollback_target_confirmed() {
    let mut w = World::qms();
    // A first emergency of the service: nothing earlier stabilised to go back to.
    let id = w.create("emergency", chrono::Duration::zero());
    while w.release(id).phase != tollgate_domain::lifecycle::Phase::Deployment {
        w.open_gate(id, Opens::Advance);
        w.sign_off(id);
    }
    w.open_gate_but(id, "go-decision");
    let decider = "rita";
    w.ok(decider, Command::Go { release: id });
    let canary = w.refused(
        "dev",
        Command::StartRollout { release: id, environment: "production".into(), plan: plan(CANARY), artefact: None },
    );
    let reasons: Vec<&str> = canary.iter().map(|r| r.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("strategy: `canary`, where the release type rolls out by `direct`")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("rollback target must be confirmed")), "{reasons:?}");
}

/// CANARY with its last stage one-way: the 100% stage runs a migration that drops a column.
fn one_way_canary() -> String {
    CANARY.replace(
        "{ weight = 100, hold = \"1m\" }",
        "{ weight = 100, hold = \"1m\", one-way = \"migration 42 drops orders.total\" }",
    )
}

fn smoked(stage: u32) -> SmokeRecord {
    SmokeRecord {
        stage,
        name: "home".into(),
        url: "http://shop/".into(),
        status: Some(200),
        passed: true,
        detail: "answered 200".into(),
    }
}

/// Stage 0 of a rollout shifted, smoke-checked, measured three times and promoted.
fn promote_stage_0(w: &mut World, id: ReleaseId) {
    step(w, "dev", id, RolloutFact::Shifted { stage: 0, weight: 5 }).unwrap();
    step(w, "dev", id, RolloutFact::SmokeChecked(smoked(0))).unwrap();
    for _ in 0..3 {
        w.pass(chrono::Duration::seconds(20));
        let m = measured(w, 0.001);
        step(w, "dev", id, m).unwrap();
    }
    step(w, "dev", id, RolloutFact::StagePassed { stage: 0 }).unwrap();
}

#[test]
fn a_one_way_step_waits_for_the_release_managers_approval_and_then_only_rolls_forward() {
    let mut w = World::qms();
    let id = ready(&mut w);
    start(&mut w, id, &one_way_canary());
    promote_stage_0(&mut w, id);
    // Given the next stage is one-way, when the executor shifts to it unapproved, then it is refused
    let early = step(&mut w, "dev", id, RolloutFact::Shifted { stage: 1, weight: 100 }).unwrap_err();
    assert!(
        early[0].contains(
            "stage 1 is one-way (migration 42 drops orders.total) and waits for the release manager's approval"
        ),
        "{early:?}"
    );
    // The one running the rollout cannot approve it, nor can someone without the authority
    let own = step(&mut w, "dev", id, RolloutFact::OneWayApproved { stage: 1 }).unwrap_err();
    assert!(own.iter().any(|r| r.starts_with("[separation-of-duties] dev runs the rollout")), "{own:?}");
    let sre = step(&mut w, "omar", id, RolloutFact::OneWayApproved { stage: 1 }).unwrap_err();
    assert!(sre.iter().any(|r| r.contains("approve-one-way-step")), "{sre:?}");
    // The release manager approves (the go decider executes nothing by approving)
    step(&mut w, "rita", id, RolloutFact::OneWayApproved { stage: 1 }).unwrap();
    let twice = step(&mut w, "rita", id, RolloutFact::OneWayApproved { stage: 1 }).unwrap_err();
    assert!(twice[0].contains("not a one-way step waiting for approval"), "{twice:?}");
    step(&mut w, "dev", id, RolloutFact::Shifted { stage: 1, weight: 100 }).unwrap();
    step(&mut w, "dev", id, RolloutFact::SmokeChecked(smoked(1))).unwrap();
    // When the analysis fails past the one-way step, then nothing rolls back: not the on-call's
    // call, not the executor; the executor records the roll-forward
    let bad = RolloutFact::Measured(Measurement {
        stage: Some(1),
        name: "error-ratio".into(),
        query: "q".into(),
        at: w.now,
        measured: Measured::Value(0.2),
    });
    step(&mut w, "dev", id, bad).unwrap();
    let rollback = w.refused("omar", Command::StartRollback { release: id, reason: "error ratio 20%".into() });
    assert_eq!(rules(&rollback), ["roll-forward".to_owned()].into());
    assert!(rollback[0].reason.contains("release the fix (an emergency release when urgent, 4.6)"), "{rollback:?}");
    let restore = step(&mut w, "dev", id, RolloutFact::TrafficRestored).unwrap_err();
    assert!(restore[0].contains("only during a rollback"), "{restore:?}");
    let reason = "the analysis of stage 1 at 100% failed; stage 1 was one-way".to_owned();
    step(&mut w, "dev", id, RolloutFact::RolledForward { reason }).unwrap();
    // and the deployment's end is the people's to record again
    w.ok("dev", Command::DeploymentFinished { release: id, success: false });
}

#[test]
fn before_its_one_way_step_a_rollout_still_rolls_back() {
    let mut w = World::qms();
    let id = ready(&mut w);
    start(&mut w, id, &one_way_canary());
    step(&mut w, "dev", id, RolloutFact::Shifted { stage: 0, weight: 5 }).unwrap();
    let forward = step(&mut w, "dev", id, RolloutFact::RolledForward { reason: "x".into() }).unwrap_err();
    assert!(forward[0].contains("nothing calls for a roll-forward"), "{forward:?}");
    w.ok("omar", Command::StartRollback { release: id, reason: "error ratio 5%".into() });
}

fn signal(w: &World, stage: u32, name: &str, value: f64) -> RolloutFact {
    RolloutFact::Measured(Measurement {
        stage: Some(stage),
        name: name.into(),
        query: "q".into(),
        at: w.now,
        measured: Measured::Value(value),
    })
}

fn criterion(w: &World, id: ReleaseId, gate: &str, criterion: &str) -> (bool, String) {
    let verdict = w.gate(id, gate);
    let c = verdict.criteria.iter().find(|c| c.id == criterion).unwrap_or_else(|| panic!("no {criterion}"));
    (c.met, c.reason.clone())
}

#[test]
fn the_rollouts_record_is_the_deployment_and_stabilisation_gates_evidence_not_a_persons_word() {
    // Given a rollout through both stages, its smoke checks passed at each and no trigger fired
    let mut w = World::qms();
    let id = ready(&mut w);
    start(&mut w, id, CANARY);
    promote_stage_0(&mut w, id);
    step(&mut w, "dev", id, RolloutFact::Shifted { stage: 1, weight: 100 }).unwrap();
    step(&mut w, "dev", id, RolloutFact::SmokeChecked(smoked(1))).unwrap();
    for _ in 0..3 {
        w.pass(chrono::Duration::seconds(20));
        let m = RolloutFact::Measured(Measurement {
            stage: Some(1),
            ..match measured(&w, 0.001) {
                RolloutFact::Measured(m) => m,
                _ => unreachable!(),
            }
        });
        step(&mut w, "dev", id, m).unwrap();
        let rate = signal(&w, 1, "error-rate", 0.002);
        step(&mut w, "dev", id, rate).unwrap();
    }
    step(&mut w, "dev", id, RolloutFact::StagePassed { stage: 1 }).unwrap();
    step(&mut w, "dev", id, RolloutFact::Completed).unwrap();
    // Then the deployment gate reads the smoke checks and the triggers from the record, with the
    // monitoring snapshot at completion
    let (met, why) = criterion(&w, id, "deployment", "smoke-tests-passed");
    assert!(met && why.contains("2 smoke check(s) passed over 2 stage(s)"), "{why}");
    let (met, why) = criterion(&w, id, "deployment", "no-rollback-trigger");
    assert!(met && why.contains("error-rate 0.002 (baseline 0.002)"), "{why}");
    // When production's error rate runs 50% above the baseline after completion, then the
    // stabilisation gate's "metrics within SLO" is unmet, whatever a person confirms
    w.pass(chrono::Duration::seconds(10));
    let high = signal(&w, 1, "error-rate", 0.003);
    step(&mut w, "dev", id, high).unwrap();
    let health = signal(&w, 1, "health", 200.0);
    step(&mut w, "dev", id, health).unwrap();
    let (met, why) = criterion(&w, id, "stabilisation", "metrics-within-slo");
    assert!(
        !met && why.contains("error-rate mean 0.003 over 1 reading(s), baseline 0.002, at most 0.0022 allowed"),
        "{why}"
    );
    // and when it comes back under the baseline, the mean over the window is within 10%
    for _ in 0..3 {
        w.pass(chrono::Duration::seconds(10));
        let back = signal(&w, 1, "error-rate", 0.0018);
        step(&mut w, "dev", id, back).unwrap();
    }
    let (met, why) = criterion(&w, id, "stabilisation", "metrics-within-slo");
    assert!(met && why.contains("error-rate mean 0.0021 over 4 reading(s)"), "{why}");
    assert!(why.contains("the last health check answered 200"), "{why}");
    // When it degrades again and the window ends, then the operations lead's confirmation does
    // not stand in for the record
    let worse = signal(&w, 1, "error-rate", 0.01);
    step(&mut w, "dev", id, worse).unwrap();
    w.pass(chrono::Duration::hours(2));
    w.ok("omar", Command::Confirm { release: id, confirmation: "metrics-within-slo".into(), comment: None });
    let (met, why) = criterion(&w, id, "stabilisation", "metrics-within-slo");
    assert!(!met && why.contains("error-rate mean 0.00368 over 5 reading(s)"), "{why}");
}
