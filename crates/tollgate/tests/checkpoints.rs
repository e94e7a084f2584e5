//! The signing key away from the store, and checkpoints out of it: `tollgate serve` refuses a
//! key others may read or one in the store's directory, sends each new checkpoint to a
//! directory, a webhook and a C2SP witness, and a log rewritten and re-signed with the server's
//! own key is caught by any earlier copy.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::http;
use support::server::spawn;
use support::*;
use tollgate_ledger::cosignature::{CosignatureVerifier, Cosigner};
use tollgate_ledger::sqlite::{key_path, pub_path};
use tollgate_ledger::{Checkpoint, CompactRange, NoteVerifier, merkle};

fn log_key(tg: &Tg) -> NoteVerifier {
    NoteVerifier::parse(std::fs::read_to_string(pub_path(&tg.db)).unwrap().trim()).unwrap()
}

/// A webhook that records the content type and body of every POST.
struct Webhook {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let base = http::serve(move |request| {
            let content_type = request.header("content-type").unwrap_or_default().to_owned();
            record.lock().unwrap().push((content_type, request.text()));
            (200, "text/plain", String::new())
        });
        Webhook { url: format!("{base}/checkpoints"), seen }
    }
}

/// A witness as c2sp.org/tlog-witness describes one: it holds the newest checkpoint of the log
/// it cosigned and cosigns a new one only with a consistency proof from it.
struct Witness {
    spec: String,
    key: CosignatureVerifier,
    holds: Arc<Mutex<Option<Checkpoint>>>,
    /// Checkpoints it refused because they do not extend the one it holds.
    refused: Arc<Mutex<u32>>,
}

impl Witness {
    fn start(log: NoteVerifier) -> Witness {
        let cosigner = Cosigner::from_seed("witness.example/w1", &[9; 32]).unwrap();
        let key = cosigner.verifier();
        let holds = Arc::new(Mutex::new(None::<Checkpoint>));
        let state = Arc::clone(&holds);
        let refused = Arc::new(Mutex::new(0));
        let refusals = Arc::clone(&refused);
        let url = http::serve(move |request| {
            if request.method != "POST" || request.target != "/add-checkpoint" {
                return (404, "text/plain", String::new());
            }
            let body = request.text();
            let Some((head, note)) = body.split_once("\n\n") else {
                return (400, "text/plain", "no blank line".into());
            };
            let mut lines = head.lines();
            let Some(Ok(old)) = lines.next().and_then(|l| l.strip_prefix("old ")).map(str::parse::<u64>) else {
                return (400, "text/plain", "no old size".into());
            };
            let proof: Vec<Vec<u8>> = lines.map(base64_decode).collect();
            let Ok(checkpoint) = log.open_checkpoint(note) else { return (403, "text/plain", String::new()) };
            let mut held = state.lock().unwrap();
            let held_size = held.as_ref().map_or(0, |c| c.size);
            if old != held_size {
                return (409, "text/x.tlog.size", format!("{held_size}\n"));
            }
            if let Some(h) = held.as_ref().filter(|h| h.size > 0) {
                if h.size == checkpoint.size && h.root != checkpoint.root {
                    *refusals.lock().unwrap() += 1;
                    return (409, "text/plain", String::new());
                }
                if h.size < checkpoint.size
                    && merkle::verify_consistency(h.size, checkpoint.size, &proof, &h.root, &checkpoint.root).is_err()
                {
                    *refusals.lock().unwrap() += 1;
                    return (422, "text/plain", String::new());
                }
            }
            *held = Some(checkpoint);
            (200, "text/plain", cosigner.cosign(log.open_note(note).unwrap(), 1_700_000_000).unwrap())
        });
        Witness { spec: format!("witness:{key}@{url}"), key, holds, refused }
    }

    fn holds(&self) -> Option<u64> {
        self.holds.lock().unwrap().as_ref().map(|c| c.size)
    }

    fn refused(&self) -> u32 {
        *self.refused.lock().unwrap()
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// What someone holding the store and its signing key can do: drop the newest `n` events as if
/// they had never been written, every table left consistent, so that the next append signs a
/// new history on top.
fn drop_newest_events(tg: &Tg, n: i64) {
    let db = tg.sqlite();
    let size: i64 = db.query_row("SELECT size FROM tree_state", [], |r| r.get(0)).unwrap();
    let keep = size - n;
    db.execute("DELETE FROM entries WHERE seq >= ?1", [keep]).unwrap();
    db.execute("DELETE FROM checkpoints WHERE size > ?1", [keep]).unwrap();
    db.execute("DELETE FROM streams", []).unwrap();
    db.execute(
        "INSERT INTO streams(stream, version) SELECT stream, MAX(stream_version) FROM entries GROUP BY stream",
        [],
    )
    .unwrap();
    let mut range = CompactRange::new();
    let mut leaves = db.prepare("SELECT leaf_hash FROM entries ORDER BY seq").unwrap();
    for hash in leaves.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
        range.append(hash.unwrap().try_into().unwrap());
    }
    db.execute("UPDATE tree_state SET size = ?1, frontier = ?2", rusqlite::params![keep, range.hashes().concat()])
        .unwrap();
}

#[test]
fn a_log_rewritten_and_re_signed_with_the_servers_key_is_caught_by_the_checkpoints_it_published() {
    // Given a served store sending its checkpoints to a directory elsewhere, a webhook and a
    // witness
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let outside = tempfile::tempdir().unwrap();
    let (hook, witness) = (Webhook::start(), Witness::start(log_key(&tg)));
    let targets = [format!("file:{}", outside.path().display()), hook.url.clone(), witness.spec.clone()];
    let args: Vec<&str> = targets.iter().flat_map(|t| ["--checkpoint-to", t.as_str()]).collect();
    tg.serve_with("rita", &args);
    // When people write through the API
    let id = minor_release(&tg, "1.0.0");
    tg.ok("eli", &["release", "scope", &id, "--add", "ticket:PAY-1"]);
    let size = tg.events();
    // Then, once the server has stopped (which delivers what is still on its way, so the test
    // waits on no clock), every place holds the signed checkpoint of that size
    tg.stop_server();
    let published = outside.path().join(format!("{size}.checkpoint"));
    let note = std::fs::read_to_string(&published).expect("the directory's copy");
    assert_eq!(log_key(&tg).open_checkpoint(&note).unwrap().size, size);
    let latest = outside.path().join("latest.checkpoint");
    assert_eq!(std::fs::read_to_string(&latest).unwrap(), note);
    let (content_type, _) =
        hook.seen.lock().unwrap().iter().find(|(_, b)| *b == note).cloned().expect("the webhook's copy");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let cosigned_file = tg.db.with_extension("db.cosigned.witness.example_w1");
    let cosigned = std::fs::read_to_string(&cosigned_file).expect("the witness's cosignature");
    assert!(cosigned.starts_with(&note), "{cosigned}");
    let text = log_key(&tg).open_note(&note).unwrap().to_owned();
    witness.key.find(&text, &cosigned[note.len()..]).expect("a cosignature of the witness's key");
    assert_eq!(witness.holds(), Some(size));

    // When someone holding the store and the server's key rewrites the newest event and signs
    // the history that follows (the server stopped, the commands run on the store itself)
    drop_newest_events(&tg, 1);
    tg.ok("eli", &["release", "scope", &id, "--add", "ticket:EVIL-1"]);
    tg.ok("eli", &["release", "scope", &id, "--add", "ticket:EVIL-2"]);
    // Then the store alone cannot tell: everything in it is signed
    let v = tg.json("auditor", &["audit", "verify"]);
    assert_eq!(v["intact"], true, "{v}");
    // But every earlier copy that left it catches the rewrite
    for copy in [published.clone(), cosigned_file.clone()] {
        let out = tg.local("auditor", &["--json", "audit", "verify", "--checkpoint", copy.to_str().unwrap()]);
        check(&out, 4, &["audit verify --checkpoint", copy.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = v["problems"].to_string();
        assert!(problems.contains(&format!("external checkpoint at size {size}")), "{v:#}");
        assert_eq!(v["first_bad_event"].as_u64(), Some(size - 1), "{v:#}");
    }
    // And served again (it sends the newest checkpoint out at start) and stopped, the witness
    // has refused the rewritten log and stays at the size it cosigned
    tg.serve_with("rita", &args);
    tg.stop_server();
    assert!(witness.refused() > 0, "the witness was never shown the rewritten log");
    assert_eq!(witness.holds(), Some(size));
    // while the directory takes the new size beside the old copy, which it never replaces
    assert!(outside.path().join(format!("{}.checkpoint", size + 1)).exists());
    assert_eq!(std::fs::read_to_string(&published).unwrap(), note);
}

#[test]
fn the_server_refuses_a_signing_key_in_the_stores_directory_or_readable_by_others() {
    use std::os::unix::fs::PermissionsExt as _;
    let tg = Tg::new();
    tg.ok("rita", &["init"]);
    let serve = |args: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("tollgate")
            .unwrap()
            .env("TOLLGATE_DB", &tg.db)
            .env("TOLLGATE_LOG", "error")
            .env_remove("TOLLGATE_SIGNING_KEY")
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        check(&out, 1, args);
        stderr(&out)
    };
    // The key init left beside the store
    let said = serve(&[]);
    assert!(said.contains("is in the store's directory") && said.contains("--signing-key"), "{said}");
    // Served anyway only when asked to
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tollgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--key-beside-store"])
        .env("TOLLGATE_DB", &tg.db)
        .env("TOLLGATE_LOG", "error")
        .env_remove("TOLLGATE_SIGNING_KEY")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("tollgate serving"), "{line}");
    // Moved elsewhere but readable by others
    let key = tg.key_elsewhere();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let said = serve(&["--signing-key", key.to_str().unwrap()]);
    assert!(said.contains(&format!("chmod 600 {}", key.display())), "{said}");
    // Elsewhere and private: served
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (url, _server) = spawn(&tg, &[]);
    assert!(url.starts_with("http://127.0.0.1:"));
}

#[test]
fn init_puts_the_signing_key_where_it_is_told_and_only_writes_need_it() {
    let tg = Tg::new();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("signing.key");
    let k = key.to_str().unwrap();
    let said = tg.ok("rita", &["--signing-key", k, "init"]);
    assert!(said.contains(&format!("signing key {k}")), "{said}");
    assert!(!key_path(&tg.db).exists() && pub_path(&tg.db).exists());
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Without the key the store reads, and a write says which key it needs, writing nothing
    let before = tg.events();
    tg.ok("rita", &["person", "list"]);
    let out = tg.run("rita", &["person", "add", "dev", "--role", "devops-engineer"]);
    check(&out, 1, &["person add without the key"]);
    assert!(stderr(&out).contains("--signing-key FILE"), "{}", stderr(&out));
    assert_eq!(tg.events(), before);
    // With it, the write is signed like any other
    tg.ok("rita", &["--signing-key", k, "person", "add", "dev", "--role", "devops-engineer"]);
    assert_eq!(tg.json("auditor", &["audit", "verify"])["intact"], true);
    // Another store cannot take the key file over
    let other = Tg::new();
    other.expect(1, "rita", &["--signing-key", k, "init"]);
    assert!(!other.db.exists() && !pub_path(&other.db).exists());
    assert!(Path::new(k).exists());
}
