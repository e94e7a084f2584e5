//! Approvals for a release type (3.7): alternative routes of role requirements, each filled by
//! distinct people. One person's approval fills one requirement, never two, and the creator of a
//! release cannot approve it (both enforced when the approval is recorded, see `decide`).

use std::collections::BTreeSet;

use crate::gate::Outcome;
use crate::policy::{ApprovalRoute, Count, Policy, Requirement, RoleId};
use crate::release::Release;
use crate::state::State;

/// The routes that apply to this release: its type's, each with the profile's additional
/// requirements, and with requirements conditional on what the release touches resolved.
pub fn routes(policy: &Policy, release: &Release) -> Vec<(String, Vec<Requirement>)> {
    let rt = &policy.release_types[&release.release_type];
    rt.approvals
        .iter()
        .map(|ApprovalRoute { label, requires }| {
            let mut reqs: Vec<Requirement> =
                requires.iter().filter(|r| r.applies_to(&release.touches)).cloned().collect();
            for extra in policy.additional_approvals.iter().filter(|r| r.applies_to(&release.touches)) {
                if !reqs.iter().any(|r| r.role == extra.role) {
                    reqs.push(extra.clone());
                }
            }
            (label.clone(), reqs)
        })
        .collect()
}

/// Every role that could approve this release on some route.
pub fn approver_roles(policy: &Policy, release: &Release) -> BTreeSet<RoleId> {
    routes(policy, release).into_iter().flat_map(|(_, reqs)| reqs.into_iter().map(|r| r.role)).collect()
}

pub fn status(state: &State, release: &Release, policy: &Policy) -> Outcome {
    let rejections: Vec<String> = release
        .approvals
        .iter()
        .filter(|(_, a)| !a.approve)
        .map(|(who, a)| {
            let comment = a.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
            format!("rejected by {who} ({}){comment}", a.role)
        })
        .collect();
    let routes = routes(policy, release);
    let evaluated: Vec<(bool, String)> = routes
        .iter()
        .map(|(label, reqs)| {
            let parts: Vec<(bool, String)> = reqs.iter().map(|req| requirement(state, release, req)).collect();
            let ok = parts.iter().all(|(ok, _)| *ok);
            let text = parts.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join("; ");
            (ok, format!("{label}: {text}"))
        })
        .collect();
    if !rejections.is_empty() {
        return Outcome { met: false, reason: rejections.join("; ") };
    }
    match evaluated.iter().find(|(ok, _)| *ok) {
        Some((_, text)) => Outcome { met: true, reason: text.clone() },
        None => {
            Outcome { met: false, reason: evaluated.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(" | or | ") }
        }
    }
}

fn requirement(state: &State, release: &Release, req: &Requirement) -> (bool, String) {
    // An approval counts while its giver still holds the role they gave it in.
    let given = release.approvals.iter().filter(|(_, a)| a.approve && a.role == req.role);
    let (approvers, lapsed): (Vec<&str>, Vec<&str>) =
        given.map(|(who, _)| who.as_str()).partition(|who| state.holds(who, &req.role));
    let mut got = if approvers.is_empty() {
        "no approval yet".to_owned()
    } else {
        format!("approved by {}", approvers.join(", "))
    };
    if !lapsed.is_empty() {
        got.push_str(&format!(
            " (not counted: {} no longer hold{} the role)",
            lapsed.join(", "),
            if lapsed.len() == 1 { "s" } else { "" }
        ));
    }
    match req.count {
        Count::AtLeast(n) => {
            let ok = approvers.len() >= n as usize;
            let need = if n == 1 { String::new() } else { format!(" ({} of {n})", approvers.len()) };
            (ok, format!("{} {got}{need}", req.role))
        }
        Count::All => {
            // "Full CAB": every holder who can approve: not the release's creator, nor someone
            // whose one approval already went to another role.
            let excused =
                |h: &&str| *h == release.created.by || release.approvals.get(*h).is_some_and(|a| a.role != req.role);
            // The board as it stood when the release was created, and anyone who joined since:
            // revoking a member who has not approved does not complete the board.
            let mut board: BTreeSet<&str> = state.holders(&req.role).collect();
            board.extend(release.board.get(&req.role).into_iter().flatten().map(String::as_str));
            let holders: Vec<&str> = board.into_iter().filter(|h| !excused(h)).collect();
            let missing: Vec<String> = holders
                .iter()
                .filter(|h| !approvers.contains(h))
                .map(|h| {
                    if state.holds(h, &req.role) {
                        (*h).to_owned()
                    } else {
                        format!("{h} (on the board when {} was created, no longer holds the role)", release.id)
                    }
                })
                .collect();
            if holders.is_empty() {
                (
                    false,
                    format!("{}: nobody who may approve holds this role, so the full board cannot approve", req.role),
                )
            } else if missing.is_empty() {
                (true, format!("all {} {} {got}", holders.len(), req.role))
            } else {
                (false, format!("all {} {} must approve; waiting for {}", holders.len(), req.role, missing.join(", ")))
            }
        }
    }
}
