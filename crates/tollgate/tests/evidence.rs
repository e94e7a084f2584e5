//! Artefact integrity and evidence through the binary, with keys and signatures made by
//! openssl: every attack the issue names is refused with its reason and records nothing.

mod support;

use support::ci::{self, Ci};
use support::*;

/// A sandbox store under the fast profile trusting the pretend CI's keys and builder, with a minor
/// release R-1 tagged v2.4.0.
fn setup() -> (Tg, Ci) {
    let tg = Tg::new();
    let ci = Ci::new(tg.dir.path());
    let keys = [ci::fingerprint(&ci.dir, &ci.sign_pub), ci::fingerprint(&ci.dir, &ci.build_pub)];
    let profile = fast_profile_trusting(tg.dir.path(), &keys, &[(ci::BUILDER, keys[1].as_str())]);
    // A sandbox: a triage's expiry comes by `tollgate clock advance`, not by waiting.
    init_sandbox_with_people(&tg, profile.to_str().unwrap());
    tg.ok(
        "eli",
        &[
            "release",
            "create",
            "--service",
            "payments",
            "--version",
            "2.4.0",
            "--type",
            "minor",
            "--title",
            "Refunds",
            "--window-start",
            "+1h",
        ],
    );
    tg.ok("eli", &["release", "source", "R-1", "--repo", ci::REPO, "--tag", "v2.4.0", "--commit", ci::COMMIT]);
    (tg, ci)
}

/// Runs a command that must fail with `code`, checks that nothing was recorded, and returns stderr.
#[track_caller]
fn rejected(tg: &Tg, code: i32, actor: &str, args: &[&str]) -> String {
    let before = tg.events();
    let out = tg.run(actor, args);
    check(&out, code, args);
    assert_eq!(tg.events(), before, "a rejected command recorded something");
    stderr(&out)
}

/// A criterion of the pre-deployment gate, which re-checks tests and artefacts.
fn gate_reason(tg: &Tg, criterion: &str) -> (bool, String) {
    let gate = tg.gate("rita", &["R-1", "--gate", "pre-deployment"]);
    let c = gate["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == criterion)
        .unwrap_or_else(|| panic!("no criterion {criterion}"))
        .clone();
    (c["met"].as_bool().unwrap(), c["reason"].as_str().unwrap().to_owned())
}

#[test]
fn the_fingerprint_is_the_sha256_of_the_key_der_as_openssl_computes_it() {
    let tg = Tg::new();
    let ci = Ci::new(tg.dir.path());
    for key in [&ci.sign_pub, &ci.build_pub] {
        let ours = tg.ok("anyone", &["artefact", "fingerprint", "--key", key.to_str().unwrap()]);
        assert_eq!(ours.trim(), ci::fingerprint(&ci.dir, key));
    }
}

#[test]
fn a_signature_over_another_artefact_is_refused() {
    let (tg, ci) = setup();
    let (artefact, _, _) = ci.build("payments.tar.gz", b"release 2.4.0");
    let (_, other_sig, _) = ci.build("other.tar.gz", b"something else");
    let key = ci.sign_pub.display().to_string();
    let err = rejected(
        &tg,
        1,
        "dev",
        &[
            "artefact",
            "add",
            "R-1",
            "--name",
            "payments",
            "--file",
            &artefact,
            "--signature",
            &other_sig,
            "--key",
            &key,
        ],
    );
    assert!(err.contains("other.tar.gz.sig: the signature does not verify for sha256:"), "{err}");
    // With only the digest, ECDSA still verifies (it signs the digest) and the same forgery fails.
    let digest = format!("sha256:{}", ci::sha256_hex(b"release 2.4.0"));
    rejected(
        &tg,
        1,
        "dev",
        &[
            "artefact",
            "add",
            "R-1",
            "--name",
            "payments",
            "--digest",
            &digest,
            "--signature",
            &other_sig,
            "--key",
            &key,
        ],
    );
    let (_, sig, _) = ci.build("payments.tar.gz", b"release 2.4.0");
    tg.ok(
        "dev",
        &["artefact", "add", "R-1", "--name", "payments", "--digest", &digest, "--signature", &sig, "--key", &key],
    );
}

#[test]
fn a_signature_by_an_untrusted_key_is_refused_by_the_procedure() {
    let (tg, ci) = setup();
    ci::openssl(&ci.dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "stranger.pem"]);
    ci::openssl(&ci.dir, &["ec", "-in", "stranger.pem", "-pubout", "-out", "stranger.pub"]);
    let artefact = ci.write("payments.tar.gz", b"release 2.4.0");
    ci::openssl(&ci.dir, &["dgst", "-sha256", "-sign", "stranger.pem", "-out", "s.der", "payments.tar.gz"]);
    ci::openssl(&ci.dir, &["base64", "-in", "s.der", "-out", "s.b64"]);
    let err = rejected(
        &tg,
        3,
        "dev",
        &[
            "artefact",
            "add",
            "R-1",
            "--name",
            "payments",
            "--file",
            &artefact,
            "--signature",
            &ci.path("s.b64"),
            "--key",
            &ci.path("stranger.pub"),
        ],
    );
    assert!(
        err.contains("[signature] key sha256:") && err.contains("is not among the profile's trusted keys"),
        "{err}"
    );
}

#[test]
fn provenance_for_another_digest_an_untrusted_builder_or_a_branch_is_refused() {
    let (tg, ci) = setup();
    let (artefact, sig, digest) = ci.build("payments.tar.gz", b"release 2.4.0");
    let key = ci.sign_pub.display().to_string();
    let build_key = ci.build_pub.display().to_string();
    let add = |provenance: &str| {
        vec![
            "artefact".to_owned(),
            "add".into(),
            "R-1".into(),
            "--name".into(),
            "payments".into(),
            "--file".into(),
            artefact.clone(),
            "--signature".into(),
            sig.clone(),
            "--key".into(),
            key.clone(),
            "--provenance".into(),
            provenance.to_owned(),
            "--provenance-key".into(),
            build_key.clone(),
        ]
    };
    let run = |code: i32, provenance: &str| {
        let args = add(provenance);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rejected(&tg, code, "dev", &args)
    };

    let other = format!("sha256:{}", ci::sha256_hex(b"another build"));
    let err = run(1, &ci.provenance("other", &other, ci::BUILDER, "refs/tags/v2.4.0"));
    assert!(
        err.contains("the provenance is about payments.tar.gz sha256:") && err.contains("not the artefact"),
        "{err}"
    );

    let err = run(3, &ci.provenance("evil", &digest, "https://evil.example/runner", "refs/tags/v2.4.0"));
    assert!(err.contains("[provenance] builder https://evil.example/runner is not a trusted builder"), "{err}");

    // The artefact signing key is trusted for signatures, but not pinned to the builder: it
    // cannot vouch for a build.
    let key_of_another = {
        let provenance = ci.provenance_signed_with("signer", &digest, ci::BUILDER, "refs/tags/v2.4.0", "sign.pem");
        let mut args = add(&provenance);
        *args.last_mut().unwrap() = key.clone();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rejected(&tg, 3, "dev", &args)
    };
    assert!(
        key_of_another
            .contains(&format!("[provenance] the provenance names builder {} but was signed with key", ci::BUILDER))
            && key_of_another.contains("which the profile does not pin to that builder"),
        "{key_of_another}"
    );

    let err = run(3, &ci.provenance("branch", &digest, ci::BUILDER, "refs/heads/main"));
    assert!(err.contains("[provenance] built from refs/heads/main, not from a tag"), "{err}");

    // An envelope whose payload was altered after signing does not verify, and its payload
    // is never read.
    let good = ci.provenance("good", &digest, ci::BUILDER, "refs/tags/v2.4.0");
    let mut envelope: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    let payload = envelope["payload"].as_str().unwrap().to_owned();
    let mut altered = payload.into_bytes();
    altered[40] = if altered[40] == b'x' { b'y' } else { b'x' };
    envelope["payload"] = serde_json::Value::String(String::from_utf8(altered).unwrap());
    let tampered = ci.write("tampered.intoto.jsonl", &serde_json::to_vec(&envelope).unwrap());
    let err = run(1, &tampered);
    assert!(err.contains("the provenance envelope does not verify"), "{err}");

    let args = add(&good);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tg.ok("dev", &args);
    assert!(gate_reason(&tg, "artefact-built-from-tag").0);
}

#[test]
fn an_sbom_for_another_artefact_is_refused() {
    let (tg, ci) = setup();
    let (artefact, _, digest) = ci.build("payments.tar.gz", b"release 2.4.0");
    tg.ok("dev", &["artefact", "add", "R-1", "--name", "payments", "--file", &artefact]);
    let other = ci.sbom("other.cdx.json", &format!("sha256:{}", ci::sha256_hex(b"another build")));
    let err = rejected(&tg, 3, "sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--sbom", &other]);
    assert!(
        err.contains("[sbom-subject] the SBOM describes payments@2.4.0 with sha256:") && err.contains(&digest),
        "{err}"
    );
    let ours = ci.sbom("sbom.cdx.json", &digest);
    tg.ok("sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--sbom", &ours]);
}

#[test]
fn a_scan_of_another_artefact_or_of_nothing_is_refused_and_records_nothing() {
    let (tg, ci) = setup();
    let (artefact, _, digest) = ci.build("payments.tar.gz", b"release 2.4.0");
    tg.ok("dev", &["artefact", "add", "R-1", "--name", "payments", "--file", &artefact]);
    let other = format!("sha256:{}", ci::sha256_hex(b"another build"));
    let theirs = ci.grype("grype-other.json", &other, &[]);
    let err = rejected(&tg, 3, "sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--vulns", &theirs]);
    assert!(
        err.contains("[scan-subject]") && err.contains(&format!("scan names {other} not the artefact {digest}")),
        "{err}"
    );
    // A clean SARIF log that names no commit or target, and one with no runs at all.
    let nothing = ci.write(
        "codeql.sarif",
        br#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "CodeQL"}}, "results": []}]}"#,
    );
    let err = rejected(&tg, 3, "sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--sarif", &nothing]);
    assert!(err.contains("codeql.sarif: the scan names nothing it scanned"), "{err}");
    let no_runs = ci.write("empty.sarif", br#"{"version": "2.1.0", "runs": []}"#);
    let err = rejected(&tg, 1, "sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--sarif", &no_runs]);
    assert!(
        err.contains("empty.sarif: not a valid SARIF scan: at `runs`") && err.contains("records no run of any tool"),
        "{err}"
    );
    // The release's commit, named by the log, binds it; so does a report of the artefact itself.
    let ours = ci.write(
        "codeql-ours.sarif",
        format!(
            r#"{{"version": "2.1.0", "runs": [{{"tool": {{"driver": {{"name": "CodeQL"}}}}, "results": [],
                "versionControlProvenance": [{{"repositoryUri": "{}", "revisionId": "{}"}}]}}]}}"#,
            ci::REPO,
            ci::COMMIT
        )
        .as_bytes(),
    );
    tg.ok("sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--sarif", &ours]);
    let grype = ci.grype("grype.json", &digest, &[]);
    tg.ok("sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--vulns", &grype]);
}

#[test]
fn evidence_recorded_before_a_rebuild_no_longer_counts() {
    let (tg, ci) = setup();
    let (first, _, first_digest) = ci.build("payments.tar.gz", b"release 2.4.0");
    tg.ok("dev", &["artefact", "add", "R-1", "--name", "payments", "--file", &first]);
    let unit = ci.junit("unit.xml", 30, 0);
    tg.ok("dev", &["evidence", "add", "R-1", "--phase", "unit", "--junit", &unit]);
    assert!(gate_reason(&tg, "mandatory-test-phases").1.contains("unit passed on evidence: E-1 30 tests: 30 passed"));

    let (second, _, _) = ci.build("payments.tar.gz", b"release 2.4.0, rebuilt");
    tg.ok("dev", &["artefact", "add", "R-1", "--name", "payments", "--file", &second]);
    let (met, reason) = gate_reason(&tg, "mandatory-test-phases");
    assert!(!met);
    assert!(
        reason.contains("unit not passed: no JUnit test report recorded against payments sha256:")
            && reason.contains("(E-1 was recorded against sha256:"),
        "{reason}"
    );
    let show = tg.ok("rita", &["release", "show", "R-1"]);
    assert!(show.contains("E-1 unit junit") && show.contains("STALE: recorded against"), "{show}");
    assert!(show.contains(&format!("rebuilt from {first_digest}")), "{show}");
    let err = rejected(
        &tg,
        3,
        "dev",
        &["evidence", "add", "R-1", "--phase", "unit", "--junit", &unit, "--digest", &first_digest],
    );
    assert!(err.contains("[artefact-rebuilt]"), "{err}");
}

#[test]
fn an_expired_risk_acceptance_shuts_the_gate_again() {
    let (tg, ci) = setup();
    let (artefact, _, digest) = ci.build("payments.tar.gz", b"release 2.4.0");
    tg.ok("dev", &["artefact", "add", "R-1", "--name", "payments", "--file", &artefact]);
    let sbom = ci.sbom("sbom.json", &digest);
    tg.ok("sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--sbom", &sbom]);
    let grype = ci.grype("grype.json", &digest, &[("CVE-2021-23337", "High"), ("CVE-2024-0001", "Negligible")]);
    tg.ok("sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--vulns", &grype]);

    let err = rejected(
        &tg,
        3,
        "quinn",
        &["evidence", "triage", "R-1", "CVE-2021-23337", "--accept-risk", "--until", "+1h", "--comment", "ok"],
    );
    assert!(err.contains("[role]"), "{err}");
    tg.ok(
        "sam",
        &["evidence", "triage", "R-1", "CVE-2021-23337", "--accept-risk", "--until", "+1 day", "--comment", "SEC-91"],
    );
    let (_, reason) = gate_reason(&tg, "mandatory-test-phases");
    assert!(!reason.contains("CVE-2021-23337"), "{reason}");
    tg.advance("25h");
    let (met, reason) = gate_reason(&tg, "mandatory-test-phases");
    assert!(!met);
    assert!(
        reason.contains("CVE-2021-23337 (high) in pkg:npm/lodash@4.17.20 (reported by E-2): the triage by sam (accept-risk) expired at"),
        "{reason}"
    );
}

#[test]
fn a_critical_vulnerability_cannot_be_accepted() {
    let (tg, ci) = setup();
    let (artefact, _, digest) = ci.build("payments.tar.gz", b"release 2.4.0");
    tg.ok("dev", &["artefact", "add", "R-1", "--name", "payments", "--file", &artefact]);
    let grype = ci.grype("grype.json", &digest, &[("CVE-2024-9999", "Critical")]);
    let out = tg.ok("sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--vulns", &grype]);
    assert!(
        out.contains("CVE-2024-9999 (critical) in pkg:npm/lodash@4.17.20 (reported by E-1) blocks the release"),
        "{out}"
    );
    let err = rejected(
        &tg,
        3,
        "sam",
        &["evidence", "triage", "R-1", "CVE-2024-9999", "--accept-risk", "--until", "+30d", "--comment", "later"],
    );
    assert!(err.contains("[max-accepted-risk]"), "{err}");
}

#[test]
fn malformed_evidence_is_refused_naming_the_file_and_place_and_records_nothing() {
    let (tg, ci) = setup();
    let (artefact, _, _) = ci.build("payments.tar.gz", b"release 2.4.0");
    tg.ok("dev", &["artefact", "add", "R-1", "--name", "payments", "--file", &artefact]);
    let broken = ci.write("unit.xml", b"<testsuites>\n<testsuite name=\"a\">\n<testcase name=\"x\">\n</testsuite>\n");
    let err = rejected(&tg, 1, "dev", &["evidence", "add", "R-1", "--phase", "unit", "--junit", &broken]);
    assert!(err.contains("unit.xml: not a valid JUnit test report: line "), "{err}");
    let dup = ci.write("scan.sarif", br#"{"version": "2.1.0", "version": "2.1.0", "runs": []}"#);
    let err = rejected(&tg, 1, "sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--sarif", &dup]);
    assert!(
        err.contains("scan.sarif: not a valid SARIF scan: line 1, column") && err.contains("duplicate key `version`"),
        "{err}"
    );
    let unknown = ci.write("grype.json", br#"{"results": "?"}"#);
    let err = rejected(&tg, 1, "sam", &["evidence", "add", "R-1", "--phase", "security-scan", "--vulns", &unknown]);
    assert!(err.contains("grype.json: not a valid vulnerability report"), "{err}");
    let junit = ci.junit("unit-ok.xml", 3, 0);
    let err = rejected(&tg, 1, "dev", &["evidence", "add", "R-1", "--phase", "nightly", "--junit", &junit]);
    assert!(err.contains("unknown test phase `nightly`"), "{err}");
}

/// The sigstore-conformance data, read in place.
fn conformance() -> Option<std::path::PathBuf> {
    let root = match std::env::var_os("TOLLGATE_TESTDATA") {
        Some(root) => std::path::PathBuf::from(root),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
    };
    let dir = root.join("sigstore-conformance");
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(std::env::var_os("TOLLGATE_TESTDATA").is_none(), "TOLLGATE_TESTDATA has no sigstore-conformance");
        eprintln!("skipped: {} not found", dir.display());
        None
    }
}

#[test]
fn a_sigstore_bundle_counts_only_for_a_signer_the_profile_names() {
    let Some(data) = conformance() else { return };
    const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    let (tg, _ci) = setup();
    let artefact = data.join("a.txt").display().to_string();
    let root = data.join("trusted_root.public-good.json").display().to_string();
    let good = data.join("bundle-verify/happy-path-v0.3/bundle.sigstore.json").display().to_string();
    let add = |bundle: &str| {
        vec!["artefact", "add", "R-1", "--name", "a", "--file", &artefact, "--bundle", bundle, "--trusted-root", &root]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let args = add(&good);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The fast profile names no signers: nothing to verify the certificate's identity against.
    let err = rejected(&tg, 1, "dev", &args);
    assert!(err.contains("the profile names no Sigstore signers"), "{err}");

    // An organisation profile naming the conformance beacon as its signer.
    let tg = Tg::new();
    let profile = fast_profile(tg.dir.path());
    let text = std::fs::read_to_string(&profile).unwrap();
    let text =
        text.replace("signers = []", &format!("signers = [{{ identity = \"{IDENTITY}\", issuer = \"{ISSUER}\" }}]"));
    std::fs::write(&profile, text).unwrap();
    init_with_people(&tg, profile.to_str().unwrap());
    tg.ok(
        "eli",
        &[
            "release",
            "create",
            "--service",
            "a",
            "--version",
            "1",
            "--type",
            "minor",
            "--title",
            "a",
            "--window-start",
            "+1h",
        ],
    );
    let bad = data.join("bundle-verify/signature-mismatch_fail/bundle.sigstore.json").display().to_string();
    let bad_args = add(&bad);
    let bad_args: Vec<&str> = bad_args.iter().map(String::as_str).collect();
    let err = rejected(&tg, 1, "dev", &bad_args);
    assert!(err.contains("the Sigstore bundle does not verify for sha256:"), "{err}");
    let out = tg.ok("dev", &args);
    assert!(out.contains(&format!("Sigstore bundle, signer {IDENTITY}")), "{out}");
    let show = tg.json("rita", &["release", "show", "R-1"]);
    assert_eq!(show["artefacts"][0]["verifications"][0]["trusted"], true);
}
