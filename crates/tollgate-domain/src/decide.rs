//! All business logic lives here: a command, the current state and the time go in; facts to
//! record, or every reason for refusing, come out. No IO, no clock.

use std::collections::BTreeSet;

use crate::approval;
use crate::artefact;
use crate::command::{Command, NewRelease};
use crate::event::{CriterionSnapshot, Event, ReleaseCreated, Triage};
use crate::evidence::{Digest, Rating, Report, Verification};
use crate::gate::{self, when};
use crate::judge;
use crate::lifecycle::{Phase, Track};
use crate::nonconformance::{self, Finding};
use crate::policy::{Action, Anchor, Check, Opens, Policy, Severity};
use crate::rejection::{Reasons, Rejection};
use crate::release::{Acceptance, EvidenceRecord, FindingKind, Release, ReleaseId, ScopeItem, Source, Window};
use crate::state::State;
use crate::time::Timestamp;

mod document_control;
pub use document_control::missing_approvals;
mod people;
use people::valid_name;
mod rollout;
pub use rollout::{describe as describe_next, previous_artefact};
mod sandbox;
mod tokens;
pub use tokens::valid_token_id;

pub fn decide(state: &State, actor: &str, now: Timestamp, command: &Command) -> Result<Vec<Event>, Rejection> {
    if let Some(last) = state.last_at.filter(|last| now < *last) {
        return Err(Rejection::invalid(format!(
            "the time given ({}) is earlier than the latest record ({}); the log never runs backwards",
            when(now),
            when(last)
        )));
    }
    let ctx = Ctx { state, actor, now };
    match command {
        Command::Init { profile, roles, sandbox } => ctx.init(profile, roles, *sandbox),
        Command::AdvanceClock { by } => ctx.advance_clock(*by),
        Command::AdoptProfile { profile, loosens } => ctx.propose_profile(profile, loosens),
        Command::ReviewProfile { id, version, approve, comment } => ctx.review_profile(id, version, *approve, comment),
        Command::AddPerson { name, roles } => ctx.add_person(name, roles),
        Command::GrantRoles { name, roles } => ctx.change_roles(name, roles, true),
        Command::RevokeRoles { name, roles } => ctx.change_roles(name, roles, false),
        Command::CreateToken { id, person, sha256, expires } => ctx.create_token(id, person, sha256, *expires),
        Command::RevokeToken { id, reason } => ctx.revoke_token(id, reason.as_deref()),
        Command::RecordTokenUse { id } => ctx.record_token_use(id),
        Command::AddBlackout { from, to, reason, service } => ctx.add_blackout(*from, *to, reason, service),
        Command::AddRisk { category, risk, mitigation, owner } => ctx.add_risk(category, risk, mitigation, owner),
        Command::CreateRelease(new) => ctx.create_release(new),
        Command::CloseNc { id, corrective_action } => ctx.close_nc(*id, corrective_action),
        Command::RaiseNc { condition, release, service, detail } => ctx.raise_nc(condition, *release, service, detail),
        Command::Tick => ctx.tick(),
        Command::RecordImport { record, deployments } => {
            let policy = ctx.policy()?;
            ctx.known_actor()?;
            ctx.authorised(policy, Action::ImportEvents)?;
            let findings = nonconformance::unapproved_deployments(state, policy, deployments, now);
            let mut events = vec![Event::EventsImported(record.clone())];
            events.extend(nonconformance::raise(state, policy, findings, now));
            Ok(events)
        }
        release_command => ctx.on_release(release_command),
    }
}

struct Ctx<'a> {
    state: &'a State,
    actor: &'a str,
    now: Timestamp,
}

fn blank(text: &str) -> bool {
    text.trim().is_empty()
}

impl<'a> Ctx<'a> {
    fn policy(&self) -> Result<&'a Policy, Rejection> {
        self.state
            .policy()
            .ok_or_else(|| Rejection::invalid("this store has no procedure profile; run `tollgate init` first"))
    }

    fn known_actor(&self) -> Result<(), Rejection> {
        if self.state.people.contains_key(self.actor) {
            Ok(())
        } else {
            Err(Rejection::invalid(format!(
                "`{}` is not a known person; people are added with `tollgate person add`",
                self.actor
            )))
        }
    }

    /// The actor holds one of the roles `policy` lists for `action`.
    fn authorised(&self, policy: &Policy, action: Action) -> Result<(), Rejection> {
        let roles = policy.roles_for(action);
        if roles.iter().any(|r| self.state.holds(self.actor, r)) {
            return Ok(());
        }
        let held: Vec<&str> =
            self.state.people.get(self.actor).map(|p| p.roles.iter().map(String::as_str).collect()).unwrap_or_default();
        Err(Rejection::refused(
            "role",
            format!(
                "{} needs one of the roles {}; {} holds {}",
                action.key(),
                roles.join(", "),
                self.actor,
                if held.is_empty() { "none".to_owned() } else { held.join(", ") }
            ),
        ))
    }

    fn holds_any(&self, roles: &[String]) -> bool {
        roles.iter().any(|r| self.state.holds(self.actor, r))
    }

    fn known_roles(&self, policy: &Policy, roles: &BTreeSet<String>) -> Result<(), Rejection> {
        let unknown: Vec<&str> = roles.iter().filter(|r| !policy.roles.contains_key(*r)).map(String::as_str).collect();
        if roles.is_empty() {
            return Err(Rejection::invalid("give at least one --role"));
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Rejection::invalid(format!(
                "unknown role {}; expected one of {}",
                unknown.join(", "),
                policy.roles.keys().cloned().collect::<Vec<_>>().join(", ")
            )))
        }
    }

    /// Initialisation: the profile, and the register of 5.1 starting with the profile's risks.
    fn first_adoption(profile: &std::sync::Arc<crate::event::Profile>) -> Vec<Event> {
        let mut events = vec![Event::ProfileAdopted(profile.clone())];
        for (i, seed) in profile.policy.risks.iter().enumerate() {
            events.push(Event::RiskAdded {
                id: i as u32 + 1,
                category: seed.category.clone(),
                risk: seed.risk.clone(),
                mitigation: seed.mitigation.clone(),
                // 5.1: the role that maintains the register owns it.
                owner: profile.policy.roles_for(Action::ManageRisks).first().cloned().unwrap_or_default(),
            });
        }
        events
    }

    fn add_blackout(
        &self,
        from: Timestamp,
        to: Timestamp,
        reason: &str,
        service: &Option<String>,
    ) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        let mut reasons = Reasons::default();
        reasons.absorb(self.authorised(policy, Action::ManageBlackouts));
        reasons
            .invalid_if(to <= from, || format!("the blackout ends ({}) before it starts ({})", when(to), when(from)));
        reasons.invalid_if(blank(reason), || "say what the blackout protects (--reason)".into());
        reasons.finish()?;
        let id = self.state.blackouts.len() as u32 + 1;
        Ok(vec![Event::BlackoutAdded { id, from, to, reason: reason.to_owned(), service: service.clone() }])
    }

    fn add_risk(&self, category: &str, risk: &str, mitigation: &str, owner: &str) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        let mut reasons = Reasons::default();
        reasons.absorb(self.authorised(policy, Action::ManageRisks));
        for (text, what) in
            [(category, "--category"), (risk, "--risk"), (mitigation, "--mitigation"), (owner, "--owner")]
        {
            reasons.invalid_if(blank(text), || format!("{what} must not be empty"));
        }
        reasons.finish()?;
        // Numbered in the order added, so the last is the highest.
        let id = self.state.risks.last().map_or(0, |r| r.id) + 1;
        Ok(vec![Event::RiskAdded {
            id,
            category: category.to_owned(),
            risk: risk.to_owned(),
            mitigation: mitigation.to_owned(),
            owner: owner.to_owned(),
        }])
    }

    fn create_release(&self, new: &NewRelease) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        let current = self.state.current().expect("policy exists");
        let release_type = match &new.release_type {
            Some(t) => t.clone(),
            None => policy.emergency_type().map(str::to_owned).ok_or_else(|| {
                Rejection::invalid("the profile does not define exactly one release type on the emergency track")
            })?,
        };
        let Some(rt) = policy.release_types.get(&release_type) else {
            return Err(Rejection::invalid(format!(
                "unknown release type `{release_type}`; expected one of {}",
                policy.release_types.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        };
        let mut reasons = Reasons::default();
        let action = if rt.track == Track::Emergency { Action::CreateEmergency } else { Action::CreateRelease };
        reasons.absorb(self.authorised(policy, action));
        for (text, what) in [(&new.service, "--service"), (&new.version, "--version"), (&new.title, "--title")] {
            reasons.invalid_if(blank(text), || format!("{what} must not be empty"));
        }
        let unknown: Vec<&str> =
            new.touches.iter().filter(|t| !policy.touches.contains_key(*t)).map(String::as_str).collect();
        reasons.invalid_if(!unknown.is_empty(), || {
            format!(
                "unknown --touches {}; expected one of {}",
                unknown.join(", "),
                policy.touches.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        });
        let start = match (rt.track, new.window_start) {
            (_, Some(start)) => start,
            (Track::Emergency, None) => self.now,
            (Track::Standard, None) => {
                reasons.invalid_if(true, || format!("{} releases need a deployment window (--window-start)", rt.name));
                self.now
            }
        };
        reasons.invalid_if(start < self.now && rt.track == Track::Standard, || {
            format!("the deployment window starts in the past ({})", when(start))
        });
        reasons.invalid_if(new.window_end.is_some_and(|end| end <= start), || {
            "the deployment window must end after it starts".to_owned()
        });
        let duplicate = self
            .state
            .releases
            .values()
            .find(|r| r.service == new.service && r.version == new.version && r.phase != Phase::Closed);
        reasons.invalid_if(duplicate.is_some(), || {
            format!("{} {} is already release {}", new.service, new.version, duplicate.expect("checked").id)
        });
        reasons.finish()?;
        let created = ReleaseCreated {
            release: self.state.next_release_id(),
            service: new.service.clone(),
            version: new.version.clone(),
            release_type: release_type.clone(),
            title: new.title.clone(),
            window: Window { start, end: new.window_end },
            touches: new.touches.clone(),
            incident: new.incident.clone(),
            profile_version: policy.version.clone(),
            profile_hash: current.hash.clone(),
        };
        let events = vec![Event::ReleaseCreated(created)];
        Ok(events)
    }

    fn raise_nc(
        &self,
        condition: &str,
        release: Option<ReleaseId>,
        service: &Option<String>,
        detail: &str,
    ) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        let mut reasons = Reasons::default();
        reasons.absorb(self.authorised(policy, Action::RaiseNonconformance));
        reasons.invalid_if(!policy.nonconformance.conditions.contains_key(condition), || {
            format!(
                "unknown condition `{condition}`; expected one of {}",
                policy.nonconformance.conditions.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        });
        let found = release.map(|id| self.state.releases.get(&id));
        reasons.invalid_if(matches!(found, Some(None)), || format!("unknown release {}", release.expect("some")));
        reasons.invalid_if(blank(detail), || "describe what was found (--detail)".into());
        reasons.finish()?;
        let service = service.clone().or_else(|| found.flatten().map(|r| r.service.clone()));
        let n = self.state.ncs.len() + 1;
        let finding = Finding {
            condition: condition.to_owned(),
            release,
            service,
            subject: format!("reported#{n}"),
            detail: detail.to_owned(),
            occurred: self.now,
        };
        Ok(nonconformance::raise(self.state, policy, vec![finding], self.now))
    }

    fn close_nc(&self, id: u32, corrective_action: &str) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        let nc = self.state.nc(id).ok_or_else(|| Rejection::invalid(format!("unknown non-conformance NC-{id}")))?;
        let mut reasons = Reasons::default();
        reasons.absorb(self.authorised(policy, Action::CloseNonconformance));
        // The corrective action is judged by someone other than those whose acts the
        // non-conformance records.
        let named = nonconformance::answerable(self.state, nc);
        reasons.refuse_if(named.contains(self.actor), "separation-of-duties", || {
            format!(
                "{} is named by NC-{id} ({}) and cannot close it; another holder of {} must",
                self.actor,
                nc.detail,
                policy.roles_for(Action::CloseNonconformance).join(" or ")
            )
        });
        reasons.invalid_if(nc.closed.is_some(), || format!("NC-{id} is already closed"));
        reasons.invalid_if(blank(corrective_action), || "document the corrective action (--corrective-action)".into());
        reasons.finish()?;
        Ok(vec![Event::NcClosed { id, corrective_action: corrective_action.to_owned() }])
    }

    fn tick(&self) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        Ok(nonconformance::raise(self.state, policy, nonconformance::at_tick(self.state, self.now), self.now))
    }

    fn on_release(&self, command: &Command) -> Result<Vec<Event>, Rejection> {
        self.policy()?;
        self.known_actor()?;
        let id = release_of(command);
        let release =
            self.state.releases.get(&id).ok_or_else(|| Rejection::invalid(format!("unknown release {id}")))?;
        let policy = self.state.policy_of(release);
        if release.phase == Phase::Closed {
            return Err(Rejection::refused("phase", format!("{id} is closed; its record can no longer change")));
        }
        let on = OnRelease { ctx: self, release, policy };
        on.decide(command)
    }
}

fn release_of(command: &Command) -> ReleaseId {
    use Command::*;
    match command {
        Reschedule { release, .. }
        | AddScope { release, .. }
        | LockScope { release }
        | RecordPlan { release, .. }
        | AttachDocument { release, .. }
        | RecordTestResult { release, .. }
        | SkipTestPhase { release, .. }
        | RecordDefect { release, .. }
        | TriageDefect { release, .. }
        | Confirm { release, .. }
        | Submit { release }
        | Approve { release, .. }
        | Override { release, .. }
        | Go { release }
        | NoGo { release, .. }
        | Advance { release }
        | Close { release }
        | Deploy { release, .. }
        | DeploymentFinished { release, .. }
        | StartRollout { release, .. }
        | RecordRollout { release, .. }
        | StartRollback { release, .. }
        | CompleteRollback { release }
        | Withdraw { release, .. }
        | Regovern { release, .. }
        | RecordSource { release, .. }
        | AddArtefact { release, .. }
        | AddEvidence { release, .. }
        | TriageFinding { release, .. } => *release,
        _ => unreachable!("not a release command"),
    }
}

struct OnRelease<'a, 'c> {
    ctx: &'c Ctx<'a>,
    release: &'a Release,
    policy: &'a Policy,
}

impl<'a> OnRelease<'a, '_> {
    fn id(&self) -> ReleaseId {
        self.release.id
    }

    fn authorised(&self, action: Action) -> Result<(), Rejection> {
        self.ctx.authorised(self.policy, action)
    }

    /// Before the production deployment starts: what must be settled before it.
    /// 4.4.3 "release scope reduction": the change the defect is in leaves the release, so the
    /// defect no longer ships. Descoping without naming that change would only hide the defect.
    fn descope(&self, reasons: &mut Reasons, defect: &str, scope: Option<&str>) -> Option<Event> {
        let r = self.release;
        reasons.absorb(self.before_deployment("scope"));
        let Some(item) = scope else {
            reasons.invalid_if(true, || {
                format!("descoping {defect} removes the change it is in from the release: name it (--scope KIND:REF)")
            });
            return None;
        };
        let found = item.split_once(':').and_then(|(kind, reference)| {
            r.scope.iter().find(|s| s.value.kind == kind && s.value.reference == reference)
        });
        let Some(found) = found else {
            let listed: Vec<String> =
                r.scope.iter().map(|s| format!("{}:{}", s.value.kind, s.value.reference)).collect();
            reasons.invalid_if(true, || {
                format!(
                    "`{item}` is not in the scope of {}; expected one of: {}",
                    r.id,
                    if listed.is_empty() { "(the scope is empty)".into() } else { listed.join(", ") }
                )
            });
            return None;
        };
        Some(Event::ScopeRemoved {
            release: r.id,
            kind: found.value.kind.clone(),
            reference: found.value.reference.clone(),
            because: format!("defect {defect} descoped"),
        })
    }

    /// When the version in force is not the release's governing one and `accepts` under it,
    /// the sentence naming both and the way out, to append to a refusal; empty otherwise.
    fn in_force_would(&self, accepts: impl Fn(&Policy) -> Result<(), String>) -> String {
        let r = self.release;
        let state = self.ctx.state;
        let in_force = state.profiles.len() - 1;
        if r.profile == in_force || accepts(&state.profiles[in_force].profile.policy).is_err() {
            return String::new();
        }
        let governing = self.policy;
        let current = &state.profiles[in_force].profile.policy;
        format!(
            ". {id} is governed by {} {}; {} is in force: `tollgate release regovern {id} --reason ...`",
            governing.id,
            governing.version,
            current.version,
            id = r.id
        )
    }

    /// 6.3: an open release moves to the version in force; its gates are evaluated under it
    /// from then on. A go decision taken before no longer counts; when the new version loosens a
    /// rule, neither do the approvals given before: they are given again under the new rules.
    fn regovern(&self, reason: &str, loosens: &[String], compared: &(String, String)) -> Result<Vec<Event>, Rejection> {
        let r = self.release;
        let state = self.ctx.state;
        let from = &state.profiles[r.profile].profile;
        let to = state.current().expect("policy exists");
        let mut reasons = Reasons::default();
        reasons.absorb(self.authorised(Action::RegovernRelease));
        if r.profile == state.profiles.len() - 1 || from.hash == to.hash {
            return Err(Rejection::refused(
                "governing-version",
                format!("{} is already governed by {} {}, the version in force", r.id, to.policy.id, to.policy.version),
            ));
        }
        reasons.invalid_if(blank(reason), || "say why the release moves to the version in force (--reason)".into());
        reasons.invalid_if(compared.0 != from.hash || compared.1 != to.hash, || {
            "the release's governing version or the version in force changed while the command was prepared; run it again".into()
        });
        match to.policy.release_types.get(&r.release_type) {
            None => reasons.refuse_if(true, "release-type", || {
                format!(
                    "{} {} has no release type `{}`; {} cannot move to it",
                    to.policy.id, to.policy.version, r.release_type, r.id
                )
            }),
            Some(t) => reasons.refuse_if(t.track != r.track, "release-type", || {
                format!(
                    "{} {} puts `{}` on the {} track; {} is on the {} track and cannot move to it",
                    to.policy.id, to.policy.version, r.release_type, t.track, r.id, r.track
                )
            }),
        }
        reasons.refuse_if(r.running_deployment().is_some() || r.rollback_in_progress().is_some(), "phase", || {
            "a deployment or rollback is running; move the release when it has finished".into()
        });
        reasons.finish()?;
        Ok(vec![Event::ReleaseRegoverned {
            release: r.id,
            from: from.policy.version.clone(),
            to: to.policy.version.clone(),
            to_hash: to.hash.clone(),
            reason: reason.to_owned(),
            loosens: loosens.to_vec(),
        }])
    }

    fn before_deployment(&self, what: &str) -> Result<(), Rejection> {
        let r = self.release;
        // Deploying or live; after a failed or rolled-back attempt the release is before its
        // next deployment, and may be re-tested and re-approved.
        let deployed = r.live_since().is_some() || r.running_deployment().is_some_and(|d| d.production);
        if deployed {
            Err(Rejection::refused(
                "phase",
                format!("{what} is settled before the production deployment; {} is already deployed", r.id),
            ))
        } else {
            Ok(())
        }
    }

    /// The artefact evidence is bound to: the one named, which must be a current build, or
    /// the release's only artefact.
    fn evidence_artefact(&self, digest: Option<&Digest>) -> Result<Digest, Rejection> {
        let r = self.release;
        match digest {
            Some(d) if r.is_current(d) => Ok(d.clone()),
            Some(d) => match r.artefact_of(d) {
                Some((name, a)) => Err(Rejection::refused(
                    "artefact-rebuilt",
                    format!(
                        "{} is an earlier build of {name}, rebuilt as {}: evidence must be produced against the current build",
                        d.short(),
                        a.digest.short()
                    ),
                )),
                None => Err(Rejection::invalid(format!("{d} is not an artefact of {}", r.id))),
            },
            None => match r.artefacts.len() {
                1 => Ok(r.artefacts.values().next().map(|a| a.digest.clone()).expect("one artefact")),
                0 => Err(Rejection::invalid(format!(
                    "{} has no artefact yet: record it first (`tollgate artefact add`), evidence is bound to its digest",
                    r.id
                ))),
                _ => Err(Rejection::invalid(format!(
                    "{} has several artefacts ({}); say which with --digest",
                    r.id,
                    r.artefacts.keys().cloned().collect::<Vec<_>>().join(", ")
                ))),
            },
        }
    }

    fn decide(&self, command: &Command) -> Result<Vec<Event>, Rejection> {
        let release = self.id();
        let r = self.release;
        let policy = self.policy;
        let mut reasons = Reasons::default();
        let events = match command {
            Command::Reschedule { start, end, .. } => {
                reasons.absorb(self.authorised(Action::Reschedule));
                reasons.absorb(self.before_deployment("the deployment window"));
                reasons.invalid_if(*start < self.ctx.now, || {
                    format!("the new window starts in the past ({})", when(*start))
                });
                reasons.invalid_if(end.is_some_and(|e| e <= *start), || {
                    "the deployment window must end after it starts".into()
                });
                vec![Event::Rescheduled { release, window: Window { start: *start, end: *end } }]
            }
            Command::AddScope { kind, reference, rollback, justification, .. } => {
                reasons.absorb(self.before_deployment("scope"));
                reasons.invalid_if(blank(kind) || blank(reference), || {
                    "a scope item is KIND:REF, like ticket:PAY-42".into()
                });
                let existing = r.scope.iter().find(|s| s.value.kind == *kind && s.value.reference == *reference);
                if let Some(existing) = existing {
                    // Naming the missing rollback mechanism of an item is not a scope change.
                    let completes = existing.value.rollback.is_none() && rollback.is_some();
                    reasons.invalid_if(!completes, || {
                        format!("{kind}:{reference} is already in scope; only a missing --rollback can be added to it")
                    });
                    reasons.absorb(self.authorised(Action::EditScope));
                    let item = ScopeItem { rollback: rollback.clone(), ..existing.value.clone() };
                    reasons.finish()?;
                    return Ok(vec![Event::ScopeAdded { release, item }]);
                }
                let reassessment = if r.scope_frozen(&policy.freezes_scope) {
                    reasons.absorb(self.authorised(Action::EditScopeAfterLock));
                    reasons.refuse_if(justification.as_deref().is_none_or(blank), "scope-locked", || {
                        "scope is locked (or code is frozen): an addition needs the release manager's re-assessment with --justification".into()
                    });
                    justification.clone()
                } else {
                    reasons.absorb(self.authorised(Action::EditScope));
                    None
                };
                let item = ScopeItem {
                    kind: kind.clone(),
                    reference: reference.clone(),
                    rollback: rollback.clone(),
                    reassessment,
                };
                vec![Event::ScopeAdded { release, item }]
            }
            Command::Withdraw { reason, .. } => {
                reasons.absorb(self.authorised(Action::WithdrawRelease));
                reasons.refuse_if(r.production_deployment().is_some(), "phase", || {
                    format!("{release} reached production; it is rolled back or closed, not withdrawn")
                });
                reasons.invalid_if(blank(reason), || "say why the release is withdrawn (--reason)".into());
                vec![Event::Withdrawn { release, reason: reason.clone() }]
            }
            Command::Regovern { reason, loosens, compared, .. } => {
                return self.regovern(reason, loosens, compared);
            }
            Command::LockScope { .. } => {
                reasons.absorb(self.authorised(Action::LockScope));
                reasons.invalid_if(r.scope_locked.is_some(), || format!("the scope of {release} is already locked"));
                reasons.refuse_if(r.scope.is_empty(), "scope-recorded", || "there is no scope to lock yet".into());
                vec![Event::ScopeLocked { release }]
            }
            Command::RecordPlan { fields, .. } => {
                reasons.absorb(self.authorised(Action::Plan));
                reasons.invalid_if(fields.is_empty(), || "give --impact, --blast-radius or --rollback-strategy".into());
                for (field, text) in fields {
                    reasons.invalid_if(blank(text), || format!("the {} must not be empty", field.label()));
                }
                fields
                    .iter()
                    .map(|(field, text)| Event::PlanRecorded { release, field: *field, text: text.clone() })
                    .collect()
            }
            Command::AttachDocument { kind, name, sha256, bytes, .. } => {
                reasons.absorb(self.authorised(Action::AttachDocument));
                reasons.invalid_if(policy.document(kind).is_none(), || {
                    format!(
                        "unknown document kind `{kind}`; expected one of {}",
                        policy.documents.iter().map(|d| d.kind.as_str()).collect::<Vec<_>>().join(", ")
                    )
                });
                reasons.invalid_if(*bytes == 0, || format!("{name} is empty; an empty document is not documentation"));
                vec![Event::DocumentAttached {
                    release,
                    kind: kind.clone(),
                    name: name.clone(),
                    sha256: sha256.clone(),
                    bytes: *bytes,
                }]
            }
            Command::RecordTestResult { phase, passed, reference, .. } => {
                let def = policy.test_phase(phase).ok_or_else(|| {
                    Rejection::invalid(format!(
                        "unknown test phase `{phase}`; expected one of {}",
                        policy.test_phases.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })?;
                reasons.absorb(self.before_deployment("test evidence"));
                reasons.refuse_if(!self.ctx.holds_any(&def.recorded_by), "role", || {
                    format!(
                        "{} results are recorded by {}; {} holds none of these roles",
                        def.name,
                        def.recorded_by.join(" or "),
                        self.ctx.actor
                    )
                });
                reasons.refuse_if(!def.evidence.is_empty(), "evidence-required", || {
                    format!(
                        "{} is judged from its evidence ({}): record the files with `tollgate evidence add`",
                        def.name,
                        def.evidence.iter().map(|k| k.key()).collect::<Vec<_>>().join(", ")
                    )
                });
                reasons.refuse_if(def.written && reference.as_deref().is_none_or(blank), "written-sign-off", || {
                    format!("{} needs a written record: give --ref naming the email or ticket comment (verbal only is not acceptable)", def.name)
                });
                vec![Event::TestResultRecorded {
                    release,
                    phase: phase.clone(),
                    passed: *passed,
                    reference: reference.clone(),
                }]
            }
            Command::SkipTestPhase { phase, justification, .. } => {
                let rt = &policy.release_types[&r.release_type];
                let required = policy.required_test_phases(rt, &r.touches).iter().any(|p| p.id == *phase);
                reasons.absorb(self.authorised(Action::SkipTestPhase));
                reasons.absorb(self.before_deployment("skipping a test phase"));
                reasons.invalid_if(!required, || {
                    format!("`{phase}` is not a required test phase of {} releases", rt.name)
                });
                reasons.invalid_if(blank(justification), || "document the justification (--justification)".into());
                let def = policy.test_phase(phase);
                let passed = def.and_then(|d| judge::passed_at(policy, r, d, self.ctx.now));
                reasons.invalid_if(passed.is_some(), || format!("{phase} has already passed"));
                // A failure is fixed and re-run, or its risk accepted in writing by the override
                // authority (5.1); skipping would turn a failure into an approved gap.
                if let Some(failed) = r.tests.get(phase).filter(|t| !t.value.passed) {
                    reasons.refuse_if(true, "failed-test-phase", || {
                        format!("{phase} failed at {}: fix and re-run it, or have the override authority accept the risk in writing", when(failed.at))
                    });
                }
                let failing = def
                    .filter(|d| !r.current_evidence(&d.id).is_empty())
                    .map(|d| judge::phase(policy, r, d, self.ctx.now));
                if let Some(Err(problems)) = failing {
                    reasons.refuse_if(true, "failed-test-phase", || {
                        format!("{phase} has failing evidence ({}): fix and re-run it, or have the override authority accept the risk in writing", problems.join("; "))
                    });
                }
                vec![Event::TestPhaseSkipped { release, phase: phase.clone(), justification: justification.clone() }]
            }
            Command::RecordDefect { reference, severity, title, .. } => {
                reasons.absorb(self.authorised(Action::RecordDefect));
                reasons.invalid_if(blank(reference) || blank(title), || "a defect needs --ref and --title".into());
                reasons.invalid_if(r.defects.contains_key(reference), || {
                    format!("defect {reference} is already recorded")
                });
                vec![Event::DefectRecorded {
                    release,
                    reference: reference.clone(),
                    severity: *severity,
                    title: title.clone(),
                }]
            }
            Command::TriageDefect { reference, outcome, comment, scope, .. } => {
                let defect = r
                    .defects
                    .get(reference)
                    .ok_or_else(|| Rejection::invalid(format!("unknown defect {reference} on {release}")))?;
                let action = match outcome {
                    Triage::Resolved => Action::ResolveDefect,
                    Triage::RiskAccepted => Action::AcceptDefectRisk,
                    Triage::Descoped => Action::DescopeDefect,
                };
                reasons.absorb(self.authorised(action));
                reasons.invalid_if(defect.triage.is_some(), || format!("defect {reference} was already triaged"));
                reasons.invalid_if(blank(comment), || "say how the defect was triaged (--comment)".into());
                reasons.refuse_if(
                    *outcome == Triage::RiskAccepted && defect.severity > policy.max_accepted_risk,
                    "risk-acceptance",
                    || {
                        format!(
                            "the procedure accepts risk for defects up to {} (4.4.3); {reference} is {}: fix it or reduce the scope",
                            policy.max_accepted_risk.key(),
                            defect.severity.key()
                        )
                    },
                );
                let mut events = vec![Event::DefectTriaged {
                    release,
                    reference: reference.clone(),
                    outcome: *outcome,
                    comment: comment.clone(),
                }];
                if *outcome == Triage::Descoped {
                    events.extend(self.descope(&mut reasons, reference, scope.as_deref()));
                } else {
                    reasons.invalid_if(scope.is_some(), || {
                        format!("--scope names the item a descoped defect removes; {reference} is {}", outcome.key())
                    });
                }
                events
            }
            Command::RecordSource { repository, tag, commit, .. } => {
                reasons.absorb(self.authorised(Action::RecordArtefact));
                reasons.absorb(self.before_deployment("the release source"));
                reasons.invalid_if(blank(repository), || "name the repository (--repo)".into());
                let tag = artefact::tag_ref(tag.trim());
                reasons.invalid_if(tag == "refs/tags/" || tag.contains(char::is_whitespace), || {
                    format!("`{tag}` is not a tag; expected a tag name like v2.4.0 or refs/tags/v2.4.0")
                });
                let full_hex = matches!(commit.len(), 40 | 64) && commit.bytes().all(|b| b.is_ascii_hexdigit());
                reasons.invalid_if(!full_hex, || {
                    format!("`{commit}` is not a full commit id; expected 40 (SHA-1) or 64 (SHA-256) hex digits")
                });
                let source =
                    Source { repository: repository.trim().to_owned(), tag, commit: commit.to_ascii_lowercase() };
                vec![Event::SourceRecorded { release, source }]
            }
            Command::AddArtefact { name, digest, verifications, .. } => {
                reasons.absorb(self.authorised(Action::RecordArtefact));
                reasons.absorb(self.before_deployment("the release artefact"));
                reasons.invalid_if(!valid_name(name), || {
                    format!("`{name}` is not an artefact name; use letters, digits, `.`, `-`, `_` or `@`")
                });
                let known = r.artefacts.get(name).is_some_and(|a| a.digest == *digest);
                reasons.invalid_if(known && verifications.is_empty(), || {
                    format!(
                        "{name} {} is already recorded; give a signature, bundle or provenance to add",
                        digest.short()
                    )
                });
                if let Some((other, _)) = r.artefact_of(digest).filter(|(other, _)| *other != name.as_str()) {
                    reasons.invalid_if(true, || format!("{} is already recorded as artefact {other}", digest.short()));
                }
                for v in verifications {
                    match v {
                        Verification::Provenance { .. } => match &r.source {
                            None => reasons.refuse_if(true, "provenance", || {
                                "record the release's repository, tag and commit first (`tollgate release source`): provenance is checked against them".into()
                            }),
                            Some(source) => {
                                if let Err(why) = artefact::trusted_provenance(policy, &source.value, v) {
                                    let in_force =
                                        self.in_force_would(|p| artefact::trusted_provenance(p, &source.value, v));
                                    reasons.refuse_if(true, "provenance", || format!("{why}{in_force}"));
                                }
                            }
                        },
                        _ => {
                            if let Err(why) = artefact::trusted_signature(policy, v) {
                                let in_force = self.in_force_would(|p| artefact::trusted_signature(p, v));
                                reasons.refuse_if(true, "signature", || format!("{why}{in_force}"));
                            }
                        }
                    }
                }
                vec![Event::ArtefactRecorded {
                    release,
                    name: name.clone(),
                    digest: digest.clone(),
                    verifications: verifications.clone(),
                }]
            }
            Command::AddEvidence { phase, kind, artefact, file, file_digest, bytes, report, rerun_reason, .. } => {
                let def = policy.test_phase(phase).ok_or_else(|| {
                    Rejection::invalid(format!(
                        "unknown test phase `{phase}`; expected one of {}",
                        policy.test_phases.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })?;
                reasons.absorb(self.before_deployment("test evidence"));
                reasons.refuse_if(!self.ctx.holds_any(&def.recorded_by), "role", || {
                    format!(
                        "{} evidence is recorded by {}; {} holds none of these roles",
                        def.name,
                        def.recorded_by.join(" or "),
                        self.ctx.actor
                    )
                });
                reasons.invalid_if(!judge::kind_matches(*kind, report), || {
                    format!("the file was not read as a {}", kind.label())
                });
                reasons.invalid_if(*bytes == 0, || format!("{file} is empty"));
                // One run is evidence for one phase: the same file cannot pass two of them.
                if let Some((i, e)) = r
                    .evidence
                    .iter()
                    .enumerate()
                    .find(|(_, e)| e.value.file_digest == *file_digest && e.value.phase != *phase)
                {
                    reasons.refuse_if(true, "evidence-reused", || {
                        format!(
                            "this file ({}) is already E-{}, evidence for {}; each test phase needs its own run's report",
                            file_digest.short(),
                            i + 1,
                            e.value.phase
                        )
                    });
                }
                let against = self.evidence_artefact(artefact.as_ref())?;
                if let Report::Sbom(sbom) = report.as_ref()
                    && !sbom.describes.contains(&against)
                {
                    reasons.refuse_if(true, "sbom-subject", || {
                        let subject = sbom.subject.as_deref().unwrap_or("an unnamed component");
                        let digests = if sbom.describes.is_empty() {
                            "no SHA-256 digest".to_owned()
                        } else {
                            sbom.describes.iter().map(|d| d.short()).collect::<Vec<_>>().join(", ")
                        };
                        format!("the SBOM describes {subject} with {digests}, not the artefact {against}")
                    });
                }
                // A scan counts only for what it names: refused here so that nothing is
                // recorded, and judged again at every evaluation (`judge::scan_subject`).
                if let Report::Scan(scan) = report.as_ref()
                    && let Err(why) = judge::scan_subject(r, scan, &against)
                {
                    reasons.refuse_if(true, "scan-subject", || format!("{file}: {why}"));
                }
                // A rerun replaces the earlier report in the gate only with a recorded reason.
                // Scans are the exception: their findings accumulate per artefact whatever
                // supersedes what (several scanners and VEX statements are normal), so a reason
                // is recorded when given and never needed.
                let scan = matches!(report.as_ref(), Report::Scan(_));
                let earlier: Vec<String> = r
                    .current_evidence(phase)
                    .into_iter()
                    .filter(|(_, e)| e.value.kind == *kind && e.value.artefact == against)
                    .map(|(i, e)| format!("E-{} {} (recorded by {} at {})", i + 1, e.value.file, e.by, when(e.at)))
                    .collect();
                let rerun_reason = rerun_reason.as_deref().map(str::trim).filter(|t| !t.is_empty());
                reasons.refuse_if(!scan && !earlier.is_empty() && rerun_reason.is_none(), "rerun-reason", || {
                    format!(
                        "{phase} already has a {} against {}: {}; recording another is a rerun, which needs its reason (--rerun-reason TEXT) and then supersedes it",
                        kind.label(),
                        against.short(),
                        earlier.join(", ")
                    )
                });
                reasons.invalid_if(earlier.is_empty() && rerun_reason.is_some(), || {
                    format!(
                        "{phase} has no {} against {} to rerun; record it without --rerun-reason",
                        kind.label(),
                        against.short()
                    )
                });
                let evidence = EvidenceRecord {
                    phase: phase.clone(),
                    kind: *kind,
                    artefact: against,
                    file: file.clone(),
                    file_digest: file_digest.clone(),
                    bytes: *bytes,
                    report: report.as_ref().clone(),
                    rerun_reason: rerun_reason.map(str::to_owned),
                };
                vec![Event::EvidenceRecorded { release, evidence: Box::new(evidence) }]
            }
            Command::TriageFinding { finding, outcome, until, comment, .. } => {
                let (kind, rating) = judge::find(policy, r, finding).ok_or_else(|| {
                    Rejection::invalid(format!(
                        "no current evidence of {} names `{finding}`; expected a vulnerability id, a drifted resource address or a performance metric",
                        r.id
                    ))
                })?;
                let action = match kind {
                    FindingKind::Vulnerability => Action::TriageVulnerability,
                    FindingKind::Drift => Action::AcceptDrift,
                    FindingKind::Regression => Action::TriageRegression,
                };
                reasons.absorb(self.authorised(action));
                // Unknown severity is triaged like a High: never assumed harmless, never blocking forever.
                let severity = match rating {
                    Some(Rating::Critical) => Some(Severity::Critical),
                    Some(Rating::High | Rating::Unknown) => Some(Severity::High),
                    _ => None,
                };
                if let Some(severity) = severity.filter(|s| *s > policy.max_accepted_risk) {
                    reasons.refuse_if(true, "max-accepted-risk", || {
                        format!(
                            "`{finding}` is {}: the procedure accepts risk up to {} only; fix it, or record a VEX `not_affected` statement with its justification",
                            severity.key(),
                            policy.max_accepted_risk.key()
                        )
                    });
                }
                reasons.invalid_if(*until <= self.ctx.now, || {
                    format!("--until {} is not in the future; a triage needs an expiry", when(*until))
                });
                reasons.invalid_if(blank(comment), || "say why in --comment".into());
                let acceptance = Acceptance { kind, outcome: *outcome, until: *until, comment: comment.clone() };
                vec![Event::FindingTriaged { release, finding: finding.clone(), acceptance }]
            }
            Command::Confirm { confirmation, comment, .. } => {
                let def = policy.confirmations.get(confirmation).ok_or_else(|| {
                    Rejection::invalid(format!(
                        "unknown check `{confirmation}`; expected one of {}",
                        policy.confirmations.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })?;
                reasons.refuse_if(!self.ctx.holds_any(&def.by), "role", || {
                    format!(
                        "{confirmation} is confirmed by {}; {} holds none of these roles",
                        def.by.join(" or "),
                        self.ctx.actor
                    )
                });
                reasons.refuse_if(def.written && comment.as_deref().is_none_or(blank), "written-record", || {
                    format!("{confirmation} needs a written record: give --comment with where it is recorded")
                });
                let after_deployment = matches!(def.after, Some(Anchor::Deployment | Anchor::Stabilisation));
                reasons.refuse_if(after_deployment && r.live_since().is_none(), "phase", || {
                    format!("{confirmation} speaks of the production deployment; {release} is not live in production")
                });
                if def.after == Some(Anchor::Stabilisation)
                    && let Some(ends) = gate::stabilisation_ends(policy, r).filter(|ends| self.ctx.now < *ends)
                {
                    reasons.refuse_if(true, "stabilisation-window", || {
                        format!(
                            "{confirmation} speaks of the whole stabilisation window, which ends at {} ({} to go)",
                            when(ends),
                            crate::time::format_duration(ends - self.ctx.now)
                        )
                    });
                }
                reasons.refuse_if(def.before_window && self.ctx.now >= r.window.start, "window-opened", || {
                    format!(
                        "{confirmation} must be confirmed before the deployment window opens ({}); reschedule the window to confirm it in time",
                        when(r.window.start)
                    )
                });
                vec![Event::Confirmed { release, confirmation: confirmation.clone(), comment: comment.clone() }]
            }
            Command::Submit { .. } => self.submit(&mut reasons),
            Command::Approve { role, approve, comment, .. } => self.approve(role, *approve, comment, &mut reasons),
            Command::Override { criterion, justification, .. } => {
                reasons.absorb(self.authorised(Action::Override));
                let on_track = || policy.gates.iter().filter(|g| g.track == r.track).flat_map(|g| &g.criteria);
                let found: Vec<_> = on_track().filter(|c| c.id == *criterion).collect();
                let mut overridable: Vec<&str> = on_track().filter(|c| c.overridable).map(|c| c.id.as_str()).collect();
                overridable.dedup();
                reasons.invalid_if(found.is_empty(), || {
                    format!(
                        "no gate of the {} track has a criterion `{criterion}`; overridable criteria are {}",
                        r.track,
                        overridable.join(", ")
                    )
                });
                reasons.refuse_if(!found.is_empty() && !found.iter().all(|c| c.overridable), "not-overridable", || {
                    format!(
                        "`{criterion}` cannot be overridden: the procedure allows no risk acceptance for it (overridable: {})",
                        overridable.join(", ")
                    )
                });
                reasons.invalid_if(blank(justification), || {
                    "an override needs a written justification (--justification)".into()
                });
                // An override is a written acceptance of the risk the procedure lets be accepted;
                // it never waives a rule the procedure states as absolute, even folded into a
                // wider criterion (the test phases include the security scan's Criticals).
                for c in &found {
                    if let Some(rule) = policy.absolute_rule(&c.check) {
                        reasons.refuse_if(true, "absolute-rule", || {
                            format!(
                                "`{criterion}` checks {}, which no override may waive: absolute rule `{}` ({})",
                                c.check.name(),
                                rule.id,
                                rule.says
                            )
                        });
                    }
                }
                if found.iter().any(|c| matches!(c.check, Check::TestPhases { .. }))
                    && let Some(rule) = policy.absolute_rule(&Check::NoCriticalFindings)
                {
                    let criticals = gate::check(self.ctx.state, r, policy, &Check::NoCriticalFindings, self.ctx.now);
                    reasons.refuse_if(!criticals.met, "absolute-rule", || {
                        format!(
                            "`{criterion}` cannot be overridden while Critical findings are open ({}): absolute rule `{}` ({})",
                            criticals.reason, rule.id, rule.says
                        )
                    });
                }
                // The override covers the shortfall as it stands now, and only that.
                let shortfall = found.first().map(|c| gate::shortfall(self.ctx.state, r, c, self.ctx.now));
                let overridable_here = !found.is_empty() && found.iter().all(|c| c.overridable);
                reasons.invalid_if(overridable_here && shortfall.as_ref().is_some_and(|s| s.met), || {
                    format!(
                        "`{criterion}` is met ({}); there is no risk to accept",
                        shortfall.as_ref().expect("some").reason
                    )
                });
                let unmet = shortfall.map(|s| s.reason).unwrap_or_default();
                reasons.invalid_if(r.overrides.get(criterion).is_some_and(|o| o.value.unmet == unmet), || {
                    format!("`{criterion}` is already overridden for this shortfall")
                });
                vec![Event::Overridden {
                    release,
                    criterion: criterion.clone(),
                    justification: justification.clone(),
                    unmet,
                }]
            }
            Command::Go { .. } | Command::NoGo { .. } => {
                reasons.absorb(self.authorised(Action::GoDecision));
                reasons.refuse_if(r.phase != Phase::Deployment, "phase", || {
                    format!("the go/no-go decision is taken in the deployment phase; {release} is in {}", r.phase)
                });
                reasons.refuse_if(r.running_deployment().is_some() || r.live_since().is_some(), "phase", || {
                    format!("{release} is already deploying or deployed")
                });
                match command {
                    Command::NoGo { reason, .. } => {
                        reasons.invalid_if(blank(reason), || "say why (--reason)".into());
                        vec![Event::GoDecided { release, go: false, reason: Some(reason.clone()) }]
                    }
                    _ => vec![Event::GoDecided { release, go: true, reason: None }],
                }
            }
            Command::Advance { .. } | Command::Close { .. } => {
                let next = r.track.next(r.phase).expect("closed releases were refused above");
                reasons.refuse_if(matches!(command, Command::Close { .. }) && next != Phase::Closed, "phase", || {
                    format!("{release} is in {}; it can be closed only from its last phase", r.phase)
                });
                let gate = policy
                    .gate_for(r.track, r.phase, Opens::Advance)
                    .ok_or_else(|| Rejection::invalid(format!("the profile has no gate for the {} phase", r.phase)))?;
                reasons.refuse_if(!self.ctx.holds_any(&gate.signed_off_by), "role", || {
                    format!(
                        "the {} gate is signed off by {}; {} holds none of these roles",
                        gate.id,
                        gate.signed_off_by.join(" or "),
                        self.ctx.actor
                    )
                });
                reasons.refuse_if(
                    r.running_deployment().is_some() || r.rollback_in_progress().is_some(),
                    "phase",
                    || "a deployment or rollback is still running".into(),
                );
                let verdict = gate::evaluate(self.ctx.state, r, gate, self.ctx.now);
                for c in verdict.unmet() {
                    reasons.refuse_if(true, &format!("gate:{}/{}", gate.id, c.id), || c.reason.clone());
                }
                let criteria = verdict
                    .criteria
                    .iter()
                    .map(|c| CriterionSnapshot { id: c.id.clone(), met: c.met, reason: c.reason.clone() })
                    .collect();
                vec![Event::PhaseAdvanced { release, gate: gate.id.clone(), from: r.phase, to: next, criteria }]
            }
            Command::Deploy { environment, .. } => return self.deploy(environment),
            Command::DeploymentFinished { success, .. } => {
                if r.active_rollout().is_some() {
                    return Err(Rejection::refused(
                        "rollout",
                        format!(
                            "Tollgate's executor runs the deployment of {release} and records its end; to stop it, roll it back (`tollgate release rollback {release} --reason ...`)"
                        ),
                    ));
                }
                return self.finish_deployment(*success);
            }
            Command::StartRollout { environment, plan, artefact, .. } => {
                return self.start_rollout(environment, plan, artefact.as_ref());
            }
            Command::RecordRollout { fact, .. } => return self.record_rollout(fact),
            Command::StartRollback { reason, .. } => {
                // 4.5: the on-call or deploying engineer rolls back at once, without further
                // approval; a deployment still running ends there, as failed.
                if r.deploying_engineer() != Some(self.ctx.actor) {
                    reasons.absorb(self.authorised(Action::Rollback));
                }
                let latest = r.production_deployment();
                reasons
                    .refuse_if(latest.is_none(), "phase", || format!("{release} has not been deployed to production"));
                reasons
                    .refuse_if(r.rollback_in_progress().is_some(), "phase", || "a rollback is already running".into());
                let rolled_back =
                    latest.is_some_and(|d| r.rollbacks.last().is_some_and(|rb| rb.started.at >= d.started.at));
                reasons.refuse_if(rolled_back && r.rollback_in_progress().is_none(), "phase", || {
                    format!("the latest deployment of {release} was already rolled back")
                });
                reasons.invalid_if(blank(reason), || "name the trigger (--reason)".into());
                if let Some(one_way) = r.one_way_step_taken() {
                    reasons.refuse_if(true, "roll-forward", || {
                        format!(
                            "the rollout of {release} went past its one-way step at stage {} ({}): the previous version cannot run on what it changed, so this deployment rolls forward; release the fix (an emergency release when urgent, 4.6)",
                            one_way.stage, one_way.says
                        )
                    });
                }
                let mut events = Vec::new();
                if let Some(running) = r.running_deployment() {
                    let environment = running.environment.clone();
                    events.push(Event::DeploymentFinished { release, environment, success: false });
                }
                events.push(Event::RollbackStarted { release, reason: reason.clone() });
                events
            }
            Command::CompleteRollback { .. } => {
                reasons.absorb(self.rollout_restored());
                let running = r.rollback_in_progress();
                reasons.refuse_if(running.is_none(), "phase", || format!("{release} has no rollback running"));
                if running.is_some_and(|rb| rb.started.by != self.ctx.actor) {
                    reasons.absorb(self.authorised(Action::Rollback));
                }
                reasons.finish()?;
                let rollback = running.expect("checked");
                let seconds = (self.ctx.now - rollback.started.at).num_seconds();
                let mut events = vec![Event::RollbackCompleted { release, seconds }];
                events.extend(self.rollback_aftermath(rollback, seconds));
                let mut after = r.clone();
                after.rollbacks.last_mut().expect("running").completed = Some(self.ctx.now);
                let findings = nonconformance::rollback_over_target(self.ctx.state, &after, self.ctx.now);
                events.extend(nonconformance::raise(self.ctx.state, policy, findings, self.ctx.now));
                return Ok(events);
            }
            _ => unreachable!("routed by decide"),
        };
        reasons.finish()?;
        Ok(events)
    }

    /// What a completed rollback leaves on record, as the profile says: the incident record
    /// linked to the deployment rolled back (QMS 4.5), the defect opened on the release (GRS
    /// 4.6). Both are named after the rollback, `R-1/rollback#2`.
    fn rollback_aftermath(&self, rollback: &crate::release::Rollback, seconds: i64) -> Vec<Event> {
        let reason = &rollback.reason;
        let (release, r) = (self.id(), self.release);
        let afterwards = &self.policy.rollback.afterwards;
        let reference = format!("{release}/rollback#{}", r.rollbacks.len());
        let mut events = Vec::new();
        let deployment = r.deployments.iter().rposition(|d| d.production);
        if let (Some(severity), Some(deployment)) = (&afterwards.incident, deployment) {
            events.push(Event::IncidentRaised {
                release,
                reference: reference.clone(),
                severity: severity.clone(),
                summary: format!("rolled back ({reason}); the previous version was confirmed stable after {seconds} s"),
                deployment: deployment as u32,
                detected: rollback.started.at,
            });
        }
        if let Some(severity) = afterwards.defect {
            events.push(Event::DefectRecorded {
                release,
                reference,
                severity,
                title: format!("rolled back: {reason}"),
            });
        }
        events
    }

    /// The running deployment ended, as its deployer (or the executor for them) reports it.
    fn finish_deployment(&self, success: bool) -> Result<Vec<Event>, Rejection> {
        let (release, r, policy) = (self.id(), self.release, self.policy);
        let mut reasons = Reasons::default();
        let running = r.running_deployment();
        reasons.refuse_if(running.is_none(), "phase", || format!("{release} has no deployment running"));
        let deployer = running.is_some_and(|d| d.started.by == self.ctx.actor);
        if !deployer {
            reasons.absorb(self.authorised(Action::Deploy));
        }
        // The decider neither executes the deployment nor reports how it went.
        reasons.refuse_if(r.deciders().any(|d| d == self.ctx.actor), "separation-of-duties", || {
            format!(
                "{} took the go/no-go decision on {release} and cannot record its deployment's outcome",
                self.ctx.actor
            )
        });
        let environment = running.map(|d| d.environment.clone()).unwrap_or_default();
        let finished = Event::DeploymentFinished { release, environment, success };
        let mut events = vec![finished.clone()];
        // 4.6's frequency rule, against the release as it will stand: an emergency
        // occurs when it first goes live in production.
        if r.track == Track::Emergency && success && running.is_some_and(|d| d.production) {
            let mut next = self.ctx.state.clone();
            let fact = crate::event::Fact { at: self.ctx.now, actor: self.ctx.actor.to_owned(), event: finished };
            crate::evolve::evolve(&mut next, &fact).map_err(|e| Rejection::invalid(e.0))?;
            let findings =
                nonconformance::emergency_frequency(self.ctx.state, policy, &next.releases[&release], self.ctx.now);
            events.extend(nonconformance::raise(self.ctx.state, policy, findings, self.ctx.now));
        }
        reasons.finish()?;
        Ok(events)
    }

    /// 4.2's approval cycle starts when the release package is submitted to its approvers. Who
    /// may open a release may submit its package; it is submitted once, before the production
    /// deployment and before its approvals are complete (a submission after them would measure
    /// nothing).
    fn submit(&self, reasons: &mut Reasons) -> Vec<Event> {
        let r = self.release;
        let action = match r.track {
            Track::Emergency => Action::CreateEmergency,
            Track::Standard => Action::CreateRelease,
        };
        reasons.absorb(self.authorised(action));
        reasons.absorb(self.before_deployment("the submission for approval"));
        if let Some(s) = &r.submitted {
            reasons.invalid_if(true, || {
                format!("{} was already submitted for approval by {} at {}", r.id, s.by, when(s.at))
            });
        }
        reasons.invalid_if(r.submitted.is_none() && approval::status(self.ctx.state, r, self.policy).met, || {
            format!(
                "the required approvals of {} are already complete: the approval cycle runs from submission to the last required approval, so a submission now would measure nothing",
                r.id
            )
        });
        vec![Event::Submitted { release: r.id }]
    }

    fn approve(
        &self,
        role: &Option<String>,
        approve: bool,
        comment: &Option<String>,
        reasons: &mut Reasons,
    ) -> Vec<Event> {
        let r = self.release;
        let actor = self.ctx.actor;
        let required = approval::approver_roles(self.policy, r);
        let rt = &self.policy.release_types[&r.release_type];
        reasons.absorb(self.before_deployment("approval"));
        reasons.refuse_if(r.created.by == actor, "separation-of-duties", || {
            format!("{actor} created {} and cannot approve it", r.id)
        });
        let held: Vec<&String> = required.iter().filter(|role| self.ctx.state.holds(actor, role)).collect();
        let role = match role {
            Some(role) => {
                reasons.invalid_if(!required.contains(role), || {
                    format!(
                        "{role} is not an approver of {} releases; approvers are {}",
                        rt.name,
                        required.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                });
                reasons
                    .refuse_if(!self.ctx.state.holds(actor, role), "role", || format!("{actor} does not hold {role}"));
                role.clone()
            }
            None => match held.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    reasons.refuse_if(true, "role", || {
                        format!(
                            "{actor} holds none of the approver roles of {} releases ({})",
                            rt.name,
                            required.iter().cloned().collect::<Vec<_>>().join(", ")
                        )
                    });
                    String::new()
                }
                many => {
                    reasons.invalid_if(true, || {
                        format!(
                            "{actor} holds {}, each an approver here; say which with --role (one approval cannot satisfy two required roles)",
                            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" and ")
                        )
                    });
                    String::new()
                }
            },
        };
        if let Some(earlier) = r.approvals.get(actor).filter(|a| a.role != role && !role.is_empty()) {
            reasons.refuse_if(true, "separation-of-duties", || {
                format!("one approval cannot satisfy two required roles: {actor} already decided as {}", earlier.role)
            });
        }
        if !approve {
            reasons
                .invalid_if(comment.as_deref().is_none_or(blank), || "a rejection needs a --comment saying why".into());
        }
        vec![Event::ApprovalRecorded { release: r.id, role, approve, comment: comment.clone() }]
    }

    fn deploy(&self, environment: &str) -> Result<Vec<Event>, Rejection> {
        let r = self.release;
        let policy = self.policy;
        let actor = self.ctx.actor;
        let mut reasons = Reasons::default();
        // Named as imports name them: `Production` is the production environment.
        let Some(env) = policy.environment(environment) else {
            return Err(Rejection::invalid(format!(
                "unknown environment `{environment}`; expected one of {}",
                policy.environments.iter().map(|e| e.id.as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        reasons.absorb(self.authorised(Action::Deploy));
        // 3.4: "The separation of the go/no-go decision from deployment execution is the only
        // structural requirement that must be maintained regardless of team size."
        if let Some(go) = r.decisions.iter().rev().find(|g| g.by == actor) {
            reasons.refuse_if(true, "separation-of-duties", || {
                format!("{actor} recorded the go/no-go decision at {} and can never start the deployment, whatever roles they hold", when(go.at))
            });
        }
        // Everything else is the release's readiness, which `tollgate check` asks too.
        let ready = gate::readiness(self.ctx.state, r, env, self.ctx.now).map_err(Rejection::invalid)?;
        for c in ready.conditions.iter().filter(|c| !c.met) {
            reasons.refuse_if(true, "phase", || c.reason.clone());
        }
        if let Some((_, verdict)) = &ready.gate {
            for c in verdict.unmet() {
                reasons.refuse_if(true, &format!("gate:{}/{}", verdict.gate, c.id), || c.reason.clone());
            }
        }
        reasons.finish()?;
        let mut events = vec![Event::DeploymentStarted { release: r.id, environment: env.id.clone() }];
        if env.production {
            let findings = nonconformance::at_production_deployment(self.ctx.state, r, self.ctx.now);
            events.extend(nonconformance::raise(self.ctx.state, policy, findings, self.ctx.now));
        }
        Ok(events)
    }
}
