//! The shared storage story against the SQLite backend, file-backed and in
//! memory, plus what is specific to the file layout.

mod common;

use std::cell::Cell;

use common::{expect, record};
use tollgate_ledger::conformance::storage_story;
use tollgate_ledger::sqlite::{key_path, pub_path, sidecar_path};
use tollgate_ledger::{
    KeyFile, Ledger, LedgerError, NoteSigner, NoteVerifier, Sidecar, SqliteLedger, SqliteOptions, verify,
};

#[test]
fn story_file_backed() {
    let dir = tempfile::tempdir().unwrap();
    let n = Cell::new(0);
    storage_story(&mut || {
        n.set(n.get() + 1);
        let path = dir.path().join(format!("ledger-{}.db", n.get()));
        Box::new(SqliteLedger::create(&path, "test.example/ledger").unwrap())
    });
}

#[test]
fn story_in_memory() {
    storage_story(&mut || Box::new(SqliteLedger::in_memory("test.example/ledger").unwrap()));
}

#[test]
fn files_beside_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = SqliteLedger::create(&path, "test.example/files").unwrap();

    let skey = std::fs::read_to_string(key_path(&path)).unwrap();
    let signer = NoteSigner::parse(skey.trim_end()).unwrap();
    assert_eq!(&signer.verifier(), ledger.verifier());
    let vkey = std::fs::read_to_string(pub_path(&path)).unwrap();
    assert_eq!(vkey.trim_end(), ledger.verifier().to_string());
    assert_eq!(&NoteVerifier::parse(vkey.trim_end()).unwrap(), ledger.verifier());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(key_path(&path)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "private key readable by owner only");
    }
    // The sidecar holds the latest checkpoint from the start.
    let sidecar = std::fs::read_to_string(sidecar_path(&path)).unwrap();
    assert_eq!(ledger.latest_checkpoint().unwrap().unwrap().note, sidecar);
    assert!(matches!(ledger.sidecar().unwrap(), Sidecar::Found { .. }));
    assert_eq!(ledger.path(), Some(path.as_path()));
}

#[test]
fn reopening_continues_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let first = {
        let mut ledger = SqliteLedger::create(&path, "test.example/reopen").unwrap();
        ledger.append(&[expect("a", 0)], &[record("a", "1"), record("a", "2"), record("a", "3")], 10).unwrap()
    };
    let mut ledger = SqliteLedger::open(&path).unwrap();
    assert_eq!(ledger.size().unwrap(), 3);
    assert_eq!(ledger.stream_version("a").unwrap(), 3);
    let second = ledger.append(&[expect("a", 3), expect("b", 0)], &[record("b", "x"), record("a", "4")], 20).unwrap();
    assert_eq!((second.first_seq, second.size), (3, 5));
    let hashes = ledger.leaf_hashes(5).unwrap();
    assert_eq!(second.root, tollgate_ledger::merkle::root(&hashes));
    let sidecar = std::fs::read_to_string(sidecar_path(&path)).unwrap();
    assert_eq!(sidecar, second.checkpoint);
    let report = verify(&ledger, Some(&first.checkpoint)).unwrap();
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!(report.checkpoints_checked, 3);
}

#[test]
fn create_and_open_refuse_the_wrong_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    match SqliteLedger::open(&path) {
        Err(LedgerError::NotInitialised { path: p }) => assert_eq!(p, path),
        other => panic!("expected NotInitialised, got {other:?}"),
    }
    let message = SqliteLedger::open(&path).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");

    drop(SqliteLedger::create(&path, "test.example/once").unwrap());
    match SqliteLedger::create(&path, "test.example/once") {
        Err(LedgerError::AlreadyInitialised { path: p }) => assert_eq!(p, path),
        other => panic!("expected AlreadyInitialised, got {other:?}"),
    }
    // Key files left from an earlier ledger are never overwritten.
    let other = dir.path().join("other.db");
    std::fs::write(key_path(&other), "keep me").unwrap();
    assert!(matches!(SqliteLedger::create(&other, "test.example/other"), Err(LedgerError::AlreadyInitialised { .. })));
    assert_eq!(std::fs::read_to_string(key_path(&other)).unwrap(), "keep me");
    assert!(!other.exists());

    for origin in ["", "with space", "with+plus"] {
        assert!(matches!(
            SqliteLedger::create(dir.path().join("x.db"), origin),
            Err(LedgerError::InvalidOrigin { .. })
        ));
        assert!(matches!(SqliteLedger::in_memory(origin), Err(LedgerError::InvalidOrigin { .. })));
    }
    assert!(!dir.path().join("x.db").exists());
}

#[test]
fn a_missing_or_foreign_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    drop(SqliteLedger::create(&path, "test.example/keys").unwrap());

    let saved = std::fs::read_to_string(key_path(&path)).unwrap();
    std::fs::remove_file(key_path(&path)).unwrap();
    let err = SqliteLedger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("ledger.db.key"), "{err}");

    let foreign = NoteSigner::generate("test.example/keys").unwrap();
    std::fs::write(key_path(&path), foreign.to_private_key_string()).unwrap();
    let err = SqliteLedger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::Key { .. }), "{err:?}");
    assert!(err.to_string().contains("ledger.db.pub"), "{err}");

    std::fs::write(key_path(&path), "garbage").unwrap();
    assert!(matches!(SqliteLedger::open(&path), Err(LedgerError::Key { .. })));
    std::fs::write(key_path(&path), saved).unwrap();
    assert!(SqliteLedger::open(&path).is_ok());
}

#[test]
fn group_commit_story_file_backed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut ledger = SqliteLedger::create(&path, "test.example/group").unwrap();
    tollgate_ledger::conformance::group_commit_story(&mut ledger, &mut || Box::new(SqliteLedger::open(&path).unwrap()));
}

#[test]
fn a_key_kept_elsewhere_signs_and_only_the_verifier_key_stays_beside_the_store() {
    let (dir, keys) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let path = dir.path().join("ledger.db");
    let key_file = keys.path().join("signing.key");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let options = SqliteOptions::default();
        let mut ledger = SqliteLedger::create_with_key_file(&path, "test.example/away", &key_file, options).unwrap();
        let record_to = std::sync::Arc::clone(&seen);
        ledger.on_commit(move |appended| record_to.lock().unwrap().push(appended.checkpoint.clone()));
        ledger.append(&[expect("a", 0)], &[record("a", "1")], 10).unwrap();
    }
    assert!(!key_path(&path).exists(), "no private key beside the store");
    assert!(pub_path(&path).exists());
    // The hook saw the checkpoint the append committed, after the commit.
    let reopened = SqliteLedger::open_for_audit(&path, None).unwrap();
    assert_eq!(*seen.lock().unwrap(), [reopened.latest_checkpoint().unwrap().unwrap().note]);

    // Without the key, the store cannot be appended to; with it, it can.
    let err = SqliteLedger::open(&path).unwrap_err();
    assert!(err.to_string().contains("ledger.db.key"), "{err}");
    let key = Box::new(KeyFile::load(&key_file).unwrap());
    let mut ledger = SqliteLedger::open_signed(&path, key, SqliteOptions::default()).unwrap();
    ledger.append(&[expect("a", 1)], &[record("a", "2")], 11).unwrap();
    assert!(verify(&ledger, None).unwrap().intact);

    // A key of another log, or another key of this log, is refused by name.
    let other = Box::new(NoteSigner::generate("test.example/other").unwrap());
    let err = SqliteLedger::open_signed(&path, other, SqliteOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not for this log's origin \"test.example/away\""), "{err}");
    let foreign = Box::new(NoteSigner::generate("test.example/away").unwrap());
    let err = SqliteLedger::open_signed(&path, foreign, SqliteOptions::default()).unwrap_err();
    assert!(err.to_string().contains("ledger.db.pub"), "{err}");
    // A second store cannot take over an existing key file.
    let again = SqliteLedger::create_with_key_file(dir.path().join("b.db"), "x", &key_file, SqliteOptions::default());
    assert!(matches!(again, Err(LedgerError::AlreadyInitialised { .. })));
    assert!(!dir.path().join("b.db").exists() && !dir.path().join("b.db.pub").exists());
}

#[test]
fn concurrency_story_file_backed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    drop(SqliteLedger::create(&path, "test.example/concurrent").unwrap());
    tollgate_ledger::conformance::concurrency_story(&mut || Box::new(SqliteLedger::open(&path).unwrap()));
}
