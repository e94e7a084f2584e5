//! Given/when/then over the built-in procedures: every release type walks through every gate,
//! and each refusal reason of the procedure is met with the right rule.

mod support;

use chrono::Duration;
use support::*;
use tollgate_domain::event::Triage;
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::policy::{Opens, Severity};
use tollgate_domain::{Command, Event, Rejection};

const TYPES: [&str; 6] = ["major", "minor", "patch", "security-patch", "emergency", "infrastructure"];

#[test]
fn every_release_type_of_both_profiles_walks_every_gate_to_closed() {
    for (profile, make) in [("qms-dev-pro-004", World::qms as fn() -> World), ("grs-isms-prc-009", World::grs)] {
        for release_type in TYPES {
            let mut w = make();
            let id = w.create(release_type, Duration::weeks(3));
            let walked = w.walk_to_closed(id);
            let r = w.release(id);
            assert_eq!(r.phase, Phase::Closed, "{profile} {release_type}");
            let expected: Vec<&str> = match r.track {
                tollgate_domain::lifecycle::Track::Standard => {
                    vec![
                        "planning",
                        "preparation",
                        "testing",
                        "pre-deployment",
                        "deployment",
                        "stabilisation",
                        "closure",
                    ]
                }
                tollgate_domain::lifecycle::Track::Emergency => {
                    vec![
                        "initiation",
                        "assessment",
                        "testing",
                        "pre-deployment",
                        "deployment",
                        "validation",
                        "documentation",
                    ]
                }
            };
            assert_eq!(
                walked.iter().map(|v| v.gate.as_str()).collect::<Vec<_>>(),
                expected,
                "{profile} {release_type}"
            );
            for verdict in &walked {
                assert!(
                    !verdict.open,
                    "{profile} {release_type}: gate {} was open before anything was done for it",
                    verdict.gate
                );
            }
            assert!(w.state.ncs.is_empty(), "{profile} {release_type}: {:?}", w.state.ncs);
        }
    }
}

#[test]
fn phase_advances_are_recorded_with_the_gate_verdict() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    w.open_gate(id, Opens::Advance);
    let events = w.ok("rita", Command::Advance { release: id });
    match &events[0] {
        Event::PhaseAdvanced { gate, from, to, criteria, .. } => {
            assert_eq!((gate.as_str(), *from, *to), ("planning", Phase::Planning, Phase::Preparation));
            assert!(criteria.iter().all(|c| c.met));
            assert!(
                criteria
                    .iter()
                    .any(|c| c.id == "lead-time" && c.reason.contains("Minor releases need at least 1 week"))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn lead_time_shorter_than_the_type_minimum_shuts_the_planning_gate() {
    let mut w = World::qms();
    let id = w.create("major", Duration::days(9));
    w.open_gate_but(id, "lead-time");
    let refusals = w.refused("rita", Command::Advance { release: id });
    assert_eq!(rules(&refusals), ["gate:planning/lead-time".to_owned()].into());
    assert!(refusals[0].reason.contains("Major releases need at least 2 weeks"), "{}", refusals[0].reason);
    // Rescheduling the window far enough opens it.
    let start = w.now + Duration::weeks(3);
    w.ok("rita", Command::Reschedule { release: id, start, end: None });
    // The maintenance window agreed with operations was for the old window.
    let refusals = w.refused("rita", Command::Advance { release: id });
    assert_eq!(rules(&refusals), ["gate:planning/maintenance-window-confirmed".to_owned()].into());
    w.ok("omar", Command::Confirm { release: id, confirmation: "maintenance-window-confirmed".into(), comment: None });
    w.ok("rita", Command::Advance { release: id });
}

#[test]
fn a_window_in_a_blackout_needs_an_executive_override_in_writing() {
    let mut w = World::qms();
    let from = w.now + Duration::days(10);
    w.ok(
        "rita",
        Command::AddBlackout {
            from,
            to: from + Duration::days(5),
            reason: "year-end financial close".into(),
            service: None,
        },
    );
    let id = w.create("minor", Duration::days(11));
    w.open_gate_but(id, "outside-blackout");
    let refusals = w.refused("rita", Command::Advance { release: id });
    assert_eq!(rules(&refusals), ["gate:planning/outside-blackout".to_owned()].into());
    assert!(refusals[0].reason.contains("year-end financial close"));
    // The release manager cannot accept the risk; the executive can, with a justification.
    let not_exec = w.refused(
        "rita",
        Command::Override { release: id, criterion: "outside-blackout".into(), justification: "urgent".into() },
    );
    assert_eq!(rules(&not_exec), ["role".to_owned()].into());
    w.invalid(
        "eve",
        Command::Override { release: id, criterion: "outside-blackout".into(), justification: " ".into() },
    );
    w.ok(
        "eve",
        Command::Override {
            release: id,
            criterion: "outside-blackout".into(),
            justification: "regulatory deadline; CFO informed".into(),
        },
    );
    let verdict = w.gate(id, "planning");
    let c = verdict.criteria.iter().find(|c| c.id == "outside-blackout").unwrap();
    assert!(c.met && c.overridden && c.reason.contains("overridden by eve"), "{c:?}");
    // Some criteria are never overridable.
    let no = w.refused(
        "eve",
        Command::Override { release: id, criterion: "change-request-approved".into(), justification: "x".into() },
    );
    assert_eq!(rules(&no), ["not-overridable".to_owned()].into());
}

#[test]
fn a_blackout_for_another_service_does_not_apply() {
    let mut w = World::qms();
    let from = w.now + Duration::days(10);
    w.ok(
        "rita",
        Command::AddBlackout {
            from,
            to: from + Duration::days(5),
            reason: "ledger migration".into(),
            service: Some("ledger".into()),
        },
    );
    let id = w.create("minor", Duration::days(11));
    assert!(w.gate(id, "planning").criteria.iter().find(|c| c.id == "outside-blackout").unwrap().met);
}

#[test]
fn approvals_come_from_role_holders_with_separation_of_duties() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    let creator = w.release(id).created.by.clone();
    // The creator is an engineering lead; give them the release-manager role too.
    w.grant(&creator, &["release-manager"]);
    let own = w.refused(&creator, Command::Approve { release: id, role: None, approve: true, comment: None });
    assert_eq!(rules(&own), ["separation-of-duties".to_owned()].into());
    // Someone without an approver role is refused.
    let no_role = w.refused("omar", Command::Approve { release: id, role: None, approve: true, comment: None });
    assert_eq!(rules(&no_role), ["role".to_owned()].into());
    // One person holding two approver roles must say which, and cannot fill both.
    w.grant("dora", &["release-manager", "qa-lead"]);
    let both = w.invalid("dora", Command::Approve { release: id, role: None, approve: true, comment: None });
    assert!(both[0].contains("say which with --role"), "{both:?}");
    w.ok("dora", Command::Approve { release: id, role: Some("qa-lead".into()), approve: true, comment: None });
    let twice = w.refused(
        "dora",
        Command::Approve { release: id, role: Some("release-manager".into()), approve: true, comment: None },
    );
    assert_eq!(rules(&twice), ["separation-of-duties".to_owned()].into());
    let c = w.gate(id, "planning").criteria.into_iter().find(|c| c.id == "change-request-approved").unwrap();
    assert!(
        !c.met && c.reason.contains("release-manager no approval yet") && c.reason.contains("qa-lead approved by dora"),
        "{}",
        c.reason
    );
    w.ok("rita", Command::Approve { release: id, role: None, approve: true, comment: None });
    assert!(w.gate(id, "planning").criteria.iter().find(|c| c.id == "change-request-approved").unwrap().met);
}

#[test]
fn a_rejection_blocks_approval_until_withdrawn() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    w.invalid("quinn", Command::Approve { release: id, role: None, approve: false, comment: None });
    w.ok(
        "quinn",
        Command::Approve { release: id, role: None, approve: false, comment: Some("regression suite red".into()) },
    );
    w.ok("rita", Command::Approve { release: id, role: None, approve: true, comment: None });
    let c = w.gate(id, "planning").criteria.into_iter().find(|c| c.id == "change-request-approved").unwrap();
    assert!(!c.met && c.reason.contains("rejected by quinn (qa-lead): regression suite red"), "{}", c.reason);
    w.ok("quinn", Command::Approve { release: id, role: None, approve: true, comment: None });
    assert!(w.gate(id, "planning").criteria.iter().find(|c| c.id == "change-request-approved").unwrap().met);
}

#[test]
fn full_cab_means_every_cab_member() {
    let mut w = World::qms();
    let id = w.create("major", Duration::weeks(3));
    for who in ["rita", "sam", "cab1", "cab2"] {
        w.ok(who, Command::Approve { release: id, role: None, approve: true, comment: None });
    }
    let c = w.gate(id, "planning").criteria.into_iter().find(|c| c.id == "change-request-approved").unwrap();
    assert!(!c.met && c.reason.contains("all 3 cab-member must approve; waiting for cab3"), "{}", c.reason);
    w.ok("cab3", Command::Approve { release: id, role: None, approve: true, comment: None });
    assert!(w.gate(id, "planning").criteria.iter().find(|c| c.id == "change-request-approved").unwrap().met);
}

#[test]
fn touching_auth_makes_the_security_engineer_an_approver() {
    let mut w = World::qms();
    let id = w.create_touching("minor", Duration::weeks(2), &["auth"]);
    w.ok("rita", Command::Approve { release: id, role: None, approve: true, comment: None });
    w.ok("quinn", Command::Approve { release: id, role: None, approve: true, comment: None });
    let c = w.gate(id, "planning").criteria.into_iter().find(|c| c.id == "change-request-approved").unwrap();
    assert!(!c.met && c.reason.contains("security-engineer no approval yet"), "{}", c.reason);
    w.ok("sam", Command::Approve { release: id, role: None, approve: true, comment: None });
    assert!(w.gate(id, "planning").criteria.iter().find(|c| c.id == "change-request-approved").unwrap().met);
}

#[test]
fn the_go_decider_never_starts_the_deployment_whatever_roles_they_hold() {
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    // Nobody grants themself a role; another administrator does.
    let own = w.refused("rita", Command::GrantRoles { name: "rita".into(), roles: ["devops-engineer".into()].into() });
    assert_eq!(rules(&own), ["separation-of-duties".to_owned()].into());
    w.ok("eve", Command::GrantRoles { name: "rita".into(), roles: ["devops-engineer".into()].into() });
    w.open_gate_but(id, "go-decision");
    w.ok("rita", Command::Go { release: id });
    let refusals = w.refused("rita", Command::Deploy { release: id, environment: "production".into() });
    assert_eq!(rules(&refusals), ["separation-of-duties".to_owned()].into());
    assert!(refusals[0].reason.contains("can never start the deployment"));
    w.ok("dev", Command::Deploy { release: id, environment: "production".into() });
}

#[test]
fn deployment_is_refused_while_the_pre_deployment_gate_is_shut_listing_every_reason() {
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("major");
    let refusals = w.refused("dev", Command::Deploy { release: id, environment: "production".into() });
    let got = rules(&refusals);
    for rule in ["on-call-confirmed", "rollback-tested-in-staging", "go-decision"] {
        assert!(got.contains(&format!("gate:pre-deployment/{rule}")), "{rule} missing from {got:?}");
    }
}

#[test]
fn monitoring_is_confirmed_before_the_deployment_window_opens_or_not_at_all() {
    // Given a release entering its deployment phase whose window has opened, monitoring unconfirmed
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    while w.release(id).phase != Phase::Preparation {
        w.open_gate(id, Opens::Advance);
        w.sign_off(id);
    }
    w.open_gate(id, Opens::Advance);
    w.sign_off(id);
    w.open_gate(id, Opens::Advance);
    w.pass(Duration::weeks(3));
    w.ok("quinn", Command::Advance { release: id });
    // When the SRE confirms monitoring now, then it is refused (3.6 "before deployment window opens")
    let confirm = Command::Confirm { release: id, confirmation: "monitoring-active".into(), comment: None };
    let refusals = w.refused("omar", confirm);
    assert_eq!(rules(&refusals), ["window-opened".to_owned()].into());
    // And moving the window later lets it be confirmed in time
    let start = w.now + Duration::days(1);
    w.ok("rita", Command::Reschedule { release: id, start, end: None });
    w.ok("omar", Command::Confirm { release: id, confirmation: "monitoring-active".into(), comment: None });
    assert!(w.gate(id, "pre-deployment").criteria.iter().any(|c| c.id == "monitoring-active" && c.met));
}

#[test]
fn rollback_tested_in_staging_is_required_for_major_and_infrastructure_only() {
    for (release_type, required) in [("major", true), ("infrastructure", true), ("minor", false), ("patch", false)] {
        let mut w = World::qms();
        let id = w.create(release_type, Duration::weeks(3));
        let c =
            w.gate(id, "pre-deployment").criteria.into_iter().find(|c| c.id == "rollback-tested-in-staging").unwrap();
        assert_eq!(!c.met, required, "{release_type}: {}", c.reason);
    }
}

#[test]
fn scope_additions_after_lock_need_the_release_manager_and_a_justification() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    w.ok(
        "eli",
        Command::AddScope {
            release: id,
            kind: "ticket".into(),
            reference: "PAY-1".into(),
            rollback: Some("pipeline".into()),
            justification: None,
        },
    );
    w.ok("rita", Command::LockScope { release: id });
    let add = |justification: Option<&str>| Command::AddScope {
        release: id,
        kind: "pr".into(),
        reference: "#77".into(),
        rollback: Some("feature flag".into()),
        justification: justification.map(str::to_owned),
    };
    assert_eq!(rules(&w.refused("eli", add(Some("needed")))), ["role".to_owned()].into());
    assert_eq!(rules(&w.refused("rita", add(None))), ["scope-locked".to_owned()].into());
    w.ok("rita", add(Some("fixes a data loss bug found in staging; re-assessed impact: none")));
    let c = w.gate(id, "planning").criteria.into_iter().find(|c| c.id == "scope-locked").unwrap();
    assert!(c.met && c.reason.contains("1 item added after lock with re-assessment"), "{}", c.reason);
}

#[test]
fn documentation_must_be_complete_before_preparation_closes() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    w.open_gate(id, Opens::Advance);
    w.sign_off(id);
    w.open_gate_but(id, "documentation-complete");
    w.ok(
        "eli",
        Command::AttachDocument {
            release: id,
            kind: "release-notes".into(),
            name: "NOTES.md".into(),
            sha256: "a".repeat(64),
            bytes: 10,
        },
    );
    let refusals = w.refused("rita", Command::Advance { release: id });
    assert_eq!(refusals[0].rule, "gate:preparation/documentation-complete");
    assert_eq!(refusals[0].reason, "missing: Deployment runbook, Rollback runbook, Monitoring runbook");
    w.invalid(
        "eli",
        Command::AttachDocument {
            release: id,
            kind: "runbook".into(),
            name: "x".into(),
            sha256: "a".repeat(64),
            bytes: 10,
        },
    );
    w.invalid(
        "eli",
        Command::AttachDocument {
            release: id,
            kind: "deployment-runbook".into(),
            name: "x".into(),
            sha256: "a".repeat(64),
            bytes: 0,
        },
    );
}

#[test]
fn required_test_phases_failing_or_missing_shut_the_testing_gate_and_a_skip_needs_the_release_manager() {
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.open_gate_but(id, "mandatory-test-phases");
    w.artefact(id, "payments", 1);
    w.ok("quinn", w.junit(id, "system", 40, 2));
    let refusals = w.refused("quinn", Command::Advance { release: id });
    assert_eq!(refusals[0].rule, "gate:testing/mandatory-test-phases");
    assert!(
        refusals[0].reason.contains("system not passed: E-1 system.xml: 2 of 40 tests did not pass"),
        "{}",
        refusals[0].reason
    );
    assert!(refusals[0].reason.contains("unit not passed: no JUnit test report recorded against payments sha256:"));
    // Phases judged from evidence take no hand-typed result.
    let typed = w
        .refused("dev", Command::RecordTestResult { release: id, phase: "unit".into(), passed: true, reference: None });
    assert_eq!(rules(&typed), ["evidence-required".to_owned()].into());
    // Only the security engineer records security scans.
    let wrong = w.refused("quinn", w.junit(id, "security-scan", 1, 0));
    assert_eq!(rules(&wrong), ["role".to_owned()].into());
    // A skip needs the release manager and a justification, and never hides a failure.
    assert_eq!(
        rules(&w.refused(
            "quinn",
            Command::SkipTestPhase { release: id, phase: "integration".into(), justification: "x".into() }
        )),
        ["role".to_owned()].into()
    );
    assert_eq!(
        rules(&w.refused(
            "rita",
            Command::SkipTestPhase { release: id, phase: "system".into(), justification: "flaky".into() }
        )),
        ["failed-test-phase".to_owned()].into()
    );
    w.invalid(
        "rita",
        Command::SkipTestPhase {
            release: id,
            phase: "performance".into(),
            justification: "not required for patches".into(),
        },
    );
    w.ok(
        "rita",
        Command::SkipTestPhase {
            release: id,
            phase: "integration".into(),
            justification: "contract tests cover it".into(),
        },
    );
    // The rest, in the sequence 4.3 specifies.
    w.ok("dev", w.junit(id, "unit", 10, 0));
    w.ok("quinn", rerun(w.junit(id, "system", 40, 0), "fixed and re-run"));
    w.ok("sam", w.clean_scan(id));
    w.ok("sam", w.sbom(id));
    w.ok("quinn", w.junit(id, "regression", 10, 0));
    let c = w.gate(id, "testing").criteria.into_iter().find(|c| c.id == "mandatory-test-phases").unwrap();
    assert!(c.met && c.reason.contains("integration skipped with approval of rita"), "{}", c.reason);
    assert!(c.reason.contains("system passed on evidence: E-3 40 tests: 40 passed"), "{}", c.reason);
}

#[test]
fn uat_sign_off_must_be_written() {
    let mut w = World::qms();
    let id = w.create_touching("minor", Duration::weeks(2), &["customer-facing"]);
    let c = w.gate(id, "testing").criteria.into_iter().find(|c| c.id == "uat-signed-off").unwrap();
    assert!(!c.met, "customer-facing minor releases need UAT: {}", c.reason);
    let verbal =
        w.refused("pat", Command::RecordTestResult { release: id, phase: "uat".into(), passed: true, reference: None });
    assert_eq!(rules(&verbal), ["written-sign-off".to_owned()].into());
    w.ok(
        "pat",
        Command::RecordTestResult {
            release: id,
            phase: "uat".into(),
            passed: true,
            reference: Some("JIRA PAY-9 comment 2026-11-30".into()),
        },
    );
    assert!(w.gate(id, "testing").criteria.iter().find(|c| c.id == "uat-signed-off").unwrap().met);
    let plain = w.create("minor", Duration::weeks(2));
    let c = w.gate(plain, "testing").criteria.into_iter().find(|c| c.id == "uat-signed-off").unwrap();
    assert!(c.met && c.reason == "uat not required for Minor releases", "{}", c.reason);
}

#[test]
fn critical_defects_block_and_high_defects_need_triage() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    w.ok(
        "quinn",
        Command::RecordDefect {
            release: id,
            reference: "BUG-1".into(),
            severity: Severity::Critical,
            title: "data loss".into(),
        },
    );
    w.ok(
        "quinn",
        Command::RecordDefect {
            release: id,
            reference: "BUG-2".into(),
            severity: Severity::High,
            title: "slow login".into(),
        },
    );
    let gate = w.gate(id, "testing");
    let unmet: Vec<&str> = gate.unmet().map(|c| c.id.as_str()).collect();
    assert!(unmet.contains(&"no-open-critical-defects") && unmet.contains(&"high-defects-triaged"));
    // 4.4.3: accepted risk is for High only, by the security engineer.
    let crit = w.refused(
        "sam",
        Command::TriageDefect {
            release: id,
            reference: "BUG-1".into(),
            outcome: Triage::RiskAccepted,
            comment: "x".into(),
            scope: None,
        },
    );
    assert_eq!(rules(&crit), ["risk-acceptance".to_owned()].into());
    let not_sec = w.refused(
        "quinn",
        Command::TriageDefect {
            release: id,
            reference: "BUG-2".into(),
            outcome: Triage::RiskAccepted,
            comment: "x".into(),
            scope: None,
        },
    );
    assert_eq!(rules(&not_sec), ["role".to_owned()].into());
    w.ok(
        "sam",
        Command::TriageDefect {
            release: id,
            reference: "BUG-2".into(),
            outcome: Triage::RiskAccepted,
            comment: "only admin users affected".into(),
            scope: None,
        },
    );
    // Scope reduction (4.4.3) takes the change the defect is in out of the release.
    for reference in ["PAY-7", "PAY-8"] {
        w.ok(
            "eli",
            Command::AddScope {
                release: id,
                kind: "ticket".into(),
                reference: reference.into(),
                rollback: Some("feature flag off".into()),
                justification: None,
            },
        );
    }
    let descope = |scope: Option<&str>| Command::TriageDefect {
        release: id,
        reference: "BUG-1".into(),
        outcome: Triage::Descoped,
        comment: "feature removed from scope".into(),
        scope: scope.map(str::to_owned),
    };
    let unnamed = w.invalid("rita", descope(None));
    assert!(unnamed[0].contains("name it (--scope KIND:REF)"), "{unnamed:?}");
    let absent = w.invalid("rita", descope(Some("ticket:PAY-9")));
    assert!(absent[0].contains("expected one of: ticket:PAY-7, ticket:PAY-8"), "{absent:?}");
    w.ok("rita", descope(Some("ticket:PAY-7")));
    let r = w.release(id);
    let scope: Vec<&str> = r.scope.iter().map(|s| s.value.reference.as_str()).collect();
    assert_eq!(scope, ["PAY-8"], "the descoped change no longer ships");
    assert_eq!(r.removed_scope[0].value.1, "defect BUG-1 descoped");
    let gate = w.gate(id, "testing");
    assert!(gate.criteria.iter().filter(|c| c.id.contains("defects")).all(|c| c.met));
}

#[test]
fn stabilisation_window_must_elapse_and_sign_offs_be_obtained() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Stabilisation);
    // Sign-offs minutes into the window are refused: they speak of the whole window (4.4.5).
    for (who, c) in [("omar", "metrics-within-slo"), ("quinn", "qa-post-deployment-sign-off")] {
        let confirm = Command::Confirm { release: id, confirmation: c.into(), comment: Some("QA-1".into()) };
        assert_eq!(rules(&w.refused(who, confirm)), ["stabilisation-window".to_owned()].into());
    }
    let refusals = w.refused("rita", Command::Advance { release: id });
    assert!(rules(&refusals).contains("gate:stabilisation/stabilisation-window-elapsed"));
    let window = refusals.iter().find(|r| r.rule.ends_with("stabilisation-window-elapsed")).unwrap();
    assert!(window.reason.contains("Minor stabilisation window of 2h ends at"), "{}", window.reason);
    w.pass(Duration::hours(2));
    w.open_gate(id, Opens::Advance);
    w.ok("rita", Command::Advance { release: id });
}

#[test]
fn rollback_by_the_deploying_engineer_needs_no_approval_and_its_duration_is_recorded() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Stabilisation);
    let deployer = w.release(id).deploying_engineer().unwrap().to_owned();
    w.invalid(&deployer, Command::StartRollback { release: id, reason: " ".into() });
    w.ok(&deployer, Command::StartRollback { release: id, reason: "error rate +40% for 5 minutes".into() });
    w.pass(Duration::minutes(12));
    let events = w.ok(&deployer, Command::CompleteRollback { release: id });
    // 4.5: "once stable, raise an incident record, and link it to the deployment record"
    let [Event::RollbackCompleted { seconds: 721, .. }, Event::IncidentRaised { reference, deployment, detected, .. }] =
        events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(reference, "R-1/rollback#1");
    assert!(w.release(id).deployments[*deployment as usize].production, "linked to the production deployment");
    assert_eq!(*detected, w.release(id).rollbacks[0].started.at, "detected when the rollback was decided");
    assert!(w.state.ncs.is_empty(), "12 minutes is within the 15-minute target");
    let r = w.release(id);
    assert_eq!(r.phase, Phase::Deployment);
    // The next attempt needs a post-deployment review and a new go decision.
    let gate = w.gate(id, "pre-deployment");
    let unmet: Vec<&str> = gate.unmet().map(|c| c.id.as_str()).collect();
    assert_eq!(unmet, ["reviewed-since-rollback", "go-decision"]);
    let decider_refused = w.refused("quinn", Command::StartRollback { release: id, reason: "x".into() });
    assert!(rules(&decider_refused).contains("role"));
}

#[test]
fn under_grs_a_completed_rollback_opens_a_defect_the_closure_gate_holds_until_triaged() {
    let mut w = World::grs();
    let id = w.release_in("minor", Phase::Stabilisation);
    let deployer = w.release(id).deploying_engineer().unwrap().to_owned();
    w.ok(&deployer, Command::StartRollback { release: id, reason: "health checks failing".into() });
    let events = w.ok(&deployer, Command::CompleteRollback { release: id });
    // 4.6 "Rollback: ... open defect"
    let opened = events.iter().find_map(|e| match e {
        Event::DefectRecorded { reference, severity, title, .. } => Some((reference, *severity, title)),
        _ => None,
    });
    let (reference, severity, title) = opened.unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(reference, "R-1/rollback#1");
    assert_eq!(severity, tollgate_domain::policy::Severity::High);
    assert_eq!(title, "rolled back: health checks failing");
    assert!(!events.iter().any(|e| matches!(e, Event::IncidentRaised { .. })), "GRS asks for no incident record");
    assert_eq!(w.release(id).defects.len(), 1);
    let closure = w.gate(id, "closure");
    assert!(closure.unmet().any(|c| c.id == "defects-handled"), "4.5 \"schedule hotfixes if defects\"");
}

#[test]
fn a_rollback_over_the_target_is_a_nonconformance_with_a_corrective_action_deadline() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Stabilisation);
    w.ok("omar", Command::StartRollback { release: id, reason: "p95 latency over SLO".into() });
    w.pass(Duration::minutes(20));
    // A tick while it is still running already raises it; completing it does not raise it twice.
    let raised = w.ok("omar", Command::Tick);
    assert_eq!(raised.len(), 1);
    w.pass(Duration::minutes(5));
    w.ok("omar", Command::CompleteRollback { release: id });
    assert_eq!(w.state.ncs.len(), 1);
    let nc = &w.state.ncs[0];
    assert_eq!(nc.condition, "rollback-over-target");
    assert_eq!(nc.release, Some(id));
    // The breach happened when the 15-minute target passed; corrective action is due 5
    // business days after it.
    let started = w.release(id).rollbacks[0].started.at;
    assert_eq!(nc.occurred, started + Duration::minutes(15));
    assert_eq!(nc.due, w.policy().calendar.add_business_days(nc.occurred, 5));
    assert!(nc.detail.contains("still not complete after 20m") && nc.detail.ends_with("target 15m"), "{}", nc.detail);
}

#[test]
fn time_never_runs_backwards() {
    let mut w = World::qms();
    w.now -= Duration::minutes(1);
    let r = w.invalid("rita", Command::Tick);
    assert!(r[0].contains("earlier than the latest record"));
}

#[test]
fn a_closed_release_refuses_further_records() {
    let mut w = World::qms();
    let id = w.create("patch", Duration::weeks(1));
    w.walk_to_closed(id);
    let refusals =
        w.refused("rita", Command::Confirm { release: id, confirmation: "metrics-recorded".into(), comment: None });
    assert_eq!(rules(&refusals), ["phase".to_owned()].into());
}

#[test]
fn unknown_people_ids_and_roles_are_invalid_requests() {
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(2));
    assert!(w.invalid("mallory", Command::Tick)[0].contains("`mallory` is not a known person"));
    assert!(
        w.invalid("rita", Command::LockScope { release: tollgate_domain::release::ReleaseId(99) })[0]
            .contains("unknown release R-99")
    );
    assert!(
        w.invalid("rita", Command::Confirm { release: id, confirmation: "vibes".into(), comment: None })[0]
            .contains("unknown check `vibes`")
    );
    assert!(
        w.invalid("rita", Command::AddPerson { name: "zed".into(), roles: ["wizard".into()].into() })[0]
            .contains("unknown role wizard")
    );
    let new = tollgate_domain::NewRelease {
        service: "payments".into(),
        version: "9".into(),
        release_type: Some("hotfix".into()),
        title: "x".into(),
        window_start: Some(w.now),
        window_end: None,
        touches: Default::default(),
        incident: None,
    };
    assert!(
        matches!(w.run("eli", Command::CreateRelease(new)), Err(Rejection::Invalid(r)) if r[0].contains("unknown release type `hotfix`"))
    );
}
