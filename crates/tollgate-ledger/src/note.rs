//! C2SP signed notes (<https://c2sp.org/signed-note>) carrying tlog
//! checkpoints (<https://c2sp.org/tlog-checkpoint>), with Ed25519 keys.
//!
//! A checkpoint is the ledger's signed statement "the log had this many
//! events and this root". Using the standard note format, byte for byte
//! compatible with Go's `golang.org/x/mod/sumdb/note`, means checkpoints can
//! be handed to outside witnesses and checked with existing tools, and it
//! gives the key strings (`PRIVATE+KEY+…` and verifier keys) a well-known
//! shape. Parsing follows the Go implementation's rules: valid UTF-8 without
//! control characters other than newline, the text separated from the
//! signature block by the last blank line, at most 100 signatures, unknown
//! signatures ignored and a failing signature from the known key rejected.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

use crate::merkle::Hash;

/// Signature type identifier of Ed25519 in the note format.
const ALG_ED25519: u8 = 0x01;
/// Every signature line starts with an em dash (U+2014) and a space.
pub(crate) const SIG_PREFIX: &str = "\u{2014} ";
/// Bound on the work a hostile note can cause, as in the Go implementation.
const MAX_SIGNATURES: usize = 100;
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a key, note or checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    /// A key name that is empty or holds whitespace or `+`.
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    InvalidName(String),
    /// A verifier key string that does not parse.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    /// A private key string that does not parse.
    #[error("malformed private key: {0}")]
    MalformedPrivateKey(&'static str),
    /// A key whose id does not match its name and key material.
    #[error("key id {claimed:08x} does not match the key (computed {computed:08x})")]
    KeyIdMismatch {
        /// The id written in the key string.
        claimed: u32,
        /// The id computed from name and public key.
        computed: u32,
    },
    /// A key of an algorithm other than Ed25519.
    #[error("unsupported signature algorithm {0:#04x}")]
    UnsupportedAlgorithm(u8),
    /// The operating system could not supply randomness for a new key.
    #[error("no randomness available for key generation: {0}")]
    Randomness(String),
    /// A note that does not follow the signed-note syntax.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// A signature from the known key that does not verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name of the failing signature.
        name: String,
        /// Key id of the failing signature.
        key_id: u32,
    },
    /// The note carries no signature from the expected key.
    #[error("note has no signature from key {name}+{key_id:08x}")]
    MissingSignature {
        /// Expected key name.
        name: String,
        /// Expected key id.
        key_id: u32,
    },
    /// A checkpoint body that does not follow the tlog-checkpoint syntax.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// A checkpoint whose origin is not the verifying key's name.
    #[error("checkpoint origin {origin:?} does not match key name {name:?}")]
    OriginMismatch {
        /// The origin line of the checkpoint.
        origin: String,
        /// The name of the verifying key.
        name: String,
    },
}

/// Whether `name` may be a key name: non-empty, no Unicode space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) { Ok(()) } else { Err(NoteError::InvalidName(name.to_owned())) }
}

/// The key id: the first four bytes, big-endian, of
/// `SHA-256(name || "\n" || 0x01 || public key)`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    key_id_of(ALG_ED25519, name, public_key)
}

/// The key id of a key of signature type `alg` (a cosigner's is 0x04).
pub(crate) fn key_id_of(alg: u8, name: &str, public_key: &[u8; 32]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([alg])
        .chain_update(public_key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Splits the `<name>+<8 hex id>+<base64 key>` tail shared by both key
/// strings. The base64 part may itself contain `+`, so only the first two
/// separators count.
fn split_key_string(s: &str) -> Option<(&str, u32, Vec<u8>)> {
    let (name, rest) = s.split_once('+')?;
    let (id_hex, key_b64) = rest.split_once('+')?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let id = u32::from_str_radix(id_hex, 16).ok()?;
    let key = B64.decode(key_b64).ok()?;
    Some((name, id, key))
}

/// A signing key for notes: a key name and an Ed25519 private key.
///
/// `Debug` deliberately leaves the key material out.
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A new key for `name` from 32 bytes of operating-system randomness.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| NoteError::Randomness(e.to_string()))?;
        let signer = Self::from_seed(name, &seed);
        seed.fill(0);
        signer
    }

    /// The key for `name` derived from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self { name: name.to_owned(), key_id, key })
    }

    /// Parses `PRIVATE+KEY+<name>+<8 hex id>+<base64(0x01 || seed)>`,
    /// checking the id against the derived public key.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let malformed = NoteError::MalformedPrivateKey;
        let rest = skey.strip_prefix(PRIVATE_KEY_PREFIX).ok_or(malformed("missing PRIVATE+KEY+ prefix"))?;
        let (name, claimed, mut key) =
            split_key_string(rest).ok_or(malformed("expected PRIVATE+KEY+<name>+<id>+<key>"))?;
        check_name(name)?;
        let parsed = match key.split_first() {
            None => Err(malformed("empty key")),
            Some((&ALG_ED25519, seed)) => <[u8; 32]>::try_from(seed)
                .map_err(|_| malformed("Ed25519 seed must be 32 bytes"))
                .and_then(|seed| Self::from_seed(name, &seed)),
            Some((&alg, _)) => Err(NoteError::UnsupportedAlgorithm(alg)),
        };
        key.fill(0);
        let signer = parsed?;
        if signer.key_id != claimed {
            return Err(NoteError::KeyIdMismatch { claimed, computed: signer.key_id });
        }
        Ok(signer)
    }

    /// The private key string, `PRIVATE+KEY+<name>+<id>+<base64>`. Anyone
    /// holding it can sign as this log: store it with restrictive permissions.
    pub fn to_private_key_string(&self) -> String {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        let encoded = B64.encode(raw);
        raw.fill(0);
        format!("{PRIVATE_KEY_PREFIX}{}+{:08x}+{encoded}", self.name, self.key_id)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key_id: self.key_id, key: self.key.verifying_key() }
    }

    /// Signs `text`, which must be a non-empty note text ending in a newline,
    /// and returns the complete signed note.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        Ok(format!("{text}\n{}", self.signature_line(text)?))
    }

    /// The signature line of `text` (a note text ending in a newline): `— <name> <base64>\n`,
    /// what goes after the blank line of a signed note.
    pub fn signature_line(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::MalformedNote("text must end with a newline"));
        }
        check_note_chars(text)?;
        let signature = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(4 + 64);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&signature.to_bytes());
        Ok(format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw)))
    }

    /// Signs a checkpoint and returns the complete signed note.
    pub fn sign_checkpoint(&self, checkpoint: &Checkpoint) -> Result<String, NoteError> {
        self.sign_note(&checkpoint.body()?)
    }
}

/// A verifier key for notes: a key name, key id and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses `<name>+<8 hex id>+<base64(0x01 || public key)>`, checking the
    /// id against the name and key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, key_id, key) = parse_verifier_key(vkey, ALG_ED25519)?;
        Ok(Self { name, key_id, key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Verifies a signed note and returns its text (which ends in a newline).
    ///
    /// Succeeds only if the note carries a valid signature from this key.
    /// Signatures from other keys are ignored, as the format requires, so
    /// that witnesses can cosign; a signature that claims this key (same name
    /// and id) but does not verify rejects the whole note.
    pub fn open_note<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        check_note_chars(note)?;
        let split = note.rfind("\n\n").ok_or(NoteError::MalformedNote("no blank line before signatures"))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::MalformedNote("signature block must end with a newline"));
        }
        let mut verified = false;
        for (count, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
            if count >= MAX_SIGNATURES {
                return Err(NoteError::MalformedNote("too many signatures"));
            }
            let body =
                line.strip_prefix(SIG_PREFIX).ok_or(NoteError::MalformedNote("signature line must start with '— '"))?;
            let (name, b64) = body.split_once(' ').unwrap_or((body, ""));
            let raw = B64.decode(b64).map_err(|_| NoteError::MalformedNote("signature is not base64"))?;
            if !is_valid_key_name(name) || b64.is_empty() || raw.len() < 5 {
                return Err(NoteError::MalformedNote("malformed signature line"));
            }
            let id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
            if name != self.name || id != self.key_id {
                continue;
            }
            // Repeated signatures by the same key are dropped unchecked, as
            // in the Go implementation.
            if verified {
                continue;
            }
            let signature = Signature::from_slice(&raw[4..])
                .map_err(|_| NoteError::InvalidSignature { name: name.to_owned(), key_id: id })?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| NoteError::InvalidSignature { name: name.to_owned(), key_id: id })?;
            verified = true;
        }
        if verified {
            Ok(text)
        } else {
            Err(NoteError::MissingSignature { name: self.name.clone(), key_id: self.key_id })
        }
    }

    /// Verifies a signed checkpoint and returns its contents. The origin must
    /// equal this key's name: a ledger signs under its own origin.
    pub fn open_checkpoint(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let checkpoint = Checkpoint::parse_body(self.open_note(note)?)?;
        if checkpoint.origin != self.name {
            return Err(NoteError::OriginMismatch { origin: checkpoint.origin, name: self.name.clone() });
        }
        Ok(checkpoint)
    }
}

impl fmt::Display for NoteVerifier {
    /// The verifier key string, `<name>+<id>+<base64(0x01 || public key)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_verifier_key(f, &self.name, self.key_id, ALG_ED25519, &self.key)
    }
}

/// Parses a verifier key `<name>+<8 hex id>+<base64(alg || Ed25519 public key)>` of signature
/// type `alg` (0x01 for a log's key, 0x04 for a witness's), checking the id.
pub(crate) fn parse_verifier_key(vkey: &str, alg: u8) -> Result<(String, u32, VerifyingKey), NoteError> {
    let malformed = NoteError::MalformedVerifierKey;
    let (name, claimed, key) = split_key_string(vkey).ok_or(malformed("expected <name>+<id>+<key>"))?;
    check_name(name)?;
    let public: [u8; 32] = match key.split_first() {
        None => return Err(malformed("empty key")),
        Some((&a, public)) if a == alg => {
            public.try_into().map_err(|_| malformed("Ed25519 public key must be 32 bytes"))?
        }
        Some((&other, _)) => return Err(NoteError::UnsupportedAlgorithm(other)),
    };
    let computed = key_id_of(alg, name, &public);
    if computed != claimed {
        return Err(NoteError::KeyIdMismatch { claimed, computed });
    }
    let key = VerifyingKey::from_bytes(&public).map_err(|_| malformed("not a valid Ed25519 public key"))?;
    Ok((name.to_owned(), computed, key))
}

/// Writes the verifier key string of an Ed25519 key of signature type `alg`.
pub(crate) fn write_verifier_key(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    key_id: u32,
    alg: u8,
    key: &VerifyingKey,
) -> fmt::Result {
    let mut raw = [0u8; 33];
    raw[0] = alg;
    raw[1..].copy_from_slice(key.as_bytes());
    write!(f, "{name}+{key_id:08x}+{}", B64.encode(raw))
}

/// Notes must be free of ASCII control characters other than newline.
pub(crate) fn check_note_chars(text: &str) -> Result<(), NoteError> {
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        Err(NoteError::MalformedNote("control character"))
    } else {
        Ok(())
    }
}

/// A transparency-log checkpoint: the log's identity, size and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; also the name of the key that signs it.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 root of the tree at that size.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> Result<String, NoteError> {
        if self.origin.is_empty() || self.origin.contains('\n') {
            return Err(NoteError::MalformedCheckpoint("origin must be a single non-empty line".into()));
        }
        Ok(format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root)))
    }

    /// Parses a checkpoint note text. Extension lines after the root are
    /// allowed by the format; they must be non-empty and are not kept.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::MalformedCheckpoint(why.to_owned());
        let body = text.strip_suffix('\n').ok_or_else(|| bad("text must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size_line = lines.next().ok_or_else(|| bad("missing tree size line"))?;
        let root_line = lines.next().ok_or_else(|| bad("missing root hash line"))?;
        if origin.is_empty() {
            return Err(bad("empty origin"));
        }
        if lines.any(str::is_empty) {
            return Err(bad("empty extension line"));
        }
        let canonical = size_line == "0" || !size_line.starts_with('0');
        if size_line.is_empty() || !canonical || !size_line.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NoteError::MalformedCheckpoint(format!(
                "tree size {size_line:?} is not a decimal number without leading zeros"
            )));
        }
        let size = size_line
            .parse::<u64>()
            .map_err(|_| NoteError::MalformedCheckpoint(format!("tree size {size_line:?} is too large")))?;
        let root = B64
            .decode(root_line)
            .ok()
            .and_then(|raw| <Hash>::try_from(raw).ok())
            .ok_or_else(|| bad("root hash is not base64 of 32 bytes"))?;
        Ok(Self { origin: origin.to_owned(), size, root })
    }
}

/// Signs `checkpoint` with `signer`; the result is the full note text.
pub fn sign_checkpoint(signer: &NoteSigner, checkpoint: &Checkpoint) -> Result<String, NoteError> {
    signer.sign_checkpoint(checkpoint)
}

/// Verifies a signed checkpoint note against `verifier` and parses it.
pub fn open_checkpoint(text: &str, verifier: &NoteVerifier) -> Result<Checkpoint, NoteError> {
    verifier.open_checkpoint(text)
}
