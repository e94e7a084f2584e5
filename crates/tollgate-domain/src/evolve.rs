//! Applying facts to state. No business logic here: every rule was checked by `decide` before
//! the fact was recorded, and replaying the log must rebuild the same state whatever today's
//! rules say. A fact that cannot apply (a release that does not exist) means the log is not one
//! Tollgate wrote, and is reported rather than ignored.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::event::{Event, Fact};
use crate::release::{
    Approval, Artefact, Defect, Deployment, Document, GoDecision, IncidentRecord, Override, Regoverned, Release,
    Rollback, Stamped, TestResult,
};
use crate::rollout::progress::{Rollout, RolloutFact, Stage};
use crate::state::{Adopted, Blackout, Nonconformance, PendingGrant, Person, Risk, Sandbox, State, Token};

/// A fact that does not fit the state it is applied to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inapplicable(pub String);

pub fn evolve(state: &mut State, fact: &Fact) -> Result<(), Inapplicable> {
    let at = fact.at;
    let by = fact.actor.clone();
    let stamp = |value| Stamped { value, by: by.clone(), at };
    let first = state.last_at.is_none();
    state.last_at = Some(state.last_at.map_or(at, |last| last.max(at)));
    match &fact.event {
        // A store is a sandbox from its first fact or never: one opened later would recast
        // real records as a rehearsal's.
        Event::SandboxOpened if first => state.sandbox = Some(Sandbox::default()),
        Event::SandboxOpened => return Err(Inapplicable("a sandbox is opened by a store's first fact only".into())),
        Event::SandboxClockAdvanced { offset, .. } => match state.sandbox.as_mut() {
            Some(sandbox) => sandbox.offset = *offset,
            None => return Err(Inapplicable("the clock of a real store cannot be advanced".into())),
        },
        Event::ProfileAdopted(profile) => {
            state.profiles.push(Adopted { profile: profile.clone(), by: by.clone(), at });
            state.proposed_profile = None;
        }
        Event::ProfileProposed { profile, loosens } => {
            state.proposed_profile = Some(crate::state::ProposedProfile {
                profile: profile.clone(),
                loosens: loosens.clone(),
                by: by.clone(),
                at,
                approvals: Vec::new(),
            });
        }
        Event::ProfileReviewed { approve, .. } => {
            let roles = state.people.get(&by).map(|p| p.roles.clone()).unwrap_or_default();
            if *approve {
                if let Some(p) = state.proposed_profile.as_mut() {
                    p.approvals.push((by.clone(), roles));
                }
            } else {
                state.proposed_profile = None;
            }
        }
        Event::PersonAdded { name, roles } => {
            state.people.insert(name.clone(), Arc::new(Person { name: name.clone(), roles: roles.clone() }));
        }
        Event::RolesGranted { name, roles } => {
            let person = Arc::make_mut(state.people.get_mut(name).ok_or_else(|| unknown("person", name))?);
            person.roles.extend(roles.iter().cloned());
            state.pending_grants.retain(|(n, r), _| n != name || !roles.contains(r));
        }
        Event::RolesRevoked { name, roles } => {
            let person = Arc::make_mut(state.people.get_mut(name).ok_or_else(|| unknown("person", name))?);
            person.roles.retain(|r| !roles.contains(r));
            state.pending_grants.retain(|(n, r), _| n != name || !roles.contains(r));
        }
        Event::GrantProposed { name, roles } => {
            state.people.get(name).ok_or_else(|| unknown("person", name))?;
            for role in roles {
                state.pending_grants.insert((name.clone(), role.clone()), PendingGrant { by: by.clone(), at });
            }
        }
        Event::TokenCreated { id, person, sha256, expires } => {
            state.tokens.insert(
                id.clone(),
                Arc::new(Token {
                    id: id.clone(),
                    person: person.clone(),
                    sha256: sha256.clone(),
                    created_at: at,
                    created_by: by.clone(),
                    expires: *expires,
                    revoked: None,
                    last_used: None,
                }),
            );
        }
        Event::TokenRevoked { id, .. } => {
            let token = Arc::make_mut(state.tokens.get_mut(id).ok_or_else(|| unknown("token", id))?);
            token.revoked = Some((at, by.clone()));
        }
        Event::TokenUsed { id } => {
            let token = Arc::make_mut(state.tokens.get_mut(id).ok_or_else(|| unknown("token", id))?);
            token.last_used = Some(at);
        }
        Event::BlackoutAdded { id, from, to, reason, service } => state.blackouts.push_back(Arc::new(Blackout {
            id: *id,
            from: *from,
            to: *to,
            reason: reason.clone(),
            service: service.clone(),
        })),
        Event::RiskAdded { id, category, risk, mitigation, owner } => state.risks.push_back(Arc::new(Risk {
            id: *id,
            category: category.clone(),
            risk: risk.clone(),
            mitigation: mitigation.clone(),
            owner: owner.clone(),
        })),
        Event::ReleaseCreated(c) => {
            let profile = state
                .profiles
                .iter()
                .rposition(|a| a.profile.hash == c.profile_hash)
                .ok_or_else(|| unknown("profile", &c.profile_hash))?;
            let policy = &state.profiles[profile].profile.policy;
            let track = policy
                .release_types
                .get(&c.release_type)
                .ok_or_else(|| unknown("release type", &c.release_type))?
                .track;
            let board = whole_board(state, policy);
            state.releases.insert(
                c.release,
                Arc::new(Release {
                    id: c.release,
                    service: c.service.clone(),
                    version: c.version.clone(),
                    release_type: c.release_type.clone(),
                    track,
                    title: c.title.clone(),
                    window: c.window,
                    window_set_at: at,
                    touches: c.touches.clone(),
                    incident: c.incident.clone(),
                    profile,
                    created: stamp(()),
                    phase: track.first(),
                    scope: Vec::new(),
                    removed_scope: Vec::new(),
                    scope_locked: None,
                    plan: BTreeMap::new(),
                    documents: BTreeMap::new(),
                    tests: BTreeMap::new(),
                    skipped_tests: BTreeMap::new(),
                    defects: BTreeMap::new(),
                    defect_counts: Default::default(),
                    confirmations: BTreeMap::new(),
                    submitted: None,
                    approvals: BTreeMap::new(),
                    board,
                    overrides: BTreeMap::new(),
                    decisions: Vec::new(),
                    deployments: Vec::new(),
                    rollbacks: Vec::new(),
                    incidents_raised: Vec::new(),
                    rollouts: Vec::new(),
                    advanced: Vec::new(),
                    withdrawn: None,
                    regoverned: Vec::new(),
                    source: None,
                    artefacts: Default::default(),
                    evidence: Vec::new(),
                    acceptances: Default::default(),
                }),
            );
        }
        Event::NcRaised(nc) => state.ncs.push_back(Arc::new(Nonconformance {
            id: nc.id,
            condition: nc.condition.clone(),
            release: nc.release,
            service: nc.service.clone(),
            subject: nc.subject.clone(),
            detail: nc.detail.clone(),
            raised_at: at,
            raised_by: by.clone(),
            occurred: nc.occurred,
            due: nc.due,
            repeat: nc.repeat,
            closed: None,
        })),
        // Imported facts live in the KPI store; the log keeps the anchor only.
        Event::EventsImported(_) => {}
        Event::NcClosed { id, corrective_action } => {
            let nc = state
                .ncs
                .iter_mut()
                .find(|n| n.id == *id)
                .ok_or_else(|| unknown("non-conformance", &id.to_string()))?;
            let nc = Arc::make_mut(nc);
            nc.closed = Some((at, by.clone(), corrective_action.clone()));
        }
        Event::ReleaseRegoverned { release, from, to, to_hash, reason, loosens } => {
            let index = state
                .profiles
                .iter()
                .rposition(|a| a.profile.hash == *to_hash)
                .ok_or_else(|| unknown("profile", to_hash))?;
            // A whole-board requirement the new version adds counts the holders of now.
            let policy = &state.profiles[index].profile.policy;
            let board = whole_board(state, policy);
            let r = state.releases.get_mut(release).ok_or_else(|| unknown("release", &release.to_string()))?;
            let r = Arc::make_mut(r);
            for (role, holders) in board {
                r.board.entry(role).or_insert(holders);
            }
            let superseded_approvals =
                if loosens.is_empty() { BTreeMap::new() } else { std::mem::take(&mut r.approvals) };
            let moved = Regoverned {
                from: r.profile,
                to: index,
                from_version: from.clone(),
                to_version: to.clone(),
                reason: reason.clone(),
                loosens: loosens.clone(),
                decisions_before: r.decisions.len(),
                superseded_approvals,
            };
            r.profile = index;
            r.regoverned.push(Stamped { value: moved, by: by.clone(), at });
        }
        event => {
            let id = event.release().expect("every remaining event belongs to a release");
            let release = state.releases.get(&id).ok_or_else(|| unknown("release", &id.to_string()))?;
            let production = state.policy_of(release).production().map(str::to_owned);
            let release = Arc::make_mut(state.releases.get_mut(&id).expect("looked up above"));
            apply_to_release(release, event, stamp(()), production.as_deref());
        }
    }
    Ok(())
}

/// Who holds each role a whole-board approval requirement of `policy` names, now.
fn whole_board(state: &State, policy: &crate::policy::Policy) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    policy
        .release_types
        .values()
        .flat_map(|t| t.approvals.iter().flat_map(|r| &r.requires))
        .chain(&policy.additional_approvals)
        .filter(|req| req.count == crate::policy::Count::All)
        .map(|req| (req.role.clone(), state.holders(&req.role).map(str::to_owned).collect()))
        .collect()
}

fn apply_to_release(r: &mut Release, event: &Event, s: Stamped<()>, production: Option<&str>) {
    match event {
        Event::Rescheduled { window, .. } => {
            r.window = *window;
            r.window_set_at = s.at;
        }
        Event::ScopeAdded { item, .. } => {
            match r.scope.iter_mut().find(|x| x.value.kind == item.kind && x.value.reference == item.reference) {
                Some(existing) => *existing = s.with(item.clone()),
                None => r.scope.push(s.with(item.clone())),
            }
        }
        Event::Withdrawn { reason, .. } => {
            r.withdrawn = Some(s.with(reason.clone()));
            r.phase = crate::lifecycle::Phase::Closed;
        }
        Event::ScopeLocked { .. } => r.scope_locked = Some(s.clone()),
        Event::ScopeRemoved { kind, reference, because, .. } => {
            if let Some(i) = r.scope.iter().position(|x| x.value.kind == *kind && x.value.reference == *reference) {
                let item = r.scope.remove(i).value;
                r.removed_scope.push(s.with((item, because.clone())));
            }
        }
        Event::Submitted { .. } => r.submitted = Some(s.clone()),
        Event::PlanRecorded { field, text, .. } => {
            r.plan.insert(*field, s.with(text.clone()));
        }
        Event::DocumentAttached { kind, name, sha256, bytes, .. } => {
            let doc = Document { name: name.clone(), sha256: sha256.clone(), bytes: *bytes };
            r.documents.insert(kind.clone(), s.with(doc));
        }
        Event::TestResultRecorded { phase, passed, reference, .. } => {
            let result = TestResult { passed: *passed, reference: reference.clone() };
            r.tests.insert(phase.clone(), s.with(result));
        }
        Event::TestPhaseSkipped { phase, justification, .. } => {
            r.skipped_tests.insert(phase.clone(), s.with(justification.clone()));
        }
        Event::DefectRecorded { reference, severity, title, .. } => {
            let defect = Defect { severity: *severity, title: title.clone(), recorded: s.clone(), triage: None };
            r.defects.insert(reference.clone(), defect);
            r.defect_counts.recorded[*severity as usize] += 1;
            r.defect_counts.open[*severity as usize] += 1;
        }
        Event::DefectTriaged { reference, outcome, comment, .. } => {
            if let Some(defect) = r.defects.get_mut(reference)
                && defect.triage.is_none()
            {
                defect.triage = Some(s.with((*outcome, comment.clone())));
                r.defect_counts.open[defect.severity as usize] -= 1;
            }
        }
        Event::Confirmed { confirmation, comment, .. } => {
            r.confirmations.insert(confirmation.clone(), s.with(comment.clone()));
        }
        Event::ApprovalRecorded { role, approve, comment, .. } => {
            let approval = Approval { role: role.clone(), approve: *approve, comment: comment.clone(), at: s.at };
            r.approvals.insert(s.by.clone(), approval);
        }
        Event::Overridden { criterion, justification, unmet, .. } => {
            let o = Override { justification: justification.clone(), unmet: unmet.clone() };
            r.overrides.insert(criterion.clone(), s.with(o));
        }
        Event::GoDecided { go, reason, .. } => r.decisions.push(s.with(GoDecision { go: *go, reason: reason.clone() })),
        Event::PhaseAdvanced { from, to, .. } => {
            r.phase = *to;
            r.advanced.push(s.with((*from, *to)));
        }
        Event::DeploymentStarted { environment, .. } => r.deployments.push(Deployment {
            environment: environment.clone(),
            production: Some(environment.as_str()) == production,
            started: s.clone(),
            finished: None,
        }),
        Event::DeploymentFinished { success, .. } => {
            if let Some(d) = r.deployments.last_mut() {
                d.finished = Some((s.at, *success));
            }
        }
        Event::RolloutStarted { environment, plan, artefact, previous, .. } => r.rollouts.push(Rollout {
            plan: Arc::clone(plan),
            environment: environment.clone(),
            artefact: artefact.clone(),
            previous: previous.clone(),
            started: s.clone(),
            stages: Vec::new(),
            measurements: Vec::new(),
            smoke: Vec::new(),
            paused: None,
            completed: None,
            restored: None,
            incidents: Vec::new(),
            one_way_approved: Vec::new(),
            rolled_forward: None,
        }),
        Event::Rollout { fact, .. } => {
            if let Some(rollout) = r.rollouts.last_mut() {
                apply_rollout(rollout, fact, &s);
            }
        }
        Event::RollbackStarted { reason, .. } => {
            r.rollbacks.push(Rollback { reason: reason.clone(), started: s.clone(), completed: None });
        }
        Event::IncidentRaised { reference, severity, summary, deployment, detected, .. } => {
            let record = IncidentRecord {
                reference: reference.clone(),
                severity: severity.clone(),
                summary: summary.clone(),
                deployment: *deployment,
                detected: *detected,
            };
            r.incidents_raised.push(s.with(record));
        }
        Event::RollbackCompleted { .. } => {
            if let Some(rb) = r.rollbacks.last_mut() {
                rb.completed = Some(s.at);
            }
            // The lifecycle's rollback transition (4.7): back to deployment, where the next
            // attempt needs a review and a new go decision.
            r.phase = crate::lifecycle::Phase::Deployment;
        }
        Event::SourceRecorded { source, .. } => r.source = Some(s.with(source.clone())),
        Event::ArtefactRecorded { name, digest, verifications, .. } => {
            let checks = verifications.iter().map(|v| s.with(v.clone()));
            match r.artefacts.get_mut(name) {
                Some(a) if a.digest == *digest => a.verifications.extend(checks),
                Some(a) => {
                    // A rebuild: the old digest's checks and evidence no longer speak for it.
                    let old = std::mem::replace(&mut a.digest, digest.clone());
                    a.previous.push(old);
                    a.since = s.at;
                    a.verifications = checks.collect();
                }
                None => {
                    let artefact = Artefact {
                        digest: digest.clone(),
                        since: s.at,
                        previous: Vec::new(),
                        verifications: checks.collect(),
                    };
                    r.artefacts.insert(name.clone(), artefact);
                }
            }
        }
        Event::EvidenceRecorded { evidence, .. } => r.evidence.push(s.with(evidence.as_ref().clone())),
        Event::FindingTriaged { finding, acceptance, .. } => {
            r.acceptances.insert(finding.clone(), s.with(acceptance.clone()));
        }
        _ => {}
    }
}

fn unknown(what: &str, id: &str) -> Inapplicable {
    Inapplicable(format!("the log refers to {what} `{id}`, which it never created"))
}

/// A step of a rollout; `decide` checked it against the rollout as it stood.
fn apply_rollout(rollout: &mut Rollout, fact: &RolloutFact, s: &Stamped<()>) {
    match fact {
        RolloutFact::Shifted { stage, weight } => {
            rollout.stages.push(Stage { index: *stage, weight: *weight, shifted: s.at, since: s.at, passed: None })
        }
        RolloutFact::Measured(m) => rollout.measurements.push(m.clone()),
        RolloutFact::SmokeChecked(check) => rollout.smoke.push(check.clone()),
        RolloutFact::StagePassed { .. } => {
            if let Some(stage) = rollout.stages.last_mut() {
                stage.passed = Some(s.at);
            }
        }
        RolloutFact::Paused { reason } => rollout.paused = Some(s.with(reason.clone())),
        RolloutFact::Resumed => {
            rollout.paused = None;
            if let Some(stage) = rollout.stages.last_mut() {
                stage.since = s.at;
            }
        }
        RolloutFact::Completed => rollout.completed = Some(s.at),
        RolloutFact::TrafficRestored => rollout.restored = Some(s.at),
        RolloutFact::Incident { reference, severity, raised, .. } => {
            rollout.incidents.push((*raised, severity.clone(), reference.clone()));
        }
        RolloutFact::OneWayApproved { stage } => rollout.one_way_approved.push(s.with(*stage)),
        RolloutFact::RolledForward { reason } => rollout.rolled_forward = Some(s.with(reason.clone())),
    }
}
