//! `tollgate analysis backtest`: a candidate plan's analysis replayed over the measurements past
//! rollouts recorded (`tollgate_domain::rollout::backtest`), stage by stage, with what each
//! rollout did beside what the candidate would have done, so a release manager sees what a
//! tighter threshold or more samples would have rolled back, paused or let through before
//! adopting them.
//!
//! It is a report: it exits 0 whatever it finds, as `metrics` does. A difference is what
//! the release manager asked to see, not a failure of the command; a pipeline that wants to
//! stop on one reads `stages_differing` in the JSON. A plan that does not parse is an error
//! (exit 1) with its file, line and field, read before the store is opened.

use serde_json::{Value, json};
use tollgate_app::codec::time;
use tollgate_domain::State;
use tollgate_domain::release::{Release, ReleaseId};
use tollgate_domain::rollout::backtest::{self, Backtest, Recorded, Replayed};
use tollgate_domain::rollout::progress::{Rollout, RolloutPlan};

use crate::cli::AnalysisCmd;
use crate::rollout_cmd::{read_plan, stages};
use crate::run::{Ctx, Failure, error, release_id};
use crate::view::View;

pub(crate) fn run(ctx: &Ctx, cmd: AnalysisCmd) -> Result<(), Failure> {
    let AnalysisCmd::Backtest { plan, releases, service } = cmd;
    let candidate = read_plan(&plan)?;
    let wanted: Vec<ReleaseId> = releases.iter().map(|id| release_id(id)).collect::<Result<_, _>>()?;
    // On the server, the latest published state, read without the writers' lock; embedded, the
    // store replayed (read only: nothing is recorded). Not one of `reads::FROM_STATE`: the
    // server shares those answers by their arguments, and the plan file's bytes are none.
    match &ctx.snapshot {
        Some(state) => {
            ctx.settle(state)?;
            ctx.print(report(state, &candidate, &wanted, service.as_deref())?);
        }
        None => {
            let app = ctx.open()?;
            ctx.print(report(app.state(), &candidate, &wanted, service.as_deref())?);
        }
    }
    Ok(())
}

/// The releases asked for (all with a rollout when none is named), each rollout backtested.
fn report(
    state: &State,
    candidate: &RolloutPlan,
    wanted: &[ReleaseId],
    service: Option<&str>,
) -> Result<View, Failure> {
    for id in wanted {
        if !state.releases.contains_key(id) {
            return Err(error(format!("unknown release {id}")));
        }
    }
    let chosen: Vec<&Release> = state
        .releases
        .values()
        .filter(|r| if wanted.is_empty() { !r.rollouts.is_empty() } else { wanted.contains(&r.id) })
        .filter(|r| service.is_none_or(|s| r.service == s))
        .map(|r| &**r)
        .collect();
    let mut text = format!(
        "backtest of {} ({}; analysis {})\n",
        candidate.name,
        stages(&candidate.plan),
        names(candidate.plan.analysis.iter().map(|m| m.name.as_str()))
    );
    let (mut judged, mut differing) = (0, 0);
    let mut releases = Vec::new();
    for release in &chosen {
        let backtests = backtest::of_release(release, &candidate.plan);
        text.push_str(&format!("\n{} {} {}: {}\n", release.id, release.service, release.version, release.title));
        if backtests.is_empty() {
            text.push_str("  no rollout recorded: nothing to backtest\n");
        }
        let mut rollouts = Vec::new();
        for (n, (rollout, b)) in backtests.iter().enumerate() {
            judged += b.stages.len();
            differing += b.differing();
            text.push_str(&rollout_text(n + 1, rollout, b));
            rollouts.push(rollout_json(n + 1, rollout, b));
        }
        releases.push(json!({
            "release": release.id.to_string(),
            "service": release.service,
            "version": release.version,
            "rollouts": rollouts,
        }));
    }
    if chosen.is_empty() {
        text.push_str(
            match service {
                Some(s) => format!("\nno release of {s} to backtest\n"),
                None => "\nno recorded rollout to backtest\n".to_owned(),
            }
            .as_str(),
        );
    }
    text.push_str(&format!("\n{judged} stage(s) judged, {differing} would have differed\n"));
    let json = json!({
        "plan": candidate.name,
        "plan_sha256": candidate.sha256,
        "releases": releases,
        "stages_judged": judged,
        "stages_differing": differing,
    });
    Ok(View { json, text })
}

fn rollout_text(n: usize, rollout: &Rollout, b: &Backtest) -> String {
    let mut text = format!(
        "  rollout {n} to {} by {} (sha256 {}), started {}\n",
        rollout.environment,
        rollout.plan.name,
        rollout.plan.sha256.get(..12).unwrap_or(&rollout.plan.sha256),
        tollgate_domain::gate::when(rollout.started.at)
    );
    for s in &b.stages {
        let verdict = if s.differs { "DIFFERS" } else { "same" };
        let reached = if s.reached { "" } else { " (not reached under the candidate: it stopped at an earlier stage)" };
        text.push_str(&format!(
            "    stage {} at {}%, {} measurement(s) judged: {verdict}{reached}\n      recorded:  {}\n      candidate: {}\n",
            s.index,
            s.weight,
            s.measurements,
            backtest::recorded_words(&s.recorded),
            backtest::replayed_words(&s.candidate)
        ));
    }
    for finding in &b.findings {
        text.push_str(&format!("    finding: {finding}\n"));
    }
    text
}

fn rollout_json(n: usize, rollout: &Rollout, b: &Backtest) -> Value {
    let stages: Vec<Value> = b
        .stages
        .iter()
        .map(|s| {
            json!({
                "stage": s.index,
                "weight": s.weight,
                "from": time(s.from),
                "until": time(s.until),
                "measurements": s.measurements,
                "recorded": recorded_json(&s.recorded),
                "candidate": replayed_json(&s.candidate),
                "reached": s.reached,
                "differs": s.differs,
            })
        })
        .collect();
    json!({
        "rollout": n,
        "environment": rollout.environment,
        "plan": rollout.plan.name,
        "plan_sha256": rollout.plan.sha256,
        "started": time(rollout.started.at),
        "stages": stages,
        "stages_differing": b.differing(),
        "findings": b.findings,
    })
}

/// What happened: `promoted`, `rolled-back`, `paused` or `running`.
fn recorded_json(recorded: &Recorded) -> Value {
    match recorded {
        Recorded::Promoted { at } => json!({"outcome": "promoted", "at": time(*at)}),
        Recorded::RolledBack { at, reason, by_analysis } => {
            json!({"outcome": "rolled-back", "at": time(*at), "reason": reason, "by_analysis": by_analysis})
        }
        Recorded::RolledForward { at, reason } => {
            json!({"outcome": "rolled-forward", "at": time(*at), "reason": reason})
        }
        Recorded::Paused { at, reason } => json!({"outcome": "paused", "at": time(*at), "reason": reason}),
        Recorded::Running => json!({"outcome": "running"}),
    }
}

/// The candidate's verdict: `passed`, `failed`, `inconclusive`, `measuring` or `no-stage`.
fn replayed_json(replayed: &Replayed) -> Value {
    match replayed {
        Replayed::Passed { at } => json!({"outcome": "passed", "at": time(*at)}),
        Replayed::Failed { at, reason } => json!({"outcome": "failed", "at": time(*at), "reason": reason}),
        Replayed::Inconclusive { at, reason } => json!({"outcome": "inconclusive", "at": time(*at), "reason": reason}),
        Replayed::Measuring { hold_ends } => json!({"outcome": "measuring", "hold_ends": time(*hold_ends)}),
        Replayed::NoStage => json!({"outcome": "no-stage"}),
    }
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    if all.is_empty() { "none".into() } else { all.join(", ") }
}
