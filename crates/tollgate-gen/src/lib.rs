//! Deterministic generator of large, realistic release histories as CDEvents 0.5 JSON lines,
//! for Tollgate's KPI import and benchmarks (issue 4).
//!
//! ```text
//! cargo run --release -p tollgate-gen -- > history.jsonl            # the full default history
//! cargo run --release -p tollgate-gen -- | tollgate import --cdevents -
//! cargo run --release -p tollgate-gen -- --small --seed 7          # 5 services, 30 days
//! tollgate-gen --services 200 --years 1 --deployments 500000 --incidents 25000 --end 2026-06-30
//! ```
//!
//! Defaults: 1,000 services, 3 years ending 2026-11-01T00:00:00Z, about 10 million production
//! deployments and 500,000 incidents, seed 1. The same arguments always give the same bytes.
//! Lines go to stdout in timestamp order; a summary (lines, deployments, incidents, time)
//! goes to stderr. Memory stays constant whatever the length of the history.
//!
//! What is simulated, per service: a deployment rate drawn from a log-normal spread (the
//! busiest deploy over a hundred times a day, the slowest about monthly), local business hours
//! and weekdays, 5-60 min pipelines, 1-5 changes per artefact committed hours to days before,
//! rebuilds and retries that put a change in several artefacts, failed pipelines (~3%),
//! rollbacks (~2%, some of a service's first deployment), incidents P1-P4 (60% naming the
//! artefact that caused them), emergency fixes after P1/P2 incidents.
//!
//! The events and what the importer reads from each (the mapping of issue 4):
//!
//! | event (`dev.cdevents.*.0.3.0`) | fields |
//! |---|---|
//! | `change.merged` | `subject.id` = change (`acme/<service>/pull/<n>`), `customData.committedAt` (absent on 10%) |
//! | `artifact.packaged` | `subject.id` = artefact purl, `subject.content.change.id` = one change (one event per change) |
//! | `pipelinerun.queued` / `.started` | same `context.chainId` as the deployment; the earliest is the pipeline start |
//! | `pipelinerun.finished` | `outcome` success / failure / error / cancel; `customData.service`, `.environment` |
//! | `service.deployed` / `.upgraded` | `subject.id` = service, `content.environment.id`, `content.artifactId`; emergency fixes carry `customData.emergency: true` and `customData.incident` |
//! | `service.rolledback` | rolls back the service's latest earlier production deployment; `artifactId` is the version returned to; 15% have no pipeline event in their chain |
//! | `incident.detected` / `.resolved` | paired by `subject.id` (`INC-0000042`); `customData.severity` P1-P4 (absent on 3%); `content.artifactId` on attributed incidents only |
//!
//! Guarantees the stream keeps, so that the importer's reading is the intended one: between a
//! production deployment and its rollback no other production pipeline of that service
//! finishes; a failed pipeline's chain holds no deployment; every change a packaged artefact
//! names was merged earlier in the stream; an emergency deployment follows its incident.

mod emit;
mod ids;
mod rng;
mod time;
mod world;

use std::fmt;
use std::io::Write;

pub use emit::SPEC_VERSION;
pub use world::LOOKBACK;

/// 2026-11-01T00:00:00Z, the default end of the history.
pub const DEFAULT_END: i64 = 1_793_491_200;

/// What to generate. Counts are targets: the simulation lands near them, not on them.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub services: u32,
    /// Length of the history in days.
    pub days: f64,
    /// End of the history, Unix seconds.
    pub end: i64,
    /// Successful production deployments.
    pub deployments: u64,
    pub incidents: u64,
    pub seed: u64,
}

impl Config {
    /// 1,000 services, 3 years, ~10 million production deployments, ~500,000 incidents.
    pub fn full() -> Self {
        Config {
            services: 1_000,
            days: 3.0 * 365.25,
            end: DEFAULT_END,
            deployments: 10_000_000,
            incidents: 500_000,
            seed: 1,
        }
    }

    /// 5 services, 30 days, ~1,500 deployments, ~120 incidents: about 10,000 lines, for tests.
    pub fn small() -> Self {
        Config { services: 5, days: 30.0, end: DEFAULT_END, deployments: 1_500, incidents: 120, seed: 1 }
    }

    fn end_ms(&self) -> i64 {
        self.end.saturating_mul(time::SECOND)
    }

    fn start_ms(&self) -> i64 {
        self.end_ms() - (self.days * time::DAY as f64).round() as i64
    }

    /// Refuses what would break the output (dates outside years 1970-9999) or memory (rates so
    /// high that a half-day lookback holds millions of events).
    pub fn validate(&self) -> Result<(), GenError> {
        let bad = |msg: String| Err(GenError::Config(msg));
        if self.services == 0 || self.services > 1_000_000 {
            return bad(format!("--services must be between 1 and 1000000, not {}", self.services));
        }
        if !self.days.is_finite() || self.days < 1.0 || self.days > 36_600.0 {
            return bad(format!("the history must last between 1 day and 100 years, not {} days", self.days));
        }
        if !(0..=253_402_300_799).contains(&self.end) {
            return bad("--end must fall between 1970 and 9999".into());
        }
        if self.start_ms() < 0 {
            return bad("the history would start before 1970-01-01".into());
        }
        let service_days = f64::from(self.services) * self.days;
        if self.deployments as f64 / service_days > 5_000.0 {
            return bad(format!(
                "{} deployments is over 5000 per service per day; add services or days",
                self.deployments
            ));
        }
        if self.incidents as f64 / service_days > 100.0 {
            return bad(format!("{} incidents is over 100 per service per day; add services or days", self.incidents));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("{0}")]
    Config(String),
    #[error("writing the events: {0}")]
    Io(#[from] std::io::Error),
}

/// What was written, counted as written (events after the end of the history are not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub services: u64,
    pub lines: u64,
    pub bytes: u64,
    /// Timestamps of the first and last line, Unix milliseconds.
    pub first_ms: i64,
    pub last_ms: i64,
    pub production_deployments: u64,
    pub staging_deployments: u64,
    /// Of the deployments, those sent as `service.upgraded`.
    pub upgraded_events: u64,
    pub emergency_deployments: u64,
    pub services_over_two_emergencies_in_30_days: u64,
    /// `pipelinerun.finished` with outcome failure or error.
    pub failed_pipelines_production: u64,
    pub failed_pipelines_staging: u64,
    /// Of the failed ones, outcome error.
    pub error_outcomes: u64,
    pub cancelled_pipelines: u64,
    pub successful_pipeline_finishes: u64,
    pub rollbacks: u64,
    pub rollbacks_without_pipeline: u64,
    pub first_deployment_rollbacks: u64,
    pub incidents: u64,
    pub incidents_attributed: u64,
    pub incidents_unattributed: u64,
    pub incidents_without_severity: u64,
    /// P1..P4, when reported.
    pub incidents_by_severity: [u64; 4],
    pub incidents_resolved: u64,
    pub changes_merged: u64,
    pub changes_without_commit_time: u64,
    /// `artifact.packaged` events (one per change in an artefact).
    pub packaged: u64,
    /// Of those, naming a change already packaged in an earlier artefact.
    pub packaged_carried_changes: u64,
    /// Must be 0: lines written out of timestamp order.
    pub out_of_order: u64,
    /// Must be 0: events the simulation placed before its streaming bound.
    pub clamped: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: u64, of: u64| if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 };
        let attempts = self.production_deployments + self.failed_pipelines_production;
        writeln!(f, "lines {}  bytes {}  services {}", self.lines, self.bytes, self.services)?;
        writeln!(
            f,
            "deployments: production {} (upgraded events {}, emergency {}), staging {}",
            self.production_deployments, self.upgraded_events, self.emergency_deployments, self.staging_deployments
        )?;
        writeln!(
            f,
            "failed pipelines: production {} ({:.2}% of attempts), staging {}, of which outcome error {}; cancelled {}",
            self.failed_pipelines_production,
            pct(self.failed_pipelines_production, attempts),
            self.failed_pipelines_staging,
            self.error_outcomes,
            self.cancelled_pipelines
        )?;
        writeln!(
            f,
            "rollbacks {} ({:.2}% of production deployments; {} of a first deployment, {} without a pipeline event)",
            self.rollbacks,
            pct(self.rollbacks, self.production_deployments),
            self.first_deployment_rollbacks,
            self.rollbacks_without_pipeline
        )?;
        let [p1, p2, p3, p4] = self.incidents_by_severity;
        writeln!(
            f,
            "incidents {} (attributed {}, unattributed {}; P1 {p1} P2 {p2} P3 {p3} P4 {p4}, no severity {}), resolved {}",
            self.incidents,
            self.incidents_attributed,
            self.incidents_unattributed,
            self.incidents_without_severity,
            self.incidents_resolved
        )?;
        writeln!(
            f,
            "services with more than two emergencies in 30 days: {}",
            self.services_over_two_emergencies_in_30_days
        )?;
        write!(
            f,
            "changes merged {} ({} without committedAt); packaged {} ({} naming a change already in an earlier artefact)",
            self.changes_merged, self.changes_without_commit_time, self.packaged, self.packaged_carried_changes
        )?;
        if self.out_of_order > 0 || self.clamped > 0 {
            write!(
                f,
                "\nwarning: generator bug: {} lines out of order, {} events moved to keep the order",
                self.out_of_order, self.clamped
            )?;
        }
        Ok(())
    }
}

/// Writes the history described by `cfg` to `sink` as JSON lines, in timestamp order.
pub fn generate<W: Write>(cfg: &Config, sink: W) -> Result<Summary, GenError> {
    world::run(cfg, sink)
}
