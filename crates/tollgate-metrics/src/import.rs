//! `tollgate import --cdevents`: CDEvents lines to KPI facts, links resolved as they arrive
//! (docs/metrics.md has the mapping). Idempotent by `context.id`: an event already imported is
//! counted as a duplicate and changes nothing. Lines are expected in time order, as an event
//! stream delivers them; a bad line is rejected with its number and the rest is imported.
//!
//! State kept in memory during one import: the seen ids (128-bit hashes, ~25 bytes each), the
//! pipeline chains in flight, merged changes not yet in production, and the changes of each
//! artefact not yet deployed. The seen ids, pending changes and artefact contents persist in the
//! store between imports; a pipeline chain split across two import files loses its start time.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, params};

use crate::cdevents::{self, Event, Kind};
use crate::history::Time;
use crate::store::{Store, encode_i64s};

/// A stable 128-bit hash of an identifier (two FNV-1a variants, each finalised by splitmix64).
/// Not cryptographic: it keys identifiers a CI system assigned, not an adversary's input, and a
/// collision between two of 10^8 ids has a probability near 10^-22.
pub fn id_hash(s: &str) -> u128 {
    fn fnv(bytes: &[u8], basis: u64) -> u64 {
        let mut h = basis;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let b = s.as_bytes();
    (u128::from(fnv(b, 0xcbf2_9ce4_8422_2325)) << 64) | u128::from(fnv(b, 0x6c62_272e_07bb_0142) ^ b.len() as u64)
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub imported: u64,
    pub duplicates: u64,
    /// Valid CDEvents the KPIs do not use, or that say nothing a KPI can count.
    pub skipped: u64,
    pub rejected: u64,
    /// The first rejected lines: (line number, why).
    pub rejections: Vec<(u64, String)>,
    /// Why events were skipped, with counts.
    pub skip_reasons: HashMap<&'static str, u64>,
    pub deployments: u64,
    pub failed_deployments: u64,
    pub rollbacks: u64,
    pub incidents: u64,
    pub unattributed_incidents: u64,
    pub changes_shipped: u64,
    /// Production deployments at or after the enforcement time, for the approved-release check:
    /// (service, artefact, finished), the first `MAX_CHECKED` of them.
    pub to_check: Vec<(String, Option<String>, Time)>,
    /// How many more there were beyond `to_check`.
    pub to_check_overflow: u64,
}

/// At most this many deployments of one import are checked against approved releases; the rest
/// are counted, so a first import of a long history after enforcement cannot flood the register.
pub const MAX_CHECKED: usize = 10_000;

#[derive(Clone, Copy)]
struct Chain {
    first: Time,
    pipeline_started: Option<Time>,
    deployed: bool,
}

pub struct Importer<'s> {
    store: &'s mut Store,
    production: String,
    names: HashMap<String, i64>,
    seen: HashSet<u128>,
    new_seen: Vec<u128>,
    chains: HashMap<u128, Chain>,
    /// Merged, not yet in production: commit time.
    changes: HashMap<u128, Time>,
    artefact_changes: HashMap<u128, Vec<u128>>,
    /// The latest deployment per (service, environment): what a rollback rolls back.
    latest: HashMap<(i64, i64), i64>,
    /// The latest production deployment per artefact this run: what an incident is caused by.
    deployed_artefacts: HashMap<u128, i64>,
    pub summary: Summary,
    in_transaction: u64,
    enforced_from: Option<Time>,
}

const MAX_REJECTIONS_LISTED: usize = 100;
const BATCH: u64 = 200_000;

impl<'s> Importer<'s> {
    /// `production` is the profile's production environment id.
    /// Production deployments from `enforced_from` on are listed for the approved-release check.
    pub fn new(store: &'s mut Store, production: &str, enforced_from: Option<Time>) -> rusqlite::Result<Importer<'s>> {
        let mut names = HashMap::new();
        {
            let mut stmt = store.conn.prepare("SELECT id, name FROM kpi_names")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                names.insert(r.get::<_, String>(1)?, r.get::<_, i64>(0)?);
            }
        }
        let mut seen = HashSet::new();
        {
            let mut stmt = store.conn.prepare("SELECT hashes FROM kpi_seen ORDER BY chunk")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let blob: Vec<u8> = r.get(0)?;
                seen.extend(blob.chunks_exact(16).map(|c| u128::from_le_bytes(c.try_into().unwrap_or([0; 16]))));
            }
        }
        let changes = load_pairs(store, "changes")?.into_iter().map(|(k, v)| (k, v as Time)).collect();
        let mut artefact_changes: HashMap<u128, Vec<u128>> = HashMap::new();
        for (artefact, change) in load_pairs(store, "artefact_changes")? {
            artefact_changes.entry(artefact).or_default().push(change);
        }
        let mut latest = HashMap::new();
        {
            let mut stmt = store
                .conn
                .prepare("SELECT service, environment, max(id) FROM kpi_deployments GROUP BY service, environment")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                latest.insert((r.get(0)?, r.get(1)?), r.get(2)?);
            }
        }
        store.conn.execute_batch("BEGIN")?;
        Ok(Importer {
            store,
            production: production.to_owned(),
            names,
            seen,
            new_seen: Vec::new(),
            chains: HashMap::new(),
            changes,
            artefact_changes,
            latest,
            deployed_artefacts: HashMap::new(),
            summary: Summary::default(),
            in_transaction: 0,
            enforced_from,
        })
    }

    /// One line of input (without its newline). Blank lines are ignored.
    pub fn line(&mut self, line: &[u8]) -> rusqlite::Result<()> {
        self.summary.lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let event = match cdevents::parse(line) {
            Ok(e) => e,
            Err(why) => {
                self.reject(why);
                return Ok(());
            }
        };
        let h = id_hash(&event.id);
        if self.seen.contains(&h) {
            self.summary.duplicates += 1;
            return Ok(());
        }
        match self.apply(&event)? {
            Ok(()) => {
                self.summary.imported += 1;
                self.seen.insert(h);
                self.new_seen.push(h);
            }
            Err(Outcome::Skipped(why)) => {
                self.summary.skipped += 1;
                *self.summary.skip_reasons.entry(why).or_default() += 1;
                self.seen.insert(h);
                self.new_seen.push(h);
            }
            Err(Outcome::Rejected(why)) => self.reject(why),
        }
        self.in_transaction += 1;
        if self.in_transaction >= BATCH {
            self.flush()?;
            self.store.conn.execute_batch("COMMIT; BEGIN")?;
            self.in_transaction = 0;
        }
        Ok(())
    }

    fn reject(&mut self, why: String) {
        self.summary.rejected += 1;
        if self.summary.rejections.len() < MAX_REJECTIONS_LISTED {
            self.summary.rejections.push((self.summary.lines, why));
        }
    }

    /// Commits everything, with the state the next import continues from.
    pub fn finish(mut self) -> rusqlite::Result<Summary> {
        self.flush()?;
        save_pairs(self.store, "changes", self.changes.iter().map(|(k, v)| (*k, *v as u128)))?;
        save_pairs(
            self.store,
            "artefact_changes",
            self.artefact_changes.iter().flat_map(|(a, cs)| cs.iter().map(move |c| (*a, *c))),
        )?;
        self.store.conn.execute_batch("COMMIT")?;
        Ok(self.summary)
    }

    fn flush(&mut self) -> rusqlite::Result<()> {
        if self.new_seen.is_empty() {
            return Ok(());
        }
        let blob: Vec<u8> = self.new_seen.iter().flat_map(|h| h.to_le_bytes()).collect();
        self.store.conn.execute("INSERT INTO kpi_seen (hashes) VALUES (?1)", [blob])?;
        self.new_seen.clear();
        Ok(())
    }

    fn name(&mut self, name: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.names.get(name) {
            return Ok(*id);
        }
        self.store.conn.execute("INSERT INTO kpi_names (name) VALUES (?1)", [name])?;
        let id = self.store.conn.last_insert_rowid();
        self.names.insert(name.to_owned(), id);
        Ok(id)
    }

    fn chain(&mut self, e: &Event<'_>) -> Option<(u128, Chain)> {
        let key = id_hash(e.chain.as_deref()?);
        let chain = self.chains.entry(key).or_insert(Chain { first: e.at, pipeline_started: None, deployed: false });
        chain.first = chain.first.min(e.at);
        Some((key, *chain))
    }

    fn apply(&mut self, e: &Event<'_>) -> rusqlite::Result<Result<(), Outcome>> {
        let chain = self.chain(e);
        Ok(match e.kind {
            Kind::PipelineQueued | Kind::PipelineStarted => {
                if let Some((key, _)) = chain
                    && let Some(c) = self.chains.get_mut(&key)
                {
                    c.pipeline_started = Some(c.pipeline_started.map_or(e.at, |t| t.min(e.at)));
                }
                Ok(())
            }
            Kind::ServiceDeployed => self.deployed(e, chain.map(|(_, c)| c))?,
            Kind::PipelineFinished => {
                let failed = matches!(e.outcome.as_deref(), Some("failure" | "error"));
                let key = chain.map(|(k, _)| k);
                let chain = key.and_then(|k| self.chains.remove(&k));
                if !failed {
                    Ok(())
                } else if chain.is_some_and(|c| c.deployed) {
                    Err(Outcome::Skipped("failed pipeline after its deployment"))
                } else {
                    self.failed(e, chain)?
                }
            }
            Kind::ServiceRolledBack => self.rolled_back(e, chain.map(|(_, c)| c))?,
            Kind::ChangeMerged => {
                let committed = match e.custom.committed_at.as_deref() {
                    Some(t) => match cdevents::time(t) {
                        Ok(t) => t,
                        Err(why) => return Ok(Err(Outcome::Rejected(format!("customData.committedAt: {why}")))),
                    },
                    None => e.at,
                };
                self.changes.insert(id_hash(&e.subject), committed);
                Ok(())
            }
            Kind::ArtifactPackaged => match &e.change {
                Some(change) => {
                    self.artefact_changes.entry(id_hash(&e.subject)).or_default().push(id_hash(change));
                    Ok(())
                }
                None => Err(Outcome::Skipped("artefact without a change")),
            },
            Kind::IncidentDetected => self.incident(e)?,
            Kind::IncidentResolved => {
                let n = self.store.conn.execute(
                    "UPDATE kpi_incidents SET resolved = ?1 WHERE key = ?2 AND resolved IS NULL",
                    params![e.at, e.subject.as_ref()],
                )?;
                if n == 0 {
                    Err(Outcome::Skipped("resolution of an incident not detected or already resolved"))
                } else {
                    Ok(())
                }
            }
            Kind::Other => Err(Outcome::Skipped("event type not used by the KPIs")),
        })
    }

    fn deployed(&mut self, e: &Event<'_>, chain: Option<Chain>) -> rusqlite::Result<Result<(), Outcome>> {
        let Some(env) = e.environment.as_deref() else {
            return Ok(Err(Outcome::Rejected("service.deployed without subject.content.environment.id".into())));
        };
        let service = self.name(&e.subject)?;
        let environment = self.name(env)?;
        let production = env == self.production;
        let mut lead_times = Vec::new();
        if production
            && let Some(artefact) = e.artefact.as_deref()
            && let Some(changes) = self.artefact_changes.remove(&id_hash(artefact))
        {
            for change in changes {
                // The first production deployment of a change ships it; later artefacts that
                // contain it again find it gone.
                if let Some(committed) = self.changes.remove(&change) {
                    lead_times.push(e.at - committed);
                }
            }
        }
        self.summary.changes_shipped += lead_times.len() as u64;
        if let Some(key) = e.chain.as_deref().map(id_hash)
            && let Some(c) = self.chains.get_mut(&key)
        {
            c.deployed = true;
        }
        self.store.conn.prepare_cached(
            "INSERT INTO kpi_deployments (service, environment, artefact, pipeline_started, finished, success, emergency, fixes_incident, lead_times)
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8)",
        )?
        .execute(params![
            service,
            environment,
            e.artefact.as_deref(),
            chain.and_then(|c| c.pipeline_started),
            e.at,
            e.custom.emergency.unwrap_or(false),
            e.custom.incident.as_deref(),
            (!lead_times.is_empty()).then(|| encode_i64s(&lead_times)),
        ])?;
        let id = self.store.conn.last_insert_rowid();
        self.latest.insert((service, environment), id);
        if production && let Some(artefact) = e.artefact.as_deref() {
            self.deployed_artefacts.insert(id_hash(artefact), id);
        }
        if production && self.enforced_from.is_some_and(|from| e.at >= from) {
            if self.summary.to_check.len() < MAX_CHECKED {
                self.summary.to_check.push((e.subject.to_string(), e.artefact.as_deref().map(str::to_owned), e.at));
            } else {
                self.summary.to_check_overflow += 1;
            }
        }
        self.summary.deployments += 1;
        Ok(Ok(()))
    }

    fn failed(&mut self, e: &Event<'_>, chain: Option<Chain>) -> rusqlite::Result<Result<(), Outcome>> {
        let (Some(service), Some(env)) = (e.custom.service.as_deref(), e.custom.environment.as_deref()) else {
            return Ok(Err(Outcome::Skipped("failed pipeline without customData.service and customData.environment")));
        };
        let service = self.name(service)?;
        let environment = self.name(env)?;
        self.store
            .conn
            .prepare_cached(
                "INSERT INTO kpi_deployments (service, environment, pipeline_started, finished, success, emergency)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            )?
            .execute(params![
                service,
                environment,
                chain.and_then(|c| c.pipeline_started),
                e.at,
                e.custom.emergency.unwrap_or(false)
            ])?;
        self.summary.failed_deployments += 1;
        Ok(Ok(()))
    }

    fn rolled_back(&mut self, e: &Event<'_>, chain: Option<Chain>) -> rusqlite::Result<Result<(), Outcome>> {
        let Some(env) = e.environment.as_deref() else {
            return Ok(Err(Outcome::Rejected("service.rolledback without subject.content.environment.id".into())));
        };
        let (Some(service), Some(environment)) = (self.names.get(e.subject.as_ref()), self.names.get(env)) else {
            return Ok(Err(Outcome::Skipped("rollback of a service never deployed there")));
        };
        let Some(deployment) = self.latest.get(&(*service, *environment)).copied() else {
            return Ok(Err(Outcome::Skipped("rollback of a service never deployed there")));
        };
        let decided = chain.map_or(e.at, |c| c.first.min(e.at));
        self.store
            .conn
            .prepare_cached(
                "UPDATE kpi_deployments SET rb_decided = ?1, rb_completed = ?2 WHERE id = ?3 AND rb_decided IS NULL",
            )?
            .execute(params![decided, e.at, deployment])?;
        self.summary.rollbacks += 1;
        Ok(Ok(()))
    }

    fn incident(&mut self, e: &Event<'_>) -> rusqlite::Result<Result<(), Outcome>> {
        let severity = match e.custom.severity.as_deref() {
            None => 2,
            Some("P1" | "p1") => 1,
            Some("P2" | "p2") => 2,
            Some("P3" | "p3") => 3,
            Some("P4" | "p4") => 4,
            Some(other) => {
                return Ok(Err(Outcome::Rejected(format!("customData.severity `{other}`: expected P1, P2, P3 or P4"))));
            }
        };
        let caused_by = match e.artefact.as_deref() {
            None => None,
            Some(artefact) => match self.deployed_artefacts.get(&id_hash(artefact)) {
                Some(id) => Some(*id),
                None => {
                    let production = self.names.get(&self.production).copied();
                    self.store
                        .conn
                        .prepare_cached(
                            "SELECT id FROM kpi_deployments WHERE artefact = ?1 AND environment = ?2 AND finished <= ?3 AND success = 1
                             ORDER BY finished DESC LIMIT 1",
                        )?
                        .query_row(params![artefact, production, e.at], |r| r.get(0))
                        .optional()?
                }
            },
        };
        let service = match e.service.as_deref().or(e.custom.service.as_deref()) {
            Some(s) => Some(self.name(s)?),
            None => None,
        };
        let environment = match e.environment.as_deref() {
            Some(env) => Some(self.name(env)?),
            None => None,
        };
        let n = self.store.conn.prepare_cached(
            "INSERT INTO kpi_incidents (key, service, environment, severity, detected, caused_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![e.subject.as_ref(), service, environment, severity, e.at, caused_by])?;
        if n == 0 {
            return Ok(Err(Outcome::Skipped("incident already detected")));
        }
        self.summary.incidents += 1;
        if caused_by.is_none() {
            self.summary.unattributed_incidents += 1;
        }
        Ok(Ok(()))
    }
}

enum Outcome {
    Skipped(&'static str),
    Rejected(String),
}

fn load_pairs(store: &Store, key: &str) -> rusqlite::Result<Vec<(u128, u128)>> {
    let blob: Option<Vec<u8>> =
        store.conn.query_row("SELECT value FROM kpi_state WHERE key = ?1", [key], |r| r.get(0)).optional()?;
    Ok(blob
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|c| {
            let (a, b) = c.split_at(16);
            (u128::from_le_bytes(a.try_into().unwrap_or([0; 16])), u128::from_le_bytes(b.try_into().unwrap_or([0; 16])))
        })
        .collect())
}

fn save_pairs(store: &Store, key: &str, pairs: impl Iterator<Item = (u128, u128)>) -> rusqlite::Result<()> {
    let blob: Vec<u8> = pairs.flat_map(|(a, b)| a.to_le_bytes().into_iter().chain(b.to_le_bytes())).collect();
    store.conn.execute("INSERT OR REPLACE INTO kpi_state (key, value) VALUES (?1, ?2)", params![key, blob])?;
    Ok(())
}
