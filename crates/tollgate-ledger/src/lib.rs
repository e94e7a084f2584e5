//! Tollgate's append-only, tamper-evident event log.
//!
//! The ledger stores opaque payloads (the application's JSON) in named
//! streams and knows nothing about what they mean. Every event becomes a leaf
//! of an RFC 6962 Merkle tree ([`merkle`]) in a fixed binary layout
//! ([`frame`]); every append signs a C2SP checkpoint of the new tree
//! ([`note`]) with a [`signer::CheckpointSigner`], and witnesses may cosign
//! it ([`cosignature`]). Backends implement the [`store::Ledger`] contract —
//! SQLite today ([`sqlite`]) — writing its read half themselves and handing
//! appends to the [`writer::Writer`], which holds everything an append decides
//! (conflicts, frames, the tree, signing, group commit) over the backend's thin
//! [`writer::StorageTx`]. [`verify()`] recomputes everything from the stored
//! leaves to show whether anything was edited, removed, reordered or
//! truncated. [`conformance`] holds the shared test story every backend must
//! pass, concurrency included.

pub mod conformance;
pub mod cosignature;
pub mod files;
pub mod frame;
pub mod merkle;
pub mod note;
pub mod signer;
pub mod sqlite;
pub mod store;
pub mod verify;
pub mod writer;

pub use merkle::{CompactRange, Hash, ProofError};
pub use note::{Checkpoint, NoteError, NoteSigner, NoteVerifier};
pub use signer::{CheckpointSigner, KeyFile};
pub use sqlite::{SqliteLedger, SqliteOptions};
pub use store::{Appended, Expectation, Ledger, LedgerError, NewRecord, RawEntry, Record, Sidecar, StoredCheckpoint};
pub use verify::{Problem, VerifyReport, verify, verify_each};
pub use writer::{Storage, StorageTx, TxScope, Writer};
