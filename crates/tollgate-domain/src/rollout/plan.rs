//! A rollout plan: the strategy of 4.4.4 with its stages, the analysis run at each stage, and
//! the smoke checks run after each. Plans are data: a default per release type in the profile,
//! and a release's own plan, which may only be tighter than its type's default.

use chrono::Duration;

use super::analysis::Metric;

/// One stage: the share of traffic (or of instances, or of users) on the new version, held
/// for `hold` while the analysis measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Step {
    /// Percent; a plan's `problems` refuse anything outside 1 to 100.
    pub weight: u32,
    #[cfg_attr(feature = "snapshot", serde(with = "crate::rollout::span_serde"))]
    pub hold: Duration,
}

/// The rollout strategies of QMS-DEV-PRO-004 4.4.4.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Strategy {
    /// "Route a defined percentage of traffic (e.g. 5%, then 25%, then 100%) with a hold period
    /// and metric check at each stage."
    Canary { steps: Vec<Step> },
    /// "Route traffic to new environment after smoke tests pass; keep old environment warm for
    /// the stabilisation window": the analysis runs on the new environment for `pre_promotion`
    /// before the switch, and again after it.
    BlueGreen {
        #[cfg_attr(feature = "snapshot", serde(with = "crate::rollout::span_serde"))]
        pre_promotion: Duration,
    },
    /// "Update instances in batches; confirm health of each batch before proceeding": each
    /// step's weight is the share of instances updated so far.
    Rolling { batches: Vec<Step> },
    /// "Deploy to 100% of infrastructure but gate user access via flag; increment exposure
    /// incrementally": each step's weight is the flag's exposure.
    FeatureFlag { flag: String, steps: Vec<Step> },
    /// 4.6: "emergency deployments go direct to 100% with immediate rollback readiness".
    Direct,
}

impl Strategy {
    pub fn key(&self) -> &'static str {
        match self {
            Strategy::Canary { .. } => "canary",
            Strategy::BlueGreen { .. } => "blue-green",
            Strategy::Rolling { .. } => "rolling",
            Strategy::FeatureFlag { .. } => "feature-flag",
            Strategy::Direct => "direct",
        }
    }

    /// The stages traffic goes through: a blue/green switch is one stage at 100% after its
    /// pre-promotion hold, a direct rollout one stage with no hold.
    pub fn steps(&self) -> Vec<Step> {
        match self {
            Strategy::Canary { steps } | Strategy::Rolling { batches: steps } | Strategy::FeatureFlag { steps, .. } => {
                steps.clone()
            }
            Strategy::BlueGreen { pre_promotion } => vec![Step { weight: 100, hold: *pre_promotion }],
            Strategy::Direct => vec![Step { weight: 100, hold: Duration::zero() }],
        }
    }

    /// The name of the field its stages are written in.
    pub(super) fn steps_field(&self) -> &'static str {
        match self {
            Strategy::Rolling { .. } => "batches",
            Strategy::BlueGreen { .. } => "pre-promotion",
            _ => "steps",
        }
    }
}

/// An HTTP check of a critical path, run after every stage (4.4.4: "smoke tests must cover all
/// critical user-facing paths").
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct SmokeCheck {
    pub name: String,
    pub url: String,
    pub expect_status: u16,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Plan {
    pub strategy: Strategy,
    pub analysis: Vec<Metric>,
    pub smoke: Vec<SmokeCheck>,
    /// Where the executor sets the new version's share; a plan without one can be checked
    /// but not run.
    pub target: Option<Target>,
    /// The Prometheus the analysis and the signals are queried from.
    pub prometheus: Option<String>,
    /// What the rollback triggers of 4.5 read of this service.
    pub signals: Signals,
    /// Stages whose change cannot be reversed (a migration that drops a column): from the
    /// first of them on, the plan rolls forward, and each needs the release manager's approval
    /// before its shift.
    pub one_way: Vec<OneWay>,
}

/// A one-way step: the stage (by index) at which something irreversible happens, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct OneWay {
    pub stage: u32,
    pub says: String,
}

/// Where the share of the new version is set: the adapters of `tollgate-rollout`, chosen per
/// service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Target {
    /// HAProxy's runtime API on `admin` (`host:port` or a socket path): `canary`'s weight in
    /// `backend` is the new version's share, `stable`'s the rest.
    Haproxy { admin: String, backend: String, stable: String, canary: String },
    /// A program run with the weight, the artefact digests and the environment in its
    /// environment (kubectl, Argo, Nomad, a script); exit 0 means the share is in place.
    Command { program: Vec<String> },
    /// An HTTP endpoint sent each shift as JSON; a 2xx answer means the share is in place.
    Webhook { url: String },
    /// Unleash's Admin API at `url`: the feature-flag strategy's exposure is the rollout of the
    /// plan's `flag` in Unleash's `environment` of `project`. The admin token is read from the
    /// server's environment variable `token_env`, never written in the plan (which is in the log).
    Unleash { url: String, project: String, environment: String, token_env: String },
}

impl Target {
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Haproxy { .. } => "haproxy",
            Target::Command { .. } => "command",
            Target::Webhook { .. } => "webhook",
            Target::Unleash { .. } => "unleash",
        }
    }
}

/// The service's signals the rollback triggers of 4.5 are judged on, and production is
/// compared on against the pre-deployment baseline through stabilisation (4.4.5: "error rate,
/// p50/p95/p99 latency, throughput, saturation"), measured every `interval` from before the
/// first shift (the baseline) to the end of the stabilisation window.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Signals {
    /// PromQL giving the service's error rate as a ratio.
    pub error_rate: Option<String>,
    /// PromQL giving the service's p95 latency in seconds, and the SLO's threshold for it.
    pub p95_latency: Option<String>,
    pub latency_slo: Option<f64>,
    /// PromQL giving the p50 and p99 latency in seconds, compared with their baseline.
    pub p50_latency: Option<String>,
    pub p99_latency: Option<String>,
    /// PromQL giving requests per second: lower than the baseline is worse.
    pub throughput: Option<String>,
    /// PromQL giving the saturation as a ratio (CPU, memory, connections in use).
    pub saturation: Option<String>,
    /// The health endpoint: anything but 200 is a failed check.
    pub health: Option<String>,
    /// The data-integrity check after a migration: a program, exit 0 passes.
    pub integrity: Option<Vec<String>>,
    #[cfg_attr(feature = "snapshot", serde(with = "crate::rollout::span_serde"))]
    pub interval: Duration,
}

impl Default for Signals {
    fn default() -> Signals {
        Signals {
            error_rate: None,
            p95_latency: None,
            latency_slo: None,
            p50_latency: None,
            p99_latency: None,
            throughput: None,
            saturation: None,
            health: None,
            integrity: None,
            interval: Duration::seconds(10),
        }
    }
}

impl Signals {
    /// The signals queried from Prometheus, by their measurement name, with their query.
    pub fn queries(&self) -> Vec<(&'static str, &str)> {
        [
            ("error-rate", &self.error_rate),
            ("p50-latency", &self.p50_latency),
            ("p95-latency", &self.p95_latency),
            ("p99-latency", &self.p99_latency),
            ("throughput", &self.throughput),
            ("saturation", &self.saturation),
        ]
        .into_iter()
        .filter_map(|(name, query)| Some((name, query.as_deref()?)))
        .collect()
    }

    /// Every signal measured, by name: the queries, then the health and integrity checks.
    pub fn measured(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.queries().into_iter().map(|(name, _)| name).collect();
        if self.health.is_some() {
            names.push("health");
        }
        if self.integrity.is_some() {
            names.push("integrity");
        }
        names
    }
}

/// The signal names a measurement record uses (a plan's own metrics may not take them).
pub const SIGNALS: [&str; 8] =
    ["error-rate", "p50-latency", "p95-latency", "p99-latency", "throughput", "saturation", "health", "integrity"];

/// A problem with a plan: the field (a path like `steps[1].weight`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Plan {
    /// The one-way step at `stage`, if that stage is one.
    pub fn one_way_at(&self, stage: u32) -> Option<&OneWay> {
        self.one_way.iter().find(|o| o.stage == stage)
    }

    /// What is wrong with the plan as a plan: stages that do not rise to 100%, holds that
    /// cannot fit the analysis, metrics that cannot be measured. Empty when it can be run.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut at = |field: String, message: String| problems.push(Problem { field, message });
        let field = self.strategy.steps_field();
        let steps = self.strategy.steps();
        match &self.strategy {
            Strategy::BlueGreen { pre_promotion } if *pre_promotion <= Duration::zero() => {
                at(field.into(), "the pre-promotion analysis needs a hold longer than zero".into());
            }
            Strategy::FeatureFlag { flag, .. } if flag.trim().is_empty() => {
                at("flag".into(), "name the feature flag whose exposure is raised".into());
            }
            _ => {}
        }
        if steps.is_empty() {
            at(field.into(), "at least one stage, the last at weight 100".into());
        }
        let mut previous = 0;
        for (i, s) in steps.iter().enumerate() {
            if s.weight == 0 || s.weight > 100 {
                at(format!("{field}[{i}].weight"), format!("{} is not a share of 1 to 100", s.weight));
            } else if s.weight <= previous {
                at(format!("{field}[{i}].weight"), format!("{} does not increase on {previous}", s.weight));
            }
            previous = previous.max(s.weight);
        }
        if steps.last().is_some_and(|s| s.weight != 100) {
            at(format!("{field}[{}].weight", steps.len() - 1), "the last stage must reach 100".into());
        }
        for (m, metric) in self.analysis.iter().enumerate() {
            if metric.interval <= Duration::zero() {
                at(format!("analysis[{m}].interval"), "must be longer than zero".into());
                continue;
            }
            if metric.min_samples == 0 {
                at(format!("analysis[{m}].min-samples"), "at least 1: a metric passes on measurements".into());
                continue;
            }
            // Every held stage must fit the measurements the metric needs to pass.
            let Some(needed) = i32::try_from(metric.min_samples).ok().and_then(|n| metric.interval.checked_mul(n))
            else {
                at(
                    format!("analysis[{m}].min-samples"),
                    format!("{} measurements cannot fit any hold", metric.min_samples),
                );
                continue;
            };
            for (i, s) in steps.iter().enumerate().filter(|(_, s)| s.hold > Duration::zero()) {
                if s.hold < needed {
                    at(
                        format!("{}.hold", stage_field(field, i, &self.strategy)),
                        format!(
                            "{} is shorter than the {} measurement(s) every {} that `{}` needs",
                            seconds(s.hold),
                            metric.min_samples,
                            seconds(metric.interval),
                            metric.name
                        ),
                    );
                }
            }
        }
        for (m, metric) in self.analysis.iter().enumerate() {
            if SIGNALS.contains(&metric.name.as_str()) {
                at(
                    format!("analysis[{m}].name"),
                    format!(
                        "`{}` is the name of a signal (error-rate, latency, throughput, saturation, health, integrity); choose another",
                        metric.name
                    ),
                );
            }
        }
        let queried = !self.analysis.is_empty() || !self.signals.queries().is_empty();
        if queried && self.prometheus.is_none() {
            at("prometheus".into(), "the analysis and the signals are queried from Prometheus: give its URL".into());
        }
        if self.signals.p95_latency.is_some() && self.signals.latency_slo.is_none() {
            at(
                "signals.latency-slo".into(),
                "p95 latency is judged against the SLO: give its threshold in seconds".into(),
            );
        }
        if self.signals.interval <= Duration::zero() {
            at("signals.interval".into(), "must be longer than zero".into());
        }
        for (i, one_way) in self.one_way.iter().enumerate() {
            if one_way.stage as usize >= steps.len() {
                at(format!("one-way[{i}].stage"), format!("the plan has no stage {}", one_way.stage));
            }
            if one_way.says.trim().is_empty() {
                at(format!("one-way[{i}].says"), "say what cannot be undone (the migration, the data change)".into());
            }
        }
        if matches!(self.target, Some(Target::Unleash { .. })) && !matches!(self.strategy, Strategy::FeatureFlag { .. })
        {
            at(
                "target.kind".into(),
                format!(
                    "an unleash target raises a flag's exposure: the strategy is feature-flag, not {}",
                    self.strategy.key()
                ),
            );
        }
        if self.analysis.is_empty() && !matches!(self.strategy, Strategy::Direct) {
            at("analysis".into(), "a staged rollout needs at least one metric to check at each stage".into());
        }
        problems
    }
}

pub(super) fn stage_field(field: &str, i: usize, strategy: &Strategy) -> String {
    match strategy {
        Strategy::BlueGreen { .. } => field.to_owned(),
        _ => format!("{field}[{i}]"),
    }
}

fn seconds(d: Duration) -> String {
    let s = d.num_seconds();
    if s % 60 == 0 { format!("{}m", s / 60) } else { format!("{s}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(weight: u32, minutes: i64) -> Step {
        Step { weight, hold: Duration::minutes(minutes) }
    }

    fn metric(interval_s: i64, min_samples: u32) -> Metric {
        Metric {
            name: "error-ratio".into(),
            query: "x".into(),
            condition: "< 0.01".parse().unwrap(),
            interval: Duration::seconds(interval_s),
            failure_limit: 0,
            inconclusive_limit: 0,
            error_limit: 0,
            min_samples,
        }
    }

    fn canary(steps: Vec<Step>) -> Plan {
        Plan {
            strategy: Strategy::Canary { steps },
            analysis: vec![metric(60, 3)],
            smoke: vec![],
            target: None,
            prometheus: Some("http://127.0.0.1:9090".into()),
            signals: Signals::default(),
            one_way: vec![],
        }
    }

    fn fields(plan: &Plan) -> Vec<String> {
        plan.problems().into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn five_twenty_five_one_hundred_is_a_plan() {
        assert_eq!(canary(vec![step(5, 5), step(25, 10), step(100, 0)]).problems(), vec![]);
    }

    #[test]
    fn weights_must_rise_to_one_hundred() {
        assert_eq!(fields(&canary(vec![step(25, 5), step(5, 5), step(100, 0)])), ["steps[1].weight"]);
        assert_eq!(fields(&canary(vec![step(5, 5), step(50, 5)])), ["steps[1].weight"]);
        assert_eq!(fields(&canary(vec![step(0, 5), step(100, 0)])), ["steps[0].weight"]);
        assert_eq!(fields(&canary(vec![])), ["steps"]);
    }

    #[test]
    fn a_hold_shorter_than_the_analysis_needs_is_refused_with_its_field() {
        let plan = canary(vec![step(5, 2), step(100, 0)]);
        let problems = plan.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "steps[0].hold");
        assert!(problems[0].message.contains("3 measurement(s) every 1m"), "{}", problems[0].message);
        let bg = Plan { strategy: Strategy::BlueGreen { pre_promotion: Duration::seconds(30) }, ..plan.clone() };
        assert_eq!(fields(&bg), ["pre-promotion.hold"]);
    }

    #[test]
    fn sample_counts_that_cannot_be_measured_are_refused() {
        let mut plan = canary(vec![step(5, 5), step(100, 0)]);
        plan.analysis[0].min_samples = 0;
        assert_eq!(fields(&plan), ["analysis[0].min-samples"]);
        plan.analysis[0].min_samples = u32::MAX;
        assert_eq!(fields(&plan), ["analysis[0].min-samples"], "no overflow, a refusal");
        plan.analysis[0].min_samples = 3_000_000;
        plan.analysis[0].interval = Duration::weeks(1_000_000);
        assert!(!plan.problems().is_empty(), "a product past any duration is a refusal, not a panic");
    }

    #[test]
    fn a_staged_rollout_checks_something_a_direct_one_need_not() {
        let plan = Plan { analysis: vec![], ..canary(vec![step(100, 0)]) };
        assert_eq!(fields(&plan), ["analysis"]);
        let direct = Plan { strategy: Strategy::Direct, analysis: vec![], prometheus: None, ..canary(vec![]) };
        assert_eq!(direct.problems(), vec![]);
        assert_eq!(direct.strategy.steps(), vec![step(100, 0)]);
    }
}
