//! Tampering with a real SQLite ledger file the way an attacker with write
//! access to the database would, and checking that `verify` notices and
//! names the right event.

mod common;

use std::path::{Path, PathBuf};

use common::{expect, record};
use rusqlite::{Connection, params};
use tollgate_ledger::merkle::CompactRange;
use tollgate_ledger::sqlite::sidecar_path;
use tollgate_ledger::{Hash, Ledger, SqliteLedger, VerifyReport, verify};

const EVENTS: u64 = 40;

/// A ledger of 40 events appended one per call, so that a checkpoint exists
/// at every size, spread over three streams.
fn build() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut ledger = SqliteLedger::create(&path, "test.example/tamper").unwrap();
    let mut early_checkpoint = String::new();
    for i in 0..EVENTS {
        let stream = format!("s{}", i % 3);
        let version = ledger.stream_version(&stream).unwrap();
        let payload = format!("{{\"event\":{i},\"note\":\"payload number {i}\"}}");
        let appended =
            ledger.append(&[expect(&stream, version)], &[record(&stream, &payload)], 1_000 + i as i64).unwrap();
        if appended.size == 30 {
            early_checkpoint = appended.checkpoint;
        }
    }
    (dir, path, early_checkpoint)
}

fn attacker(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn report(path: &Path, external: Option<&str>) -> VerifyReport {
    let ledger = SqliteLedger::open(path).unwrap();
    verify(&ledger, external).unwrap()
}

fn leaf(conn: &Connection, seq: i64) -> Vec<u8> {
    conn.query_row("SELECT leaf FROM entries WHERE seq = ?1", [seq], |r| r.get(0)).unwrap()
}

fn first(report: &VerifyReport) -> (Option<u64>, &str) {
    assert!(!report.intact, "tampering went unnoticed");
    let p = report.problems.first().expect("a problem is reported");
    (p.seq, p.what.as_str())
}

#[test]
fn untouched_log_is_intact() {
    let (_dir, path, early) = build();
    let r = report(&path, Some(&early));
    assert!(r.intact, "{:?}", r.problems);
    assert_eq!(r.events, EVENTS);
    assert_eq!(r.checkpoints_checked, EVENTS + 1);
    let ledger = SqliteLedger::open(&path).unwrap();
    assert_eq!(r.root, tollgate_ledger::merkle::root(&ledger.leaf_hashes(EVENTS).unwrap()));
}

#[test]
fn edited_payload_byte() {
    let (_dir, path, _) = build();
    let conn = attacker(&path);
    let mut bytes = leaf(&conn, 17);
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    conn.execute("UPDATE entries SET leaf = ?1 WHERE seq = 17", [bytes]).unwrap();
    drop(conn);
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(17), "{:?}", r.problems);
    assert!(what.contains("event 17") && what.contains("do not match their leaf hash"), "{what}");
    // The leaf-level finding explains the rest; it is not drowned in noise.
    assert!(r.problems.len() <= 3, "{:?}", r.problems);
}

#[test]
fn edited_leaf_and_leaf_hash_together() {
    let (_dir, path, _) = build();
    let conn = attacker(&path);
    let mut bytes = leaf(&conn, 17);
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    let hash = tollgate_ledger::merkle::leaf_hash(&bytes);
    conn.execute("UPDATE entries SET leaf = ?1, leaf_hash = ?2 WHERE seq = 17", params![bytes, &hash[..]]).unwrap();
    drop(conn);
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(17), "{:?}", r.problems);
    assert!(what.contains("event 17 was rewritten"), "{what}");
    assert!(r.problems.len() <= 3, "{:?}", r.problems);
}

#[test]
fn deleted_middle_row() {
    let (_dir, path, _) = build();
    attacker(&path).execute("DELETE FROM entries WHERE seq = 12", []).unwrap();
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(12));
    assert_eq!(what, "event 12 is missing (deleted)");
    assert_eq!(r.events, EVENTS - 1);
}

#[test]
fn swapped_leaf_bytes_of_two_rows() {
    let (_dir, path, _) = build();
    let conn = attacker(&path);
    let (five, nine) = (leaf(&conn, 5), leaf(&conn, 9));
    conn.execute("UPDATE entries SET leaf = ?1 WHERE seq = 5", [&nine]).unwrap();
    conn.execute("UPDATE entries SET leaf = ?1 WHERE seq = 9", [&five]).unwrap();
    drop(conn);
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(5));
    assert!(what.starts_with("event 5: holds the frame of event 9"), "{what}");
    assert!(r.problems.iter().any(|p| p.seq == Some(9) && p.what.contains("frame of event 5")), "{:?}", r.problems);
}

#[test]
fn reordered_rows_with_their_hashes() {
    let (_dir, path, _) = build();
    let conn = attacker(&path);
    // Move whole rows: renumber 20 and 21 into each other's place.
    conn.execute_batch(
        "UPDATE entries SET seq = -1 WHERE seq = 20;
         UPDATE entries SET seq = 20 WHERE seq = 21;
         UPDATE entries SET seq = 21 WHERE seq = -1;",
    )
    .unwrap();
    drop(conn);
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(20));
    assert!(what.contains("holds the frame of event 21"), "{what}");
}

#[test]
fn truncated_last_rows() {
    let (_dir, path, _) = build();
    attacker(&path).execute("DELETE FROM entries WHERE seq >= 37", []).unwrap();
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(37));
    assert_eq!(what, "log truncated: checkpoint signed at size 40 but only 37 events present");
}

/// The thorough attacker: drops the last rows, their checkpoints and rewinds
/// the stored frontier, so the database alone is self-consistent.
fn truncate_everything(path: &Path, keep: u64) {
    let conn = attacker(path);
    let hashes: Vec<Hash> = {
        let mut stmt = conn.prepare("SELECT leaf_hash FROM entries WHERE seq < ?1 ORDER BY seq").unwrap();
        stmt.query_map([keep as i64], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|h| <Hash>::try_from(h.unwrap()).unwrap())
            .collect()
    };
    let mut range = CompactRange::new();
    hashes.iter().for_each(|h| range.append(*h));
    conn.execute("DELETE FROM entries WHERE seq >= ?1", [keep as i64]).unwrap();
    conn.execute("DELETE FROM checkpoints WHERE size > ?1", [keep as i64]).unwrap();
    conn.execute("UPDATE tree_state SET size = ?1, frontier = ?2", params![keep as i64, range.hashes().concat()])
        .unwrap();
}

#[test]
fn truncated_rows_and_checkpoints_are_caught_by_the_sidecar() {
    let (_dir, path, _) = build();
    truncate_everything(&path, 37);
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(37));
    assert!(
        what.starts_with("log truncated: the sidecar checkpoint")
            && what.contains("at size 40 is beyond the 37 events present"),
        "{what}"
    );
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);

    // Without the sidecar, the deletion of the sidecar itself is reported.
    std::fs::remove_file(sidecar_path(&path)).unwrap();
    let r = report(&path, None);
    assert!(!r.intact);
    assert!(
        r.problems[0].what.contains("checkpoint file") && r.problems[0].what.contains("is missing"),
        "{:?}",
        r.problems
    );
}

#[test]
fn an_external_checkpoint_catches_a_rewritten_history() {
    let (_dir, path, early) = build();
    truncate_everything(&path, 25);
    std::fs::remove_file(sidecar_path(&path)).unwrap();
    let r = report(&path, Some(&early));
    assert!(!r.intact);
    assert!(r.problems.iter().any(|p| p.what.contains("external checkpoint at size 30")), "{:?}", r.problems);
}

#[test]
fn forged_row_appended_at_the_end() {
    let (_dir, path, _) = build();
    let frame = tollgate_ledger::frame::Frame {
        seq: EVENTS,
        stream_version: 15,
        recorded_at: 5_000,
        stream: "s0",
        payload: b"{\"forged\":true}",
    }
    .encode()
    .unwrap();
    let hash = tollgate_ledger::merkle::leaf_hash(&frame);
    attacker(&path)
        .execute("INSERT INTO entries VALUES (?1, 's0', 15, 5000, ?2, ?3)", params![EVENTS as i64, frame, &hash[..]])
        .unwrap();
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(EVENTS));
    assert!(what.contains("event 40 is not covered by any signed checkpoint"), "{what}");
}

#[test]
fn forged_checkpoint_row() {
    let (_dir, path, _) = build();
    attacker(&path)
        .execute(
            "UPDATE checkpoints SET note = replace(note, char(10) || '20' || char(10), char(10) || '21' || char(10)) WHERE size = 20",
            [],
        )
        .unwrap();
    let r = report(&path, None);
    let (_, what) = first(&r);
    assert!(what.starts_with("checkpoint at size 20: does not verify with the ledger's key"), "{what}");
}

#[test]
fn edited_stream_column() {
    let (_dir, path, _) = build();
    attacker(&path).execute("UPDATE entries SET stream = 's9' WHERE seq = 8", []).unwrap();
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(8));
    assert!(what.contains("disagree with the signed frame"), "{what}");
}

#[test]
fn garbage_in_a_leaf_column() {
    let (_dir, path, _) = build();
    attacker(&path).execute("UPDATE entries SET leaf = x'00ff' WHERE seq = 3", []).unwrap();
    let r = report(&path, None);
    let (seq, what) = first(&r);
    assert_eq!(seq, Some(3));
    assert!(what.contains("not a valid event frame"), "{what}");
    // Unreadable column types are reported, not raised.
    attacker(&path).execute("UPDATE entries SET leaf = NULL WHERE seq = 30", []).unwrap_err();
    attacker(&path).execute("UPDATE entries SET stream_version = 'x' WHERE seq = 30", []).unwrap();
    let r = report(&path, None);
    assert!(r.problems.iter().any(|p| p.what.contains("cannot be read")), "{:?}", r.problems);
}

#[test]
fn damaged_bookkeeping_tables_are_reported_not_raised() {
    let (_dir, path, _) = build();
    attacker(&path).execute("UPDATE checkpoints SET note = NULL WHERE size = 10", []).unwrap_err();
    attacker(&path).execute("UPDATE checkpoints SET note = x'ff00' WHERE size = 10", []).unwrap();
    attacker(&path).execute("UPDATE checkpoints SET size = 'ten' WHERE size = 11", []).unwrap_err();
    attacker(&path).execute("DELETE FROM tree_state", []).unwrap();
    let ledger = SqliteLedger::open(&path).unwrap();
    let r = verify(&ledger, None).unwrap();
    assert!(!r.intact);
    assert!(r.problems[0].what.starts_with("checkpoint at size 10: does not verify"), "{:?}", r.problems);
    assert!(r.problems.iter().any(|p| p.what.contains("recorded ledger size cannot be read")), "{:?}", r.problems);
}

#[test]
fn the_report_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut ledger = SqliteLedger::create(&path, "test.example/bounded").unwrap();
    let records: Vec<_> = (0..150).map(|i| record("s", &format!("{i}"))).collect();
    ledger.append(&[expect("s", 0)], &records, 7).unwrap();
    drop(ledger);
    attacker(&path).execute("UPDATE entries SET stream = stream || 'x'", []).unwrap();
    let r = report(&path, None);
    assert_eq!(r.events, 150);
    assert_eq!(r.problems.len(), tollgate_ledger::verify::MAX_PROBLEMS + 1);
    assert_eq!(r.problems[0].seq, Some(0));
    assert_eq!(r.problems.last().unwrap().what, "... and 50 more problems not listed");
}
