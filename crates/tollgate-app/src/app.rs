//! The imperative shell around the domain: replays the log into state, turns a command into
//! facts with `decide`, encodes them and appends them atomically with optimistic concurrency.
//! A rejected or failed command writes nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tollgate_domain::recording::{self, Timing};
use tollgate_domain::{Command, Event, Fact, Rejection, State, Timestamp, decide, evolve};
use tollgate_ledger::{Expectation, Ledger, LedgerError, NewRecord, SqliteLedger};

use crate::{codec, sandbox, snapshot};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Rejected(Rejection),
    #[error("{}", conflict(stream, *expected, *actual))]
    Conflict { stream: String, expected: u64, actual: u64 },
    #[error("{0}")]
    Ledger(LedgerError),
    /// The log holds something this Tollgate cannot replay: an integrity failure.
    #[error("event {seq}: {message}")]
    Unreadable { seq: u64, message: String },
}

impl From<LedgerError> for AppError {
    fn from(e: LedgerError) -> AppError {
        match e {
            LedgerError::Conflict { stream, expected, actual } => AppError::Conflict { stream, expected, actual },
            other => AppError::Ledger(other),
        }
    }
}

fn conflict(stream: &str, expected: u64, actual: u64) -> String {
    let what = if expected == 0 {
        format!("another command created {stream} at the same moment")
    } else {
        format!("{stream} changed while this command was being decided (version {expected} became {actual})")
    };
    format!("conflict: {what}, again on every retry; nothing was written")
}

/// What an accepted command recorded.
pub struct Recorded {
    pub facts: Vec<Fact>,
    pub first_seq: u64,
    pub size: u64,
    pub checkpoint: String,
}

/// The recording clock: when facts are written down. Injected so that the demo, the tests and
/// a rehearsal can run on simulated time; the CLI and the server use the system's.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
    }
}

/// A clock that moves only when told to (simulations, tests).
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(at)))
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().expect("clock lock") = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock lock")
    }
}

/// When a command's facts happened: now (the recording clock's time, read afresh on every
/// attempt), or at a given earlier time with the reason it is recorded late.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    Now,
    At { happened: Timestamp, late_reason: Option<String> },
}

impl When {
    /// The timing of facts recorded at `recorded`.
    pub fn timing(&self, recorded: Timestamp) -> Timing {
        match self {
            When::Now => Timing::on_time(recorded),
            When::At { happened, late_reason } => {
                Timing { happened: *happened, recorded, late_reason: late_reason.clone() }
            }
        }
    }
}

/// How many times a command is decided again after a concurrent writer changed what it read.
/// Each retry first applies the other writer's facts, so only a burst of more than this many
/// writers to the same streams within one command's decision can exhaust it.
const ATTEMPTS: usize = 16;

/// From how many new entries on a catch-up reads and applies them on two threads.
const PIPELINE_FROM: u64 = 20_000;
/// Facts handed from the reading thread to the applying one at a time.
const BATCH: usize = 512;

fn unreadable(seq: u64, message: String) -> AppError {
    AppError::Unreadable { seq, message }
}

/// Stops a scan; the caller reports the reason it kept.
fn stop(seq: u64) -> LedgerError {
    LedgerError::Corrupt { at: format!("event {seq}"), detail: "unreadable".into() }
}

pub struct App<L: Ledger> {
    ledger: L,
    state: State,
    /// Stream versions seen while replaying: the expectations of the next append.
    versions: HashMap<String, u64>,
    /// How many log entries `state` has applied: the next catch-up starts there.
    applied: u64,
    clock: Arc<dyn Clock>,
    /// A group commit is open: `state` holds facts not durable yet.
    grouped: bool,
    /// How many group commits have failed: a writer that recorded in an earlier epoch and was
    /// not committed by then has lost its facts.
    epoch: u64,
    /// Where this store's state snapshot is kept, and the size it was last written or read at.
    snapshot: Option<(PathBuf, u64)>,
}

/// How many facts past its snapshot a process applies before it writes a new one: writing
/// costs about as much as replaying a few thousand facts, reading it saves replaying all.
pub const SNAPSHOT_EVERY: u64 = 20_000;

/// How a process came by its state.
#[derive(Debug)]
pub struct Started {
    /// The size of the snapshot it started from, or `None` when it replayed the whole log.
    pub from_snapshot: Option<u64>,
    /// Why no snapshot was used (absent, stale, another build's ...), when one was not.
    pub replayed_because: Option<String>,
}

impl App<SqliteLedger> {
    /// A new real store.
    pub fn create(path: &Path) -> Result<Self, AppError> {
        App::create_as(path, false)
    }

    /// A new store, a sandbox when `sandbox` (its first command must then open one: `init`).
    pub fn create_as(path: &Path, sandbox: bool) -> Result<Self, AppError> {
        let origin = sandbox::origin(sandbox, &random_bytes::<8>());
        App::from_ledger(SqliteLedger::create(path, &origin)?)
    }

    /// A new store whose private key is written to `key_file` (which must not exist), away
    /// from the store; only the verifier key is kept beside it.
    pub fn create_with_key_file(path: &Path, key_file: &Path, sandbox: bool) -> Result<Self, AppError> {
        let options = tollgate_ledger::SqliteOptions::default();
        let origin = sandbox::origin(sandbox, &random_bytes::<8>());
        App::from_ledger(SqliteLedger::create_with_key_file(path, &origin, key_file, options)?)
    }

    pub fn open(path: &Path) -> Result<Self, AppError> {
        App::from_ledger(SqliteLedger::open(path)?)
    }
}

/// Each store is its own log: an origin no other store has.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system provides randomness");
    b
}

impl<L: Ledger> App<L> {
    /// Rebuilds state from every fact in the log; records on the system clock.
    pub fn from_ledger(ledger: L) -> Result<Self, AppError> {
        let mut app = App::unreplayed(ledger);
        app.catch_up()?;
        sandbox::check_origin(app.ledger.origin(), &app.state)
            .map_err(|message| AppError::Unreadable { seq: 0, message })?;
        Ok(app)
    }

    fn unreplayed(ledger: L) -> Self {
        App {
            ledger,
            state: State::default(),
            versions: HashMap::new(),
            applied: 0,
            clock: Arc::new(SystemClock),
            grouped: false,
            epoch: 0,
            snapshot: None,
        }
    }

    /// Like [`App::from_ledger`], starting from the state snapshot at `cache` when it is this
    /// log's, signed and folded by this build ([`crate::snapshot`]), and replaying
    /// only what was written after it; otherwise replaying the whole log. Writing a new
    /// snapshot is the caller's to decide ([`App::snapshot_due`]).
    pub fn from_ledger_cached(ledger: L, cache: PathBuf) -> Result<(Self, Started), AppError> {
        let mut app = App::unreplayed(ledger);
        let (from_snapshot, replayed_because) = match snapshot::load(&cache, &app.ledger) {
            Ok(folded) => {
                let at = folded.applied;
                (app.state, app.versions, app.applied) = (folded.state, folded.versions, folded.applied);
                (Some(at), None)
            }
            Err(why) => (None, Some(why.to_string())),
        };
        app.snapshot = Some((cache, from_snapshot.unwrap_or(0)));
        app.catch_up()?;
        sandbox::check_origin(app.ledger.origin(), &app.state)
            .map_err(|message| AppError::Unreadable { seq: 0, message })?;
        Ok((app, Started { from_snapshot, replayed_because }))
    }

    /// Whether [`SNAPSHOT_EVERY`] facts or more were applied since the snapshot was last
    /// written or read.
    pub fn snapshot_due(&self) -> bool {
        self.facts_since_snapshot() >= SNAPSHOT_EVERY
    }

    /// How many facts were applied since the snapshot was last written or read (0 for an
    /// application that keeps none).
    pub fn facts_since_snapshot(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |(_, at)| self.applied.saturating_sub(*at))
    }

    /// The snapshot of the state as it is, to write on any thread ([`snapshot::Job::write`]);
    /// `None` when the snapshot is already this state, or facts of an open group are not
    /// durable yet. From here the snapshot counts as written at this size.
    pub fn snapshot_job(&mut self) -> Result<Option<snapshot::Job>, snapshot::SnapshotError> {
        let Some((path, at)) = &self.snapshot else { return Ok(None) };
        if self.grouped || *at == self.applied {
            return Ok(None);
        }
        let job = snapshot::Job::new(path, &self.ledger, &self.state, &self.versions, self.applied)?;
        self.snapshot = Some((path.clone(), self.applied));
        Ok(Some(job))
    }

    /// Writes the state snapshot now, signed by the ledger's key.
    pub fn save_snapshot(&mut self) -> Result<(), snapshot::SnapshotError> {
        match self.snapshot_job()? {
            Some(job) => job.write(&|text| self.ledger.sign_note(text)),
            None => Ok(()),
        }
    }

    /// The same, recording on `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Records on `clock` from now on (a server sets each command's own).
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// Applies the log entries written since this process last read it (by anyone): a
    /// long-lived process pays only for what is new. A long backlog (a process starting on a
    /// large log) is read and decoded on this thread while a second one applies the facts.
    pub fn catch_up(&mut self) -> Result<(), AppError> {
        let behind = self.ledger.size()?.saturating_sub(self.applied);
        if behind >= PIPELINE_FROM { self.catch_up_pipelined() } else { self.catch_up_inline() }
    }

    fn catch_up_inline(&mut self) -> Result<(), AppError> {
        let mut failure = None;
        let (state, versions, applied) = (&mut self.state, &mut self.versions, &mut self.applied);
        self.ledger
            .scan_frames(*applied, &mut |frame| {
                let applies = codec::decode(frame.payload).map_err(|e| e.0).and_then(|d| sandbox::apply(state, &d));
                match applies {
                    Ok(()) => {
                        versions.insert(frame.stream.to_owned(), frame.stream_version);
                        *applied = frame.seq + 1;
                        Ok(())
                    }
                    Err(message) => {
                        failure = Some(unreadable(frame.seq, message));
                        Err(stop(frame.seq))
                    }
                }
            })
            .map_err(|e| failure.take().unwrap_or_else(|| e.into()))
    }

    /// Reading and decoding (SQLite, JSON) take about as long as applying: on two threads
    /// they overlap. The facts are applied in log order, exactly as inline.
    fn catch_up_pipelined(&mut self) -> Result<(), AppError> {
        type Decoded = (u64, String, u64, Fact);
        let App { ledger, state, versions, applied, .. } = self;
        let from = *applied;
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Decoded>>(16);
        std::thread::scope(|scope| {
            let applier = scope.spawn(move || -> Result<(), AppError> {
                for batch in receive {
                    for (seq, stream, version, fact) in batch {
                        evolve(state, &fact).map_err(|e| unreadable(seq, e.0))?;
                        versions.insert(stream, version);
                        *applied = seq + 1;
                    }
                }
                Ok(())
            });
            let mut failure = None;
            let mut batch = Vec::with_capacity(BATCH);
            let scanned = ledger.scan_frames(from, &mut |frame| {
                match codec::decode(frame.payload) {
                    Ok(d) => batch.push((frame.seq, frame.stream.to_owned(), frame.stream_version, d.fact)),
                    Err(e) => {
                        failure = Some(unreadable(frame.seq, e.0));
                        return Err(stop(frame.seq));
                    }
                }
                // A closed channel means the applier stopped on an error, which it returns.
                if batch.len() == BATCH && send.send(std::mem::take(&mut batch)).is_err() {
                    return Err(stop(frame.seq));
                }
                Ok(())
            });
            let flushed = scanned.is_ok() && send.send(batch).is_ok();
            drop(send);
            let applying = applier.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            match (failure, applying, scanned) {
                (Some(e), _, _) | (None, Err(e), _) => Err(e),
                (None, Ok(()), Err(e)) => Err(e.into()),
                (None, Ok(()), Ok(())) => {
                    debug_assert!(flushed);
                    Ok(())
                }
            }
        })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// How many log entries the state has applied (the log's size when caught up).
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Opens a group commit ([`Ledger::begin_group`]) unless one is open: the commands that
    /// follow are decided on each other's facts and become durable together.
    pub fn begin_group(&mut self) -> Result<(), AppError> {
        if !self.grouped {
            self.ledger.begin_group()?;
            self.grouped = true;
        }
        Ok(())
    }

    /// Whether facts of an open group are not durable yet.
    pub fn in_group(&self) -> bool {
        self.grouped
    }

    /// The number of group commits that failed so far.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Makes the open group durable under one signed checkpoint. When that fails nothing of
    /// the group is kept, so the state is rebuilt from the log as it is and the epoch moves on.
    pub fn commit_group(&mut self) -> Result<(), AppError> {
        if !std::mem::take(&mut self.grouped) {
            return Ok(());
        }
        match self.ledger.commit_group() {
            Ok(_) => Ok(()),
            Err(e) => {
                self.epoch += 1;
                self.state = State::default();
                self.versions.clear();
                self.applied = 0;
                self.catch_up()?;
                Err(e.into())
            }
        }
    }

    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    pub fn into_ledger(self) -> L {
        self.ledger
    }

    /// Decides `command` as `actor`; records the facts, or nothing. When another writer
    /// changed a stream the decision read, its facts are applied and the command is decided
    /// again (the clock read afresh for `When::Now`): concurrent writers wait or succeed, and a
    /// command that no longer holds is refused with the reason, never "run it again".
    pub fn execute(&mut self, actor: &str, when: &When, command: &Command) -> Result<Recorded, AppError> {
        let clock = Arc::clone(&self.clock);
        // Now is never earlier than what the log already holds: a writer that raced ahead by a
        // few milliseconds moves this command's time to its own, not the log backwards. A
        // sandbox records on its own clock, ahead by the offset the log holds as read.
        let timing = |state: &State| {
            let t = sandbox::time(state, clock.now());
            when.timing(if *when == When::Now { state.last_at.map_or(t, |last| last.max(t)) } else { t })
        };
        self.with_retries(actor, &timing, command)
    }

    /// For simulations on their own time (the demo, rehearsals, tests): the facts happen, and
    /// are recorded, as `timing` says.
    pub fn execute_at(&mut self, actor: &str, timing: &Timing, command: &Command) -> Result<Recorded, AppError> {
        self.with_retries(actor, &|_| timing.clone(), command)
    }

    fn with_retries(
        &mut self,
        actor: &str,
        timing: &dyn Fn(&State) -> Timing,
        command: &Command,
    ) -> Result<Recorded, AppError> {
        let mut attempt = 1;
        loop {
            match self.execute_once(actor, &timing(&self.state), command) {
                Err(AppError::Conflict { .. }) if attempt < ATTEMPTS => {
                    attempt += 1;
                    self.catch_up()?;
                }
                other => return other,
            }
        }
    }

    /// One decision on the state as read: a fact recorded late needs a reason, and is refused
    /// when later than the profile allows.
    fn execute_once(&mut self, actor: &str, timing: &Timing, command: &Command) -> Result<Recorded, AppError> {
        recording::check(&self.state, command, timing).map_err(AppError::Rejected)?;
        let now = timing.happened;
        let events = decide(&self.state, actor, now, command).map_err(AppError::Rejected)?;
        if events.is_empty() {
            return Ok(Recorded {
                facts: Vec::new(),
                first_seq: 0,
                size: self.ledger.size()?,
                checkpoint: String::new(),
            });
        }
        let facts: Vec<Fact> =
            events.into_iter().map(|event| Fact { at: now, actor: actor.to_owned(), event }).collect();
        let mut next = self.state.clone();
        let mut records = Vec::with_capacity(facts.len());
        for fact in &facts {
            let profile = profile_version(&next, &fact.event);
            evolve(&mut next, fact).map_err(|e| AppError::Unreadable { seq: 0, message: e.0 })?;
            records.push(NewRecord {
                stream: codec::stream(&fact.event),
                payload: codec::encode(fact, &profile, timing.reason_to_record(), next.is_sandbox()),
            });
        }
        // A store is what its ledger was created as: a sandbox's ledger takes only a sandbox's
        // facts, from the first.
        if sandbox::is_sandbox_origin(self.ledger.origin()) != next.is_sandbox() {
            return Err(AppError::Rejected(Rejection::invalid(if next.is_sandbox() {
                "this store was created as a real store; a sandbox is created with `tollgate init --sandbox`"
            } else {
                "this store was created as a sandbox: initialise it with `tollgate init --sandbox`"
            })));
        }
        let mut streams: Vec<String> = records.iter().map(|r| r.stream.clone()).collect();
        // What was read to decide must not have changed either: the actor's roles, the
        // procedure in force, and on a sandbox its clock.
        streams.push(format!("person/{actor}"));
        streams.push(codec::PROFILE_STREAM.to_owned());
        if self.state.is_sandbox() {
            streams.push(codec::SANDBOX_STREAM.to_owned());
        }
        streams.sort();
        streams.dedup();
        let expect: Vec<Expectation> = streams
            .into_iter()
            .map(|s| Expectation { version: self.versions.get(&s).copied().unwrap_or(0), stream: s })
            .collect();
        let appended = self.ledger.append(&expect, &records, timing.recorded.timestamp_micros())?;
        if appended.first_seq == self.applied {
            for r in &records {
                *self.versions.entry(r.stream.clone()).or_insert(0) += 1;
            }
            self.applied = appended.size;
            self.state = next;
        } else {
            // Others wrote to streams this command did not read, in between: read their facts
            // and ours back in log order.
            self.catch_up()?;
        }
        Ok(Recorded { facts, first_seq: appended.first_seq, size: appended.size, checkpoint: appended.checkpoint })
    }
}

/// The profile version in force for a fact: the release's governing version for release
/// facts (read before the fact applies), the current one otherwise.
fn profile_version(state: &State, event: &Event) -> String {
    if let Event::ProfileAdopted(p) = event {
        return p.policy.version.clone();
    }
    event
        .release()
        .and_then(|id| state.releases.get(&id))
        .map(|r| state.policy_of(r).version.clone())
        .or_else(|| state.policy().map(|p| p.version.clone()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store of a few thousand facts, replayed inline and on two threads: the same state, the
    /// same stream versions, the same position; and an unreadable entry is reported at the same
    /// event either way.
    #[test]
    fn a_pipelined_replay_gives_the_state_an_inline_one_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let clock = ManualClock::new("2026-11-02T09:00:00Z".parse().unwrap());
        let mut app = App::create(&path).unwrap().with_clock(Arc::new(clock.clone()));
        let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
        let profile = Arc::new(tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap());
        let people: &[(&str, &[&str])] = &[("rita", &["release-manager"]), ("eli", &["engineering-lead"])];
        for (actor, command) in tollgate_domain::playbook::staffing(profile, people) {
            app.execute(&actor, &When::Now, &command).unwrap();
        }
        for n in 0..(BATCH * 3 + 7) {
            clock.advance(chrono::Duration::seconds(1));
            let risk = Command::AddRisk {
                category: "tech".into(),
                risk: format!("risk {n}"),
                mitigation: "m".into(),
                owner: "eli".into(),
            };
            app.execute("rita", &When::Now, &risk).unwrap();
        }
        drop(app);
        let replay = |pipelined: bool| {
            let mut app = App::unreplayed(SqliteLedger::open(&path).unwrap());
            if pipelined { app.catch_up_pipelined() } else { app.catch_up_inline() }.map(|()| app)
        };
        let (inline, pipelined) = (replay(false).unwrap(), replay(true).unwrap());
        assert_eq!(format!("{:?}", inline.state), format!("{:?}", pipelined.state));
        assert_eq!((&inline.versions, inline.applied), (&pipelined.versions, pipelined.applied));
        assert_eq!(inline.applied, inline.ledger.size().unwrap());
        // A snapshot of that state gives it again, stream versions and position included.
        let cache = snapshot::path_for(&path);
        let (mut first, _) = App::from_ledger_cached(SqliteLedger::open(&path).unwrap(), cache.clone()).unwrap();
        first.save_snapshot().unwrap();
        let (cached, started) = App::from_ledger_cached(SqliteLedger::open(&path).unwrap(), cache).unwrap();
        assert_eq!(started.from_snapshot, Some(inline.applied));
        assert_eq!(format!("{:?}", inline.state), format!("{:?}", cached.state));
        assert_eq!((&inline.versions, inline.applied), (&cached.versions, cached.applied));

        // When an entry in the middle is damaged, both ways stop there with the same error
        let conn = rusqlite::Connection::open(&path).unwrap();
        let leaf: Vec<u8> = conn.query_row("SELECT leaf FROM entries WHERE seq = 700", [], |r| r.get(0)).unwrap();
        let garbled: Vec<u8> = leaf.iter().map(|&b| if b == b'{' { b'(' } else { b }).collect();
        conn.execute("UPDATE entries SET leaf = ?1 WHERE seq = 700", [garbled]).unwrap();
        drop(conn);
        let errors: Vec<String> = [false, true]
            .map(|pipelined| replay(pipelined).err().expect("a damaged entry stops the replay").to_string())
            .into();
        assert!(errors[0].contains("700"), "{}", errors[0]);
        assert_eq!(errors[0], errors[1]);
    }
}
