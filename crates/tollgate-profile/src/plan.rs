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
use tollgate_domain::rollout::plan::{Plan, SmokeCheck, Step, Strategy};
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
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawStep {
    weight: u32,
    hold: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawMetric {
    name: String,
    query: String,
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
        problems.at(&field_path(&p.field), p.message);
    }
    match plan {
        Some(plan) if problems.0.is_empty() => Ok(plan),
        _ => Err(errors(name, text, problems, false)),
    }
}

fn convert(raw: &RawPlan, problems: &mut Problems) -> Option<Plan> {
    let root = KeyPath::root();
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
    let strategy = match raw.strategy.as_str() {
        "canary" => Strategy::Canary { steps: steps(problems, "steps", &raw.steps) },
        "rolling" => Strategy::Rolling { batches: steps(problems, "batches", &raw.batches) },
        "feature-flag" => Strategy::FeatureFlag {
            flag: raw.flag.clone().unwrap_or_default(),
            steps: steps(problems, "steps", &raw.steps),
        },
        "blue-green" => match raw.pre_promotion.as_deref() {
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
    };
    let analysis = raw
        .analysis
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let path = root.key("analysis").index(i);
            let condition = m.condition.parse::<Condition>().unwrap_or_else(|e| {
                problems.at(&path.key("condition"), e);
                Condition { comparison: tollgate_domain::rollout::analysis::Comparison::Below, threshold: 0.0 }
            });
            if let Err(e) = promql_parser::parser::parse(&m.query) {
                problems.at(&path.key("query"), format!("not a PromQL query: {}", e.trim()));
            }
            Metric {
                name: m.name.clone(),
                query: m.query.clone(),
                condition,
                interval: fixed(problems, &path.key("interval"), &m.interval),
                failure_limit: m.failure_limit,
                inconclusive_limit: m.inconclusive_limit,
                error_limit: m.error_limit,
                min_samples: m.min_samples,
            }
        })
        .collect();
    let smoke = raw
        .smoke
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                problems.at(
                    &root.key("smoke").index(i).key("url"),
                    format!("`{}`: expected an http:// or https:// URL", s.url),
                );
            }
            SmokeCheck { name: s.name.clone(), url: s.url.clone(), expect_status: s.expect_status }
        })
        .collect();
    Some(Plan { strategy, analysis, smoke })
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

/// `steps[1].weight` as a key path.
fn field_path(field: &str) -> KeyPath {
    let mut path = KeyPath::root();
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
        assert!(got[0].starts_with("plan.toml:10:1: analysis[0].query: not a PromQL query"), "{got:#?}");
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
}
