//! Detached signatures made with a long-lived key: what `cosign sign-blob --key` writes, and
//! what `openssl dgst -sha256 -sign key.pem artefact | base64` produces.
//!
//! The signature file is base64 (whitespace anywhere in it is ignored: `base64` wraps lines
//! and editors add a final newline). Keys are PEM `PUBLIC KEY` blocks. Two key types are
//! accepted: ECDSA P-256, whose DER signature covers SHA-256 of the artefact, so the digest
//! alone suffices; and Ed25519, which signs the artefact bytes themselves
//! (`openssl pkeyutl -sign -rawin`), so only [`verify_key_signature`] can check it. Every other
//! key type is refused by name rather than guessed at.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Result, SigError};
use crate::keys::{EcdsaEncoding, PublicKey, sha256};

/// Signature files larger than this are refused unread (an Ed25519 signature is 88
/// characters of base64, a P-256 one under 100).
pub const MAX_SIGNATURE_FILE_BYTES: usize = 16 * 1024;

/// The two key types accepted for detached artefact signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 over SHA-256 of the artefact, DER-encoded.
    EcdsaP256Sha256,
    /// Ed25519 over the artefact bytes.
    Ed25519,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
}

/// A verified detached signature: which algorithm, and which key (SHA-256 of its SPKI DER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySignature {
    pub algorithm: KeyAlgorithm,
    pub key_fingerprint: [u8; 32],
}

/// Checks a detached signature over the artefact bytes.
pub fn verify_key_signature(artifact: &[u8], signature_b64: &[u8], public_key_pem: &str) -> Result<KeySignature> {
    let key = accepted_key(public_key_pem)?;
    let sig = decode_signature_file(signature_b64)?;
    let algorithm = if key.is_ed25519() {
        key.verify_message(artifact, &sig, EcdsaEncoding::Der).map_err(|e| refused(&key, e))?;
        KeyAlgorithm::Ed25519
    } else {
        key.verify_digest(&sha256(artifact), &sig, EcdsaEncoding::Der).map_err(|e| refused(&key, e))?;
        KeyAlgorithm::EcdsaP256Sha256
    };
    Ok(KeySignature { algorithm, key_fingerprint: key.fingerprint() })
}

/// Checks a detached signature knowing only SHA-256 of the artefact. Works for ECDSA P-256;
/// an Ed25519 key is refused because its signature covers the bytes, not a digest.
pub fn verify_key_signature_digest(
    artifact_sha256: &[u8; 32],
    signature_b64: &[u8],
    public_key_pem: &str,
) -> Result<KeySignature> {
    let key = accepted_key(public_key_pem)?;
    if key.is_ed25519() {
        return Err(SigError::unsupported(
            "the key is Ed25519, which signs the artefact bytes rather than their digest: \
             verify with the artefact itself, not only its SHA-256",
        ));
    }
    let sig = decode_signature_file(signature_b64)?;
    key.verify_digest(artifact_sha256, &sig, EcdsaEncoding::Der).map_err(|e| refused(&key, e))?;
    Ok(KeySignature { algorithm: KeyAlgorithm::EcdsaP256Sha256, key_fingerprint: key.fingerprint() })
}

fn accepted_key(public_key_pem: &str) -> Result<PublicKey> {
    let key = PublicKey::from_pem(public_key_pem)?;
    if key.is_p256() || key.is_ed25519() {
        Ok(key)
    } else {
        Err(SigError::unsupported(format!(
            "the public key is {}; artefact signatures are accepted from ECDSA P-256 and Ed25519 keys only",
            key.describe()
        )))
    }
}

fn refused(key: &PublicKey, e: SigError) -> SigError {
    SigError::invalid(format!(
        "the signature does not verify with the key sha256:{} ({e})",
        hex::encode(key.fingerprint())
    ))
}

/// Base64 with any ASCII whitespace removed.
pub(crate) fn decode_signature_file(signature_b64: &[u8]) -> Result<Vec<u8>> {
    if signature_b64.len() > MAX_SIGNATURE_FILE_BYTES {
        return Err(SigError::malformed(format!(
            "the signature file is {} bytes; at most {MAX_SIGNATURE_FILE_BYTES} are read",
            signature_b64.len()
        )));
    }
    let compact: Vec<u8> = signature_b64.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(SigError::malformed("the signature file is empty"));
    }
    STANDARD.decode(&compact).map_err(|e| SigError::malformed(format!("the signature file is not base64: {e}")))
}
