//! Tollgate's own lifecycle records as KPI facts: every deployment of a release with its
//! rollback, type, stabilisation window and emergency flag; approval cycles; and each release
//! as it stood at its production deployment (documentation, IaC drift). They join the imported
//! facts in `tollgate metrics`; their ids cannot collide with the KPI store's row ids.

use tollgate_domain::evidence::Report;
use tollgate_domain::lifecycle::Track;
use tollgate_domain::release::Release;
use tollgate_domain::{State, approval, judge};
use tollgate_metrics::history::{ApprovalCycle, Deployment, History, Incident, ReleaseAtGate, Rollback, Severity};

/// Own deployment ids start here; the KPI store's row ids stay far below.
const OWN_IDS: u64 = 1 << 60;

pub fn history(state: &State, environment: &str, service: Option<&str>) -> History {
    let mut h = History::default();
    for r in state.releases.values().filter(|r| service.is_none_or(|s| s == r.service)) {
        let policy = state.policy_of(r);
        // Business-day windows have no fixed length; they are left to the KPI's default.
        let stabilisation = policy.release_types.get(&r.release_type).and_then(|t| match t.stabilisation {
            tollgate_domain::Span::Fixed(d) => Some(d.num_seconds()),
            tollgate_domain::Span::BusinessDays(_) => None,
        });
        let artefact = r.artefacts.values().next().map(|a| a.digest.to_string());
        for (i, d) in r.deployments.iter().enumerate().filter(|(_, d)| d.environment == environment) {
            let Some((finished, success)) = d.finished else { continue };
            let next_start = r.deployments.get(i + 1).map(|n| n.started.at);
            let rollback = r
                .rollbacks
                .iter()
                .find(|b| b.started.at >= d.started.at && next_start.is_none_or(|n| b.started.at < n))
                .map(|b| Rollback { decided: b.started.at.timestamp(), completed: b.completed.map(|c| c.timestamp()) });
            h.deployments.push(Deployment {
                id: OWN_IDS + u64::from(r.id.0) * 1_000 + i as u64,
                service: r.service.as_str().into(),
                environment: d.environment.as_str().into(),
                artefact: artefact.clone(),
                // Tollgate records when a person started and finished a deployment, not when a
                // pipeline was triggered nor when the environment was confirmed healthy: its
                // own deployments are missing source for the time to deploy (4.2's source is
                // "CI/CD platform timestamps"), which imported pipeline runs supply.
                pipeline_started: None,
                finished: finished.timestamp(),
                success,
                release: Some(r.id.to_string()),
                release_type: Some(r.release_type.clone()),
                emergency: r.track == Track::Emergency,
                fixes_incident: r.incident.clone(),
                change_lead_times: Default::default(),
                rollback,
                stabilisation,
            });
        }
        // The incident records Tollgate raised on a completed rollback (4.5), each caused by
        // the deployment it is linked to: detected at the rollback's decision, resolved when the
        // previous version was confirmed stable.
        for record in &r.incidents_raised {
            let i = record.value.deployment as usize;
            let Some(d) = r.deployments.get(i).filter(|d| d.environment == environment) else { continue };
            let Some(severity) = Severity::from_key(&record.value.severity) else { continue };
            h.incidents.push(Incident {
                id: record.value.reference.clone(),
                service: Some(r.service.clone()),
                environment: Some(d.environment.clone()),
                severity,
                detected: record.value.detected.timestamp(),
                resolved: Some(record.at.timestamp()),
                caused_by: Some(OWN_IDS + u64::from(r.id.0) * 1_000 + i as u64),
            });
        }
        if let Some(cycle) = approval_cycle(state, r) {
            h.approvals.push(cycle);
        }
        if let Some(at_gate) = at_gate(state, r) {
            h.releases.push(at_gate);
        }
    }
    h.deployments.sort_by_key(|d| d.finished);
    h.incidents.sort_by_key(|i| i.detected);
    h.approvals.sort_by_key(|a| a.placed());
    h.releases.sort_by_key(|r| r.gate_at);
    h
}

/// From the release package's submission to the approval that completed a route. A release
/// neither submitted nor approved has no cycle yet; one approved with no submission on record
/// has no start (`requested: None`), and is reported as such, never timed from its creation.
fn approval_cycle(state: &State, r: &Release) -> Option<ApprovalCycle> {
    let policy = state.policy_of(r);
    let granted = approval::status(state, r, policy).met.then(|| r.approvals.values().map(|a| a.at).max()).flatten();
    let requested = r.submitted.as_ref().map(|s| s.at.timestamp());
    if requested.is_none() && granted.is_none() {
        return None;
    }
    Some(ApprovalCycle {
        release: r.id.to_string(),
        service: r.service.clone(),
        emergency: r.track == Track::Emergency,
        requested,
        opened: r.created.at.timestamp(),
        granted: granted.map(|t| t.timestamp()),
    })
}

/// The release at its first production deployment: were the documents there, and how much
/// critical drift did its current IaC evidence show?
fn at_gate(state: &State, r: &Release) -> Option<ReleaseAtGate> {
    let gate_at = r.first_production_deployment()?;
    let policy = state.policy_of(r);
    let documentation_complete =
        policy.documents.iter().all(|d| r.documents.get(&d.kind).is_some_and(|doc| doc.at <= gate_at));
    let plans: Vec<_> = r
        .evidence
        .iter()
        .filter(|e| e.at <= gate_at && r.is_current(&e.value.artefact))
        .filter_map(|e| match &e.value.report {
            Report::Plan(p) => Some(p),
            _ => None,
        })
        .collect();
    let critical_drift = (!plans.is_empty()).then(|| {
        let open = |address: &str| r.acceptances.get(address).is_none_or(|a| a.value.until <= gate_at);
        plans
            .iter()
            .flat_map(|p| p.drift.iter())
            .filter(|d| judge::critical_drift(policy, d) && open(&d.address))
            .count() as u32
    });
    Some(ReleaseAtGate {
        release: r.id.to_string(),
        service: r.service.clone(),
        gate_at: gate_at.timestamp(),
        documentation_complete,
        critical_drift,
    })
}
