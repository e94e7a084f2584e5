//! A C2SP witness (<https://c2sp.org/tlog-witness>) as a `--checkpoint-to` target. The witness
//! keeps the newest checkpoint of this log it cosigned and cosigns a new one only with a
//! consistency proof from it: a log rewritten after the witness saw it can never be cosigned
//! again, whoever holds the log's key.
//!
//! `POST <url>/add-checkpoint` with `old <size>`, the proof's hashes in base64 one a line, a
//! blank line and the signed checkpoint. 200: the witness's cosignature lines, kept with the
//! checkpoint in `DB.cosigned.<witness>`; 409 `text/x.tlog.size`: the witness holds another
//! size (it is told again with a proof from there); 409 otherwise, or 422: the witness holds
//! a tree this checkpoint does not extend, the alarm this exists for.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tollgate_ledger::cosignature::CosignatureVerifier;
use tollgate_ledger::{Checkpoint, NoteVerifier, SqliteLedger, verify};

use super::publish::Failed;

/// The witness's answers are a few lines.
const MAX_ANSWER: u64 = 64 << 10;
/// A 409 with a size is answered with a proof from that size; more than this in a row means
/// another writer keeps moving the witness, or a witness misbehaving.
const ATTEMPTS: usize = 3;

pub(super) struct Witness {
    url: String,
    key: CosignatureVerifier,
    db: PathBuf,
    verifier: NoteVerifier,
    /// The size the witness holds for this log, once known (it says so when asked with 0).
    holds: Option<u64>,
    /// Read-only, opened on first need: the proofs come from the store's leaf hashes.
    store: Option<SqliteLedger>,
}

impl Witness {
    pub(super) fn new(url: &str, key: CosignatureVerifier, db: &Path, verifier: &NoteVerifier) -> Witness {
        Witness { url: url.to_owned(), key, db: db.to_owned(), verifier: verifier.clone(), holds: None, store: None }
    }

    /// Where the checkpoint and this witness's cosignature are kept: beside the store (the
    /// witness's own record is what a rewrite cannot get past; this is the log's copy of it).
    fn cosigned_path(&self) -> PathBuf {
        let name: String = self
            .key
            .name()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect();
        let mut os = self.db.as_os_str().to_owned();
        os.push(format!(".cosigned.{name}"));
        PathBuf::from(os)
    }

    fn proof(&mut self, old: u64, new: u64) -> Result<Vec<String>, Failed> {
        if old == 0 || old == new {
            return Ok(Vec::new());
        }
        if self.store.is_none() {
            let store = SqliteLedger::open_for_audit(&self.db, Some(self.verifier.clone()))
                .map_err(|e| Failed::Retry(format!("reading the store for a proof: {e}")))?;
            self.store = Some(store);
        }
        let store = self.store.as_ref().expect("opened above");
        // Reads the leaf hashes up to `new`: linear in the log, on this thread only.
        let proof = verify::consistency_proof_between(store, old, new)
            .map_err(|e| Failed::Retry(format!("the consistency proof from {old} to {new}: {e}")))?;
        Ok(proof.iter().map(|h| B64.encode(h)).collect())
    }

    pub(super) fn add_checkpoint(
        &mut self,
        agent: &ureq::Agent,
        checkpoint: &Checkpoint,
        note: &str,
    ) -> Result<(), Failed> {
        let mut old = self.holds.unwrap_or(0);
        for _ in 0..ATTEMPTS {
            if old > checkpoint.size {
                return Err(Failed::Alarm(format!(
                    "the witness has cosigned size {old} of this log, more than the {} of this checkpoint: the log was truncated or rewritten after it was witnessed",
                    checkpoint.size
                )));
            }
            let mut body = format!("old {old}\n");
            for line in self.proof(old, checkpoint.size)? {
                body.push_str(&line);
                body.push('\n');
            }
            body.push('\n');
            body.push_str(note);
            let mut response = agent
                .post(format!("{}/add-checkpoint", self.url))
                .content_type("text/plain; charset=utf-8")
                .send(body)
                .map_err(|e| Failed::Retry(e.to_string()))?;
            let status = response.status().as_u16();
            let size_answer = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().starts_with("text/x.tlog.size"));
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER)
                .read_to_string()
                .map_err(|e| Failed::Retry(format!("reading the witness's answer: {e}")))?;
            match status {
                200 => return self.keep(checkpoint, note, &text),
                409 if size_answer => {
                    old = text.trim().parse().map_err(|_| {
                        Failed::Retry(format!("the witness answered 409 with {:?}, not a tree size", text.trim()))
                    })?;
                    self.holds = Some(old);
                }
                409 => {
                    return Err(Failed::Alarm(format!(
                        "the witness holds another checkpoint of size {}: the log was rewritten after it was witnessed",
                        checkpoint.size
                    )));
                }
                422 => {
                    return Err(Failed::Alarm(format!(
                        "the witness refused the consistency proof from size {old}: the log is not an extension of the checkpoint it cosigned (rewritten)"
                    )));
                }
                403 | 404 => {
                    return Err(Failed::Retry(format!(
                        "the witness answered {status}: it does not know this log ({}) or its key; give it the verifier key {}.pub",
                        checkpoint.origin,
                        self.db.display()
                    )));
                }
                _ => return Err(Failed::Retry(format!("the witness answered {status}: {}", text.trim()))),
            }
        }
        Err(Failed::Retry(format!("the witness answered 409 {ATTEMPTS} times in a row")))
    }

    /// Only a cosignature that verifies with the configured key is kept; the others are ignored.
    fn keep(&mut self, checkpoint: &Checkpoint, note: &str, answer: &str) -> Result<(), Failed> {
        let text = self.verifier.open_note(note).map_err(|e| Failed::Alarm(e.to_string()))?;
        let cosignature = self
            .key
            .find(text, answer)
            .map_err(|e| Failed::Alarm(format!("the witness answered 200 without a valid cosignature: {e}")))?;
        self.holds = Some(checkpoint.size);
        let path = self.cosigned_path();
        tollgate_ledger::files::replace(&path, format!("{note}{}", cosignature.line).as_bytes(), true)
            .map_err(|e| Failed::Retry(format!("{}: {e}", path.display())))
    }
}
