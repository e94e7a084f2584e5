//! Checkpoints leave the store (`serve --checkpoint-to`). The server's key signs every
//! checkpoint, so whoever holds the key and the store can rewrite the log and sign the result,
//! and the store alone can no longer tell. A copy of an earlier checkpoint kept elsewhere can:
//! the rewritten log is not an extension of it, and `audit verify --checkpoint` says so.
//!
//! Each new checkpoint is handed, after its append committed, to one thread per target (a
//! directory or file, a webhook, a C2SP witness). A target that is slow or down never delays a
//! write or another target, and a failure never fails the write: it is logged, counted in
//! `/metrics` and retried with backoff. Only the newest checkpoint waits for each target: a
//! checkpoint commits to every state before it, so delivering the newest is enough, and a
//! target down for a day never makes a queue grow.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tollgate_ledger::cosignature::CosignatureVerifier;
use tollgate_ledger::{Checkpoint, NoteVerifier};

use super::metrics::Publishing;
use super::witness::Witness;
use crate::run::{Failure, error};

/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts for one checkpoint.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where checkpoints go: one `--checkpoint-to`.
#[derive(Clone, Debug)]
pub enum Target {
    /// An existing directory: every checkpoint as `<size>.checkpoint`, written once and never
    /// replaced, and the newest as `latest.checkpoint`.
    Directory(PathBuf),
    /// A file, replaced (atomically) by each new checkpoint.
    File(PathBuf),
    /// A URL each checkpoint is POSTed to, as `text/plain`.
    Webhook(String),
    /// A C2SP tlog-witness, and the key its cosignatures verify with.
    Witness(String, Box<CosignatureVerifier>),
}

impl Target {
    /// `file:PATH`, `https://URL` (or `http://` to a loopback address), `witness:KEY@URL`.
    pub fn parse(spec: &str) -> Result<Target, String> {
        if let Some(path) = spec.strip_prefix("file:") {
            if path.is_empty() {
                return Err("file: needs a path: file:/var/lib/tollgate-checkpoints/".into());
            }
            let path = PathBuf::from(path);
            return Ok(if path.is_dir() || spec.ends_with('/') { Target::Directory(path) } else { Target::File(path) });
        }
        if let Some(rest) = spec.strip_prefix("witness:") {
            let at = rest.find("@http").ok_or("witness:KEY@URL: the witness's verifier key, then @ and its URL")?;
            let (key, url) = (&rest[..at], &rest[at + 1..]);
            let key = CosignatureVerifier::parse(key).map_err(|e| {
                format!("witness:{key}: not a witness verifier key (a c2sp cosignature key, type 0x04): {e}")
            })?;
            check_url(url)?;
            return Ok(Target::Witness(url.trim_end_matches('/').to_owned(), Box::new(key)));
        }
        if spec.starts_with("https://") || spec.starts_with("http://") {
            check_url(spec)?;
            return Ok(Target::Webhook(spec.to_owned()));
        }
        Err(format!("`{spec}`: expected file:PATH, https://URL (a webhook) or witness:KEY@URL"))
    }

    /// The target in logs and metrics: a URL without its credentials or query.
    fn label(&self) -> String {
        match self {
            Target::Directory(p) | Target::File(p) => format!("file:{}", p.display()),
            Target::Webhook(url) => redact(url),
            Target::Witness(url, key) => format!("witness:{}@{}", key.name(), redact(url)),
        }
    }

    /// What can be known at start: a directory must exist (an absent mount point must not
    /// quietly become a local directory), a file's directory too.
    fn check(&self, db: &Path) -> Result<(), Failure> {
        let dir = match self {
            Target::Directory(dir) => dir.as_path(),
            Target::File(file) => file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")),
            Target::Webhook(_) | Target::Witness(..) => return Ok(()),
        };
        if !dir.is_dir() {
            return Err(error(format!("--checkpoint-to {}: {} is not a directory", self.label(), dir.display())));
        }
        if beside(db, dir) {
            tracing::warn!(
                to = %self.label(),
                "checkpoints are published into the store's directory: a copy taken with the store does not catch a rewrite"
            );
        }
        Ok(())
    }
}

/// HTTPS, or plain HTTP to this machine (a sidecar, a test), where TLS adds nothing.
fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") || tollgate_app::identity::oidc::is_loopback_http(url) {
        Ok(())
    } else {
        Err(format!("{}: expected an https:// URL (http:// only to a loopback address)", redact(url)))
    }
}

fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/{path}")
}

/// Whether `path` is in the directory of the store `db`, or below it: copied with it.
pub(super) fn beside(db: &Path, path: &Path) -> bool {
    let store_dir = db.canonicalize().ok().and_then(|p| p.parent().map(Path::to_owned));
    match (store_dir, path.canonicalize()) {
        (Some(dir), Ok(path)) => path.starts_with(dir),
        _ => false,
    }
}

/// The newest checkpoint not yet delivered to one target, and whether the server is stopping.
#[derive(Default)]
struct Mailbox {
    slot: Mutex<Slot>,
    arrived: Condvar,
}

#[derive(Default)]
struct Slot {
    next: Option<Arc<str>>,
    closed: bool,
}

/// What a target's thread is handed.
enum Taken {
    Note(Arc<str>),
    /// Nothing within the wait.
    Nothing,
    /// The server is stopping and everything handed in was taken.
    Closed,
}

impl Mailbox {
    fn put(&self, note: Arc<str>) {
        self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next = Some(note);
        self.arrived.notify_one();
    }

    fn close(&self) {
        self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).closed = true;
        self.arrived.notify_one();
    }

    /// The next checkpoint, waiting at most `wait` for one (for ever when `None`); a checkpoint
    /// handed in before the mailbox closed is still taken.
    fn take(&self, wait: Option<Duration>) -> Taken {
        let slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let idle = |s: &mut Slot| s.next.is_none() && !s.closed;
        let mut slot = match wait {
            None => self.arrived.wait_while(slot, idle).unwrap_or_else(std::sync::PoisonError::into_inner),
            Some(wait) => self.arrived.wait_timeout_while(slot, wait, idle).unwrap_or_else(|p| p.into_inner()).0,
        };
        match (slot.next.take(), slot.closed) {
            (Some(note), _) => Taken::Note(note),
            (None, true) => Taken::Closed,
            (None, false) => Taken::Nothing,
        }
    }
}

/// Hands checkpoints to the targets' threads.
pub(crate) struct Publisher {
    mailboxes: Vec<Arc<Mailbox>>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Publisher {
    /// One thread per target. `db` is the store (a witness is sent consistency proofs read from
    /// it), `verifier` its key.
    pub(crate) fn start(
        db: &Path,
        verifier: &NoteVerifier,
        targets: Vec<Target>,
        metrics: Publishing,
    ) -> Result<Publisher, Failure> {
        let (mut mailboxes, mut workers) = (Vec::new(), Vec::new());
        for target in targets {
            target.check(db)?;
            let mailbox = Arc::new(Mailbox::default());
            let worker = Worker {
                label: target.label(),
                delivery: Delivery::new(target, db, verifier),
                mailbox: Arc::clone(&mailbox),
                metrics: metrics.clone(),
            };
            let thread = std::thread::Builder::new()
                .name("publish".into())
                .spawn(move || worker.run())
                .map_err(|e| error(format!("starting a publishing thread: {e}")))?;
            mailboxes.push(mailbox);
            workers.push(thread);
        }
        Ok(Publisher { mailboxes, workers: Mutex::new(workers) })
    }

    /// When the server stops: each target is tried once more with the newest checkpoint it
    /// has not taken, so the last writes leave the store before the process ends (a target
    /// that is down is not waited for beyond that attempt's timeout).
    pub(crate) fn finish(&self) {
        for mailbox in &self.mailboxes {
            mailbox.close();
        }
        for worker in self.workers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
            let _ = worker.join();
        }
    }

    /// Never blocks: the checkpoint waits for each target's thread.
    pub(crate) fn publish(&self, note: &str) {
        let note: Arc<str> = note.into();
        for mailbox in &self.mailboxes {
            mailbox.put(Arc::clone(&note));
        }
    }
}

/// Why a delivery failed.
pub(super) enum Failed {
    /// Worth trying again (the target is down, a timeout).
    Retry(String),
    /// The target says the log was rewritten, or will never take this checkpoint: trying the
    /// same again cannot help; the next checkpoint is tried when it comes.
    Alarm(String),
}

struct Worker {
    label: String,
    delivery: Delivery,
    mailbox: Arc<Mailbox>,
    metrics: Publishing,
}

impl Worker {
    fn run(mut self) {
        let mut failures = 0u32;
        let mut pending = None;
        loop {
            let note = match pending.take() {
                Some(note) => note,
                None => match self.mailbox.take(None) {
                    Taken::Note(note) => note,
                    Taken::Nothing | Taken::Closed => return,
                },
            };
            match self.delivery.deliver(&note) {
                Ok(()) => {
                    failures = 0;
                    self.metrics.published(&self.label);
                    tracing::debug!(to = %self.label, "checkpoint published");
                }
                Err(Failed::Alarm(why)) => {
                    self.metrics.failed(&self.label);
                    tracing::error!(to = %self.label, error = %why, "checkpoint refused");
                }
                Err(Failed::Retry(why)) => {
                    failures += 1;
                    self.metrics.failed(&self.label);
                    let wait = backoff(failures);
                    tracing::warn!(to = %self.label, error = %why, attempt = failures, retry_in_s = wait.as_secs(), "checkpoint not published");
                    // A newer checkpoint arriving meanwhile replaces this one; a stopping
                    // server does not wait out the backoff.
                    pending = match self.mailbox.take(Some(wait)) {
                        Taken::Note(newer) => Some(newer),
                        Taken::Nothing => Some(note),
                        Taken::Closed => return,
                    };
                }
            }
        }
    }
}

/// 2 s, 4 s, 8 s ... up to a minute.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1 << failures.min(6)).min(MAX_BACKOFF)
}

/// What one target's thread holds to deliver.
struct Delivery {
    target: Target,
    verifier: NoteVerifier,
    agent: ureq::Agent,
    witness: Option<Witness>,
}

impl Delivery {
    fn new(target: Target, db: &Path, verifier: &NoteVerifier) -> Delivery {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(TIMEOUT)).build().into();
        let witness = match &target {
            Target::Witness(url, key) => Some(Witness::new(url, (**key).clone(), db, verifier)),
            _ => None,
        };
        Delivery { target, verifier: verifier.clone(), agent, witness }
    }

    fn deliver(&mut self, note: &str) -> Result<(), Failed> {
        let checkpoint = self
            .verifier
            .open_checkpoint(note)
            .map_err(|e| Failed::Alarm(format!("the store's checkpoint does not verify ({e})")))?;
        match &self.target {
            Target::Directory(dir) => to_directory(dir, &checkpoint, note),
            Target::File(file) => tollgate_ledger::files::replace(file, note.as_bytes(), true)
                .map_err(|e| Failed::Retry(format!("{}: {e}", file.display()))),
            Target::Webhook(url) => {
                let response = self
                    .agent
                    .post(url)
                    .content_type("text/plain; charset=utf-8")
                    .send(note)
                    .map_err(|e| Failed::Retry(e.to_string()))?;
                match response.status().as_u16() {
                    200..=299 => Ok(()),
                    status => Err(Failed::Retry(format!("the webhook answered {status}"))),
                }
            }
            Target::Witness(..) => {
                let witness = self.witness.as_mut().expect("made with the target");
                witness.add_checkpoint(&self.agent, &checkpoint, note)
            }
        }
    }
}

/// `<size>.checkpoint`, written once: a different checkpoint of a size published before is the
/// rewrite this is here to catch, never replaced. Then `latest.checkpoint`.
fn to_directory(dir: &Path, checkpoint: &Checkpoint, note: &str) -> Result<(), Failed> {
    fn at(path: &Path) -> impl FnOnce(std::io::Error) -> Failed + '_ {
        move |e| Failed::Retry(format!("{}: {e}", path.display()))
    }
    let own = dir.join(format!("{}.checkpoint", checkpoint.size));
    match tollgate_ledger::files::write_once(&own, note.as_bytes()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let earlier = std::fs::read_to_string(&own).map_err(at(&own))?;
            if earlier != note {
                return Err(Failed::Alarm(format!(
                    "{} holds another checkpoint of size {}: the log was rewritten since it was published (`tollgate audit verify --checkpoint {}` shows where)",
                    own.display(),
                    checkpoint.size,
                    own.display()
                )));
            }
        }
        Err(e) => return Err(at(&own)(e)),
    }
    let latest = dir.join("latest.checkpoint");
    tollgate_ledger::files::replace(&latest, note.as_bytes(), true).map_err(at(&latest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        assert!(matches!(Target::parse(&format!("file:{d}")), Ok(Target::Directory(_))));
        assert!(matches!(Target::parse(&format!("file:{d}/cp")), Ok(Target::File(_))));
        assert!(matches!(Target::parse("https://hooks.example/cp?key=s3cret"), Ok(Target::Webhook(_))));
        assert!(matches!(Target::parse("http://127.0.0.1:9/cp"), Ok(Target::Webhook(_))));
        assert!(Target::parse("http://hooks.example/cp").unwrap_err().contains("https://"));
        assert!(Target::parse("ftp://x").unwrap_err().contains("expected file:PATH"));
        assert!(Target::parse("witness:nokey@https://w.example").unwrap_err().contains("not a witness verifier key"));
        let key = tollgate_ledger::cosignature::Cosigner::from_seed("w.example/w1", &[3; 32]).unwrap().verifier();
        let Ok(Target::Witness(url, _)) = Target::parse(&format!("witness:{key}@https://w.example/tlog/")) else {
            panic!("a witness")
        };
        assert_eq!(url, "https://w.example/tlog");
        assert_eq!(Target::Webhook("https://u:p@hooks.example/cp?key=s".into()).label(), "https://hooks.example/cp");
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
