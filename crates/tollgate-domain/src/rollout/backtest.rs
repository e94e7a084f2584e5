//! Backtesting an analysis: what a candidate plan's analysis would have decided at each stage of
//! a rollout already recorded, judged on the measurements that rollout took, beside what the
//! rollout did. Before a threshold is tightened or `min-samples` raised, a release manager sees
//! which past stages it would have rolled back, paused or let through differently.
//!
//! The replay is the executor's own judgement (`progress::analyse`, which
//! [`Rollout::verdict`] uses) walked through time. For each stage traffic reached, from its
//! shift (or its latest resume, where the recorded analysis started again) to where its record
//! ends (the promotion, the rollback, the pause, or the last measurement of a stage still
//! running), the candidate's metrics are judged at every recorded measurement and at the end
//! of the candidate's hold, on the measurements of their name taken so far. The first failure
//! rolls back at once, as in [`progress::next`]; a pass (only once the hold is over) or an
//! inconclusive verdict counts once no measurement of the candidate's is due that the record
//! holds later, as the executor takes what is due before it promotes or pauses.
//!
//! What a backtest cannot know, it says rather than guesses:
//! - Only measurements that were taken are judged. A candidate `interval` shorter than the
//!   recorded one cannot create measurements the record does not hold, and a longer one does
//!   not drop any: the recorded measurements are judged as they are, and a finding says that
//!   the intervals differ. A candidate's query is not run either: the values measured under
//!   its metric's name are judged, and a finding says when the query differs.
//! - A candidate metric never measured in the rollout cannot be backtested: a finding says so,
//!   and the replay judges it as the executor would have, on no measurements: inconclusive once
//!   the hold is over. It fails closed; it never passes.
//! - A hold that outlasts the stage's record leaves the candidate still measuring when the
//!   record ends: there is nothing to judge the rest of the hold on.
//! - Smoke checks and 4.5's rollback triggers are not the analysis and are not replayed: a
//!   rollback they (or a person) caused is reported as recorded, and a candidate still
//!   measuring when it came would have been rolled back the same way.
//! - Stages are matched by index. A stage after one the candidate would have rolled back or
//!   paused is judged on its own measurements all the same, and marked as not reached.

use super::analysis::Verdict;
use super::plan::Plan;
use super::progress::{self, Measurement, Rollout, Stage};
use crate::release::{Release, Rollback};
use crate::time::{Timestamp, format_duration};

/// A candidate's analysis against one recorded rollout.
#[derive(Clone, Debug, PartialEq)]
pub struct Backtest {
    /// Every stage traffic reached, in order.
    pub stages: Vec<StageBacktest>,
    /// What could not be judged, or was judged on something other than the candidate asks for
    /// (a metric never measured, another query or interval, stages that do not match).
    pub findings: Vec<String>,
}

impl Backtest {
    /// The stages where the candidate would not have done what the rollout did.
    pub fn differing(&self) -> usize {
        self.stages.iter().filter(|s| s.differs).count()
    }
}

/// One stage: what the rollout did, and what the candidate would have.
#[derive(Clone, Debug, PartialEq)]
pub struct StageBacktest {
    pub index: u32,
    pub weight: u32,
    /// Where the judged measurements start: the shift, or the latest resume.
    pub from: Timestamp,
    /// Where the stage's record ends: nothing after it can be judged.
    pub until: Timestamp,
    /// The recorded measurements of the candidate's metrics between the two.
    pub measurements: usize,
    pub recorded: Recorded,
    pub candidate: Replayed,
    /// Whether the candidate would have reached this stage at all: it passed every earlier one.
    pub reached: bool,
    /// Whether the candidate would not have done what the rollout did (see [`differs`]).
    pub differs: bool,
}

/// What the rollout did in a stage.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    Promoted {
        at: Timestamp,
    },
    /// A rollback started during the stage, with its recorded reason; `by_analysis` when the
    /// rollout's own analysis had failed by then (otherwise a trigger, a smoke check or a person
    /// rolled it back).
    RolledBack {
        at: Timestamp,
        reason: String,
        by_analysis: bool,
    },
    /// Past a one-way step, what would have rolled back stopped the rollout where it was.
    RolledForward {
        at: Timestamp,
        reason: String,
    },
    /// The analysis was inconclusive and the rollout paused, not resumed since.
    Paused {
        at: Timestamp,
        reason: String,
    },
    /// No outcome recorded: the stage is still measuring.
    Running,
}

/// What the candidate's analysis would have decided in a stage.
#[derive(Clone, Debug, PartialEq)]
pub enum Replayed {
    /// Passed once its hold was over: the stage is promotable (its smoke checks permitting).
    Passed { at: Timestamp },
    /// Failed: the executor rolls back, there and then.
    Failed { at: Timestamp, reason: String },
    /// Inconclusive: the executor pauses, and never promotes on it.
    Inconclusive { at: Timestamp, reason: String },
    /// The stage's record ends before the candidate's hold would be over, at `hold_ends`.
    Measuring { hold_ends: Timestamp },
    /// The candidate has no stage of this index.
    NoStage,
}

/// Each rollout of `release` backtested, oldest first, each with the rollback started during
/// it: after it started and before the next one did.
pub fn of_release<'a>(release: &'a Release, candidate: &Plan) -> Vec<(&'a Rollout, Backtest)> {
    let rollouts = &release.rollouts;
    rollouts
        .iter()
        .enumerate()
        .map(|(i, rollout)| {
            let next = rollouts.get(i + 1).map(|r| r.started.at);
            let rollback = release
                .rollbacks
                .iter()
                .find(|rb| rb.started.at >= rollout.started.at && next.is_none_or(|n| rb.started.at < n));
            (rollout, backtest(rollout, rollback, candidate))
        })
        .collect()
}

/// `candidate`'s analysis replayed over `rollout`'s recorded measurements, stage by stage, beside
/// what the rollout did; `rollback` is the rollback started during it, if any (a release keeps
/// its rollbacks apart from its rollouts: [`of_release`] pairs them).
pub fn backtest(rollout: &Rollout, rollback: Option<&Rollback>, candidate: &Plan) -> Backtest {
    let recorded_plan = &rollout.plan.plan;
    let mut findings = metric_findings(rollout, candidate);
    findings.extend(stage_findings(rollout, candidate));
    if rollout.stages.is_empty() {
        findings.push(match rollback {
            Some(rb) => format!(
                "rolled back at {} before any traffic moved ({}): no stage to judge",
                crate::gate::when(rb.started.at),
                rb.reason
            ),
            None => "no traffic has moved yet: no stage to judge".into(),
        });
    }
    let mut stages = Vec::new();
    let mut reached = true;
    for (i, stage) in rollout.stages.iter().enumerate() {
        let following = rollout.stages.get(i + 1);
        let (mut recorded, until) = outcome(rollout, stage, following, rollback);
        let taken = window(rollout, stage, until);
        let as_recorded = replay(recorded_plan, stage.index, stage.since, until, &taken);
        if let Recorded::RolledBack { at, by_analysis, .. } = &mut recorded {
            *by_analysis = matches!(as_recorded, Replayed::Failed { at: failed, .. } if failed <= *at);
        }
        // The replay's own check: the rollout's plan, replayed, should do what the rollout did.
        if differs(&recorded, &as_recorded) {
            findings.push(format!(
                "stage {}: the rollout's own plan, replayed, gives \"{}\" where the rollout was \"{}\": read this stage's comparison with care",
                stage.index,
                replayed_words(&as_recorded),
                recorded_words(&recorded)
            ));
        }
        if stage.since > stage.shifted {
            findings.push(format!(
                "stage {} was paused and resumed at {}: its analysis started again there, and the backtest judges the measurements from then on",
                stage.index,
                crate::gate::when(stage.since)
            ));
        }
        let candidate_outcome = replay(candidate, stage.index, stage.since, until, &taken);
        let judged = taken.iter().filter(|m| candidate.analysis.iter().any(|a| a.name == m.name)).count();
        stages.push(StageBacktest {
            index: stage.index,
            weight: stage.weight,
            from: stage.since,
            until,
            measurements: judged,
            differs: differs(&recorded, &candidate_outcome),
            reached,
            recorded,
            candidate: candidate_outcome.clone(),
        });
        reached = reached && matches!(candidate_outcome, Replayed::Passed { .. });
    }
    if let (Some(rb), Some(StageBacktest { recorded: Recorded::Paused { at, .. }, index, .. })) =
        (rollback, stages.last())
    {
        findings.push(format!(
            "rolled back at {} while paused at stage {index} since {}: {}; a person's call, not the analysis', so not judged",
            crate::gate::when(rb.started.at),
            crate::gate::when(*at),
            rb.reason
        ));
    }
    if let (Some(rb), Some(last)) = (rollback, rollout.stages.last())
        && let Some(passed) = last.passed.filter(|passed| rb.started.at >= *passed)
    {
        let after =
            if rollout.finished() { "in its stabilisation window, after every stage passed" } else { "between stages" };
        findings.push(format!(
            "rolled back at {} {after} (stage {} was promoted at {}): {}; not a stage's analysis, so not judged",
            crate::gate::when(rb.started.at),
            last.index,
            crate::gate::when(passed),
            rb.reason
        ));
    }
    Backtest { stages, findings }
}

/// Whether the candidate would not have done what the rollout did in a stage. A rollback by a
/// trigger, a smoke check or a person would have come to a candidate still measuring too; a
/// stage still running differs only where the candidate would have stopped it.
pub fn differs(recorded: &Recorded, candidate: &Replayed) -> bool {
    use Replayed as C;
    match recorded {
        Recorded::Promoted { .. } => !matches!(candidate, C::Passed { .. }),
        Recorded::RolledBack { by_analysis: true, .. } => !matches!(candidate, C::Failed { .. }),
        Recorded::RolledBack { by_analysis: false, .. } | Recorded::RolledForward { .. } => {
            !matches!(candidate, C::Failed { .. } | C::Measuring { .. })
        }
        Recorded::Paused { .. } => !matches!(candidate, C::Inconclusive { .. }),
        Recorded::Running => !matches!(candidate, C::Passed { .. } | C::Measuring { .. }),
    }
}

/// What the rollout did in `stage`, and where its record of the stage ends. Only the last stage
/// can end otherwise than promoted: a shift to the next needs a promotion.
fn outcome(
    rollout: &Rollout,
    stage: &Stage,
    following: Option<&Stage>,
    rollback: Option<&Rollback>,
) -> (Recorded, Timestamp) {
    if let Some(at) = stage.passed {
        return (Recorded::Promoted { at }, at);
    }
    if let Some(next) = following {
        return (Recorded::Running, next.shifted);
    }
    if let Some(forward) = rollout.rolled_forward.as_ref().filter(|f| f.at >= stage.since) {
        return (Recorded::RolledForward { at: forward.at, reason: forward.value.clone() }, forward.at);
    }
    let paused = rollout.paused.as_ref().filter(|p| p.at >= stage.since);
    let rollback = rollback.filter(|rb| rb.started.at >= stage.since);
    match (paused, rollback) {
        (Some(p), rb) if rb.is_none_or(|rb| p.at <= rb.started.at) => {
            (Recorded::Paused { at: p.at, reason: p.value.clone() }, p.at)
        }
        (_, Some(rb)) => {
            (Recorded::RolledBack { at: rb.started.at, reason: rb.reason.clone(), by_analysis: false }, rb.started.at)
        }
        _ => {
            let last = rollout.measurements.iter().filter(|m| m.stage == Some(stage.index)).map(|m| m.at).max();
            (Recorded::Running, last.map_or(stage.since, |at| at.max(stage.since)))
        }
    }
}

/// The stage's recorded measurements from its analysis' start to `until`, in time order.
fn window<'a>(rollout: &'a Rollout, stage: &Stage, until: Timestamp) -> Vec<&'a Measurement> {
    let mut taken: Vec<&Measurement> = rollout
        .measurements
        .iter()
        .filter(|m| m.stage == Some(stage.index) && m.at >= stage.since && m.at <= until)
        .collect();
    taken.sort_by_key(|m| m.at);
    taken
}

/// The first decision `plan`'s analysis takes on stage `index` between `from` and `until`,
/// judging `taken` (in time order) at each measurement and at the end of the plan's hold.
fn replay(plan: &Plan, index: u32, from: Timestamp, until: Timestamp, taken: &[&Measurement]) -> Replayed {
    let Some(step) = plan.strategy.steps().get(index as usize).copied() else { return Replayed::NoStage };
    let hold_ends = from + step.hold;
    let judged: Vec<&Measurement> =
        taken.iter().copied().filter(|m| plan.analysis.iter().any(|a| a.name == m.name)).collect();
    let mut moments: Vec<Timestamp> = judged.iter().map(|m| m.at).collect();
    if hold_ends <= until {
        moments.push(hold_ends);
    }
    moments.sort();
    moments.dedup();
    for at in moments {
        let so_far = &judged[..judged.partition_point(|m| m.at <= at)];
        match progress::analyse(plan, so_far, at >= hold_ends) {
            Verdict::Failed(reason) => return Replayed::Failed { at, reason },
            Verdict::Running => {}
            _ if measuring_due(plan, &judged, at) => {}
            Verdict::Passed => return Replayed::Passed { at },
            Verdict::Inconclusive(reason) => return Replayed::Inconclusive { at, reason },
        }
    }
    Replayed::Measuring { hold_ends }
}

/// Whether a measurement of one of `plan`'s metrics is due at `at` that the record took later:
/// the executor takes what is due before it promotes or pauses, so the decision waits for it.
/// A measurement due that the record never took does not hold the decision back: it cannot be
/// made up.
fn measuring_due(plan: &Plan, judged: &[&Measurement], at: Timestamp) -> bool {
    plan.analysis.iter().any(|metric| {
        let of = || judged.iter().filter(|m| m.name == metric.name);
        let last = of().filter(|m| m.at <= at).map(|m| m.at).max();
        last.is_none_or(|last| last + metric.interval <= at) && of().any(|m| m.at > at)
    })
}

/// What the candidate's metrics would be judged on, said where it is not what they ask for.
fn metric_findings(rollout: &Rollout, candidate: &Plan) -> Vec<String> {
    let recorded_plan = &rollout.plan.plan;
    let mut findings = Vec::new();
    if candidate.analysis.is_empty() {
        findings.push("the candidate has no analysis: its stages pass on their holds (and smoke checks) alone".into());
    }
    for metric in &candidate.analysis {
        let Some(first) = rollout.measurements.iter().find(|m| m.name == metric.name) else {
            findings.push(format!(
                "`{}` was never measured in this rollout: it cannot be backtested, and with nothing measured it is inconclusive once a hold is over (it fails closed, never passes)",
                metric.name
            ));
            continue;
        };
        if first.query != metric.query {
            findings.push(format!(
                "`{}`: the candidate's query is not the one measured (`{}`): the recorded values are judged, the candidate's query is not run",
                metric.name, first.query
            ));
        }
        if let Some(was) = recorded_plan.analysis.iter().find(|a| a.name == metric.name)
            && was.interval != metric.interval
        {
            findings.push(format!(
                "`{}` is measured every {} in the candidate but was every {}: the recorded measurements are judged, none made up or left out",
                metric.name,
                format_duration(metric.interval),
                format_duration(was.interval)
            ));
        }
    }
    for metric in &recorded_plan.analysis {
        if !candidate.analysis.iter().any(|a| a.name == metric.name) {
            findings.push(format!("`{}` is not in the candidate: its measurements are not judged", metric.name));
        }
    }
    findings
}

/// Stages of the record and of the candidate that do not match by index.
fn stage_findings(rollout: &Rollout, candidate: &Plan) -> Vec<String> {
    let steps = candidate.strategy.steps();
    let mut findings = Vec::new();
    let (was, is) = (rollout.plan.plan.strategy.key(), candidate.strategy.key());
    if was != is {
        findings.push(format!("the rollout was a {was} rollout, the candidate is {is}: stages are matched by index"));
    }
    for stage in &rollout.stages {
        match steps.get(stage.index as usize) {
            Some(step) if step.weight != stage.weight => findings.push(format!(
                "stage {} ran at {}%, the candidate's is at {}%: the measurements taken at {}% are judged",
                stage.index, stage.weight, step.weight, stage.weight
            )),
            Some(_) => {}
            None => findings.push(format!(
                "the candidate has {} stage(s): the rollout's stage {} at {}% has none to be judged by",
                steps.len(),
                stage.index,
                stage.weight
            )),
        }
    }
    if rollout.finished() {
        for (i, step) in steps.iter().enumerate().skip(rollout.stages.len()) {
            findings.push(format!(
                "the candidate's stage {i} at {}% was never run: nothing recorded to judge it on",
                step.weight
            ));
        }
    }
    findings
}

/// What the rollout did in a stage, in words: `promoted at 2026-12-07 12:01 UTC`.
pub fn recorded_words(recorded: &Recorded) -> String {
    use crate::gate::when;
    match recorded {
        Recorded::Promoted { at } => format!("promoted at {}", when(*at)),
        Recorded::RolledBack { at, reason, by_analysis: true } => format!("rolled back at {} ({reason})", when(*at)),
        Recorded::RolledBack { at, reason, by_analysis: false } => {
            format!("rolled back at {} ({reason}), not by its analysis", when(*at))
        }
        Recorded::RolledForward { at, reason } => format!("rolled forward at {} ({reason})", when(*at)),
        Recorded::Paused { at, reason } => format!("paused at {} ({reason})", when(*at)),
        Recorded::Running => "still measuring".into(),
    }
}

/// What a replayed analysis would have done in a stage, in the same words.
pub fn replayed_words(replayed: &Replayed) -> String {
    use crate::gate::when;
    match replayed {
        Replayed::Passed { at } => format!("promoted at {}", when(*at)),
        Replayed::Failed { at, reason } => format!("rolled back at {} ({reason})", when(*at)),
        Replayed::Inconclusive { at, reason } => format!("paused at {} ({reason})", when(*at)),
        Replayed::Measuring { hold_ends } => {
            format!("still measuring when the record ends (its hold would run to {})", when(*hold_ends))
        }
        Replayed::NoStage => "no such stage".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::evidence::Digest;
    use crate::release::Stamped;
    use crate::rollout::analysis::{Measured, Metric};
    use crate::rollout::plan::{Signals, Step, Strategy};
    use crate::rollout::progress::RolloutPlan;

    fn t(seconds: i64) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    fn error_ratio(condition: &str) -> Metric {
        Metric {
            name: "error-ratio".into(),
            query: "ratio".into(),
            condition: condition.parse().unwrap(),
            interval: Duration::seconds(10),
            failure_limit: 0,
            inconclusive_limit: 0,
            error_limit: 0,
            min_samples: 3,
        }
    }

    /// A canary 5% → 100%, each stage held `hold` seconds, judged on `analysis`.
    fn canary(hold: i64, analysis: Vec<Metric>) -> Plan {
        Plan {
            strategy: Strategy::Canary {
                steps: vec![
                    Step { weight: 5, hold: Duration::seconds(hold) },
                    Step { weight: 100, hold: Duration::seconds(hold) },
                ],
            },
            analysis,
            smoke: Vec::new(),
            target: None,
            prometheus: Some("http://prometheus:9090".into()),
            signals: Signals::default(),
            one_way: Vec::new(),
        }
    }

    /// The plan the recorded rollouts ran: error ratio below 1%, three samples, held a minute.
    fn as_run() -> Plan {
        canary(60, vec![error_ratio("< 0.01")])
    }

    fn rollout() -> Rollout {
        let plan =
            Arc::new(RolloutPlan { name: "p".into(), sha256: String::new(), text: String::new(), plan: as_run() });
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

    /// Stage `index` at `weight` shifted at `at`, with `ratios` measured every 10 s from then
    /// (and a health signal beside each, which no analysis reads).
    fn stage(r: &mut Rollout, index: u32, weight: u32, at: i64, ratios: &[f64]) {
        r.stages.push(Stage { index, weight, shifted: t(at), since: t(at), passed: None });
        for (i, v) in ratios.iter().enumerate() {
            let when = t(at + 10 * i as i64);
            for (name, value) in [("error-ratio", *v), ("health", 200.0)] {
                r.measurements.push(Measurement {
                    stage: Some(index),
                    name: name.into(),
                    query: "ratio".into(),
                    at: when,
                    measured: Measured::Value(value),
                });
            }
        }
    }

    /// Both stages promoted: stage 0 from 10 s (promoted at 75 s), stage 1 from 80 s (at 145 s),
    /// the error ratio under 0.5% but for one 0.7% at 40 s in stage 0.
    fn promoted() -> Rollout {
        let mut r = rollout();
        stage(&mut r, 0, 5, 10, &[0.001, 0.002, 0.001, 0.007, 0.001, 0.002, 0.001]);
        r.stages[0].passed = Some(t(75));
        stage(&mut r, 1, 100, 80, &[0.001; 7]);
        r.stages[1].passed = Some(t(145));
        r.completed = Some(t(146));
        r
    }

    /// Stage 0 from 10 s, 2% measured at 20 s, rolled back by the executor at 21 s.
    fn rolled_back() -> (Rollout, Rollback) {
        let mut r = rollout();
        stage(&mut r, 0, 5, 10, &[0.001, 0.02]);
        let reason = "automatic: the analysis of stage 0 at 5% failed: error-ratio: 1 measurement(s) failed".into();
        (r, Rollback { reason, started: Stamped { value: (), by: "executor".into(), at: t(21) }, completed: None })
    }

    #[test]
    fn a_looser_threshold_would_have_promoted_a_stage_that_was_rolled_back() {
        // Given a stage rolled back at 21 s on a 2% error ratio (limit 1%)
        let (r, rb) = rolled_back();
        // When the candidate allows 5%, needs two samples and holds 10 s
        let mut metric = error_ratio("< 0.05");
        metric.min_samples = 2;
        let looser = canary(10, vec![metric.clone()]);
        let b = backtest(&r, Some(&rb), &looser);
        // Then it would have promoted the stage at 20 s, when its hold was over with 2 passing
        let s = &b.stages[0];
        assert!(matches!(&s.recorded, Recorded::RolledBack { at, by_analysis: true, .. } if *at == t(21)), "{s:?}");
        assert_eq!(s.candidate, Replayed::Passed { at: t(20) });
        assert!(s.differs);
        assert_eq!(b.differing(), 1);
        assert_eq!(b.findings, Vec::<String>::new());
        // And with the recorded minute's hold, it would still have been measuring when the
        // rollback came: a difference too (it would not have rolled back then)
        let same_hold = backtest(&r, Some(&rb), &canary(60, vec![metric]));
        assert_eq!(same_hold.stages[0].candidate, Replayed::Measuring { hold_ends: t(70) });
        assert!(same_hold.stages[0].differs);
    }

    #[test]
    fn a_tighter_threshold_would_have_rolled_back_a_stage_that_was_promoted_saying_when_and_why() {
        // Given both stages promoted, with one 0.7% error ratio at 40 s in stage 0
        let r = promoted();
        // When the candidate allows only 0.5%
        let b = backtest(&r, None, &canary(60, vec![error_ratio("< 0.005")]));
        // Then stage 0 would have been rolled back at 40 s, with the analysis' reason
        let s = &b.stages[0];
        assert_eq!(s.recorded, Recorded::Promoted { at: t(75) });
        let Replayed::Failed { at, reason } = &s.candidate else { panic!("{s:?}") };
        assert_eq!(*at, t(40));
        assert_eq!(reason, "error-ratio: 1 measurement(s) failed `< 0.005` (limit 0), last 0.007");
        assert!(s.differs && s.reached);
        // and stage 1, judged on its own, passes, but would never have been reached
        assert_eq!(b.stages[1].candidate, Replayed::Passed { at: t(140) });
        assert!(!b.stages[1].differs && !b.stages[1].reached);
        assert_eq!(b.differing(), 1);
    }

    #[test]
    fn the_configuration_that_ran_differs_nowhere() {
        // Given a rollout promoted through both stages, one rolled back, and one paused
        let mut paused = rollout();
        stage(&mut paused, 0, 5, 10, &[0.001, 0.001]);
        paused.measurements.push(Measurement {
            stage: Some(0),
            name: "error-ratio".into(),
            query: "ratio".into(),
            at: t(30),
            measured: Measured::NoData("no series".into()),
        });
        paused.paused = Some(Stamped { value: "error-ratio: no number".into(), by: "executor".into(), at: t(31) });
        let (back, rb) = rolled_back();
        // When each is backtested with the plan it ran
        for (r, rb) in [(promoted(), None), (back, Some(&rb)), (paused, None)] {
            let b = backtest(&r, rb, &as_run());
            // Then no stage differs, and there is nothing to say
            assert_eq!(b.differing(), 0, "{b:?}");
            assert_eq!(b.findings, Vec::<String>::new());
        }
        let (back, rb) = rolled_back();
        let b = backtest(&back, Some(&rb), &as_run());
        assert!(matches!(&b.stages[0].candidate, Replayed::Failed { at, .. } if *at == t(20)));
    }

    #[test]
    fn more_samples_than_were_recorded_are_inconclusive_and_the_interval_makes_none_up() {
        // Given stage 0 promoted on 7 measurements in its minute, one every 10 s
        let r = promoted();
        // When the candidate measures every 5 s and needs 12 samples (which its hold fits)
        let mut metric = error_ratio("< 0.01");
        metric.interval = Duration::seconds(5);
        metric.min_samples = 12;
        let b = backtest(&r, None, &canary(60, vec![metric]));
        // Then at the end of the hold it has 7 and would have paused: never promoted
        let Replayed::Inconclusive { at, reason } = &b.stages[0].candidate else { panic!("{:?}", b.stages[0]) };
        assert_eq!(*at, t(70));
        assert_eq!(reason, "error-ratio: 7 passing measurement(s), 12 needed");
        assert!(b.stages[0].differs);
        // and the finding says the recorded measurements were judged, none made up
        assert!(
            b.findings.iter().any(|f| f.contains("every 5s in the candidate but was every 10s")),
            "{:?}",
            b.findings
        );
    }

    #[test]
    fn a_metric_never_measured_is_a_finding_and_fails_closed() {
        // Given a rollout that never measured p99 latency
        let r = promoted();
        // When the candidate adds it
        let mut p99 = error_ratio("< 0.3");
        p99.name = "p99-latency".into();
        p99.min_samples = 1;
        let b = backtest(&r, None, &canary(60, vec![error_ratio("< 0.01"), p99]));
        // Then the backtest says it cannot judge it
        assert!(
            b.findings
                .iter()
                .any(|f| f.starts_with("`p99-latency` was never measured in this rollout: it cannot be backtested")),
            "{:?}",
            b.findings
        );
        // and never passes a stage on it: inconclusive once the hold is over
        for s in &b.stages {
            let Replayed::Inconclusive { reason, .. } = &s.candidate else { panic!("{s:?}") };
            assert_eq!(reason, "p99-latency: 0 passing measurement(s), 1 needed");
            assert!(s.differs);
        }
    }

    #[test]
    fn a_rollback_by_a_trigger_is_not_the_analysis_and_a_candidate_still_measuring_agrees() {
        // Given a stage rolled back at 35 s by the error-rate trigger, its analysis passing
        let mut r = rollout();
        stage(&mut r, 0, 5, 10, &[0.001, 0.001, 0.001]);
        let rb = Rollback {
            reason: "automatic: error-rate (Error rate exceeds the pre-deployment baseline ...)".into(),
            started: Stamped { value: (), by: "executor".into(), at: t(35) },
            completed: None,
        };
        let b = backtest(&r, Some(&rb), &canary(60, vec![error_ratio("< 0.005")]));
        // Then the rollback is recorded as not the analysis', and a candidate still measuring
        // would have been rolled back the same way
        assert!(matches!(b.stages[0].recorded, Recorded::RolledBack { by_analysis: false, .. }));
        assert_eq!(b.stages[0].candidate, Replayed::Measuring { hold_ends: t(70) });
        assert!(!b.stages[0].differs);
    }

    #[test]
    fn a_paused_stage_a_person_rolled_back_stays_paused_and_the_rollback_is_said() {
        // Given stage 0 paused on no data at 21 s, then rolled back by the on-call engineer
        let mut r = rollout();
        stage(&mut r, 0, 5, 10, &[0.001]);
        r.measurements.push(Measurement {
            stage: Some(0),
            name: "error-ratio".into(),
            query: "ratio".into(),
            at: t(20),
            measured: Measured::NoData("no series".into()),
        });
        r.paused = Some(Stamped { value: "error-ratio: no number".into(), by: "executor".into(), at: t(21) });
        let rb = Rollback {
            reason: "no data for ten minutes".into(),
            started: Stamped { value: (), by: "omar".into(), at: t(600) },
            completed: None,
        };
        // When backtested with a candidate tolerating one measurement without a number
        let mut tolerant = error_ratio("< 0.01");
        tolerant.inconclusive_limit = 1;
        let b = backtest(&r, Some(&rb), &canary(60, vec![tolerant]));
        // Then the stage was paused, the candidate would still have been measuring when the
        // record ends, and the rollback is a finding, not the stage's outcome
        assert!(matches!(b.stages[0].recorded, Recorded::Paused { at, .. } if at == t(21)));
        assert_eq!(b.stages[0].candidate, Replayed::Measuring { hold_ends: t(70) });
        assert!(b.stages[0].differs);
        assert!(b.findings.iter().any(|f| f.starts_with("rolled back at") && f.contains("while paused at stage 0")));
    }

    #[test]
    fn a_resumed_stage_is_judged_from_its_resume_as_its_analysis_was() {
        // Given stage 0 paused on no data at 20 s and resumed at 30 s, then promoted at 95 s
        let mut r = rollout();
        stage(&mut r, 0, 5, 10, &[0.001]);
        r.measurements.push(Measurement {
            stage: Some(0),
            name: "error-ratio".into(),
            query: "ratio".into(),
            at: t(20),
            measured: Measured::NoData("no series".into()),
        });
        stage(&mut r, 0, 5, 30, &[0.001; 7]);
        r.stages.remove(1);
        r.stages[0].since = t(30);
        r.stages[0].passed = Some(t(95));
        // When backtested with the plan it ran
        let b = backtest(&r, None, &as_run());
        // Then the no data before the resume is not judged again, and the resume is said
        assert_eq!(b.stages[0].candidate, Replayed::Passed { at: t(90) });
        assert_eq!((b.stages[0].from, b.stages[0].measurements), (t(30), 7));
        assert!(b.findings.iter().any(|f| f.starts_with("stage 0 was paused and resumed at")), "{:?}", b.findings);
    }

    #[test]
    fn stages_the_candidate_does_not_have_are_said() {
        let r = promoted();
        let mut direct = canary(0, vec![error_ratio("< 0.01")]);
        direct.strategy = Strategy::Direct;
        let b = backtest(&r, None, &direct);
        assert_eq!(b.stages[1].candidate, Replayed::NoStage);
        assert!(b.stages[1].differs);
        assert!(
            b.findings.iter().any(|f| f.contains("stage 0 ran at 5%, the candidate's is at 100%")),
            "{:?}",
            b.findings
        );
        assert!(b.findings.iter().any(|f| f.contains("the rollout's stage 1 at 100% has none")), "{:?}", b.findings);
    }
}
