//! 6.3 document control of the procedure itself (section 1: "All revisions are subject to the
//! same approval requirements as the original document"): a new version is proposed, and takes
//! effect only once a second holder of adopt-profile approves it, and, when it loosens a rule,
//! the executive authority too. Until then the version in force stays.

mod support;

use std::sync::Arc;

use chrono::Duration;
use support::*;
use tollgate_domain::{Command, Event, Profile};

fn version(text_from: &str, text_to: &str, version: &str, reason: &str) -> Arc<Profile> {
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    assert!(text.contains(text_from), "fixture drift: {text_from}");
    let text =
        text.replacen("version = \"1.0\"", &format!("version = \"{version}\""), 1).replacen(text_from, text_to, 1);
    let mut profile = tollgate_profile::load("qms.toml", &text).unwrap();
    trust_rehearsal_build(&mut profile.policy);
    profile.reason = reason.into();
    Arc::new(profile)
}

fn propose(w: &World, profile: &Arc<Profile>) -> Command {
    let loosens = tollgate_profile::loosened(&w.policy().clone(), &profile.policy);
    Command::AdoptProfile { profile: profile.clone(), loosens }
}

fn review(version: &str, approve: bool) -> Command {
    Command::ReviewProfile {
        id: "qms-dev-pro-004".into(),
        version: version.into(),
        approve,
        comment: "reviewed".into(),
    }
}

fn shorter_lead_time() -> Arc<Profile> {
    version("min-lead-time = \"1 week\"", "min-lead-time = \"1 day\"", "1.1", "teams asked for faster minors")
}

#[test]
fn one_release_manager_cannot_loosen_the_procedure_alone() {
    // Given a second release manager, and a version that shortens the minor lead time
    let mut w = World::qms();
    w.ok("rita", Command::AddPerson { name: "rob".into(), roles: ["qa-lead".to_owned()].into() });
    w.grant("rob", &["release-manager"]);
    let looser = shorter_lead_time();
    // When rita proposes it
    let command = propose(&w, &looser);
    let Command::AdoptProfile { loosens, .. } = &command else { unreachable!() };
    assert!(loosens.iter().any(|l| l.contains("min-lead-time: 1 day is shorter than 1 week")), "{loosens:?}");
    w.ok("rita", command);
    // Then she cannot approve it herself, and a second release manager's approval is not enough
    assert_eq!(rules(&w.refused("rita", review("1.1", true))), ["four-eyes".to_owned()].into());
    let events = w.ok("rob", review("1.1", true));
    assert!(!events.iter().any(|e| matches!(e, Event::ProfileAdopted(_))), "{events:?}");
    assert_eq!(w.policy().version, "1.0", "the version in force stays");
    let created = w.create("minor", Duration::weeks(2));
    assert_eq!(w.state.policy_of(w.release(created)).version, "1.0");
    // When the executive authority approves, seeing every loosened rule, it takes effect
    let events = w.ok("eve", review("1.1", true));
    assert!(events.iter().any(|e| matches!(e, Event::ProfileAdopted(_))), "{events:?}");
    assert_eq!(w.policy().version, "1.1");
    assert!(w.state.proposed_profile.is_none());
}

#[test]
fn a_version_that_only_tightens_takes_a_second_holder_of_adopt_profile() {
    let mut w = World::qms();
    let tighter = version("target = \"15m\"", "target = \"10m\"", "1.1", "faster rollback");
    let command = propose(&w, &tighter);
    w.ok("rita", command);
    // Another proposal waits for this one to be decided.
    let other = version("target = \"15m\"", "target = \"12m\"", "1.2", "another idea");
    let command = propose(&w, &other);
    assert!(w.invalid("eve", command)[0].contains("is still under review"));
    let events = w.ok("eve", review("1.1", true));
    assert!(events.iter().any(|e| matches!(e, Event::ProfileAdopted(_))));
    assert_eq!(w.policy().rollback.target.to_string(), "10m");
}

#[test]
fn a_rejected_version_never_takes_effect() {
    let mut w = World::qms();
    let command = propose(&w, &shorter_lead_time());
    w.ok("rita", command);
    w.ok("eve", review("1.1", false));
    assert!(w.state.proposed_profile.is_none());
    assert!(w.invalid("eve", review("1.1", true))[0].contains("is not proposed"));
    assert_eq!(w.policy().version, "1.0");
    // Someone without the authority cannot review at all.
    let command = propose(&w, &shorter_lead_time());
    w.ok("rita", command);
    assert_eq!(rules(&w.refused("quinn", review("1.1", true))), ["role".to_owned()].into());
}
