//! Detecting the non-conformances of 6.2 as they happen, rather than at the next audit. Each
//! rule looks at one moment (a production deployment, a completed rollback, an emergency
//! created, a tick of the clock) and proposes findings; `raise` turns findings into register
//! entries with a corrective-action due date, once per subject, flagging repeats.

use crate::approval;
use crate::event::{Event, ExternalDeployment, NcRaised};
use crate::gate::when;
use crate::obligation::{self, ObligationStatus};
use crate::policy::{Check, Detect, Policy};
use crate::release::Release;
use crate::state::State;
use crate::time::{Timestamp, format_duration};

/// A non-conformance found, before it is numbered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub condition: String,
    pub release: Option<crate::release::ReleaseId>,
    pub service: Option<String>,
    pub subject: String,
    pub detail: String,
    pub occurred: Timestamp,
}

fn condition<'a>(policy: &'a Policy, kind: &str) -> Option<(&'a str, &'a Detect)> {
    policy
        .nonconformance
        .conditions
        .iter()
        .find(|(_, c)| c.detect.name() == kind)
        .map(|(id, c)| (id.as_str(), &c.detect))
}

fn finding(condition: &str, release: &Release, subject: String, detail: String, occurred: Timestamp) -> Finding {
    Finding {
        condition: condition.to_owned(),
        release: Some(release.id),
        service: Some(release.service.clone()),
        subject,
        detail,
        occurred,
    }
}

/// Findings at the moment a release's production deployment starts.
pub fn at_production_deployment(state: &State, release: &Release, now: Timestamp) -> Vec<Finding> {
    let policy = state.policy_of(release);
    let mut found = Vec::new();
    if let Some((id, _)) = condition(policy, "deployment-without-approval") {
        // Only reachable when a profile lets the approvals criterion be overridden: the
        // override lets the deployment through, and the register records that it was not
        // approved.
        let overridden = policy
            .gates
            .iter()
            .filter(|g| g.track == release.track)
            .flat_map(|g| &g.criteria)
            .filter(|c| matches!(c.check, Check::Approvals))
            .find_map(|c| release.overrides.get(&c.id));
        if let Some(o) = overridden.filter(|_| !approval::status(state, release, policy).met) {
            found.push(finding(
                id,
                release,
                format!("{}/deployment-approval", release.id),
                format!("deployed with the required approvals missing, on an override by {}", o.by),
                now,
            ));
        }
    }
    if let Some((id, _)) = condition(policy, "test-phase-skipped") {
        let rt = &policy.release_types[&release.release_type];
        let skipped: Vec<&str> = policy
            .required_test_phases(rt, &release.touches)
            .into_iter()
            .filter(|p| {
                crate::judge::passed_at(policy, release, p, now).is_none() && !release.skipped_tests.contains_key(&p.id)
            })
            .map(|p| p.id.as_str())
            .collect();
        if !skipped.is_empty() {
            found.push(finding(
                id,
                release,
                format!("{}/test-phases", release.id),
                format!(
                    "deployed to production without passing {} and without Release Manager approval to skip",
                    skipped.join(", ")
                ),
                now,
            ));
        }
    }
    // 4.1: on both tracks. The gates refuse such a deployment where the profile has the
    // provenance criterion; this catches a profile that lacks it.
    if let Some((id, _)) = condition(policy, "artefact-not-from-tagged-commit") {
        let provenance = crate::gate::check(state, release, policy, &Check::Provenance, now);
        if !provenance.met {
            found.push(finding(
                id,
                release,
                format!("{}/artefact-provenance", release.id),
                format!(
                    "deployed to production an artefact not shown to be built from a tagged commit: {}",
                    provenance.reason
                ),
                now,
            ));
        }
    }
    if let Some((id, _)) = condition(policy, "misclassified") {
        let flags = crate::classification::flags(state, release);
        if !flags.is_empty() {
            found.push(finding(
                id,
                release,
                format!("{}/classification", release.id),
                format!(
                    "deployed to production as {} although {}",
                    release.release_type,
                    flags.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; ")
                ),
                now,
            ));
        }
    }
    // Emergency documentation is deferred, not absent: its lateness is a deferred-step finding.
    if let Some((id, Detect::DocumentationAbsent(kinds))) = condition(policy, "documentation-absent")
        && release.track == crate::lifecycle::Track::Standard
    {
        let missing: Vec<&str> =
            kinds.iter().filter(|k| !release.documents.contains_key(*k)).map(String::as_str).collect();
        if !missing.is_empty() {
            found.push(finding(
                id,
                release,
                format!("{}/documentation", release.id),
                format!("deployed to production without {}", missing.join(", ")),
                now,
            ));
        }
    }
    found
}

/// Findings when a rollback completes (or is still running) past the rollback target.
pub fn rollback_over_target(state: &State, release: &Release, now: Timestamp) -> Vec<Finding> {
    let policy = state.policy_of(release);
    let Some((id, _)) = condition(policy, "rollback-over-target") else {
        return Vec::new();
    };
    let Some((n, rb)) = release.rollbacks.iter().enumerate().next_back() else {
        return Vec::new();
    };
    let end = rb.completed.unwrap_or(now);
    let deadline = policy.rollback.target.after(rb.started.at, &policy.calendar);
    if end <= deadline {
        return Vec::new();
    }
    let detail = match rb.completed {
        Some(done) => format!(
            "rollback decided at {} took {} to reach a stable previous version; target {}",
            when(rb.started.at),
            format_duration(done - rb.started.at),
            policy.rollback.target
        ),
        None => format!(
            "rollback decided at {} still not complete after {}; target {}",
            when(rb.started.at),
            format_duration(now - rb.started.at),
            policy.rollback.target
        ),
    };
    vec![finding(id, release, format!("{}/rollback#{}", release.id, n + 1), detail, deadline)]
}

/// 4.6 "Emergency releases that occur more than twice in any rolling 30-day period for the same
/// service are a process non-conformance" (6.2: "exceeding two events in 30 days for a single
/// service"), read one way for the register and for the emergency release frequency KPI
/// (`tollgate-metrics`), which both call this:
/// - an emergency release *occurs* when it first goes live in production: its first successful
///   production deployment. A failed attempt is not a release, a redeployment of the same
///   release is not another, and a withdrawn release never reached production (withdrawal is
///   refused after a production deployment), so neither the register nor the KPI counts it;
/// - the period ending at `t` is `(t − window, t]`: two occurrences exactly a window apart are
///   not in one period;
/// - more than `max` in one period is the breach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyRule {
    pub max: u32,
    pub window: crate::time::Span,
    pub calendar: crate::time::Calendar,
}

impl EmergencyRule {
    /// The profile's rule, when it has the condition.
    pub fn of(policy: &Policy) -> Option<EmergencyRule> {
        match condition(policy, "emergency-frequency") {
            Some((_, Detect::EmergencyFrequency { max, window })) => {
                Some(EmergencyRule { max: *max, window: *window, calendar: policy.calendar.clone() })
            }
            _ => None,
        }
    }

    /// When `release` occurred as an emergency release, if it has.
    pub fn occurred(release: &Release) -> Option<Timestamp> {
        if release.track != crate::lifecycle::Track::Emergency || release.withdrawn.is_some() {
            return None;
        }
        release.deployments.iter().filter(|d| d.production).find_map(|d| d.finished.filter(|f| f.1).map(|f| f.0))
    }

    /// Whether `earlier` is inside the period ending at `t`.
    pub fn within(&self, earlier: Timestamp, t: Timestamp) -> bool {
        earlier <= t && self.window.after(earlier, &self.calendar) > t
    }

    pub fn breached(&self, count: u64) -> bool {
        count > u64::from(self.max)
    }

    /// For one service's occurrences in time order (Unix seconds), the count in the period
    /// ending at each: `counts[j]` is the number of occurrences in `(times[j] − window,
    /// times[j]]`. One pass: the period's start only moves forward.
    pub fn rolling_counts(&self, times: &[i64]) -> Vec<u64> {
        let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
        let mut start = 0usize;
        times
            .iter()
            .enumerate()
            .map(|(j, &t)| {
                while start < j && !self.within(at(times[start]), at(t)) {
                    start += 1;
                }
                (j - start + 1) as u64
            })
            .collect()
    }
}

/// Finding when an emergency release goes live in production for a service that already had
/// `max` in the rolling window ([`EmergencyRule`]).
pub fn emergency_frequency(state: &State, policy: &Policy, new: &Release, now: Timestamp) -> Vec<Finding> {
    let Some((id, _)) = condition(policy, "emergency-frequency") else { return Vec::new() };
    let Some(rule) = EmergencyRule::of(policy) else { return Vec::new() };
    // Only the first go-live of `new` counts: a redeployment is not another emergency.
    let Some(occurred) = EmergencyRule::occurred(new).filter(|t| *t == now) else { return Vec::new() };
    let mut recent: Vec<(Timestamp, String)> = state
        .releases
        .values()
        .filter(|r| r.service == new.service && r.id != new.id)
        .filter_map(|r| EmergencyRule::occurred(r).map(|t| (t, r.id.to_string())))
        .filter(|(t, _)| rule.within(*t, occurred))
        .collect();
    recent.sort();
    recent.push((occurred, new.id.to_string()));
    if !rule.breached(recent.len() as u64) {
        return Vec::new();
    }
    let service = &new.service;
    let ids: Vec<String> = recent.into_iter().map(|(_, id)| id).collect();
    vec![finding(
        id,
        new,
        format!("service:{service}/emergency:{}", new.id),
        format!(
            "{} emergency releases for {service} live in production within {}: {}",
            ids.len(),
            rule.window,
            ids.join(", ")
        ),
        now,
    )]
}

/// Findings that only the passing of time reveals: overdue deferred steps, late rollbacks.
pub fn at_tick(state: &State, now: Timestamp) -> Vec<Finding> {
    let mut found = Vec::new();
    for release in state.releases.values() {
        let policy = state.policy_of(release);
        if let Some((id, _)) = condition(policy, "deferred-overdue") {
            for o in obligation::of(policy, release, now) {
                if matches!(o.status, ObligationStatus::Overdue | ObligationStatus::DoneLate) {
                    let due = o.due.expect("overdue obligations have a due time");
                    let detail = match o.fulfilled {
                        Some(at) => format!("{} completed at {}, after its due time {}", o.def.id, when(at), when(due)),
                        None => format!("{} not completed by its due time {} ({})", o.def.id, when(due), o.def.says),
                    };
                    found.push(finding(id, release, format!("{}/deferred:{}", release.id, o.def.id), detail, due));
                }
            }
        }
        if release.rollback_in_progress().is_some() {
            found.extend(rollback_over_target(state, release, now));
        }
    }
    found
}

/// Numbers findings into register entries: each subject is raised once, corrective action is
/// due a set time after the breach (6.2: 5 business days), and a condition raised for the same
/// service by an earlier command is a repeat that needs formal corrective action.
pub fn raise(state: &State, policy: &Policy, findings: Vec<Finding>, now: Timestamp) -> Vec<Event> {
    // Most commands find nothing: the register is not read for them.
    if findings.is_empty() {
        return Vec::new();
    }
    let mut next = state.next_nc_id();
    let mut events = Vec::new();
    let mut subjects: Vec<(String, String)> =
        state.ncs.iter().map(|n| (n.condition.clone(), n.subject.clone())).collect();
    for f in findings {
        if subjects.iter().any(|(c, s)| *c == f.condition && *s == f.subject) {
            continue;
        }
        let repeat =
            f.service.is_some() && state.ncs.iter().any(|n| n.condition == f.condition && n.service == f.service);
        let occurred = f.occurred.min(now);
        events.push(Event::NcRaised(NcRaised {
            id: next,
            condition: f.condition.clone(),
            release: f.release,
            service: f.service.clone(),
            subject: f.subject.clone(),
            detail: f.detail,
            occurred,
            due: policy.nonconformance.corrective_action_within.after(occurred, &policy.calendar),
            repeat,
        }));
        subjects.push((f.condition, f.subject));
        next += 1;
    }
    events
}

/// 6.2 "A production deployment executed without a corresponding approved release record", for
/// deployments Tollgate learned of from outside (imported events). From the enforcement date on,
/// a deployment corresponds to an approved release only when a release of the same service has
/// the deployed artefact's digest, its go decision stood at the deployment time (given before
/// it, not withdrawn by a later no-go), and it was not closed or withdrawn before. A deployment
/// naming no digest cannot show its record; one dated after the import cannot be trusted.
pub fn unapproved_deployments(
    state: &State,
    policy: &Policy,
    deployments: &[ExternalDeployment],
    now: Timestamp,
) -> Vec<Finding> {
    let Some((id, _)) = condition(policy, "deployment-without-approval") else { return Vec::new() };
    let Some(enforced) = enforcement_start(state, policy) else { return Vec::new() };
    let mut by_service: std::collections::BTreeMap<&str, Vec<&Release>> = std::collections::BTreeMap::new();
    for r in state.releases.values() {
        by_service.entry(r.service.as_str()).or_default().push(r);
    }
    deployments
        .iter()
        .filter(|d| d.at >= enforced)
        .filter_map(|d| {
            let why = if d.at > now {
                format!("is dated {}, after it was imported ({}); its time cannot be trusted", when(d.at), when(now))
            } else {
                let hex = d.artefact.as_deref().and_then(sha256_in);
                let releases = by_service.get(d.service.as_str()).map(Vec::as_slice).unwrap_or_default();
                match approving_release(releases, hex.as_deref(), d.at) {
                    Ok(()) => return None,
                    Err(why) => why,
                }
            };
            let artefact = d.artefact.as_deref().unwrap_or("an artefact it does not name");
            Some(Finding {
                condition: id.to_owned(),
                release: None,
                service: Some(d.service.clone()),
                subject: format!("deployment/{}/{}/{}", d.service, artefact, d.at.timestamp()),
                detail: format!(
                    "{} deployed {artefact} to production at {} with no approved release record: {why}",
                    d.service,
                    when(d.at)
                ),
                occurred: d.at.min(now),
            })
        })
        .collect()
}

/// `Ok` when one of the service's releases approves deploying the digest at `at`; otherwise
/// why none does.
fn approving_release(releases: &[&Release], hex: Option<&str>, at: Timestamp) -> Result<(), String> {
    let Some(hex) = hex else { return Err("the event names no artefact digest".into()) };
    let with_digest: Vec<&&Release> = releases
        .iter()
        .filter(|r| r.artefacts.values().any(|a| a.digest.hex() == hex || a.previous.iter().any(|p| p.hex() == hex)))
        .collect();
    if with_digest.is_empty() {
        return Err("no release of this service has that artefact".into());
    }
    let mut why = Vec::new();
    for r in with_digest {
        let decision = r.decisions.iter().rev().find(|g| g.at <= at);
        let ended = r
            .withdrawn
            .as_ref()
            .map(|w| w.at)
            .into_iter()
            .chain(r.advanced.iter().filter(|a| a.value.1 == crate::lifecycle::Phase::Closed).map(|a| a.at))
            .min();
        match decision {
            _ if ended.is_some_and(|e| e <= at) => {
                why.push(format!("{} was closed or withdrawn at {}", r.id, when(ended.expect("some"))))
            }
            Some(g) if g.value.go => return Ok(()),
            Some(g) => why.push(format!("{} had a no-go decision at {}", r.id, when(g.at))),
            None => why.push(format!("{} had no go decision by then", r.id)),
        }
    }
    Err(why.join("; "))
}

/// When imported deployments start to be held to the procedure.
pub fn enforcement_start(state: &State, policy: &Policy) -> Option<Timestamp> {
    match policy.nonconformance.enforced_from {
        Some(day) => Some(day.and_hms_opt(0, 0, 0)?.and_utc()),
        None => state.profiles.first().map(|a| a.at),
    }
}

/// The SHA-256 digest an artefact reference carries (`pkg:oci/app@sha256%3Aab…`, `app@sha256:ab…`).
pub fn sha256_in(reference: &str) -> Option<String> {
    let lower = reference.to_ascii_lowercase();
    ["sha256:", "sha256%3a"].iter().find_map(|marker| {
        let start = lower.find(marker)? + marker.len();
        let hex = lower.get(start..start + 64)?;
        hex.bytes().all(|b| b.is_ascii_hexdigit()).then(|| hex.to_owned())
    })
}

/// The people whose own acts a non-conformance records: the deploying engineer (and whoever
/// overrode a criterion) of a deployment found non-conforming, the engineer of a rollback over
/// its target, the creator of an emergency release. None of them may close it.
pub fn answerable(state: &State, nc: &crate::state::Nonconformance) -> std::collections::BTreeSet<String> {
    let mut named = std::collections::BTreeSet::new();
    let Some(release) = nc.release.and_then(|id| state.releases.get(&id)) else { return named };
    let policy = state.policy_of(release);
    let Some(condition) = policy.nonconformance.conditions.get(&nc.condition) else { return named };
    match &condition.detect {
        Detect::DeploymentWithoutApproval
        | Detect::TestPhaseSkipped
        | Detect::ArtefactNotFromTaggedCommit
        | Detect::DocumentationAbsent(_) => {
            named.extend(release.deployments.iter().filter(|d| d.production).map(|d| d.started.by.clone()));
            named.extend(release.overrides.values().map(|o| o.by.clone()));
        }
        // Whoever classified the release, and whoever deployed it under that type.
        Detect::Misclassified => {
            named.insert(release.created.by.clone());
            named.extend(release.deployments.iter().filter(|d| d.production).map(|d| d.started.by.clone()));
        }
        Detect::RollbackOverTarget => named.extend(release.rollbacks.iter().map(|r| r.started.by.clone())),
        Detect::EmergencyFrequency { .. } | Detect::DeferredOverdue => {
            named.insert(release.created.by.clone());
        }
        Detect::Reported => {}
    }
    named
}
