//! The write half of the [`Ledger`](crate::store::Ledger) contract, written once for every
//! backend.
//!
//! What makes an append trustworthy — the expectation check, the exact leaf frames, the leaf
//! hashes, the Merkle frontier carried from append to append, the signed and re-verified
//! checkpoint, group commit — does not depend on where the rows go. A backend would get it
//! subtly wrong by re-implementing it, so [`Writer`] holds it and asks the backend only for a
//! thin storage transaction: read a stream's version and the tree state, insert an event, set a
//! version and the tree state, insert a checkpoint, commit ([`StorageTx`]); and for the
//! transactions themselves ([`Storage`]). A backend's [`Ledger`](crate::store::Ledger) impl then
//! hands `append`, `begin_group`, `commit_group` and `abandon_group` to its `Writer`.
//!
//! All-or-nothing rests on the backend's transaction: the writer writes nothing outside one,
//! and a transaction dropped without [`StorageTx::commit`] must leave the store as it was.
//! Serialising appenders rests on [`Storage::begin`] taking the store's write lock before the
//! first read, so the versions and the frontier the writer reads cannot change under it.

use std::collections::HashMap;
use std::fmt;

use crate::frame::Frame;
use crate::merkle::{self, CompactRange, Hash};
use crate::note::{Checkpoint, NoteVerifier};
use crate::signer::{CheckpointSigner, sign_checkpoint};
use crate::store::{Appended, Expectation, LedgerError, NewRecord, check_append_request};

/// Which transaction an append runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxScope {
    /// Its own: it takes the store's write lock and, committed, is durable.
    Own,
    /// A nested part (a savepoint) of the open group's transaction
    /// ([`Storage::begin_group`]): committed, it joins the group; dropped, it undoes only
    /// itself.
    InGroup,
}

/// One open write transaction of a backend, as [`Writer`] uses it. Dropped without
/// [`StorageTx::commit`], it must undo everything written through it.
pub trait StorageTx {
    /// The stream's stored version, 0 when it has no events.
    fn stream_version(&mut self, stream: &str) -> Result<u64, LedgerError>;
    /// The stored tree state: the log size and its frontier (see [`stored_frontier`]).
    fn tree_state(&mut self) -> Result<CompactRange, LedgerError>;
    /// Stores one event: its columns (`event`), the exact frame bytes that are its leaf, and
    /// the leaf's hash.
    fn insert_event(&mut self, event: &Frame<'_>, leaf: &[u8], leaf_hash: &Hash) -> Result<(), LedgerError>;
    /// Records a stream's new version (inserting the stream if it is new).
    fn set_stream_version(&mut self, stream: &str, version: u64) -> Result<(), LedgerError>;
    /// Records the new tree state.
    fn set_tree_state(&mut self, tree: &CompactRange) -> Result<(), LedgerError>;
    /// Stores a signed checkpoint note of the log at `size`.
    fn insert_checkpoint(&mut self, size: u64, note: &str) -> Result<(), LedgerError>;
    /// Ends the transaction keeping what it wrote.
    fn commit(self) -> Result<(), LedgerError>;
}

/// The transactions of a backend's store.
pub trait Storage {
    /// The backend's transaction, borrowing the store while it is open.
    type Tx<'s>: StorageTx
    where
        Self: 's;

    /// Starts a transaction. [`TxScope::Own`] takes the store's write lock before anything is
    /// read, so that two appenders serialise and the second reads the first one's versions.
    fn begin(&mut self, scope: TxScope) -> Result<Self::Tx<'_>, LedgerError>;
    /// Starts a group's transaction, taking the write lock until it ends.
    fn begin_group(&mut self) -> Result<(), LedgerError>;
    /// Commits the group's transaction: everything appended in it becomes durable at once.
    fn commit_group(&mut self) -> Result<(), LedgerError>;
    /// Ends the group's transaction keeping nothing of it.
    fn rollback_group(&mut self);
    /// Told of every commit's checkpoint once it is durable: where a backend keeps its copy of
    /// the latest checkpoint outside the store ([`crate::store::Sidecar`]).
    fn committed(&mut self, note: &str);
    /// Where the store is, for messages.
    fn location(&self) -> String;
}

/// The state of a group commit ([`crate::store::Ledger::begin_group`]). The group's
/// transaction starts with its first append, so an idle group never holds the write lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    None,
    Requested,
    /// In the group's transaction, begun at this log size.
    Open(u64),
}

/// Told of every committed append, after the commit (see [`Writer::on_commit`]).
struct CommitHook(Box<dyn FnMut(&Appended) + Send>);

impl fmt::Debug for CommitHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CommitHook")
    }
}

/// Appends to a ledger through any [`Storage`], and signs its checkpoints.
#[derive(Debug)]
pub struct Writer {
    /// `None` when opened to audit only: such a ledger can be read and verified, not appended to.
    signer: Option<Box<dyn CheckpointSigner>>,
    verifier: NoteVerifier,
    group: Group,
    on_commit: Option<CommitHook>,
}

impl Writer {
    /// A writer signing with `signer`, whose key name is the log's origin.
    pub fn new(signer: Box<dyn CheckpointSigner>) -> Self {
        let verifier = signer.verifier();
        Self { signer: Some(signer), verifier, group: Group::None, on_commit: None }
    }

    /// A writer without a key, for a ledger opened to audit: checkpoints are verified with
    /// `verifier` and every append is refused with [`LedgerError::ReadOnly`].
    pub fn read_only(verifier: NoteVerifier) -> Self {
        Self { signer: None, verifier, group: Group::None, on_commit: None }
    }

    /// The key the log's checkpoints verify with.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Calls `hook` after every committed append (or group), with what was appended and its
    /// signed checkpoint. It runs on the appending thread with the append already durable.
    pub fn on_commit(&mut self, hook: impl FnMut(&Appended) + Send + 'static) {
        self.on_commit = Some(CommitHook(Box::new(hook)));
    }

    /// The signed checkpoint of the empty log, which a new store begins with.
    pub fn empty_checkpoint(&self, storage: &impl Storage) -> Result<String, LedgerError> {
        self.sign(self.signer(storage)?, 0, merkle::EMPTY_ROOT)
    }

    /// [`crate::store::Ledger::append`] over `storage`.
    pub fn append<S: Storage>(
        &mut self,
        storage: &mut S,
        expect: &[Expectation],
        records: &[NewRecord],
        recorded_at: i64,
    ) -> Result<Appended, LedgerError> {
        check_append_request(expect, records)?;
        // Fail before any transaction when this ledger may only be audited.
        self.signer(storage)?;
        match self.group {
            Group::None => {
                let appended = self.append_in(storage, TxScope::Own, expect, records, recorded_at)?;
                self.committed(storage, &appended);
                Ok(appended)
            }
            Group::Open(_) => self.append_in(storage, TxScope::InGroup, expect, records, recorded_at),
            Group::Requested => {
                storage.begin_group()?;
                match self.append_in(storage, TxScope::InGroup, expect, records, recorded_at) {
                    Ok(appended) => {
                        self.group = Group::Open(appended.first_seq);
                        Ok(appended)
                    }
                    // The group's first append, refused: it leaves no empty group holding the lock.
                    Err(e) => {
                        storage.rollback_group();
                        Err(e)
                    }
                }
            }
        }
    }

    /// [`crate::store::Ledger::begin_group`].
    pub fn begin_group(&mut self, storage: &impl Storage) -> Result<(), LedgerError> {
        self.signer(storage)?;
        if self.group == Group::None {
            self.group = Group::Requested;
        }
        Ok(())
    }

    /// [`crate::store::Ledger::commit_group`] over `storage`.
    pub fn commit_group<S: Storage>(&mut self, storage: &mut S) -> Result<Option<String>, LedgerError> {
        let Group::Open(began) = std::mem::replace(&mut self.group, Group::None) else {
            return Ok(None);
        };
        let committed = self.sign_group(storage, began).and_then(|appended| {
            storage.commit_group()?;
            Ok(appended)
        });
        match committed {
            Ok(appended) => {
                if let Some(appended) = &appended {
                    self.committed(storage, appended);
                }
                Ok(appended.map(|a| a.checkpoint))
            }
            Err(e) => {
                storage.rollback_group();
                Err(e)
            }
        }
    }

    /// [`crate::store::Ledger::abandon_group`] over `storage`.
    pub fn abandon_group(&mut self, storage: &mut impl Storage) {
        if let Group::Open(_) = std::mem::replace(&mut self.group, Group::None) {
            storage.rollback_group();
        }
    }

    /// Writes one append in a transaction of `scope`; in a group it is not signed (the group
    /// is, when it commits) and its checkpoint is empty.
    fn append_in<S: Storage>(
        &self,
        storage: &mut S,
        scope: TxScope,
        expect: &[Expectation],
        records: &[NewRecord],
        recorded_at: i64,
    ) -> Result<Appended, LedgerError> {
        let signer = self.signer(storage)?;
        let mut tx = storage.begin(scope)?;
        let mut versions: HashMap<&str, u64> = HashMap::with_capacity(expect.len());
        for e in expect {
            let actual = tx.stream_version(&e.stream)?;
            if actual != e.version {
                return Err(LedgerError::Conflict { stream: e.stream.clone(), expected: e.version, actual });
            }
            versions.insert(&e.stream, actual);
        }

        let mut tree = tx.tree_state()?;
        let first_seq = tree.size();
        // Sizes are stored as SQL integers, so the log ends at i64::MAX.
        let Some(new_size) = first_seq.checked_add(records.len() as u64).filter(|&s| i64::try_from(s).is_ok()) else {
            drop(tx);
            return Err(LedgerError::corrupt(storage.location(), "log size would overflow"));
        };

        let mut leaf = Vec::with_capacity(512);
        for (seq, record) in (first_seq..).zip(records) {
            let version = versions
                .get_mut(record.stream.as_str())
                .ok_or_else(|| LedgerError::MissingExpectation { stream: record.stream.clone() })?;
            *version += 1;
            let event =
                Frame { seq, stream_version: *version, recorded_at, stream: &record.stream, payload: &record.payload };
            leaf.clear();
            event.encode_into(&mut leaf)?;
            let hash = merkle::leaf_hash(&leaf);
            tx.insert_event(&event, &leaf, &hash)?;
            tree.append(hash);
        }
        for e in expect {
            let version = versions.get(e.stream.as_str()).copied().unwrap_or(e.version);
            if version != e.version {
                tx.set_stream_version(&e.stream, version)?;
            }
        }
        tx.set_tree_state(&tree)?;

        let root = tree.root();
        let checkpoint = match scope {
            TxScope::InGroup => String::new(),
            TxScope::Own => {
                let note = self.sign(signer, new_size, root)?;
                tx.insert_checkpoint(new_size, &note)?;
                note
            }
        };
        tx.commit()?;
        Ok(Appended { first_seq, size: new_size, root, checkpoint })
    }

    /// Signs and stores the checkpoint of the open group's last size; `None` when the group
    /// appended nothing.
    fn sign_group<S: Storage>(&self, storage: &mut S, began: u64) -> Result<Option<Appended>, LedgerError> {
        let signer = self.signer(storage)?;
        let mut tx = storage.begin(TxScope::InGroup)?;
        let tree = tx.tree_state()?;
        let (size, root) = (tree.size(), tree.root());
        if size == began {
            return Ok(None);
        }
        let note = self.sign(signer, size, root)?;
        tx.insert_checkpoint(size, &note)?;
        tx.commit()?;
        Ok(Some(Appended { first_seq: began, size, root, checkpoint: note }))
    }

    /// After a commit: the backend's outside copy first, then the hook.
    fn committed(&mut self, storage: &mut impl Storage, appended: &Appended) {
        storage.committed(&appended.checkpoint);
        if let Some(CommitHook(hook)) = &mut self.on_commit {
            hook(appended);
        }
    }

    /// Signs the checkpoint of the log at `size` and checks the signature before anyone stores it.
    fn sign(&self, signer: &dyn CheckpointSigner, size: u64, root: Hash) -> Result<String, LedgerError> {
        let checkpoint = Checkpoint { origin: self.verifier.name().to_owned(), size, root };
        sign_checkpoint(signer, &self.verifier, &checkpoint)
    }

    /// The signature line of another note about the log (a state snapshot), by the log's key;
    /// refused for a note whose first line is the log's origin, which would pass for a
    /// checkpoint.
    pub fn sign_note(&self, storage: &impl Storage, text: &str) -> Result<String, LedgerError> {
        let signer = self.signer(storage)?;
        if text.lines().next() == Some(self.verifier.name()) {
            return Err(LedgerError::Signer {
                signer: signer.describe(),
                detail: "a note whose first line is the log's origin would pass for a checkpoint".into(),
            });
        }
        signer.sign(text)
    }

    fn signer(&self, storage: &impl Storage) -> Result<&dyn CheckpointSigner, LedgerError> {
        self.signer.as_deref().ok_or_else(|| LedgerError::ReadOnly { path: storage.location().into() })
    }
}

/// The tree state from its stored form: the log size and the frontier's hashes concatenated
/// (what [`CompactRange::hashes`] gives, largest subtree first). `at` names the place for a
/// corruption error.
pub fn stored_frontier(size: u64, frontier: &[u8], at: impl Fn() -> String) -> Result<CompactRange, LedgerError> {
    let (hashes, rest) = frontier.as_chunks::<32>();
    if !rest.is_empty() {
        return Err(LedgerError::corrupt(at(), "frontier is not a sequence of 32-byte hashes"));
    }
    CompactRange::from_parts(size, hashes.to_vec()).map_err(|e| LedgerError::corrupt(at(), e.to_string()))
}
