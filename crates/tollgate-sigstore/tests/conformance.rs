//! The acceptance test: every case of the sigstore-conformance `bundle-verify` suite, read in
//! place. A folder whose name ends in `_fail` must be rejected, every other one must verify.
//! All outcomes are printed (with the rejection reasons) and every mismatch is reported at
//! once. Cases that are known not to pass yet are listed in `KNOWN_GAPS` and reported as such,
//! never silently skipped; a known gap that starts passing fails the test so the list shrinks.
//!
//! Per the suite's README: the artefact is `artifact` in the case folder, else `../a.txt`;
//! `key.pub` means a key policy, otherwise the identity and issuer come from `identity` and
//! `issuer` files or the suite's defaults; the trusted root is `trusted_root.json` in the
//! folder, else `../../trusted_root.public-good.json`.

mod common;

use std::fs;
use std::path::Path;

use tollgate_sigstore::{Artifact, Policy, verify_bundle};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Cases this verifier does not judge correctly yet, with why.
const KNOWN_GAPS: &[(&str, &str)] = &[];

fn read_optional(path: &Path) -> Option<Vec<u8>> {
    path.is_file().then(|| fs::read(path).unwrap())
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap().trim().to_owned()
}

#[test]
fn every_bundle_verify_case_gets_the_expected_verdict() {
    let Some(suite) = common::testdata("sigstore-conformance") else { return };
    let cases_dir = suite.join("bundle-verify");
    let default_root = fs::read(suite.join("trusted_root.public-good.json")).unwrap();
    let default_artifact = fs::read(cases_dir.join("a.txt")).unwrap();

    let mut cases: Vec<_> =
        fs::read_dir(&cases_dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 70, "expected the whole suite, found {} cases in {}", cases.len(), cases_dir.display());

    let mut mismatches = Vec::new();
    let mut gaps_hit = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let should_fail = name.ends_with("_fail");
        let bundle = fs::read(case.join("bundle.sigstore.json")).unwrap();
        let artifact = read_optional(&case.join("artifact")).unwrap_or_else(|| default_artifact.clone());
        let root = read_optional(&case.join("trusted_root.json")).unwrap_or_else(|| default_root.clone());
        let policy = match read_optional(&case.join("key.pub")) {
            Some(pem) => Policy::Key(String::from_utf8(pem).unwrap()),
            None => Policy::Identity {
                san: read_optional(&case.join("identity")).map(text).unwrap_or_else(|| DEFAULT_IDENTITY.to_owned()),
                issuer: read_optional(&case.join("issuer")).map(text).unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
            },
        };
        let result = verify_bundle(&bundle, Artifact::Bytes(&artifact), &root, &policy);
        let outcome = match &result {
            Ok(v) => format!("verified (signed at {:?})", v.signed_at),
            Err(e) => format!("rejected: {e}"),
        };
        println!("{name}: {outcome}");
        if result.is_err() != should_fail {
            let expected = if should_fail { "rejection" } else { "verification" };
            let line = format!("{name}: expected {expected}, got {outcome}");
            match KNOWN_GAPS.iter().find(|(gap, _)| *gap == name) {
                Some((_, why)) => gaps_hit.push(format!("{line} [known gap: {why}]")),
                None => mismatches.push(line),
            }
        } else if KNOWN_GAPS.iter().any(|(gap, _)| *gap == name) {
            mismatches.push(format!("{name} now passes: remove it from KNOWN_GAPS"));
        }
    }
    for gap in &gaps_hit {
        println!("KNOWN GAP {gap}");
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} conformance cases got the wrong verdict:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}
