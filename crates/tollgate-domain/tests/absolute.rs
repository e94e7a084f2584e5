//! The procedure's absolute rules hold (issue: close the holes through which a release reaches
//! production against them). Each test is given / when / then, and failed on the code before
//! the fix it names.

mod support;

use chrono::Duration;
use support::*;
use tollgate_domain::evidence::{Digest, EvidenceKind, Rating, Report, SuiteCounts, TestCounts, TestReport};
use tollgate_domain::lifecycle::{Phase, Track};
use tollgate_domain::policy::{Check, Opens};
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Event};

fn criterion(w: &World, id: ReleaseId, gate: &str, criterion: &str) -> (bool, String) {
    let c = w.gate(id, gate).criteria.into_iter().find(|c| c.id == criterion).unwrap();
    (c.met, c.reason)
}

fn deploy(id: ReleaseId) -> Command {
    Command::Deploy { release: id, environment: "production".into() }
}

fn override_(id: ReleaseId, criterion: &str) -> Command {
    Command::Override {
        release: id,
        criterion: criterion.into(),
        justification: "the business cannot wait; I accept the risk in writing".into(),
    }
}

#[test]
fn an_executive_override_never_lets_an_open_critical_finding_deploy() {
    // Given a minor release ready to deploy whose scan lists a Critical CVE
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.open_gate_but(id, "go-decision");
    w.ok("sam", w.scan(id, vec![cve("CVE-2024-3094", Rating::Critical)]));
    w.ok("rita", Command::Go { release: id });
    // When the executive overrides the test-phases criterion
    let refusals = w.refused("eve", override_(id, "mandatory-test-phases"));
    // Then the override is refused by the absolute rule, and so is the deployment
    assert_eq!(rules(&refusals), ["absolute-rule".to_owned()].into());
    assert!(refusals[0].reason.contains("critical-findings-block"), "{}", refusals[0].reason);
    let refused = rules(&w.refused("dev", deploy(id)));
    assert!(refused.contains("gate:pre-deployment/no-critical-findings"), "{refused:?}");
    // And the criterion that names the rule cannot be overridden either
    assert!(rules(&w.refused("eve", override_(id, "no-critical-findings"))).contains("absolute-rule"));
}

#[test]
fn a_later_report_that_omits_a_finding_does_not_close_it_but_a_vex_statement_does() {
    // Given a scan of the artefact listing a High and a Critical
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    w.ok("sam", w.scan(id, vec![cve("CVE-2024-0001", Rating::Critical), cve("CVE-2024-0002", Rating::High)]));
    // When a clean report of the same artefact is recorded
    w.ok("sam", w.clean_scan(id));
    // Then both findings are still open
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(!met && reason.contains("CVE-2024-0002 (high)") && reason.contains("needs triage"), "{reason}");
    assert!(!criterion(&w, id, "testing", "no-critical-findings").0);
    // When a VEX statement says the Critical does not affect the artefact
    let mut vex = w.clean_scan(id);
    if let Command::AddEvidence { report, file, .. } = &mut vex {
        *file = "vex.cdx.json".into();
        if let Report::Scan(s) = report.as_mut() {
            s.tool = "CycloneDX VEX".into();
            s.cleared = vec!["CVE-2024-0001".into()];
        }
    }
    w.ok("sam", vex);
    // Then the Critical is closed, the High is not
    let (met, reason) = criterion(&w, id, "testing", "no-critical-findings");
    assert!(met, "{reason}");
    assert!(criterion(&w, id, "testing", "mandatory-test-phases").1.contains("CVE-2024-0002"));
}

#[test]
fn a_profile_cannot_make_an_absolute_check_overridable_nor_an_overlay_drop_a_rule() {
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    // Given the built-in with the Critical-findings criterion marked overridable
    let loosened = text.replace(
        r#"{ id = "no-critical-findings", check = "no-critical-findings", says = "5.1: Critical CVEs block release; no override waives this." }"#,
        r#"{ id = "no-critical-findings", check = "no-critical-findings", overridable = true, says = "x" }"#,
    );
    assert_ne!(loosened, text, "fixture drift");
    // Then it does not load, and the error names the criterion and the rule
    let err = tollgate_profile::load("loose.toml", &loosened).unwrap_err().to_string();
    assert!(err.contains("no-critical-findings") && err.contains("critical-findings-block"), "{err}");
    // Given an overlay that empties an absolute rule's checks
    let overlay = r#"
[profile]
id = "payments"
version = "1"
title = "Payments"
document = "PAY-1"
extends = "qms-dev-pro-004"

[absolute.critical-findings-block]
says = "we know better"
checks = ["no-open-defects"]
"#;
    let err = tollgate_profile::load("payments.toml", overlay).unwrap_err().to_string();
    assert!(err.contains("absolute.critical-findings-block.checks") && err.contains("no-critical-findings"), "{err}");
}

/// An emergency release walked into its deployment phase, its artefact untagged.
fn emergency_at_deployment(w: &mut World) -> ReleaseId {
    let id = w.create("emergency", Duration::zero());
    while w.release(id).phase != Phase::Deployment {
        w.open_gate(id, Opens::Advance);
        w.sign_off(id);
    }
    id
}

#[test]
fn the_emergency_track_does_not_bypass_the_tag_or_the_provenance() {
    // Given an emergency release whose signed artefact has no tag and no provenance
    let mut w = World::qms();
    let id = emergency_at_deployment(&mut w);
    w.satisfy(id, &Check::ArtefactsSigned);
    let unmet: Vec<String> = w.current_gate(id, Opens::Deploy).unmet().map(|c| c.id.clone()).collect();
    // Then the pre-deployment gate wants both, and no override gives them
    assert!(unmet.contains(&"release-tagged".into()) && unmet.contains(&"artefact-built-from-tag".into()), "{unmet:?}");
    let refused = rules(&w.refused("eve", override_(id, "artefact-built-from-tag")));
    assert!(refused.contains("absolute-rule"), "{refused:?}");
    w.open_gate_but(id, "artefact-built-from-tag");
    w.ok("rita", Command::Go { release: id });
    assert!(rules(&w.refused("dev", deploy(id))).contains("gate:pre-deployment/artefact-built-from-tag"));
}

#[test]
fn a_deployment_of_an_artefact_without_provenance_raises_the_second_non_conformance_itself() {
    // Given a profile whose emergency gate forgot the provenance criteria
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let mut profile = tollgate_profile::load("qms.toml", text).unwrap();
    profile.reason = "initial adoption".into();
    trust_rehearsal_build(&mut profile.policy);
    for g in profile.policy.gates.iter_mut().filter(|g| g.track == Track::Emergency) {
        g.criteria.retain(|c| !matches!(c.check, Check::Provenance | Check::Tagged));
    }
    let mut w = World::with_profile(profile, QMS_PEOPLE);
    let id = emergency_at_deployment(&mut w);
    w.open_gate_but(id, "go-decision");
    w.ok("rita", Command::Go { release: id });
    // When it is deployed to production
    let events = w.ok("dev", deploy(id));
    // Then 6.2's "artefact not built from a tagged, reviewed commit" is raised, not left to `nc raise`
    let raised: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::NcRaised(nc) => Some(nc.condition.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(raised, ["artefact-not-from-tagged-commit"]);
}

fn junit_report(tests: u64, skipped: u64) -> Report {
    let counts = TestCounts { tests, failures: 0, errors: 0, skipped };
    Report::Tests(TestReport { suites: vec![SuiteCounts { name: "s".into(), counts }], totals: counts, failed: vec![] })
}

#[test]
fn a_report_whose_every_test_was_skipped_or_that_holds_none_is_not_a_pass() {
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    for (tests, skipped, says) in [(40, 40, "all 40 tests were skipped"), (0, 0, "the report holds no test cases")] {
        let report = w.evidence(id, "unit", EvidenceKind::Junit, "unit.xml", junit_report(tests, skipped));
        let report = if w.release(id).evidence.is_empty() { report } else { rerun(report, "the suite ran empty") };
        w.ok("dev", report);
        let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
        assert!(!met && reason.contains(says), "{reason}");
    }
    // A run with some tests skipped and the rest passing counts, and says what counted
    w.ok("dev", rerun(w.evidence(id, "unit", EvidenceKind::Junit, "unit.xml", junit_report(40, 3)), "suite fixed"));
    let reason = criterion(&w, id, "testing", "mandatory-test-phases").1;
    assert!(
        reason.contains("unit passed on evidence: E-3 40 tests: 37 passed, 0 failed, 0 errors, 3 skipped (rerun superseding E-2: suite fixed)"),
        "{reason}"
    );
}

#[test]
fn one_report_file_cannot_pass_two_test_phases() {
    // Given the unit report recorded
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    let unit = w.junit(id, "unit", 25, 0);
    let Command::AddEvidence { file_digest, .. } = &unit else { unreachable!() };
    let file_digest = file_digest.clone();
    w.ok("dev", unit);
    // When the same bytes are recorded for the regression phase
    let mut again = w.junit(id, "regression", 25, 0);
    if let Command::AddEvidence { file_digest: d, .. } = &mut again {
        *d = file_digest;
    }
    // Then it is refused, naming the earlier record
    let refusals = w.refused("quinn", again);
    assert_eq!(rules(&refusals), ["evidence-reused".to_owned()].into());
    assert!(refusals[0].reason.contains("E-1, evidence for unit"), "{}", refusals[0].reason);
}

#[test]
fn a_second_artefact_added_after_testing_needs_its_own_evidence() {
    // Given a minor release tested and ready to deploy with one artefact
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.open_gate_but(id, "go-decision");
    // When a second, untested artefact is added
    w.ok(
        "dev",
        Command::AddArtefact {
            release: id,
            name: "payments-worker".into(),
            digest: Digest::from_sha256([0x42; 32]),
            verifications: vec![],
        },
    );
    // Then every test phase wants evidence against it
    let (met, reason) = criterion(&w, id, "pre-deployment", "mandatory-test-phases");
    assert!(!met && reason.contains("no JUnit test report recorded against payments-worker sha256:4242"), "{reason}");
    w.ok("rita", Command::Go { release: id });
    assert!(rules(&w.refused("dev", deploy(id))).contains("gate:pre-deployment/mandatory-test-phases"));
}

#[test]
fn a_skip_recorded_before_failing_evidence_does_not_mask_it() {
    // Given the release manager skips integration with a justification
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    w.ok(
        "rita",
        Command::SkipTestPhase { release: id, phase: "integration".into(), justification: "covered by system".into() },
    );
    assert!(criterion(&w, id, "testing", "mandatory-test-phases").1.contains("integration skipped with approval"));
    // When a failing integration report is recorded afterwards
    w.ok("dev", w.junit(id, "integration", 30, 2));
    // Then the phase fails: a skip approves not running it, not a run that failed
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(
        !met && reason.contains("integration was skipped with approval of rita, but its evidence fails"),
        "{reason}"
    );
}

#[test]
fn test_phases_run_in_the_sequence_the_procedure_specifies() {
    // Given a patch release whose regression suite ran before its unit tests
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    w.ok("quinn", w.junit(id, "regression", 50, 0));
    w.pass(Duration::minutes(5));
    for phase in ["unit", "integration", "system"] {
        w.ok("quinn", w.junit(id, phase, 20, 0));
    }
    w.ok("sam", w.clean_scan(id));
    w.ok("sam", w.sbom(id));
    // Then the gate says which phase ran out of order (4.4.3 "in the sequence specified")
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(!met && reason.contains("out of the sequence 4.3 specifies"), "{reason}");
    assert!(reason.contains("regression ran at") && reason.contains("before unit"), "{reason}");
    // When regression runs again, after the others, the sequence holds
    w.ok("quinn", rerun(w.junit(id, "regression", 50, 0), "run again in the specified sequence"));
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(met, "{reason}");
}
