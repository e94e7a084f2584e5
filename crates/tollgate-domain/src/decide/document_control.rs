//! Document control for the procedure itself (QMS-DEV-PRO-004 6.3, and section 1: "All
//! revisions are subject to the same approval requirements as the original document"). A new
//! version is proposed by someone holding `adopt-profile`, and takes effect only when a second
//! person holding it approves; a version that loosens any rule also needs the approval of the
//! executive authority (a holder of `override`, the authority that may accept risk in writing),
//! given by someone other than the proposer. Until then the version in force stays.

use std::sync::Arc;

use super::{Ctx, blank};
use crate::event::{Event, Profile};
use crate::policy::{Action, Policy};
use crate::rejection::{Reasons, Rejection};
use crate::state::ProposedProfile;

impl Ctx<'_> {
    pub(super) fn propose_profile(&self, profile: &Arc<Profile>, loosens: &[String]) -> Result<Vec<Event>, Rejection> {
        let Some(current) = self.state.current() else {
            return Err(Rejection::invalid(
                "this store has no procedure profile; `tollgate init` adopts the first and names its administrator",
            ));
        };
        self.known_actor()?;
        let mut reasons = Reasons::default();
        reasons.absorb(self.authorised(&current.policy, Action::AdoptProfile));
        reasons.invalid_if(blank(&profile.reason), || "say why the new version is adopted (--reason)".into());
        if let Some(pending) = &self.state.proposed_profile {
            reasons.invalid_if(true, || {
                format!(
                    "{} {} proposed by {} is still under review; approve or reject it first",
                    pending.profile.policy.id, pending.profile.policy.version, pending.by
                )
            });
        }
        reasons.invalid_if(profile.hash == current.hash, || {
            format!("this profile is identical to version {} already in force", current.policy.version)
        });
        reasons.invalid_if(
            profile.hash != current.hash
                && self.state.profiles.iter().any(|a| {
                    a.profile.policy.id == profile.policy.id
                        && a.profile.policy.version == profile.policy.version
                        && a.profile.hash != profile.hash
                }),
            || {
                format!(
                    "version {} was adopted before with different content; a changed document needs a new version (6.3)",
                    profile.policy.version
                )
            },
        );
        reasons.finish()?;
        Ok(vec![Event::ProfileProposed { profile: profile.clone(), loosens: loosens.to_vec() }])
    }

    pub(super) fn review_profile(
        &self,
        id: &str,
        version: &str,
        approve: bool,
        comment: &str,
    ) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        let Some(pending) = self
            .state
            .proposed_profile
            .as_ref()
            .filter(|p| p.profile.policy.id == id && p.profile.policy.version == version)
        else {
            return Err(Rejection::invalid(match &self.state.proposed_profile {
                Some(p) => {
                    format!("{id} {version} is not proposed; {} {} is", p.profile.policy.id, p.profile.policy.version)
                }
                None => format!("{id} {version} is not proposed; `tollgate profile adopt FILE` proposes a version"),
            }));
        };
        let mut reasons = Reasons::default();
        reasons.absorb(self.authorised(policy, Action::AdoptProfile).or_else(|e| {
            // The executive authority reviews a loosening version without holding adopt-profile.
            if pending.loosens.is_empty() || !self.holds_any(policy.roles_for(Action::Override)) {
                Err(e)
            } else {
                Ok(())
            }
        }));
        reasons.refuse_if(approve && pending.by == self.actor, "four-eyes", || {
            format!("{} proposed {id} {version}; a second person approves it (6.3)", pending.by)
        });
        reasons.invalid_if(pending.approvals.iter().any(|(who, _)| who == self.actor), || {
            format!("{} already approved {id} {version}", self.actor)
        });
        reasons.invalid_if(blank(comment), || "say what was reviewed (--comment)".into());
        reasons.finish()?;
        let review =
            Event::ProfileReviewed { id: id.into(), version: version.into(), approve, comment: comment.into() };
        let mut events = vec![review];
        if approve {
            let mut approvals = pending.approvals.clone();
            approvals.push((self.actor.to_owned(), self.roles_held()));
            if missing_approvals(policy, pending, &approvals).is_empty() {
                events.push(Event::ProfileAdopted(pending.profile.clone()));
            }
        }
        Ok(events)
    }

    fn roles_held(&self) -> std::collections::BTreeSet<String> {
        self.state.people.get(self.actor).map(|p| p.roles.clone()).unwrap_or_default()
    }
}

/// The approvals a proposed version still needs, in words; empty when it may take effect.
pub fn missing_approvals(
    policy: &Policy,
    proposed: &ProposedProfile,
    approvals: &[(String, std::collections::BTreeSet<String>)],
) -> Vec<String> {
    let holds = |roles: &std::collections::BTreeSet<String>, action: Action| {
        roles.iter().any(|r| policy.roles_for(action).contains(r))
    };
    let others = || approvals.iter().filter(|(who, _)| *who != proposed.by);
    let mut needs = Vec::new();
    if !others().any(|(_, roles)| holds(roles, Action::AdoptProfile)) {
        needs.push(format!(
            "a second holder of {} (adopt-profile)",
            policy.roles_for(Action::AdoptProfile).join(" or ")
        ));
    }
    if !proposed.loosens.is_empty() && !others().any(|(_, roles)| holds(roles, Action::Override)) {
        needs.push(format!(
            "the executive authority, {} (it loosens {} rule(s))",
            policy.roles_for(Action::Override).join(" or "),
            proposed.loosens.len()
        ));
    }
    needs
}
