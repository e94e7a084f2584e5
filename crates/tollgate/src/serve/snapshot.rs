//! The state reads are answered from: the application's state as of a log size, published as
//! an `Arc` that any number of requests read at once while writers hold the application lock.
//!
//! A request first asks the log how long it is (one indexed row, on a read-only connection of
//! its own thread). When the log has grown since the snapshot was taken — by this server's
//! writers or by an embedded CLI on the same store — the request takes the application lock,
//! applies the new entries and publishes a fresh snapshot; otherwise it reads the one it has.
//! A read therefore sees every write acknowledged before it started.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tollgate_domain::State;
use tollgate_ledger::{Ledger, SqliteLedger};

use super::cache::StateCache;
use super::commit::GroupCommit;
use crate::run::{Failure, SharedApp};
use tollgate_app::App;

pub(crate) struct Snapshots {
    db: PathBuf,
    latest: RwLock<(u64, Arc<State>)>,
    /// The state snapshot file, written every so many facts.
    cache: Arc<StateCache>,
}

thread_local! {
    /// Each blocking thread's read-only connection, for the log's size.
    static PROBE: RefCell<Option<(PathBuf, SqliteLedger)>> = const { RefCell::new(None) };
}

impl Snapshots {
    pub(crate) fn new(db: &Path, app: &SharedApp, cache: Arc<StateCache>) -> Snapshots {
        let app = app.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let latest = RwLock::new((app.applied(), Arc::new(app.state().clone())));
        Snapshots { db: db.to_owned(), latest, cache }
    }

    /// The state as of the log's current durable size.
    pub(crate) fn current(&self, app: &SharedApp, commits: &GroupCommit) -> Result<Arc<State>, Failure> {
        let size = self.log_size()?;
        if let Some(state) = self.as_of(size) {
            return Ok(state);
        }
        let mut app = app.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another request may have published it while this one waited for the lock.
        if let Some(state) = self.as_of(size) {
            return Ok(state);
        }
        if app.in_group() {
            // The state holds facts not durable yet, which no read may see: make them durable
            // (the group's writers are answered as if one of them had committed).
            commits.commit_locked(&mut app, self);
        }
        // What another process wrote (an open group may have held none of it).
        if app.applied() < size {
            app.catch_up()?;
            self.publish(&mut app);
        }
        Ok(Arc::clone(&self.latest.read().unwrap_or_else(std::sync::PoisonError::into_inner).1))
    }

    /// The state as of the log's current durable size if it is published already: what a read
    /// can be answered from without waiting for the application lock.
    pub(crate) fn fresh(&self) -> Result<Option<Arc<State>>, Failure> {
        Ok(self.as_of(self.log_size()?))
    }

    /// Publishes `app`'s state, which must hold only durable facts (no group open).
    pub(crate) fn publish(&self, app: &mut App<SqliteLedger>) {
        debug_assert!(!app.in_group());
        let mut latest = self.latest.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if latest.0 != app.applied() {
            *latest = (app.applied(), Arc::new(app.state().clone()));
        }
        drop(latest);
        self.cache.advanced(app);
    }

    fn as_of(&self, size: u64) -> Option<Arc<State>> {
        let latest = self.latest.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        (latest.0 >= size).then(|| Arc::clone(&latest.1))
    }

    fn log_size(&self) -> Result<u64, Failure> {
        PROBE.with_borrow_mut(|probe| {
            if probe.as_ref().is_none_or(|(db, _)| *db != self.db) {
                let ledger = SqliteLedger::open_for_audit(&self.db, None)
                    .map_err(|e| Failure::Integrity(format!("{}: {e}", self.db.display())))?;
                *probe = Some((self.db.clone(), ledger));
            }
            let (_, ledger) = probe.as_ref().expect("opened above");
            ledger.size().map_err(|e| Failure::Integrity(format!("{}: {e}", self.db.display())))
        })
    }
}
