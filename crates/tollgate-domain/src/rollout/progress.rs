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
use crate::policy::{Policy, Trigger};
use crate::release::{Release, Stamped};
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
    /// An incident attributed to the deployment (an Alertmanager alert naming the release or
    /// its service, or one imported by hand): what 4.5's "P1 incident" trigger reads.
    Incident {
        reference: String,
        severity: String,
        summary: String,
        raised: Timestamp,
    },
    /// The release manager approved the one-way step of `stage`: its shift may go ahead, and
    /// from it on the rollout rolls forward.
    OneWayApproved {
        stage: u32,
    },
    /// A trigger fired or the analysis failed after a one-way step: traffic stays where it is
    /// (the previous version cannot run on what the step changed) and the executor stops; the
    /// fix goes forward as a new release.
    RolledForward {
        reason: String,
    },
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
            RolloutFact::Incident { .. } => "incident",
            RolloutFact::OneWayApproved { .. } => "one-way-approved",
            RolloutFact::RolledForward { .. } => "rolled-forward",
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
    /// Incidents attributed to the deployment: when raised, severity, reference.
    pub incidents: Vec<(Timestamp, String, String)>,
    /// The one-way steps approved, by stage, with who approved them and when.
    pub one_way_approved: Vec<Stamped<u32>>,
    /// Why the rollout stopped to roll forward, once it did.
    pub rolled_forward: Option<Stamped<String>>,
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
    /// The next stage is a one-way step: nothing moves until the release manager approves it.
    AwaitApproval {
        stage: u32,
        says: String,
    },
    /// What would roll back rolls forward: a one-way step has run.
    RollForward {
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

    /// The first one-way step traffic has reached, if any: from it on the plan rolls forward.
    pub fn past_one_way(&self) -> Option<&super::plan::OneWay> {
        let reached = self.current()?.index;
        self.plan().one_way.iter().filter(|o| o.stage <= reached).min_by_key(|o| o.stage)
    }

    /// The shift to `stage`, or the release manager's approval it waits for first.
    fn shift_to(&self, stage: u32, weight: u32) -> Next {
        match self.plan().one_way_at(stage) {
            Some(one_way) if !self.one_way_approved.iter().any(|a| a.value == stage) => {
                Next::AwaitApproval { stage, says: one_way.says.clone() }
            }
            _ => Next::Shift { stage, weight },
        }
    }

    /// A rollback, or, past a one-way step, the roll-forward that replaces it.
    fn undo(&self, reason: String) -> Next {
        match self.past_one_way() {
            Some(one_way) => Next::RollForward {
                reason: format!(
                    "{reason}; stage {} was one-way ({}), so the deployment rolls forward: release the fix",
                    one_way.stage, one_way.says
                ),
            },
            None => Next::RollBack { reason },
        }
    }

    /// The signals this plan measures, by name.
    fn signals(&self) -> Vec<&'static str> {
        self.plan().signals.measured()
    }

    /// The Prometheus signals with no baseline yet: measured before any traffic moves.
    pub fn baseline_due(&self) -> Vec<&'static str> {
        let taken = |name: &str| self.measurements.iter().any(|m| m.stage.is_none() && m.name == name);
        self.plan().signals.queries().into_iter().map(|(name, _)| name).filter(|name| !taken(name)).collect()
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
            incidents: self.incidents.clone(),
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
        let taken: Vec<&Measurement> = self.in_stage(stage).collect();
        analyse(self.plan(), &taken, held)
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
        let verdict = self.verdict(now);
        if let Verdict::Failed(why) | Verdict::Inconclusive(why) = verdict {
            return Err(why);
        }
        match self.smoke_outcome(stage) {
            None => return Err(format!("the smoke checks of stage {} have not all run", stage.index)),
            Some(Err(why)) => return Err(why),
            Some(Ok(())) => {}
        }
        match verdict {
            Verdict::Passed => Ok(stage.index),
            _ => Err(format!("stage {}'s analysis is still measuring", stage.index)),
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
    if let Some(forward) = &rollout.rolled_forward {
        return Next::Idle(format!("rolling forward: {}", forward.value));
    }
    if rollout.finished() {
        return Next::Idle("the rollout completed".into());
    }
    if let Some(paused) = &rollout.paused {
        return Next::Idle(format!("paused: {}", paused.value));
    }
    if rollout.stages.is_empty() && !rollout.baseline_due().is_empty() {
        return Next::Baseline;
    }
    if let Some(reason) = rollout.fired(triggers) {
        return rollout.undo(reason);
    }
    let steps = rollout.steps();
    let Some(stage) = rollout.current() else {
        return rollout.shift_to(0, steps[0].weight);
    };
    if stage.passed.is_some() {
        let following = stage.index as usize + 1;
        return match steps.get(following) {
            Some(step) => rollout.shift_to(following as u32, step.weight),
            None => Next::Complete,
        };
    }
    match rollout.smoke_outcome(stage) {
        None => return Next::Smoke { stage: stage.index },
        Some(Err(why)) => return rollout.undo(why),
        Some(Ok(())) => {}
    }
    let verdict = rollout.verdict(now);
    if let Verdict::Failed(why) = &verdict {
        return rollout.undo(format!("the analysis of stage {} at {}% failed: {why}", stage.index, stage.weight));
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

/// A stage's analysis by `plan` on `taken`, the stage's measurements it counts; `held` once
/// the stage's hold is over. A plan with no metrics (a direct rollout) passes on its smoke
/// checks alone. The executor's verdict and the backtest's replay are this one function, so a
/// backtest of the plan a rollout ran cannot judge its measurements otherwise than it did.
pub(crate) fn analyse(plan: &Plan, taken: &[&Measurement], held: bool) -> Verdict {
    if plan.analysis.is_empty() {
        return if held { Verdict::Passed } else { Verdict::Running };
    }
    let verdicts: Vec<Verdict> = plan
        .analysis
        .iter()
        .map(|metric| {
            let measured: Vec<Measured> =
                taken.iter().filter(|m| m.name == metric.name).map(|m| m.measured.clone()).collect();
            metric.judge(&measured, held)
        })
        .collect();
    analysis::combine(&verdicts)
}

/// The rollout of `release` its executor has work in at `now`, and that work: a running
/// rollout or its rollback ([`next`]), or a completed one whose deployment is still in its
/// release type's stabilisation window, whose signals are watched for 4.5's triggers
/// ([`watch`]).
pub fn current<'a>(release: &'a Release, policy: &Policy, now: Timestamp) -> Option<(&'a Rollout, Next)> {
    let triggers = &policy.rollback.triggers;
    if let Some((rollout, rolling_back)) = release.active_rollout() {
        return Some((rollout, next(rollout, rolling_back, triggers, now)));
    }
    let rollout = release.rollouts.last().filter(|r| r.finished())?;
    let until = crate::gate::stabilisation_ends(policy, release).filter(|until| now < *until)?;
    Some((rollout, watch(rollout, triggers, until, now)))
}

/// A completed rollout during its stabilisation window: the signals measured at their
/// interval and 4.5's triggers judged on them, until `until`.
pub fn watch(rollout: &Rollout, triggers: &[Trigger], until: Timestamp, now: Timestamp) -> Next {
    if now >= until {
        return Next::Idle("the stabilisation window is over".into());
    }
    if let Some(forward) = &rollout.rolled_forward {
        return Next::Idle(format!("rolling forward: {}", forward.value));
    }
    if let Some(reason) = rollout.fired(triggers) {
        return rollout.undo(format!("during stabilisation: {reason}"));
    }
    let (due, next_due) = rollout.due(now);
    let signals: Vec<Due> = due.into_iter().filter(|d| matches!(d, Due::Signal(_))).collect();
    if !signals.is_empty() {
        return Next::Measure(signals);
    }
    let interval = rollout.plan().signals.interval;
    Next::Wait { until: next_due.map_or(now + interval, |n| n.min(until)) }
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::rollout::analysis::Metric;
    use crate::rollout::plan::{OneWay, Signals, SmokeCheck, Strategy};
    use crate::rollout::trigger::Rule;

    fn t(seconds: i64) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    fn error_ratio() -> Metric {
        Metric {
            name: "error-ratio".into(),
            query: "ratio".into(),
            condition: "< 0.01".parse().unwrap(),
            interval: Duration::seconds(10),
            failure_limit: 0,
            inconclusive_limit: 0,
            error_limit: 0,
            min_samples: 3,
        }
    }

    /// A canary 5% → 100%, each stage held a minute, with the error ratio, a smoke check and
    /// the error-rate and health signals.
    fn rollout() -> Rollout {
        let plan = Plan {
            strategy: Strategy::Canary {
                steps: vec![
                    Step { weight: 5, hold: Duration::minutes(1) },
                    Step { weight: 100, hold: Duration::minutes(1) },
                ],
            },
            analysis: vec![error_ratio()],
            smoke: vec![SmokeCheck { name: "home".into(), url: "http://shop/".into(), expect_status: 200 }],
            target: None,
            prometheus: Some("http://prometheus:9090".into()),
            signals: Signals {
                error_rate: Some("rate".into()),
                health: Some("http://shop/healthz".into()),
                ..Signals::default()
            },
            one_way: Vec::new(),
        };
        let plan = Arc::new(RolloutPlan { name: "p".into(), sha256: String::new(), text: String::new(), plan });
        Rollout {
            plan,
            environment: "production".into(),
            artefact: Digest::from_sha256([1; 32]),
            previous: Some(Digest::from_sha256([2; 32])),
            started: Stamped { value: (), by: "dev".into(), at: t(0) },
            stages: Vec::new(),
            measurements: Vec::new(),
            smoke: Vec::new(),
            paused: None,
            completed: None,
            restored: None,
            incidents: Vec::new(),
            one_way_approved: Vec::new(),
            rolled_forward: None,
        }
    }

    fn measure(r: &mut Rollout, stage: Option<u32>, name: &str, at: i64, measured: Measured) {
        r.measurements.push(Measurement { stage, name: name.into(), query: "q".into(), at: t(at), measured });
    }

    fn shifted(r: &mut Rollout, index: u32, weight: u32, at: i64) {
        r.stages.push(Stage { index, weight, shifted: t(at), since: t(at), passed: None });
    }

    fn smoked(r: &mut Rollout, stage: u32, passed: bool) {
        let detail = if passed { "answered 200" } else { "answered 500, expected 200" }.into();
        r.smoke.push(SmokeRecord {
            stage,
            name: "home".into(),
            url: "http://shop/".into(),
            status: None,
            passed,
            detail,
        });
    }

    fn error_rate_trigger() -> Vec<Trigger> {
        vec![Trigger {
            id: "error-rate".into(),
            says: "Error rate exceeds the pre-deployment baseline by more than 10% sustained for 5 minutes".into(),
            rule: Rule::ErrorRateOverBaseline { more_than: 0.10, sustained: Duration::minutes(5) },
        }]
    }

    /// Stage 0 shifted at 10 s, its smoke check passed, the baseline taken and `ratios` measured
    /// every 10 s from 10 s.
    fn at_stage_0(ratios: &[Measured]) -> Rollout {
        let mut r = rollout();
        measure(&mut r, None, "error-rate", 5, Measured::Value(0.02));
        shifted(&mut r, 0, 5, 10);
        smoked(&mut r, 0, true);
        for (i, m) in ratios.iter().enumerate() {
            let at = 10 + 10 * i as i64;
            measure(&mut r, Some(0), "error-ratio", at, m.clone());
            measure(&mut r, Some(0), "error-rate", at, Measured::Value(0.02));
            measure(&mut r, Some(0), "health", at, Measured::Value(200.0));
        }
        r
    }

    #[test]
    fn the_baseline_is_measured_before_any_traffic_moves_then_the_first_stage() {
        // Given a rollout just started
        let mut r = rollout();
        // Then the baseline comes first
        assert_eq!(next(&r, None, &[], t(1)), Next::Baseline);
        // and once measured, the first stage at its weight
        measure(&mut r, None, "error-rate", 1, Measured::Value(0.02));
        assert_eq!(next(&r, None, &[], t(2)), Next::Shift { stage: 0, weight: 5 });
        // and once shifted, its smoke checks
        shifted(&mut r, 0, 5, 3);
        assert_eq!(next(&r, None, &[], t(3)), Next::Smoke { stage: 0 });
    }

    #[test]
    fn a_stage_passes_only_after_its_hold_with_enough_passing_measurements() {
        let passing = [Measured::Value(0.001), Measured::Value(0.002), Measured::Value(0.0)];
        let r = at_stage_0(&passing);
        // Given three passing measurements by 30 s, when the hold (until 70 s) is not over,
        // then it waits for the next measurement
        assert_eq!(next(&r, None, &[], t(35)), Next::Wait { until: t(40) });
        assert_eq!(r.promotable(&[], t(35)).unwrap_err(), "stage 0's analysis is still measuring");
        // When measurements are due, they come first
        assert!(matches!(next(&r, None, &[], t(40)), Next::Measure(_)));
        // and when the hold is over with no measurement due, the stage is promoted
        let mut held = at_stage_0(&passing);
        for at in [40, 50, 60, 70] {
            measure(&mut held, Some(0), "error-ratio", at, Measured::Value(0.001));
            measure(&mut held, Some(0), "error-rate", at, Measured::Value(0.02));
            measure(&mut held, Some(0), "health", at, Measured::Value(200.0));
        }
        assert_eq!(next(&held, None, &[], t(75)), Next::Promote { stage: 0 });
        assert_eq!(held.promotable(&[], t(75)), Ok(0));
    }

    #[test]
    fn no_data_pauses_the_rollout_and_never_promotes() {
        // Given a measurement that returned no series (inconclusive limit 0)
        let r = at_stage_0(&[Measured::Value(0.001), Measured::NoData("no series".into())]);
        // Then the rollout pauses, and a promotion is refused with why
        let Next::Pause { reason } = next(&r, None, &[], t(25)) else { panic!("{:?}", next(&r, None, &[], t(25))) };
        assert!(reason.contains("without a number"), "{reason}");
        assert!(r.promotable(&[], t(200)).unwrap_err().contains("without a number"));
        // And a NaN (0/0: no traffic) is no number either
        let nan = at_stage_0(&[Measured::Value(f64::NAN)]);
        assert!(matches!(next(&nan, None, &[], t(15)), Next::Pause { .. }));
    }

    #[test]
    fn a_failed_measurement_rolls_back_at_once_even_before_the_hold_ends() {
        let r = at_stage_0(&[Measured::Value(0.001), Measured::Value(0.04)]);
        let Next::RollBack { reason } = next(&r, None, &[], t(21)) else { panic!() };
        assert!(reason.starts_with("the analysis of stage 0 at 5% failed: error-ratio"), "{reason}");
    }

    #[test]
    fn a_failed_smoke_check_rolls_back() {
        let mut r = rollout();
        measure(&mut r, None, "error-rate", 5, Measured::Value(0.02));
        shifted(&mut r, 0, 5, 10);
        smoked(&mut r, 0, false);
        let Next::RollBack { reason } = next(&r, None, &[], t(11)) else { panic!() };
        assert!(reason.starts_with("smoke check `home` failed at 5%"), "{reason}");
    }

    #[test]
    fn the_error_rate_trigger_rolls_back_at_5_minutes_and_not_at_4_59() {
        // Given the baseline of 2% and an error rate of 2.22% (11% above it) every 10 s from 10 s
        let mut r = at_stage_0(&[Measured::Value(0.001)]);
        r.measurements.retain(|m| m.name != "error-rate" || m.stage.is_none());
        for at in (10..=310).step_by(10) {
            measure(&mut r, Some(0), "error-rate", at, Measured::Value(0.0222));
        }
        let triggers = error_rate_trigger();
        // When only 4 min 50 s of it are recorded, then no trigger fires
        let mut early = r.clone();
        early.measurements.retain(|m| m.at <= t(300));
        assert_eq!(early.fired(&triggers), None);
        // When 5 minutes are, the executor rolls back, naming the trigger and the sentence
        let Next::RollBack { reason } = next(&r, None, &triggers, t(311)) else { panic!() };
        assert!(reason.starts_with("error-rate (Error rate exceeds the pre-deployment baseline"), "{reason}");
        assert!(r.promotable(&triggers, t(311)).unwrap_err().starts_with("a rollback trigger fired"));
    }

    #[test]
    fn the_error_rate_trigger_does_not_fire_at_9_percent_over_the_baseline() {
        let mut r = at_stage_0(&[Measured::Value(0.001)]);
        for at in (10..=400).step_by(10) {
            measure(&mut r, Some(0), "error-rate", at, Measured::Value(0.0218));
        }
        assert_eq!(r.fired(&error_rate_trigger()), None);
    }

    #[test]
    fn three_failed_health_checks_in_a_row_fire_two_do_not() {
        let triggers = vec![Trigger {
            id: "health".into(),
            says: "Health check endpoint returns non-200 for more than 2 consecutive checks".into(),
            rule: Rule::HealthCheckFailures { more_than: 2 },
        }];
        let mut r = at_stage_0(&[Measured::Value(0.001)]);
        measure(&mut r, Some(0), "health", 11, Measured::Value(503.0));
        measure(&mut r, Some(0), "health", 12, Measured::Error("no answer within 2s".into()));
        assert_eq!(r.fired(&triggers), None);
        measure(&mut r, Some(0), "health", 13, Measured::Value(500.0));
        assert!(r.fired(&triggers).is_some_and(|why| why.contains("3 times in a row")));
    }

    #[test]
    fn a_rollback_restores_traffic_then_confirms_the_previous_version_healthy() {
        let mut r = at_stage_0(&[Measured::Value(0.04)]);
        // Given a rollback started at 20 s, then traffic goes back first
        assert_eq!(next(&r, Some(t(20)), &[], t(20)), Next::Restore);
        // and once restored, the health endpoint is asked
        r.restored = Some(t(21));
        assert_eq!(next(&r, Some(t(20)), &[], t(21)), Next::Measure(vec![Due::Signal("health")]));
        // an unhealthy answer is asked again a second later
        measure(&mut r, Some(0), "health", 21, Measured::Value(502.0));
        assert_eq!(next(&r, Some(t(20)), &[], t(21)), Next::Wait { until: t(22) });
        // and a 200 after the restore completes the rollback
        measure(&mut r, Some(0), "health", 22, Measured::Value(200.0));
        assert_eq!(next(&r, Some(t(20)), &[], t(22)), Next::ConfirmRollback);
    }

    /// `rollout()` with its 100% stage one-way.
    fn one_way(r: &mut Rollout) {
        let mut plan = (*r.plan).clone();
        plan.plan.one_way = vec![OneWay { stage: 1, says: "migration 42 drops orders.total".into() }];
        r.plan = Arc::new(plan);
    }

    #[test]
    fn a_one_way_stage_waits_for_its_approval_and_past_it_a_rollback_becomes_a_roll_forward() {
        // Given stage 0 passed and stage 1 one-way
        let mut r = at_stage_0(&[]);
        one_way(&mut r);
        // When a failed smoke check comes before the one-way step, then it still rolls back
        let mut before = r.clone();
        smoked(&mut before, 0, false);
        before.smoke.remove(0);
        assert!(matches!(next(&before, None, &[], t(11)), Next::RollBack { .. }));
        r.stages[0].passed = Some(t(80));
        // Then the shift to it waits for the release manager
        let waiting = next(&r, None, &[], t(81));
        assert_eq!(waiting, Next::AwaitApproval { stage: 1, says: "migration 42 drops orders.total".into() });
        // and once approved it goes ahead
        r.one_way_approved.push(Stamped { value: 1, by: "rita".into(), at: t(90) });
        assert_eq!(next(&r, None, &[], t(91)), Next::Shift { stage: 1, weight: 100 });
        // When a smoke check fails past it, then the rollout rolls forward, naming the step
        shifted(&mut r, 1, 100, 91);
        r.smoke.push(SmokeRecord {
            stage: 1,
            name: "home".into(),
            url: "http://shop/".into(),
            status: Some(500),
            passed: false,
            detail: "answered 500".into(),
        });
        let Next::RollForward { reason } = next(&r, None, &[], t(92)) else {
            panic!("{:?}", next(&r, None, &[], t(92)))
        };
        assert!(reason.starts_with("smoke check `home` failed at 100%"), "{reason}");
        assert!(reason.ends_with("stage 1 was one-way (migration 42 drops orders.total), so the deployment rolls forward: release the fix"), "{reason}");
        // and once recorded, the executor has nothing more to do
        r.rolled_forward = Some(Stamped { value: reason, by: "dev".into(), at: t(93) });
        assert!(matches!(next(&r, None, &[], t(94)), Next::Idle(why) if why.starts_with("rolling forward")));
    }

    #[test]
    fn a_trigger_during_stabilisation_past_a_one_way_step_rolls_forward() {
        let mut r = at_stage_0(&[]);
        one_way(&mut r);
        r.stages[0].passed = Some(t(80));
        shifted(&mut r, 1, 100, 81);
        r.completed = Some(t(150));
        measure(&mut r, Some(1), "error-rate", 151, Measured::Value(0.5));
        r.incidents.push((t(152), "P1".into(), "INC-7".into()));
        let p1 = vec![Trigger {
            id: "p1-incident".into(),
            says: "P1 incident attributed to the deployment".into(),
            rule: Rule::IncidentAttributed { severity: "P1".into() },
        }];
        assert!(matches!(watch(&r, &p1, t(1000), t(153)), Next::RollForward { .. }));
    }

    #[test]
    fn after_the_last_stage_passes_the_rollout_completes_and_then_idles() {
        let mut r = at_stage_0(&[]);
        r.stages[0].passed = Some(t(80));
        assert_eq!(next(&r, None, &[], t(81)), Next::Shift { stage: 1, weight: 100 });
        shifted(&mut r, 1, 100, 81);
        r.stages[1].passed = Some(t(150));
        assert_eq!(next(&r, None, &[], t(151)), Next::Complete);
        r.completed = Some(t(151));
        assert!(matches!(next(&r, None, &[], t(152)), Next::Idle(_)));
    }
}
