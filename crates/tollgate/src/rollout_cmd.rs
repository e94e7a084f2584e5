//! `tollgate rollout`: starting a deployment that Tollgate's executor carries out by a plan,
//! seeing where it is, resuming one the analysis paused, and reading a plan file. The
//! executor itself runs in `tollgate serve` (`serve::executor`); the on-call engineer's call
//! to roll back is `tollgate release rollback`, one command, no approval.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tollgate_app::App;
use tollgate_app::codec::time;
use tollgate_app::codec_rollout::plan_from_text;
use tollgate_domain::decide::describe_next;
use tollgate_domain::gate::when;
use tollgate_domain::rollout::analysis::{Measured, Verdict};
use tollgate_domain::rollout::plan::{Plan, Strategy};
use tollgate_domain::rollout::progress::{self, RolloutFact, RolloutPlan};
use tollgate_domain::{Command, State};
use tollgate_ledger::SqliteLedger;

use crate::cli::RolloutCmd;
use crate::run::{Ctx, Failure, artefact_digest, error, release_id};
use crate::view::View;

/// A plan is a page of TOML, not a data file.
const MAX_PLAN: u64 = 1 << 20;

pub(crate) fn read_plan(path: &Path) -> Result<RolloutPlan, Failure> {
    let text = crate::files::read_text(path, MAX_PLAN, "a rollout plan is TOML text")?;
    let name = path.display().to_string();
    plan_from_text(&name, &text).map_err(|e| error(e.to_string()))
}

pub(crate) fn run(ctx: &Ctx, app: &mut App<SqliteLedger>, cmd: RolloutCmd) -> Result<(), Failure> {
    match cmd {
        RolloutCmd::Start { id, env, plan, artefact } => {
            let release = release_id(&id)?;
            let plan = Arc::new(read_plan(&plan)?);
            let artefact = artefact.as_deref().map(artefact_digest).transpose()?;
            let stages = stages(&plan.plan);
            let command = Command::StartRollout { release, environment: env.clone(), plan, artefact };
            let r = ctx.execute(app, command)?;
            ctx.done(
                &r,
                format!("{release}: rollout to {env} started ({stages}); the executor of `tollgate serve` runs it"),
            );
        }
        RolloutCmd::Resume { id } => {
            let release = release_id(&id)?;
            let r = ctx.execute(app, Command::RecordRollout { release, fact: RolloutFact::Resumed })?;
            ctx.done(&r, format!("{release}: rollout resumed; the stage's analysis starts again"));
        }
        RolloutCmd::Approve { id, stage } => {
            let release = release_id(&id)?;
            let r =
                ctx.execute(app, Command::RecordRollout { release, fact: RolloutFact::OneWayApproved { stage } })?;
            ctx.done(
                &r,
                format!("{release}: one-way step of stage {stage} approved; from it on the deployment rolls forward"),
            );
        }
        RolloutCmd::Incident { id, reference, severity, summary, raised } => {
            let release = release_id(&id)?;
            let raised = match raised {
                Some(text) => ctx.time(&text, "--raised")?,
                None => ctx.now(),
            };
            let fact =
                RolloutFact::Incident { reference: reference.clone(), severity: severity.clone(), summary, raised };
            let r = ctx.execute(app, Command::RecordRollout { release, fact })?;
            ctx.done(&r, format!("{release}: {severity} incident {reference} attributed to the deployment"));
        }
        RolloutCmd::Status { .. } | RolloutCmd::Check { .. } => unreachable!("{}", crate::run::READ),
    }
    Ok(())
}

/// `rollout check`: needs no store.
pub(crate) fn check(ctx: &Ctx, path: &Path) -> Result<(), Failure> {
    let plan = read_plan(path)?;
    let p = &plan.plan;
    let json = json!({
        "plan": plan.name,
        "sha256": plan.sha256,
        "strategy": p.strategy.key(),
        "stages": p.strategy.steps().iter().map(|s| json!({"weight": s.weight, "hold_seconds": s.hold.num_seconds()})).collect::<Vec<_>>(),
        "analysis": p.analysis.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
        "smoke": p.smoke.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "target": p.target.as_ref().map(|t| t.kind()),
    });
    let text = format!(
        "{}: {}; analysis {}; smoke checks {}; target {}",
        plan.name,
        stages(p),
        names(p.analysis.iter().map(|m| m.name.as_str())),
        names(p.smoke.iter().map(|s| s.name.as_str())),
        p.target.as_ref().map_or("none (the plan can be checked, not run)", |t| t.kind())
    );
    ctx.print(View { json, text });
    Ok(())
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    if all.is_empty() { "none".into() } else { all.join(", ") }
}

/// `canary 5% (5m) → 25% (10m) → 100%`.
pub(crate) fn stages(plan: &Plan) -> String {
    let steps: Vec<String> = plan
        .strategy
        .steps()
        .iter()
        .map(|s| {
            if s.hold.is_zero() {
                format!("{}%", s.weight)
            } else {
                format!("{}% ({})", s.weight, tollgate_domain::time::format_duration(s.hold))
            }
        })
        .collect();
    let strategy = match &plan.strategy {
        Strategy::FeatureFlag { flag, .. } => format!("feature-flag `{flag}`"),
        other => other.key().to_owned(),
    };
    format!("{strategy} {}", steps.join(" → "))
}

/// `rollout status`: from the state alone.
pub(crate) fn status(ctx: &Ctx, state: &State, id: &str) -> Result<(), Failure> {
    let release = release_id(id)?;
    let r = state.releases.get(&release).ok_or_else(|| error(format!("unknown release {release}")))?;
    let Some(rollout) = r.rollouts.last() else {
        return Err(error(format!("{release} has no rollout; start one with `tollgate rollout start {release}`")));
    };
    let now = ctx.now();
    let rolling_back = r.active_rollout().and_then(|(_, rb)| rb);
    let next = progress::current(r, state.policy_of(r), now)
        .map_or_else(|| progress::Next::Idle("nothing: the rollout is over".into()), |(_, next)| next);
    let verdict = match rollout.verdict(now) {
        Verdict::Passed => "passed".to_owned(),
        Verdict::Running => "measuring".to_owned(),
        Verdict::Failed(why) => format!("failed: {why}"),
        Verdict::Inconclusive(why) => format!("inconclusive: {why}"),
    };
    let state_word = if rolling_back.is_some() {
        "rolling back"
    } else if rollout.rolled_forward.is_some() {
        "rolling forward"
    } else if rollout.finished() {
        "completed"
    } else if rollout.paused.is_some() {
        "paused"
    } else if r.rollbacks.last().is_some_and(|rb| rb.started.at >= rollout.started.at) {
        "rolled back"
    } else {
        "running"
    };
    // A completed rollout's signals are watched for 4.5's triggers through stabilisation.
    let watching = rollout.finished() && rolling_back.is_none() && !matches!(next, progress::Next::Idle(_));
    let stage = rollout.current();
    let measurements: Vec<Value> = rollout
        .measurements
        .iter()
        .rev()
        .take(20)
        .map(|m| {
            json!({"stage": m.stage, "name": m.name, "query": m.query, "at": time(m.at), "measured": measured(&m.measured)})
        })
        .collect();
    let json = json!({
        "release": release.to_string(),
        "state": state_word,
        "watching": watching,
        "plan": rollout.plan.name,
        "plan_sha256": rollout.plan.sha256,
        "strategy": rollout.plan.plan.strategy.key(),
        "environment": rollout.environment,
        "artefact": rollout.artefact.to_string(),
        "previous": rollout.previous.as_ref().map(ToString::to_string),
        "one_way": rollout.plan.plan.one_way.iter().map(|o| json!({"stage": o.stage, "says": o.says})).collect::<Vec<_>>(),
        "rolled_forward": rollout.rolled_forward.as_ref().map(|f| f.value.clone()),
        "stage": stage.map(|s| s.index),
        "weight": stage.map_or(0, |s| s.weight),
        "stages_passed": rollout.stages.iter().filter(|s| s.passed.is_some()).count(),
        "analysis": verdict,
        "next": describe_next(&next),
        "measurements": rollout.measurements.len(),
        "latest_measurements": measurements,
    });
    let watched = if watching { " (signals watched through the stabilisation window)" } else { "" };
    let mut text = format!(
        "{release} rollout by {} ({}), {state_word}{watched}: {} on {}, {} to go back to\n",
        rollout.plan.name,
        stages(&rollout.plan.plan),
        rollout.artefact,
        rollout.environment,
        rollout.previous.as_ref().map_or("nothing".to_owned(), ToString::to_string)
    );
    for s in &rollout.stages {
        text.push_str(&format!(
            "  stage {} at {}% from {}{}\n",
            s.index,
            s.weight,
            when(s.shifted),
            s.passed.map_or(String::new(), |at| format!(", passed {}", when(at)))
        ));
    }
    text.push_str(&format!(
        "  analysis: {verdict}; {} measurement(s) recorded\n  next: {}",
        rollout.measurements.len(),
        describe_next(&next)
    ));
    ctx.print(View { json, text });
    Ok(())
}

fn measured(m: &Measured) -> Value {
    match m {
        Measured::Value(v) if v.is_finite() => json!({"value": v}),
        Measured::Value(v) => json!({"value": v.to_string()}),
        Measured::NoData(why) => json!({"no_data": why}),
        Measured::Error(why) => json!({"error": why}),
    }
}
