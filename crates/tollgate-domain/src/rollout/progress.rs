//! A rollout as the log records it, and what its executor does next.
//!
//! The executor (in `tollgate serve`) owns no state of its own: every shift of traffic, every
//! measurement with its query and value, every smoke check and every promotion is a fact in the
//! release's stream. [`next`] reads those facts and the time and says what is to be done now,
//! so a server that restarts after a crash carries on from the last recorded step, and a step
//! recorded once is never asked for again. `decide` accepts a promotion only when
//! [`Rollout::promotable`] says the analysis passed: the executor cannot promote on its own say.
//!
//! The order of the questions is the procedure's: a rollback running is finished first (traffic
//! back on the previous version, then that version confirmed healthy, 4.5); then the trigger
//! conditions of 4.5, each acted on without approval; then the stage's analysis, which fails
//! closed (4.4.4): failed rolls back, inconclusive pauses and never promotes.

use std::sync::Arc;

use chrono::Duration;

use super::analysis::{self, Measured, Verdict};
use super::plan::{Plan, Step};
use super::trigger::{Observations, Outcome, Reading};
use crate::evidence::Digest;
use crate::policy::Trigger;
use crate::release::Stamped;
use crate::time::Timestamp;

/// A plan as a release's rollout took it: the file's name and text (kept in the log, so each
/// verdict can be checked again against exactly this plan) and what it reads as.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct RolloutPlan {
    pub name: String,
    /// Hex SHA-256 of `text`.
    pub sha256: String,
    pub text: String,
    pub plan: Plan,
}

/// One measurement of a plan's metric or of a trigger signal (`plan::SIGNALS`), as taken.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Measurement {
    /// The stage it was taken in; `None` before the first shift (the baseline).
    pub stage: Option<u32>,
    pub name: String,
    /// The PromQL query, URL or program that was asked.
    pub query: String,
    pub at: Timestamp,
    pub measured: Measured,
}

/// A smoke check of a critical path after a stage's shift.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct SmokeRecord {
    pub stage: u32,
    pub name: String,
    pub url: String,
    pub status: Option<u16>,
    pub passed: bool,
    pub detail: String,
}

/// What the executor records of a rollout (each a fact of the release's stream).
#[derive(Clone, Debug, PartialEq)]
pub enum RolloutFact {
    /// The target confirmed the new version's share is `weight` for `stage`.
    Shifted {
        stage: u32,
        weight: u32,
    },
    Measured(Measurement),
    SmokeChecked(SmokeRecord),
    /// The stage's analysis passed once its hold was over, and its smoke checks passed.
    StagePassed {
        stage: u32,
    },
    /// The analysis could not tell: the rollout holds where it is until a person resumes it
    /// (which restarts the stage's analysis) or rolls it back.
    Paused {
        reason: String,
    },
    Resumed,
    /// Every stage passed: the deployment finished.
    Completed,
    /// During a rollback: the target confirmed all traffic is on the previous version.
    TrafficRestored,
}

impl RolloutFact {
    pub fn key(&self) -> &'static str {
        match self {
            RolloutFact::Shifted { .. } => "shifted",
            RolloutFact::Measured(_) => "measured",
            RolloutFact::SmokeChecked(_) => "smoke-checked",
            RolloutFact::StagePassed { .. } => "stage-passed",
            RolloutFact::Paused { .. } => "paused",
            RolloutFact::Resumed => "resumed",
            RolloutFact::Completed => "completed",
            RolloutFact::TrafficRestored => "traffic-restored",
        }
    }
}

/// A stage traffic reached.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Stage {
    pub index: u32,
    pub weight: u32,
    pub shifted: Timestamp,
    /// Its analysis counts measurements from here: the shift, or the latest resume.
    pub since: Timestamp,
    pub passed: Option<Timestamp>,
}

/// A rollout of one release to one environment, as recorded.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Rollout {
    pub plan: Arc<RolloutPlan>,
    pub environment: String,
    /// The signed artefact rolled out, and the one traffic goes back to on a rollback (the
    /// service's last production artefact that stabilised; `None` for a first deployment).
    pub artefact: Digest,
    pub previous: Option<Digest>,
    pub started: Stamped<()>,
    pub stages: Vec<Stage>,
    pub measurements: Vec<Measurement>,
    pub smoke: Vec<SmokeRecord>,
    pub paused: Option<Stamped<String>>,
    pub completed: Option<Timestamp>,
    /// During a rollback, when the previous version had all traffic again.
    pub restored: Option<Timestamp>,
}

/// What is to be done for a rollout now.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// Measure the signals before any traffic moves: the pre-deployment baseline.
    Baseline,
    Shift {
        stage: u32,
        weight: u32,
    },
    /// Take the measurements that are due.
    Measure(Vec<Due>),
    /// Run the plan's smoke checks for the stage just reached.
    Smoke {
        stage: u32,
    },
    Promote {
        stage: u32,
    },
    Complete,
    /// A trigger fired, the analysis failed or a smoke check failed: roll back, no approval.
    RollBack {
        reason: String,
    },
    Pause {
        reason: String,
    },
    /// A rollback is running: put all traffic back on the previous version.
    Restore,
    /// The previous version has the traffic and answered healthy: the rollback is complete.
    ConfirmRollback,
    /// Nothing is due before `until`.
    Wait {
        until: Timestamp,
    },
    /// Nothing to do until a person acts (paused), or ever again (finished).
    Idle(String),
}

/// A measurement that is due: a plan's metric (by its index) or a signal (by its name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    Metric(usize),
    Signal(&'static str),
}

impl Rollout {
    fn plan(&self) -> &Plan {
        &self.plan.plan
    }

    fn steps(&self) -> Vec<Step> {
        self.plan().strategy.steps()
    }

    /// The stage traffic is at, if it moved at all.
    pub fn current(&self) -> Option<&Stage> {
        self.stages.last()
    }

    pub fn finished(&self) -> bool {
        self.completed.is_some()
    }

    /// The signals this plan measures, by name.
    fn signals(&self) -> Vec<&'static str> {
        let s = &self.plan().signals;
        let mut names = Vec::new();
        if s.error_rate.is_some() {
            names.push("error-rate");
        }
        if s.p95_latency.is_some() {
            names.push("p95-latency");
        }
        if s.health.is_some() {
            names.push("health");
        }
        if s.integrity.is_some() {
            names.push("integrity");
        }
        names
    }

    /// What the trigger rules read: the signals measured since the first shift, and the
    /// baseline taken before it.
    pub fn observations(&self) -> Observations {
        let reading = |m: &Measurement| Reading {
            at: m.at,
            value: match m.measured {
                Measured::Value(v) if !v.is_nan() => Some(v),
                _ => None,
            },
        };
        let after = |name: &'static str| self.measurements.iter().filter(move |m| m.stage.is_some() && m.name == name);
        let passed = |m: &Measurement| matches!(m.measured, Measured::Value(v) if v == 0.0 || v == 200.0);
        Observations {
            baseline_error_rate: self
                .measurements
                .iter()
                .rev()
                .find(|m| m.stage.is_none() && m.name == "error-rate")
                .and_then(|m| reading(m).value),
            error_rate: after("error-rate").map(reading).collect(),
            p95_latency: after("p95-latency").map(reading).collect(),
            latency_slo: self.plan().signals.latency_slo,
            health: after("health").map(|m| (m.at, matches!(m.measured, Measured::Value(v) if v == 200.0))).collect(),
            integrity: after("integrity").map(|m| (m.at, passed(m), said(&m.measured))).collect(),
            incidents: Vec::new(),
            calls: Vec::new(),
        }
    }

    /// The first trigger of 4.5 that fired, with what it saw.
    pub fn fired(&self, triggers: &[Trigger]) -> Option<String> {
        let seen = self.observations();
        triggers.iter().find_map(|t| match t.rule.judge(&seen) {
            Outcome::Fired { why, .. } => Some(format!("{} ({}): {why}", t.id, t.says)),
            Outcome::Clear | Outcome::Unknown(_) => None,
        })
    }

    /// The current stage's analysis at `now`: every metric judged on the measurements taken
    /// in the stage since it started (or was resumed). A stage of a plan with no metrics (a
    /// direct rollout) passes on its smoke checks alone.
    pub fn verdict(&self, now: Timestamp) -> Verdict {
        let Some(stage) = self.current() else { return Verdict::Running };
        let steps = self.steps();
        let hold = steps.get(stage.index as usize).map_or(Duration::zero(), |s| s.hold);
        let held = now >= stage.since + hold;
        if self.plan().analysis.is_empty() {
            return if held { Verdict::Passed } else { Verdict::Running };
        }
        let verdicts: Vec<Verdict> = self
            .plan()
            .analysis
            .iter()
            .map(|metric| {
                let measured: Vec<Measured> =
                    self.in_stage(stage).filter(|m| m.name == metric.name).map(|m| m.measured.clone()).collect();
                metric.judge(&measured, held)
            })
            .collect();
        analysis::combine(&verdicts)
    }

    fn in_stage<'a>(&'a self, stage: &'a Stage) -> impl Iterator<Item = &'a Measurement> + 'a {
        self.measurements.iter().filter(move |m| m.stage == Some(stage.index) && m.at >= stage.since)
    }

    /// The smoke checks of the current stage: `None` until each of the plan's has run, then
    /// the first that failed, if any.
    fn smoke_outcome(&self, stage: &Stage) -> Option<Result<(), String>> {
        let ran: Vec<&SmokeRecord> = self.smoke.iter().filter(|s| s.stage == stage.index).collect();
        if self.plan().smoke.iter().any(|c| !ran.iter().any(|r| r.name == c.name)) {
            return None;
        }
        Some(match ran.iter().find(|r| !r.passed) {
            Some(r) => Err(format!("smoke check `{}` failed at {}% on {}: {}", r.name, stage.weight, r.url, r.detail)),
            None => Ok(()),
        })
    }

    /// Whether the current stage may be promoted at `now`, or why not. `decide` asks this of
    /// every promotion the executor records.
    pub fn promotable(&self, triggers: &[Trigger], now: Timestamp) -> Result<u32, String> {
        let Some(stage) = self.current() else { return Err("no traffic has moved yet".into()) };
        if stage.passed.is_some() {
            return Err(format!("stage {} was already promoted", stage.index));
        }
        if let Some(paused) = &self.paused {
            return Err(format!("the rollout is paused: {}", paused.value));
        }
        if let Some(why) = self.fired(triggers) {
            return Err(format!("a rollback trigger fired: {why}"));
        }
        match self.smoke_outcome(stage) {
            None => return Err(format!("the smoke checks of stage {} have not all run", stage.index)),
            Some(Err(why)) => return Err(why),
            Some(Ok(())) => {}
        }
        match self.verdict(now) {
            Verdict::Passed => Ok(stage.index),
            Verdict::Running => Err(format!("stage {}'s analysis is still measuring", stage.index)),
            Verdict::Failed(why) | Verdict::Inconclusive(why) => Err(why),
        }
    }

    /// The measurements due at `now` in the current stage (or before the first), and when the
    /// next falls due otherwise.
    fn due(&self, now: Timestamp) -> (Vec<Due>, Option<Timestamp>) {
        let stage = self.current();
        let (mut due, mut next) = (Vec::new(), None::<Timestamp>);
        let mut consider = |item: Due, last: Option<Timestamp>, interval: Duration| match last {
            Some(at) if at + interval > now => next = Some(next.map_or(at + interval, |n| n.min(at + interval))),
            _ => due.push(item),
        };
        if let Some(stage) = stage {
            for (i, metric) in self.plan().analysis.iter().enumerate() {
                let last = self.in_stage(stage).filter(|m| m.name == metric.name).map(|m| m.at).max();
                consider(Due::Metric(i), last, metric.interval);
            }
        }
        for name in self.signals() {
            let last = self.measurements.iter().filter(|m| m.stage.is_some() && m.name == name).map(|m| m.at).max();
            consider(Due::Signal(name), last, self.plan().signals.interval);
        }
        (due, next)
    }
}

/// What `rollout` needs done at `now`. `rolling_back` is when a rollback of the release started,
/// if one is running; `triggers` are the rollback triggers of the release's profile.
pub fn next(rollout: &Rollout, rolling_back: Option<Timestamp>, triggers: &[Trigger], now: Timestamp) -> Next {
    if rolling_back.is_some() {
        return restore(rollout, now);
    }
    if rollout.finished() {
        return Next::Idle("the rollout completed".into());
    }
    if let Some(paused) = &rollout.paused {
        return Next::Idle(format!("paused: {}", paused.value));
    }
    let baseline_due = rollout.plan().signals.error_rate.is_some()
        && !rollout.measurements.iter().any(|m| m.stage.is_none() && m.name == "error-rate");
    if rollout.stages.is_empty() && baseline_due {
        return Next::Baseline;
    }
    if let Some(reason) = rollout.fired(triggers) {
        return Next::RollBack { reason };
    }
    let steps = rollout.steps();
    let Some(stage) = rollout.current() else {
        return Next::Shift { stage: 0, weight: steps[0].weight };
    };
    if stage.passed.is_some() {
        let following = stage.index as usize + 1;
        return match steps.get(following) {
            Some(step) => Next::Shift { stage: following as u32, weight: step.weight },
            None => Next::Complete,
        };
    }
    match rollout.smoke_outcome(stage) {
        None => return Next::Smoke { stage: stage.index },
        Some(Err(why)) => return Next::RollBack { reason: why },
        Some(Ok(())) => {}
    }
    let verdict = rollout.verdict(now);
    if let Verdict::Failed(why) = &verdict {
        return Next::RollBack {
            reason: format!("the analysis of stage {} at {}% failed: {why}", stage.index, stage.weight),
        };
    }
    let (due, next_due) = rollout.due(now);
    if !due.is_empty() {
        return Next::Measure(due);
    }
    match verdict {
        Verdict::Passed => Next::Promote { stage: stage.index },
        Verdict::Inconclusive(why) => Next::Pause { reason: why },
        Verdict::Failed(_) => unreachable!("handled above"),
        Verdict::Running => {
            let hold = steps.get(stage.index as usize).map_or(Duration::zero(), |s| s.hold);
            let held = stage.since + hold;
            let until = next_due.map_or(held, |n| if held > now { n.min(held) } else { n });
            Next::Wait { until }
        }
    }
}

/// A rollback running: traffic back to the previous version, then that version confirmed
/// healthy (the health endpoint answering 200 after the restore) before it is complete.
fn restore(rollout: &Rollout, now: Timestamp) -> Next {
    let Some(restored) = rollout.restored else { return Next::Restore };
    if rollout.plan().signals.health.is_none() {
        return Next::ConfirmRollback;
    }
    let checks: Vec<&Measurement> =
        rollout.measurements.iter().filter(|m| m.name == "health" && m.at >= restored).collect();
    if checks.last().is_some_and(|m| m.measured == Measured::Value(200.0)) {
        return Next::ConfirmRollback;
    }
    let interval = rollout.plan().signals.interval.min(Duration::seconds(1));
    match checks.last() {
        Some(m) if m.at + interval > now => Next::Wait { until: m.at + interval },
        _ => Next::Measure(vec![Due::Signal("health")]),
    }
}

fn said(measured: &Measured) -> String {
    match measured {
        Measured::Value(v) => format!("exit status {v}"),
        Measured::NoData(why) | Measured::Error(why) => why.clone(),
    }
}
