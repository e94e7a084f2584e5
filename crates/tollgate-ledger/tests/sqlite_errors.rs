//! Files that are not ledgers and databases held by another writer give
//! clear errors that name the path.

mod common;

use std::time::{Duration, Instant};

use common::{expect, record};
use rusqlite::Connection;
use tollgate_ledger::{Ledger, LedgerError, SqliteLedger, SqliteOptions};

fn quick() -> SqliteOptions {
    SqliteOptions { busy_timeout: Duration::from_millis(200), ..SqliteOptions::default() }
}

#[test]
fn garbage_file_is_not_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    let garbage: Vec<u8> = (0u32..16_384).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, garbage).unwrap();
    let err = SqliteLedger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("not a SQLite database"), "{message}");
}

#[test]
fn corrupted_ledger_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    {
        let mut ledger = SqliteLedger::create(&path, "test.example/corrupt").unwrap();
        ledger.append(&[expect("a", 0)], &[record("a", "{}")], 1).unwrap();
    }
    // Overwrite everything after the 100-byte header with garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(100) {
        *b = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("ledger.db-wal"));
    let err = SqliteLedger::open(&path).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, LedgerError::NotALedger { .. } | LedgerError::Corrupt { .. }), "{err:?}");
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn a_sqlite_database_that_is_not_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path).unwrap().execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
    let err = SqliteLedger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err:?}");
    assert!(err.to_string().contains("other.db"), "{err}");

    std::fs::write(dir.path().join("empty.db"), b"").unwrap();
    let err = SqliteLedger::open(dir.path().join("empty.db")).unwrap_err();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err:?}");
}

#[test]
fn append_waits_then_reports_a_lock_held_by_another_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    drop(SqliteLedger::create(&path, "test.example/locked").unwrap());
    let mut ledger = SqliteLedger::open_with(&path, quick()).unwrap();

    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let err = ledger.append(&[expect("a", 0)], &[record("a", "{}")], 1).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(150), "did not wait");
    assert!(matches!(err, LedgerError::Locked { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("locked by another writer"), "{message}");
    // Readers are not blocked by a writer in WAL mode.
    assert_eq!(ledger.size().unwrap(), 0);

    other.execute_batch("ROLLBACK").unwrap();
    ledger.append(&[expect("a", 0)], &[record("a", "{}")], 1).unwrap();
}

#[test]
fn open_reports_an_exclusively_locked_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    drop(SqliteLedger::create(&path, "test.example/exclusive").unwrap());

    let other = Connection::open(&path).unwrap();
    other
        .execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; \
             INSERT INTO meta(key, value) VALUES ('held', 'yes');",
        )
        .unwrap();
    let err = SqliteLedger::open_with(&path, quick()).unwrap_err();
    assert!(matches!(err, LedgerError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    other.execute_batch("ROLLBACK").unwrap();
}
