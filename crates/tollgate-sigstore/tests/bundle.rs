//! Bundle checks beyond the conformance suite's verdicts: what a verified bundle reports, and
//! that each check refuses when the one thing it guards is changed. Real bundles from the
//! shared sigstore-conformance data are read in place and altered in memory.

mod common;

use std::fs;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tollgate_sigstore::{Artifact, Policy, SigError, SigErrorKind, VerifiedBundle, verify_bundle, verify_bundle_at};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Well after every bundle used here was signed.
const LATER: i64 = 1_800_000_000;

struct Case {
    bundle: Value,
    root: Value,
    artifact: Vec<u8>,
}

fn suite() -> Option<PathBuf> {
    common::testdata("sigstore-conformance")
}

fn case(name: &str) -> Option<Case> {
    let suite = suite()?;
    let dir = suite.join("bundle-verify").join(name);
    let read_json = |p: PathBuf| serde_json::from_slice::<Value>(&fs::read(p).unwrap()).unwrap();
    let root_path = dir.join("trusted_root.json");
    let root =
        if root_path.is_file() { read_json(root_path) } else { read_json(suite.join("trusted_root.public-good.json")) };
    let artifact_path = dir.join("artifact");
    let artifact =
        fs::read(if artifact_path.is_file() { artifact_path } else { suite.join("bundle-verify/a.txt") }).unwrap();
    Some(Case { bundle: read_json(dir.join("bundle.sigstore.json")), root, artifact })
}

fn identity() -> Policy {
    Policy::Identity { san: IDENTITY.to_owned(), issuer: ISSUER.to_owned() }
}

impl Case {
    fn verify_with(&self, policy: &Policy) -> Result<VerifiedBundle, SigError> {
        let bundle = serde_json::to_vec(&self.bundle).unwrap();
        let root = serde_json::to_vec(&self.root).unwrap();
        verify_bundle_at(&bundle, Artifact::Bytes(&self.artifact), &root, policy, LATER)
    }

    fn verify(&self) -> Result<VerifiedBundle, SigError> {
        self.verify_with(&identity())
    }

    fn entry(&mut self) -> &mut Value {
        &mut self.bundle["verificationMaterial"]["tlogEntries"][0]
    }
}

fn rejected(result: Result<VerifiedBundle, SigError>, expected: &str) -> SigError {
    let err = result.expect_err("expected a rejection");
    assert!(err.message.contains(expected), "expected {expected:?} in: {err}");
    err
}

#[test]
fn a_verified_message_bundle_reports_identity_issuer_and_time() {
    let Some(case) = case("happy-path-v0.3") else { return };
    let verified = case.verify().unwrap();
    assert_eq!(
        verified,
        VerifiedBundle {
            media_type: "application/vnd.dev.sigstore.bundle+json;version=0.3".to_owned(),
            identity: Some(IDENTITY.to_owned()),
            issuer: Some(ISSUER.to_owned()),
            key_fingerprint: None,
            signed_at: Some(1_710_869_186),
            statement: None,
        }
    );
}

#[test]
fn the_public_api_reads_the_clock_and_accepts_a_digest_for_p256_signers() {
    let Some(case) = case("rekor2-happy-path") else { return };
    let digest: [u8; 32] = Sha256::digest(&case.artifact).into();
    let bundle = serde_json::to_vec(&case.bundle).unwrap();
    let root = serde_json::to_vec(&case.root).unwrap();
    let verified = verify_bundle(&bundle, Artifact::Digest(digest), &root, &identity()).unwrap();
    assert_eq!(verified.signed_at, Some(1_749_729_740), "the RFC 3161 time");
    let other: [u8; 32] = Sha256::digest(b"another artefact").into();
    rejected(verify_bundle(&bundle, Artifact::Digest(other), &root, &identity()), "the bundle's message digest is");
}

#[test]
fn a_dsse_bundle_returns_its_statement_and_must_name_the_artefact() {
    let Some(mut case) = case("happy-path-intoto-in-dsse-v3") else { return };
    let verified = case.verify().unwrap();
    let payload = STANDARD.decode(case.bundle["dsseEnvelope"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(verified.statement.as_deref(), Some(&payload[..]));
    case.artifact = b"not the subject".to_vec();
    let err = rejected(case.verify(), "do not include the artefact's sha256:");
    assert_eq!(err.kind, SigErrorKind::Invalid);
}

#[test]
fn a_key_bundle_reports_the_key_fingerprint() {
    let Some(case) = case("managed-key-happy-path") else { return };
    let pem = fs::read_to_string(suite().unwrap().join("bundle-verify/managed-key-happy-path/key.pub")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let fingerprint: [u8; 32] = Sha256::digest(STANDARD.decode(body).unwrap()).into();
    let verified = case.verify_with(&Policy::Key(pem)).unwrap();
    assert_eq!(verified.key_fingerprint, Some(fingerprint));
    assert_eq!((verified.identity, verified.issuer), (None, None));
    rejected(case.verify(), "signed with a long-lived public key, but the policy requires a certificate");
}

#[test]
fn identity_and_issuer_must_match_exactly() {
    let Some(case) = case("happy-path-v0.3") else { return };
    let other_san = Policy::Identity { san: format!("{IDENTITY}/"), issuer: ISSUER.to_owned() };
    rejected(case.verify_with(&other_san), "the policy requires \"https://github.com/");
    let other_issuer = Policy::Identity { san: IDENTITY.to_owned(), issuer: "https://accounts.google.com".to_owned() };
    rejected(
        case.verify_with(&other_issuer),
        "OIDC issuer is \"https://token.actions.githubusercontent.com\", the policy requires \"https://accounts.google.com\"",
    );
    let key = Policy::Key("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n".to_owned());
    rejected(case.verify_with(&key), "signed with a certificate, but the policy requires a specific public key");
}

#[test]
fn an_integrated_time_after_now_is_refused() {
    let Some(case) = case("happy-path-v0.3") else { return };
    let bundle = serde_json::to_vec(&case.bundle).unwrap();
    let root = serde_json::to_vec(&case.root).unwrap();
    let now = 1_710_869_186 - 1;
    rejected(verify_bundle_at(&bundle, Artifact::Bytes(&case.artifact), &root, &identity(), now), "is in the future");
}

#[test]
fn a_changed_integrated_time_breaks_the_signed_entry_timestamp() {
    let Some(mut case) = case("happy-path-v0.3") else { return };
    case.entry()["integratedTime"] = json!("1710869187");
    rejected(case.verify(), "the signed entry timestamp does not verify with the log's key");
}

#[test]
fn log_entries_need_their_proofs() {
    let Some(mut case) = case("happy-path-v0.1") else { return };
    case.entry().as_object_mut().unwrap().remove("inclusionPromise");
    rejected(case.verify(), "a v0.1 bundle's entry needs a signed entry timestamp");

    let Some(mut case) = self::case("happy-path-v0.3") else { return };
    case.entry().as_object_mut().unwrap().remove("inclusionProof");
    rejected(case.verify(), "the entry has no inclusion proof, which bundles from v0.2 on require");

    let Some(mut case) = self::case("happy-path-v0.3") else { return };
    let entry = case.entry().clone();
    case.bundle["verificationMaterial"]["tlogEntries"] = json!([entry.clone(), entry]);
    rejected(case.verify(), "expected exactly one transparency log entry, the bundle has 2");
}

#[test]
fn the_log_key_and_ca_are_trusted_only_within_their_periods() {
    let Some(mut case) = case("happy-path-v0.3") else { return };
    case.root["tlogs"][0]["publicKey"]["validFor"]["end"] = json!("2024-01-01T00:00:00Z");
    rejected(case.verify(), "outside the log key's validity");

    let Some(mut case) = self::case("happy-path-v0.3") else { return };
    case.root["certificateAuthorities"][1]["validFor"]["end"] = json!("2024-01-01T00:00:00Z");
    rejected(case.verify(), "is trusted 2022-04-13T20:06:15Z to 2024-01-01T00:00:00Z, not at 2024-03-19T17:26:26Z");
}

#[test]
fn an_sct_must_verify_with_the_ct_log_key_of_the_trusted_root() {
    let Some(mut case) = case("happy-path-v0.3") else { return };
    // Keep the 2022 log's id, give it the old test log's key.
    let other_key = case.root["ctlogs"][0]["publicKey"]["rawBytes"].clone();
    assert_eq!(case.root["ctlogs"][1]["baseUrl"], "https://ctfe.sigstore.dev/2022");
    case.root["ctlogs"][1]["publicKey"]["rawBytes"] = other_key;
    rejected(case.verify(), "SCT 0 from https://ctfe.sigstore.dev/2022 does not verify");
}

#[test]
fn a_timestamp_must_verify_with_the_authority_key() {
    let Some(mut case) = case("rekor2-happy-path") else { return };
    let stamp = &mut case.bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0];
    let mut der = STANDARD.decode(stamp["signedTimestamp"].as_str().unwrap()).unwrap();
    // The token ends with the signer's ECDSA signature; its last byte is inside s.
    let last = der.len() - 1;
    der[last] ^= 0x01;
    stamp["signedTimestamp"] = json!(STANDARD.encode(&der));
    rejected(case.verify(), "the token's signature does not verify");
}

#[test]
fn strict_reading_refuses_unknown_members_duplicates_and_versions() {
    let Some(mut case) = case("happy-path-v0.3") else { return };
    case.bundle["verificationMaterial"]["extra"] = json!(1);
    let err = rejected(case.verify(), "at `verificationMaterial`: unknown member `extra`");
    assert_eq!(err.kind, SigErrorKind::Malformed);

    let Some(case) = self::case("happy-path-v0.3") else { return };
    let text = serde_json::to_string(&case.bundle).unwrap();
    let duplicated = text.replacen('{', r#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.3","#, 1);
    let root = serde_json::to_vec(&case.root).unwrap();
    rejected(
        verify_bundle_at(duplicated.as_bytes(), Artifact::Bytes(&case.artifact), &root, &identity(), LATER),
        "duplicate key `mediaType`",
    );

    let Some(mut case) = self::case("happy-path-v0.3") else { return };
    case.root["mediaType"] = json!("application/vnd.dev.sigstore.trustedroot+json;version=0.9");
    let err = rejected(case.verify(), "trusted root: at `mediaType`");
    assert_eq!(err.kind, SigErrorKind::Unsupported);

    let Some(mut case) = self::case("happy-path-v0.3") else { return };
    case.entry()["kindVersion"]["kind"] = json!("rekord");
    rejected(case.verify(), "the entry says it is rekord 0.0.1 but its body is hashedrekord 0.0.1");
}
