//! The facts KPIs are computed from, as plain values. Times are Unix seconds (UTC); durations
//! are seconds. Services and environments are strings as the records name them.

use std::sync::Arc;

/// Commit-to-deploy seconds of the changes a deployment shipped; most ship one or two, held
/// inline (a query holds a million deployments).
pub type LeadTimes = smallvec::SmallVec<[i64; 2]>;

/// Unix seconds, UTC.
pub type Time = i64;

/// One deployment to one environment, successful or not.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    /// Unique within a history; incidents and rollbacks refer to it.
    pub id: u64,
    /// Shared: a query loads a million deployments of a thousand services.
    pub service: Arc<str>,
    pub environment: Arc<str>,
    pub artefact: Option<String>,
    /// The earliest pipeline event of the deployment's chain (queued or started), when known.
    pub pipeline_started: Option<Time>,
    pub finished: Time,
    pub success: bool,
    /// `R-12` when the deployment belongs to a Tollgate release.
    pub release: Option<String>,
    /// The release type (`minor`, `emergency`, ...) when known.
    pub release_type: Option<String>,
    /// An emergency release (4.6) or an unplanned deployment made because of an incident.
    pub emergency: bool,
    /// The incident this deployment was made to fix, if it was unplanned (DORA rework).
    pub fixes_incident: Option<String>,
    /// Commit-to-deploy seconds of every change that reached production first with this
    /// deployment (a change shipped in several artefacts counts once, at its first).
    pub change_lead_times: LeadTimes,
    /// The rollback of this deployment, if any.
    pub rollback: Option<Rollback>,
    /// Seconds of stabilisation the release type requires (4.4.5), when known.
    pub stabilisation: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rollback {
    pub decided: Time,
    /// `None` while it runs.
    pub completed: Option<Time>,
}

/// P1 is the most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    P1,
    P2,
    P3,
    P4,
}

impl Severity {
    /// `P1` to `P4`, as incident trackers write them.
    pub fn from_key(key: &str) -> Option<Severity> {
        match key.trim() {
            "P1" | "p1" => Some(Severity::P1),
            "P2" | "p2" => Some(Severity::P2),
            "P3" | "p3" => Some(Severity::P3),
            "P4" | "p4" => Some(Severity::P4),
            _ => None,
        }
    }

    /// "P1/P2 incidents" of 4.2.
    pub fn major(self) -> bool {
        matches!(self, Severity::P1 | Severity::P2)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub id: String,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub severity: Severity,
    pub detected: Time,
    pub resolved: Option<Time>,
    /// The deployment that caused it: explicit (by artefact, or by Tollgate's own record),
    /// never guessed. `None` is reported as unattributed.
    pub caused_by: Option<u64>,
}

/// From the release package's submission to the last required approval (4.2).
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalCycle {
    pub release: String,
    pub service: String,
    pub emergency: bool,
    /// When the release package was submitted for approval; `None` when the record holds no
    /// submission (the cycle then has no start: "missing source", never a cycle from creation).
    pub requested: Option<Time>,
    /// When the release was opened: places a cycle without a submission in a window.
    pub opened: Time,
    /// `None` while approvals are outstanding.
    pub granted: Option<Time>,
}

impl ApprovalCycle {
    /// The time that puts the cycle in a query's window: its submission, else its opening.
    pub fn placed(&self) -> Time {
        self.requested.unwrap_or(self.opened)
    }
}

/// What a Tollgate release looked like at its pre-deployment gate.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseAtGate {
    pub release: String,
    pub service: String,
    pub gate_at: Time,
    /// All documents the profile requires were attached.
    pub documentation_complete: bool,
    /// Unresolved critical drift items in the IaC evidence; `None` when no plan was recorded.
    pub critical_drift: Option<u32>,
}

/// Everything KPIs need for one query, each list ordered by its time except the deployments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// In no particular order: a store hands them over service by service, and ordering a
    /// million large structs costs more than `kpi::compute` ordering its compact rows.
    pub deployments: Vec<Deployment>,
    /// By `detected`.
    pub incidents: Vec<Incident>,
    /// By [`ApprovalCycle::placed`].
    pub approvals: Vec<ApprovalCycle>,
    /// By `gate_at`.
    pub releases: Vec<ReleaseAtGate>,
}
