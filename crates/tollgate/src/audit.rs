//! `tollgate audit`: what an auditor runs. Verification reads the ledger directly (not through
//! replay, which assumes the log is sound), recomputes every leaf hash, root and signature,
//! then checks that every fact still decodes and applies. A sandbox says so in every answer: its
//! ledger's origin names it, and verification checks that its facts agree.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tollgate_domain::State;
use tollgate_domain::recording::Timing;
use tollgate_domain::time::format_duration;
use tollgate_ledger::{Ledger, LedgerError, NoteVerifier, SqliteLedger, merkle, verify_each};

use crate::cli::AuditCmd;
use crate::run::Failure;
use tollgate_app::{codec, sandbox};

/// Opens the store to read it, with the public key only: an auditor's copy needs no secret.
fn open(db: &Path, trusted: Option<NoteVerifier>) -> Result<SqliteLedger, Failure> {
    SqliteLedger::open_for_audit(db, trusted).map_err(|e| match e {
        LedgerError::NotALedger { .. } | LedgerError::Corrupt { .. } => Failure::Integrity(e.to_string()),
        other => Failure::Error(other.to_string()),
    })
}

fn b64(h: &[u8]) -> String {
    B64.encode(h)
}

fn print(json: bool, doc: Value, text: String) {
    if json {
        crate::out::write_json(doc);
    } else {
        crate::outln!("{}", text.trim_end());
    }
}

pub fn run(db: &Path, json: bool, cmd: AuditCmd) -> Result<(), Failure> {
    if let AuditCmd::Verify { checkpoint, key } = &cmd {
        return verify_cmd(db, json, checkpoint.as_deref(), key.as_deref());
    }
    let ledger = open(db, None)?;
    if sandbox::is_sandbox_origin(ledger.origin()) {
        crate::out::mark_sandbox();
    }
    match cmd {
        AuditCmd::Verify { .. } => unreachable!("handled above"),
        AuditCmd::Log { release } => log(&ledger, json, release.as_deref()),
        AuditCmd::Proof { seq, from, to } => proof(&ledger, json, seq, from, to),
        AuditCmd::Checkpoint => {
            let cp = ledger
                .latest_checkpoint()
                .map_err(|e| Failure::Error(e.to_string()))?
                .ok_or_else(|| Failure::Error("the log is empty".into()))?;
            print(json, json!({"size": cp.size, "note": cp.note}), cp.note.clone());
            Ok(())
        }
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    crate::files::read_text(path, 1 << 20, "a checkpoint or key is a few lines")
}

/// A verifier key given as the key itself or as a file holding it.
fn trusted_key(spec: &str) -> Result<NoteVerifier, Failure> {
    if let Ok(key) = NoteVerifier::parse(spec.trim()) {
        return Ok(key);
    }
    let text = read(Path::new(spec))?;
    NoteVerifier::parse(text.trim()).map_err(|e| Failure::Error(format!("{spec}: not a verifier key ({e})")))
}

fn verify_cmd(db: &Path, json: bool, checkpoint: Option<&Path>, key: Option<&str>) -> Result<(), Failure> {
    let external = checkpoint.map(read).transpose()?;
    let trusted = key.map(trusted_key).transpose()?;
    let beside = std::fs::read_to_string(tollgate_ledger::sqlite::pub_path(db))
        .ok()
        .and_then(|t| NoteVerifier::parse(t.trim()).ok());
    let ledger = open(db, trusted.clone())?;
    let origin = ledger.origin().to_owned();
    if sandbox::is_sandbox_origin(&origin) {
        crate::out::mark_sandbox();
    }
    let mut key_problem = None;
    if let (Some(trusted), Some(beside)) = (&trusted, &beside)
        && trusted != beside
    {
        key_problem = Some(format!(
            "the key beside the store is {} ({:08x}), not the trusted key {} ({:08x}); checkpoints are verified with the trusted key",
            beside.name(),
            beside.key_id(),
            trusted.name(),
            trusted.key_id()
        ));
    }
    // One pass over the store: hashes, roots and signatures on this thread, while each event's
    // payload goes to a second thread that decodes and applies it. The halves take similar time.
    let (report, replayed) = std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Leaf>>(16);
        let replay = scope.spawn(move || replay(receive));
        let mut batch = Vec::with_capacity(BATCH);
        let report = verify_each(&ledger, external.as_deref(), &mut |seq, leaf| {
            // A frame that does not decode is reported by the verifier; replay stops short.
            if let Ok(frame) = tollgate_ledger::frame::decode(leaf) {
                batch.push(Leaf {
                    seq: u64::try_from(seq).unwrap_or(u64::MAX),
                    recorded_at: frame.recorded_at,
                    payload: frame.payload.to_vec(),
                });
            }
            if batch.len() == BATCH {
                let _ = send.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
        });
        let _ = send.send(batch);
        drop(send);
        (report.map_err(|e| Failure::Integrity(e.to_string())), replay.join().expect("replay thread"))
    });
    let mut report = report?;
    let mut problems: Vec<(Option<u64>, String)> = report.problems.iter().map(|p| (p.seq, p.what.clone())).collect();
    if let Some(problem) = key_problem {
        problems.insert(0, (None, problem));
    }
    // A fact that no longer decodes or applies only matters if the bytes are the ones signed;
    // otherwise the hash problems above already name it.
    let (late, sandboxed) = match replayed {
        Ok((late, state)) => {
            if let Err(message) = sandbox::check_origin(&origin, &state) {
                problems.push((Some(0), message));
            }
            (late, state.is_sandbox())
        }
        Err((seq, message)) => {
            if problems.is_empty() {
                problems.push((Some(seq), format!("event {seq} does not replay: {message}")));
            }
            (LateFacts::default(), sandbox::is_sandbox_origin(&origin))
        }
    };
    report.intact = problems.is_empty();
    let first_bad = problems.iter().find_map(|(seq, _)| *seq);
    let doc = json!({
        "intact": report.intact,
        "sandbox": sandboxed,
        "origin": origin,
        "events": report.events,
        "root": hex::encode(report.root),
        "root_base64": b64(&report.root),
        "checkpoints_checked": report.checkpoints_checked,
        "first_bad_event": first_bad,
        "problems": problems.iter().map(|(seq, what)| json!({"event": seq, "problem": what})).collect::<Vec<_>>(),
        "late_facts": late.to_json(),
    });
    let mut text = if sandboxed {
        format!("SANDBOX: {origin} is a rehearsal store; its facts are no record of real releases\n")
    } else {
        String::new()
    };
    text += &if report.intact {
        format!(
            "intact: {} events, {} signed checkpoints verified, root {}{}",
            report.events,
            report.checkpoints_checked,
            b64(&report.root),
            late.to_text()
        )
    } else {
        let mut t = format!("NOT INTACT: {} problem(s) in {} stored events\n", problems.len(), report.events);
        for (_, what) in &problems {
            t.push_str(&format!("  - {what}\n"));
        }
        t
    };
    print(json, doc, text);
    if report.intact { Ok(()) } else { Err(Failure::Shown(4)) }
}

const BATCH: usize = 512;

/// One stored event as the replay thread needs it.
struct Leaf {
    seq: u64,
    recorded_at: i64,
    payload: Vec<u8>,
}

/// Facts recorded more than the clock skew after they happened, from the log alone: the
/// recording clock is in each frame, the fact's own time and its reason in the payload.
#[derive(Default)]
struct LateFacts {
    count: u64,
    without_reason: u64,
    /// Later than the profile in force allowed: written by something other than this Tollgate.
    over_limit: Vec<u64>,
    /// The latest few, to show.
    examples: Vec<(u64, chrono::Duration, String)>,
}

impl LateFacts {
    const SHOWN: usize = 5;

    fn note(&mut self, state: &State, seq: u64, recorded_at: i64, decoded: &codec::Decoded) {
        let Some(recorded) = chrono::DateTime::from_timestamp_micros(recorded_at) else { return };
        let timing = Timing { happened: decoded.fact.at, recorded, late_reason: decoded.late_reason.clone() };
        if !timing.is_late() {
            return;
        }
        self.count += 1;
        if decoded.late_reason.is_none() {
            self.without_reason += 1;
        }
        if timing.beyond(state.policy()) {
            self.over_limit.push(seq);
        }
        if self.examples.len() == Self::SHOWN {
            self.examples.remove(0);
        }
        self.examples.push((seq, timing.lateness(), decoded.late_reason.clone().unwrap_or_default()));
    }

    fn to_json(&self) -> Value {
        json!({
            "count": self.count,
            "without_reason": self.without_reason,
            "over_limit": self.over_limit,
            "latest": self.examples.iter().map(|(seq, late, reason)| json!({"event": seq, "late_by": format_duration(*late), "reason": reason})).collect::<Vec<_>>(),
        })
    }

    fn to_text(&self) -> String {
        if self.count == 0 {
            return "; no fact recorded late".into();
        }
        let mut t = format!("; {} fact(s) recorded late", self.count);
        if self.without_reason > 0 {
            t.push_str(&format!(", {} without a reason", self.without_reason));
        }
        if !self.over_limit.is_empty() {
            t.push_str(&format!(
                ", {} later than the profile allowed (events {})",
                self.over_limit.len(),
                self.over_limit.iter().take(10).map(u64::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        for (seq, late, reason) in &self.examples {
            let reason = if reason.is_empty() { "no reason given" } else { reason };
            t.push_str(&format!("\n  event {seq}: {} late — {reason}", format_duration(*late)));
        }
        t
    }
}

/// Decodes and applies every fact in order, noting late ones; the state they make, or the
/// first that fails.
fn replay(events: std::sync::mpsc::Receiver<Vec<Leaf>>) -> Result<(LateFacts, State), (u64, String)> {
    let mut state = State::default();
    let mut late = LateFacts::default();
    for batch in events {
        for leaf in batch {
            let decoded = codec::decode(&leaf.payload).map_err(|e| (leaf.seq, e.0))?;
            // Judged against the profile in force when the fact was written.
            late.note(&state, leaf.seq, leaf.recorded_at, &decoded);
            sandbox::apply(&mut state, &decoded).map_err(|e| (leaf.seq, e))?;
        }
    }
    Ok((late, state))
}

fn log(ledger: &SqliteLedger, json: bool, release: Option<&str>) -> Result<(), Failure> {
    let filter = release
        .map(|r| r.parse::<tollgate_domain::release::ReleaseId>().map(|id| format!("release/{id}")))
        .transpose()
        .map_err(Failure::Error)?;
    let mut rows = Vec::new();
    let mut text = String::new();
    ledger
        .scan(0, &mut |record| {
            let decoded: Value = serde_json::from_slice(&record.payload).unwrap_or(Value::Null);
            let release_of =
                decoded.pointer("/event/data/release").and_then(Value::as_str).map(|r| format!("release/{r}"));
            if filter.as_ref().is_some_and(|f| *f != record.stream && Some(f) != release_of.as_ref()) {
                return Ok(());
            }
            let kind = codec::type_name(&record.payload).unwrap_or_else(|| "?".into());
            let at = decoded.get("at").and_then(Value::as_str).unwrap_or("?").to_owned();
            let actor = decoded.get("actor").and_then(Value::as_str).unwrap_or("?").to_owned();
            let written = chrono::DateTime::from_timestamp_micros(record.recorded_at);
            // A fact recorded after it happened shows when it was written, and why.
            let late = codec::decode(&record.payload).ok().zip(written).and_then(|(d, recorded)| {
                let timing = Timing { happened: d.fact.at, recorded, late_reason: d.late_reason };
                timing.is_late().then_some(timing)
            });
            text.push_str(&format!("{:>6}  {at}  {actor:<10} {:<22} {kind}\n", record.seq, record.stream));
            if let Some(t) = &late {
                text.push_str(&format!(
                    "        written {}, {} late: {}\n",
                    codec::time(t.recorded),
                    format_duration(t.lateness()),
                    t.late_reason.as_deref().unwrap_or("no reason given")
                ));
            }
            rows.push(json!({
                "seq": record.seq, "stream": record.stream, "stream_version": record.stream_version,
                "recorded_at": written.map(codec::time), "late_by": late.map(|t| format_duration(t.lateness())),
                "leaf_hash": hex::encode(record.leaf_hash), "event": decoded,
            }));
            Ok(())
        })
        .map_err(|e| Failure::Integrity(e.to_string()))?;
    print(json, Value::Array(rows), text);
    Ok(())
}

fn checkpoint_at(ledger: &SqliteLedger, size: u64) -> Result<(merkle::Hash, String), Failure> {
    let cps = ledger.checkpoints().map_err(|e| Failure::Error(e.to_string()))?;
    let cp = cps.into_iter().find(|c| c.size == size).ok_or_else(|| {
        Failure::Error(format!(
            "no signed checkpoint at tree size {size}; `tollgate audit log` shows the sizes after each command"
        ))
    })?;
    let opened = ledger
        .verifier()
        .open_checkpoint(&cp.note)
        .map_err(|e| Failure::Integrity(format!("checkpoint {size}: {e}")))?;
    Ok((opened.root, cp.note))
}

fn proof(
    ledger: &SqliteLedger,
    json: bool,
    seq: Option<u64>,
    from: Option<u64>,
    to: Option<u64>,
) -> Result<(), Failure> {
    if seq.is_none() && from.is_none() {
        return Err(Failure::Error(
            "give an event number (inclusion proof) and/or --from SIZE (consistency proof)".into(),
        ));
    }
    let latest = ledger
        .latest_checkpoint()
        .map_err(|e| Failure::Error(e.to_string()))?
        .ok_or_else(|| Failure::Error("the log is empty".into()))?;
    let size = to.unwrap_or(latest.size);
    let (root, note) = checkpoint_at(ledger, size)?;
    let mut doc = json!({"tree_size": size, "root": b64(&root), "checkpoint": note});
    let mut text = format!("checkpoint at size {size}:\n{note}\n");
    if let Some(seq) = seq {
        if seq >= size {
            return Err(Failure::Error(format!("event {seq} is not in the tree of size {size}")));
        }
        let hashes = ledger.leaf_hashes(size).map_err(|e| Failure::Error(e.to_string()))?;
        let leaf = hashes[seq as usize];
        let path = merkle::inclusion_proof(&hashes, seq).map_err(|e| Failure::Error(e.to_string()))?;
        merkle::verify_inclusion(&leaf, seq, size, &path, &root)
            .map_err(|e| Failure::Integrity(format!("inclusion proof does not verify: {e}")))?;
        doc["inclusion"] = json!({"leaf_index": seq, "leaf_hash": b64(&leaf), "proof": path.iter().map(|h| b64(h)).collect::<Vec<_>>()});
        text.push_str(&format!("inclusion of event {seq} (leaf hash {}):\n", b64(&leaf)));
        for h in &path {
            text.push_str(&format!("  {}\n", b64(h)));
        }
    }
    if let Some(old) = from {
        if old == 0 || old > size {
            return Err(Failure::Error(format!("--from {old}: expected a checkpoint size from 1 to {size}")));
        }
        let (old_root, old_note) = checkpoint_at(ledger, old)?;
        let path = tollgate_ledger::verify::consistency_proof_between(ledger, old, size)
            .map_err(|e| Failure::Error(e.to_string()))?;
        merkle::verify_consistency(old, size, &path, &old_root, &root)
            .map_err(|e| Failure::Integrity(format!("consistency proof does not verify: {e}")))?;
        doc["consistency"] = json!({"old_size": old, "old_root": b64(&old_root), "old_checkpoint": old_note, "proof": path.iter().map(|h| b64(h)).collect::<Vec<_>>()});
        text.push_str(&format!("consistency from size {old} (root {}) to {size}:\n", b64(&old_root)));
        for h in &path {
            text.push_str(&format!("  {}\n", b64(h)));
        }
    }
    print(json, doc, text);
    Ok(())
}
