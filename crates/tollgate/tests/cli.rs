//! End to end through the binary: a full minor release and a full emergency release under the
//! procedure's own clocks (a week's lead time, 24 hours to document an emergency), rehearsed on
//! sandbox stores whose time passes only by `tollgate clock advance`: nobody waits, and no
//! deadline is missed or met by how loaded the machine is. The recording on the real clock has
//! its own test.

mod support;

use support::*;

fn release_create(tg: &Tg, args: &[&str]) -> String {
    let mut all = vec!["release", "create"];
    all.extend_from_slice(args);
    let v = tg.json("eli", &all);
    v["id"].as_str().unwrap().to_owned()
}

fn write(tg: &Tg, name: &str, text: &str) -> String {
    let path = tg.path(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn gate(tg: &Tg, id: &str) -> serde_json::Value {
    tg.gate("rita", &[id])
}

/// `tollgate check` for payments' artefact: yes or no, with every unmet condition's id.
fn may_deploy(tg: &Tg, digest: &str, env: &str) -> (bool, Vec<String>, serde_json::Value) {
    let (yes, v) = tg.answer("dev", &["check", "--service", "payments", "--artefact", digest, "--env", env]);
    assert_eq!(Some(yes), v["allowed"].as_bool(), "{v}");
    let unmet = v["unmet"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    (yes, unmet, v)
}

fn unmet(v: &serde_json::Value) -> Vec<String> {
    v["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["met"].as_bool().unwrap())
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_full_minor_release_through_every_gate() {
    full_minor_release(false);
}

/// The same, every command a client of `tollgate serve` with the person's own token: the same
/// output and exit codes.
#[test]
fn a_full_minor_release_through_every_gate_through_the_server() {
    full_minor_release(true);
}

/// A minor release of payments created by eli, its window opening in eight days (the
/// procedure's lead time is a week); its id.
fn rehearsed_minor_release(tg: &Tg, version: &str) -> String {
    let window = ["--window-start", "+8 days", "--window-end", "+9 days"];
    let mut args = vec!["--service", "payments", "--version", version, "--type", "minor", "--title", "Faster refunds"];
    args.extend(window);
    release_create(tg, &args)
}

fn full_minor_release(remote: bool) {
    let tg = Tg::new();
    let ci = ci::Ci::new(tg.dir.path());
    let keys = [ci::fingerprint(&ci.dir, &ci.sign_pub), ci::fingerprint(&ci.dir, &ci.build_pub)];
    let profile = profile_trusting(tg.dir.path(), &keys, &[(ci::BUILDER, keys[1].as_str())]);
    init_sandbox_with_people(&tg, profile.to_str().unwrap());
    // The pipeline's service identity deploys: a person of the store with a deploy role, which
    // through the server is a GitHub Actions job authenticated by its OIDC ID token.
    tg.ok("rita", &["person", "add", "ci-payments", "--role", "devops-engineer"]);
    let issuers = remote.then(|| oidc::Issuers::start(tg.dir.path()));
    if let Some(issuers) = &issuers {
        tg.serve_with("rita", &["--oidc", issuers.config.to_str().unwrap()]);
        tg.authenticate_as("ci-payments", issuers.github_token("acme/payments", "production"));
        // dev signs in through the company's SSO rather than with an API token.
        tg.authenticate_as("dev", issuers.sso_token("dev@example.com"));
    }
    let id = rehearsed_minor_release(&tg, "2.4.0");
    assert_eq!(id, "R-1");
    let show = tg.json("rita", &["release", "show", &id]);
    assert_eq!(show["sandbox"], true, "every answer of a sandbox says so");
    assert_eq!(
        (show["service"].as_str(), show["type"].as_str(), show["phase"].as_str(), show["profile_version"].as_str()),
        (Some("payments"), Some("minor"), Some("planning"), Some("1.0"))
    );
    assert_eq!(show["profile"], "qms-trusting");

    // Planning: the gate explains what is missing, and advancing is refused (exit 3).
    let g = gate(&tg, &id);
    assert_eq!(g["release"], "R-1");
    assert_eq!(g["open"], false);
    assert!(unmet(&g).contains(&"scope-locked".to_owned()));
    let refused = tg.run("rita", &["release", "advance", &id]);
    check(&refused, 3, &["advance"]);
    assert!(stderr(&refused).contains("[gate:planning/scope-locked] scope is not locked"), "{}", stderr(&refused));
    assert!(stderr(&refused).starts_with("SANDBOX — rehearsal store"), "{}", stderr(&refused));
    tg.ok("eli", &["release", "scope", &id, "--add", "ticket:PAY-1", "--rollback", "pipeline rollback"]);
    tg.ok("rita", &["release", "scope", &id, "--lock"]);
    tg.ok(
        "eli",
        &[
            "release",
            "plan",
            &id,
            "--impact",
            "refund service and ledger",
            "--blast-radius",
            "refunds delayed for all merchants",
            "--rollback-strategy",
            "redeploy 2.3.9",
        ],
    );
    tg.ok("omar", &["release", "confirm", &id, "maintenance-window-confirmed"]);
    tg.ok("rita", &["release", "confirm", &id, "release-schedule-published"]);
    tg.expect(3, "eli", &["release", "approve", &id]);
    tg.ok("rita", &["release", "approve", &id]);
    tg.ok("quinn", &["release", "approve", &id, "--comment", "test plan agreed"]);
    {
        let g = gate(&tg, &id);
        assert_eq!(g["open"], true, "{:?}", unmet(&g));
    }
    tg.ok("rita", &["release", "advance", &id]);

    // Preparation.
    for (who, check, comment) in [
        ("eli", "code-freeze", None),
        ("eli", "package-assembled", None),
        ("eli", "code-review-complete", None),
        ("dev", "environments-production-equivalent", None),
        ("dev", "operations-notified", None),
    ] {
        let mut args = vec!["release", "confirm", &id, check];
        if let Some(c) = comment {
            args.extend(["--comment", c]);
        }
        tg.ok(who, &args);
    }
    for kind in ["release-notes", "deployment-runbook", "rollback-runbook", "monitoring-runbook"] {
        let file = write(&tg, &format!("{kind}.md"), &format!("# {kind}\n"));
        tg.ok("eli", &["release", "doc", &id, "--kind", kind, "--file", &file]);
    }
    // The tag, the signed artefact and its provenance, verified from real files.
    assert_eq!(unmet(&gate(&tg, &id)), ["release-tagged", "artefact-built-from-tag", "artefact-signed"]);
    tg.ok("eli", &["release", "source", &id, "--repo", ci::REPO, "--tag", "v2.4.0", "--commit", ci::COMMIT]);
    let (artefact, sig, digest) = ci.build("payments-2.4.0.tar.gz", b"the payments service, release 2.4.0");
    let provenance = ci.provenance("payments", &digest, ci::BUILDER, "refs/tags/v2.4.0");
    let build_pub = ci.build_pub.display().to_string();
    let sign_pub = ci.sign_pub.display().to_string();
    tg.ok(
        "dev",
        &[
            "artefact",
            "add",
            &id,
            "--name",
            "payments",
            "--file",
            &artefact,
            "--signature",
            &sig,
            "--key",
            &sign_pub,
            "--provenance",
            &provenance,
            "--provenance-key",
            &build_pub,
        ],
    );
    let show = tg.json("rita", &["release", "show", &id]);
    assert_eq!(show["artefacts"][0]["digest"], digest.as_str());
    assert_eq!(show["artefacts"][0]["verifications"][0]["trusted"], true);
    assert_eq!(show["artefacts"][0]["verifications"][1]["trusted"], true);
    tg.ok("rita", &["release", "advance", &id]);

    // Testing: CI's own files, judged by Tollgate.
    // In the sequence 4.3 gives: unit, integration, system, performance, security, regression.
    for (who, phase) in [("dev", "unit"), ("dev", "integration"), ("quinn", "system")] {
        let junit = ci.junit(&format!("{phase}.xml"), 12, 0);
        tg.ok(who, &["evidence", "add", &id, "--phase", phase, "--junit", &junit]);
    }
    let perf = ci.perf("k6.json", 185.0);
    tg.ok("omar", &["evidence", "add", &id, "--phase", "performance", "--perf", &perf]);
    let sbom = ci.sbom("sbom.cdx.json", &digest);
    tg.ok("sam", &["evidence", "add", &id, "--phase", "security-scan", "--sbom", &sbom]);
    let grype = ci.grype("grype.json", &digest, &[("CVE-2021-23337", "High"), ("CVE-2020-28500", "Medium")]);
    let out = tg.ok("sam", &["evidence", "add", &id, "--phase", "security-scan", "--vulns", &grype]);
    assert!(
        out.contains("does not pass: CVE-2021-23337 (high) in pkg:npm/lodash@4.17.20 (reported by E-6) needs triage"),
        "{out}"
    );
    tg.ok(
        "sam",
        &[
            "evidence",
            "triage",
            &id,
            "CVE-2021-23337",
            "--accept-risk",
            "--until",
            "+30d",
            "--comment",
            "template paths unused; SEC-91",
        ],
    );
    let regression = ci.junit("regression.xml", 12, 0);
    tg.ok("quinn", &["evidence", "add", &id, "--phase", "regression", "--junit", &regression]);
    tg.ok("omar", &["release", "confirm", &id, "performance-baseline-compared"]);
    tg.ok("sam", &["release", "confirm", &id, "security-scan-within-threshold"]);
    tg.ok("quinn", &["release", "confirm", &id, "readiness-checklist-complete"]);
    // The pipeline may take the build to a test environment now, not to production.
    let (yes, _, qa) = may_deploy(&tg, &digest, "qa");
    assert!(yes, "{qa}");
    assert_eq!(
        (qa["release"].as_str(), qa["phase"].as_str(), &qa["gate"]),
        (Some("R-1"), Some("testing"), &serde_json::Value::Null)
    );
    let (yes, unmet, _) = may_deploy(&tg, &digest, "production");
    assert!(!yes);
    assert!(unmet.contains(&"phase".to_owned()), "{unmet:?}");
    tg.ok("quinn", &["release", "advance", &id]);

    // Deployment. Monitoring is confirmed before the window opens (3.6); eight days pass, the
    // window opens, and the release manager moves it.
    tg.advance("8 days");
    let late = tg.run("omar", &["release", "confirm", &id, "monitoring-active"]);
    check(&late, 3, &["monitoring confirmed after the window opened"]);
    assert!(stderr(&late).contains("[window-opened]"), "{}", stderr(&late));
    tg.ok("rita", &["release", "reschedule", &id, "--window-start", "+8 days", "--window-end", "+9 days"]);
    for check in ["monitoring-active", "alerting-configured", "on-call-confirmed"] {
        tg.ok("omar", &["release", "confirm", &id, check]);
    }
    tg.advance("8 days");
    // `check` and `release deploy` agree: no go decision yet.
    let (yes, unmet, answer) = may_deploy(&tg, &digest, "production");
    assert!(!yes);
    assert_eq!(unmet, ["gate:pre-deployment/go-decision"]);
    assert_eq!(answer["gate"]["id"], "pre-deployment");
    // The pipeline's answer on a sandbox says it is a rehearsal's, in the verdict itself.
    assert_eq!(answer["sandbox"], true);
    let text = tg.expect(3, "dev", &["check", "--service", "payments", "--artefact", &digest, "--env", "production"]);
    assert!(text.starts_with("SANDBOX NO: payments sha256:") && text.contains("✗ go-decision"), "{text}");
    let no_go = tg.run("dev", &["release", "deploy", &id, "--env", "production"]);
    check(&no_go, 3, &["deploy"]);
    assert!(
        stderr(&no_go).contains("[gate:pre-deployment/go-decision] no go/no-go decision recorded"),
        "{}",
        stderr(&no_go)
    );
    tg.ok("rita", &["release", "go", &id]);
    tg.ok("eve", &["person", "grant", "rita", "--role", "devops-engineer"]);
    let sod = tg.run("rita", &["release", "deploy", &id, "--env", "production"]);
    check(&sod, 3, &["deploy as go decider"]);
    assert!(stderr(&sod).contains("[separation-of-duties]"), "{}", stderr(&sod));
    if let Some(issuers) = &issuers {
        // Nor under any other identity the go decider holds: her SSO login is still rita.
        tg.authenticate_as("rita", issuers.sso_token("rita@example.com"));
        let sod = tg.run("rita", &["release", "deploy", &id, "--env", "production"]);
        check(&sod, 3, &["deploy as go decider, signed in through SSO"]);
        assert!(stderr(&sod).contains("[separation-of-duties]"), "{}", stderr(&sod));
    }
    let (yes, unmet, answer) = may_deploy(&tg, &digest, "Production");
    assert!(yes, "{unmet:?}");
    assert_eq!(answer["target"]["id"], "production");
    assert!(answer["not_checked"][0].as_str().unwrap().starts_with("who deploys"));
    tg.ok("ci-payments", &["release", "deploy", &id, "--env", "production"]);
    tg.ok("ci-payments", &["release", "deployed", &id, "--outcome", "success"]);
    let (yes, unmet, _) = may_deploy(&tg, &digest, "production");
    assert!(!yes);
    assert!(unmet.contains(&"not-live".to_owned()), "{unmet:?}");
    tg.ok("dev", &["release", "confirm", &id, "pipeline-execution-logged", "--comment", "run 4412"]);
    tg.ok("dev", &["release", "confirm", &id, "smoke-tests-passed"]);
    tg.ok("omar", &["release", "confirm", &id, "no-rollback-trigger"]);
    tg.ok("dev", &["release", "advance", &id]);

    // Stabilisation: two hours for a minor release. The sign-offs speak of the whole window.
    tg.ok("omar", &["release", "confirm", &id, "no-new-error-patterns"]);
    let early = tg.run("omar", &["release", "confirm", &id, "metrics-within-slo"]);
    check(&early, 3, &["metrics within SLO before the window ended"]);
    assert!(stderr(&early).contains("[stabilisation-window]"), "{}", stderr(&early));
    tg.advance("2h");
    tg.ok("omar", &["release", "confirm", &id, "metrics-within-slo"]);
    tg.ok("quinn", &["release", "confirm", &id, "qa-post-deployment-sign-off", "--comment", "QA-88"]);
    tg.ok("omar", &["release", "confirm", &id, "operations-post-deployment-sign-off", "--comment", "OPS-12"]);
    tg.ok("rita", &["release", "advance", &id]);

    // Closure.
    for (who, check) in [
        ("rita", "release-notes-published"),
        ("eli", "documentation-updated"),
        ("rita", "metrics-recorded"),
        ("rita", "release-package-archived"),
        ("rita", "release-record-signed-off"),
    ] {
        tg.ok(who, &["release", "confirm", &id, check]);
    }
    tg.ok("rita", &["release", "confirm", &id, "lessons-learned-recorded", "--comment", "smooth"]);
    tg.ok("rita", &["release", "close", &id]);
    let show = tg.json("rita", &["release", "show", &id]);
    assert_eq!(show["phase"], "closed");
    assert_eq!(show["deployments"][0]["outcome"], "success");
    assert!(tg.json("rita", &["nc", "list"]).as_array().unwrap().is_empty());
    let v = tg.json("rita", &["audit", "verify"]);
    assert_eq!((&v["intact"], &v["sandbox"]), (&true.into(), &true.into()));
    assert!(v["events"].as_u64().unwrap() > 60);
    assert_eq!(v["root"].as_str().unwrap().len(), 64);
    // The rehearsal took sixteen days and two hours of its own clock, and none of the machine's.
    let clock = tg.json("rita", &["clock", "show"]);
    assert_eq!(clock["offset"], "16 days 2h");
}

#[test]
fn a_full_emergency_release_with_its_deadlines() {
    full_emergency_release(false);
}

/// The same rehearsal, every command (the clock's advances too) a client of `tollgate serve`.
#[test]
fn a_full_emergency_release_with_its_deadlines_through_the_server() {
    full_emergency_release(true);
}

fn full_emergency_release(remote: bool) {
    let tg = Tg::new();
    let ci = ci::Ci::new(tg.dir.path());
    let keys = [ci::fingerprint(&ci.dir, &ci.sign_pub), ci::fingerprint(&ci.dir, &ci.build_pub)];
    let profile = profile_trusting(tg.dir.path(), &keys, &[(ci::BUILDER, keys[1].as_str())]);
    init_sandbox_with_people(&tg, profile.to_str().unwrap());
    if remote {
        tg.serve("rita");
    }
    let v = tg.json(
        "omar",
        &[
            "emergency",
            "create",
            "--service",
            "payments",
            "--version",
            "2.4.1",
            "--title",
            "Refunds outage fix",
            "--incident",
            "INC-7",
        ],
    );
    let id = v["id"].as_str().unwrap().to_owned();
    let show = tg.json("rita", &["release", "show", &id]);
    assert_eq!(
        (show["type"].as_str(), show["track"].as_str(), show["phase"].as_str()),
        (Some("emergency"), Some("emergency"), Some("initiation"))
    );
    let pending = tg.json("rita", &["obligations", "--release", &id]);
    assert!(pending.as_array().unwrap().iter().all(|o| o["status"] == "awaiting-deployment"));

    tg.ok("omar", &["release", "confirm", &id, "bridge-assembled"]);
    tg.ok("eli", &["release", "scope", &id, "--add", "ticket:INC-7", "--rollback", "redeploy previous artefact"]);
    tg.ok("eli", &["release", "confirm", &id, "fix-scope-minimal"]);
    tg.ok("eli", &["release", "advance", &id]);
    tg.ok("eli", &["release", "confirm", &id, "impact-assessed-on-bridge", "--comment", "checkout only"]);
    tg.ok("eli", &["release", "confirm", &id, "rollback-option-identified", "--comment", "redeploy 2.4.0"]);
    tg.ok("rita", &["release", "approve", &id]);
    tg.ok("ella", &["release", "approve", &id]);
    tg.ok("rita", &["release", "advance", &id]);
    // Emergencies skip no automated check, no signature and no provenance (4.1, 4.6).
    tg.ok("eli", &["release", "source", &id, "--repo", ci::REPO, "--tag", "v2.4.1", "--commit", ci::COMMIT]);
    let (artefact, sig, digest) = ci.build("payments-2.4.1.tar.gz", b"the payments service, hotfix 2.4.1");
    let provenance = ci.provenance("payments", &digest, ci::BUILDER, "refs/tags/v2.4.1");
    let (sign_pub, build_pub) = (ci.sign_pub.display().to_string(), ci.build_pub.display().to_string());
    tg.ok(
        "dev",
        &[
            "artefact",
            "add",
            &id,
            "--name",
            "payments",
            "--file",
            &artefact,
            "--signature",
            &sig,
            "--key",
            &sign_pub,
            "--provenance",
            &provenance,
            "--provenance-key",
            &build_pub,
        ],
    );
    let unit = ci.junit("unit.xml", 40, 0);
    tg.ok("dev", &["evidence", "add", &id, "--phase", "unit", "--junit", &unit]);
    let sbom = ci.sbom("sbom.json", &digest);
    tg.ok("sam", &["evidence", "add", &id, "--phase", "security-scan", "--sbom", &sbom]);
    let grype = ci.grype("grype.json", &digest, &[]);
    tg.ok("sam", &["evidence", "add", &id, "--phase", "security-scan", "--vulns", &grype]);
    let regression = ci.junit("regression.xml", 200, 0);
    tg.ok("quinn", &["evidence", "add", &id, "--phase", "regression", "--junit", &regression]);
    tg.ok("quinn", &["release", "confirm", &id, "critical-path-verified"]);
    tg.ok("quinn", &["release", "advance", &id]);
    tg.ok("omar", &["release", "confirm", &id, "enhanced-monitoring-active"]);
    tg.ok("dev", &["release", "confirm", &id, "rollback-ready"]);
    tg.ok("rita", &["release", "go", &id]);
    tg.ok("dev", &["release", "deploy", &id, "--env", "production"]);
    tg.ok("dev", &["release", "deployed", &id, "--outcome", "success"]);

    // Deferred steps are now due; the change request is raised in time, within its four hours.
    let due = tg.json("rita", &["obligations", "--release", &id]);
    let ids: Vec<&str> = due.as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["change-request", "planning-and-impact", "skipped-test-review", "documentation", "retrospective-review"]
    );
    assert!(due.as_array().unwrap().iter().all(|o| o["status"] == "open" && o["due_at"].is_string()));
    tg.advance("3h");
    tg.ok("rita", &["release", "confirm", &id, "change-request-raised", "--comment", "CHG-1042"]);
    tg.ok("dev", &["release", "confirm", &id, "pipeline-execution-logged", "--comment", "run 99"]);
    tg.ok("dev", &["release", "advance", &id]);

    // A day later the 24-hour steps are overdue, the five-business-day review not yet: the
    // tick raises a non-conformance per overdue step.
    tg.advance("22h");
    let overdue = tg.json("rita", &["obligations", "--overdue"]);
    let overdue: Vec<&str> = overdue.as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(overdue, ["planning-and-impact", "skipped-test-review", "documentation"]);
    let tick = tg.json("omar", &["tick"]);
    assert_eq!(tick["nonconformances_raised"].as_array().unwrap().len(), 3, "{tick}");
    let ncs = tg.json("rita", &["nc", "list"]);
    let first = &ncs[0];
    for key in ["id", "condition", "release", "service", "raised_at", "due_at", "status"] {
        assert!(!first[key].is_null(), "nc list entry lacks {key}: {first}");
    }
    assert_eq!(first["condition"], "emergency-deferred-overdue");
    assert_eq!(first["release"], id.as_str());
    assert_eq!(first["status"], "open");
    let again = tg.json("omar", &["tick"]);
    assert_eq!(again["recorded"], 0, "a second tick raises nothing new");

    // Late completion, then the emergency closes; the register keeps the lateness.
    tg.ok(
        "eli",
        &[
            "release",
            "plan",
            &id,
            "--impact",
            "checkout",
            "--blast-radius",
            "all card payments",
            "--rollback-strategy",
            "redeploy",
        ],
    );
    tg.ok("quinn", &["release", "confirm", &id, "skipped-tests-reviewed", "--comment", "full suite green on 2.4.1"]);
    for kind in ["release-notes", "deployment-runbook"] {
        let file = write(&tg, &format!("{kind}.md"), "# written after the fact\n");
        tg.ok("eli", &["release", "doc", &id, "--kind", kind, "--file", &file]);
    }
    tg.ok("rita", &["release", "confirm", &id, "retrospective-review", "--comment", "RCA-7"]);
    tg.ok("omar", &["release", "confirm", &id, "incident-resolved"]);
    tg.ok("omar", &["release", "confirm", &id, "no-new-error-patterns"]);
    tg.ok("rita", &["release", "advance", &id]);
    tg.ok("omar", &["release", "confirm", &id, "metric-snapshot-recorded", "--comment", "grafana snapshot 77"]);
    tg.ok("rita", &["release", "confirm", &id, "release-record-signed-off"]);
    tg.ok("rita", &["release", "close", &id]);
    assert_eq!(tg.json("rita", &["release", "show", &id])["phase"], "closed");
    let nc = first["id"].as_str().unwrap();
    tg.expect(3, "dev", &["nc", "close", nc, "--corrective-action", "x"]);
    tg.ok(
        "rita",
        &["nc", "close", nc, "--corrective-action", "deferred steps now tracked on the incident bridge checklist"],
    );
    let ncs = tg.json("rita", &["nc", "list"]);
    assert_eq!(ncs[0]["status"], "closed");
    let audit = tg.json("rita", &["audit", "verify"]);
    assert_eq!((&audit["intact"], &audit["sandbox"]), (&true.into(), &true.into()));
}

#[test]
fn exit_codes_distinguish_usage_errors_refusals_and_integrity() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    tg.expect(2, "rita", &["release", "frobnicate"]);
    tg.expect(2, "rita", &["release", "create", "--service", "x"]);
    let id = release_create(
        &tg,
        &["--service", "payments", "--version", "1", "--type", "minor", "--title", "t", "--window-start", "+2 weeks"],
    );
    let before = tg.events();
    // Bad input: exit 1, nothing written.
    for args in [
        vec!["release", "show", "R-99"],
        vec!["release", "confirm", "R-99", "code-freeze"],
        vec!["release", "confirm", &id, "vibes"],
        vec![
            "release",
            "create",
            "--service",
            "p",
            "--version",
            "2",
            "--type",
            "hotfix",
            "--title",
            "t",
            "--window-start",
            "+1 week",
        ],
        vec![
            "release",
            "create",
            "--service",
            "p",
            "--version",
            "2",
            "--type",
            "minor",
            "--title",
            "t",
            "--window-start",
            "next tuesday",
        ],
        vec!["person", "add", "zed", "--role", "wizard"],
        vec!["release", "doc", &id, "--kind", "release-notes", "--file", "/nonexistent/notes.md"],
    ] {
        let out = tg.run("rita", &args);
        check(&out, 1, &args);
        assert!(!stderr(&out).is_empty());
    }
    let unknown = tg.run("mallory", &["release", "approve", &id]);
    check(&unknown, 1, &["as mallory"]);
    assert!(stderr(&unknown).contains("`mallory` is not a known person"));
    // Refused by the procedure: exit 3, every reason listed.
    let out = tg.run("omar", &["release", "approve", &id]);
    check(&out, 3, &["approve as sre"]);
    assert!(stderr(&out).contains("[role]"));
    let json = tg.run("rita", &["--json", "release", "advance", &id]);
    check(&json, 3, &["advance --json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["error"], "refused");
    assert!(v["reasons"].as_array().unwrap().len() >= 5);
    assert_eq!(tg.events(), before, "rejected commands leave the log as it was");
}

#[test]
fn profiles_are_validated_before_anything_is_written() {
    let tg = Tg::new();
    let bad = write(
        &tg,
        "bad.toml",
        "[profile]\nid = \"x\"\nversion = \"1\"\ntitle = \"x\"\ndocument = \"x\"\nextends = \"qms-dev-pro-004\"\n\n[release-types.major]\nmin-lead-time = \"3 days\"\n",
    );
    let out = tg.run("rita", &["init", "--profile", &bad]);
    check(&out, 1, &["init bad profile"]);
    assert!(
        stderr(&out).contains("bad.toml:9:1: release-types.major.min-lead-time: 3 days is shorter than 2 weeks"),
        "{}",
        stderr(&out)
    );
    assert!(!tg.db.exists(), "a refused init creates no store");
    init_with_people(&tg, "qms-dev-pro-004");
    let before = tg.events();
    let out = tg.run("rita", &["profile", "adopt", &bad, "--reason", "faster"]);
    check(&out, 1, &["adopt"]);
    let good = write(
        &tg,
        "good.toml",
        "[profile]\nid = \"payments\"\nversion = \"1.1\"\ntitle = \"Payments\"\ndocument = \"PAY-1\"\nextends = \"qms-dev-pro-004\"\n\n[rollback]\ntarget = \"10m\"\n",
    );
    tg.ok("rita", &["profile", "check", &good]);
    assert_eq!(tg.events(), before);
    tg.expect(3, "quinn", &["profile", "adopt", &good, "--reason", "tighter rollback"]);
    let proposed = tg.ok("rita", &["profile", "adopt", &good, "--reason", "tighter rollback SLO for payments"]);
    assert!(
        proposed.contains("stays in force until approved by a second holder of release-manager or executive"),
        "{proposed}"
    );
    tg.expect(3, "rita", &["profile", "approve", "payments", "1.1", "--comment", "my own change"]);
    tg.ok("eve", &["profile", "approve", "payments", "1.1", "--comment", "rollback target reviewed"]);
    let history = tg.json("rita", &["profile", "history"]);
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[1]["adopted_by"], "eve");
    assert_eq!(history[1]["reason"], "tighter rollback SLO for payments");
    let id = release_create(
        &tg,
        &["--service", "payments", "--version", "9", "--type", "patch", "--title", "t", "--window-start", "+1 week"],
    );
    let show = tg.json("rita", &["release", "show", &id]);
    assert_eq!((show["profile"].as_str(), show["profile_version"].as_str()), (Some("payments"), Some("1.1")));
    assert_eq!(show["profile_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn adopting_a_new_version_lists_every_rule_it_loosens() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    // Given a new standalone version of the procedure that relaxes four rules
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let mut looser = text.replacen("version = \"1.0\"", "version = \"1.1\"", 1);
    for (from, to) in [
        ("[release-types.minor]", "[release-types.minor]\nmin-lead-time = \"3 days\""),
        ("before = \"window-opens\"\n\n[confirmations.alerting-configured]", "\n[confirmations.alerting-configured]"),
        ("max-lateness = \"24h\"", "max-lateness = \"1 week\""),
        (
            "  { id = \"p1-incident\", says = \"Any P1 incident is raised and attributed to the deployment\", rule = \"incident-attributed\", severity = \"P1\" },\n",
            "",
        ),
    ] {
        assert!(looser.contains(from), "fixture drift: {from}");
        looser = looser.replacen(from, to, 1);
    }
    let looser = looser.replacen("min-lead-time = \"1 week\"\n", "", 1);
    let path = write(&tg, "qms-1.1.toml", &looser);
    // When it is adopted
    let v = tg.json("rita", &["profile", "adopt", &path, "--reason", "CAB approved QMS-DEV-PRO-004 rev 1.1"]);
    assert_eq!(v["awaiting"].as_array().unwrap().len(), 2, "a second holder of adopt-profile and the executive: {v}");
    // Then each loosened rule is listed with the value in force before
    let loosens: Vec<&str> = v["loosens"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(loosens.len(), 4, "{loosens:#?}");
    for expected in [
        "release-types.minor.min-lead-time: 3 days is shorter than 1 week",
        "confirmations.monitoring-active.before:",
        "recording.max-lateness: lets facts be recorded 1 week after they happened",
        "rollback.triggers[p1-incident]:",
    ] {
        assert!(loosens.iter().any(|l| l.contains(expected)), "{expected} not in {loosens:#?}");
    }
    assert!(v["summary"].as_str().unwrap().contains("it loosens 4 rule(s) of qms-dev-pro-004 1.0"), "{v}");
    // It is in force only once the executive authority approved it, seeing the same list
    let shown = tg.ok("rita", &["profile", "history"]);
    assert!(shown.contains("recording.max-lateness: lets facts be recorded 1 week"), "{shown}");
    let approved = tg.json("eve", &["profile", "approve", "qms-dev-pro-004", "1.1", "--comment", "rev 1.1 as minuted"]);
    assert_eq!(approved["adopted"], true, "{approved}");
    // A version that only tightens says so
    let tighter = text.replacen("version = \"1.0\"", "version = \"1.2\"", 1);
    let path = write(&tg, "qms-1.2.toml", &tighter);
    let out = tg.ok("rita", &["profile", "adopt", &path, "--reason", "back to the strict rules"]);
    assert!(out.contains("it loosens no rule of qms-dev-pro-004 1.1"), "{out}");
    tg.ok("eve", &["profile", "reject", "qms-dev-pro-004", "1.2", "--reason", "wait for the annual review"]);
    assert_eq!(tg.json("rita", &["profile", "show"])["version"], "1.1", "a rejected version never takes effect");
}

#[test]
fn the_store_is_required_and_errors_name_it() {
    let tg = Tg::new();
    let out = tg.run("rita", &["release", "list"]);
    check(&out, 1, &["list without store"]);
    assert!(stderr(&out).contains("tollgate.db") && stderr(&out).contains("tollgate init"), "{}", stderr(&out));
    std::fs::write(&tg.db, b"this is not a database, just some bytes that are long enough to look like a header")
        .unwrap();
    let out = tg.run("rita", &["release", "list"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("tollgate.db"), "{}", stderr(&out));
    let verify = tg.run("auditor", &["audit", "verify"]);
    check(&verify, 4, &["verify corrupt file"]);
}

#[test]
fn the_demo_walks_every_type_and_verifies() {
    let out = assert_cmd::Command::cargo_bin("tollgate").unwrap().args(["--json", "demo"]).output().unwrap();
    check(&out, 0, &["demo"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["audit"]["intact"], true);
    let gates = v["gates"].as_array().unwrap();
    let releases: std::collections::BTreeSet<&str> = gates.iter().map(|g| g["release"].as_str().unwrap()).collect();
    assert_eq!(releases.len(), 6);
    assert!(gates.iter().all(|g| g["open_after"] == true));
}

#[test]
fn an_auditor_verifies_a_copy_of_the_store_without_the_private_key() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let copy = Tg::new();
    // The store and its latest checkpoint are what the auditor copies; no .key, no .pub: the
    // auditor brings the key they trust.
    std::fs::copy(&tg.db, &copy.db).unwrap();
    std::fs::copy(tg.db.with_extension("db.checkpoint"), copy.db.with_extension("db.checkpoint")).unwrap();
    let key = std::fs::read_to_string(tg.db.with_extension("db.pub")).unwrap();
    let v = copy.json("auditor", &["audit", "verify", "--key", key.trim()]);
    assert_eq!(v["intact"], true);
    copy.expect(1, "auditor", &["audit", "verify"]);
    // A copy without its checkpoint file says which file it expected and how to give one kept
    // elsewhere, instead of calling it deleted.
    let bare = Tg::new();
    std::fs::copy(&tg.db, &bare.db).unwrap();
    let out = bare.run("auditor", &["audit", "verify", "--key", key.trim()]);
    check(&out, 4, &["verify a copy without its checkpoint"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("tollgate.db.checkpoint") && said.contains("--checkpoint FILE"), "{said}");
    let kept = tg.path("kept.checkpoint");
    std::fs::copy(tg.db.with_extension("db.checkpoint"), &kept).unwrap();
    let v = bare.json("auditor", &["audit", "verify", "--key", key.trim(), "--checkpoint", kept.to_str().unwrap()]);
    assert_eq!(v["intact"], true, "{v}");
}

#[test]
fn facts_cannot_be_recorded_in_the_future() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let out = tg.run_at("rita", Some("2099-01-01T00:00:00Z"), &["person", "add", "sue", "--role", "sre"]);
    check(&out, 1, &["--now 2099"]);
    assert!(stderr(&out).contains("in the future"), "{}", stderr(&out));
    // Late, but earlier than what the log already holds: the log never runs backwards.
    let earlier =
        (chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()) - chrono::Duration::hours(1)).to_rfc3339();
    let out =
        tg.run_at("rita", Some(&earlier), &["person", "add", "sue", "--role", "sre", "--late-reason", "typed in late"]);
    check(&out, 1, &["--now in the past, before the latest record"]);
    assert!(stderr(&out).contains("never runs backwards"), "{}", stderr(&out));
}

#[test]
fn facts_recorded_late_need_a_reason_stay_within_the_profiles_bound_and_are_counted_by_the_auditor() {
    let tg = Tg::new();
    let clock = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let ago = |hours: i64| (clock - chrono::Duration::hours(hours)).to_rfc3339();
    // Given a store set up after the kick-off meeting it records, and no reason given
    let out = tg.run_at("rita", Some(&ago(3)), &["init", "--role", "release-manager"]);
    check(&out, 1, &["late init without a reason"]);
    assert!(stderr(&out).contains("say why it is recorded late (--late-reason)"), "{}", stderr(&out));
    assert!(!tg.db.exists(), "a refused init creates no store");
    // When the reason is given, it is recorded with the facts
    let reason = "kick-off decisions typed in after the meeting";
    let out = tg.run_at("rita", Some(&ago(3)), &["init", "--role", "release-manager", "--late-reason", reason]);
    check(&out, 0, &["late init with a reason"]);
    let init_facts = tg.events();
    // A year of history cannot be written in five minutes: the profile allows 24 hours.
    let before = tg.events();
    for hours in [48, 24 * 365] {
        let out = tg.run_at(
            "rita",
            Some(&ago(hours)),
            &["person", "add", "sue", "--role", "sre", "--late-reason", "backfill"],
        );
        check(&out, 3, &["fact beyond max-lateness"]);
        assert!(stderr(&out).contains("[recording.max-lateness]"), "{}", stderr(&out));
        assert!(stderr(&out).contains("at most 1 day after it happened"), "{}", stderr(&out));
    }
    assert_eq!(tg.events(), before, "a refused late fact writes nothing");
    let out = tg.run_at(
        "rita",
        Some(&ago(2)),
        &["person", "add", "sue", "--role", "sre", "--late-reason", "added in the meeting"],
    );
    check(&out, 0, &["late person add"]);
    tg.ok("rita", &["person", "add", "omar", "--role", "sre"]);
    // Then the auditor sees, from the log alone, which facts were late and why
    let v = tg.json("auditor", &["audit", "verify"]);
    assert_eq!(v["intact"], true);
    let late = &v["late_facts"];
    assert_eq!((late["count"].as_u64(), late["without_reason"].as_u64()), (Some(init_facts + 1), Some(0)), "{late}");
    assert_eq!(late["over_limit"], serde_json::json!([]));
    let latest = late["latest"].as_array().unwrap();
    assert_eq!(latest.last().unwrap()["reason"], "added in the meeting");
    assert!(latest[0]["late_by"].as_str().unwrap().starts_with("3h"), "{late}");
    let text = tg.ok("auditor", &["audit", "verify"]);
    assert!(text.contains(&format!("{} fact(s) recorded late", init_facts + 1)), "{text}");
    // and the log shows, beside the fact's time, when it was written and why
    let log = tg.ok("auditor", &["audit", "log"]);
    assert!(log.contains("late: added in the meeting"), "{log}");
    let rows = tg.json("auditor", &["audit", "log"]);
    let last = rows.as_array().unwrap().last().unwrap().clone();
    assert!(last["late_by"].is_null() && last["recorded_at"].is_string(), "{last}");
}

#[test]
fn a_mistaken_release_is_withdrawn_and_a_missing_rollback_mechanism_can_be_named_later() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let id = release_create(
        &tg,
        &["--service", "payments", "--version", "1", "--type", "minor", "--title", "t", "--window-start", "+2 weeks"],
    );
    tg.ok("eli", &["release", "scope", &id, "--add", "ticket:PAY-1"]);
    tg.expect(1, "eli", &["release", "scope", &id, "--add", "ticket:PAY-1"]);
    tg.ok("eli", &["release", "scope", &id, "--add", "ticket:PAY-1", "--rollback", "feature flag off"]);
    let show = tg.json("rita", &["release", "show", &id]);
    assert_eq!(show["scope"].as_array().unwrap().len(), 1);
    assert_eq!(show["scope"][0]["rollback"], "feature flag off");
    tg.expect(3, "eli", &["release", "withdraw", &id, "--reason", "duplicate"]);
    tg.ok("rita", &["release", "withdraw", &id, "--reason", "duplicate of R-2"]);
    assert_eq!(tg.json("rita", &["release", "show", &id])["phase"], "closed");
}

#[test]
fn the_profile_hash_is_the_documents_own() {
    let tg = Tg::new();
    let path = tg.path("qms.toml");
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    std::fs::write(&path, text).unwrap();
    let a = tg.json("rita", &["profile", "check", path.to_str().unwrap()]);
    let b = tg.json("rita", &["profile", "check", "./qms.toml"]);
    assert_eq!(a["hash"], b["hash"]);
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    h.update([0]);
    assert_eq!(a["hash"], hex::encode(h.finalize()));
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let bin = assert_cmd::cargo::cargo_bin("tollgate");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' --db '{}' profile show | head -1; exit ${{PIPESTATUS:-0}}", bin.display(), tg.db.display()))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn control_characters_people_recorded_never_reach_the_terminal() {
    // Given a title and a comment carrying an escape sequence and a right-to-left override
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let id = release_create(
        &tg,
        &[
            "--service",
            "payments",
            "--version",
            "1",
            "--type",
            "minor",
            "--title",
            "fix\u{1b}[2J\u{1b}[1;1Happroved",
            "--window-start",
            "+2 weeks",
        ],
    );
    tg.ok("quinn", &["release", "approve", &id, "--comment", "ok \u{202e}devorppa ton"]);
    // When a reviewer reads the release and the log
    for args in [vec!["release", "show", &id], vec!["audit", "log"], vec!["release", "list"]] {
        let out = tg.ok("rita", &args);
        // Then the characters are shown as escapes, never sent raw
        assert!(!out.contains('\u{1b}') && !out.contains('\u{202e}'), "{args:?}: {out}");
        if args[1] == "show" {
            assert!(out.contains("fix\\u{1b}[2J\\u{1b}[1;1Happroved"), "{out}");
        }
    }
}

#[test]
fn eight_concurrent_writers_all_succeed() {
    eight_concurrent_writers(false);
}

/// The same, every command a client of `tollgate serve` with the person's own token: the same
/// output and exit codes.
#[test]
fn eight_concurrent_writers_all_succeed_through_the_server() {
    eight_concurrent_writers(true);
}

fn eight_concurrent_writers(remote: bool) {
    // Given a store, and eight processes creating releases at the same moment
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    if remote {
        tg.serve("rita");
    }
    let outputs: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let tg = &tg;
                s.spawn(move || {
                    let version = format!("2.{i}.0");
                    let args = [
                        "--json",
                        "release",
                        "create",
                        "--service",
                        "payments",
                        "--version",
                        &version,
                        "--type",
                        "minor",
                        "--title",
                        "t",
                        "--window-start",
                        "+2 weeks",
                    ];
                    tg.run("eli", &args)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Then each reads what the others wrote and decides again: none is told to run again
    let mut ids: Vec<String> = outputs
        .iter()
        .map(|out| {
            check(out, 0, &["concurrent release create"]);
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=8).map(|n| format!("R-{n}")).collect::<Vec<_>>());
    assert_eq!(tg.json("rita", &["audit", "verify"])["intact"], true);
}

#[test]
fn check_answers_no_with_the_reason_and_a_malformed_digest_is_an_error_naming_the_flag() {
    let tg = Tg::new();
    // Malformed input is an error (exit 1), found before any store is read.
    for bad in ["sha256:abc", &"ab".repeat(32), &format!("sha512:{}", "ab".repeat(32))] {
        let out = tg.run("dev", &["check", "--service", "payments", "--artefact", bad, "--env", "production"]);
        check(&out, 1, &["check", bad]);
        assert!(
            stderr(&out).contains(&format!(
                "--artefact: `{bad}` is not an artefact digest; expected sha256: followed by 64 hex digits"
            )),
            "{}",
            stderr(&out)
        );
    }
    let profile = fast_profile(tg.dir.path());
    init_with_people(&tg, profile.to_str().unwrap());
    let id = minor_release(&tg, "2.4.0");
    let first = format!("sha256:{}", "ab".repeat(32));
    let second = format!("sha256:{}", "cd".repeat(32));

    // No release has it.
    let (yes, unmet, v) = may_deploy(&tg, &first, "qa");
    assert!(!yes);
    assert_eq!(unmet, ["release"]);
    assert_eq!(v["unmet"][0]["reason"], format!("no release of payments records artefact {}", &first[..19]));
    // An environment the profile does not have.
    let (_, unmet, v) = may_deploy(&tg, &first, "prod");
    assert!(unmet.contains(&"environment".to_owned()), "{v}");

    // In planning, not even a test environment takes it.
    tg.ok("dev", &["artefact", "add", &id, "--name", "payments", "--digest", &first]);
    let (yes, unmet, v) = may_deploy(&tg, &first, " QA ");
    assert!(!yes);
    assert_eq!(unmet, ["phase"]);
    assert_eq!(v["target"]["id"], "qa");
    assert_eq!(v["release"], "R-1");

    // A rebuild: the earlier digest is no longer the release's artefact.
    tg.ok("dev", &["artefact", "add", &id, "--name", "payments", "--digest", &second]);
    let (_, unmet, v) = may_deploy(&tg, &first, "qa");
    assert_eq!(unmet, ["release"]);
    let why = v["unmet"][0]["reason"].as_str().unwrap();
    assert!(why.contains("is an earlier build of artefact payments of R-1, rebuilt as"), "{why}");

    // Withdrawn: nowhere, and the text says why.
    tg.ok("rita", &["release", "withdraw", &id, "--reason", "superseded"]);
    let text = tg.expect(3, "dev", &["check", "--service", "payments", "--artefact", &second, "--env", "qa"]);
    assert!(text.starts_with("NO: payments sha256:cdcd") && text.contains("withdrawn by rita"), "{text}");
    assert!(text.contains("not checked: who deploys"), "{text}");
}
