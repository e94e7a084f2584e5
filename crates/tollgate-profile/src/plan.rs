//! Rollout plan files: the strategy, its stages, the analysis at each stage and the smoke
//! checks after each, as TOML. A plan is refused at adoption with the file, line and field of
//! each problem: an unknown strategy, weights that do not rise to 100, a hold shorter than its
//! analysis needs, a condition or a PromQL query that does not parse.
//!
//! ```toml
//! strategy = "canary"
//! steps = [{ weight = 5, hold = "5m" }, { weight = 25, hold = "10m" }, { weight = 100 }]
//!
//! [[analysis]]
//! name = "error-ratio"
//! query = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'
//! condition = "< 0.01"
//! interval = "1m"
//! min-samples = 3
//!
//! [[smoke]]
//! name = "checkout"
//! url = "https://shop.example/checkout"
//! ```

use serde::Deserialize;
use tollgate_domain::rollout::analysis::{Condition, Metric};
use tollgate_domain::rollout::minimum::MinimumPlan;
use tollgate_domain::rollout::plan::{OneWay, Plan, SIGNALS, Signals, SmokeCheck, Step, Strategy, Target};
use tollgate_domain::time::Span;

use crate::convert::Problems;
use crate::path::KeyPath;
use crate::{ProfileErrors, errors, serde_key_path, shape_message, syntax};

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawPlan {
    strategy: String,
    #[serde(default)]
    steps: Vec<RawStep>,
    #[serde(default)]
    batches: Vec<RawStep>,
    pre_promotion: Option<String>,
    flag: Option<String>,
    #[serde(default)]
    analysis: Vec<RawMetric>,
    #[serde(default)]
    smoke: Vec<RawSmoke>,
    prometheus: Option<String>,
    target: Option<RawTarget>,
    signals: Option<RawSignals>,
    /// The one-way step of a plan with a single stage (blue-green's switch, a direct rollout).
    one_way: Option<String>,
}

/// `kind` chooses the adapter; each kind reads its own keys and refuses the others'.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawTarget {
    kind: String,
    admin: Option<String>,
    backend: Option<String>,
    stable: Option<String>,
    canary: Option<String>,
    program: Option<Vec<String>>,
    url: Option<String>,
    project: Option<String>,
    environment: Option<String>,
    token_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawSignals {
    error_rate: Option<String>,
    p95_latency: Option<String>,
    p50_latency: Option<String>,
    p99_latency: Option<String>,
    throughput: Option<String>,
    saturation: Option<String>,
    latency_slo: Option<f64>,
    health: Option<String>,
    integrity: Option<Vec<String>>,
    interval: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawStep {
    weight: u32,
    hold: Option<String>,
    /// What this stage does that cannot be undone: the plan rolls forward from it.
    one_way: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawMetric {
    name: String,
    query: Option<String>,
    condition: String,
    interval: String,
    #[serde(default)]
    failure_limit: u32,
    #[serde(default)]
    inconclusive_limit: u32,
    #[serde(default)]
    error_limit: u32,
    #[serde(default = "one")]
    min_samples: u32,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawSmoke {
    name: String,
    url: String,
    #[serde(default = "ok")]
    expect_status: u16,
}

fn ok() -> u16 {
    200
}

const STRATEGIES: &str = "canary, blue-green, rolling, feature-flag or direct";

/// Reads a rollout plan file named `name`.
pub fn load_plan(name: &str, text: &str) -> Result<Plan, ProfileErrors> {
    let table = syntax(name, text)?;
    let raw: RawPlan = serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        let key = serde_key_path(e.path(), &table);
        errors(name, text, Problems(vec![(key, shape_message(e.inner().to_string()))]), false)
    })?;
    let mut problems = Problems::default();
    let plan = convert(&raw, &mut problems);
    for p in plan.as_ref().map(Plan::problems).unwrap_or_default() {
        problems.at(&root_field(&KeyPath::root(), &p.field), p.message);
    }
    match plan {
        Some(plan) if problems.0.is_empty() => Ok(plan),
        _ => Err(errors(name, text, problems, false)),
    }
}

fn convert(raw: &RawPlan, problems: &mut Problems) -> Option<Plan> {
    let root = KeyPath::root();
    let stages = Stages {
        strategy: &raw.strategy,
        steps: &raw.steps,
        batches: &raw.batches,
        pre_promotion: raw.pre_promotion.as_deref(),
        flag: raw.flag.as_deref(),
    };
    let strategy = strategy(&root, &stages, problems)?;
    let analysis = analysis(&root, &raw.analysis, true, problems);
    let smoke = raw
        .smoke
        .iter()
        .enumerate()
        .map(|(i, s)| {
            http_url(problems, &root.key("smoke").index(i).key("url"), &s.url);
            SmokeCheck { name: s.name.clone(), url: s.url.clone(), expect_status: s.expect_status }
        })
        .collect();
    let one_way = one_way(raw, &strategy, problems);
    let target = raw.target.as_ref().and_then(|t| target(problems, t));
    let signals = raw.signals.as_ref().map_or_else(Signals::default, |s| signals(problems, s));
    if let Some(url) = &raw.prometheus {
        http_url(problems, &root.key("prometheus"), url);
    }
    Some(Plan { strategy, analysis, smoke, target, prometheus: raw.prometheus.clone(), signals, one_way })
}

/// The one-way steps: `one-way` on a stage of a staged plan, or at the top of a plan with a
/// single stage (blue-green's switch, a direct rollout).
fn one_way(raw: &RawPlan, strategy: &Strategy, problems: &mut Problems) -> Vec<OneWay> {
    let staged = match strategy {
        Strategy::Canary { .. } | Strategy::FeatureFlag { .. } => Some(("steps", &raw.steps)),
        Strategy::Rolling { .. } => Some(("batches", &raw.batches)),
        Strategy::BlueGreen { .. } | Strategy::Direct => None,
    };
    match (staged, &raw.one_way) {
        (Some(_), Some(_)) => {
            problems.at(
                &KeyPath::root().key("one-way"),
                format!("a {} plan marks the stage that is one-way: `one-way = \"...\"` on that step", strategy.key()),
            );
            Vec::new()
        }
        (Some((key, steps)), None) => steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| said(problems, &KeyPath::root().key(key).index(i).key("one-way"), &s.one_way, i))
            .collect(),
        (None, says) => said(problems, &KeyPath::root().key("one-way"), says, 0).into_iter().collect(),
    }
}

fn said(problems: &mut Problems, path: &KeyPath, says: &Option<String>, stage: usize) -> Option<OneWay> {
    let says = says.as_ref()?;
    if says.trim().is_empty() {
        problems.at(path, "say what cannot be undone (the migration, the data change)");
        return None;
    }
    Some(OneWay { stage: stage as u32, says: says.clone() })
}

/// The keys a strategy is written in, in a plan file or a release type's minimum.
struct Stages<'a> {
    strategy: &'a str,
    steps: &'a [RawStep],
    batches: &'a [RawStep],
    pre_promotion: Option<&'a str>,
    flag: Option<&'a str>,
}

fn strategy(root: &KeyPath, raw: &Stages<'_>, problems: &mut Problems) -> Option<Strategy> {
    let steps = |problems: &mut Problems, key: &str, steps: &[RawStep]| -> Vec<Step> {
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| Step {
                weight: s.weight,
                hold: s
                    .hold
                    .as_deref()
                    .map_or(chrono::Duration::zero(), |h| fixed(problems, &root.key(key).index(i).key("hold"), h)),
            })
            .collect()
    };
    Some(match raw.strategy {
        "canary" => Strategy::Canary { steps: steps(problems, "steps", raw.steps) },
        "rolling" => Strategy::Rolling { batches: steps(problems, "batches", raw.batches) },
        "feature-flag" => Strategy::FeatureFlag {
            flag: raw.flag.unwrap_or_default().to_owned(),
            steps: steps(problems, "steps", raw.steps),
        },
        "blue-green" => match raw.pre_promotion {
            Some(h) => Strategy::BlueGreen { pre_promotion: fixed(problems, &root.key("pre-promotion"), h) },
            None => {
                problems.at(
                    &root.key("pre-promotion"),
                    "blue-green needs `pre-promotion`: how long the new environment is analysed before the switch",
                );
                return None;
            }
        },
        "direct" => Strategy::Direct,
        other => {
            problems.at(&root.key("strategy"), format!("unknown strategy `{other}`; expected {STRATEGIES}"));
            return None;
        }
    })
}

/// The metrics under `root.analysis`; `query_needed` is false for a release type's minimum,
/// whose metrics may leave the query to each service.
fn analysis(root: &KeyPath, raw: &[RawMetric], query_needed: bool, problems: &mut Problems) -> Vec<Metric> {
    raw.iter()
        .enumerate()
        .map(|(i, m)| {
            let path = root.key("analysis").index(i);
            let condition = m.condition.parse::<Condition>().unwrap_or_else(|e| {
                problems.at(&path.key("condition"), e);
                Condition { comparison: tollgate_domain::rollout::analysis::Comparison::Below, threshold: 0.0 }
            });
            match &m.query {
                Some(query) => {
                    if let Err(e) = promql_parser::parser::parse(query) {
                        problems.at(&path.key("query"), format!("not a PromQL query: {}", e.trim()));
                    }
                }
                None if query_needed => problems.at(&path.key("query"), "the PromQL query the metric is measured by"),
                None => {}
            }
            Metric {
                name: m.name.clone(),
                query: m.query.clone().unwrap_or_default(),
                condition,
                interval: fixed(problems, &path.key("interval"), &m.interval),
                failure_limit: m.failure_limit,
                inconclusive_limit: m.inconclusive_limit,
                error_limit: m.error_limit,
                min_samples: m.min_samples,
            }
        })
        .collect()
}

/// A release type's minimum rollout (`[release-types.TYPE.rollout]`): the shape of a plan,
/// without what only a service knows (target, Prometheus, URLs); a metric may leave its query
/// to the service.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawMinimumPlan {
    says: String,
    /// Absent where the procedure names no strategy for the type.
    strategy: Option<String>,
    #[serde(default)]
    steps: Vec<RawStep>,
    #[serde(default)]
    batches: Vec<RawStep>,
    pre_promotion: Option<String>,
    #[serde(default)]
    analysis: Vec<RawMetric>,
    /// The 4.5 signals every plan of the type measures.
    #[serde(default)]
    signals: Vec<String>,
}

pub(crate) fn minimum(root: &KeyPath, raw: &RawMinimumPlan, problems: &mut Problems) -> Option<MinimumPlan> {
    let strategy = match &raw.strategy {
        Some(key) => {
            let stages = Stages {
                strategy: key,
                steps: &raw.steps,
                batches: &raw.batches,
                pre_promotion: raw.pre_promotion.as_deref(),
                flag: None,
            };
            Some(strategy(root, &stages, problems)?)
        }
        None => {
            let stray = !raw.steps.is_empty() || !raw.batches.is_empty() || raw.pre_promotion.is_some();
            if stray {
                problems.at(&root.key("strategy"), "stages are a strategy's: name it");
            }
            None
        }
    };
    let analysis = analysis(root, &raw.analysis, false, problems);
    for (i, step) in raw.steps.iter().chain(&raw.batches).enumerate() {
        if step.one_way.is_some() {
            problems.at(&root.key("steps").index(i).key("one-way"), "a one-way step is a release's, not its type's");
        }
    }
    for (i, signal) in raw.signals.iter().enumerate() {
        if !SIGNALS.contains(&signal.as_str()) {
            problems.at(
                &root.key("signals").index(i),
                format!("unknown signal `{signal}`; expected {}", SIGNALS.join(", ")),
            );
        }
    }
    // The minimum's stages and holds must make a plan, checked as one with its metrics; what
    // only a service gives (its flag, its Prometheus, its own metrics) is not asked of it.
    let as_plan = Plan {
        strategy: strategy.clone().unwrap_or(Strategy::Direct),
        analysis: analysis.clone(),
        smoke: Vec::new(),
        target: None,
        prometheus: None,
        signals: Signals::default(),
        one_way: Vec::new(),
    };
    let service_gives = ["flag", "prometheus", "analysis"];
    for p in as_plan.problems().into_iter().filter(|p| !service_gives.contains(&p.field.as_str())) {
        problems.at(&root_field(root, &p.field), p.message);
    }
    Some(MinimumPlan { says: raw.says.clone(), strategy, analysis, signals: raw.signals.clone() })
}

const TARGETS: &str = "haproxy, command, webhook or unleash";

fn target(problems: &mut Problems, raw: &RawTarget) -> Option<Target> {
    let path = KeyPath::root().key("target");
    let need = |problems: &mut Problems, key: &str, value: &Option<String>| -> String {
        match value {
            Some(v) if !v.trim().is_empty() => v.clone(),
            _ => {
                problems.at(&path.key(key), format!("a `{}` target needs `{key}`", raw.kind));
                String::new()
            }
        }
    };
    let stray = |problems: &mut Problems, keys: &[(&str, bool)]| {
        for (key, given) in keys {
            if *given {
                problems.at(&path.key(key), format!("`{key}` is not read by a `{}` target", raw.kind));
            }
        }
    };
    let haproxy_keys = [
        ("admin", raw.admin.is_some()),
        ("backend", raw.backend.is_some()),
        ("stable", raw.stable.is_some()),
        ("canary", raw.canary.is_some()),
    ];
    let unleash_keys = [
        ("project", raw.project.is_some()),
        ("environment", raw.environment.is_some()),
        ("token-env", raw.token_env.is_some()),
    ];
    if raw.kind != "unleash" {
        stray(problems, &unleash_keys);
    }
    match raw.kind.as_str() {
        "unleash" => {
            stray(problems, &haproxy_keys);
            stray(problems, &[("program", raw.program.is_some())]);
            let url = need(problems, "url", &raw.url);
            http_url(problems, &path.key("url"), &url);
            Some(Target::Unleash {
                url,
                project: raw.project.clone().unwrap_or_else(|| "default".into()),
                environment: need(problems, "environment", &raw.environment),
                token_env: need(problems, "token-env", &raw.token_env),
            })
        }
        "haproxy" => {
            stray(problems, &[("program", raw.program.is_some()), ("url", raw.url.is_some())]);
            Some(Target::Haproxy {
                admin: need(problems, "admin", &raw.admin),
                backend: need(problems, "backend", &raw.backend),
                stable: need(problems, "stable", &raw.stable),
                canary: need(problems, "canary", &raw.canary),
            })
        }
        "command" => {
            stray(problems, &haproxy_keys);
            stray(problems, &[("url", raw.url.is_some())]);
            let program = raw.program.clone().unwrap_or_default();
            if program.first().is_none_or(|p| p.trim().is_empty()) {
                problems.at(&path.key("program"), "a `command` target needs `program`: the program and its arguments");
            }
            Some(Target::Command { program })
        }
        "webhook" => {
            stray(problems, &haproxy_keys);
            stray(problems, &[("program", raw.program.is_some())]);
            let url = need(problems, "url", &raw.url);
            http_url(problems, &path.key("url"), &url);
            Some(Target::Webhook { url })
        }
        other => {
            problems.at(&path.key("kind"), format!("unknown target `{other}`; expected {TARGETS}"));
            None
        }
    }
}

fn signals(problems: &mut Problems, raw: &RawSignals) -> Signals {
    let path = KeyPath::root().key("signals");
    let queries = [
        ("error-rate", &raw.error_rate),
        ("p50-latency", &raw.p50_latency),
        ("p95-latency", &raw.p95_latency),
        ("p99-latency", &raw.p99_latency),
        ("throughput", &raw.throughput),
        ("saturation", &raw.saturation),
    ];
    for (key, query) in queries {
        if let Some(q) = query
            && let Err(e) = promql_parser::parser::parse(q)
        {
            problems.at(&path.key(key), format!("not a PromQL query: {}", e.trim()));
        }
    }
    if let Some(url) = &raw.health {
        http_url(problems, &path.key("health"), url);
    }
    if raw.latency_slo.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        problems.at(&path.key("latency-slo"), "the SLO's p95 threshold in seconds, above zero");
    }
    if raw.integrity.as_ref().is_some_and(|p| p.first().is_none_or(|p| p.trim().is_empty())) {
        problems.at(&path.key("integrity"), "the data-integrity check: a program and its arguments");
    }
    Signals {
        error_rate: raw.error_rate.clone(),
        p95_latency: raw.p95_latency.clone(),
        p50_latency: raw.p50_latency.clone(),
        p99_latency: raw.p99_latency.clone(),
        throughput: raw.throughput.clone(),
        saturation: raw.saturation.clone(),
        latency_slo: raw.latency_slo,
        health: raw.health.clone(),
        integrity: raw.integrity.clone(),
        interval: raw
            .interval
            .as_deref()
            .map_or_else(|| Signals::default().interval, |i| fixed(problems, &path.key("interval"), i)),
    }
}

fn http_url(problems: &mut Problems, path: &KeyPath, url: &str) {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        problems.at(path, format!("`{url}`: expected an http:// or https:// URL"));
    }
}

/// A fixed span (`30s`, `5m`): stages are held in wall-clock time, not business days.
fn fixed(problems: &mut Problems, path: &KeyPath, text: &str) -> chrono::Duration {
    match text.parse::<Span>() {
        Ok(Span::Fixed(d)) => d,
        Ok(Span::BusinessDays(_)) => {
            problems.at(path, format!("`{text}`: a fixed span like `30s` or `5m`, not business days"));
            chrono::Duration::zero()
        }
        Err(e) => {
            problems.at(path, e.0);
            chrono::Duration::zero()
        }
    }
}

/// `steps[1].weight` as a key path under `root`.
pub(crate) fn root_field(root: &KeyPath, field: &str) -> KeyPath {
    let mut path = root.clone();
    for part in field.split('.') {
        match part.split_once('[') {
            Some((key, index)) => {
                path = path.key(key);
                if let Ok(i) = index.trim_end_matches(']').parse() {
                    path = path.index(i);
                }
            }
            None => path = path.key(part),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"strategy = "canary"
steps = [
  { weight = 5, hold = "5m" },
  { weight = 25, hold = "10m" },
  { weight = 100 },
]
prometheus = "http://127.0.0.1:9090"

[[analysis]]
name = "error-ratio"
query = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'
condition = "< 0.01"
interval = "1m"
min-samples = 3

[[smoke]]
name = "home"
url = "http://127.0.0.1:8080/"
"#;

    fn refused(text: &str) -> Vec<String> {
        load_plan("plan.toml", text).unwrap_err().0.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_canary_plan_reads_as_written() {
        let plan = load_plan("plan.toml", PLAN).unwrap();
        assert_eq!(plan.strategy.key(), "canary");
        let weights: Vec<u32> = plan.strategy.steps().iter().map(|s| s.weight).collect();
        assert_eq!(weights, [5, 25, 100]);
        assert_eq!(plan.analysis[0].interval, chrono::Duration::minutes(1));
        assert_eq!(plan.smoke[0].expect_status, 200);
    }

    #[test]
    fn a_one_way_step_is_read_from_its_stage_and_refused_blank_or_misplaced() {
        let one_way = PLAN.replace(
            "{ weight = 25, hold = \"10m\" }",
            "{ weight = 25, hold = \"10m\", one-way = \"migration 42 drops orders.total\" }",
        );
        let plan = load_plan("plan.toml", &one_way).unwrap();
        assert_eq!(plan.one_way, [OneWay { stage: 1, says: "migration 42 drops orders.total".into() }]);
        let blank = refused(&one_way.replace("migration 42 drops orders.total", " "));
        assert!(blank[0].starts_with("plan.toml:4:32: steps[1].one-way: say what cannot be undone"), "{blank:#?}");
        let misplaced = refused(&format!("one-way = \"x\"\n{PLAN}"));
        assert!(misplaced[0].contains("one-way: a canary plan marks the stage that is one-way"), "{misplaced:#?}");
        let direct = load_plan("plan.toml", "strategy = \"direct\"\none-way = \"drops a table\"\n").unwrap();
        assert_eq!(direct.one_way, [OneWay { stage: 0, says: "drops a table".into() }]);
    }

    #[test]
    fn an_unknown_strategy_is_refused_naming_the_choices() {
        let got = refused(&PLAN.replace("\"canary\"", "\"big-bang\""));
        assert_eq!(
            got,
            [
                "plan.toml:1:1: strategy: unknown strategy `big-bang`; expected canary, blue-green, rolling, feature-flag or direct"
            ]
        );
    }

    #[test]
    fn weights_not_increasing_and_a_short_hold_are_refused_at_their_line() {
        let got = refused(&PLAN.replace("weight = 25, hold = \"10m\"", "weight = 4, hold = \"2m\""));
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].starts_with("plan.toml:4:5: steps[1].weight: 4 does not increase on 5"), "{got:#?}");
        assert!(
            got[1].starts_with("plan.toml:4:17: steps[1].hold: 2m is shorter than the 3 measurement(s) every 1m"),
            "{got:#?}"
        );
    }

    #[test]
    fn a_query_or_condition_that_does_not_parse_is_refused() {
        let got = refused(&PLAN.replace("[1m]))'", "[1m]'").replace("\"< 0.01\"", "\"under 1%\""));
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].starts_with("plan.toml:11:1: analysis[0].query: not a PromQL query"), "{got:#?}");
        assert!(got[1].contains("analysis[0].condition: `under 1%`: expected a comparison"), "{got:#?}");
    }

    #[test]
    fn a_weight_past_100_is_refused_as_a_share() {
        let got = refused(&PLAN.replace("weight = 100", "weight = 300"));
        assert!(got[0].ends_with("steps[2].weight: 300 is not a share of 1 to 100"), "{got:#?}");
    }

    #[test]
    fn unknown_keys_and_business_day_holds_are_refused() {
        assert!(refused(&PLAN.replace("min-samples", "min-sample"))[0].contains("unknown field `min-sample`"));
        let got = refused(&PLAN.replace("hold = \"5m\"", "hold = \"1 business day\""));
        assert!(got[0].contains("steps[0].hold: `1 business day`: a fixed span"), "{got:#?}");
    }

    #[test]
    fn a_target_reads_by_its_kind_and_refuses_keys_it_does_not_take() {
        let with = |target: &str| format!("{PLAN}\n[target]\n{target}\n");
        let plan = load_plan(
            "plan.toml",
            &with(
                "kind = \"haproxy\"\nadmin = \"127.0.0.1:9999\"\nbackend = \"app\"\nstable = \"v1\"\ncanary = \"v2\"",
            ),
        )
        .unwrap();
        assert_eq!(plan.target.as_ref().map(Target::kind), Some("haproxy"));
        let got = refused(&with("kind = \"haproxy\"\nbackend = \"app\"\nurl = \"http://x/\""));
        assert!(got.iter().any(|e| e.contains("target.admin: a `haproxy` target needs `admin`")), "{got:#?}");
        assert!(got.iter().any(|e| e.contains("target.url: `url` is not read by a `haproxy` target")), "{got:#?}");
        let got = refused(&with("kind = \"argo\""));
        assert!(
            got[0].ends_with("target.kind: unknown target `argo`; expected haproxy, command, webhook or unleash"),
            "{got:#?}"
        );
        let got = refused(&with("kind = \"command\"\nprogram = []"));
        assert!(got[0].contains("target.program: a `command` target needs `program`"), "{got:#?}");
    }

    #[test]
    fn an_unleash_target_raises_a_feature_flags_exposure_with_a_token_from_the_servers_environment() {
        let unleash = "[target]\nkind = \"unleash\"\nurl = \"https://unleash.example\"\nenvironment = \"production\"\ntoken-env = \"UNLEASH_TOKEN\"\n";
        let flagged = format!(
            "{}{unleash}",
            PLAN.replace("strategy = \"canary\"", "strategy = \"feature-flag\"\nflag = \"new-checkout\"")
        );
        let plan = load_plan("plan.toml", &flagged).unwrap();
        assert_eq!(
            plan.target,
            Some(Target::Unleash {
                url: "https://unleash.example".into(),
                project: "default".into(),
                environment: "production".into(),
                token_env: "UNLEASH_TOKEN".into(),
            })
        );
        // A canary has no flag to raise; a token in the plan would be in the log
        let got = refused(&format!("{PLAN}{unleash}"));
        assert!(
            got[0].contains(
                "target.kind: an unleash target raises a flag's exposure: the strategy is feature-flag, not canary"
            ),
            "{got:#?}"
        );
        let got = refused(&flagged.replace("token-env = \"UNLEASH_TOKEN\"", "token = \"s3cret\""));
        assert!(got[0].contains("unknown field `token`"), "{got:#?}");
        let got = refused(&format!(
            "{PLAN}[target]\nkind = \"webhook\"\nurl = \"http://x/\"\nenvironment = \"production\"\n"
        ));
        assert!(got[0].contains("target.environment: `environment` is not read by a `webhook` target"), "{got:#?}");
    }

    #[test]
    fn signals_are_checked_as_queries_urls_and_an_slo() {
        let with = |signals: &str| format!("{PLAN}\n[signals]\n{signals}\n");
        let plan =
            load_plan("plan.toml", &with("error-rate = 'sum(rate(errors_total[1m]))'\ninterval = \"5s\"")).unwrap();
        assert_eq!(plan.signals.interval, chrono::Duration::seconds(5));
        let got = refused(&with("p95-latency = 'histogram_quantile(0.95, x'\nhealth = \"shop/healthz\""));
        assert!(got.iter().any(|e| e.contains("signals.p95-latency: not a PromQL query")), "{got:#?}");
        assert!(got.iter().any(|e| e.contains("signals.health: `shop/healthz`: expected an http")), "{got:#?}");
        assert!(
            got.iter().any(|e| e.contains("signals.latency-slo: p95 latency is judged against the SLO")),
            "{got:#?}"
        );
    }

    #[test]
    fn an_analysis_without_prometheus_is_refused() {
        let got = refused(&PLAN.replace("prometheus = \"http://127.0.0.1:9090\"\n", ""));
        assert!(got[0].contains("prometheus: the analysis and the signals are queried from Prometheus"), "{got:#?}");
    }
}
