//! Group commit: concurrent writers each append inside the open group ([`App::begin_group`])
//! and are answered only once a commit of that group made their facts durable. Whoever waits
//! first commits for everyone appended so far (one sync, one signed checkpoint), while the
//! writers that come meanwhile append to the next group; so under load one sync serves many
//! writes, and alone a writer commits its own at once.
//!
//! A failed commit keeps nothing of its group (the application rebuilds its state from the
//! log and moves to the next epoch): each writer of that group is told its facts were not
//! recorded, never acknowledged.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, PoisonError};

use tollgate_app::App;
use tollgate_ledger::SqliteLedger;

use super::snapshot::Snapshots;
use crate::run::{SharedApp, Written};

#[derive(Default)]
pub(crate) struct GroupCommit {
    progress: Mutex<Progress>,
    committed: Condvar,
}

#[derive(Default)]
struct Progress {
    /// The current epoch (the application's), and the log's durable size in it.
    epoch: u64,
    durable: u64,
    /// A writer is committing.
    committing: bool,
    /// Of each epoch that ended in a failed commit: its durable size, and the error.
    failed: HashMap<u64, (u64, String)>,
}

impl GroupCommit {
    /// Returns once `written` is durable, or the error that lost it.
    pub(crate) fn wait(&self, app: &SharedApp, snapshots: &Snapshots, written: Written) -> Result<(), String> {
        let mut p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if written.epoch != p.epoch {
                let (durable, why) = p.failed.get(&written.epoch).cloned().unwrap_or_default();
                return if written.size <= durable {
                    Ok(())
                } else {
                    Err(format!(
                        "the write was not recorded: committing it failed ({why}); nothing of it is in the log"
                    ))
                };
            }
            if written.size <= p.durable {
                return Ok(());
            }
            if p.committing {
                p = self.committed.wait(p).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            p.committing = true;
            drop(p);
            let mut locked = app.lock().unwrap_or_else(PoisonError::into_inner);
            self.commit_locked(&mut locked, snapshots);
            drop(locked);
            p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
            p.committing = false;
            self.committed.notify_all();
        }
    }

    /// Commits the open group of `app` (held locked by the caller) and publishes the state
    /// it made durable; records a failure for the writers of the group to find.
    pub(crate) fn commit_locked(&self, app: &mut App<SqliteLedger>, snapshots: &Snapshots) {
        let before = app.epoch();
        let outcome = app.commit_group();
        let mut p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = outcome {
            tracing::error!(error = %e, "a group commit failed; its writers are told nothing was recorded");
            let durable = p.durable;
            p.failed.insert(before, (durable, e.to_string()));
        }
        p.epoch = app.epoch();
        p.durable = app.applied();
        drop(p);
        snapshots.publish(app);
        self.committed.notify_all();
    }
}

/// Records `command` as `actor` on the server's store, at `clock`'s time, in the open group
/// like any request's, and returns once it is durable; or why it was refused or lost. For the
/// server's own writers: the rollout executor, the Alertmanager receiver, a token's first use.
pub(crate) fn record_with(
    server: &super::Server,
    actor: &str,
    clock: std::sync::Arc<dyn tollgate_app::Clock>,
    command: &tollgate_domain::Command,
) -> Result<(), String> {
    let written = {
        let mut app = server.app.lock().unwrap_or_else(PoisonError::into_inner);
        app.catch_up().map_err(|e| e.to_string())?;
        app.set_clock(clock);
        app.begin_group().map_err(|e| e.to_string())?;
        let recorded = app.execute(actor, &tollgate_app::When::Now, command).map_err(|e| e.to_string())?;
        if recorded.facts.is_empty() {
            return Ok(());
        }
        Written { epoch: app.epoch(), size: recorded.size }
    };
    server.commits.wait(&server.app, &server.snapshots, written)
}

/// [`record_with`] at the system's time.
pub(crate) fn record(server: &super::Server, actor: &str, command: &tollgate_domain::Command) -> Result<(), String> {
    record_with(server, actor, std::sync::Arc::new(tollgate_app::SystemClock), command)
}
