//! Given/when/then for the facts KPIs are measured from: the release package's submission
//! for approval (4.2's approval cycle starts there), and the one reading of 4.6's emergency
//! frequency rule shared with the KPI.

mod support;

use chrono::Duration;
use support::*;
use tollgate_domain::{Command, Event};

#[test]
fn a_release_package_is_submitted_once_before_its_approvals_complete() {
    // Given a minor release, opened by an engineering lead,
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(3));
    let creator = w.release(id).created.by.clone();
    // when a QA lead (who may not open releases) submits it, the submission is refused;
    let qa = w.holder("qa-lead", &[]);
    assert!(!w.refused(&qa, Command::Submit { release: id }).is_empty());
    // when its creator submits it, the submission is recorded with who and when;
    w.pass(Duration::minutes(5));
    let at = w.now;
    let events = w.ok(&creator, Command::Submit { release: id });
    assert!(matches!(events.as_slice(), [Event::Submitted { release }] if *release == id), "{events:?}");
    let submitted = w.release(id).submitted.clone().expect("submitted");
    assert_eq!((submitted.by.as_str(), submitted.at), (creator.as_str(), at));
    // then a second submission is invalid, naming the first.
    let again = w.invalid(&creator, Command::Submit { release: id });
    assert!(again[0].contains("already submitted for approval by"), "{again:?}");
}

#[test]
fn a_release_whose_approvals_are_complete_cannot_be_submitted_after_the_fact() {
    // Given a release approved with no submission (the approvals came first),
    let mut w = World::qms();
    let other = w.create("minor", Duration::weeks(3));
    let creator = w.release(other).created.by.clone();
    for role in ["release-manager", "qa-lead"] {
        let person = w.holder(role, &[]);
        w.ok(&person, Command::Approve { release: other, role: Some(role.into()), approve: true, comment: None });
    }
    // when its creator submits it now, it is refused: the cycle would measure nothing.
    let refused = w.invalid(&creator, Command::Submit { release: other });
    assert!(refused[0].contains("already complete"), "{refused:?}");
    assert!(w.release(other).submitted.is_none());
}
