//! The KPIs of QMS-DEV-PRO-004 4.2 (plus 4.6's emergency release frequency) and DORA's
//! deployment rework rate, computed from a [`History`] for one [`Query`]. `docs/metrics.md`
//! states every definition; this module is its executable form.
//!
//! Cost: one pass over the history's deployments and one over its incidents, plus an O(n)
//! selection for each percentile. Services are interned once so no per-item string is hashed
//! twice or allocated; strings are only built for the (at most [`MAX_BREACHES`]) breaches.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use serde_json::json;

use crate::history::{Deployment, History, Incident, ReleaseAtGate, Time};

/// What to compute: deployments finishing in `[from, to)` to `environment`, of `service` if given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub service: Option<String>,
    pub environment: String,
    pub from: Time,
    pub to: Time,
}

/// One KPI: its value (or why there is none), the procedure's target and the band reached.
#[derive(Clone, Debug, PartialEq)]
pub struct Kpi {
    /// snake_case, the `--json` key.
    pub key: &'static str,
    pub name: &'static str,
    /// How it is computed, in one sentence (docs/metrics.md has the long form).
    pub definition: &'static str,
    pub value: Option<Value>,
    /// Set exactly when `value` is `None`.
    pub null_reason: Option<String>,
    /// The procedure's words; "not set by `<document>`" when the governing profile sets none.
    pub target: Cow<'static, str>,
    /// `None` when there is no value, or the procedure sets no target, or the value cannot be
    /// judged (deployment frequency over a window without a whole week).
    pub band: Option<Band>,
    /// The items counting against the target (see docs/metrics.md per KPI), the first
    /// [`MAX_BREACHES`] in time order.
    pub breaches: Vec<Breach>,
    /// How many such items there were in all (may exceed `breaches.len()`).
    pub breaches_total: u64,
    /// Caveats about the data behind the value (assumed stabilisation windows, items that
    /// could not be measured), in plain words.
    pub notes: Vec<String>,
}

/// Summary statistics of durations in seconds. Percentiles are nearest-rank: the value at rank
/// ⌈p·n⌉ of the n sorted values (the median is p = 0.5 the same way, never an average of two).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub count: u64,
    pub mean: f64,
    pub median: i64,
    pub p90: i64,
    pub max: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// deployment_frequency.
    Frequency {
        /// Successful deployments.
        deployments: u64,
        /// All deployments, failed ones included.
        attempts: u64,
        /// `deployments / (window seconds / 604,800)`.
        per_week: f64,
        /// Nearest-rank median, over the ISO weeks (Monday 00:00 UTC) lying wholly inside the
        /// window, of the number of UTC days with at least one successful deployment; `None`
        /// when no whole ISO week lies inside the window.
        median_deploy_days_per_week: Option<u32>,
        whole_weeks: u64,
    },
    /// A percentage `numerator / denominator`; the denominator is never 0.
    Ratio { numerator: u64, denominator: u64 },
    /// `count` per 100 `deployments`; `deployments` is never 0.
    PerHundred { count: u64, deployments: u64 },
    /// Durations in seconds, with the number of items over the per-item target, the number
    /// that could not be measured (unresolved, still running, negative), and the number whose
    /// source record is missing (a deployment with no pipeline trigger time).
    Durations { stats: Stats, over_target: u64, unmeasured: u64, missing_source: u64 },
    /// approval_cycle_time: standard and emergency separately; `pending` submitted and not yet
    /// granted; `missing_source` approved with no submission on record (no start to measure from).
    Approvals { standard: Option<Stats>, emergency: Option<Stats>, pending: u64, missing_source: u64 },
    /// environment_parity_drift.
    Drift {
        /// Sum of unresolved critical drift items over the releases with IaC evidence.
        unresolved_critical: u64,
        releases_with_drift: u64,
        releases_with_evidence: u64,
        /// All releases at their gate in the window, with or without evidence.
        releases: u64,
    },
    /// emergency_release_frequency.
    Emergency {
        /// The highest number of successful emergency deployments of one service in a rolling
        /// 30 days ending in the window.
        worst: u64,
        worst_service: Option<String>,
        /// Services with more than two in some rolling 30 days ending in the window.
        services_over_limit: u64,
        /// Successful emergency deployments finishing in the window.
        emergency_deployments: u64,
    },
    /// A plain count (unattributed incidents).
    Count { count: u64 },
}

/// The band a value falls in (e.g. "elite", "high", "systemic failure") and whether the
/// procedure's target is met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    pub label: String,
    pub met: bool,
}

/// An item behind a KPI's shortfall, for the review reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    pub what: String,
    pub release: Option<String>,
    /// `unknown` for an incident that names no service.
    pub service: String,
    /// The deployment concerned, when there is one.
    pub deployment: Option<u64>,
    pub at: Time,
}

/// At most this many breaches are kept per KPI.
pub const MAX_BREACHES: usize = 100;

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// The procedure's targets as thresholds, each beside the words it comes from
/// (QMS-DEV-PRO-004 4.2's "Target" and "Context" columns unless said otherwise). Percentages are
/// compared exactly, in integers, never through floating point.
mod target {
    use super::{DAY, HOUR, MINUTE};

    /// Deployment Frequency: "Target: at least weekly for all teams; daily for mature teams."
    /// Daily is read as every working day: 5 deploy-days in a week.
    pub const WEEKLY_DEPLOY_DAYS: u32 = 1;
    pub const DAILY_DEPLOY_DAYS: u32 = 5;
    /// Deployment Success Rate: "≥ 98%"; "without requiring rollback or emergency fix within
    /// 1 hour of deployment".
    pub const SUCCESS_RATE_PERCENT: u64 = 98;
    pub const SUCCESS_HORIZON: i64 = HOUR;
    /// CFR: "< 5% (elite); < 10% (high performing)"; "CFR above 15% indicates systemic testing
    /// or readiness gate failure." Rollback Rate: "Correlated with CFR limits": the same.
    pub const CFR_ELITE_PERCENT: u64 = 5;
    pub const CFR_HIGH_PERCENT: u64 = 10;
    pub const CFR_SYSTEMIC_PERCENT: u64 = 15;
    /// MTTR and Lead Time for Changes: "< 1 hour (elite); < 1 day (high performing)".
    pub const ELITE_TIME: i64 = HOUR;
    pub const HIGH_TIME: i64 = DAY;
    /// MTTD: "< 30 minutes for application releases; < 60 minutes for infrastructure".
    pub const DEPLOY_APPLICATION: i64 = 30 * MINUTE;
    pub const DEPLOY_INFRASTRUCTURE: i64 = 60 * MINUTE;
    /// Rollback Execution Time: "< 15 minutes"; 4.5: "confirmed stable in production within
    /// 15 minutes of rollback initiation" (so exactly 15 minutes is within).
    pub const ROLLBACK_EXECUTION: i64 = 15 * MINUTE;
    /// Post-Deployment Incident Rate: "< 1 per 100 deployments".
    pub const INCIDENTS_PER_HUNDRED: u64 = 1;
    /// Stabilisation Window Breach Rate: "< 5%".
    pub const STABILISATION_BREACH_PERCENT: u64 = 5;
    /// CAB / Approval Cycle Time: "< 4 hours for standard; < 30 minutes for emergency".
    pub const APPROVAL_STANDARD: i64 = 4 * HOUR;
    pub const APPROVAL_EMERGENCY: i64 = 30 * MINUTE;
    /// 4.6: "Emergency releases that occur more than twice in any rolling 30-day period for the
    /// same service are a process non-conformance".
    pub const EMERGENCY_LIMIT: u64 = 2;
    pub const EMERGENCY_PERIOD: i64 = 30 * DAY;
    /// 4.4.5: the longest stabilisation window ("Major releases or infrastructure changes: 24
    /// hours minimum"; 4.6's extended window is also 24 hours), assumed for a deployment whose
    /// window is unknown, so no rollback or incident inside any real window is missed.
    pub const UNKNOWN_STABILISATION: i64 = 24 * HOUR;
}

/// What the governing profile says about KPIs: which it names, whether it sets their targets,
/// and its emergency frequency rule (shared with the non-conformance register).
#[derive(Clone, Debug)]
pub struct Procedure {
    /// The profile's document, for "not set by GRS-ISMS-PRC-009".
    pub document: String,
    /// The KPIs the profile names, by [`Kpi::key`], in its order, each with its target as the
    /// profile words it (`None`: the profile sets none, so no target and no band). `None`: every
    /// KPI with the 4.2 targets (QMS-DEV-PRO-004), as [`compute`] reports them.
    pub kpis: Option<Vec<(String, Option<String>)>>,
    /// 4.6's rule as the profile states it; `None`: the profile has none, and the emergency
    /// frequency reports counts without a limit.
    pub emergency: Option<tollgate_domain::nonconformance::EmergencyRule>,
}

impl Default for Procedure {
    /// QMS-DEV-PRO-004's: every KPI, the 4.2 targets, 4.6's "more than twice in any rolling
    /// 30-day period".
    fn default() -> Procedure {
        Procedure {
            document: "QMS-DEV-PRO-004".into(),
            kpis: None,
            emergency: Some(tollgate_domain::nonconformance::EmergencyRule {
                max: target::EMERGENCY_LIMIT as u32,
                window: tollgate_domain::Span::Fixed(chrono::Duration::seconds(target::EMERGENCY_PERIOD)),
                calendar: Default::default(),
            }),
        }
    }
}

/// The KPI a profile's `[[kpis]] id` ([`tollgate_domain::policy::KpiDef::IDS`]) names: its
/// key in kebab-case, and `mean-time-to-restore` (4.2's name for MTTR) for
/// `failed_deployment_recovery_time`.
pub fn key_of(profile_id: &str) -> String {
    match profile_id {
        "mean-time-to-restore" => "failed_deployment_recovery_time".into(),
        id => id.replace('-', "_"),
    }
}

/// The KPIs the governing profile names, in its order. A KPI whose target the profile does not
/// set has no target and no band: another procedure's targets are never applied.
pub fn compute_for(history: &History, query: &Query, procedure: &Procedure) -> Vec<Kpi> {
    let all = Window::build(history, query, procedure.emergency.as_ref()).all();
    let Some(named) = &procedure.kpis else { return all };
    let unattributed = all.iter().find(|k| k.key == "unattributed_incidents").and_then(|k| match k.value {
        Some(Value::Count { count }) if count > 0 => Some(count),
        _ => None,
    });
    let mut all: Vec<Option<Kpi>> = all.into_iter().map(Some).collect();
    let mut kpis: Vec<Kpi> = named
        .iter()
        .filter_map(|(key, target)| {
            let mut k = all.iter_mut().find(|k| k.as_ref().is_some_and(|k| k.key == key))?.take()?;
            match target {
                Some(t) => k.target = Cow::Owned(t.clone()),
                None => {
                    k.target = Cow::Owned(format!("not set by {}", procedure.document));
                    k.band = None;
                    k.breaches.clear();
                    k.breaches_total = 0;
                }
            }
            Some(k)
        })
        .collect();
    // A gap in the incident records stays visible where the profile does not name it.
    if let Some(n) = unattributed.filter(|_| !named.iter().any(|(k, _)| k == "unattributed_incidents")) {
        for k in kpis.iter_mut().filter(|k| matches!(k.key, "change_failure_rate" | "failed_deployment_recovery_time"))
        {
            k.notes.push(format!("{n} P1/P2 incidents in the window name no deployment and are not counted"));
        }
    }
    kpis
}

/// Every KPI for the query, in the 4.2 table's order, then emergency release frequency (4.6),
/// DORA's deployment rework rate, and the unattributed P1/P2 incidents.
///
/// Deployments and incidents outside the window are used only where a definition reaches past
/// it: emergency deployments up to 30 days before `from` (rolling emergency count) or within an
/// hour after a deployment (success rate), and incidents or rollbacks of window deployments
/// whenever they happened. Whatever of those the history holds is used.
pub fn compute(history: &History, query: &Query) -> Vec<Kpi> {
    compute_for(history, query, &Procedure::default())
}

impl Window<'_> {
    fn all(&self) -> Vec<Kpi> {
        let w = self;
        vec![
            w.deployment_frequency(),
            w.deployment_success_rate(),
            w.change_failure_rate(),
            w.failed_deployment_recovery_time(),
            w.lead_time_for_changes(),
            w.rollback_rate(),
            w.mean_time_to_deploy(),
            w.rollback_execution_time(),
            w.environment_parity_drift(),
            w.documentation_completeness(),
            w.post_deployment_incident_rate(),
            w.stabilisation_breach_rate(),
            w.approval_cycle_time(),
            w.emergency_release_frequency(),
            w.deployment_rework_rate(),
            w.unattributed_incidents(),
        ]
    }
}

/// All KPIs as one JSON object keyed by [`Kpi::key`].
pub fn to_json(kpis: &[Kpi]) -> serde_json::Value {
    serde_json::Value::Object(kpis.iter().map(|k| (k.key.to_owned(), k.to_json())).collect())
}

impl Kpi {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "definition": self.definition,
            "value": self.value.as_ref().map(Value::to_json),
            "null_reason": self.null_reason,
            "target": self.target,
            "band": self.band.as_ref().map(|b| json!({"label": b.label, "met": b.met})),
            "breaches": self.breaches.iter().map(Breach::to_json).collect::<Vec<_>>(),
            "breaches_total": self.breaches_total,
            "notes": self.notes,
        })
    }
}

impl Breach {
    pub fn to_json(&self) -> serde_json::Value {
        json!({"what": self.what, "release": self.release, "service": self.service,
               "deployment": self.deployment, "at": self.at})
    }
}

impl Stats {
    pub fn to_json(&self) -> serde_json::Value {
        json!({"count": self.count, "mean_seconds": self.mean, "median_seconds": self.median,
               "p90_seconds": self.p90, "max_seconds": self.max})
    }
}

impl Value {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Frequency { deployments, attempts, per_week, median_deploy_days_per_week, whole_weeks } => json!({
                "deployments": deployments, "attempts": attempts, "per_week": per_week,
                "median_deploy_days_per_week": median_deploy_days_per_week, "whole_weeks": whole_weeks,
            }),
            Value::Ratio { numerator, denominator } => {
                json!({"numerator": numerator, "denominator": denominator, "percent": self.headline()})
            }
            Value::PerHundred { count, deployments } => {
                json!({"count": count, "deployments": deployments, "per_hundred": self.headline()})
            }
            Value::Durations { stats, over_target, unmeasured, missing_source } => {
                let mut v = stats.to_json();
                v["over_target"] = json!(over_target);
                v["unmeasured"] = json!(unmeasured);
                v["missing_source"] = json!(missing_source);
                v
            }
            Value::Approvals { standard, emergency, pending, missing_source } => json!({
                "standard": standard.as_ref().map(Stats::to_json),
                "emergency": emergency.as_ref().map(Stats::to_json),
                "pending": pending,
                "missing_source": missing_source,
            }),
            Value::Drift { unresolved_critical, releases_with_drift, releases_with_evidence, releases } => json!({
                "unresolved_critical": unresolved_critical, "releases_with_drift": releases_with_drift,
                "releases_with_evidence": releases_with_evidence, "releases": releases,
            }),
            Value::Emergency { worst, worst_service, services_over_limit, emergency_deployments } => json!({
                "worst_rolling_30_days": worst, "worst_service": worst_service,
                "services_over_limit": services_over_limit, "emergency_deployments": emergency_deployments,
            }),
            Value::Count { count } => json!({"count": count}),
        }
    }

    /// The one number a trend chart plots: percent, per week, per hundred, mean seconds
    /// (standard approvals' mean, else emergency's), unresolved drift items, worst count.
    pub fn headline(&self) -> f64 {
        match self {
            Value::Frequency { per_week, .. } => *per_week,
            Value::Ratio { numerator, denominator } => percent(*numerator, *denominator),
            Value::PerHundred { count, deployments } => percent(*count, *deployments),
            Value::Durations { stats, .. } => stats.mean,
            Value::Approvals { standard, emergency, .. } => standard.or(*emergency).map_or(0.0, |s| s.mean),
            Value::Drift { unresolved_critical, .. } => *unresolved_critical as f64,
            Value::Emergency { worst, .. } => *worst as f64,
            Value::Count { count } => *count as f64,
        }
    }
}

/// For tables: "12.5% (3 of 24)", "mean 12 min, median 10 min, p90 20 min (7)", ...
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Frequency { deployments, per_week, median_deploy_days_per_week, .. } => {
                write!(f, "{deployments} deployments, {per_week:.1}/week")?;
                match median_deploy_days_per_week {
                    Some(d) => write!(f, ", median {d} deploy-days/week"),
                    None => Ok(()),
                }
            }
            Value::Ratio { numerator, denominator } => {
                write!(f, "{:.1}% ({numerator} of {denominator})", self.headline())
            }
            Value::PerHundred { count, deployments } => {
                write!(f, "{:.2} per 100 ({count} in {deployments})", self.headline())
            }
            Value::Durations { stats, over_target, .. } => write!(f, "{stats}, {over_target} over target"),
            Value::Approvals { standard, emergency, pending, missing_source } => {
                match standard {
                    Some(s) => write!(f, "standard {s}")?,
                    None => write!(f, "standard: none")?,
                }
                match emergency {
                    Some(s) => write!(f, "; emergency {s}")?,
                    None => write!(f, "; emergency: none")?,
                }
                write!(f, "; {pending} pending")?;
                if *missing_source > 0 {
                    write!(f, "; {missing_source} approved without a submission (missing source)")?;
                }
                Ok(())
            }
            Value::Drift { unresolved_critical, releases_with_drift, releases_with_evidence, .. } => write!(
                f,
                "{unresolved_critical} unresolved critical items in {releases_with_drift} of {releases_with_evidence} releases"
            ),
            Value::Emergency { worst, worst_service, services_over_limit, .. } => {
                write!(f, "worst {worst} in 30 days")?;
                if let Some(s) = worst_service {
                    write!(f, " ({s})")?;
                }
                write!(
                    f,
                    ", {services_over_limit} service{} over two",
                    if *services_over_limit == 1 { "" } else { "s" }
                )
            }
            Value::Count { count } => write!(f, "{count}"),
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mean {}, median {}, p90 {} ({})",
            human(self.mean.round() as i64),
            human(self.median),
            human(self.p90),
            self.count
        )
    }
}

/// "45 s", "12 min", "2 h 05 min", "3 d 4 h".
pub fn human(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let sign = if seconds < 0 { "-" } else { "" };
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if s < 60 {
        format!("{sign}{s} s")
    } else if s < 3600 {
        format!("{sign}{m} min")
    } else if s < 86_400 {
        format!("{sign}{h} h {m:02} min")
    } else {
        format!("{sign}{d} d {h} h")
    }
}

fn percent(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 * 100.0 / d as f64 }
}

/// `n / d < p%`, exactly.
fn below(n: u64, d: u64, p: u64) -> bool {
    u128::from(n) * 100 < u128::from(p) * u128::from(d)
}

/// Nearest-rank statistics; reorders `v`. `None` when empty.
fn stats(v: &mut [i64]) -> Option<Stats> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let rank = |p: usize| (p * n).div_ceil(100).max(1);
    let (r50, r90) = (rank(50), rank(90));
    let sum: i128 = v.iter().map(|&x| i128::from(x)).sum();
    let max = v.iter().copied().max().unwrap_or(0);
    // O(n) selection instead of a sort: the lead-time sample can hold millions of changes.
    let (lower, &mut p90, _) = v.select_nth_unstable(r90 - 1);
    let median = if r50 == r90 { p90 } else { *lower.select_nth_unstable(r50 - 1).1 };
    Some(Stats { count: n as u64, mean: sum as f64 / n as f64, median, p90, max })
}

/// First [`MAX_BREACHES`] items of one KPI plus the total.
#[derive(Default)]
struct Breaches {
    list: Vec<Breach>,
    total: u64,
}

impl Breaches {
    /// `make` runs only for kept items, so strings are never built for the rest.
    fn push(&mut self, make: impl FnOnce() -> Breach) {
        self.total += 1;
        if self.list.len() < MAX_BREACHES {
            self.list.push(make());
        }
    }

    fn of(d: &Deployment, what: String, at: Time) -> Breach {
        Breach { what, release: d.release.clone(), service: d.service.to_string(), deployment: Some(d.id), at }
    }
}

/// FxHash (rustc's): services are interned once per deployment, and SipHash would be the
/// largest single cost of an organisation-wide query. Keys come from our own store.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// `Row::flags` bits.
const SUCCESS: u16 = 1;
const REWORK: u16 = 1 << 2;
const ROLLBACK: u16 = 1 << 3;
const ROLLBACK_DONE: u16 = 1 << 4;
const PIPELINE: u16 = 1 << 5;
const STABILISATION_UNKNOWN: u16 = 1 << 6;
const INFRASTRUCTURE: u16 = 1 << 7;
/// Found by walking the incidents.
const MAJOR_CAUSED: u16 = 1 << 8;
const INCIDENT_IN_STABILISATION: u16 = 1 << 9;
/// Successful, and shipped a change committed a day or more before.
const LEAD_OVER: u16 = 1 << 10;

/// What the KPIs read of one window deployment, 48 bytes instead of a `Deployment`'s ~280
/// plus its heap strings: the KPI passes stream over these, and over the `Deployment`s only
/// once, so an organisation's window stays a few tens of megabytes of sequential reads.
#[derive(Clone, Copy)]
struct Row {
    finished: Time,
    /// Valid with `PIPELINE`.
    pipeline_started: Time,
    /// Valid with `ROLLBACK`.
    rollback_decided: Time,
    /// Valid with `ROLLBACK_DONE`.
    rollback_completed: Time,
    /// Seconds; [`target::UNKNOWN_STABILISATION`] with `STABILISATION_UNKNOWN`.
    stabilisation: i64,
    service: u32,
    flags: u16,
}

impl Row {
    fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    fn success(&self) -> bool {
        self.has(SUCCESS)
    }

    fn rollback_decided(&self) -> Option<Time> {
        self.has(ROLLBACK).then_some(self.rollback_decided)
    }

    fn stabilisation_end(&self) -> Time {
        self.finished.saturating_add(self.stabilisation)
    }
}

struct EmergencyDeployment<'a> {
    service: u32,
    finished: Time,
    success: bool,
    index: u32,
    /// A redeployment of the same release is not another emergency release.
    release: Option<&'a str>,
}

/// The query's deployments and what the KPIs share about them, computed once.
struct Window<'a> {
    history: &'a History,
    query: &'a Query,
    /// Deployments finishing in the window, ordered by `finished`; read only for breaches.
    deps: Vec<&'a Deployment>,
    /// The same deployments, compactly.
    rows: Vec<Row>,
    services: Vec<&'a str>,
    /// Emergency deployments of the query's environment (and service) at any time, by
    /// (service, finished), indexing `history.deployments`; `emergency_start[s]..[s+1]` is
    /// service s's run.
    emergencies: Vec<EmergencyDeployment<'a>>,
    emergency_start: Vec<u32>,
    /// 4.6's rule as the profile states it (shared with the non-conformance register).
    emergency_rule: Option<&'a tollgate_domain::nonconformance::EmergencyRule>,
    /// P1/P2 incidents caused by window deployments: (incident, index in `deps`).
    major: Vec<(&'a Incident, u32)>,
    /// P1/P2 incidents detected in the window, of the query's scope, naming no deployment.
    unattributed: Vec<&'a Incident>,
    /// Statistics of the change lead times of the successful window deployments, how many
    /// were a day or more, and the negative ones (left out).
    lead_times: Option<Stats>,
    lead_times_over: u64,
    negative_lead_times: u64,
    attempts: u64,
    successes: u64,
}

impl<'a> Window<'a> {
    fn build(
        history: &'a History,
        query: &'a Query,
        emergency_rule: Option<&'a tollgate_domain::nonconformance::EmergencyRule>,
    ) -> Window<'a> {
        let mut ids: HashMap<&'a str, u32, BuildHasherDefault<Fx>> = HashMap::default();
        let mut services: Vec<&'a str> = Vec::new();
        // At most every deployment is in the window: the vectors grow once.
        let expected = history.deployments.len();
        let mut deps = Vec::with_capacity(expected);
        let mut rows = Vec::with_capacity(expected);
        let mut emergencies = Vec::new();
        // (deployment id, index in `deps`), to link incidents.
        let mut by_id: Vec<(u64, u32)> = Vec::with_capacity(expected);
        let mut lead_times = Vec::with_capacity(expected * 2);
        let mut negative_lead_times = 0u64;
        let mut intern = |s: &'a str| -> u32 {
            *ids.entry(s).or_insert_with(|| {
                services.push(s);
                (services.len() - 1) as u32
            })
        };
        for (index, d) in history.deployments.iter().enumerate() {
            let in_window = query.from <= d.finished && d.finished < query.to;
            // Cheapest test first: most of a long history is outside the window.
            if !in_window && !d.emergency {
                continue;
            }
            // The service first: when one is asked for, it rejects nearly everything.
            if query.service.as_deref().is_some_and(|s| s != &*d.service) || *d.environment != *query.environment {
                continue;
            }
            let service = intern(&d.service);
            if d.emergency {
                emergencies.push(EmergencyDeployment {
                    service,
                    finished: d.finished,
                    success: d.success,
                    index: index as u32,
                    release: d.release.as_deref(),
                });
            }
            if !in_window {
                continue;
            }
            let mut row = Row::of(d, service);
            if d.success {
                for &t in &d.change_lead_times {
                    if t < 0 {
                        negative_lead_times += 1;
                    } else {
                        lead_times.push(t);
                        if t >= target::HIGH_TIME {
                            row.flags |= LEAD_OVER;
                        }
                    }
                }
            }
            by_id.push((d.id, deps.len() as u32));
            deps.push(d);
            rows.push(row);
        }
        // Deployments come in no particular order (a store gives them service by service); the
        // window's are put in finishing order (ties by id) here, on compact keys.
        if !rows.is_sorted_by_key(|r| r.finished) {
            let mut keys: Vec<(Time, u64, u32)> =
                deps.iter().zip(&rows).enumerate().map(|(i, (d, r))| (r.finished, d.id, i as u32)).collect();
            keys.sort_unstable();
            deps = keys.iter().map(|&(_, _, i)| deps[i as usize]).collect();
            rows = keys.iter().map(|&(_, _, i)| rows[i as usize]).collect();
            by_id = deps.iter().enumerate().map(|(i, d)| (d.id, i as u32)).collect();
        }
        // Ids usually grow with time, so this is normally already sorted and costs one scan.
        if !by_id.is_sorted() {
            by_id.sort_unstable();
        }
        let lead_times_over = lead_times.iter().filter(|&&t| t >= target::HIGH_TIME).count() as u64;
        let lead_times = stats(&mut lead_times);
        emergencies.sort_unstable_by_key(|e| (e.service, e.finished, e.index));
        let mut emergency_start = vec![0u32; services.len() + 1];
        for e in &emergencies {
            emergency_start[e.service as usize + 1] += 1;
        }
        for i in 1..emergency_start.len() {
            emergency_start[i] += emergency_start[i - 1];
        }
        let attempts = rows.len() as u64;
        let successes = rows.iter().filter(|r| r.success()).count() as u64;
        let mut w = Window {
            history,
            query,
            deps,
            rows,
            services,
            emergencies,
            emergency_start,
            emergency_rule,
            major: Vec::new(),
            unattributed: Vec::new(),
            lead_times,
            lead_times_over,
            negative_lead_times,
            attempts,
            successes,
        };
        w.walk_incidents(&by_id);
        w
    }

    /// Links incidents to window deployments by their explicit `caused_by` id.
    fn walk_incidents(&mut self, by_id: &[(u64, u32)]) {
        let q = self.query;
        // Store ids are dense: a direct table costs one memory access per incident where a
        // binary search over ~10^6 ids costs twenty.
        let (low, high) = (by_id.first().map_or(0, |p| p.0), by_id.last().map_or(0, |p| p.0));
        let span = high - low;
        let table: Option<Vec<u32>> = (span <= 4 * by_id.len() as u64 + 1024).then(|| {
            let mut t = vec![u32::MAX; span as usize + 1];
            for &(id, index) in by_id {
                t[(id - low) as usize] = index;
            }
            t
        });
        let find = |id: u64| -> Option<u32> {
            match &table {
                Some(t) => id.checked_sub(low).and_then(|o| t.get(o as usize)).copied().filter(|&i| i != u32::MAX),
                None => by_id.binary_search_by_key(&id, |&(i, _)| i).ok().map(|p| by_id[p].1),
            }
        };
        for inc in &self.history.incidents {
            match inc.caused_by {
                Some(id) => {
                    let Some(index) = find(id) else { continue };
                    let row = &mut self.rows[index as usize];
                    if inc.severity.major() {
                        row.flags |= MAJOR_CAUSED;
                        self.major.push((inc, index));
                    }
                    if inc.detected <= row.stabilisation_end() {
                        row.flags |= INCIDENT_IN_STABILISATION;
                    }
                }
                None => {
                    let in_scope = inc.severity.major()
                        && q.from <= inc.detected
                        && inc.detected < q.to
                        && inc.environment.as_ref().is_none_or(|e| *e == q.environment)
                        && q.service.as_ref().is_none_or(|s| inc.service.as_ref() == Some(s));
                    if in_scope {
                        self.unattributed.push(inc);
                    }
                }
            }
        }
        if !self.major.is_sorted_by_key(|(i, _)| i.detected) {
            self.major.sort_by_key(|(i, _)| i.detected);
        }
        if !self.unattributed.is_sorted_by_key(|i| i.detected) {
            self.unattributed.sort_by_key(|i| i.detected);
        }
    }

    fn window_reason(&self) -> Option<String> {
        (self.query.to <= self.query.from).then(|| "the window is empty: `to` is not after `from`".to_owned())
    }

    fn no_deployments(&self) -> String {
        self.window_reason().unwrap_or_else(|| {
            format!(
                "no deployment to {}{} finished in the window",
                self.query.environment,
                self.query.service.as_ref().map(|s| format!(" of {s}")).unwrap_or_default()
            )
        })
    }

    fn no_successes(&self) -> String {
        if self.attempts == 0 {
            self.no_deployments()
        } else {
            format!("all {} deployments in the window failed", self.attempts)
        }
    }

    /// How long after `row` the next emergency deployment (any outcome) of its service
    /// finished, when within the success rate's hour. `next[s]` is service s's cursor into its
    /// run of emergencies: rows come in time order, so each cursor only moves forward.
    fn emergency_after(&self, row: &Row, next: &mut [u32]) -> Option<i64> {
        let s = row.service as usize;
        let (cursor, end) = (&mut next[s], self.emergency_start[s + 1]);
        while *cursor < end && self.emergencies[*cursor as usize].finished <= row.finished {
            *cursor += 1;
        }
        let gap =
            self.emergencies.get(*cursor as usize).filter(|_| *cursor < end)?.finished.saturating_sub(row.finished);
        (gap <= target::SUCCESS_HORIZON).then_some(gap)
    }

    fn unknown_stabilisation(&self, kpi: &mut Builder, which: impl Fn(&Row) -> bool) {
        let unknown = self.rows.iter().filter(|r| r.has(STABILISATION_UNKNOWN) && which(r)).count();
        if unknown > 0 {
            kpi.notes.push(format!("{unknown} deployments of unknown stabilisation window: 24 h assumed"));
        }
    }

    fn deployment_frequency(&self) -> Kpi {
        let mut kpi = Builder::new(
            "deployment_frequency",
            "Deployment frequency",
            "Successful deployments finishing in the window; per week = count / (window days / 7); median \
             deploy-days per week over the ISO weeks (Monday 00:00 UTC) wholly inside the window.",
            "Varies by team maturity - target trend is increasing over time. Target: at least weekly for all \
             teams; daily for mature teams.",
        );
        if self.attempts == 0 {
            return kpi.null(self.no_deployments());
        }
        let (from, to) = (self.query.from, self.query.to);
        // Monday 1970-01-05 00:00 UTC is day 4; whole weeks are [first, first + k·WEEK).
        let first = i128::from(from) + (i128::from(4 * DAY) - i128::from(from)).rem_euclid(i128::from(WEEK));
        let whole_weeks = ((i128::from(to) - first).max(0) / i128::from(WEEK)) as u64;
        // Deploy-days of the weeks that had any, in order: a long window costs nothing for
        // its empty weeks.
        let mut week_days: Vec<u8> = Vec::new();
        let (mut cur_week, mut cur_day) = (-1i128, i128::MIN);
        let n = self.services.len();
        let (mut svc_last, mut svc_weeks, mut svc_gap) = (vec![-1i128; n], vec![0u64; n], vec![None::<i128>; n]);
        let mut svc_seen = vec![false; n];
        for r in &self.rows {
            let s = r.service as usize;
            svc_seen[s] = true;
            let t = i128::from(r.finished);
            if !r.success() || t < first {
                continue;
            }
            let week = (t - first) / i128::from(WEEK);
            if week as u64 >= whole_weeks {
                continue;
            }
            let day = t.div_euclid(i128::from(DAY));
            if week != cur_week {
                cur_week = week;
                week_days.push(0);
            }
            if day != cur_day {
                cur_day = day;
                if let Some(last) = week_days.last_mut() {
                    *last += 1;
                }
            }
            if week != svc_last[s] {
                if svc_gap[s].is_none() && week > svc_last[s] + 1 {
                    svc_gap[s] = Some(svc_last[s] + 1);
                }
                svc_last[s] = week;
                svc_weeks[s] += 1;
            }
        }
        let median = (whole_weeks > 0).then(|| {
            // Weeks without a deployment are zeros ranking first.
            let zeros = whole_weeks - week_days.len() as u64;
            week_days.sort_unstable();
            let rank = whole_weeks.div_ceil(2);
            if rank <= zeros { 0 } else { u32::from(week_days[(rank - zeros - 1) as usize]) }
        });
        let days = (i128::from(to) - i128::from(from)) as f64 / DAY as f64;
        let per_week = self.successes as f64 / (days / 7.0);
        if whole_weeks > 0 {
            for (s, name) in self.services.iter().enumerate() {
                if !svc_seen[s] || svc_weeks[s] >= whole_weeks {
                    continue;
                }
                let missed = svc_gap[s].unwrap_or(svc_last[s] + 1);
                let at = (first + missed * i128::from(WEEK)) as Time;
                kpi.breaches.push(|| Breach {
                    what: format!("no successful deployment in the week of {}", date(at)),
                    release: None,
                    service: (*name).to_owned(),
                    deployment: None,
                    at,
                });
            }
        } else {
            kpi.notes.push("no whole ISO week lies inside the window: the median and band are not computed".into());
        }
        kpi.band = median.map(|m| Band {
            label: if m >= target::DAILY_DEPLOY_DAYS {
                "daily"
            } else if m >= target::WEEKLY_DEPLOY_DAYS {
                "weekly"
            } else {
                "less than weekly"
            }
            .to_owned(),
            met: m >= target::WEEKLY_DEPLOY_DAYS && kpi.breaches.total == 0,
        });
        kpi.value = Some(Value::Frequency {
            deployments: self.successes,
            attempts: self.attempts,
            per_week,
            median_deploy_days_per_week: median,
            whole_weeks,
        });
        kpi.finish()
    }

    fn deployment_success_rate(&self) -> Kpi {
        let mut kpi = Builder::new(
            "deployment_success_rate",
            "Deployment success rate",
            "Successful deployments with no rollback decided within 1 h of finishing and no emergency deployment of \
             the same service and environment within 1 h after, over all deployments, failed ones included.",
            "≥ 98%",
        );
        if self.attempts == 0 {
            return kpi.null(self.no_deployments());
        }
        let mut ok = 0u64;
        let mut next = self.emergency_start.clone();
        for (i, r) in self.rows.iter().enumerate() {
            let rolled = r.rollback_decided().filter(|&at| at <= r.finished.saturating_add(target::SUCCESS_HORIZON));
            let fixed = if r.success() && rolled.is_none() { self.emergency_after(r, &mut next) } else { None };
            if r.success() && rolled.is_none() && fixed.is_none() {
                ok += 1;
                continue;
            }
            kpi.breaches.push(|| {
                let what = if !r.success() {
                    "failed".to_owned()
                } else if let Some(at) = rolled {
                    format!("rollback decided {} after finishing", human(at.saturating_sub(r.finished)))
                } else {
                    format!("emergency deployment {} later", human(fixed.unwrap_or(0)))
                };
                Breaches::of(self.deps[i], what, r.finished)
            });
        }
        kpi.band = Some(Band::target(!below(ok, self.attempts, target::SUCCESS_RATE_PERCENT)));
        kpi.value = Some(Value::Ratio { numerator: ok, denominator: self.attempts });
        kpi.finish()
    }

    fn change_failure_rate(&self) -> Kpi {
        let mut kpi = Builder::new(
            "change_failure_rate",
            "Change failure rate",
            "Successful deployments that were rolled back or caused a P1/P2 incident, over successful deployments.",
            "< 5% (elite); < 10% (high performing); above 15% indicates systemic testing or readiness gate failure",
        );
        if self.successes == 0 {
            return kpi.null(self.no_successes());
        }
        let mut failed = 0u64;
        for (i, r) in self.rows.iter().enumerate() {
            if !r.success() || !r.has(ROLLBACK | MAJOR_CAUSED) {
                continue;
            }
            failed += 1;
            kpi.breaches.push(|| {
                let what = match (r.has(ROLLBACK), r.has(MAJOR_CAUSED)) {
                    (true, true) => "rolled back and caused a P1/P2 incident",
                    (true, false) => "rolled back",
                    _ => "caused a P1/P2 incident",
                };
                Breaches::of(self.deps[i], what.to_owned(), r.finished)
            });
        }
        kpi.band = Some(cfr_band(failed, self.successes));
        kpi.value = Some(Value::Ratio { numerator: failed, denominator: self.successes });
        kpi.finish()
    }

    fn failed_deployment_recovery_time(&self) -> Kpi {
        let mut kpi = Builder::new(
            "failed_deployment_recovery_time",
            "Failed deployment recovery time (MTTR)",
            "Detected → resolved of the P1/P2 incidents caused by deployments in the window: mean and median; \
             unresolved ones are counted, not averaged.",
            "< 1 hour (elite); < 1 day (high performing)",
        );
        let mut times = Vec::with_capacity(self.major.len());
        let (mut unmeasured, mut over) = (0u64, 0u64);
        for &(inc, index) in &self.major {
            let took = inc.resolved.map(|r| r.saturating_sub(inc.detected)).filter(|t| *t >= 0);
            match took {
                Some(t) => times.push(t),
                None => unmeasured += 1,
            }
            if took.is_none_or(|t| t >= target::HIGH_TIME) {
                over += 1;
                kpi.breaches.push(|| {
                    let what = match (took, inc.resolved) {
                        (Some(t), _) => format!("{:?} incident {} restored in {}", inc.severity, inc.id, human(t)),
                        (None, None) => format!("{:?} incident {} unresolved", inc.severity, inc.id),
                        (None, Some(_)) => format!("{:?} incident {} resolved before detection", inc.severity, inc.id),
                    };
                    Breaches::of(self.deps[index as usize], what, inc.detected)
                });
            }
        }
        if unmeasured > 0 {
            kpi.notes.push(format!("{unmeasured} caused P1/P2 incidents unresolved (or resolved before detected)"));
        }
        let Some(st) = stats(&mut times) else {
            return kpi.null(if self.major.is_empty() {
                self.window_reason().unwrap_or_else(|| "no P1/P2 incident caused by a deployment in the window".into())
            } else {
                format!(
                    "none of the {} P1/P2 incidents caused by deployments in the window is resolved",
                    self.major.len()
                )
            });
        };
        kpi.band = Some(time_band(st.mean));
        kpi.value = Some(Value::Durations { stats: st, over_target: over, unmeasured, missing_source: 0 });
        kpi.finish()
    }

    fn lead_time_for_changes(&self) -> Kpi {
        let mut kpi = Builder::new(
            "lead_time_for_changes",
            "Lead time for changes",
            "Commit → first production deployment of each change first shipped by a successful deployment in \
             the window (once per change): median and p90.",
            "< 1 hour (elite); < 1 day (high performing)",
        );
        let negative = self.negative_lead_times;
        if negative > 0 {
            kpi.notes.push(format!("{negative} changes committed after their deployment (clock skew) left out"));
        }
        let over = self.lead_times_over;
        let Some(st) = self.lead_times else {
            return kpi.null(if self.successes == 0 {
                self.no_successes()
            } else {
                "no change with a known commit time reached production in the window".into()
            });
        };
        for (i, r) in self.rows.iter().enumerate().filter(|(_, r)| r.has(LEAD_OVER)) {
            kpi.breaches.push(|| {
                let d = self.deps[i];
                let t = d.change_lead_times.iter().copied().max().unwrap_or(0);
                Breaches::of(d, format!("shipped a change {} after its commit", human(t)), r.finished)
            });
        }
        kpi.band = Some(time_band(st.median as f64));
        kpi.value = Some(Value::Durations { stats: st, over_target: over, unmeasured: negative, missing_source: 0 });
        kpi.finish()
    }

    fn rollback_rate(&self) -> Kpi {
        let mut kpi = Builder::new(
            "rollback_rate",
            "Rollback rate",
            "Deployments whose rollback was decided before the end of their stabilisation window (24 h when \
             unknown), over all deployments.",
            "Correlated with CFR limits",
        );
        if self.attempts == 0 {
            return kpi.null(self.no_deployments());
        }
        let mut rolled = 0u64;
        for (i, r) in self.rows.iter().enumerate() {
            let Some(decided) = r.rollback_decided() else { continue };
            if decided <= r.stabilisation_end() {
                rolled += 1;
                let after = decided.saturating_sub(r.finished);
                kpi.breaches.push(|| {
                    Breaches::of(self.deps[i], format!("rolled back {} after finishing", human(after)), decided)
                });
            }
        }
        self.unknown_stabilisation(&mut kpi, |r| r.has(ROLLBACK));
        kpi.band = Some(cfr_band(rolled, self.attempts));
        kpi.value = Some(Value::Ratio { numerator: rolled, denominator: self.attempts });
        kpi.finish()
    }

    fn mean_time_to_deploy(&self) -> Kpi {
        let mut kpi = Builder::new(
            "mean_time_to_deploy",
            "Mean time to deploy (MTTD)",
            "Pipeline trigger (the pipeline run's first queued or started event) → environment-healthy \
             confirmation (the deployment event) of successful deployments: mean and median; deployments with no \
             pipeline trigger on record are missing source, counted and never timed.",
            "< 30 minutes for application releases; < 60 minutes for infrastructure",
        );
        if self.successes == 0 {
            return kpi.null(self.no_successes());
        }
        let mut times = Vec::with_capacity(self.rows.len());
        let (mut missing_source, mut unmeasured, mut over) = (0u64, 0u64, 0u64);
        let mut all_infrastructure = true;
        for (i, r) in self.rows.iter().enumerate() {
            if !r.success() {
                continue;
            }
            if !r.has(PIPELINE) {
                missing_source += 1;
                continue;
            }
            let t = r.finished.saturating_sub(r.pipeline_started);
            if t < 0 {
                unmeasured += 1;
                continue;
            }
            times.push(t);
            let infrastructure = r.has(INFRASTRUCTURE);
            all_infrastructure &= infrastructure;
            let limit = if infrastructure { target::DEPLOY_INFRASTRUCTURE } else { target::DEPLOY_APPLICATION };
            if t >= limit {
                over += 1;
                kpi.breaches.push(|| Breaches::of(self.deps[i], format!("pipeline took {}", human(t)), r.finished));
            }
        }
        if missing_source > 0 {
            kpi.notes.push(format!(
                "missing source: {missing_source} successful deployments have no pipeline trigger time and are not \
                 measured"
            ));
        }
        if unmeasured > 0 {
            kpi.notes.push(format!(
                "{unmeasured} successful deployments whose pipeline started after they finished left out"
            ));
        }
        let Some(st) = stats(&mut times) else {
            return kpi.null(if unmeasured == 0 {
                format!(
                    "missing source: none of the {} successful deployments has a pipeline trigger time",
                    self.successes
                )
            } else {
                format!(
                    "none of the {} successful deployments could be measured: {missing_source} have no pipeline trigger \
                     time (missing source), {unmeasured} started after they finished",
                    self.successes
                )
            });
        };
        let limit = if all_infrastructure { target::DEPLOY_INFRASTRUCTURE } else { target::DEPLOY_APPLICATION };
        kpi.band = Some(Band::target(st.mean < limit as f64));
        kpi.value = Some(Value::Durations { stats: st, over_target: over, unmeasured, missing_source });
        kpi.finish()
    }

    fn rollback_execution_time(&self) -> Kpi {
        let mut kpi = Builder::new(
            "rollback_execution_time",
            "Rollback execution time",
            "Decided → completed of the rollbacks of deployments in the window: mean, max, and how many took over \
             15 minutes; running ones are counted, not averaged.",
            "< 15 minutes",
        );
        let mut times = Vec::new();
        let (mut unmeasured, mut over, mut rollbacks) = (0u64, 0u64, 0u64);
        for (i, r) in self.rows.iter().enumerate() {
            if !r.has(ROLLBACK) {
                continue;
            }
            rollbacks += 1;
            let t = r.rollback_completed.saturating_sub(r.rollback_decided);
            if !r.has(ROLLBACK_DONE) || t < 0 {
                unmeasured += 1;
                continue;
            }
            times.push(t);
            if t > target::ROLLBACK_EXECUTION {
                over += 1;
                kpi.breaches
                    .push(|| Breaches::of(self.deps[i], format!("rollback took {}", human(t)), r.rollback_decided));
            }
        }
        if unmeasured > 0 {
            kpi.notes.push(format!("{unmeasured} rollbacks still running (or completed before decided)"));
        }
        let Some(st) = stats(&mut times) else {
            return kpi.null(match (rollbacks, self.window_reason()) {
                (_, Some(r)) => r,
                (0, None) => "no deployment in the window was rolled back".into(),
                (n, None) => format!("none of the {n} rollbacks has completed"),
            });
        };
        kpi.band = Some(Band::target(over == 0));
        kpi.value = Some(Value::Durations { stats: st, over_target: over, unmeasured, missing_source: 0 });
        kpi.finish()
    }

    /// Releases at their pre-deployment gate in the window, of the query's service.
    fn gated(&self) -> impl Iterator<Item = &'a ReleaseAtGate> + use<'a> {
        let q = self.query;
        self.history.releases.iter().filter(move |r| {
            q.from <= r.gate_at && r.gate_at < q.to && q.service.as_ref().is_none_or(|s| *s == r.service)
        })
    }

    fn environment_parity_drift(&self) -> Kpi {
        let mut kpi = Builder::new(
            "environment_parity_drift",
            "Environment parity drift",
            "Unresolved critical drift items in the IaC evidence of releases at their pre-deployment gate in the \
             window, and how many releases had any.",
            "Zero unresolved critical drift items at release gate",
        );
        let (mut items, mut with_drift, mut with_evidence, mut releases) = (0u64, 0u64, 0u64, 0u64);
        for r in self.gated() {
            releases += 1;
            let Some(n) = r.critical_drift else { continue };
            with_evidence += 1;
            items += u64::from(n);
            if n > 0 {
                with_drift += 1;
                kpi.breaches.push(|| Breach {
                    what: format!("{n} unresolved critical drift items at the gate"),
                    release: Some(r.release.clone()),
                    service: r.service.clone(),
                    deployment: None,
                    at: r.gate_at,
                });
            }
        }
        if with_evidence == 0 {
            return kpi.null(self.window_reason().unwrap_or_else(|| {
                if releases == 0 {
                    "no release reached its gate in the window".into()
                } else {
                    format!("none of the {releases} releases at the gate in the window had IaC evidence")
                }
            }));
        }
        if releases > with_evidence {
            kpi.notes.push(format!("{} releases at the gate had no IaC evidence", releases - with_evidence));
        }
        kpi.band = Some(Band::target(with_drift == 0));
        kpi.value = Some(Value::Drift {
            unresolved_critical: items,
            releases_with_drift: with_drift,
            releases_with_evidence: with_evidence,
            releases,
        });
        kpi.finish()
    }

    fn documentation_completeness(&self) -> Kpi {
        let mut kpi = Builder::new(
            "documentation_completeness",
            "Release documentation completeness",
            "Releases at their pre-deployment gate in the window with every document the profile requires, over \
             all releases at the gate in the window.",
            "Mandatory package validation check passed",
        );
        let (mut complete, mut releases) = (0u64, 0u64);
        for r in self.gated() {
            releases += 1;
            if r.documentation_complete {
                complete += 1;
            } else {
                kpi.breaches.push(|| Breach {
                    what: "release package incomplete at the gate".into(),
                    release: Some(r.release.clone()),
                    service: r.service.clone(),
                    deployment: None,
                    at: r.gate_at,
                });
            }
        }
        if releases == 0 {
            return kpi
                .null(self.window_reason().unwrap_or_else(|| "no release reached its gate in the window".into()));
        }
        kpi.band = Some(Band::target(complete == releases));
        kpi.value = Some(Value::Ratio { numerator: complete, denominator: releases });
        kpi.finish()
    }

    fn post_deployment_incident_rate(&self) -> Kpi {
        let mut kpi = Builder::new(
            "post_deployment_incident_rate",
            "Post-deployment incident rate",
            "P1/P2 incidents caused by deployments in the window, per 100 deployments (failed ones included).",
            "< 1 per 100 deployments",
        );
        if self.attempts == 0 {
            return kpi.null(self.no_deployments());
        }
        for &(inc, index) in &self.major {
            kpi.breaches.push(|| {
                Breaches::of(
                    self.deps[index as usize],
                    format!("caused {:?} incident {}", inc.severity, inc.id),
                    inc.detected,
                )
            });
        }
        let count = self.major.len() as u64;
        kpi.band = Some(Band::target(below(count, self.attempts, target::INCIDENTS_PER_HUNDRED)));
        kpi.value = Some(Value::PerHundred { count, deployments: self.attempts });
        kpi.finish()
    }

    fn stabilisation_breach_rate(&self) -> Kpi {
        let mut kpi = Builder::new(
            "stabilisation_breach_rate",
            "Stabilisation window breach rate",
            "Successful deployments with an incident they caused detected, or a rollback decided, before the end \
             of their stabilisation window (24 h when unknown), over successful deployments.",
            "< 5%",
        );
        if self.successes == 0 {
            return kpi.null(self.no_successes());
        }
        let mut breached = 0u64;
        for (i, r) in self.rows.iter().enumerate() {
            if !r.success() {
                continue;
            }
            let rolled = r.rollback_decided().is_some_and(|at| at <= r.stabilisation_end());
            let incident = r.has(INCIDENT_IN_STABILISATION);
            if rolled || incident {
                breached += 1;
                kpi.breaches.push(|| {
                    let what = match (incident, rolled) {
                        (true, true) => "incident and rollback within the stabilisation window",
                        (true, false) => "incident within the stabilisation window",
                        _ => "rollback within the stabilisation window",
                    };
                    Breaches::of(self.deps[i], what.to_owned(), r.finished)
                });
            }
        }
        self.unknown_stabilisation(&mut kpi, Row::success);
        kpi.band = Some(Band::target(below(breached, self.successes, target::STABILISATION_BREACH_PERCENT)));
        kpi.value = Some(Value::Ratio { numerator: breached, denominator: self.successes });
        kpi.finish()
    }

    fn approval_cycle_time(&self) -> Kpi {
        let mut kpi = Builder::new(
            "approval_cycle_time",
            "CAB / approval cycle time",
            "Release package submission → last required approval, for approval cycles submitted in the window, \
             standard and emergency separately: mean and median; pending ones are counted, and approvals with no \
             submission on record are counted as missing source.",
            "< 4 hours for standard; < 30 minutes for emergency",
        );
        let q = self.query;
        let (mut standard, mut emergency) = (Vec::new(), Vec::new());
        let (mut pending, mut missing_source) = (0u64, 0u64);
        for a in &self.history.approvals {
            let placed = a.placed();
            if placed < q.from || placed >= q.to || q.service.as_ref().is_some_and(|s| *s != a.service) {
                continue;
            }
            let Some(requested) = a.requested else {
                // Approved without a submission: there is no start to measure from. A cycle
                // neither submitted nor approved has not begun.
                if a.granted.is_some() {
                    missing_source += 1;
                }
                continue;
            };
            let Some(t) = a.granted.map(|g| g.saturating_sub(requested)).filter(|t| *t >= 0) else {
                pending += 1;
                continue;
            };
            let limit = if a.emergency { target::APPROVAL_EMERGENCY } else { target::APPROVAL_STANDARD };
            if a.emergency {
                emergency.push(t)
            } else {
                standard.push(t)
            }
            if t >= limit {
                kpi.breaches.push(|| Breach {
                    what: format!("{} approval took {}", if a.emergency { "emergency" } else { "standard" }, human(t)),
                    release: Some(a.release.clone()),
                    service: a.service.clone(),
                    deployment: None,
                    at: requested,
                });
            }
        }
        if missing_source > 0 {
            kpi.notes.push(format!(
                "missing source: {missing_source} releases approved without a release package submission on record \
                 are not measured"
            ));
        }
        let (standard, emergency) = (stats(&mut standard), stats(&mut emergency));
        if standard.is_none() && emergency.is_none() {
            return kpi.null(self.window_reason().unwrap_or_else(|| match (pending, missing_source) {
                (0, 0) => "no approval cycle was requested in the window".into(),
                (0, m) => format!(
                    "missing source: none of the {m} releases approved in the window has a release package submission on record"
                ),
                (p, 0) => format!("none of the {p} approval cycles submitted in the window is complete"),
                (p, m) => format!(
                    "none of the {p} approval cycles submitted in the window is complete, and {m} approved releases have no submission on record (missing source)"
                ),
            }));
        }
        if pending > 0 {
            kpi.notes.push(format!("{pending} approval cycles still pending"));
        }
        let met = standard.is_none_or(|s| s.mean < target::APPROVAL_STANDARD as f64)
            && emergency.is_none_or(|s| s.mean < target::APPROVAL_EMERGENCY as f64);
        kpi.band = Some(Band::target(met));
        kpi.value = Some(Value::Approvals { standard, emergency, pending, missing_source });
        kpi.finish()
    }

    fn emergency_release_frequency(&self) -> Kpi {
        let mut kpi = Builder::new(
            "emergency_release_frequency",
            "Emergency release frequency",
            "Per service, the most emergency releases live in production (first successful production deployment \
             of each) in any rolling period ending in the window, earlier ones counted; services over the limit are \
             flagged. The non-conformance register reads the same rule.",
            "Emergency releases that occur more than twice in any rolling 30-day period for the same service are a \
             process non-conformance (4.6)",
        );
        if self.attempts == 0 {
            return kpi.null(self.no_deployments());
        }
        let rule = self.emergency_rule;
        let (from, to) = (self.query.from, self.query.to);
        let mut worst = (0u64, None::<usize>);
        let mut in_window = 0u64;
        // (count, emergency deployment ending the worst period) per flagged service.
        let mut flagged: Vec<(u64, usize)> = Vec::new();
        let mut run: Vec<Time> = Vec::new();
        let mut run_index: Vec<u32> = Vec::new();
        let mut seen: std::collections::HashSet<&str, BuildHasherDefault<Fx>> = Default::default();
        for s in 0..self.services.len() {
            run.clear();
            run_index.clear();
            seen.clear();
            for e in &self.emergencies[self.emergency_start[s] as usize..self.emergency_start[s + 1] as usize] {
                // An emergency release occurs at its first successful production deployment.
                if e.success && e.release.is_none_or(|r| seen.insert(r)) {
                    run.push(e.finished);
                    run_index.push(e.index);
                }
            }
            let counts = match rule {
                Some(rule) => rule.rolling_counts(&run),
                None => (1..=run.len() as u64).collect(),
            };
            let mut best = (0u64, 0usize);
            for (j, (&t, &n)) in run.iter().zip(&counts).enumerate() {
                if t < from || t >= to {
                    continue;
                }
                in_window += 1;
                if n > best.0 {
                    best = (n, j);
                }
            }
            if best.0 > worst.0 {
                worst = (best.0, Some(s));
            }
            if rule.is_some_and(|r| r.breached(best.0)) {
                flagged.push((best.0, run_index[best.1] as usize));
            }
        }
        flagged.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(n, index) in &flagged {
            let d = &self.history.deployments[index];
            kpi.breaches.push(|| {
                Breaches::of(d, format!("{n} emergency deployments in the 30 days to {}", date(d.finished)), d.finished)
            });
        }
        kpi.band = rule.map(|_| Band {
            label: if flagged.is_empty() { "within limit" } else { "over limit: root cause review" }.into(),
            met: flagged.is_empty(),
        });
        kpi.value = Some(Value::Emergency {
            worst: worst.0,
            worst_service: worst.1.map(|s| self.services[s].to_owned()),
            services_over_limit: flagged.len() as u64,
            emergency_deployments: in_window,
        });
        kpi.finish()
    }

    fn deployment_rework_rate(&self) -> Kpi {
        let mut kpi = Builder::new(
            "deployment_rework_rate",
            "Deployment rework rate (DORA)",
            "Unplanned deployments made because of a production incident (they name the incident they fix), over \
             all deployments, failed ones included.",
            "No target in QMS-DEV-PRO-004; DORA reports it for its trend",
        );
        if self.attempts == 0 {
            return kpi.null(self.no_deployments());
        }
        let rework = self.rows.iter().filter(|r| r.has(REWORK)).count() as u64;
        kpi.value = Some(Value::Ratio { numerator: rework, denominator: self.attempts });
        kpi.finish()
    }

    fn unattributed_incidents(&self) -> Kpi {
        let mut kpi = Builder::new(
            "unattributed_incidents",
            "Unattributed P1/P2 incidents",
            "P1/P2 incidents detected in the window that name no deployment: left out of every KPI above, never \
             attributed by guess.",
            "No target in QMS-DEV-PRO-004; each one is a gap in incident records",
        );
        if let Some(r) = self.window_reason() {
            return kpi.null(r);
        }
        for &inc in &self.unattributed {
            kpi.breaches.push(|| Breach {
                what: format!("{:?} incident {} names no deployment", inc.severity, inc.id),
                release: None,
                service: inc.service.clone().unwrap_or_else(|| "unknown".into()),
                deployment: None,
                at: inc.detected,
            });
        }
        kpi.value = Some(Value::Count { count: self.unattributed.len() as u64 });
        kpi.finish()
    }
}

impl Row {
    fn of(d: &Deployment, service: u32) -> Row {
        let mut flags = 0;
        let mut set = |on: bool, flag: u16| {
            if on {
                flags |= flag;
            }
        };
        set(d.success, SUCCESS);
        set(d.fixes_incident.is_some(), REWORK);
        set(d.rollback.is_some(), ROLLBACK);
        set(d.rollback.is_some_and(|r| r.completed.is_some()), ROLLBACK_DONE);
        set(d.pipeline_started.is_some(), PIPELINE);
        let stabilisation = d.stabilisation.filter(|s| *s >= 0);
        set(stabilisation.is_none(), STABILISATION_UNKNOWN);
        set(d.release_type.as_deref() == Some("infrastructure"), INFRASTRUCTURE);
        Row {
            finished: d.finished,
            pipeline_started: d.pipeline_started.unwrap_or(0),
            rollback_decided: d.rollback.map_or(0, |r| r.decided),
            rollback_completed: d.rollback.and_then(|r| r.completed).unwrap_or(0),
            stabilisation: stabilisation.unwrap_or(target::UNKNOWN_STABILISATION),
            service,
            flags,
        }
    }
}

fn cfr_band(n: u64, d: u64) -> Band {
    let label = if below(n, d, target::CFR_ELITE_PERCENT) {
        "elite"
    } else if below(n, d, target::CFR_HIGH_PERCENT) {
        "high"
    } else if u128::from(n) * 100 <= u128::from(target::CFR_SYSTEMIC_PERCENT) * u128::from(d) {
        "medium"
    } else {
        "systemic failure"
    };
    Band { label: label.into(), met: below(n, d, target::CFR_HIGH_PERCENT) }
}

fn time_band(t: f64) -> Band {
    if t < target::ELITE_TIME as f64 {
        Band { label: "elite".into(), met: true }
    } else if t < target::HIGH_TIME as f64 {
        Band { label: "high".into(), met: true }
    } else {
        Band { label: "below high performing".into(), met: false }
    }
}

impl Band {
    fn target(met: bool) -> Band {
        Band { label: if met { "within target" } else { "outside target" }.into(), met }
    }
}

/// Kpi under construction: breaches gathered separately so closures can borrow them.
struct Builder {
    kpi: Kpi,
    breaches: Breaches,
    band: Option<Band>,
    value: Option<Value>,
    notes: Vec<String>,
}

impl Builder {
    fn new(key: &'static str, name: &'static str, definition: &'static str, target: &'static str) -> Builder {
        Builder {
            kpi: Kpi {
                key,
                name,
                definition,
                value: None,
                null_reason: None,
                target: Cow::Borrowed(target),
                band: None,
                breaches: Vec::new(),
                breaches_total: 0,
                notes: Vec::new(),
            },
            breaches: Breaches::default(),
            band: None,
            value: None,
            notes: Vec::new(),
        }
    }

    fn null(mut self, reason: String) -> Kpi {
        self.kpi.null_reason = Some(reason);
        self.kpi.notes = self.notes;
        self.kpi
    }

    fn finish(mut self) -> Kpi {
        self.kpi.value = self.value;
        self.kpi.band = self.band;
        self.kpi.breaches = self.breaches.list;
        self.kpi.breaches_total = self.breaches.total;
        self.kpi.notes = self.notes;
        self.kpi
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix time, by Howard Hinnant's days-to-civil algorithm.
pub fn date(t: Time) -> String {
    let z = t.div_euclid(DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
