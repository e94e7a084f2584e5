//! Deferred obligations of the emergency track (4.6): each step skipped to restore service is
//! due a set time after the production deployment, and is open, done, done late or overdue.

use crate::gate::when;
use crate::lifecycle::Track;
use crate::policy::{Check, ObligationDef, Policy};
use crate::release::Release;
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObligationStatus {
    /// Not due yet: the emergency release has not reached production.
    AwaitingDeployment,
    Open,
    Done,
    DoneLate,
    Overdue,
}

impl ObligationStatus {
    pub fn key(&self) -> &'static str {
        match self {
            ObligationStatus::AwaitingDeployment => "awaiting-deployment",
            ObligationStatus::Open => "open",
            ObligationStatus::Done => "done",
            ObligationStatus::DoneLate => "done-late",
            ObligationStatus::Overdue => "overdue",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Obligation<'a> {
    pub def: &'a ObligationDef,
    pub due: Option<Timestamp>,
    pub fulfilled: Option<Timestamp>,
    pub status: ObligationStatus,
}

impl Obligation<'_> {
    pub fn status_text(&self) -> String {
        match (&self.status, self.due) {
            (ObligationStatus::AwaitingDeployment, _) => format!("due {} after deployment", self.def.within),
            (status, Some(due)) => format!("{}, due {}", status.key(), when(due)),
            (status, None) => status.key().to_owned(),
        }
    }
}

/// The obligations of a release: none unless it is on the emergency track.
pub fn of<'a>(policy: &'a Policy, release: &Release, now: Timestamp) -> Vec<Obligation<'a>> {
    if release.track != Track::Emergency {
        return Vec::new();
    }
    let deployed = release.first_production_deployment();
    policy
        .deferred
        .iter()
        .map(|def| {
            let due = deployed.map(|at| def.within.after(at, &policy.calendar));
            let fulfilled = fulfilled_at(policy, release, &def.fulfilled_by);
            let status = match (due, fulfilled) {
                (None, Some(_)) => ObligationStatus::Done,
                (None, None) => ObligationStatus::AwaitingDeployment,
                (Some(due), Some(at)) if at <= due => ObligationStatus::Done,
                (Some(_), Some(_)) => ObligationStatus::DoneLate,
                (Some(due), None) if now > due => ObligationStatus::Overdue,
                (Some(_), None) => ObligationStatus::Open,
            };
            Obligation { def, due, fulfilled, status }
        })
        .collect()
}

/// When the check became met, for the checks whose records carry a time.
pub fn fulfilled_at(policy: &Policy, release: &Release, check: &Check) -> Option<Timestamp> {
    match check {
        Check::Confirmed(id) => release.confirmations.get(id).map(|c| c.at),
        Check::Plan(fields) => latest(fields.iter().map(|f| release.plan.get(f).map(|p| p.at))),
        Check::Documents(kinds) => latest(kinds.iter().map(|k| release.documents.get(k).map(|d| d.at))),
        Check::TestPhases { .. } => {
            let rt = &policy.release_types[&release.release_type];
            let phases = policy.required_test_phases(rt, &release.touches);
            // Judged as things stood when the phase's record last changed.
            latest(phases.iter().map(|p| {
                let then = crate::judge::last_recorded(release, p).or(release.tests.get(&p.id).map(|t| t.at))?;
                crate::judge::passed_at(policy, release, p, then)
            }))
        }
        _ => None,
    }
}

/// The time every part was done, or `None` if a part is missing.
fn latest(mut times: impl Iterator<Item = Option<Timestamp>>) -> Option<Timestamp> {
    times.try_fold(None, |acc: Option<Timestamp>, t| t.map(|t| Some(acc.map_or(t, |a| a.max(t)))))?
}

/// Whether a check can fulfil an obligation: it must record when it was met.
pub fn can_fulfil(check: &Check) -> bool {
    matches!(check, Check::Confirmed(_) | Check::Plan(_) | Check::Documents(_) | Check::TestPhases { .. })
}
