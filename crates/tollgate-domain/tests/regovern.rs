//! Moving an open release to the profile version in force (6.3): a release stays governed by
//! the version it was created under until a release manager moves it, with a reason; from then
//! on its gates are evaluated under the new version, and a go decision (and, when the new
//! version loosens a rule, the approvals) recorded before no longer count.

mod support;

use std::sync::Arc;

use chrono::Duration;
use support::*;
use tollgate_domain::evidence::{Digest, Verification};
use tollgate_domain::policy::Opens;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Event, Profile};

fn new_key() -> Digest {
    Digest::from_sha256([0x42; 32])
}

/// The QMS built-in at `version`, with `from` replaced by `to` in its text, trusting the
/// rehearsal's build and, when `trust_new_key`, one more signing key.
fn version(from: &str, to: &str, version: &str, trust_new_key: bool) -> Arc<Profile> {
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    assert!(text.contains(from), "fixture drift: {from}");
    let text = text.replacen("version = \"1.0\"", &format!("version = \"{version}\""), 1).replacen(from, to, 1);
    let mut profile = tollgate_profile::load("qms.toml", &text).unwrap();
    trust_rehearsal_build(&mut profile.policy);
    if trust_new_key {
        profile.policy.artefacts.trusted_keys.insert(new_key());
    }
    profile.reason = "new signing key".into();
    Arc::new(profile)
}

/// Proposes `profile` as rita and has eve (executive, also holding adopt-profile) approve it.
fn adopt(w: &mut World, profile: &Arc<Profile>) {
    let loosens = tollgate_profile::loosened(&w.policy().clone(), &profile.policy);
    w.ok("rita", Command::AdoptProfile { profile: profile.clone(), loosens });
    let events = w.ok(
        "eve",
        Command::ReviewProfile {
            id: "qms-dev-pro-004".into(),
            version: profile.policy.version.clone(),
            approve: true,
            comment: "reviewed".into(),
        },
    );
    assert!(events.iter().any(|e| matches!(e, Event::ProfileAdopted(_))), "{events:?}");
}

/// The command as the application layer builds it: the loosened rules between the release's
/// governing version and the one in force.
fn regovern(w: &World, id: ReleaseId) -> Command {
    let r = w.release(id);
    let from = w.state.profiles[r.profile].profile.clone();
    let to = w.state.current().unwrap().clone();
    Command::Regovern {
        release: id,
        reason: "the new signing key is trusted from 1.1 on".into(),
        loosens: tollgate_profile::loosened(&from.policy, &to.policy),
        compared: (from.hash.clone(), to.hash.clone()),
    }
}

fn signed_by_new_key(id: ReleaseId) -> Command {
    Command::AddArtefact {
        release: id,
        name: "payments".into(),
        digest: Digest::from_sha256([0x31; 32]),
        verifications: vec![Verification::KeySignature { algorithm: "ed25519".into(), key: new_key() }],
    }
}

fn go_criterion(w: &World, id: ReleaseId) -> tollgate_domain::gate::CriterionVerdict {
    w.current_gate(id, Opens::Deploy).criteria.into_iter().find(|c| c.id == "go-decision").unwrap()
}

#[test]
fn a_key_the_version_in_force_trusts_is_refused_naming_the_governing_version_until_the_release_moves() {
    // Given a release created under 1.0, and 1.1 in force, which trusts a new signing key
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(3));
    adopt(&mut w, &version("target = \"15m\"", "target = \"10m\"", "1.1", true));
    // When an artefact signed with the new key is recorded
    let refusals = w.refused("dev", signed_by_new_key(id));
    // Then it is refused, and the reason names the governing version and the way out
    let reason = &refusals.iter().find(|r| r.rule == "signature").unwrap().reason;
    assert!(
        reason.contains(
            "R-1 is governed by qms-dev-pro-004 1.0; 1.1 is in force: `tollgate release regovern R-1 --reason ...`"
        ),
        "{reason}"
    );
    // Only the release-manager authority moves a release
    assert_eq!(rules(&w.refused("dev", regovern(&w, id))), ["role".to_owned()].into());
    // When the release manager moves it, it is governed by 1.1 and the signature is accepted
    let events = w.ok("rita", regovern(&w, id));
    assert!(
        matches!(&events[..], [Event::ReleaseRegoverned { from, to, loosens, .. }] if from == "1.0" && to == "1.1" && loosens.is_empty()),
        "{events:?}"
    );
    assert_eq!(w.state.policy_of(w.release(id)).version, "1.1");
    assert_eq!(w.release(id).regoverned.len(), 1);
    w.ok("dev", signed_by_new_key(id));
    // And it cannot move again to the version that already governs it
    assert_eq!(rules(&w.refused("rita", regovern(&w, id))), ["governing-version".to_owned()].into());
}

#[test]
fn a_key_neither_version_trusts_is_refused_without_pointing_at_regovern() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(3));
    adopt(&mut w, &version("target = \"15m\"", "target = \"10m\"", "1.1", false));
    let refusals = w.refused("dev", signed_by_new_key(id));
    assert!(refusals.iter().all(|r| !r.reason.contains("regovern")), "{refusals:?}");
}

#[test]
fn a_go_decision_taken_before_the_move_no_longer_counts() {
    // Given a release with its go decision, and a tightening 1.1 in force
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.ok("rita", Command::Go { release: id });
    assert!(go_criterion(&w, id).met);
    adopt(&mut w, &version("target = \"15m\"", "target = \"10m\"", "1.1", false));
    let approvals = w.release(id).approvals.clone();
    // When the release moves to 1.1
    w.ok("rita", regovern(&w, id));
    // Then the go decision taken under 1.0 does not open the gate; the approvals stand
    let go = go_criterion(&w, id);
    assert!(!go.met, "{go:?}");
    assert!(go.reason.contains("taken under profile version 1.0; R-1 is governed by 1.1"), "{}", go.reason);
    assert_eq!(w.release(id).approvals, approvals);
    // And a go decision under the rules now governing counts again
    w.ok("dora", Command::Go { release: id });
    assert!(go_criterion(&w, id).met);
}

#[test]
fn a_move_to_a_looser_version_sets_aside_the_approvals_given_before() {
    // Given an approved release with its go decision, and 1.1 in force, which shortens a lead time
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.ok("rita", Command::Go { release: id });
    adopt(&mut w, &version("min-lead-time = \"1 week\"", "min-lead-time = \"1 day\"", "1.1", false));
    let approvals = w.release(id).approvals.clone();
    assert!(!approvals.is_empty());
    // When the release moves to 1.1
    let events = w.ok("rita", regovern(&w, id));
    // Then the fact lists what loosens, the go decision and the approvals no longer count, and
    // the record keeps them
    let Event::ReleaseRegoverned { loosens, .. } = &events[0] else { panic!("{events:?}") };
    assert!(loosens.iter().any(|l| l.contains("min-lead-time")), "{loosens:?}");
    let r = w.release(id);
    assert!(r.approvals.is_empty());
    assert_eq!(r.regoverned[0].value.superseded_approvals, approvals);
    assert!(!go_criterion(&w, id).met);
    let verdict = w.current_gate(id, Opens::Deploy);
    assert!(verdict.unmet().any(|c| c.id != "go-decision"), "the approvals are needed again: {verdict:?}");
}

#[test]
fn a_withdrawn_release_is_not_moved() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(3));
    w.ok("rita", Command::Withdraw { release: id, reason: "superseded".into() });
    adopt(&mut w, &version("target = \"15m\"", "target = \"10m\"", "1.1", false));
    assert_eq!(rules(&w.refused("rita", regovern(&w, id))), ["phase".to_owned()].into());
}

#[test]
fn a_move_prepared_against_another_version_in_force_is_refused_as_stale() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(3));
    adopt(&mut w, &version("target = \"15m\"", "target = \"10m\"", "1.1", false));
    let prepared = regovern(&w, id);
    adopt(&mut w, &version("target = \"15m\"", "target = \"12m\"", "1.2", false));
    assert!(w.invalid("rita", prepared)[0].contains("changed while the command was prepared"));
}
