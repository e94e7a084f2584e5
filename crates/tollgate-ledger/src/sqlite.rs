//! The SQLite ledger backend: one database file, its key files and a
//! checkpoint sidecar.
//!
//! Layout on disk for a ledger at `PATH`:
//!
//! * `PATH` — the database (WAL mode, `synchronous=FULL`, so a returned
//!   append survives power loss);
//! * `PATH.key` — the private key string (mode 0600), unless the caller keeps
//!   the key elsewhere and hands the ledger its [`CheckpointSigner`]
//!   ([`SqliteLedger::create_with_key_file`], [`SqliteLedger::open_signed`]);
//! * `PATH.pub` — the verifier key string, always beside the store so that an
//!   auditor holding a copy can verify it;
//! * `PATH.checkpoint` — the latest signed checkpoint, rewritten atomically
//!   after every commit. It lives outside the database so that someone who
//!   deletes the newest rows *and* their checkpoint rows still leaves
//!   evidence behind.
//!
//! What an append decides — conflicts, frames, leaf hashes, the frontier, the signed
//! checkpoint, group commit — is the backend-independent [`Writer`]'s; this backend gives it
//! transactions and statements (its `storage` module). Appends take the write lock up front (`BEGIN
//! IMMEDIATE`), read the stream versions and the persisted Merkle frontier inside that
//! transaction, and commit rows, versions, frontier and the signed checkpoint together. Two
//! processes appending at once therefore serialise, and whichever comes second sees the first
//! one's versions and gets a conflict instead of overwriting it. The frontier makes an append
//! cost O(batch · log n) hashing without reading old leaves.
//!
//! Reading one stream ([`Ledger::scan_stream`]) uses the index SQLite keeps for
//! `UNIQUE(stream, stream_version)`, so the schema needs nothing added for it.
//!
//! Schema (version 1):
//!
//! ```sql
//! meta(key TEXT PRIMARY KEY, value TEXT)            -- schema_version, origin
//! entries(seq INTEGER PRIMARY KEY, stream TEXT, stream_version INTEGER,
//!         recorded_at INTEGER, leaf BLOB, leaf_hash BLOB,
//!         UNIQUE(stream, stream_version))
//! streams(stream TEXT PRIMARY KEY, version INTEGER)
//! checkpoints(size INTEGER PRIMARY KEY, note TEXT)
//! tree_state(id INTEGER PRIMARY KEY CHECK (id = 0), size INTEGER,
//!            frontier BLOB)                         -- the CompactRange
//! ```

mod storage;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::files::{self, with_suffix};
use crate::merkle::Hash;
use crate::note::{NoteSigner, NoteVerifier, is_valid_key_name};
use crate::signer::{CheckpointSigner, KeyFile};
use crate::store::{
    Appended, Expectation, Ledger, LedgerError, NewRecord, RawEntry, Record, Sidecar, StoredCheckpoint, decode_raw,
};
use crate::writer::Writer;
use storage::{INSERT_CHECKPOINT, SELECT_VERSION, SqliteStore};

const SCHEMA_VERSION: &str = "1";
const IN_MEMORY: &str = ":memory:";

const SCHEMA: &str = "
CREATE TABLE meta(
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE entries(
    seq INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    leaf BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    UNIQUE(stream, stream_version)
);
CREATE TABLE streams(
    stream TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE checkpoints(
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL
);
CREATE TABLE tree_state(
    id INTEGER PRIMARY KEY CHECK (id = 0),
    size INTEGER NOT NULL,
    frontier BLOB NOT NULL
);
";

const SCAN_LOG: &str =
    "SELECT seq, stream, stream_version, recorded_at, leaf, leaf_hash FROM entries WHERE seq >= ?1 ORDER BY seq";
/// Served by the index of `UNIQUE(stream, stream_version)`, in that index's order.
const SCAN_STREAM: &str = "SELECT seq, stream, stream_version, recorded_at, leaf, leaf_hash FROM entries \
     WHERE stream = ?1 AND stream_version >= ?2 ORDER BY stream_version";

/// Tunables for opening a SQLite ledger.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long to wait for another writer before failing with
    /// [`LedgerError::Locked`].
    pub busy_timeout: Duration,
    /// Whether to fsync the sidecar before renaming it into place.
    pub sync_sidecar: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { busy_timeout: Duration::from_secs(5), sync_sidecar: true }
    }
}

/// A ledger stored in SQLite.
#[derive(Debug)]
pub struct SqliteLedger {
    store: SqliteStore,
    writer: Writer,
}

/// `PATH.key`: the private key file of the ledger at `path`.
pub fn key_path(path: &Path) -> PathBuf {
    with_suffix(path, ".key")
}

/// `PATH.pub`: the verifier key file of the ledger at `path`.
pub fn pub_path(path: &Path) -> PathBuf {
    with_suffix(path, ".pub")
}

/// `PATH.checkpoint`: the checkpoint sidecar of the ledger at `path`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    with_suffix(path, ".checkpoint")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io { path: path.to_owned(), source }
}

fn to_i64(value: u64, what: &str) -> Result<i64, LedgerError> {
    i64::try_from(value).map_err(|_| LedgerError::corrupt(what, format!("{value} exceeds the storable range")))
}

fn to_u64(value: i64, what: &str) -> Result<u64, LedgerError> {
    u64::try_from(value).map_err(|_| LedgerError::corrupt(what, format!("negative value {value}")))
}

impl SqliteLedger {
    /// Creates a new ledger at `path` with key files beside it. Fails with
    /// [`LedgerError::AlreadyInitialised`] if the database or a key file
    /// already exists.
    pub fn create(path: impl AsRef<Path>, origin: &str) -> Result<Self, LedgerError> {
        Self::create_with(path, origin, SqliteOptions::default())
    }

    /// [`SqliteLedger::create`] with explicit options.
    pub fn create_with(path: impl AsRef<Path>, origin: &str, options: SqliteOptions) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        Self::create_with_key_file(path, origin, &key_path(path), options)
    }

    /// Creates a new ledger at `path` whose private key is written to `key_file` (which must
    /// not exist) instead of beside it; only the verifier key is kept beside the store.
    pub fn create_with_key_file(
        path: impl AsRef<Path>,
        origin: &str,
        key_file: &Path,
        options: SqliteOptions,
    ) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        check_origin(origin)?;
        Self::refuse_existing(path, &[key_file])?;
        // The key file is created first and exclusively: of two concurrent
        // creators, only one gets past this point.
        let key = KeyFile::create(key_file, origin)?;
        Self::create_signed(path, Box::new(key), options).inspect_err(|_| {
            let _ = fs::remove_file(key_file);
        })
    }

    /// Creates a new ledger at `path` signed by `signer`, whose key name is the log's origin;
    /// the verifier key is written beside the store.
    pub fn create_signed(
        path: impl AsRef<Path>,
        signer: Box<dyn CheckpointSigner>,
        options: SqliteOptions,
    ) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        let verifier = signer.verifier();
        check_origin(verifier.name())?;
        let public = pub_path(path);
        Self::refuse_existing(path, &[])?;
        files::write_new(&public, &verifier.to_string(), false)?;
        let result = (|| {
            let flags =
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags)
                .map_err(|e| map_open_error(path, &options, "creating the database", e))?;
            conn.busy_timeout(options.busy_timeout)
                .and_then(|()| configure(&conn))
                .map_err(|e| map_open_error(path, &options, "configuring", e))?;
            let mut ledger = Self::from_parts(conn, Some(path.to_owned()), Writer::new(signer), options);
            ledger.initialise(verifier.name())?;
            Ok(ledger)
        })();
        if result.is_err() {
            // Leave nothing half-made that would block a retry.
            for leftover in
                [public, path.to_owned(), with_suffix(path, "-wal"), with_suffix(path, "-shm"), sidecar_path(path)]
            {
                let _ = fs::remove_file(leftover);
            }
        }
        result
    }

    /// Fails with [`LedgerError::AlreadyInitialised`] when the database, its verifier key or
    /// one of `also` exists.
    fn refuse_existing(path: &Path, also: &[&Path]) -> Result<(), LedgerError> {
        let public = pub_path(path);
        for existing in [path, &public].into_iter().chain(also.iter().copied()) {
            if existing.exists() {
                return Err(LedgerError::AlreadyInitialised { path: existing.to_owned() });
            }
        }
        Ok(())
    }

    /// Opens an existing ledger.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens a ledger to read and verify it without its private key: what an auditor holding a
    /// copy of the store does. Checkpoints are verified with `trusted`, or the key in `PATH.pub`.
    pub fn open_for_audit(path: impl AsRef<Path>, trusted: Option<NoteVerifier>) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        let options = SqliteOptions::default();
        let (conn, _origin) = Self::open_connection(path, &options)?;
        let verifier = match trusted {
            Some(v) => v,
            None => {
                let pub_file = pub_path(path);
                let vkey = fs::read_to_string(&pub_file).map_err(io_err(&pub_file))?;
                NoteVerifier::parse(vkey.trim_end())
                    .map_err(|source| LedgerError::Key { path: pub_file.clone(), source })?
            }
        };
        Ok(Self::from_parts(conn, Some(path.to_owned()), Writer::read_only(verifier), options))
    }

    /// [`SqliteLedger::open`] with explicit options.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        Self::open_then_sign(path, options, || Ok(Box::new(KeyFile::load(key_path(path))?)))
    }

    /// Opens an existing ledger signed by `signer` (a key kept elsewhere than beside the
    /// store, or an external signer); it must sign for the log's origin with the key of
    /// `PATH.pub`.
    pub fn open_signed(
        path: impl AsRef<Path>,
        signer: Box<dyn CheckpointSigner>,
        options: SqliteOptions,
    ) -> Result<Self, LedgerError> {
        Self::open_then_sign(path.as_ref(), options, || Ok(signer))
    }

    /// The store is opened before the signer is asked for, so that a missing or foreign store
    /// is named as such rather than as a missing key.
    fn open_then_sign(
        path: &Path,
        options: SqliteOptions,
        signer: impl FnOnce() -> Result<Box<dyn CheckpointSigner>, LedgerError>,
    ) -> Result<Self, LedgerError> {
        let (conn, origin) = Self::open_connection(path, &options)?;
        Self::with_signer(conn, path, origin, options, signer()?)
    }

    /// The database connection and the log's origin, after checking it is a ledger.
    fn open_connection(path: &Path, options: &SqliteOptions) -> Result<(Connection, String), LedgerError> {
        let options = options.clone();
        if !path.exists() {
            return Err(LedgerError::NotInitialised { path: path.to_owned() });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| map_open_error(path, &options, "opening the database", e))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| map_open_error(path, &options, "setting the busy timeout", e))?;
        configure(&conn).map_err(|e| map_open_error(path, &options, "configuring", e))?;
        let not_a_ledger = |detail: String| LedgerError::NotALedger { path: path.to_owned(), detail };
        let meta = |key: &str| -> Result<Option<String>, LedgerError> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(|e| match e
                .sqlite_error_code()
            {
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::NotADatabase) => {
                    map_open_error(path, &options, "reading metadata", e)
                }
                _ => not_a_ledger(format!("no ledger metadata ({e})")),
            })
        };
        match meta("schema_version")? {
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) => return Err(not_a_ledger(format!("unsupported schema version {v}"))),
            None => return Err(not_a_ledger("no schema version".into())),
        }
        let origin = meta("origin")?.ok_or_else(|| not_a_ledger("no origin".into()))?;
        Ok((conn, origin))
    }

    fn with_signer(
        conn: Connection,
        path: &Path,
        origin: String,
        options: SqliteOptions,
        signer: Box<dyn CheckpointSigner>,
    ) -> Result<Self, LedgerError> {
        let verifier = signer.verifier();
        if verifier.name() != origin {
            return Err(LedgerError::Signer {
                signer: signer.describe(),
                detail: format!("it signs for {:?}, not for this log's origin {origin:?}", verifier.name()),
            });
        }
        let pub_file = pub_path(path);
        match fs::read_to_string(&pub_file) {
            Ok(vkey) => {
                let published = NoteVerifier::parse(vkey.trim_end())
                    .map_err(|source| LedgerError::Key { path: pub_file.clone(), source })?;
                if published != verifier {
                    return Err(LedgerError::Key {
                        path: pub_file,
                        source: crate::note::NoteError::MalformedVerifierKey("does not match the private key"),
                    });
                }
            }
            // The public key is derivable; its absence loses nothing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&pub_file)(e)),
        }
        Ok(Self::from_parts(conn, Some(path.to_owned()), Writer::new(signer), options))
    }

    /// A fresh ledger held in memory, with a new key; for tests.
    pub fn in_memory(origin: &str) -> Result<Self, LedgerError> {
        check_origin(origin)?;
        let signer = Box::new(NoteSigner::generate(origin)?);
        let conn = Connection::open_in_memory().map_err(|e| LedgerError::Backend {
            context: "opening an in-memory database".into(),
            source: Box::new(e),
        })?;
        configure(&conn).map_err(|e| LedgerError::Backend {
            context: "configuring an in-memory database".into(),
            source: Box::new(e),
        })?;
        let mut ledger = Self::from_parts(conn, None, Writer::new(signer), SqliteOptions::default());
        ledger.initialise(origin)?;
        Ok(ledger)
    }

    fn from_parts(conn: Connection, path: Option<PathBuf>, writer: Writer, options: SqliteOptions) -> Self {
        conn.set_prepared_statement_cache_capacity(32);
        Self { store: SqliteStore { conn, path, options, last_sidecar_error: None }, writer }
    }

    /// Calls `hook` after every committed append, with what was appended and its signed
    /// checkpoint: a server hands each new checkpoint on to places outside the store. The hook
    /// runs on the appending thread with the append already durable; it must not block.
    pub fn on_commit(&mut self, hook: impl FnMut(&Appended) + Send + 'static) {
        self.writer.on_commit(hook);
    }

    fn initialise(&mut self, origin: &str) -> Result<(), LedgerError> {
        let note = self.writer.empty_checkpoint(&self.store)?;
        let store = &mut self.store;
        let tx = store.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_error(
            &store.options,
            store.path.as_deref(),
            "creating the schema",
        ))?;
        let wrap = sql_error(&store.options, store.path.as_deref(), "creating the schema");
        tx.execute_batch(SCHEMA)
            .and_then(|()| {
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?1), ('origin', ?2)",
                    params![SCHEMA_VERSION, origin],
                )
            })
            .and_then(|_| tx.execute("INSERT INTO tree_state(id, size, frontier) VALUES (0, 0, x'')", []))
            .and_then(|_| tx.execute(INSERT_CHECKPOINT, params![0i64, note]))
            .and_then(|_| tx.commit())
            .map_err(wrap)?;
        store.write_sidecar(&note);
        if let Some(e) = store.last_sidecar_error.take() {
            let path = store.path.as_deref().map(sidecar_path).unwrap_or_default();
            return Err(LedgerError::Io { path, source: e });
        }
        Ok(())
    }

    /// The database path, or `None` for an in-memory ledger.
    pub fn path(&self) -> Option<&Path> {
        self.store.path.as_deref()
    }

    /// The error of the most recent sidecar write, if it failed. A failed
    /// sidecar write does not fail the append (the events and checkpoint are
    /// committed by then); the next append rewrites the sidecar.
    pub fn last_sidecar_error(&self) -> Option<&io::Error> {
        self.store.last_sidecar_error.as_ref()
    }

    fn location(&self) -> String {
        location(self.path())
    }

    fn sql<'a>(&'a self, context: &'a str) -> impl FnOnce(rusqlite::Error) -> LedgerError + 'a {
        self.store.sql(context)
    }

    /// Streams the event rows `sql` selects (the columns of [`RawEntry`], in order), without
    /// any checking, to the callback.
    fn scan_rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        context: &str,
        f: &mut dyn FnMut(&RawEntry<'_>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let mut stmt = self.store.conn.prepare_cached(sql).map_err(self.sql(context))?;
        let mut rows = stmt.query(params).map_err(self.sql(context))?;
        while let Some(row) = rows.next().map_err(self.sql(context))? {
            let get = |i: usize| row.get_ref(i).map_err(self.sql(context));
            let seq = int(get(0)?, -1, "seq")?;
            let raw = RawEntry {
                seq,
                stream: bytes(get(1)?, seq, "stream")?,
                stream_version: int(get(2)?, seq, "stream_version")?,
                recorded_at: int(get(3)?, seq, "recorded_at")?,
                leaf: bytes(get(4)?, seq, "leaf")?,
                leaf_hash: bytes(get(5)?, seq, "leaf_hash")?,
            };
            f(&raw)?;
        }
        Ok(())
    }

    /// Reads one `(size, note)` checkpoint row without trusting its types.
    fn checkpoint_row(&self, row: &rusqlite::Row<'_>) -> Result<StoredCheckpoint, LedgerError> {
        let get = |i: usize| row.get_ref(i).map_err(self.sql("reading checkpoints"));
        let size = match get(0)? {
            ValueRef::Integer(i) => to_u64(i, "checkpoints.size")?,
            _ => {
                return Err(LedgerError::corrupt("checkpoints", "size is not an integer"));
            }
        };
        // Invalid UTF-8 is passed on lossily: the signature check then
        // rejects the note and the verifier reports it in its place.
        let note = match get(1)? {
            ValueRef::Text(b) | ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
            _ => {
                return Err(LedgerError::corrupt(format!("checkpoint at size {size}"), "note holds no text"));
            }
        };
        Ok(StoredCheckpoint { size, note })
    }
}

fn check_origin(origin: &str) -> Result<(), LedgerError> {
    if is_valid_key_name(origin) { Ok(()) } else { Err(LedgerError::InvalidOrigin { origin: origin.to_owned() }) }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL lets readers (verify, scans) run beside a writer; FULL makes every
    // committed append durable, not just consistent.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
    conn.pragma_update(None, "synchronous", "FULL")
}

fn location(path: Option<&Path>) -> String {
    path.map_or_else(|| IN_MEMORY.to_owned(), |p| p.display().to_string())
}

fn sql_error<'a>(
    options: &'a SqliteOptions,
    path: Option<&'a Path>,
    context: &'a str,
) -> impl FnOnce(rusqlite::Error) -> LedgerError + 'a {
    move |e| {
        let pathbuf = || path.map_or_else(|| PathBuf::from(IN_MEMORY), Path::to_owned);
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                LedgerError::Locked { path: pathbuf(), waited_ms: options.busy_timeout.as_millis() }
            }
            Some(ErrorCode::NotADatabase) => {
                LedgerError::NotALedger { path: pathbuf(), detail: "file is not a SQLite database".into() }
            }
            Some(ErrorCode::DatabaseCorrupt) => LedgerError::corrupt(location(path), format!("{context}: {e}")),
            _ => LedgerError::Backend { context: format!("{context} ({})", location(path)), source: Box::new(e) },
        }
    }
}

fn map_open_error(path: &Path, options: &SqliteOptions, context: &str, e: rusqlite::Error) -> LedgerError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt) => {
            LedgerError::NotALedger { path: path.to_owned(), detail: format!("database is corrupt ({e})") }
        }
        _ => sql_error(options, Some(path), context)(e),
    }
}

fn int(value: ValueRef<'_>, seq: i64, column: &str) -> Result<i64, LedgerError> {
    match value {
        ValueRef::Integer(i) => Ok(i),
        _ => Err(LedgerError::corrupt(format!("event row {seq}"), format!("column {column} is not an integer"))),
    }
}

fn bytes<'a>(value: ValueRef<'a>, seq: i64, column: &str) -> Result<&'a [u8], LedgerError> {
    match value {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b),
        _ => Err(LedgerError::corrupt(format!("event row {seq}"), format!("column {column} holds no bytes"))),
    }
}

impl Ledger for SqliteLedger {
    fn append(
        &mut self,
        expect: &[Expectation],
        records: &[NewRecord],
        recorded_at: i64,
    ) -> Result<Appended, LedgerError> {
        self.writer.append(&mut self.store, expect, records, recorded_at)
    }

    fn begin_group(&mut self) -> Result<(), LedgerError> {
        self.writer.begin_group(&self.store)
    }

    fn commit_group(&mut self) -> Result<Option<String>, LedgerError> {
        self.writer.commit_group(&mut self.store)
    }

    fn abandon_group(&mut self) {
        self.writer.abandon_group(&mut self.store);
    }

    fn size(&self) -> Result<u64, LedgerError> {
        let size: i64 = self
            .store
            .conn
            .prepare_cached("SELECT size FROM tree_state WHERE id = 0")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(self.sql("reading the log size"))?;
        to_u64(size, "tree_state.size")
    }

    fn stream_version(&self, stream: &str) -> Result<u64, LedgerError> {
        let version: Option<i64> = self
            .store
            .conn
            .prepare_cached(SELECT_VERSION)
            .and_then(|mut s| s.query_row([stream], |r| r.get(0)).optional())
            .map_err(self.sql("reading a stream version"))?;
        version.map_or(Ok(0), |v| to_u64(v, "streams.version"))
    }

    fn scan_raw(
        &self,
        from: u64,
        f: &mut dyn FnMut(&RawEntry<'_>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let Ok(from) = i64::try_from(from) else {
            return Ok(());
        };
        self.scan_rows(SCAN_LOG, params![from], "scanning events", f)
    }

    fn scan_stream(
        &self,
        stream: &str,
        from_version: u64,
        f: &mut dyn FnMut(Record) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let Ok(from_version) = i64::try_from(from_version) else {
            return Ok(());
        };
        self.scan_rows(SCAN_STREAM, params![stream, from_version], "scanning a stream", &mut |raw| f(decode_raw(raw)?))
    }

    fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>, LedgerError> {
        let current = self.size()?;
        if size > current {
            return Err(LedgerError::OutOfRange { what: "leaf hashes", requested: size, size: current });
        }
        let loc = self.location();
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut stmt = self
            .store
            .conn
            .prepare_cached("SELECT seq, leaf_hash FROM entries WHERE seq < ?1 ORDER BY seq")
            .map_err(self.sql("reading leaf hashes"))?;
        let mut rows = stmt.query([to_i64(size, "size")?]).map_err(self.sql("reading leaf hashes"))?;
        while let Some(row) = rows.next().map_err(self.sql("reading leaf hashes"))? {
            let get = |i: usize| row.get_ref(i).map_err(self.sql("reading leaf hashes"));
            let seq = int(get(0)?, -1, "seq")?;
            let at = || format!("{loc} event {seq}");
            if u64::try_from(seq).ok() != Some(out.len() as u64) {
                return Err(LedgerError::corrupt(at(), format!("expected event {} next", out.len())));
            }
            let hash = <Hash>::try_from(bytes(get(1)?, seq, "leaf_hash")?)
                .map_err(|_| LedgerError::corrupt(at(), "leaf hash is not 32 bytes"))?;
            out.push(hash);
        }
        if out.len() as u64 != size {
            return Err(LedgerError::corrupt(loc, format!("only {} of {size} events present", out.len())));
        }
        Ok(out)
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, LedgerError> {
        let mut out = Vec::new();
        self.scan_checkpoints(&mut |c| {
            out.push(c);
            Ok(())
        })?;
        Ok(out)
    }

    fn scan_checkpoints(
        &self,
        f: &mut dyn FnMut(StoredCheckpoint) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let mut stmt = self
            .store
            .conn
            .prepare_cached("SELECT size, note FROM checkpoints ORDER BY size")
            .map_err(self.sql("reading checkpoints"))?;
        let mut rows = stmt.query([]).map_err(self.sql("reading checkpoints"))?;
        while let Some(row) = rows.next().map_err(self.sql("reading checkpoints"))? {
            f(self.checkpoint_row(row)?)?;
        }
        Ok(())
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, LedgerError> {
        let mut stmt = self
            .store
            .conn
            .prepare_cached("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
            .map_err(self.sql("reading the latest checkpoint"))?;
        let mut rows = stmt.query([]).map_err(self.sql("reading the latest checkpoint"))?;
        match rows.next().map_err(self.sql("reading the latest checkpoint"))? {
            Some(row) => Ok(Some(self.checkpoint_row(row)?)),
            None => Ok(None),
        }
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, LedgerError> {
        let size = to_i64(size, "size")?;
        let mut stmt = self
            .store
            .conn
            .prepare_cached("SELECT size, note FROM checkpoints WHERE size = ?1")
            .map_err(self.sql("reading a checkpoint"))?;
        let mut rows = stmt.query([size]).map_err(self.sql("reading a checkpoint"))?;
        match rows.next().map_err(self.sql("reading a checkpoint"))? {
            Some(row) => Ok(Some(self.checkpoint_row(row)?)),
            None => Ok(None),
        }
    }

    fn sign_note(&self, text: &str) -> Result<String, LedgerError> {
        self.writer.sign_note(&self.store, text)
    }

    fn sidecar(&self) -> Result<Sidecar, LedgerError> {
        self.store.sidecar()
    }

    fn verifier(&self) -> &NoteVerifier {
        self.writer.verifier()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading one stream must not pass over the whole log, nor sort: the index of
    /// `UNIQUE(stream, stream_version)` serves it in order.
    #[test]
    fn a_stream_is_read_through_its_index() -> Result<(), LedgerError> {
        let ledger = SqliteLedger::in_memory("test.example/plan")?;
        let mut plan = String::new();
        ledger
            .store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {SCAN_STREAM}"))
            .and_then(|mut s| {
                let mut rows = s.query(params!["orders", 1])?;
                while let Some(row) = rows.next()? {
                    plan.push_str(&row.get::<_, String>(3)?);
                    plan.push('\n');
                }
                Ok(())
            })
            .map_err(ledger.sql("explaining the stream scan"))?;
        assert!(plan.contains("USING INDEX sqlite_autoindex_entries_1 (stream=? AND stream_version>?)"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        Ok(())
    }
}
