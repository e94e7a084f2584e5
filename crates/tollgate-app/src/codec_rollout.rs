//! The wire form of rollouts: the plan as its file's text (read again on decode, so the log
//! alone rebuilds it, as profiles are), and each step of the executor with its numbers. A
//! measurement keeps its query and its value so a verdict can be checked again later
//! (`tollgate analysis backtest`); a value that is not a finite number is written as text,
//! as JSON has no NaN.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tollgate_domain::rollout::analysis::Measured;
use tollgate_domain::rollout::progress::{Measurement, RolloutPlan, SmokeRecord};

use crate::codec::{DecodeError, parse_time, time};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WirePlan {
    name: String,
    sha256: String,
    text: String,
}

/// Exactly one of the fields is set.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireMeasured {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    /// `NaN`, `+Inf` or `-Inf`, as Prometheus writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    non_finite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    no_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireMeasurement {
    stage: Option<u32>,
    name: String,
    query: String,
    at: String,
    measured: WireMeasured,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireSmoke {
    stage: u32,
    name: String,
    url: String,
    status: Option<u16>,
    passed: bool,
    detail: String,
}

/// A rollout plan file as a release's rollout took it, named and hashed.
pub fn plan_from_text(name: &str, text: &str) -> Result<RolloutPlan, tollgate_profile::ProfileErrors> {
    let plan = tollgate_profile::load_plan(name, text)?;
    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(RolloutPlan { name: name.to_owned(), sha256, text: text.to_owned(), plan })
}

pub(crate) fn plan_to(plan: &RolloutPlan) -> WirePlan {
    WirePlan { name: plan.name.clone(), sha256: plan.sha256.clone(), text: plan.text.clone() }
}

pub(crate) fn plan_from(wire: WirePlan) -> Result<Arc<RolloutPlan>, DecodeError> {
    let plan = plan_from_text(&wire.name, &wire.text)
        .map_err(|e| DecodeError(format!("the recorded rollout plan {} no longer loads: {e}", wire.name)))?;
    if plan.sha256 != wire.sha256 {
        return Err(DecodeError(format!(
            "rollout plan {}: recorded sha256 {} does not match its text ({})",
            wire.name, wire.sha256, plan.sha256
        )));
    }
    Ok(Arc::new(plan))
}

fn measured_to(m: &Measured) -> WireMeasured {
    let none = WireMeasured { value: None, non_finite: None, no_data: None, error: None };
    match m {
        Measured::Value(v) if v.is_finite() => WireMeasured { value: Some(*v), ..none },
        Measured::Value(v) => {
            let text = if v.is_nan() {
                "NaN"
            } else if *v > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            };
            WireMeasured { non_finite: Some(text.into()), ..none }
        }
        Measured::NoData(why) => WireMeasured { no_data: Some(why.clone()), ..none },
        Measured::Error(why) => WireMeasured { error: Some(why.clone()), ..none },
    }
}

fn measured_from(w: WireMeasured) -> Result<Measured, DecodeError> {
    match (w.value, w.non_finite, w.no_data, w.error) {
        (Some(v), None, None, None) => Ok(Measured::Value(v)),
        (None, Some(text), None, None) => match text.as_str() {
            "NaN" => Ok(Measured::Value(f64::NAN)),
            "+Inf" => Ok(Measured::Value(f64::INFINITY)),
            "-Inf" => Ok(Measured::Value(f64::NEG_INFINITY)),
            other => Err(DecodeError(format!("measured.non_finite: `{other}`; expected NaN, +Inf or -Inf"))),
        },
        (None, None, Some(why), None) => Ok(Measured::NoData(why)),
        (None, None, None, Some(why)) => Ok(Measured::Error(why)),
        _ => Err(DecodeError("measured: exactly one of value, non_finite, no_data, error".into())),
    }
}

pub(crate) fn measurement_to(m: &Measurement) -> WireMeasurement {
    WireMeasurement {
        stage: m.stage,
        name: m.name.clone(),
        query: m.query.clone(),
        at: time(m.at),
        measured: measured_to(&m.measured),
    }
}

pub(crate) fn measurement_from(w: WireMeasurement) -> Result<Measurement, DecodeError> {
    Ok(Measurement {
        stage: w.stage,
        name: w.name,
        query: w.query,
        at: parse_time("at", &w.at)?,
        measured: measured_from(w.measured)?,
    })
}

pub(crate) fn smoke_to(s: &SmokeRecord) -> WireSmoke {
    WireSmoke {
        stage: s.stage,
        name: s.name.clone(),
        url: s.url.clone(),
        status: s.status,
        passed: s.passed,
        detail: s.detail.clone(),
    }
}

pub(crate) fn smoke_from(w: WireSmoke) -> SmokeRecord {
    SmokeRecord { stage: w.stage, name: w.name, url: w.url, status: w.status, passed: w.passed, detail: w.detail }
}
