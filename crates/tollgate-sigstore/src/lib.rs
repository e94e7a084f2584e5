//! Offline signature checks for release artefacts. Everything takes bytes and returns a
//! verdict with a reason; nothing here reads files or the network.
//!
//! - [`verify_key_signature`]: a detached signature made with a long-lived key
//!   (`cosign sign-blob --key`, `openssl dgst -sign`).
//! - [`verify_dsse`]: a DSSE envelope signed with a long-lived key.
//! - [`verify_bundle`]: a Sigstore bundle (v0.1 to v0.3), checked against a trusted root:
//!   certificate chain, signer identity, certificate transparency, transparency log
//!   (Rekor v1 and v2) and RFC 3161 timestamps.
//!
//! Anything not understood (an unknown bundle version, key type, log entry kind) is refused,
//! never skipped.

#![forbid(unsafe_code)]

mod asn1;
pub mod bundle;
mod cert;
mod checkpoint;
pub mod dsse;
pub mod error;
mod json;
mod keys;
pub mod keysig;
mod merkle;
mod rekor;
mod sct;
mod time;
mod trust;
mod tsa;

pub use bundle::{Artifact, Policy, VerifiedBundle, verify_bundle, verify_bundle_at};
pub use dsse::{Dsse, verify_dsse};
pub use error::{SigError, SigErrorKind};
pub use keys::{EcdsaEncoding, HashAlg, PublicKey, constant_time_eq, sha256};
pub use keysig::{KeyAlgorithm, KeySignature, verify_key_signature, verify_key_signature_digest};
