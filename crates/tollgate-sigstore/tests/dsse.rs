//! DSSE envelopes whose pre-authentication encoding was signed by the openssl command line tool.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::Key;
use serde_json::json;
use tollgate_sigstore::dsse::pae;
use tollgate_sigstore::{KeyAlgorithm, SigErrorKind, verify_dsse};

const TYPE: &str = "application/vnd.in-toto+json";
const PAYLOAD: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#;

/// PAE computed here independently of the library, to check both against each other.
fn pae_by_hand(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

fn envelope(payload_type: &str, payload: &[u8], sigs: &[Vec<u8>]) -> Vec<u8> {
    let signatures: Vec<_> = sigs.iter().map(|s| json!({"keyid": "", "sig": STANDARD.encode(s)})).collect();
    serde_json::to_vec(
        &json!({"payloadType": payload_type, "payload": STANDARD.encode(payload), "signatures": signatures}),
    )
    .unwrap()
}

#[test]
fn the_library_pae_matches_the_hand_computed_one() {
    assert_eq!(pae(TYPE, PAYLOAD), pae_by_hand(TYPE, PAYLOAD));
}

#[test]
fn p256_and_ed25519_envelopes_verify() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, ed, algorithm) in
        [("p256", false, KeyAlgorithm::EcdsaP256Sha256), ("ed25519", true, KeyAlgorithm::Ed25519)]
    {
        let key = Key::generate(dir.path(), kind, kind);
        let sig = key.sign(&pae_by_hand(TYPE, PAYLOAD), ed);
        let verified = verify_dsse(&envelope(TYPE, PAYLOAD, &[sig]), &key.public_pem()).unwrap();
        assert_eq!(verified.payload_type, TYPE);
        assert_eq!(verified.payload, PAYLOAD);
        assert_eq!(verified.algorithm, algorithm);
        assert_eq!(verified.key_fingerprint, key.fingerprint());
    }
}

#[test]
fn a_fixed_size_p256_signature_and_url_safe_base64_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "p256");
    let der = key.sign(&pae_by_hand(TYPE, PAYLOAD), false);
    let fixed = p256::ecdsa::Signature::from_der(&der).unwrap().to_bytes().to_vec();
    assert_eq!(fixed.len(), 64);
    verify_dsse(&envelope(TYPE, PAYLOAD, &[fixed]), &key.public_pem()).unwrap();

    let doc = json!({"payloadType": TYPE, "payload": URL_SAFE_NO_PAD.encode(PAYLOAD),
        "signatures": [{"sig": URL_SAFE_NO_PAD.encode(&der)}]});
    verify_dsse(&serde_json::to_vec(&doc).unwrap(), &key.public_pem()).unwrap();
}

#[test]
fn one_verifying_signature_among_several_is_enough() {
    let dir = tempfile::tempdir().unwrap();
    let ours = Key::generate(dir.path(), "ours", "p256");
    let theirs = Key::generate(dir.path(), "theirs", "p256");
    let pae = pae_by_hand(TYPE, PAYLOAD);
    let doc = envelope(TYPE, PAYLOAD, &[theirs.sign(&pae, false), ours.sign(&pae, false)]);
    assert_eq!(verify_dsse(&doc, &ours.public_pem()).unwrap().key_fingerprint, ours.fingerprint());
}

#[test]
fn the_wrong_key_is_rejected_with_each_signature_named() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Key::generate(dir.path(), "signer", "ed25519");
    let other = Key::generate(dir.path(), "other", "ed25519");
    let doc = envelope(TYPE, PAYLOAD, &[signer.sign(&pae_by_hand(TYPE, PAYLOAD), true)]);
    let err = verify_dsse(&doc, &other.public_pem()).unwrap_err();
    assert_eq!(err.kind, SigErrorKind::Invalid);
    assert!(err.message.starts_with("no signature in the envelope verifies with the key sha256:"), "{err}");
    assert!(err.message.contains("signatures[0]: the Ed25519 signature does not verify"), "{err}");
}

#[test]
fn a_changed_payload_or_payload_type_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "p256");
    let sig = key.sign(&pae_by_hand(TYPE, PAYLOAD), false);
    let tampered =
        envelope(TYPE, br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{}]}"#, std::slice::from_ref(&sig));
    assert_eq!(verify_dsse(&tampered, &key.public_pem()).unwrap_err().kind, SigErrorKind::Invalid);
    let retyped = envelope("application/json", PAYLOAD, &[sig]);
    assert_eq!(verify_dsse(&retyped, &key.public_pem()).unwrap_err().kind, SigErrorKind::Invalid);
}

#[test]
fn a_signature_over_the_bare_payload_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "p256");
    let doc = envelope(TYPE, PAYLOAD, &[key.sign(PAYLOAD, false)]);
    assert_eq!(verify_dsse(&doc, &key.public_pem()).unwrap_err().kind, SigErrorKind::Invalid);
}

#[test]
fn malformed_envelopes_are_refused_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "p256");
    let sig = STANDARD.encode(key.sign(&pae_by_hand(TYPE, PAYLOAD), false));
    let payload = STANDARD.encode(PAYLOAD);
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                r#"{{"payloadType":"{TYPE}","payloadType":"x","payload":"{payload}","signatures":[{{"sig":"{sig}"}}]}}"#
            ),
            "duplicate key `payloadType`",
        ),
        (
            format!(r#"{{"payloadType":"{TYPE}","payload":"{payload}","signatures":[]}}"#),
            "at `signatures`: the envelope has no signatures",
        ),
        (format!(r#"{{"payloadType":"{TYPE}","payload":"{payload}"}}"#), "at `$`: expected the member `signatures`"),
        (
            format!(r#"{{"payloadType":"{TYPE}","payload":"{payload}","signatures":[{{"sig":"%%%"}}]}}"#),
            "at `signatures[0].sig`: expected base64",
        ),
        (
            format!(r#"{{"payloadType":"{TYPE}","payload":"{payload}","signatures":[{{"sig":"{sig}","cert":"x"}}]}}"#),
            "at `signatures[0]`: unknown member `cert`",
        ),
        (
            format!(r#"{{"payloadType":7,"payload":"{payload}","signatures":[{{"sig":"{sig}"}}]}}"#),
            "at `payloadType`: expected a string, found a number",
        ),
        ("[1, 2".to_owned(), "not valid JSON"),
    ];
    for (doc, expected) in cases {
        let err = verify_dsse(doc.as_bytes(), &key.public_pem()).unwrap_err();
        assert_eq!(err.kind, SigErrorKind::Malformed, "{doc}: {err}");
        assert!(err.message.contains(expected), "expected {expected:?} in: {err}");
    }
}

#[test]
fn other_key_types_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "p384");
    let doc = envelope(TYPE, PAYLOAD, &[key.sign(&pae_by_hand(TYPE, PAYLOAD), false)]);
    let err = verify_dsse(&doc, &key.public_pem()).unwrap_err();
    assert_eq!(err.kind, SigErrorKind::Unsupported);
    assert!(err.message.contains("ECDSA P-384"), "{err}");
}
