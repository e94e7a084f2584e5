//! The emergency track of 4.6: deferred steps with deadlines counted from the deployment, and
//! the non-conformances of 6.2 that Tollgate raises itself.

mod support;

use chrono::Duration;
use support::*;
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::obligation::{self, ObligationStatus};
use tollgate_domain::policy::{Check, Opens};
use tollgate_domain::{Command, Event};

fn statuses(w: &World, id: tollgate_domain::release::ReleaseId) -> Vec<(String, String)> {
    let r = w.release(id);
    obligation::of(w.state.policy_of(r), r, w.now)
        .into_iter()
        .map(|o| (o.def.id.clone(), o.status.key().to_owned()))
        .collect()
}

/// An emergency release walked to its production deployment.
fn deployed_emergency(w: &mut World) -> tollgate_domain::release::ReleaseId {
    let id = w.create("emergency", Duration::zero());
    while w.release(id).phase != Phase::Deployment {
        w.open_gate(id, Opens::Advance);
        w.sign_off(id);
    }
    w.go_and_deploy(id);
    id
}

#[test]
fn deferred_steps_are_due_from_the_deployment_and_go_open_done_or_overdue() {
    let mut w = World::qms();
    let id = w.create("emergency", Duration::zero());
    assert!(statuses(&w, id).iter().all(|(_, s)| s == "awaiting-deployment"));
    let id2 = deployed_emergency(&mut w);
    let _ = id;
    let r = w.release(id2);
    let deployed = r.first_production_deployment().unwrap();
    let policy = w.state.policy_of(r);
    let obligations = obligation::of(policy, r, w.now);
    let due: Vec<(&str, chrono::Duration)> =
        obligations.iter().map(|o| (o.def.id.as_str(), o.due.unwrap() - deployed)).collect();
    assert_eq!(due[0], ("change-request", Duration::hours(4)));
    assert_eq!(due[1], ("planning-and-impact", Duration::hours(24)));
    assert_eq!(due[3], ("documentation", Duration::hours(24)));
    // 5 business days from a Monday (2026-11-02) is the next Monday.
    assert_eq!(due[4], ("retrospective-review", Duration::days(7)));
    assert!(statuses(&w, id2).iter().all(|(_, s)| s == "open"));

    // The change request is raised in time; nothing else is done.
    w.pass(Duration::hours(3));
    w.ok(
        "rita",
        Command::Confirm {
            release: id2,
            confirmation: "change-request-raised".into(),
            comment: Some("CHG-1042".into()),
        },
    );
    w.pass(Duration::hours(22));
    let s = statuses(&w, id2);
    assert_eq!(s[0].1, "done");
    assert_eq!(s[1].1, "overdue");
    assert_eq!(s[4].1, "open");

    // The tick raises one non-conformance per overdue step, once.
    let raised = w.ok("omar", Command::Tick);
    let conditions: Vec<(&str, &str)> = raised
        .iter()
        .map(|e| match e {
            Event::NcRaised(nc) => (nc.condition.as_str(), nc.subject.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        conditions,
        [
            ("emergency-deferred-overdue", "R-2/deferred:planning-and-impact"),
            ("emergency-deferred-overdue", "R-2/deferred:skipped-test-review"),
            ("emergency-deferred-overdue", "R-2/deferred:documentation"),
        ]
    );
    assert!(w.ok("omar", Command::Tick).is_empty(), "a second tick raises nothing new");
    // Late completion shows as done-late.
    w.satisfy(id2, &Check::Plan(tollgate_domain::policy::PlanField::ALL.to_vec()));
    assert_eq!(statuses(&w, id2)[1].1, ObligationStatus::DoneLate.key());
}

#[test]
fn an_obligation_completed_late_between_ticks_is_still_a_nonconformance() {
    let mut w = World::qms();
    let id = deployed_emergency(&mut w);
    w.pass(Duration::hours(5));
    w.ok(
        "rita",
        Command::Confirm { release: id, confirmation: "change-request-raised".into(), comment: Some("CHG-7".into()) },
    );
    let raised = w.ok("omar", Command::Tick);
    assert!(
        matches!(raised.as_slice(), [Event::NcRaised(nc)] if nc.detail.starts_with("change-request completed at")),
        "{raised:?}"
    );
}

#[test]
fn the_emergency_cannot_close_until_every_deferred_step_is_done() {
    let mut w = World::qms();
    let id = deployed_emergency(&mut w);
    while w.release(id).phase != Phase::Documentation {
        w.open_gate(id, Opens::Advance);
        w.sign_off(id);
    }
    let verdict = w.current_gate(id, Opens::Advance);
    let c = verdict.criteria.iter().find(|c| c.id == "deferred-steps-done").unwrap();
    assert!(!c.met && c.reason.contains("change-request (open, due"), "{}", c.reason);
}

#[test]
fn a_third_emergency_for_one_service_within_30_days_is_a_nonconformance_and_a_fourth_a_repeat() {
    let mut w = World::qms();
    for _ in 0..2 {
        deployed_emergency(&mut w);
        w.pass(Duration::days(10));
    }
    assert!(w.state.ncs.is_empty());
    // An emergency occurs when it goes live in production (4.6, read as the KPI reads it): the
    // third is not a non-conformance while it is only opened.
    let third = w.create("emergency", Duration::zero());
    assert!(w.state.ncs.is_empty());
    while w.release(third).phase != Phase::Deployment {
        w.open_gate(third, Opens::Advance);
        w.sign_off(third);
    }
    w.go_and_deploy(third);
    assert_eq!(w.state.ncs.len(), 1);
    let nc = &w.state.ncs[0];
    assert_eq!(
        (nc.condition.as_str(), nc.service.as_deref(), nc.repeat),
        ("emergency-frequency", Some("payments"), false)
    );
    assert!(
        nc.detail.starts_with("3 emergency releases for payments live in production within 30 days: R-1, R-2, R-3"),
        "{}",
        nc.detail
    );
    w.pass(Duration::days(1));
    deployed_emergency(&mut w);
    assert_eq!(w.state.ncs.len(), 2);
    assert!(w.state.ncs[1].repeat, "the same condition on the same service needs formal corrective action");
    // Once the window has rolled past, a new emergency is fine again.
    w.pass(Duration::days(40));
    deployed_emergency(&mut w);
    assert_eq!(w.state.ncs.len(), 2);
}

#[test]
fn deploying_on_overrides_raises_the_skipped_test_and_missing_documentation_nonconformances() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Preparation);
    w.open_gate_but(id, "documentation-complete");
    w.ok(
        "eli",
        Command::AttachDocument {
            release: id,
            kind: "release-notes".into(),
            name: "NOTES.md".into(),
            sha256: "b".repeat(64),
            bytes: 10,
        },
    );
    w.ok(
        "eve",
        Command::Override {
            release: id,
            criterion: "documentation-complete".into(),
            justification: "runbooks follow; CTO accepts".into(),
        },
    );
    w.sign_off(id);
    w.open_gate_but(id, "mandatory-test-phases");
    w.ok(
        "eve",
        Command::Override {
            release: id,
            criterion: "mandatory-test-phases".into(),
            justification: "contractual date; risk accepted".into(),
        },
    );
    w.sign_off(id);
    let start = w.release(id).window.start;
    w.now = w.now.max(start);
    w.go_and_deploy(id);
    let ncs: Vec<(&str, &str)> = w.state.ncs.iter().map(|n| (n.condition.as_str(), n.detail.as_str())).collect();
    assert_eq!(ncs.len(), 2, "{ncs:?}");
    assert_eq!(ncs[0].0, "test-phase-skipped");
    assert!(
        ncs[0].1.contains("without passing unit, integration, system, performance, security-scan, regression"),
        "{}",
        ncs[0].1
    );
    assert_eq!(ncs[1], ("documentation-absent", "deployed to production without deployment-runbook, rollback-runbook"));
    // Closing needs the corrective action, by the release manager.
    let nc = w.state.ncs[0].id;
    w.invalid("rita", Command::CloseNc { id: nc, corrective_action: "".into() });
    // dev deployed it: not a closer, and named by it.
    assert_eq!(
        rules(&w.refused("dev", Command::CloseNc { id: nc, corrective_action: "x".into() })),
        ["role".to_owned(), "separation-of-duties".to_owned()].into()
    );
    w.ok(
        "rita",
        Command::CloseNc {
            id: nc,
            corrective_action: "test gate now blocks in CI; overrides need two executives".into(),
        },
    );
    assert!(w.state.ncs[0].closed.is_some());
}

#[test]
fn nonconformances_are_overdue_after_five_business_days() {
    let mut w = World::qms();
    w.ok(
        "rita",
        Command::RaiseNc {
            condition: "artefact-not-from-tagged-commit".into(),
            release: None,
            service: Some("payments".into()),
            detail: "hotfix built on a laptop".into(),
        },
    );
    let nc = w.state.ncs[0].clone();
    assert_eq!(nc.status(w.now).key(), "open");
    assert_eq!(nc.status(nc.due + Duration::seconds(1)).key(), "overdue");
}
