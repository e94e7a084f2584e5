//! Regression tests for ways around the procedure found in review: each names the hole and
//! shows it closed.

mod support;

use chrono::Duration;
use support::*;
use tollgate_domain::event::Triage;
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::policy::{Check, Opens, Severity};
use tollgate_domain::{Command, Event};

fn unmet(w: &World, id: tollgate_domain::release::ReleaseId, gate: &str) -> Vec<String> {
    w.gate(id, gate).unmet().map(|c| c.id.clone()).collect()
}

#[test]
fn rescheduling_after_planning_is_still_held_to_the_lead_time_and_voids_the_go() {
    let mut w = World::qms();
    // Planning passed with a window three weeks out; then the window is pulled in to tomorrow.
    let id = w.release_in("major", Phase::Deployment);
    w.open_gate_but(id, "within-window");
    w.ok("rita", Command::Go { release: id });
    let start = w.now + Duration::days(1);
    w.ok("rita", Command::Reschedule { release: id, start, end: None });
    let missing = unmet(&w, id, "pre-deployment");
    assert!(missing.contains(&"lead-time".to_owned()), "{missing:?}");
    assert!(missing.contains(&"go-decision".to_owned()), "{missing:?}");
    let refusals = w.refused("dev", Command::Deploy { release: id, environment: "production".into() });
    assert!(rules(&refusals).contains("gate:pre-deployment/lead-time"));
}

#[test]
fn a_window_without_an_end_does_not_let_a_deployment_land_in_a_blackout() {
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.open_gate_but(id, "go-decision");
    let from = w.now + Duration::hours(1);
    w.ok(
        "rita",
        Command::AddBlackout { from, to: from + Duration::days(3), reason: "Black Friday".into(), service: None },
    );
    w.ok("rita", Command::Go { release: id });
    w.pass(Duration::hours(2));
    let refusals = w.refused("dev", Command::Deploy { release: id, environment: "production".into() });
    assert!(rules(&refusals).contains("gate:pre-deployment/outside-blackout"), "{refusals:?}");
}

#[test]
fn post_deployment_sign_offs_cannot_precede_the_deployment_and_a_redeployment_needs_them_again() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    let early = w.refused(
        "quinn",
        Command::Confirm { release: id, confirmation: "qa-post-deployment-sign-off".into(), comment: Some("x".into()) },
    );
    assert_eq!(rules(&early), ["phase".to_owned()].into());
    playbook_walk(&mut w, id, Phase::Stabilisation);
    w.open_gate(id, Opens::Advance);
    // Roll back, review, go again, redeploy: the first attempt's sign-offs no longer count.
    w.ok("omar", Command::StartRollback { release: id, reason: "error rate".into() });
    w.ok("omar", Command::CompleteRollback { release: id });
    w.satisfy(id, &Check::Confirmed("post-deployment-review".into()));
    w.go_and_deploy(id);
    let missing = unmet(&w, id, "deployment");
    assert!(
        missing.contains(&"smoke-tests-passed".to_owned()) && missing.contains(&"no-rollback-trigger".to_owned()),
        "{missing:?}"
    );
    let reason = w.gate(id, "stabilisation").criteria.into_iter().find(|c| c.id == "qa-sign-off").unwrap().reason;
    assert!(reason.contains("before the stabilisation window ended"), "{reason}");
}

fn playbook_walk(w: &mut World, id: tollgate_domain::release::ReleaseId, phase: Phase) {
    tollgate_domain::playbook::walk_to(&mut w.0, id, phase).unwrap();
}

#[test]
fn a_critical_defect_or_failed_test_found_after_the_testing_gate_blocks_the_deployment() {
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.open_gate_but(id, "go-decision");
    w.ok(
        "quinn",
        Command::RecordDefect {
            release: id,
            reference: "BUG-9".into(),
            severity: Severity::Critical,
            title: "data loss".into(),
        },
    );
    w.ok("quinn", rerun(w.junit(id, "regression", 300, 1), "re-run after the fix"));
    w.ok("rita", Command::Go { release: id });
    let refusals = rules(&w.refused("dev", Command::Deploy { release: id, environment: "production".into() }));
    assert!(refusals.contains("gate:pre-deployment/no-open-critical-defects"), "{refusals:?}");
    assert!(refusals.contains("gate:pre-deployment/mandatory-test-phases"), "{refusals:?}");
}

#[test]
fn a_failed_deployment_needs_a_review_and_a_new_go_before_the_next_attempt() {
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.open_gate_but(id, "go-decision");
    w.ok("rita", Command::Go { release: id });
    w.ok("dev", Command::Deploy { release: id, environment: "production".into() });
    w.ok("dev", Command::DeploymentFinished { release: id, success: false });
    let refusals = rules(&w.refused("dev", Command::Deploy { release: id, environment: "production".into() }));
    assert!(
        refusals.contains("gate:pre-deployment/go-decision")
            && refusals.contains("gate:pre-deployment/reviewed-since-rollback"),
        "{refusals:?}"
    );
}

#[test]
fn a_failed_test_phase_cannot_be_skipped_into_a_pass() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Testing);
    w.ok("dev", w.junit(id, "integration", 30, 2));
    let refusals = w.refused(
        "rita",
        Command::SkipTestPhase { release: id, phase: "integration".into(), justification: "flaky".into() },
    );
    assert_eq!(rules(&refusals), ["failed-test-phase".to_owned()].into());
}

#[test]
fn an_override_covers_only_the_shortfall_it_was_written_for() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Testing);
    // Not in advance: a met criterion has no risk to accept.
    for (who, phase) in [
        ("dev", "unit"),
        ("dev", "integration"),
        ("quinn", "system"),
        ("omar", "performance"),
        ("sam", "security-scan"),
        ("quinn", "regression"),
    ] {
        w.ok(who, w.passing(id, phase));
    }
    w.ok("sam", w.sbom(id));
    let early = w.invalid(
        "eve",
        Command::Override {
            release: id,
            criterion: "mandatory-test-phases".into(),
            justification: "just in case".into(),
        },
    );
    assert!(early[0].contains("there is no risk to accept"), "{early:?}");
    // Overridden for a performance failure, the override lapses when something else fails too.
    w.ok("omar", rerun(w.regressed(id, 0.12), "re-run on the new build"));
    w.ok(
        "eve",
        Command::Override {
            release: id,
            criterion: "mandatory-test-phases".into(),
            justification: "p99 +12%, accepted".into(),
        },
    );
    assert!(w.gate(id, "testing").criteria.iter().any(|c| c.id == "mandatory-test-phases" && c.met && c.overridden));
    w.ok("quinn", rerun(w.junit(id, "regression", 300, 1), "re-run after the fix"));
    let c = w.gate(id, "testing").criteria.into_iter().find(|c| c.id == "mandatory-test-phases").unwrap();
    assert!(!c.met && c.reason.contains("has lapsed"), "{}", c.reason);
}

#[test]
fn every_go_no_go_decider_is_barred_from_deploying_and_from_reporting_the_outcome() {
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.ok("eve", Command::GrantRoles { name: "rita".into(), roles: ["devops-engineer".into()].into() });
    w.open_gate_but(id, "go-decision");
    w.ok("rita", Command::Go { release: id });
    w.ok("dora", Command::Go { release: id });
    let refusals = w.refused("rita", Command::Deploy { release: id, environment: "production".into() });
    assert_eq!(rules(&refusals), ["separation-of-duties".to_owned()].into());
    w.ok("dev", Command::Deploy { release: id, environment: "production".into() });
    let outcome = w.refused("rita", Command::DeploymentFinished { release: id, success: true });
    assert!(rules(&outcome).contains("separation-of-duties"));
}

#[test]
fn an_approval_stops_counting_when_its_giver_loses_the_role() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    w.ok("rita", Command::Approve { release: id, role: None, approve: true, comment: None });
    w.ok("quinn", Command::Approve { release: id, role: None, approve: true, comment: None });
    w.ok("rita", Command::RevokeRoles { name: "quinn".into(), roles: ["qa-lead".into()].into() });
    let c = w.gate(id, "planning").criteria.into_iter().find(|c| c.id == "change-request-approved").unwrap();
    assert!(!c.met && c.reason.contains("not counted: quinn no longer holds the role"), "{}", c.reason);
}

#[test]
fn the_on_call_sre_can_roll_back_a_deployment_still_running() {
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.open_gate_but(id, "go-decision");
    w.ok("rita", Command::Go { release: id });
    w.ok("dev", Command::Deploy { release: id, environment: "production".into() });
    let events = w.ok("omar", Command::StartRollback { release: id, reason: "health check failing".into() });
    assert!(
        matches!(events.as_slice(), [Event::DeploymentFinished { success: false, .. }, Event::RollbackStarted { .. }]),
        "{events:?}"
    );
}

#[test]
fn full_cab_does_not_wait_for_the_creator_or_for_someone_whose_approval_went_to_another_role() {
    let mut w = World::qms();
    // cab1 is also the release manager: one approval, given as release manager.
    w.grant("cab1", &["release-manager"]);
    let id = w.create("major", Duration::weeks(3));
    for (who, role) in
        [("cab1", "release-manager"), ("sam", "security-engineer"), ("cab2", "cab-member"), ("cab3", "cab-member")]
    {
        w.ok(who, Command::Approve { release: id, role: Some(role.into()), approve: true, comment: None });
    }
    let c = w.gate(id, "planning").criteria.into_iter().find(|c| c.id == "change-request-approved").unwrap();
    assert!(c.met, "{}", c.reason);
}

#[test]
fn low_and_medium_defects_may_be_accepted_as_risk_but_never_critical() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    for (reference, severity) in [("L-1", Severity::Low), ("C-1", Severity::Critical)] {
        w.ok("quinn", Command::RecordDefect { release: id, reference: reference.into(), severity, title: "t".into() });
    }
    w.ok(
        "sam",
        Command::TriageDefect {
            release: id,
            reference: "L-1".into(),
            outcome: Triage::RiskAccepted,
            comment: "cosmetic".into(),
            scope: None,
        },
    );
    w.refused(
        "sam",
        Command::TriageDefect {
            release: id,
            reference: "C-1".into(),
            outcome: Triage::RiskAccepted,
            comment: "x".into(),
            scope: None,
        },
    );
}

#[test]
fn one_tick_with_several_overdue_steps_flags_no_repeat_and_dates_each_breach_at_its_deadline() {
    let mut w = World::qms();
    let id = w.create("emergency", Duration::zero());
    tollgate_domain::playbook::walk_to(&mut w.0, id, Phase::Deployment).unwrap();
    w.go_and_deploy(id);
    let deployed = w.release(id).first_production_deployment().unwrap();
    w.pass(Duration::hours(25));
    w.ok("omar", Command::Tick);
    assert_eq!(w.state.ncs.len(), 4);
    assert!(w.state.ncs.iter().all(|n| !n.repeat), "first occurrences are not repeats");
    let change_request = w.state.ncs.iter().find(|n| n.subject.ends_with("change-request")).unwrap();
    assert_eq!(change_request.occurred, deployed + Duration::hours(4));
    // Two reported findings without a service are not each other's repeats either.
    for _ in 0..2 {
        w.ok(
            "rita",
            Command::RaiseNc {
                condition: "artefact-not-from-tagged-commit".into(),
                release: None,
                service: None,
                detail: "laptop build".into(),
            },
        );
    }
    assert!(w.state.ncs.iter().all(|n| !n.repeat));
}

#[test]
fn database_migrations_need_their_verification_in_stabilisation() {
    let mut w = World::qms();
    let plain = w.create("minor", Duration::weeks(2));
    let migrating = w.create_touching("minor", Duration::weeks(2), &["database-migration"]);
    let verdict = |w: &World, id| {
        w.gate(id, "stabilisation").criteria.into_iter().find(|c| c.id == "migration-verified").unwrap()
    };
    assert!(verdict(&w, plain).met);
    assert!(!verdict(&w, migrating).met);
}
