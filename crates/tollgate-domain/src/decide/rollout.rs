//! Rollouts Tollgate's executor runs (4.4.4, 4.5, 4.6). Starting one is a deployment, with
//! every rule of a deployment (authority, separation of duties, readiness, the pre-deployment
//! gate) and the plan's own. Each step the executor records is checked against the rollout as
//! recorded, through the same [`progress`] functions the executor asks what to do next: a
//! shift only to the stage the plan says comes next, a promotion only of a stage whose analysis
//! passed, a completion only after the last stage, a restore only during a rollback.

use std::sync::Arc;

use super::{OnRelease, blank};
use crate::event::Event;
use crate::evidence::Digest;
use crate::lifecycle::Track;
use crate::policy::Action;
use crate::rejection::{Reasons, Rejection};
use crate::release::Release;
use crate::rollout::plan::SIGNALS;
use crate::rollout::progress::{self, Next, RolloutFact, RolloutPlan};
use crate::state::State;

impl OnRelease<'_, '_> {
    pub(super) fn start_rollout(
        &self,
        environment: &str,
        plan: &Arc<RolloutPlan>,
        artefact: Option<&Digest>,
    ) -> Result<Vec<Event>, Rejection> {
        let r = self.release;
        let mut reasons = Reasons::default();
        for problem in plan.plan.problems() {
            reasons.invalid_if(true, || format!("{}: {}: {}", plan.name, problem.field, problem.message));
        }
        if let Some(minimum) = self.policy.release_types.get(&r.release_type).and_then(|t| t.rollout.as_ref()) {
            // 4.4.4: the rollout strategy of the release type; a release's plan only tightens it.
            for problem in plan.plan.loosens(minimum) {
                reasons.refuse_if(true, "rollout-plan", || {
                    format!(
                        "{}: {}: {}; a release's plan may only tighten its type's (`{}`)",
                        plan.name, problem.field, problem.message, r.release_type
                    )
                });
            }
        }
        reasons.invalid_if(plan.plan.target.is_none(), || {
            format!(
                "{}: the plan names no [target]: the executor has nowhere to set the new version's share",
                plan.name
            )
        });
        let artefact = self.rollout_artefact(&mut reasons, artefact);
        let previous = previous_artefact(self.ctx.state, r);
        if r.track == Track::Emergency {
            // 4.6: "emergency deployments go direct to 100% with immediate rollback readiness";
            // the strategy is the emergency type's minimum plan, the readiness is here.
            reasons.refuse_if(previous.is_none(), "emergency-rollout", || {
                format!(
                    "the rollback target must be confirmed before an emergency deployment starts (4.6): {} has no earlier production artefact that stabilised",
                    r.service
                )
            });
        }
        let deployed = self.deploy(environment);
        let mut events = match deployed {
            Ok(events) => events,
            Err(rejection) => {
                reasons.absorb(Err(rejection));
                Vec::new()
            }
        };
        reasons.finish()?;
        let started = Event::RolloutStarted {
            release: r.id,
            environment: environment_id(&events),
            plan: Arc::clone(plan),
            artefact: artefact.expect("checked"),
            previous,
        };
        events.insert(1, started);
        Ok(events)
    }

    /// The artefact rolled out: the one named (a recorded artefact of the release), or the
    /// release's only one.
    fn rollout_artefact(&self, reasons: &mut Reasons, named: Option<&Digest>) -> Option<Digest> {
        let r = self.release;
        let digests: Vec<&Digest> = r.artefacts.values().map(|a| &a.digest).collect();
        match named {
            Some(d) if digests.contains(&d) => Some(d.clone()),
            Some(d) => {
                reasons.invalid_if(true, || format!("{d} is not an artefact recorded for {}", r.id));
                None
            }
            None if digests.len() == 1 => Some(digests[0].clone()),
            None => {
                reasons.invalid_if(true, || {
                    format!("{} has {} artefacts: name the one to roll out (--artefact DIGEST)", r.id, digests.len())
                });
                None
            }
        }
    }

    pub(super) fn record_rollout(&self, fact: &RolloutFact) -> Result<Vec<Event>, Rejection> {
        let r = self.release;
        let now = self.ctx.now;
        let Some((rollout, next)) = progress::current(r, self.policy, now) else {
            return Err(Rejection::refused(
                "phase",
                format!("{} has no rollout running, rolling back or in its stabilisation window", r.id),
            ));
        };
        let mut reasons = Reasons::default();
        match fact {
            // Whoever may call a rollback may attribute an incident that triggers one.
            RolloutFact::Incident { .. } => reasons.absorb(self.authorised(Action::Rollback)),
            RolloutFact::OneWayApproved { .. } => reasons.absorb(self.authorised(Action::ApproveOneWayStep)),
            _ if fact == &RolloutFact::Resumed || rollout.started.by != self.ctx.actor => {
                reasons.absorb(self.authorised(Action::Deploy))
            }
            _ => {}
        }
        if let RolloutFact::OneWayApproved { .. } = fact {
            // An approval of one's own step is no approval: the one who runs the rollout asks,
            // the release manager decides (and, approving, executes nothing).
            reasons.refuse_if(rollout.started.by == self.ctx.actor, "separation-of-duties", || {
                format!("{} runs the rollout of {} and cannot approve its one-way step", self.ctx.actor, r.id)
            });
        } else {
            // 3.4: the go/no-go decider never executes the deployment, in any of its steps.
            reasons.refuse_if(r.deciders().any(|d| d == self.ctx.actor), "separation-of-duties", || {
                format!("{} took the go/no-go decision on {} and cannot run its deployment", self.ctx.actor, r.id)
            });
        }
        let triggers = &self.policy.rollback.triggers;
        let refuse = |reasons: &mut Reasons, bad: bool, why: &dyn Fn() -> String| {
            reasons.refuse_if(bad, "rollout", why);
        };
        let current = rollout.current().map(|s| s.index);
        match fact {
            RolloutFact::Shifted { stage, weight } => {
                let expected = Next::Shift { stage: *stage, weight: *weight };
                refuse(&mut reasons, next != expected, &|| {
                    format!("stage {stage} at {weight}% is not what the plan does next ({})", describe(&next))
                });
            }
            RolloutFact::Measured(m) => {
                let known =
                    SIGNALS.contains(&m.name.as_str()) || rollout.plan.plan.analysis.iter().any(|a| a.name == m.name);
                reasons.invalid_if(!known, || format!("`{}` is neither a metric of the plan nor a signal", m.name));
                reasons.invalid_if(m.stage != current, || {
                    format!("a measurement of stage {:?} while the rollout is at stage {current:?}", m.stage)
                });
                reasons.invalid_if(m.at > now, || "a measurement cannot be taken in the future".into());
            }
            RolloutFact::SmokeChecked(check) => {
                let planned = rollout.plan.plan.smoke.iter().any(|s| s.name == check.name);
                reasons.invalid_if(!planned, || format!("`{}` is not a smoke check of the plan", check.name));
                refuse(&mut reasons, Some(check.stage) != current, &|| {
                    format!("a smoke check of stage {} while the rollout is at stage {current:?}", check.stage)
                });
                refuse(
                    &mut reasons,
                    rollout.smoke.iter().any(|s| s.stage == check.stage && s.name == check.name),
                    &|| format!("smoke check `{}` of stage {} was already recorded", check.name, check.stage),
                );
            }
            RolloutFact::StagePassed { stage } => match rollout.promotable(triggers, now) {
                Ok(passing) => refuse(&mut reasons, passing != *stage, &|| {
                    format!("stage {stage} is not the stage traffic is at ({passing})")
                }),
                Err(why) => refuse(&mut reasons, true, &|| format!("stage {stage} cannot be promoted: {why}")),
            },
            RolloutFact::Paused { reason } => {
                reasons.invalid_if(blank(reason), || "say why the rollout pauses".into());
                refuse(&mut reasons, !matches!(next, Next::Pause { .. }), &|| {
                    format!("the analysis does not call for a pause ({})", describe(&next))
                });
            }
            RolloutFact::Resumed => {
                refuse(&mut reasons, rollout.paused.is_none(), &|| "the rollout is not paused".into())
            }
            RolloutFact::Completed => {
                refuse(&mut reasons, next != Next::Complete, &|| {
                    format!("the rollout has stages still to pass ({})", describe(&next))
                });
            }
            RolloutFact::Incident { reference, severity, raised, .. } => {
                reasons.invalid_if(blank(reference) || blank(severity), || {
                    "an incident needs its reference and severity".into()
                });
                reasons.invalid_if(*raised > now, || "an incident cannot be raised in the future".into());
                refuse(&mut reasons, rollout.incidents.iter().any(|(_, _, r)| r == reference), &|| {
                    format!("incident {reference} is already attributed to the deployment")
                });
            }
            RolloutFact::OneWayApproved { stage } => {
                refuse(&mut reasons, !matches!(&next, Next::AwaitApproval { stage: s, .. } if s == stage), &|| {
                    format!("stage {stage} is not a one-way step waiting for approval ({})", describe(&next))
                });
            }
            RolloutFact::RolledForward { reason } => {
                reasons.invalid_if(blank(reason), || "say why the rollout rolls forward".into());
                refuse(&mut reasons, !matches!(next, Next::RollForward { .. }), &|| {
                    format!("nothing calls for a roll-forward ({})", describe(&next))
                });
            }
            RolloutFact::TrafficRestored => {
                refuse(&mut reasons, next != Next::Restore, &|| {
                    "traffic is restored to the previous version only during a rollback, once".into()
                });
            }
        }
        reasons.finish()?;
        let mut events = vec![Event::Rollout { release: r.id, fact: fact.clone() }];
        if fact == &RolloutFact::Completed {
            events.extend(self.finish_deployment(true)?);
        }
        Ok(events)
    }

    /// A rollback of a release the executor rolled out is complete only once the traffic is
    /// back on the previous version.
    pub(super) fn rollout_restored(&self) -> Result<(), Rejection> {
        match self.release.active_rollout() {
            Some((rollout, Some(_))) if rollout.restored.is_none() => Err(Rejection::refused(
                "rollout",
                format!(
                    "the executor has not yet confirmed the traffic of {} is back on {}",
                    self.release.id,
                    rollout.previous.as_ref().map_or("the previous version".to_owned(), ToString::to_string)
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The environment `deploy` started the deployment in (its first event).
fn environment_id(events: &[Event]) -> String {
    match events.first() {
        Some(Event::DeploymentStarted { environment, .. }) => environment.clone(),
        _ => unreachable!("a deployment starts with DeploymentStarted"),
    }
}

/// The service's last production artefact that stabilised: of its other releases live in
/// production (deployed successfully and not rolled back since), the latest, by the artefact
/// its rollout carried or its only artefact.
pub fn previous_artefact(state: &State, release: &Release) -> Option<Digest> {
    state
        .releases
        .values()
        .filter(|other| other.service == release.service && other.id != release.id)
        .filter_map(|other| Some((other.live_since()?, other)))
        .max_by_key(|(since, _)| *since)
        .and_then(|(_, other)| carried(other))
}

fn carried(release: &Release) -> Option<Digest> {
    if let Some(rollout) = release.rollouts.iter().rev().find(|r| r.finished()) {
        return Some(rollout.artefact.clone());
    }
    let mut digests = release.artefacts.values().map(|a| a.digest.clone());
    match (digests.next(), digests.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// What the plan does next, in words, for a refusal.
pub fn describe(next: &Next) -> String {
    match next {
        Next::Baseline => "the baseline is measured first".into(),
        Next::Shift { stage, weight } => format!("next: stage {stage} at {weight}%"),
        Next::Measure(_) => "measurements are due".into(),
        Next::Smoke { stage } => format!("the smoke checks of stage {stage} are due"),
        Next::Promote { stage } => format!("stage {stage} may be promoted"),
        Next::Complete => "every stage passed".into(),
        Next::RollBack { reason } => format!("roll back: {reason}"),
        Next::Pause { reason } => format!("pause: {reason}"),
        Next::AwaitApproval { stage, says } => {
            format!("stage {stage} is one-way ({says}) and waits for the release manager's approval")
        }
        Next::RollForward { reason } => format!("roll forward: {reason}"),
        Next::Restore => "traffic goes back to the previous version".into(),
        Next::ConfirmRollback => "the previous version is confirmed healthy".into(),
        Next::Wait { until } => format!("waiting until {}", crate::gate::when(*until)),
        Next::Idle(why) => why.clone(),
    }
}
