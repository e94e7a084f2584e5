//! Tampering with the SQLite file as an attacker with write access would: `audit verify` exits 4
//! and names the first bad event; untouched, it verifies.

mod support;

use support::*;

fn store() -> Tg {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    for v in 1..=3 {
        let version = format!("1.{v}");
        tg.ok(
            "eli",
            &[
                "release",
                "create",
                "--service",
                "payments",
                "--version",
                &version,
                "--type",
                "minor",
                "--title",
                "t",
                "--window-start",
                "+2 weeks",
            ],
        );
    }
    tg.ok("eli", &["release", "scope", "R-2", "--add", "ticket:PAY-9"]);
    tg
}

#[track_caller]
fn verify_fails(tg: &Tg, expect_event: Option<u64>, expect_text: &str) {
    let out = tg.run("auditor", &["--json", "audit", "verify"]);
    check(&out, 4, &["audit verify"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], false);
    assert_eq!(v["first_bad_event"].as_u64(), expect_event, "{v:#}");
    let problems = v["problems"].to_string();
    assert!(problems.contains(expect_text), "expected {expect_text:?} in {v:#}");
    // The human report says the same.
    let text = tg.run("auditor", &["audit", "verify"]);
    check(&text, 4, &["audit verify (text)"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("NOT INTACT"));
}

#[test]
fn an_untouched_log_verifies() {
    let tg = store();
    let v = tg.json("auditor", &["audit", "verify"]);
    assert_eq!(v["intact"], true);
    assert!(v["first_bad_event"].is_null());
}

#[test]
fn an_edited_event_is_named() {
    let tg = store();
    let db = tg.sqlite();
    // Change one byte of event 20's payload (a person's role, say) without fixing hashes.
    let leaf: Vec<u8> = db.query_row("SELECT leaf FROM entries WHERE seq = 20", [], |r| r.get(0)).unwrap();
    let mut edited = leaf.clone();
    let last = edited.len() - 5;
    edited[last] ^= 0x01;
    db.execute("UPDATE entries SET leaf = ?1 WHERE seq = 20", [edited]).unwrap();
    verify_fails(&tg, Some(20), "event 20");
}

#[test]
fn an_edit_with_a_recomputed_leaf_hash_is_still_caught_by_the_signed_roots() {
    let tg = store();
    let db = tg.sqlite();
    let leaf: Vec<u8> = db.query_row("SELECT leaf FROM entries WHERE seq = 20", [], |r| r.get(0)).unwrap();
    let mut edited = leaf.clone();
    let last = edited.len() - 5;
    edited[last] ^= 0x01;
    let h = sha2_leaf(&edited);
    db.execute("UPDATE entries SET leaf = ?1, leaf_hash = ?2 WHERE seq = 20", rusqlite::params![edited, h.to_vec()])
        .unwrap();
    let out = tg.run("auditor", &["--json", "audit", "verify"]);
    check(&out, 4, &["audit verify"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], false);
    assert!(v["problems"].to_string().contains("20"), "{v:#}");
}

fn sha2_leaf(data: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

#[test]
fn a_deleted_event_is_named() {
    let tg = store();
    tg.sqlite().execute("DELETE FROM entries WHERE seq = 17", []).unwrap();
    verify_fails(&tg, Some(17), "17");
}

#[test]
fn swapped_events_are_named() {
    let tg = store();
    let db = tg.sqlite();
    let a: Vec<u8> = db.query_row("SELECT leaf FROM entries WHERE seq = 15", [], |r| r.get(0)).unwrap();
    let b: Vec<u8> = db.query_row("SELECT leaf FROM entries WHERE seq = 16", [], |r| r.get(0)).unwrap();
    db.execute("UPDATE entries SET leaf = ?1 WHERE seq = 15", [b]).unwrap();
    db.execute("UPDATE entries SET leaf = ?1 WHERE seq = 16", [a]).unwrap();
    verify_fails(&tg, Some(15), "15");
}

#[test]
fn a_truncated_log_is_caught_even_with_its_checkpoints_removed() {
    let tg = store();
    let size = tg.events() as i64;
    let db = tg.sqlite();
    db.execute("DELETE FROM entries WHERE seq >= ?1", [size - 2]).unwrap();
    verify_fails(&tg, Some(size as u64 - 2), "log truncated");
    db.execute("DELETE FROM checkpoints WHERE size > ?1", [size - 2]).unwrap();
    // The sidecar checkpoint beside the store still remembers the longer log.
    let out = tg.run("auditor", &["--json", "audit", "verify"]);
    check(&out, 4, &["audit verify after removing checkpoints"]);
}

#[test]
fn a_kept_checkpoint_catches_a_rewritten_history() {
    let tg = store();
    let kept = tg.path("kept.checkpoint");
    std::fs::write(&kept, tg.ok("auditor", &["audit", "checkpoint"])).unwrap();
    tg.ok("eli", &["release", "scope", "R-3", "--add", "ticket:PAY-10"]);
    tg.ok("auditor", &["audit", "verify", "--checkpoint", kept.to_str().unwrap()]);
    // Another store's key is not the one the auditor trusts.
    let other = Tg::new();
    other.ok("rita", &["init"]);
    let key = other.db.with_extension("db.pub");
    let out = tg.run("auditor", &["--json", "audit", "verify", "--key", key.to_str().unwrap()]);
    check(&out, 4, &["verify with another key"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("not the trusted key"));
}

#[test]
fn proofs_verify_against_the_signed_checkpoint() {
    let tg = store();
    // Init records 13 events (the profile and the 5.1 risk register); each person one more.
    let v = tg.json("auditor", &["audit", "proof", "5", "--from", "14"]);
    assert_eq!(v["inclusion"]["leaf_index"], 5);
    assert!(v["checkpoint"].as_str().unwrap().contains("\n— tollgate/"), "{v:#}");
    assert_eq!(v["consistency"]["old_size"], 14);
    let log = tg.json("auditor", &["audit", "log", "--release", "R-2"]);
    assert!(log.as_array().unwrap().iter().all(|e| e["stream"] == "release/R-2"));
    assert_eq!(log.as_array().unwrap().len(), 2);
    tg.expect(1, "auditor", &["audit", "proof", "999"]);
}

#[test]
fn commands_on_a_tampered_log_fail_with_the_integrity_code() {
    let tg = store();
    tg.sqlite().execute("UPDATE entries SET leaf = X'00' WHERE seq = 3", []).unwrap();
    let out = tg.run("rita", &["release", "list"]);
    check(&out, 4, &["list on tampered log"]);
}
