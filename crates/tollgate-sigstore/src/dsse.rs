//! DSSE v1 envelopes (`{"payloadType", "payload", "signatures": [{"keyid", "sig"}]}`), the
//! wrapper in-toto attestations travel in.
//!
//! A signature covers the pre-authentication encoding
//! `PAE = "DSSEv1" SP len(type) SP type SP len(body) SP body`, never the bare payload, so a
//! payload cannot be replayed under another type. ECDSA P-256 signatures (DER or fixed
//! `r || s`) cover SHA-256 of the PAE, Ed25519 signatures the PAE itself. At least one listed
//! signature must verify with the given key; the others may belong to other signers.
//!
//! The envelope is read strictly: duplicate keys and unknown members are refused, and so is
//! an envelope with no signatures or more than [`MAX_SIGNATURES`].

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::error::{Result, SigError};
use crate::json::{self, Node};
use crate::keys::{EcdsaEncoding, PublicKey};
use crate::keysig::KeyAlgorithm;

/// Larger envelope files are refused unread.
pub const MAX_ENVELOPE_BYTES: usize = 32 * 1024 * 1024;
/// More signatures than this in one envelope are refused.
pub const MAX_SIGNATURES: usize = 16;

/// A verified envelope: its payload, and the key that signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dsse {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub key_fingerprint: [u8; 32],
    pub algorithm: KeyAlgorithm,
}

/// An envelope as read, not yet verified.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<Vec<u8>>,
}

impl Envelope {
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// The pre-authentication encoding a DSSE signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Checks a DSSE envelope file against one key.
pub fn verify_dsse(envelope_json: &[u8], public_key_pem: &str) -> Result<Dsse> {
    let key = PublicKey::from_pem(public_key_pem)?;
    let algorithm = if key.is_ed25519() {
        KeyAlgorithm::Ed25519
    } else if key.is_p256() {
        KeyAlgorithm::EcdsaP256Sha256
    } else {
        return Err(SigError::unsupported(format!(
            "the public key is {}; DSSE envelopes are accepted from ECDSA P-256 and Ed25519 keys only",
            key.describe()
        )));
    };
    let value = json::parse(envelope_json, MAX_ENVELOPE_BYTES, "DSSE envelope")?;
    let envelope = read_envelope(&Node::root(&value), Base64::Lenient)?;
    let pae = envelope.pae();
    let mut failures = Vec::new();
    for (i, sig) in envelope.signatures.iter().enumerate() {
        match key.verify_message(&pae, sig, EcdsaEncoding::DerOrFixed) {
            Ok(()) => {
                return Ok(Dsse {
                    payload_type: envelope.payload_type,
                    payload: envelope.payload,
                    key_fingerprint: key.fingerprint(),
                    algorithm,
                });
            }
            Err(e) => failures.push(format!("signatures[{i}]: {e}")),
        }
    }
    Err(SigError::invalid(format!(
        "no signature in the envelope verifies with the key sha256:{} ({})",
        hex::encode(key.fingerprint()),
        failures.join("; ")
    )))
}

/// Which base64 alphabets an envelope may use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base64 {
    /// The DSSE specification allows standard or URL-safe, padded or not.
    Lenient,
    /// Sigstore bundles are protobuf JSON written by clients that use standard padded base64.
    Standard,
}

pub(crate) fn read_envelope(node: &Node<'_>, base64: Base64) -> Result<Envelope> {
    only_members(node, &["payloadType", "payload", "signatures"])?;
    let payload_type = node.required("payloadType")?.as_str()?.to_owned();
    let payload_node = node.required("payload")?;
    let payload = decode(&payload_node, base64)?;
    let signatures_node = node.required("signatures")?;
    let mut signatures = Vec::new();
    for sig in signatures_node.items(MAX_SIGNATURES)? {
        only_members(&sig, &["keyid", "sig"])?;
        sig.opt_str("keyid")?;
        let value = decode(&sig.required("sig")?, base64)?;
        if value.is_empty() {
            return Err(sig.error("the signature is empty"));
        }
        signatures.push(value);
    }
    if signatures.is_empty() {
        return Err(signatures_node.error("the envelope has no signatures"));
    }
    Ok(Envelope { payload_type, payload, signatures })
}

fn decode(node: &Node<'_>, base64: Base64) -> Result<Vec<u8>> {
    let text = node.as_str()?;
    let decoded = match base64 {
        Base64::Standard => json::decode_base64(text).ok(),
        Base64::Lenient => {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(text).ok())
        }
    };
    decoded.ok_or_else(|| node.error("expected base64"))
}

/// Refuses members this reader does not know.
pub(crate) fn only_members(node: &Node<'_>, known: &[&str]) -> Result<()> {
    if !node.value.is_object() {
        return Err(node.error(format!("expected an object, found {}", json::kind(node.value))));
    }
    match node.keys().into_iter().find(|k| !known.contains(k)) {
        Some(unknown) => Err(node.error(format!("unknown member `{unknown}` (expected only {})", known.join(", ")))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_specification_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }
}
