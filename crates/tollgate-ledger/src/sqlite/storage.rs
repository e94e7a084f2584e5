//! The SQLite store as the [`Writer`](crate::writer::Writer) sees it: its transactions and the
//! handful of statements an append runs in them. Everything an append decides is the writer's;
//! this is only where the rows go.
//!
//! An append of its own is `BEGIN IMMEDIATE … COMMIT`, taking the write lock before the first
//! read so that appenders serialise; one in a group is a savepoint of the group's transaction,
//! so a refused append undoes only itself. The statements an append repeats per record or
//! stream are prepared (from the connection's cache) once per transaction and held by it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

use super::{SqliteOptions, location, sidecar_path, sql_error, to_i64, to_u64};
use crate::files;
use crate::frame::Frame;
use crate::merkle::{CompactRange, Hash};
use crate::store::{LedgerError, Sidecar};
use crate::writer::{Storage, StorageTx, TxScope, stored_frontier};

pub(super) const SELECT_VERSION: &str = "SELECT version FROM streams WHERE stream = ?1";
pub(super) const INSERT_CHECKPOINT: &str = "INSERT INTO checkpoints(size, note) VALUES (?1, ?2)";
const SELECT_STATE: &str = "SELECT size, frontier FROM tree_state WHERE id = 0";
const INSERT_ENTRY: &str =
    "INSERT INTO entries(seq, stream, stream_version, recorded_at, leaf, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const UPSERT_STREAM: &str =
    "INSERT INTO streams(stream, version) VALUES (?1, ?2) ON CONFLICT(stream) DO UPDATE SET version = excluded.version";
const UPDATE_STATE: &str = "UPDATE tree_state SET size = ?1, frontier = ?2 WHERE id = 0";

/// The savepoint of an append inside a group's transaction.
const SAVEPOINT: &str = "SAVEPOINT ledger_append";
const RELEASE: &str = "RELEASE ledger_append";
const ROLLBACK_SAVEPOINT: &str = "ROLLBACK TO ledger_append; RELEASE ledger_append";

/// The database of a SQLite ledger, and its sidecar.
#[derive(Debug)]
pub(super) struct SqliteStore {
    pub(super) conn: Connection,
    /// `None` for an in-memory ledger.
    pub(super) path: Option<PathBuf>,
    pub(super) options: SqliteOptions,
    pub(super) last_sidecar_error: Option<io::Error>,
}

impl SqliteStore {
    pub(super) fn sql<'a>(&'a self, context: &'a str) -> impl FnOnce(rusqlite::Error) -> LedgerError + 'a {
        sql_error(&self.options, self.path.as_deref(), context)
    }

    pub(super) fn write_sidecar(&mut self, note: &str) {
        let Some(path) = self.path.as_deref() else {
            return;
        };
        self.last_sidecar_error = files::replace(&sidecar_path(path), note.as_bytes(), self.options.sync_sidecar).err();
    }

    pub(super) fn sidecar(&self) -> Result<Sidecar, LedgerError> {
        let Some(path) = self.path.as_deref() else {
            return Ok(Sidecar::NotKept);
        };
        let file = sidecar_path(path);
        let location = file.display().to_string();
        match fs::read_to_string(&file) {
            Ok(note) => Ok(Sidecar::Found { location, note }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Sidecar::Missing { location }),
            Err(e) => Err(LedgerError::Io { path: file, source: e }),
        }
    }

    fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl Storage for SqliteStore {
    type Tx<'s> = SqliteTx<'s>;

    fn begin(&mut self, scope: TxScope) -> Result<SqliteTx<'_>, LedgerError> {
        let start = match scope {
            TxScope::Own => "BEGIN IMMEDIATE",
            TxScope::InGroup => SAVEPOINT,
        };
        self.conn.execute_batch(start).map_err(self.sql("starting the append"))?;
        Ok(SqliteTx { store: self, scope, committed: false, select_version: None, insert_entry: None, upsert: None })
    }

    fn begin_group(&mut self) -> Result<(), LedgerError> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(self.sql("starting a group commit"))
    }

    fn commit_group(&mut self) -> Result<(), LedgerError> {
        self.conn.execute_batch("COMMIT").map_err(self.sql("committing the group"))
    }

    fn rollback_group(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    fn committed(&mut self, note: &str) {
        self.write_sidecar(note);
    }

    fn location(&self) -> String {
        location(self.path())
    }
}

/// An append's transaction: its own, or a savepoint of the open group's. Dropped uncommitted,
/// it rolls back.
pub(super) struct SqliteTx<'s> {
    store: &'s SqliteStore,
    scope: TxScope,
    committed: bool,
    select_version: Option<CachedStatement<'s>>,
    insert_entry: Option<CachedStatement<'s>>,
    upsert: Option<CachedStatement<'s>>,
}

/// The statement in `slot`, prepared from the connection's cache on first use.
fn held<'t, 's>(
    conn: &'s Connection,
    slot: &'t mut Option<CachedStatement<'s>>,
    sql: &str,
) -> rusqlite::Result<&'t mut CachedStatement<'s>> {
    match slot {
        Some(statement) => Ok(statement),
        None => Ok(slot.insert(conn.prepare_cached(sql)?)),
    }
}

impl SqliteTx<'_> {
    fn sql<'a>(&'a self, context: &'a str) -> impl FnOnce(rusqlite::Error) -> LedgerError + 'a {
        self.store.sql(context)
    }

    /// Returns the held statements to the cache before the transaction ends.
    fn release_statements(&mut self) {
        (self.select_version, self.insert_entry, self.upsert) = (None, None, None);
    }
}

impl StorageTx for SqliteTx<'_> {
    fn stream_version(&mut self, stream: &str) -> Result<u64, LedgerError> {
        let store = self.store;
        let version: Option<i64> = held(&store.conn, &mut self.select_version, SELECT_VERSION)
            .and_then(|s| s.query_row([stream], |r| r.get(0)).optional())
            .map_err(store.sql("reading stream versions"))?;
        version.map_or(Ok(0), |v| {
            u64::try_from(v).map_err(|_| {
                let at = format!("{} streams.version of {stream:?}", location(store.path()));
                LedgerError::corrupt(at, format!("negative value {v}"))
            })
        })
    }

    fn tree_state(&mut self) -> Result<CompactRange, LedgerError> {
        let (size, frontier): (i64, Vec<u8>) = self
            .store
            .conn
            .prepare_cached(SELECT_STATE)
            .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(self.sql("reading the tree state"))?;
        stored_frontier(to_u64(size, "tree_state.size")?, &frontier, || {
            format!("{} tree_state", location(self.store.path()))
        })
    }

    fn insert_event(&mut self, event: &Frame<'_>, leaf: &[u8], leaf_hash: &Hash) -> Result<(), LedgerError> {
        let (seq, version) = (to_i64(event.seq, "seq")?, to_i64(event.stream_version, "stream_version")?);
        let store = self.store;
        held(&store.conn, &mut self.insert_entry, INSERT_ENTRY)
            .and_then(|s| s.execute(params![seq, event.stream, version, event.recorded_at, leaf, &leaf_hash[..]]))
            .map_err(store.sql("inserting events"))?;
        Ok(())
    }

    fn set_stream_version(&mut self, stream: &str, version: u64) -> Result<(), LedgerError> {
        let version = to_i64(version, "stream_version")?;
        let store = self.store;
        held(&store.conn, &mut self.upsert, UPSERT_STREAM)
            .and_then(|s| s.execute(params![stream, version]))
            .map_err(store.sql("updating stream versions"))?;
        Ok(())
    }

    fn set_tree_state(&mut self, tree: &CompactRange) -> Result<(), LedgerError> {
        let size = to_i64(tree.size(), "size")?;
        self.store
            .conn
            .prepare_cached(UPDATE_STATE)
            .and_then(|mut s| s.execute(params![size, tree.hashes().concat()]))
            .map_err(self.sql("recording the tree state"))?;
        Ok(())
    }

    fn insert_checkpoint(&mut self, size: u64, note: &str) -> Result<(), LedgerError> {
        let size = to_i64(size, "size")?;
        self.store
            .conn
            .prepare_cached(INSERT_CHECKPOINT)
            .and_then(|mut s| s.execute(params![size, note]))
            .map_err(self.sql("recording the checkpoint"))?;
        Ok(())
    }

    fn commit(mut self) -> Result<(), LedgerError> {
        self.release_statements();
        let end = match self.scope {
            TxScope::Own => "COMMIT",
            TxScope::InGroup => RELEASE,
        };
        self.store.conn.execute_batch(end).map_err(self.sql("committing the append"))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        self.release_statements();
        let conn = &self.store.conn;
        let _ = match self.scope {
            // A failed COMMIT may have ended the transaction already.
            TxScope::Own if conn.is_autocommit() => Ok(()),
            TxScope::Own => conn.execute_batch("ROLLBACK"),
            TxScope::InGroup => conn.execute_batch(ROLLBACK_SAVEPOINT),
        };
    }
}
