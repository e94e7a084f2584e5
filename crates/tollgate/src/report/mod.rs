//! `tollgate report weekly|monthly|quarterly`: the review reports of QMS-DEV-PRO-004 6.1 as one
//! self-contained file (HTML with inline SVG charts and styles, or Markdown): the KPIs of the
//! period against their targets, their trend over the previous periods, the items behind every
//! missed target, emergency releases, rollbacks and the open non-conformances.
//!
//! A period ends at `--to` and has a fixed length: 7 days (weekly), 30 days (monthly) or 90
//! days (quarterly). Rolling periods of equal length, not calendar months or quarters, so that
//! per-period counts in a trend compare like with like and a report can end at any moment;
//! `--to 2026-12-01` gives the 30 days before December. The trend covers 12 weeks, 12 months or
//! 8 quarters ending with the report's period.
//!
//! Loading the facts is most of a report's cost: the trend's periods are cut into one run per
//! core, each run's facts loaded once (with the look-back the KPIs need, as `tollgate metrics`
//! loads them) and its periods computed by `kpi::compute_for` on its own thread. The report's own
//! period is the last of the last run, so its KPIs are those `tollgate metrics` gives for it.

mod chart;
mod html;
mod md;

use std::path::Path;

use serde_json::json;
use tollgate_domain::lifecycle::Track;
use tollgate_domain::policy::CadenceDef;
use tollgate_domain::{Span, State, Timestamp};
use tollgate_ledger::SqliteLedger;
use tollgate_metrics::history::{History, Time};
use tollgate_metrics::kpi::{self, Kpi, Query, Value};

use crate::run::{Ctx, Failure, error};
use crate::view::View;
use tollgate_app::app::App;

const DAY: i64 = 86_400;

/// Rows listed per table; the rest are counted.
pub const MAX_ROWS: usize = 200;

/// The review cadences of 6.1 that a report serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Cadence {
    Weekly,
    Monthly,
    Quarterly,
}

impl Cadence {
    pub fn key(self) -> &'static str {
        match self {
            Cadence::Weekly => "weekly",
            Cadence::Monthly => "monthly",
            Cadence::Quarterly => "quarterly",
        }
    }

    /// Seconds in one period.
    pub fn length(self) -> i64 {
        match self {
            Cadence::Weekly => 7 * DAY,
            Cadence::Monthly => 30 * DAY,
            Cadence::Quarterly => 90 * DAY,
        }
    }

    /// Periods in the trend, the report's own included.
    pub fn trend_periods(self) -> usize {
        match self {
            Cadence::Weekly | Cadence::Monthly => 12,
            Cadence::Quarterly => 8,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Cadence::Weekly => "Weekly metrics review",
            Cadence::Monthly => "Monthly KPI review",
            Cadence::Quarterly => "Quarterly engineering review",
        }
    }

    fn period_name(self) -> &'static str {
        match self {
            Cadence::Weekly => "7-day",
            Cadence::Monthly => "30-day",
            Cadence::Quarterly => "90-day",
        }
    }

    /// The profile's cadence for this report: by id (`weekly-metrics-review`), else by trigger.
    fn find(self, cadences: &[CadenceDef]) -> Option<&CadenceDef> {
        let key = self.key();
        cadences
            .iter()
            .find(|c| c.id.to_ascii_lowercase().contains(key))
            .or_else(|| cadences.iter().find(|c| c.trigger.to_ascii_lowercase().starts_with(key)))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Html,
    Md,
}

/// Everything a report shows, computed; the renderers only format it.
pub struct Report {
    /// Made from a sandbox store: every page says it is a rehearsal's.
    pub sandbox: bool,
    pub cadence: Cadence,
    pub service: Option<String>,
    pub environment: String,
    pub from: Time,
    pub to: Time,
    pub generated: Timestamp,
    pub profile: ProfileInfo,
    /// The profile's text for this review (6.1), if it has one.
    pub review: Option<CadenceDef>,
    /// The KPIs of the report's period.
    pub kpis: Vec<Kpi>,
    /// Oldest first; the last is the report's period.
    pub periods: Vec<(Time, Time)>,
    pub trends: Vec<Trend>,
    pub emergency_releases: Vec<EmergencyRelease>,
    pub emergency_deployments: Listed<EmergencyDeployment>,
    pub rollbacks: Listed<RollbackRow>,
    pub nonconformances: Vec<NcRow>,
    /// Quarterly only: the reviews of 6.1 include the risk register and the blackout calendar.
    pub risks: Option<Vec<tollgate_domain::state::Risk>>,
    pub blackouts: Option<Vec<tollgate_domain::state::Blackout>>,
}

pub struct ProfileInfo {
    pub id: String,
    pub version: String,
    pub title: String,
    pub document: String,
    pub hash: String,
}

/// The first [`MAX_ROWS`] items and how many there were.
pub struct Listed<T> {
    pub rows: Vec<T>,
    pub total: usize,
}

impl<T> Listed<T> {
    fn push(&mut self, make: impl FnOnce() -> T) {
        self.total += 1;
        if self.rows.len() < MAX_ROWS {
            self.rows.push(make());
        }
    }
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed { rows: Vec::new(), total: 0 }
    }
}

/// One key KPI over the trend's periods.
pub struct Trend {
    pub key: &'static str,
    pub title: &'static str,
    pub unit: Unit,
    /// Per period: the plotted number (per week, percent or seconds), `None` without data.
    pub values: Vec<Option<f64>>,
    /// Per period: whether the target was met, when the KPI was judged.
    pub met: Vec<Option<bool>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    PerWeek,
    Percent,
    Seconds,
}

impl Unit {
    fn format(self, v: f64) -> String {
        match self {
            Unit::PerWeek => format!("{v:.1}/week"),
            Unit::Percent => format!("{v:.1}%"),
            Unit::Seconds => kpi::human(v.round() as i64),
        }
    }
}

/// The key KPIs of the trend charts: (key, chart title, unit).
const TRENDS: [(&str, &str, Unit); 5] = [
    ("deployment_frequency", "Deployment frequency (per week)", Unit::PerWeek),
    ("change_failure_rate", "Change failure rate", Unit::Percent),
    ("failed_deployment_recovery_time", "Failed deployment recovery time (median)", Unit::Seconds),
    ("lead_time_for_changes", "Lead time for changes (median)", Unit::Seconds),
    ("rollback_rate", "Rollback rate", Unit::Percent),
];

/// The number a trend plots for a KPI value: medians for durations (the KPI's headline is the
/// mean, which one slow incident dominates).
fn plotted(value: &Value) -> Option<f64> {
    match value {
        Value::Frequency { per_week, .. } => Some(*per_week),
        Value::Ratio { .. } | Value::PerHundred { .. } => Some(value.headline()),
        Value::Durations { stats, .. } => Some(stats.median as f64),
        _ => None,
    }
}

/// An emergency release of Tollgate's own records (4.6) created or deployed in the period.
pub struct EmergencyRelease {
    pub release: String,
    pub service: String,
    pub version: String,
    pub title: String,
    pub incident: Option<String>,
    pub created: Time,
    /// The first successful deployment to the report's environment, if any.
    pub deployed: Option<Time>,
    pub phase: String,
}

/// An imported emergency deployment finishing in the period.
pub struct EmergencyDeployment {
    pub service: String,
    pub finished: Time,
    pub success: bool,
    pub artefact: Option<String>,
    pub fixes_incident: Option<String>,
}

/// A rollback decided in the period.
pub struct RollbackRow {
    pub service: String,
    pub release: Option<String>,
    pub artefact: Option<String>,
    pub deployed: Time,
    pub decided: Time,
    pub completed: Option<Time>,
    /// Decided → completed over the profile's rollback target (4.5).
    pub over_target: bool,
}

/// A non-conformance open at the end of the period.
pub struct NcRow {
    pub id: u32,
    pub condition: String,
    pub release: Option<String>,
    pub service: Option<String>,
    pub detail: String,
    pub raised: Time,
    pub due: Time,
    pub overdue: bool,
}

/// The command: builds the report and writes it to `out` (`-`: standard output).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    ctx: &Ctx,
    app: &App<SqliteLedger>,
    cadence: Cadence,
    service: Option<&str>,
    env: Option<&str>,
    to: Timestamp,
    out: &Path,
    format: Format,
) -> Result<(), Failure> {
    let report = build(&ctx.db, app.state(), cadence, service, env, to.timestamp(), ctx.now())?;
    let text = match format {
        Format::Html => html::render(&report),
        Format::Md => md::render(&report),
    };
    if out.as_os_str() == "-" {
        crate::out::write(&text);
        return Ok(());
    }
    if crate::files::remote() {
        return Err(error(format!(
            "--out {}: the server writes no files; give --out - (the client writes the file)",
            out.display()
        )));
    }
    std::fs::write(out, text.as_bytes()).map_err(|e| error(format!("{}: {e}", out.display())))?;
    let missed: Vec<&str> =
        report.kpis.iter().filter(|k| k.band.as_ref().is_some_and(|b| !b.met)).map(|k| k.key).collect();
    let open = report.nonconformances.len();
    let overdue = report.nonconformances.iter().filter(|n| n.overdue).count();
    let emergencies = report.emergency_releases.len() + report.emergency_deployments.total;
    let summary = format!(
        "wrote the {} report ({}) for {} in {}, {} to {}, to {}: {} of {} KPIs miss their target; {} emergency releases or deployments, {} rollbacks, {} open non-conformances ({} overdue)",
        cadence.key(),
        match format {
            Format::Html => "HTML",
            Format::Md => "Markdown",
        },
        report.service.as_deref().unwrap_or("every service"),
        report.environment,
        when(report.from),
        when(report.to),
        out.display(),
        missed.len(),
        report.kpis.iter().filter(|k| k.band.is_some()).count(),
        emergencies,
        report.rollbacks.total,
        open,
        overdue
    );
    ctx.print(View {
        json: json!({
            "out": out.display().to_string(),
            "cadence": cadence.key(),
            "format": match format { Format::Html => "html", Format::Md => "md" },
            "service": report.service,
            "environment": report.environment,
            "from": when_rfc3339(report.from),
            "to": when_rfc3339(report.to),
            "kpis": kpi::to_json(&report.kpis),
            "trends": report.trends.iter().map(|t| json!({
                "key": t.key,
                "periods": report.periods.iter().zip(&t.values).zip(&t.met).map(|((&(from, to), value), met)| json!({
                    "from": when_rfc3339(from), "to": when_rfc3339(to), "value": value, "met": met,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "missed": missed,
            "emergency_releases": report.emergency_releases.len(),
            "emergency_deployments": report.emergency_deployments.total,
            "rollbacks": report.rollbacks.total,
            "open_nonconformances": open,
            "overdue_nonconformances": overdue,
        }),
        text: summary,
    });
    Ok(())
}

/// Computes a report from the store at `db` (imported facts) and `state` (own records).
pub fn build(
    db: &Path,
    state: &State,
    cadence: Cadence,
    service: Option<&str>,
    env: Option<&str>,
    to: Time,
    generated: Timestamp,
) -> Result<Report, Failure> {
    let current = state.current().ok_or_else(|| error("no profile adopted"))?;
    let policy = &current.policy;
    let environment = env.or(policy.production()).unwrap_or("production").to_owned();
    let length = cadence.length();
    let n = cadence.trend_periods();
    let start = to.checked_sub(length * n as i64).ok_or_else(|| error("--to is too early"))?;
    let bounds: Vec<Time> = (0..=n).map(|i| start + length * i as i64).collect();
    let from = bounds[n - 1];

    let rollback_target = match policy.rollback.target {
        Span::Fixed(d) => Some(d.num_seconds()),
        Span::BusinessDays(_) => None,
    };
    let queries: Vec<Query> = bounds
        .windows(2)
        .map(|w| Query { service: service.map(str::to_owned), environment: environment.clone(), from: w[0], to: w[1] })
        .collect();
    let load = |from, to| crate::metrics_cmd::history(db, state, service, &environment, from, to);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (mut per_period, lists) =
        grouped(&crate::metrics_cmd::procedure(policy), &queries, threads, &load, |h: &History| {
            listed_deployments(h, from, to, rollback_target)
        })?;
    let (emergency_deployments, rollbacks) = lists.unwrap_or_default();
    let trends = TRENDS
        .iter()
        .map(|&(key, title, unit)| {
            let of = |kpis: &Vec<Kpi>| kpis.iter().find(|k| k.key == key).cloned();
            let found: Vec<Option<Kpi>> = per_period.iter().map(of).collect();
            Trend {
                key,
                title,
                unit,
                values: found.iter().map(|k| k.as_ref().and_then(|k| k.value.as_ref()).and_then(plotted)).collect(),
                met: found.iter().map(|k| k.as_ref().and_then(|k| k.band.as_ref()).map(|b| b.met)).collect(),
            }
        })
        .collect();
    let kpis = per_period.pop().unwrap_or_default();

    let quarterly = cadence == Cadence::Quarterly;
    Ok(Report {
        sandbox: state.is_sandbox(),
        cadence,
        service: service.map(str::to_owned),
        environment: environment.clone(),
        from,
        to,
        generated,
        profile: ProfileInfo {
            id: policy.id.clone(),
            version: policy.version.clone(),
            title: policy.title.clone(),
            document: policy.document.clone(),
            hash: current.hash.clone(),
        },
        review: cadence.find(&policy.cadences).cloned(),
        kpis,
        periods: bounds.windows(2).map(|w| (w[0], w[1])).collect(),
        trends,
        emergency_releases: emergency_releases(state, service, &environment, from, to),
        emergency_deployments,
        rollbacks,
        nonconformances: nonconformances(state, service, to),
        risks: quarterly.then(|| state.risks.iter().map(|r| (**r).clone()).collect()),
        blackouts: quarterly.then(|| {
            state
                .blackouts
                .iter()
                .filter(|b| {
                    b.to.timestamp() > from && service.is_none_or(|s| b.service.as_deref().is_none_or(|b| b == s))
                })
                .map(|b| (**b).clone())
                .collect()
        }),
    })
}

/// Imported emergency deployments finishing in `[from, to)` and every rollback decided in it.
fn listed_deployments(
    h: &History,
    from: Time,
    to: Time,
    rollback_target: Option<i64>,
) -> (Listed<EmergencyDeployment>, Listed<RollbackRow>) {
    let mut emergencies = Listed::default();
    let mut rollbacks = Listed::default();
    for d in &h.deployments {
        // Own emergency releases are listed as releases, with their incident and phase.
        if d.emergency && d.release.is_none() && from <= d.finished && d.finished < to {
            emergencies.push(|| EmergencyDeployment {
                service: d.service.to_string(),
                finished: d.finished,
                success: d.success,
                artefact: d.artefact.clone(),
                fixes_incident: d.fixes_incident.clone(),
            });
        }
        if let Some(r) = d.rollback.filter(|r| from <= r.decided && r.decided < to) {
            rollbacks.push(|| RollbackRow {
                service: d.service.to_string(),
                release: d.release.clone(),
                artefact: d.artefact.clone(),
                deployed: d.finished,
                decided: r.decided,
                completed: r.completed,
                over_target: rollback_target
                    .is_some_and(|t| r.completed.is_some_and(|c| c.saturating_sub(r.decided) > t)),
            });
        }
    }
    // In time order, as a reviewer reads them (the history's deployments come in no order).
    emergencies.rows.sort_by(|a, b| (a.finished, &a.service).cmp(&(b.finished, &b.service)));
    rollbacks.rows.sort_by_key(|r| r.decided);
    (emergencies, rollbacks)
}

fn emergency_releases(
    state: &State,
    service: Option<&str>,
    environment: &str,
    from: Time,
    to: Time,
) -> Vec<EmergencyRelease> {
    let inside = |t: Time| from <= t && t < to;
    state
        .releases
        .values()
        .filter(|r| r.track == Track::Emergency && service.is_none_or(|s| s == r.service))
        .filter_map(|r| {
            let deployed = r
                .deployments
                .iter()
                .filter(|d| d.environment == environment)
                .find_map(|d| d.finished.filter(|(_, ok)| *ok).map(|(t, _)| t.timestamp()));
            let created = r.created.at.timestamp();
            let finished_here = r.deployments.iter().any(|d| d.finished.is_some_and(|(t, _)| inside(t.timestamp())));
            (inside(created) || finished_here).then(|| EmergencyRelease {
                release: r.id.to_string(),
                service: r.service.clone(),
                version: r.version.clone(),
                title: r.title.clone(),
                incident: r.incident.clone(),
                created,
                deployed,
                phase: r.phase.to_string(),
            })
        })
        .collect()
}

/// Non-conformances open at `to` (raised by then, not closed by then), of the service.
fn nonconformances(state: &State, service: Option<&str>, to: Time) -> Vec<NcRow> {
    state
        .ncs
        .iter()
        .filter(|nc| nc.raised_at.timestamp() <= to && nc.closed.as_ref().is_none_or(|(at, _, _)| at.timestamp() > to))
        .filter(|nc| {
            let Some(s) = service else { return true };
            let of_release = nc.release.and_then(|id| state.releases.get(&id)).map(|r| r.service.as_str());
            nc.service.as_deref() == Some(s) || of_release == Some(s)
        })
        .map(|nc| NcRow {
            id: nc.id,
            condition: nc.condition.clone(),
            release: nc.release.map(|r| r.to_string()),
            service: nc.service.clone(),
            detail: if nc.detail.is_empty() { nc.subject.clone() } else { nc.detail.clone() },
            raised: nc.raised_at.timestamp(),
            due: nc.due.timestamp(),
            overdue: nc.due.timestamp() < to,
        })
        .collect()
}

/// The facts a history loader returns for deployments finishing in `[from, to)`.
type Load<'a> = dyn Fn(Time, Time) -> Result<History, Failure> + Sync + 'a;

/// `kpi::compute` for each query (contiguous periods, oldest first), and `last` applied to the
/// facts of the last one. Loading the facts is most of a report's cost, so the periods are cut
/// into one run per core, each run's facts loaded once (the loader adds the look-back KPIs
/// need) and its periods computed on its own thread. Results come back in query order.
fn grouped<T: Send>(
    procedure: &kpi::Procedure,
    queries: &[Query],
    threads: usize,
    load: &Load<'_>,
    last: impl FnOnce(&History) -> T + Send,
) -> Result<(Vec<Vec<Kpi>>, Option<T>), Failure> {
    if queries.is_empty() {
        return Ok((Vec::new(), None));
    }
    let chunks: Vec<&[Query]> = queries.chunks(queries.len().div_ceil(threads.clamp(1, queries.len()))).collect();
    let mut last = Some(last);
    let count = chunks.len();
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(g, run)| {
                let last = if g + 1 == count { last.take() } else { None };
                s.spawn(move || -> Result<_, Failure> {
                    let (Some(first), Some(end)) = (run.first(), run.last()) else { return Ok((Vec::new(), None)) };
                    let history = load(first.from, end.to)?;
                    let kpis: Vec<Vec<Kpi>> = run.iter().map(|q| kpi::compute_for(&history, q, procedure)).collect();
                    Ok((kpis, last.map(|f| f(&history))))
                })
            })
            .collect();
        let mut all = Vec::with_capacity(queries.len());
        let mut tail = None;
        for handle in handles {
            // A panic in a worker is a bug; it is raised here, as it would have been had the
            // periods been computed on this thread.
            let (kpis, t) = handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e))?;
            all.extend(kpis);
            tail = tail.or(t);
        }
        Ok((all, tail))
    })
}

/// "1 item", "3 items".
fn items(n: u64) -> String {
    if n == 1 { "1 item".to_owned() } else { format!("{n} items") }
}

/// Deployment frequency is judged over whole ISO weeks (Monday 00:00 UTC) inside the period; a
/// weekly report ending mid-week holds none, so the reader is told how to get one judged.
fn iso_week_hint(r: &Report) -> Option<String> {
    const MONDAY_EPOCH_OFFSET: i64 = 4 * DAY; // 1970-01-01 was a Thursday
    let aligned = (r.to - MONDAY_EPOCH_OFFSET).rem_euclid(7 * DAY) == 0;
    (r.cadence == Cadence::Weekly && !aligned).then(|| {
        let next_monday = r.to + (7 * DAY - (r.to - MONDAY_EPOCH_OFFSET).rem_euclid(7 * DAY));
        format!(
            "deployment frequency is judged over whole ISO weeks: end the report on a Monday, e.g. --to {}, to have it judged",
            day(next_monday - 7 * DAY)
        )
    })
}

fn stamp(t: Time) -> Option<Timestamp> {
    chrono::DateTime::from_timestamp(t, 0)
}

/// `2026-11-22 05:24 UTC`.
pub(crate) fn when(t: Time) -> String {
    stamp(t).map_or_else(|| t.to_string(), tollgate_domain::gate::when)
}

fn when_rfc3339(t: Time) -> String {
    stamp(t).map_or_else(|| t.to_string(), tollgate_app::codec::time)
}

/// `2026-11-22`.
pub(crate) fn day(t: Time) -> String {
    kpi::date(t)
}

/// The label of a period on a chart's axis: its last day.
pub(crate) fn tick(cadence: Cadence, end: Time) -> String {
    let last = end.saturating_sub(1);
    stamp(last).map_or_else(
        || day(last),
        |t| match cadence {
            Cadence::Weekly | Cadence::Monthly => t.format("%d %b").to_string(),
            Cadence::Quarterly => t.format("%b %Y").to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_metrics::history::{ApprovalCycle, Deployment, Incident, ReleaseAtGate, Rollback, Severity};

    const T0: Time = 1_767_571_200; // 2026-01-05T00:00:00Z, a Monday

    fn deployment(id: u64, service: &str, finished: Time, emergency: bool) -> Deployment {
        Deployment {
            id,
            service: service.into(),
            environment: "production".into(),
            artefact: Some(format!("a{id}")),
            pipeline_started: Some(finished - 600),
            finished,
            success: id % 7 != 3,
            release: None,
            release_type: None,
            emergency,
            fixes_incident: None,
            change_lead_times: vec![(id as i64 % 5) * 3_600].into(),
            rollback: id
                .is_multiple_of(5)
                .then_some(Rollback { decided: finished + 1_200, completed: Some(finished + 2_400) }),
            stabilisation: Some(7_200),
        }
    }

    /// A history over 14 weeks with emergencies near week boundaries, incidents detected long
    /// after their cause, unattributed ones, approvals and releases at their gate.
    fn history() -> History {
        let mut h = History::default();
        let mut id = 0;
        let mut t = T0 - 20 * DAY;
        while t < T0 + 100 * DAY {
            id += 1;
            let service = ["payments", "ledger", "search"][id as usize % 3];
            // Every 9th an emergency, some a few minutes after a week boundary's deployments.
            h.deployments.push(deployment(id, service, t, id.is_multiple_of(9)));
            t += 7 * 3_600 + (id as i64 % 4) * 1_800;
        }
        // Across each week boundary: a deployment, then an emergency fix of it 30 minutes later.
        for w in 1..14 {
            let boundary = T0 + w * 7 * DAY;
            let mut d = deployment(10_000 + 2 * w as u64, "payments", boundary - 600, false);
            d.success = true;
            d.rollback = None;
            h.deployments.push(d);
            h.deployments.push(deployment(10_001 + 2 * w as u64, "payments", boundary + 1_200, true));
        }
        h.deployments.sort_by_key(|d| d.finished);
        for (i, d) in h.deployments.iter().enumerate().filter(|(i, _)| i.is_multiple_of(4)) {
            h.incidents.push(Incident {
                id: format!("INC-{i}"),
                service: Some(d.service.to_string()),
                environment: Some("production".into()),
                severity: if i.is_multiple_of(8) { Severity::P1 } else { Severity::P3 },
                // Some detected a whole period later than the deployment that caused them.
                detected: d.finished + if i.is_multiple_of(12) { 9 * DAY } else { 1_800 },
                resolved: Some(d.finished + 20 * DAY),
                caused_by: Some(d.id),
            });
            if i.is_multiple_of(16) {
                h.incidents.push(Incident {
                    id: format!("U-{i}"),
                    service: Some(d.service.to_string()),
                    environment: None,
                    severity: Severity::P2,
                    detected: d.finished + 60,
                    resolved: None,
                    caused_by: None,
                });
            }
            h.approvals.push(ApprovalCycle {
                release: format!("R-{i}"),
                service: d.service.to_string(),
                emergency: d.emergency,
                requested: Some(d.finished - 3 * 3_600),
                opened: d.finished - 4 * 3_600,
                granted: Some(d.finished - 3_600),
            });
            h.releases.push(ReleaseAtGate {
                release: format!("R-{i}"),
                service: d.service.to_string(),
                gate_at: d.finished - 600,
                documentation_complete: !i.is_multiple_of(3),
                critical_drift: Some((i % 2) as u32),
            });
        }
        h.incidents.sort_by_key(|i| i.detected);
        h
    }

    #[test]
    fn periods_computed_in_runs_on_several_cores_come_back_in_order() {
        let h = history();
        let queries: Vec<Query> = (0..13i64)
            .map(|w| Query {
                service: (w % 2 == 1).then(|| "payments".to_owned()),
                environment: "production".into(),
                from: T0 + w * 7 * DAY,
                to: T0 + (w + 1) * 7 * DAY,
            })
            .collect();
        let sequential: Vec<Vec<Kpi>> = queries.iter().map(|q| kpi::compute(&h, q)).collect();
        // Each period differs from the next, so any reordering shows.
        assert!(sequential.windows(2).all(|w| w[0] != w[1]));
        for threads in [1, 2, 3, 13, 64] {
            let asked = std::sync::Mutex::new(Vec::new());
            let load = |from, to| {
                asked.lock().unwrap().push((from, to));
                Ok(h.clone())
            };
            let (kpis, last) =
                grouped(&kpi::Procedure::default(), &queries, threads, &load, |_: &History| "last").unwrap();
            assert_eq!(kpis, sequential, "{threads} threads");
            assert_eq!(last, Some("last"));
            // One load per run, the runs together covering the periods once, in order.
            let mut asked = asked.into_inner().unwrap();
            asked.sort();
            assert_eq!(asked.len(), threads.min(13));
            assert_eq!((asked[0].0, asked[asked.len() - 1].1), (T0, T0 + 13 * 7 * DAY));
            assert!(asked.windows(2).all(|w| w[0].1 == w[1].0), "{asked:?}");
        }
        let fail = |_, _| Err(error("unreadable"));
        assert!(grouped(&kpi::Procedure::default(), &queries, 2, &fail, |_: &History| ()).is_err());
        assert!(grouped(&kpi::Procedure::default(), &[], 2, &fail, |_: &History| ()).unwrap().0.is_empty());
    }

    #[test]
    fn a_weekly_report_ending_mid_week_says_how_to_judge_deployment_frequency() {
        let report = |cadence: Cadence, to: Time| Report {
            sandbox: false,
            cadence,
            service: None,
            environment: "production".into(),
            from: to - cadence.length(),
            to,
            generated: stamp(to).unwrap(),
            profile: ProfileInfo {
                id: String::new(),
                version: String::new(),
                title: String::new(),
                document: String::new(),
                hash: String::new(),
            },
            review: None,
            kpis: Vec::new(),
            periods: Vec::new(),
            trends: Vec::new(),
            emergency_releases: Vec::new(),
            emergency_deployments: Listed::default(),
            rollbacks: Listed::default(),
            nonconformances: Vec::new(),
            risks: None,
            blackouts: None,
        };
        assert_eq!(iso_week_hint(&report(Cadence::Weekly, T0)), None, "T0 is a Monday");
        let hint = iso_week_hint(&report(Cadence::Weekly, T0 + 3 * DAY)).unwrap();
        assert!(hint.contains("--to 2026-01-05"), "{hint}");
        assert_eq!(iso_week_hint(&report(Cadence::Monthly, T0 + 3 * DAY)), None);
    }

    #[test]
    fn the_cadence_is_found_by_id_or_trigger() {
        let def = |id: &str, trigger: &str| CadenceDef {
            id: id.into(),
            trigger: trigger.into(),
            reviews: String::new(),
            output: String::new(),
        };
        let cadences = vec![def("post-release-review", "After every major release"), def("kpis", "Monthly")];
        assert_eq!(Cadence::Monthly.find(&cadences).map(|c| c.id.as_str()), Some("kpis"));
        assert!(Cadence::Weekly.find(&cadences).is_none());
        assert_eq!(tick(Cadence::Weekly, T0 + 7 * DAY), "11 Jan");
        assert_eq!(tick(Cadence::Quarterly, T0), "Jan 2026");
    }
}
