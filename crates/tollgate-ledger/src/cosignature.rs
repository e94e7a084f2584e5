//! Witness cosignatures (<https://c2sp.org/tlog-cosignature>, the Ed25519 `cosignature/v1`
//! type): a witness's signed statement that, at a time, the largest tree of the log it has
//! verified as an append-only extension of what it saw before has this root.
//!
//! The server asks witnesses for them (<https://c2sp.org/tlog-witness>) and keeps the lines
//! beside the checkpoint they sign. A line counts only when it verifies with the witness key
//! the operator configured: a witness, or anyone on the way, cannot slip in one that claims more.
//! Such lines are ordinary note signatures of another key, so the log's own verifier ignores
//! them and a cosigned checkpoint is still a checkpoint for `audit verify --checkpoint`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::note::{
    NoteError, SIG_PREFIX, check_note_chars, is_valid_key_name, key_id_of, parse_verifier_key, write_verifier_key,
};

/// Signature type of an Ed25519 cosignature in key ids and verifier keys.
const ALG_COSIGNATURE: u8 = 0x04;
/// Key id, timestamp and signature.
const RAW_LEN: usize = 4 + 8 + 64;

/// The signed message: a header line, the timestamp line, then the checkpoint's note text.
fn message(checkpoint_text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}")
}

/// A witness's key, to cosign checkpoints: what a witness does; here for tests and for anyone
/// running a witness of their own.
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Cosigner {
    /// The cosigner `name` with the Ed25519 key of `seed`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidName(name.to_owned()));
        }
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id_of(ALG_COSIGNATURE, name, key.verifying_key().as_bytes());
        Ok(Self { name: name.to_owned(), key_id, key })
    }

    /// Its verifier key.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier { name: self.name.clone(), key_id: self.key_id, key: self.key.verifying_key() }
    }

    /// The cosignature line of a checkpoint's note text at `timestamp` (POSIX seconds).
    pub fn cosign(&self, checkpoint_text: &str, timestamp: u64) -> Result<String, NoteError> {
        check_note_chars(checkpoint_text)?;
        let signature = self.key.sign(message(checkpoint_text, timestamp).as_bytes());
        let mut raw = Vec::with_capacity(RAW_LEN);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&signature.to_bytes());
        Ok(format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw)))
    }
}

/// A witness's verifier key: `<name>+<id>+base64(0x04 || Ed25519 public key)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

/// A cosignature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The signature line, with its newline.
    pub line: String,
    /// When the witness signed, in POSIX seconds.
    pub timestamp: u64,
}

impl CosignatureVerifier {
    /// Parses a cosigner's verifier key, checking its id.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, key_id, key) = parse_verifier_key(vkey, ALG_COSIGNATURE)?;
        Ok(Self { name, key_id, key })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This key's cosignature among `lines` (note signature lines, as a witness answers), over
    /// the checkpoint note text `checkpoint_text`. Lines of other keys are ignored, as the
    /// protocol requires; one that claims this key and does not verify is an error.
    pub fn find(&self, checkpoint_text: &str, lines: &str) -> Result<Cosignature, NoteError> {
        for line in lines.lines() {
            let Some((name, b64)) = line.strip_prefix(SIG_PREFIX).and_then(|l| l.split_once(' ')) else {
                return Err(NoteError::MalformedNote("signature line must be '— <name> <base64>'"));
            };
            let raw = B64.decode(b64).map_err(|_| NoteError::MalformedNote("signature is not base64"))?;
            let invalid = || NoteError::InvalidSignature { name: name.to_owned(), key_id: self.key_id };
            if name != self.name || raw.len() < 4 || raw[..4] != self.key_id.to_be_bytes() {
                continue;
            }
            if raw.len() != RAW_LEN {
                return Err(invalid());
            }
            let timestamp = u64::from_be_bytes(raw[4..12].try_into().map_err(|_| invalid())?);
            if timestamp > i64::MAX as u64 {
                return Err(invalid());
            }
            let signature = Signature::from_slice(&raw[12..]).map_err(|_| invalid())?;
            self.key
                .verify_strict(message(checkpoint_text, timestamp).as_bytes(), &signature)
                .map_err(|_| invalid())?;
            return Ok(Cosignature { line: format!("{line}\n"), timestamp });
        }
        Err(NoteError::MissingSignature { name: self.name.clone(), key_id: self.key_id })
    }
}

impl fmt::Display for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_verifier_key(f, &self.name, self.key_id, ALG_COSIGNATURE, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "example.com/log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn a_cosignature_verifies_with_its_key_only() {
        let witness = Cosigner::from_seed("witness.example/w1", &[7; 32]).unwrap();
        let verifier = CosignatureVerifier::parse(&witness.verifier().to_string()).unwrap();
        assert_eq!(verifier, witness.verifier());
        let line = witness.cosign(TEXT, 1_679_315_147).unwrap();
        let other = Cosigner::from_seed("witness.example/w2", &[8; 32]).unwrap().cosign(TEXT, 1).unwrap();
        let found = verifier.find(TEXT, &format!("{other}{line}")).unwrap();
        assert_eq!((found.line.as_str(), found.timestamp), (line.as_str(), 1_679_315_147));
        // Another checkpoint, another witness alone, a forged line.
        assert!(matches!(verifier.find(&TEXT.replace('3', "4"), &line), Err(NoteError::InvalidSignature { .. })));
        assert!(matches!(verifier.find(TEXT, &other), Err(NoteError::MissingSignature { .. })));
        let forged = line.replace(&line[line.len() - 6..line.len() - 1], "AAAAA");
        assert!(verifier.find(TEXT, &forged).is_err());
    }

    #[test]
    fn a_log_key_is_not_a_witness_key() {
        let log = crate::note::NoteSigner::from_seed("example.com/log", &[1; 32]).unwrap();
        assert!(matches!(
            CosignatureVerifier::parse(&log.verifier().to_string()),
            Err(NoteError::UnsupportedAlgorithm(0x01))
        ));
    }
}
