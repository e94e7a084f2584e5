//! Detached key signatures made by the openssl command line tool.

mod common;

use common::Key;
use sha2::{Digest, Sha256};
use tollgate_sigstore::{KeyAlgorithm, SigErrorKind, verify_key_signature, verify_key_signature_digest};

const ARTEFACT: &[u8] = b"release-1.4.2.tar.gz contents\n";

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[test]
fn ecdsa_p256_signature_from_openssl_dgst_verifies_with_bytes_and_with_digest() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "p256");
    let sig = key.sign_base64(ARTEFACT, false);
    assert!(sig.iter().filter(|&&b| b == b'\n').count() >= 2, "openssl wraps the base64 and ends with a newline");

    let verified = verify_key_signature(ARTEFACT, &sig, &key.public_pem()).unwrap();
    assert_eq!(verified.algorithm, KeyAlgorithm::EcdsaP256Sha256);
    assert_eq!(verified.algorithm.as_str(), "ecdsa-p256-sha256");
    assert_eq!(verified.key_fingerprint, key.fingerprint());

    let by_digest = verify_key_signature_digest(&digest(ARTEFACT), &sig, &key.public_pem()).unwrap();
    assert_eq!(by_digest, verified);
}

#[test]
fn ed25519_signature_from_openssl_pkeyutl_verifies_with_bytes_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "ed25519");
    let sig = key.sign_base64(ARTEFACT, true);

    let verified = verify_key_signature(ARTEFACT, &sig, &key.public_pem()).unwrap();
    assert_eq!(verified.algorithm, KeyAlgorithm::Ed25519);
    assert_eq!(verified.algorithm.as_str(), "ed25519");
    assert_eq!(verified.key_fingerprint, key.fingerprint());

    let err = verify_key_signature_digest(&digest(ARTEFACT), &sig, &key.public_pem()).unwrap_err();
    assert_eq!(err.kind, SigErrorKind::Unsupported);
    assert!(err.message.contains("Ed25519, which signs the artefact bytes"), "{err}");
}

#[test]
fn a_signature_on_one_line_without_newline_is_also_accepted() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "p256");
    let raw = key.sign(ARTEFACT, false);
    let one_line = base64::engine::general_purpose::STANDARD.encode(raw);
    verify_key_signature(ARTEFACT, one_line.as_bytes(), &key.public_pem()).unwrap();
    verify_key_signature(ARTEFACT, format!("  {one_line}\r\n\n").as_bytes(), &key.public_pem()).unwrap();
}

#[test]
fn the_wrong_key_is_rejected_for_both_algorithms() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, ed) in [("p256", false), ("ed25519", true)] {
        let signer = Key::generate(dir.path(), &format!("{kind}-signer"), kind);
        let other = Key::generate(dir.path(), &format!("{kind}-other"), kind);
        let sig = signer.sign_base64(ARTEFACT, ed);
        let err = verify_key_signature(ARTEFACT, &sig, &other.public_pem()).unwrap_err();
        assert_eq!(err.kind, SigErrorKind::Invalid, "{kind}: {err}");
        assert!(err.message.contains("does not verify with the key sha256:"), "{kind}: {err}");
        assert!(err.message.contains(&hex::encode(other.fingerprint())), "{kind}: {err}");
    }
}

#[test]
fn a_signature_over_another_artefact_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, ed) in [("p256", false), ("ed25519", true)] {
        let key = Key::generate(dir.path(), kind, kind);
        let sig = key.sign_base64(b"some other artefact", ed);
        let err = verify_key_signature(ARTEFACT, &sig, &key.public_pem()).unwrap_err();
        assert_eq!(err.kind, SigErrorKind::Invalid, "{kind}: {err}");
    }
    let key = Key::generate(dir.path(), "digest-only", "p256");
    let sig = key.sign_base64(b"some other artefact", false);
    let err = verify_key_signature_digest(&digest(ARTEFACT), &sig, &key.public_pem()).unwrap_err();
    assert_eq!(err.kind, SigErrorKind::Invalid, "{err}");
}

#[test]
fn a_tampered_signature_is_rejected() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    for (kind, ed) in [("p256", false), ("ed25519", true)] {
        let key = Key::generate(dir.path(), kind, kind);
        let mut raw = key.sign(ARTEFACT, ed);
        // The last byte is inside s (ECDSA DER) or S (Ed25519): still well formed, now wrong.
        let last = raw.len() - 1;
        raw[last] ^= 0x01;
        let sig = base64::engine::general_purpose::STANDARD.encode(&raw);
        let err = verify_key_signature(ARTEFACT, sig.as_bytes(), &key.public_pem()).unwrap_err();
        assert_eq!(err.kind, SigErrorKind::Invalid, "{kind}: {err}");
    }
}

#[test]
fn garbage_base64_and_empty_files_are_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "p256");
    for garbage in [&b"not base64 at all!"[..], b"", b"  \n", b"QUJD\x00"] {
        let err = verify_key_signature(ARTEFACT, garbage, &key.public_pem()).unwrap_err();
        assert_eq!(err.kind, SigErrorKind::Malformed, "{garbage:?}: {err}");
        assert!(err.message.contains("signature file"), "{err}");
    }
    // Valid base64 of bytes that are not a DER signature.
    let err = verify_key_signature(ARTEFACT, b"QUJDRA==", &key.public_pem()).unwrap_err();
    assert_eq!(err.kind, SigErrorKind::Invalid, "{err}");
    assert!(err.message.contains("not ASN.1 DER"), "{err}");
}

#[test]
fn keys_that_are_not_pem_public_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "signer", "p256");
    let sig = key.sign_base64(ARTEFACT, false);
    let private = std::fs::read_to_string(dir.path().join("signer.pem")).unwrap();
    let cases = [
        ("not a key".to_owned(), "expected a PEM block: no `-----BEGIN` line"),
        (private, "found `PRIVATE KEY`"),
        ("-----BEGIN PUBLIC KEY-----\nQUJD\n-----END PUBLIC KEY-----\n".to_owned(), "not a DER SubjectPublicKeyInfo"),
    ];
    for (pem, expected) in cases {
        let err = verify_key_signature(ARTEFACT, &sig, &pem).unwrap_err();
        assert_eq!(err.kind, SigErrorKind::Malformed, "{err}");
        assert!(err.message.contains(expected), "{expected}: {err}");
    }
}

#[test]
fn other_key_types_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, name) in [("p384", "ECDSA P-384"), ("rsa", "RSA")] {
        let key = Key::generate(dir.path(), kind, kind);
        let sig = key.sign_base64(ARTEFACT, false);
        let err = verify_key_signature(ARTEFACT, &sig, &key.public_pem()).unwrap_err();
        assert_eq!(err.kind, SigErrorKind::Unsupported, "{err}");
        assert_eq!(
            err.message,
            format!(
                "the public key is {name}; artefact signatures are accepted from ECDSA P-256 and Ed25519 keys only"
            )
        );
        let err = verify_key_signature_digest(&digest(ARTEFACT), &sig, &key.public_pem()).unwrap_err();
        assert_eq!(err.kind, SigErrorKind::Unsupported, "{err}");
    }
}
