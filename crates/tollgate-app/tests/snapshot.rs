//! The state snapshot is a cache: a process starts from it only when it is this log's, signed
//! by the log's key and folded by this build, and then reaches exactly the state a full replay
//! gives; any other snapshot is set aside with the reason, and the log is replayed.

mod support;

use std::path::{Path, PathBuf};

use tollgate_app::app::{App, Started};
use tollgate_app::{ManualClock, When, snapshot};
use tollgate_domain::Command;
use tollgate_ledger::{Ledger, NoteSigner, SqliteLedger};

const ORIGIN: &str = "tollgate/5a5a5a5a";

fn fixture() -> String {
    std::fs::read_to_string(support::dir("fixtures").join("log-v1-qms.jsonl")).unwrap()
}

/// A store holding the fixture's first `lines` facts.
fn store(dir: &Path, name: &str, lines: usize) -> PathBuf {
    let path = dir.join(name);
    let mut ledger = SqliteLedger::create(&path, ORIGIN).unwrap();
    let text = fixture();
    support::append_fixture(&mut ledger, &text.lines().take(lines).collect::<Vec<_>>().join("\n"));
    path
}

/// The fixture's facts after the first `from` appended to the store at `path`.
fn extend(path: &Path, from: usize) {
    let text = fixture();
    support::append_fixture(
        &mut SqliteLedger::open(path).unwrap(),
        &text.lines().skip(from).collect::<Vec<_>>().join("\n"),
    );
}

fn start(path: &Path) -> (App<SqliteLedger>, Started) {
    App::from_ledger_cached(SqliteLedger::open(path).unwrap(), snapshot::path_for(path)).unwrap()
}

/// The state as a full replay of the log gives it.
fn replayed(path: &Path) -> String {
    format!("{:?}", App::from_ledger(SqliteLedger::open_for_audit(path, None).unwrap()).unwrap().state())
}

fn saved(path: &Path) {
    let (mut app, _) = start(path);
    app.save_snapshot().unwrap();
}

/// Why the snapshot beside `path` was set aside; the state is the replay's all the same.
fn set_aside(path: &Path) -> String {
    let (app, started) = start(path);
    assert_eq!(started.from_snapshot, None);
    assert_eq!(format!("{:?}", app.state()), replayed(path));
    started.replayed_because.unwrap()
}

/// A snapshot file's signed note and its body.
fn parts(bytes: &[u8]) -> (&str, &[u8]) {
    let length = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    (std::str::from_utf8(&bytes[4..4 + length]).unwrap(), &bytes[4 + length..])
}

#[test]
fn a_process_starts_from_the_snapshot_and_applies_only_what_was_written_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(dir.path(), "s.db", 150);
    let (mut app, started) = start(&path);
    assert_eq!(started.from_snapshot, None);
    assert!(started.replayed_because.unwrap().contains("no snapshot"));
    app.save_snapshot().unwrap();
    drop(app);

    extend(&path, 150);
    let (app, started) = start(&path);
    assert_eq!(started.from_snapshot, Some(150), "{:?}", started.replayed_because);
    assert_eq!(app.applied(), app.ledger().size().unwrap());
    assert_eq!(format!("{:?}", app.state()), replayed(&path));
    // The stream versions came with it: a command on the streams the snapshot covers appends
    // without a conflict, once.
    let before = app.ledger().size().unwrap();
    let risk =
        Command::AddRisk { category: "tech".into(), risk: "r".into(), mitigation: "m".into(), owner: "eli".into() };
    let clock = ManualClock::new("2026-12-01T09:00:00Z".parse().unwrap());
    let mut app = app.with_clock(std::sync::Arc::new(clock));
    app.execute("rita", &When::Now, &risk).unwrap();
    let grant = Command::GrantRoles { name: "omar".into(), roles: ["qa-lead".to_owned()].into() };
    app.execute("rita", &When::Now, &grant).unwrap();
    assert_eq!(app.ledger().size().unwrap(), before + 2);
    // Saving again moves the snapshot to the new size; the next start applies nothing.
    app.save_snapshot().unwrap();
    let (app, started) = start(&path);
    assert_eq!(started.from_snapshot, Some(before + 2));
    assert_eq!(format!("{:?}", app.state()), replayed(&path));
}

#[test]
fn a_snapshot_whose_body_was_changed_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(dir.path(), "s.db", 217);
    saved(&path);
    let file = snapshot::path_for(&path);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    assert!(set_aside(&path).contains("its body is not the one its header signs"));
    std::fs::write(&file, b"garbage").unwrap();
    assert!(set_aside(&path).contains("not a state snapshot"));
}

#[test]
fn a_snapshot_signed_by_another_key_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let ours = store(dir.path(), "ours.db", 217);
    // Another store with the same origin but its own key: its snapshot of the same facts.
    let theirs = store(dir.path(), "theirs.db", 217);
    saved(&theirs);
    std::fs::copy(snapshot::path_for(&theirs), snapshot::path_for(&ours)).unwrap();
    assert!(set_aside(&ours).contains("does not verify with the log's key"));
}

#[test]
fn a_snapshot_of_another_history_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(dir.path(), "s.db", 150);
    // A copy of the store, with its key, that goes on differently.
    let copy = dir.path().join("copy.db");
    for suffix in ["", ".key", ".pub", ".checkpoint"] {
        std::fs::copy(format!("{}{suffix}", path.display()), format!("{}{suffix}", copy.display())).unwrap();
    }
    extend(&path, 150);
    saved(&path);
    // The copy is shorter: it has no checkpoint at the snapshot's size.
    std::fs::copy(snapshot::path_for(&path), snapshot::path_for(&copy)).unwrap();
    assert!(set_aside(&copy).contains("the log has no checkpoint at its size 217"));
    // Grown past it with other facts, its first 217 facts are not those the snapshot folded.
    let clock = ManualClock::new("2026-12-01T09:00:00Z".parse().unwrap());
    let mut app = App::from_ledger(SqliteLedger::open(&copy).unwrap()).unwrap().with_clock(std::sync::Arc::new(clock));
    for n in 0..70 {
        let risk = Command::AddRisk {
            category: "tech".into(),
            risk: format!("r{n}"),
            mitigation: "m".into(),
            owner: "eli".into(),
        };
        app.execute("rita", &When::Now, &risk).unwrap();
    }
    drop(app);
    assert!(set_aside(&copy).contains("the log's first 217 facts are not those it folded"));
}

#[test]
fn a_snapshot_folded_by_another_build_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(dir.path(), "s.db", 217);
    saved(&path);
    // The same snapshot, re-signed with the log's own key, claiming other code folded it.
    let file = snapshot::path_for(&path);
    let bytes = std::fs::read(&file).unwrap();
    let (note, body) = parts(&bytes);
    let text = &note[..=note.rfind("\n\n").unwrap()];
    let mut lines: Vec<&str> = text.lines().collect();
    *lines.last_mut().unwrap() = "0000000000000000";
    let text = lines.join("\n") + "\n";
    let key = NoteSigner::parse(std::fs::read_to_string(format!("{}.key", path.display())).unwrap().trim()).unwrap();
    let note = format!("{text}\n{}", key.signature_line(&text).unwrap());
    let mut forged = (note.len() as u32).to_le_bytes().to_vec();
    forged.extend_from_slice(note.as_bytes());
    forged.extend_from_slice(body);
    std::fs::write(&file, forged).unwrap();
    assert!(set_aside(&path).contains("written by another version of Tollgate"));
}

#[test]
fn a_store_without_its_key_starts_from_its_snapshot_and_cannot_write_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(dir.path(), "s.db", 217);
    saved(&path);
    std::fs::remove_file(format!("{}.key", path.display())).unwrap();
    let audit = SqliteLedger::open_for_audit(&path, None).unwrap();
    let (mut app, started) = App::from_ledger_cached(audit, snapshot::path_for(&path)).unwrap();
    assert_eq!(started.from_snapshot, Some(217));
    assert_eq!(format!("{:?}", app.state()), replayed(&path));
    // Nothing new to save: not an error.
    app.save_snapshot().unwrap();
}

#[test]
fn the_log_key_signs_no_note_that_would_pass_for_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(dir.path(), "s.db", 10);
    let ledger = SqliteLedger::open(&path).unwrap();
    let forged = format!("{ORIGIN}\n999\nAAAA\n");
    assert!(ledger.sign_note(&forged).is_err());
    saved(&path);
    // And the snapshot's own note is no checkpoint.
    let bytes = std::fs::read(snapshot::path_for(&path)).unwrap();
    let (note, _) = parts(&bytes);
    assert!(ledger.verifier().open_note(note).is_ok());
    assert!(ledger.verifier().open_checkpoint(note).is_err());
}
