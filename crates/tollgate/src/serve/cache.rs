//! The server keeps the state snapshot file (`tollgate_app::snapshot`) fresh, so that a restart,
//! even after a crash, replays only what was written since the last one: one is written after a
//! long replay at start, every [`EVERY`] facts while serving, and when the server stops.
//!
//! Encoding a large state takes a moment, so it runs on a thread of its own from a copy of the
//! state (pointer copies); writers are held only for that copy. The thread signs with its own
//! handle on the server's signing key.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tollgate_app::App;
use tollgate_ledger::{CheckpointSigner, KeyFile, SqliteLedger};

/// Facts between two snapshots while serving.
const EVERY: u64 = 100_000;

pub(crate) struct StateCache {
    signer: Arc<KeyFile>,
    writing: Mutex<Option<JoinHandle<()>>>,
}

impl StateCache {
    pub(crate) fn new(signer: KeyFile) -> StateCache {
        StateCache { signer: Arc::new(signer), writing: Mutex::new(None) }
    }

    /// At start: the log was replayed far past the snapshot (or there was none).
    pub(crate) fn started(&self, app: &mut App<SqliteLedger>) {
        if app.snapshot_due() {
            self.write_behind(app);
        }
    }

    /// After the state advanced to a durable size.
    pub(crate) fn advanced(&self, app: &mut App<SqliteLedger>) {
        if app.facts_since_snapshot() >= EVERY {
            self.write_behind(app);
        }
    }

    /// When the server stops: the one being written finishes, then the state as it is now.
    pub(crate) fn stopped(&self, app: &mut App<SqliteLedger>) {
        if let Some(writing) = self.writing.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = writing.join();
        }
        let signer = Arc::clone(&self.signer);
        match app.snapshot_job() {
            Ok(Some(job)) => write(&job, &signer),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the state snapshot was not written"),
        }
    }

    fn write_behind(&self, app: &mut App<SqliteLedger>) {
        let mut writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        if writing.as_ref().is_some_and(|w| !w.is_finished()) {
            return;
        }
        match app.snapshot_job() {
            Ok(Some(job)) => {
                let signer = Arc::clone(&self.signer);
                *writing = Some(std::thread::spawn(move || write(&job, &signer)));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the state snapshot was not written"),
        }
    }
}

fn write(job: &tollgate_app::snapshot::Job, signer: &KeyFile) {
    let started = std::time::Instant::now();
    match job.write(&|text| signer.sign(text)) {
        Ok(()) => tracing::info!(size = job.size(), ms = started.elapsed().as_millis(), "state snapshot written"),
        Err(e) => tracing::warn!(error = %e, "the state snapshot was not written; the next start replays further"),
    }
}
