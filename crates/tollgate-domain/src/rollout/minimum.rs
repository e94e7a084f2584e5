//! The least a release type's rollouts must do: the profile's `[release-types.TYPE.rollout]`.
//! A release's own plan may only be tighter than its type's (as a team profile may only be
//! tighter than the one it extends): the same strategy; every stage of the minimum, held at
//! least as long, and nothing exposed sooner; every metric of the minimum, judged at least as
//! strictly; every signal the minimum names measured, so 4.5's triggers can be judged.

use chrono::Duration;

use super::analysis::{Comparison, Metric};
use super::plan::{Plan, Problem, Strategy, stage_field};

/// A release type's minimum rollout.
#[derive(Clone, Debug, PartialEq)]
pub struct MinimumPlan {
    /// Where the profile takes it from (the procedure's sentence, or NOT STATED).
    pub says: String,
    /// `None` where the procedure names no strategy for the type (only what is measured).
    pub strategy: Option<Strategy>,
    /// Each metric a plan must judge, by name; an empty query lets the service give its own.
    pub analysis: Vec<Metric>,
    /// The 4.5 signals (`plan::SIGNALS`) a plan must measure.
    pub signals: Vec<String>,
}

/// What a rollout plan is held to: the parts of a plan or of a minimum that tightening reads.
struct Shape<'a> {
    strategy: Option<&'a Strategy>,
    analysis: &'a [Metric],
    signals: Vec<&'a str>,
}

impl Plan {
    fn shape(&self) -> Shape<'_> {
        Shape { strategy: Some(&self.strategy), analysis: &self.analysis, signals: self.signals.measured() }
    }

    /// Where this plan is looser than its release type's minimum, each at the plan's field.
    pub fn loosens(&self, minimum: &MinimumPlan) -> Vec<Problem> {
        loosening(&self.shape(), &minimum.shape())
    }
}

impl MinimumPlan {
    fn shape(&self) -> Shape<'_> {
        Shape {
            strategy: self.strategy.as_ref(),
            analysis: &self.analysis,
            signals: self.signals.iter().map(String::as_str).collect(),
        }
    }

    /// Where a team profile's minimum is looser than the one of the profile it extends.
    pub fn loosens(&self, base: &MinimumPlan) -> Vec<Problem> {
        loosening(&self.shape(), &base.shape())
    }
}

fn loosening(plan: &Shape<'_>, minimum: &Shape<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut at = |field: String, message: String| problems.push(Problem { field, message });
    match (plan.strategy, minimum.strategy) {
        (_, None) => {}
        (None, Some(least)) => {
            at("strategy".into(), format!("none, where the release type rolls out by `{}`", least.key()));
        }
        (Some(strategy), Some(least)) if strategy.key() != least.key() => {
            at(
                "strategy".into(),
                format!("`{}`, where the release type rolls out by `{}`", strategy.key(), least.key()),
            );
        }
        (Some(strategy), Some(least)) => {
            for (field, message) in looser_stages(strategy, least) {
                at(field, message);
            }
        }
    }
    for must in minimum.analysis {
        match plan.analysis.iter().position(|m| m.name == must.name) {
            None => at(
                "analysis".into(),
                format!("no metric `{}`, which the release type judges by `{}`", must.name, must.condition),
            ),
            Some(i) => {
                for (key, why) in looser_metric(&plan.analysis[i], must) {
                    at(format!("analysis[{i}].{key}"), why);
                }
            }
        }
    }
    for signal in &minimum.signals {
        if !plan.signals.contains(signal) {
            at(format!("signals.{signal}"), "not measured, and the release type's rollback triggers read it".into());
        }
    }
    problems
}

/// How `strategy`'s stages are looser than `least`'s (the same strategy): a first stage that
/// exposes more, a stage of the minimum missing or held shorter. Stages of its own are tighter.
fn looser_stages(strategy: &Strategy, least: &Strategy) -> Vec<(String, String)> {
    let mut looser = Vec::new();
    let (steps, least) = (strategy.steps(), least.steps());
    let field = strategy.steps_field();
    if let (Some(first), Some(least_first)) = (steps.first(), least.first())
        && first.weight > least_first.weight
    {
        looser.push((
            format!("{field}[0].weight"),
            format!("{}% first, where the release type starts at {}%", first.weight, least_first.weight),
        ));
    }
    for must in &least {
        match steps.iter().position(|s| s.weight == must.weight) {
            None => looser.push((
                field.into(),
                format!("no stage at {}%, which the release type holds for {}", must.weight, span(must.hold)),
            )),
            Some(i) if steps[i].hold < must.hold => looser.push((
                format!("{}.hold", stage_field(field, i, strategy)),
                format!(
                    "{} at {}%, where the release type holds {}",
                    span(steps[i].hold),
                    must.weight,
                    span(must.hold)
                ),
            )),
            Some(_) => {}
        }
    }
    looser
}

/// How `metric` is looser than `must`: by key, why.
fn looser_metric(metric: &Metric, must: &Metric) -> Vec<(&'static str, String)> {
    let mut looser = Vec::new();
    let (c, m) = (metric.condition, must.condition);
    let upper = |x: Comparison| matches!(x, Comparison::Below | Comparison::AtMost);
    let strict = match (upper(c.comparison), upper(m.comparison)) {
        // `< 0.01` is at least as strict as `<= 0.01` and `< 0.02`; `<= 0.01` is not as strict as `< 0.01`.
        (true, true) => {
            c.threshold < m.threshold
                || (c.threshold == m.threshold
                    && (c.comparison == Comparison::Below || m.comparison == Comparison::AtMost))
        }
        (false, false) => {
            c.threshold > m.threshold
                || (c.threshold == m.threshold
                    && (c.comparison == Comparison::Above || m.comparison == Comparison::AtLeast))
        }
        _ => false,
    };
    if !strict {
        looser.push(("condition", format!("`{c}` is looser than the release type's `{m}`")));
    }
    if !must.query.is_empty() && metric.query != must.query {
        looser.push(("query", format!("the release type measures `{}` by `{}`", must.name, must.query)));
    }
    let counts = [
        ("failure-limit", metric.failure_limit, must.failure_limit),
        ("inconclusive-limit", metric.inconclusive_limit, must.inconclusive_limit),
        ("error-limit", metric.error_limit, must.error_limit),
    ];
    for (key, mine, most) in counts {
        if mine > most {
            looser.push((key, format!("{mine} tolerated, where the release type tolerates {most}")));
        }
    }
    if metric.min_samples < must.min_samples {
        looser.push((
            "min-samples",
            format!("{}, where the release type needs {}", metric.min_samples, must.min_samples),
        ));
    }
    if metric.interval > must.interval {
        looser.push((
            "interval",
            format!("every {}, where the release type measures every {}", span(metric.interval), span(must.interval)),
        ));
    }
    looser
}

fn span(d: Duration) -> String {
    if d.is_zero() { "no hold".into() } else { crate::time::format_duration(d) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::{Signals, Step};

    fn metric(condition: &str) -> Metric {
        Metric {
            name: "error-ratio".into(),
            query: "sum(rate(errors[1m]))".into(),
            condition: condition.parse().unwrap(),
            interval: Duration::minutes(1),
            failure_limit: 0,
            inconclusive_limit: 0,
            error_limit: 0,
            min_samples: 3,
        }
    }

    fn canary(weights: &[(u32, i64)]) -> Strategy {
        Strategy::Canary {
            steps: weights.iter().map(|(w, m)| Step { weight: *w, hold: Duration::minutes(*m) }).collect(),
        }
    }

    fn plan(strategy: Strategy, analysis: Vec<Metric>) -> Plan {
        Plan {
            strategy,
            analysis,
            smoke: vec![],
            target: None,
            prometheus: None,
            signals: Signals { error_rate: Some("e".into()), health: Some("http://h/".into()), ..Signals::default() },
            one_way: vec![],
        }
    }

    fn minimum() -> MinimumPlan {
        MinimumPlan {
            says: "4.4.4".into(),
            strategy: Some(canary(&[(5, 15), (25, 30), (100, 0)])),
            analysis: vec![Metric { query: String::new(), ..metric("< 0.01") }],
            signals: vec!["error-rate".into(), "health".into()],
        }
    }

    fn fields(plan: &Plan) -> Vec<String> {
        plan.loosens(&minimum()).into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn the_minimum_itself_and_anything_tighter_pass() {
        assert!(fields(&plan(canary(&[(5, 15), (25, 30), (100, 0)]), vec![metric("< 0.01")])).is_empty());
        let tighter = plan(canary(&[(1, 10), (5, 20), (25, 60), (50, 30), (100, 10)]), vec![metric("<= 0.005")]);
        assert!(fields(&tighter).is_empty(), "{:?}", tighter.loosens(&minimum()));
    }

    #[test]
    fn exposing_sooner_or_holding_shorter_is_looser() {
        // Given the minimum 5% (15m) → 25% (30m) → 100%
        // When a plan starts at 10%, then the first stage is named
        assert_eq!(
            fields(&plan(canary(&[(10, 15), (25, 30), (100, 0)]), vec![metric("< 0.01")])),
            ["steps[0].weight", "steps"]
        );
        // When it holds 25% for 29 minutes, then that hold is named
        assert_eq!(fields(&plan(canary(&[(5, 15), (25, 29), (100, 0)]), vec![metric("< 0.01")])), ["steps[1].hold"]);
    }

    #[test]
    fn a_condition_is_as_strict_only_on_the_same_side_at_or_inside_the_threshold() {
        let loose = |condition: &str| {
            !fields(&plan(canary(&[(5, 15), (25, 30), (100, 0)]), vec![metric(condition)])).is_empty()
        };
        assert!(!loose("< 0.01"));
        assert!(!loose("< 0.005"));
        assert!(!loose("<= 0.009"));
        assert!(loose("<= 0.01"), "<= 0.01 passes the 0.01 that < 0.01 fails");
        assert!(loose("< 0.02"));
        assert!(loose("> 0.0"), "the other side judges nothing the minimum does");
    }

    #[test]
    fn limits_samples_interval_and_signals_may_only_tighten() {
        let mut m = metric("< 0.01");
        m.failure_limit = 1;
        m.min_samples = 2;
        m.interval = Duration::minutes(2);
        let mut p = plan(canary(&[(5, 15), (25, 30), (100, 0)]), vec![m]);
        p.signals.health = None;
        assert_eq!(
            fields(&p),
            ["analysis[0].failure-limit", "analysis[0].min-samples", "analysis[0].interval", "signals.health"]
        );
        let none = plan(canary(&[(5, 15), (25, 30), (100, 0)]), vec![]);
        assert_eq!(fields(&none), ["analysis"]);
        let direct = plan(Strategy::Direct, vec![metric("< 0.01")]);
        assert_eq!(fields(&direct), ["strategy"]);
    }
}
