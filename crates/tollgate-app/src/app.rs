//! The imperative shell around the domain: replays the log into state, turns a command into
//! facts with `decide`, encodes them and appends them atomically with optimistic concurrency.
//! A rejected or failed command writes nothing.

use std::collections::HashMap;
use std::path::Path;

use tollgate_domain::recording::{self, Timing};
use tollgate_domain::{Command, Event, Fact, Rejection, State, decide, evolve};
use tollgate_ledger::{Expectation, Ledger, LedgerError, NewRecord, SqliteLedger};

use crate::codec;

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
    format!("conflict: {what}; nothing was written, run the command again")
}

/// What an accepted command recorded.
pub struct Recorded {
    pub facts: Vec<Fact>,
    pub first_seq: u64,
    pub size: u64,
    pub checkpoint: String,
}

pub struct App<L: Ledger> {
    ledger: L,
    state: State,
    /// Stream versions seen while replaying: the expectations of the next append.
    versions: HashMap<String, u64>,
}

impl App<SqliteLedger> {
    pub fn create(path: &Path) -> Result<Self, AppError> {
        let origin = format!("tollgate/{}", hex::encode(random_bytes::<8>()));
        App::from_ledger(SqliteLedger::create(path, &origin)?)
    }

    pub fn open(path: &Path) -> Result<Self, AppError> {
        App::from_ledger(SqliteLedger::open(path)?)
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system provides randomness");
    b
}

impl<L: Ledger> App<L> {
    /// Rebuilds state from every fact in the log.
    pub fn from_ledger(ledger: L) -> Result<Self, AppError> {
        let mut state = State::default();
        let mut versions = HashMap::new();
        let mut failure = None;
        ledger
            .scan_frames(0, &mut |frame| {
                let fact = codec::decode(frame.payload)
                    .map_err(|e| AppError::Unreadable { seq: frame.seq, message: e.0 })
                    .and_then(|d| {
                        evolve(&mut state, &d.fact)
                            .map_err(|e| AppError::Unreadable { seq: frame.seq, message: e.0 })?;
                        Ok(d)
                    });
                match fact {
                    Ok(_) => {
                        versions.insert(frame.stream.to_owned(), frame.stream_version);
                        Ok(())
                    }
                    Err(e) => {
                        failure = Some(e);
                        Err(LedgerError::Corrupt { at: format!("event {}", frame.seq), detail: "unreadable".into() })
                    }
                }
            })
            .map_err(|e| failure.take().unwrap_or_else(|| e.into()))?;
        Ok(App { ledger, state, versions })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    pub fn into_ledger(self) -> L {
        self.ledger
    }

    /// Decides `command` as `actor` at `timing.happened`; records the facts at
    /// `timing.recorded`, or nothing. A fact recorded late needs a reason, and is refused when
    /// later than the profile allows.
    pub fn execute(&mut self, actor: &str, timing: &Timing, command: &Command) -> Result<Recorded, AppError> {
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
                payload: codec::encode(fact, &profile, timing.reason_to_record()),
            });
        }
        let mut streams: Vec<String> = records.iter().map(|r| r.stream.clone()).collect();
        // The actor's roles were read to decide: a concurrent change to them is a conflict too.
        streams.push(format!("person/{actor}"));
        streams.sort();
        streams.dedup();
        let expect: Vec<Expectation> = streams
            .into_iter()
            .map(|s| Expectation { version: self.versions.get(&s).copied().unwrap_or(0), stream: s })
            .collect();
        let appended = self.ledger.append(&expect, &records, timing.recorded.timestamp_micros())?;
        for r in &records {
            *self.versions.entry(r.stream.clone()).or_insert(0) += 1;
        }
        self.state = next;
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
