//! Evidence and artefact integrity through the built-in profile: what the gates make of parsed
//! evidence, signatures and provenance, and the attacks each rule stops.

mod support;

use chrono::Duration;
use support::*;
use tollgate_domain::Command;
use tollgate_domain::evidence::{
    Digest, EvidenceKind, PerfMetric, PerfReport, PlanItem, PlanReport, Rating, Report, ScanReport, ScanSubject,
    Verification,
};
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::policy::TrustedBuilder;
use tollgate_domain::release::{ReleaseId, TriageOutcome};

fn criterion(w: &World, id: ReleaseId, gate: &str, criterion: &str) -> (bool, String) {
    let c = w.gate(id, gate).criteria.into_iter().find(|c| c.id == criterion).unwrap();
    (c.met, c.reason)
}

fn signed(digest: &Digest) -> Command {
    let _ = digest;
    Command::AddArtefact {
        release: ReleaseId(1),
        name: "payments".into(),
        digest: digest.clone(),
        verifications: vec![Verification::KeySignature { algorithm: "ecdsa-p256-sha256".into(), key: rehearsal_key() }],
    }
}

fn provenance(builder: &str, git_ref: &str, commit: &str) -> Verification {
    Verification::Provenance {
        builder: builder.into(),
        build_type: "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1".into(),
        repository: "git+https://github.com/acme/payments.git".into(),
        git_ref: git_ref.into(),
        commit: commit.into(),
        key: rehearsal_build_key(),
    }
}

const COMMIT: &str = "9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a";

fn tag(w: &mut World, id: ReleaseId) {
    w.ok(
        "eli",
        Command::RecordSource {
            release: id,
            repository: "https://github.com/acme/payments".into(),
            tag: "v2.4.0".into(),
            commit: COMMIT.into(),
        },
    );
}

#[test]
fn signatures_count_only_from_trusted_keys_and_provenance_only_from_the_release_tag() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Preparation);
    let digest = Digest::from_sha256([1; 32]);
    assert_eq!(
        criterion(&w, id, "preparation", "artefact-signed"),
        (false, "no artefact recorded (`tollgate artefact add`)".into())
    );

    // A signature by a key the profile does not trust is refused, naming the key.
    let stranger = Digest::from_sha256([9; 32]);
    let untrusted = Command::AddArtefact {
        release: id,
        name: "payments".into(),
        digest: digest.clone(),
        verifications: vec![Verification::KeySignature { algorithm: "ed25519".into(), key: stranger.clone() }],
    };
    let r = w.refused("dev", untrusted);
    assert_eq!(rules(&r), ["signature".to_owned()].into());
    assert!(r[0].reason.contains(stranger.as_str()), "{}", r[0].reason);

    w.ok("dev", signed(&digest));
    let (met, reason) = criterion(&w, id, "preparation", "artefact-signed");
    assert!(met && reason.contains("ecdsa-p256-sha256 signature"), "{reason}");

    // Provenance before the tag is recorded has nothing to be compared with.
    let with = |v: Verification| Command::AddArtefact {
        release: id,
        name: "payments".into(),
        digest: digest.clone(),
        verifications: vec![v],
    };
    let builder = REHEARSAL_BUILDER;
    let early = w.refused("dev", with(provenance(builder, "refs/tags/v2.4.0", COMMIT)));
    assert!(early[0].reason.contains("record the release's repository, tag and commit first"), "{}", early[0].reason);
    tag(&mut w, id);
    for (v, says) in [
        (provenance("https://evil.example/builder", "refs/tags/v2.4.0", COMMIT), "is not a trusted builder"),
        (provenance(builder, "refs/heads/main", COMMIT), "built from refs/heads/main, not from a tag"),
        (provenance(builder, "refs/tags/v2.3.9", COMMIT), "but the release is tagged refs/tags/v2.4.0"),
        (provenance(builder, "refs/tags/v2.4.0", &"0".repeat(40)), "but the release tag points at"),
    ] {
        let r = w.refused("dev", with(v));
        assert_eq!(rules(&r), ["provenance".to_owned()].into());
        assert!(r[0].reason.contains(says), "{} ≠ {says}", r[0].reason);
    }
    w.ok("dev", with(provenance(builder, "refs/tags/v2.4.0", COMMIT)));
    let (met, reason) = criterion(&w, id, "preparation", "artefact-built-from-tag");
    assert!(met, "{reason}");
    assert!(criterion(&w, id, "preparation", "release-tagged").0);
}

#[test]
fn provenance_counts_only_when_signed_by_a_key_pinned_to_the_builder_it_names() {
    // Given a profile trusting two builders, each pinned to its own key, and a signing key
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let mut profile = tollgate_profile::load(&tollgate_profile::builtin_source_name("qms-dev-pro-004"), text).unwrap();
    profile.reason = "initial adoption".into();
    trust_rehearsal_build(&mut profile.policy);
    let other_builder = "https://ci.example.com/other-runner";
    let other_key = Digest::from_sha256([0x0b; 32]);
    profile
        .policy
        .artefacts
        .builders
        .push(TrustedBuilder { id: other_builder.into(), keys: [other_key.clone()].into() });
    let mut w = World::with_profile(profile, QMS_PEOPLE);
    let id = w.release_in("minor", Phase::Preparation);
    let digest = Digest::from_sha256([1; 32]);
    tag(&mut w, id);
    let with = |v: Verification| Command::AddArtefact {
        release: id,
        name: "payments".into(),
        digest: digest.clone(),
        verifications: vec![v],
    };
    let signed_by = |builder: &str, key: &Digest| {
        let mut v = provenance(builder, "refs/tags/v2.4.0", COMMIT);
        if let Verification::Provenance { key: k, .. } = &mut v {
            *k = key.clone();
        }
        v
    };
    // When provenance names the rehearsal builder but is signed with the other builder's key,
    // or with the key trusted only for artefact signatures, Then it is refused
    for key in [&other_key, &rehearsal_key()] {
        let r = w.refused("dev", with(signed_by(REHEARSAL_BUILDER, key)));
        assert_eq!(rules(&r), ["provenance".to_owned()].into());
        assert!(
            r[0].reason.contains(&format!(
                "the provenance names builder {REHEARSAL_BUILDER} but was signed with key {key}, which the profile does not pin to that builder"
            )),
            "{}",
            r[0].reason
        );
    }
    assert!(w.state.releases[&id].artefacts.is_empty(), "a refused artefact is not recorded");
    // And each builder's own key counts for it
    w.ok("dev", with(signed_by(other_builder, &other_key)));
    w.ok("dev", with(signed_by(REHEARSAL_BUILDER, &rehearsal_build_key())));
    assert!(criterion(&w, id, "preparation", "artefact-built-from-tag").0);
}

#[test]
fn a_rebuild_makes_earlier_evidence_and_signatures_stop_counting() {
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    let first = Digest::from_sha256([1; 32]);
    w.ok("dev", signed(&first));
    w.ok("dev", w.junit(id, "unit", 10, 0));
    assert!(criterion(&w, id, "testing", "mandatory-test-phases").1.contains("unit passed on evidence"));

    let second = Digest::from_sha256([2; 32]);
    w.ok(
        "dev",
        Command::AddArtefact { release: id, name: "payments".into(), digest: second.clone(), verifications: vec![] },
    );
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(!met);
    assert!(
        reason.contains(&format!("unit not passed: no JUnit test report recorded against payments {} (E-1 was recorded against {}, since rebuilt)", second.short(), first.short())),
        "{reason}"
    );
    // Evidence cannot be bound to the old build any more.
    let mut old = w.junit(id, "unit", 10, 0);
    if let Command::AddEvidence { artefact, .. } = &mut old {
        *artefact = Some(first.clone());
    }
    assert_eq!(rules(&w.refused("dev", old)), ["artefact-rebuilt".to_owned()].into());
    let (met, reason) = criterion(&w, id, "pre-deployment", "artefact-signed");
    assert!(!met && reason.contains("has no trusted signature since its rebuild"), "{reason}");
}

#[test]
fn an_sbom_for_another_artefact_is_refused() {
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    let other = Digest::from_sha256([5; 32]);
    let r = w.refused("sam", w.sbom_describing(id, other.clone()));
    assert_eq!(rules(&r), ["sbom-subject".to_owned()].into());
    assert!(r[0].reason.contains(other.short()), "{}", r[0].reason);
    w.ok("sam", w.sbom(id));
}

#[test]
fn a_scan_of_another_image_is_refused_naming_both_digests_and_records_nothing() {
    // Given a release whose artefact is payments build 1
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    let artefact = w.artefact(id, "payments", 1);
    w.ok("sam", w.sbom(id));
    let before = w.state.releases[&id].evidence.len();
    // When a clean Grype report of another image is recorded against it
    let other = Digest::from_sha256([5; 32]);
    let r = w.refused("sam", w.scan_naming(id, vec![ScanSubject::Digest(other.clone())], vec![]));
    // Then it is refused, saying which image it names, and nothing is recorded
    assert_eq!(rules(&r), ["scan-subject".to_owned()].into());
    assert!(
        r[0].reason.contains(&format!("grype.json: scan names {other} not the artefact {artefact}")),
        "{}",
        r[0].reason
    );
    assert_eq!(w.state.releases[&id].evidence.len(), before);
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(!met && reason.contains("no vulnerability report recorded against payments"), "{reason}");
    // And the same report naming the artefact counts
    w.ok("sam", w.scan_naming(id, vec![ScanSubject::Digest(other), ScanSubject::Digest(artefact)], vec![]));
    assert!(!criterion(&w, id, "testing", "mandatory-test-phases").1.contains("security-scan not passed"));
}

#[test]
fn a_scan_that_names_nothing_is_not_a_clean_scan() {
    // Given a release with an artefact
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    // When a report with no findings and no subject (a Grype run over nothing, an empty SARIF
    // log) is recorded, Then it is refused rather than taken as clean
    let r = w.refused("sam", w.scan_naming(id, vec![], vec![]));
    assert_eq!(rules(&r), ["scan-subject".to_owned()].into());
    assert!(r[0].reason.contains("grype.json: the scan names nothing it scanned"), "{}", r[0].reason);
    assert!(r[0].reason.contains("a report that says nothing is not a clean scan"), "{}", r[0].reason);
}

fn codeql(w: &World, id: ReleaseId, repository: Option<&str>, commit: &str) -> Command {
    let report = ScanReport {
        tool: "CodeQL 2.19.0".into(),
        open: Default::default(),
        excluded: Default::default(),
        findings: vec![],
        cleared: vec![],
        subjects: vec![ScanSubject::Commit { repository: repository.map(str::to_owned), commit: commit.into() }],
    };
    w.evidence(id, "security-scan", EvidenceKind::Sarif, "codeql.sarif", Report::Scan(report))
}

#[test]
fn a_source_scan_counts_only_for_the_commit_the_release_is_built_from() {
    // Given a release with an artefact, built from the commit its walker tagged
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    const REPO: &str = "https://github.com/acme/payments.git";
    let repo = Some(REPO);
    // A CodeQL log of COMMIT is about another commit
    let r = w.refused("sam", codeql(&w, id, repo, COMMIT));
    assert_eq!(rules(&r), ["scan-subject".to_owned()].into());
    assert!(r[0].reason.contains("the release is built from"), "{}", r[0].reason);
    // Once the release is recorded as built from COMMIT
    tag(&mut w, id);
    // A scan of another commit, or of the same commit id in another repository, is refused
    let other = "1".repeat(40);
    let r = w.refused("sam", codeql(&w, id, repo, &other));
    assert!(
        r[0].reason.contains(&format!("scan names commit {other} of {}, not the commit {COMMIT}", REPO)),
        "{}",
        r[0].reason
    );
    assert_eq!(
        rules(&w.refused("sam", codeql(&w, id, Some("https://github.com/evil/fork"), COMMIT))),
        ["scan-subject".to_owned()].into()
    );
    // A scan of the release's commit counts
    w.ok("sam", codeql(&w, id, repo, COMMIT));
    let security = |w: &World| {
        let (_, reason) = criterion(w, id, "testing", "mandatory-test-phases");
        reason.split("; ").filter(|p| p.contains("codeql.sarif")).map(str::to_owned).collect::<Vec<_>>()
    };
    assert!(security(&w).is_empty(), "{:?}", security(&w));
    // When the release source is recorded anew at another commit, the old scan stops counting
    w.ok(
        "eli",
        Command::RecordSource {
            release: id,
            repository: "https://github.com/acme/payments".into(),
            tag: "v2.4.1".into(),
            commit: other.clone(),
        },
    );
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(!met && reason.contains(&format!("codeql.sarif: scan names commit {COMMIT}")), "{reason}");
}

#[test]
fn a_vex_statement_about_another_product_clears_nothing() {
    // Given a Critical reported against the artefact
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    let artefact = w.artefact(id, "payments", 1);
    w.ok("sam", w.scan(id, vec![cve("CVE-2024-0001", Rating::Critical)]));
    // When a VEX document naming another product says not_affected, Then it is refused
    let mut vex = w.scan_naming(id, vec![ScanSubject::Digest(Digest::from_sha256([6; 32]))], vec![]);
    if let Command::AddEvidence { report, .. } = &mut vex
        && let Report::Scan(s) = report.as_mut()
    {
        s.cleared = vec!["CVE-2024-0001".into()];
    }
    assert_eq!(rules(&w.refused("sam", vex)), ["scan-subject".to_owned()].into());
    let (met, reason) = criterion(&w, id, "testing", "no-critical-findings");
    assert!(!met && reason.contains(&format!("CVE-2024-0001 in payments {}", artefact.short())), "{reason}");
}

#[test]
fn a_critical_blocks_a_high_needs_a_security_triage_and_an_expired_acceptance_shuts_the_gate_again() {
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    w.ok("sam", w.sbom(id));
    w.ok("sam", w.scan(id, vec![cve("CVE-2024-0001", Rating::Critical), cve("CVE-2024-0002", Rating::High)]));
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(!met);
    assert!(
        reason.contains("CVE-2024-0001 (critical) in pkg:npm/lodash@4.17.20 (reported by E-2) blocks the release"),
        "{reason}"
    );
    assert!(
        reason.contains("CVE-2024-0002 (high) in pkg:npm/lodash@4.17.20 (reported by E-2) needs triage"),
        "{reason}"
    );

    let until = w.0.now + Duration::days(30);
    let triage = |finding: &str, until| Command::TriageFinding {
        release: id,
        finding: finding.into(),
        outcome: TriageOutcome::AcceptRisk,
        until,
        comment: "not reachable from our code paths".into(),
    };
    assert_eq!(rules(&w.refused("quinn", triage("CVE-2024-0002", until))), ["role".to_owned()].into());
    assert_eq!(rules(&w.refused("sam", triage("CVE-2024-0001", until))), ["max-accepted-risk".to_owned()].into());
    w.invalid("sam", triage("CVE-2099-0000", until));
    w.invalid("sam", triage("CVE-2024-0002", w.0.now - Duration::days(1)));

    // The same artefact rescanned without the Critical closes nothing: the same bytes hold the
    // same vulnerability (findings accumulate per digest).
    w.ok("sam", w.scan(id, vec![cve("CVE-2024-0002", Rating::High)]));
    let (met, reason) = criterion(&w, id, "testing", "no-critical-findings");
    assert!(!met && reason.contains("CVE-2024-0001 in payments sha256:010101010101 (E-2)"), "{reason}");
    // The fixed build is scanned: only the High remains, and is accepted for a day.
    w.artefact(id, "payments", 3);
    w.ok("sam", w.sbom(id));
    w.ok("sam", w.scan(id, vec![cve("CVE-2024-0002", Rating::High)]));
    assert!(criterion(&w, id, "testing", "no-critical-findings").0);
    w.ok("sam", triage("CVE-2024-0002", w.0.now + Duration::days(1)));
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(reason.contains("security-scan passed on evidence"), "{reason}");
    let _ = met;
    w.0.now += Duration::days(2);
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(!met);
    assert!(
        reason.contains("CVE-2024-0002 (high) in pkg:npm/lodash@4.17.20 (reported by E-5): the triage by sam (accept-risk) expired at"),
        "{reason}"
    );
}

#[test]
fn critical_drift_and_slo_regressions_need_their_owners() {
    let mut w = World::qms();
    let id = w.release_in("infrastructure", Phase::Testing);
    w.artefact(id, "payments", 1);
    let plan = PlanReport {
        terraform_version: "1.9.5".into(),
        changes: [("update".to_owned(), 2)].into(),
        drift: vec![
            PlanItem {
                address: "aws_security_group.web".into(),
                resource_type: "aws_security_group".into(),
                action: "update".into(),
            },
            PlanItem {
                address: "aws_db_instance.main".into(),
                resource_type: "aws_db_instance".into(),
                action: "delete".into(),
            },
        ],
        changed: vec![],
    };
    w.ok("dev", w.evidence(id, "infrastructure", EvidenceKind::Tfplan, "plan.json", Report::Plan(plan)));
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(
        !met && reason.contains("aws_db_instance.main was deleted outside Terraform (critical drift) needs triage"),
        "{reason}"
    );
    assert!(!reason.contains("aws_security_group.web"), "an update is not critical by default: {reason}");
    let until = w.0.now + Duration::days(3);
    let accept = |finding: &str| Command::TriageFinding {
        release: id,
        finding: finding.into(),
        outcome: TriageOutcome::Remediate,
        until,
        comment: "restored from snapshot in INFRA-12".into(),
    };
    assert_eq!(rules(&w.refused("sam", accept("aws_db_instance.main"))), ["role".to_owned()].into());
    w.ok("pla", accept("aws_db_instance.main"));
    assert!(!criterion(&w, id, "testing", "mandatory-test-phases").1.contains("aws_db_instance.main"));

    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Testing);
    w.artefact(id, "payments", 1);
    let metric = |name: &str, baseline: f64, value: f64, higher: bool| PerfMetric {
        name: name.into(),
        unit: None,
        baseline,
        value,
        higher_is_better: higher,
        slo: true,
    };
    let perf = PerfReport {
        metrics: vec![metric("checkout_p95_ms", 180.0, 205.0, false), metric("orders_per_s", 1000.0, 950.0, true)],
    };
    w.ok("omar", w.evidence(id, "performance", EvidenceKind::Perf, "k6.json", Report::Perf(perf)));
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(
        !met && reason
            .contains("checkout_p95_ms regressed 13.9% from the baseline 180 to 205 (threshold 10%) needs triage"),
        "{reason}"
    );
    assert!(!reason.contains("orders_per_s"), "5% is within the threshold: {reason}");
}

#[test]
fn a_go_decision_goes_stale_when_the_artefact_is_rebuilt() {
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("patch");
    w.ok("rita", Command::Go { release: id });
    let (met, reason) = criterion(&w, id, "pre-deployment", "go-decision");
    assert!(met, "{reason}");
    w.ok(
        "dev",
        Command::AddArtefact {
            release: id,
            name: "payments".into(),
            digest: Digest::from_sha256([0xab; 32]),
            verifications: vec![],
        },
    );
    let (met, reason) = criterion(&w, id, "pre-deployment", "go-decision");
    assert!(!met && reason.contains("an artefact was added or rebuilt"), "{reason}");
}

#[test]
fn a_second_test_report_for_the_same_phase_and_artefact_is_refused_without_a_rerun_reason() {
    // Given a failing integration report of the artefact
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    w.ok("dev", w.junit(id, "integration", 30, 2));
    // When a passing report of the same phase and artefact is recorded, under another name,
    // without a reason
    let mut passing = w.junit(id, "integration", 30, 0);
    if let Command::AddEvidence { file, .. } = &mut passing {
        *file = "integration-rerun.xml".into();
    }
    let refusals = w.refused("dev", passing.clone());
    // Then it is refused, naming the earlier evidence and the flag, and nothing is recorded
    assert_eq!(rules(&refusals), ["rerun-reason".to_owned()].into());
    let reason = &refusals[0].reason;
    assert!(reason.contains("E-1 integration.xml") && reason.contains("--rerun-reason"), "{reason}");
    // And the same file name does not make it a silent replacement either
    assert_eq!(rules(&w.refused("dev", w.junit(id, "integration", 30, 0))), ["rerun-reason".to_owned()].into());
    assert!(!w.release(id).evidence.iter().any(|e| e.value.file == "integration-rerun.xml"));
}

#[test]
fn a_rerun_with_its_reason_counts_and_the_earlier_report_stays_in_the_record_as_superseded() {
    // Given a failing integration report of the artefact
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    w.ok("dev", w.junit(id, "integration", 30, 2));
    assert!(criterion(&w, id, "testing", "mandatory-test-phases").1.contains("E-1 integration.xml"));
    // When it is run again and recorded with the reason
    w.ok("dev", rerun(w.junit(id, "integration", 30, 0), "flaky gateway stub fixed in CI-812"));
    // Then the new report is the one that counts, both stay in the record, and the gate says
    // which superseded which and why
    let r = w.release(id);
    assert_eq!(r.evidence.len(), 2);
    let current: Vec<usize> = r.current_evidence("integration").iter().map(|(i, _)| *i).collect();
    assert_eq!(current, [1]);
    assert_eq!(r.superseded_by(0).map(|(i, _)| i), Some(1));
    assert_eq!(r.evidence[1].value.rerun_reason.as_deref(), Some("flaky gateway stub fixed in CI-812"));
    let reason = criterion(&w, id, "testing", "mandatory-test-phases").1;
    assert!(reason.contains("E-2 30 tests: 30 passed") && !reason.contains("E-1 integration.xml"), "{reason}");
    assert!(reason.contains("(rerun superseding E-1: flaky gateway stub fixed in CI-812)"), "{reason}");
}

#[test]
fn a_rerun_reason_without_an_earlier_report_is_refused_as_meaningless() {
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    let invalid = w.invalid("dev", rerun(w.junit(id, "integration", 30, 0), "again"));
    assert!(invalid[0].contains("has no JUnit test report"), "{invalid:?}");
}

#[test]
fn a_clean_rescan_with_a_rerun_reason_still_never_closes_an_earlier_finding() {
    // Given a scan of the artefact listing a Critical
    let mut w = World::qms();
    let id = w.release_in("patch", Phase::Testing);
    w.artefact(id, "payments", 1);
    w.ok("sam", w.scan(id, vec![cve("CVE-2024-0001", Rating::Critical)]));
    // When a clean scan of the same artefact is recorded as a rerun, with its reason
    w.ok("sam", rerun(w.clean_scan(id), "rescanned after the base image update"));
    // Then the rerun is recorded, and the Critical is still open, reported by E-1
    assert!(w.release(id).superseded_by(0).is_some());
    let (met, reason) = criterion(&w, id, "testing", "no-critical-findings");
    assert!(!met && reason.contains("CVE-2024-0001"), "{reason}");
    let (met, reason) = criterion(&w, id, "testing", "mandatory-test-phases");
    assert!(!met && reason.contains("reported by E-1"), "{reason}");
}
