//! The storage contract every ledger backend implements, and the types that
//! cross it.
//!
//! The contract is synchronous and small on purpose: an atomic,
//! optimistic-concurrency `append`, ordered streaming reads, and access to
//! the signed checkpoints. Backends store leaves as the exact frame bytes
//! (see [`crate::frame`]) so that [`crate::verify()`] can recompute everything
//! from what is stored; [`crate::conformance::storage_story`] and its
//! chapters check that a backend keeps the promises written here. A backend
//! writes the reads itself and hands `append` and group commit to a
//! [`crate::writer::Writer`], so the promises of the write half are kept once.

use std::error::Error as StdError;
use std::path::PathBuf;

use thiserror::Error;

use crate::frame::{self, FrameError};
use crate::merkle::{Hash, ProofError};
use crate::note::{NoteError, NoteVerifier};

/// Longest stream name, in bytes.
pub const MAX_STREAM_LEN: usize = 255;

/// An event to append: opaque payload bytes for a named stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// The stream the event belongs to.
    pub stream: String,
    /// Opaque payload (the application writes JSON).
    pub payload: Vec<u8>,
}

/// The version the caller saw for a stream when it decided (0 = stream absent).
///
/// Expectations may also name streams that receive no record in the append:
/// they then guard a decision that read those streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The stream.
    pub stream: String,
    /// Its version as the caller saw it.
    pub version: u64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 0-based leaf index in the log.
    pub seq: u64,
    /// The stream.
    pub stream: String,
    /// 1-based version within the stream.
    pub stream_version: u64,
    /// Unix microseconds supplied by the appender.
    pub recorded_at: i64,
    /// The payload.
    pub payload: Vec<u8>,
    /// The stored leaf hash.
    pub leaf_hash: Hash,
}

/// The outcome of a successful append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Sequence number of the first appended event.
    pub first_seq: u64,
    /// Log size after the append.
    pub size: u64,
    /// Tree root at that size.
    pub root: Hash,
    /// The signed checkpoint note for that size.
    pub checkpoint: String,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The size recorded beside the note (which states its own size too).
    pub size: u64,
    /// The signed note text.
    pub note: String,
}

/// One stored row exactly as the backend holds it, before any checking.
///
/// Integer columns are signed because SQL stores them so; the verifier is
/// the one to judge values that make no sense.
#[derive(Debug, Clone, Copy)]
pub struct RawEntry<'a> {
    /// The row's sequence column.
    pub seq: i64,
    /// The row's stream column, as bytes.
    pub stream: &'a [u8],
    /// The row's stream version column.
    pub stream_version: i64,
    /// The row's timestamp column.
    pub recorded_at: i64,
    /// The frame bytes.
    pub leaf: &'a [u8],
    /// The stored leaf hash (32 bytes unless the store was tampered with).
    pub leaf_hash: &'a [u8],
}

/// The copy of the latest checkpoint a backend keeps outside its main store,
/// where tampering with the store cannot reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sidecar {
    /// This backend keeps no such copy (e.g. in-memory).
    NotKept,
    /// The copy should exist but does not.
    Missing {
        /// Where it was looked for.
        location: String,
    },
    /// The copy.
    Found {
        /// Where it was read from.
        location: String,
        /// The signed note text.
        note: String,
    },
}

/// Errors of ledger operations.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// A stream's version differed from the caller's expectation; nothing
    /// was written.
    #[error("conflict on stream {stream:?}: expected version {expected}, found {actual}")]
    Conflict {
        /// The stream.
        stream: String,
        /// The version the caller expected.
        expected: u64,
        /// The version found.
        actual: u64,
    },
    /// An append without records.
    #[error("append needs at least one record")]
    EmptyAppend,
    /// A record for a stream that has no expectation.
    #[error("record for stream {stream:?} has no expectation")]
    MissingExpectation {
        /// The stream.
        stream: String,
    },
    /// The same stream listed twice among the expectations.
    #[error("stream {stream:?} has more than one expectation")]
    DuplicateExpectation {
        /// The stream.
        stream: String,
    },
    /// A stream name that is empty or too long.
    #[error("invalid stream name {stream:?}: {reason}")]
    InvalidStreamName {
        /// The name.
        stream: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// An origin that cannot serve as a key name.
    #[error("invalid origin {origin:?}: it must be non-empty, without spaces or '+'")]
    InvalidOrigin {
        /// The origin.
        origin: String,
    },
    /// A request past the end of the log.
    #[error("{what}: requested {requested}, log has {size} events")]
    OutOfRange {
        /// What was requested.
        what: &'static str,
        /// The requested size or position.
        requested: u64,
        /// The log size.
        size: u64,
    },
    /// No ledger exists at the path.
    #[error("no ledger at {}: it has not been created", path.display())]
    NotInitialised {
        /// The database path.
        path: PathBuf,
    },
    /// A ledger (or its key files) already exists at the path.
    #[error("a ledger already exists at {}", path.display())]
    AlreadyInitialised {
        /// The existing file.
        path: PathBuf,
    },
    /// The file exists but is not a ledger database.
    #[error("{} is not a ledger database: {detail}", path.display())]
    NotALedger {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// Another writer held the database for longer than the busy timeout.
    #[error("{} is locked by another writer (waited {waited_ms} ms)", path.display())]
    Locked {
        /// The database path.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u128,
    },
    /// The ledger was opened to audit, without its signing key.
    #[error("{} was opened to audit only (no signing key); it cannot be appended to", path.display())]
    ReadOnly {
        /// The database path.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key file holds something that is not a usable key.
    #[error("key file {}: {source}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why the key was rejected.
        #[source]
        source: NoteError,
    },
    /// A key file its group or others may read: whoever reads it can sign as the log.
    #[error(
        "key file {} may be read by others (mode {mode:04o}): anyone who can read it can rewrite the log and sign it; run `chmod 600 {}` and keep it where only the service's user can read it",
        path.display(),
        path.display()
    )]
    KeyExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The checkpoint signer failed, or signs for another log.
    #[error("{signer}: {detail}")]
    Signer {
        /// Which signer ("key file PATH").
        signer: String,
        /// What went wrong.
        detail: String,
    },
    /// Signing or parsing a note failed.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A record could not be framed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A proof could not be produced.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Stored data is inconsistent; [`crate::verify::verify`] gives details.
    #[error("stored data is corrupt at {at}: {detail}")]
    Corrupt {
        /// Where (an event, a table).
        at: String,
        /// What is wrong.
        detail: String,
    },
    /// Any other failure of the storage engine.
    #[error("{context}: {source}")]
    Backend {
        /// What was being done, including the store's location.
        context: String,
        /// The engine's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl LedgerError {
    pub(crate) fn corrupt(at: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Corrupt { at: at.into(), detail: detail.into() }
    }
}

/// Checks a stream name: non-empty UTF-8 of at most [`MAX_STREAM_LEN`] bytes.
pub fn check_stream_name(stream: &str) -> Result<(), LedgerError> {
    let reason = if stream.is_empty() {
        "must not be empty"
    } else if stream.len() > MAX_STREAM_LEN {
        "must be at most 255 bytes"
    } else {
        return Ok(());
    };
    Err(LedgerError::InvalidStreamName { stream: stream.to_owned(), reason })
}

/// Checks an append request that does not depend on stored state: at least
/// one record, valid names, one expectation per stream, and an expectation
/// for every stream that gets a record. Backends call this before touching
/// storage.
pub fn check_append_request(expect: &[Expectation], records: &[NewRecord]) -> Result<(), LedgerError> {
    if records.is_empty() {
        return Err(LedgerError::EmptyAppend);
    }
    for (i, e) in expect.iter().enumerate() {
        check_stream_name(&e.stream)?;
        if expect[..i].iter().any(|prev| prev.stream == e.stream) {
            return Err(LedgerError::DuplicateExpectation { stream: e.stream.clone() });
        }
    }
    for r in records {
        check_stream_name(&r.stream)?;
        if !expect.iter().any(|e| e.stream == r.stream) {
            return Err(LedgerError::MissingExpectation { stream: r.stream.clone() });
        }
        if u32::try_from(r.payload.len()).is_err() {
            return Err(FrameError::PayloadTooLarge(r.payload.len()).into());
        }
    }
    Ok(())
}

/// An append-only, tamper-evident event log.
pub trait Ledger {
    /// All-or-nothing. Every stream that gets a record must appear in `expect`;
    /// if any stream's current version differs from the expectation, nothing is written and
    /// `LedgerError::Conflict { stream, expected, actual }` is returned. Writes a signed checkpoint
    /// for the new size in the same transaction.
    fn append(
        &mut self,
        expect: &[Expectation],
        records: &[NewRecord],
        recorded_at: i64,
    ) -> Result<Appended, LedgerError>;

    /// Opens a group commit: the appends that follow are each all-or-nothing as always, but
    /// become durable together, at [`Ledger::commit_group`], under one signed checkpoint. A
    /// server uses it to pay one sync for many concurrent writers. The default has no groups:
    /// every append commits itself.
    fn begin_group(&mut self) -> Result<(), LedgerError> {
        Ok(())
    }

    /// Signs a checkpoint of the group's last size and commits the group; the note, or `None`
    /// when nothing was appended (or no group is open). On an error nothing of the group is
    /// kept: the log is as it was before the group began.
    fn commit_group(&mut self) -> Result<Option<String>, LedgerError> {
        Ok(None)
    }

    /// Discards an open group: its appends are not kept.
    fn abandon_group(&mut self) {}

    /// Number of events.
    fn size(&self) -> Result<u64, LedgerError>;

    /// Current version of a stream (0 if it has no events).
    fn stream_version(&self, stream: &str) -> Result<u64, LedgerError>;

    /// Streams stored rows with seq >= `from`, in seq order, without any
    /// checking, to the callback. An error from the callback stops the scan
    /// and is returned.
    ///
    /// A scan reads one committed state of the log: beside a running append it sees all of
    /// that append or nothing of it ([`crate::conformance::concurrency_story`] checks it). The
    /// other scans are built on this one and inherit it.
    fn scan_raw(
        &self,
        from: u64,
        f: &mut dyn FnMut(&RawEntry<'_>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError>;

    /// Streams records with seq >= from, in seq order, to the callback (constant memory).
    ///
    /// Each record is decoded from its frame; a row whose frame does not
    /// decode or disagrees with its columns ends the scan with
    /// [`LedgerError::Corrupt`].
    fn scan(&self, from: u64, f: &mut dyn FnMut(Record) -> Result<(), LedgerError>) -> Result<(), LedgerError> {
        self.scan_raw(from, &mut |raw| f(decode_raw(raw)?))
    }

    /// Like [`Ledger::scan`], lending each event's frame instead of copying it: for readers
    /// of the whole log (replay, audit) where the copies would dominate.
    fn scan_frames(
        &self,
        from: u64,
        f: &mut dyn FnMut(crate::frame::Frame<'_>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        self.scan_raw(from, &mut |raw| f(checked_frame(raw)?))
    }

    /// Streams the records of one stream with `stream_version >= from_version`, in version
    /// (and so seq) order, to the callback: what a reader rebuilding one stream's state reads,
    /// without passing over the rest of the log. A stream with no such records streams
    /// nothing. Records are decoded and checked as by [`Ledger::scan`]; an error from the
    /// callback stops the scan and is returned.
    fn scan_stream(
        &self,
        stream: &str,
        from_version: u64,
        f: &mut dyn FnMut(Record) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError>;

    /// Stored leaf hashes of the first `size` events.
    fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>, LedgerError>;

    /// All stored checkpoints, by increasing size.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, LedgerError>;

    /// Streams the stored checkpoints by increasing size, for callers that
    /// should not hold them all; backends with many checkpoints override it.
    fn scan_checkpoints(
        &self,
        f: &mut dyn FnMut(StoredCheckpoint) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        self.checkpoints()?.into_iter().try_for_each(f)
    }

    /// The latest stored checkpoint, if any.
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, LedgerError> {
        Ok(self.checkpoints()?.pop())
    }

    /// The stored checkpoint of exactly `size` events, if one was signed at that size: what a
    /// cache of state built at that size is checked against.
    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, LedgerError> {
        let mut found = None;
        self.scan_checkpoints(&mut |c| {
            if c.size == size {
                found = Some(c);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// The signature line of a note text (ending in a newline) by the key that signs this
    /// log's checkpoints, for other notes about the log (a state snapshot). The note's first
    /// line must say what it is, so that it can never pass for a checkpoint.
    fn sign_note(&self, text: &str) -> Result<String, LedgerError> {
        let _ = text;
        Err(LedgerError::ReadOnly { path: std::path::PathBuf::new() })
    }

    /// The copy of the latest checkpoint kept outside the main store.
    fn sidecar(&self) -> Result<Sidecar, LedgerError> {
        Ok(Sidecar::NotKept)
    }

    /// The key that signs this ledger's checkpoints.
    fn verifier(&self) -> &NoteVerifier;

    /// The log's origin (the checkpoint origin line and key name).
    fn origin(&self) -> &str {
        self.verifier().name()
    }
}

/// The frame of a stored row, borrowed, requiring the columns to agree with it.
pub fn checked_frame<'a>(raw: &RawEntry<'a>) -> Result<frame::Frame<'a>, LedgerError> {
    let at = || format!("event {}", raw.seq);
    let frame = frame::decode(raw.leaf).map_err(|e| LedgerError::corrupt(at(), e.to_string()))?;
    let seq_ok = u64::try_from(raw.seq).is_ok_and(|s| s == frame.seq);
    let version_ok = u64::try_from(raw.stream_version).is_ok_and(|v| v == frame.stream_version);
    if !seq_ok || !version_ok || raw.stream != frame.stream.as_bytes() || raw.recorded_at != frame.recorded_at {
        return Err(LedgerError::corrupt(at(), "row columns disagree with the stored frame"));
    }
    Ok(frame)
}

/// Decodes a stored row into a [`Record`], requiring the columns to agree
/// with the frame.
pub fn decode_raw(raw: &RawEntry<'_>) -> Result<Record, LedgerError> {
    let at = || format!("event {}", raw.seq);
    let frame = checked_frame(raw)?;
    let leaf_hash =
        <Hash>::try_from(raw.leaf_hash).map_err(|_| LedgerError::corrupt(at(), "stored leaf hash is not 32 bytes"))?;
    Ok(Record {
        seq: frame.seq,
        stream: frame.stream.to_owned(),
        stream_version: frame.stream_version,
        recorded_at: frame.recorded_at,
        payload: frame.payload.to_vec(),
        leaf_hash,
    })
}
