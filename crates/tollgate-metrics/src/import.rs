//! `tollgate import --cdevents`: CDEvents lines to KPI facts, links resolved as they arrive
//! (docs/metrics.md has the mapping). Idempotent by `context.id`: an event already imported is
//! counted as a duplicate and changes nothing. A bad line is rejected with its number and the
//! rest is imported.
//!
//! Incidents and rollbacks do not depend on the order lines arrive in, within one file or across
//! imports (several sources emit out of order); links are made by event time:
//! - an incident naming an artefact is caused by the latest production deployment of that
//!   artefact at or before its detection (two in the same second are ordered by a hash of their
//!   `context.id`). It is attributed, when it arrives, to the best such deployment known; a
//!   production deployment arriving later takes over the incidents naming its artefact that it
//!   explains better: detected at or after it, and unattributed or caused by an earlier
//!   deployment. Every production deployment of an artefact is kept (`kpi_artefacts`);
//! - an incident's resolution is its earliest `incident.resolved`; one arriving before the
//!   detection is held until the detection arrives;
//! - a rollback rolls back the latest successful deployment of its service and environment
//!   finished at or before it (of two in the same second, the one imported later); one arriving
//!   before any such deployment is held (`kpi_rollbacks`), and a deployment arriving later takes
//!   over the rollbacks it is the better target of, the one they had getting a record that
//!   withdraws them (see [`crate::chunk`]). A deployment rolled back more than once is rolled
//!   back by the earliest.
//!
//! A stream in time order pays for this with two hash lookups per deployment: the latest
//! detection among the incidents naming each artefact and the latest rollback of each service
//! and environment are kept in memory, and a deployment after them has nothing to take over.
//! Lead times still follow arrival order: a change reaches production with the first production
//! deployment of its artefact imported after its merge and packaging.
//!
//! One import is one transaction: it lands whole or not at all, and `prepare` leaves it open
//! until the caller's log record of it has been appended (`Prepared::commit`): the facts, the
//! seen ids and the state below roll back together. Deployments collect in memory per chunk
//! (environment, two-week period, service) and are written when the stream moves to the next
//! period, so the store sees one write per chunk, not one per deployment.
//!
//! State kept in memory during one import: the seen ids (128-bit hashes, about 35 bytes each
//! with the table's slack), the pipeline chains in flight, merged changes not yet in production,
//! the changes of each artefact not yet deployed, the chunks of the current period, the latest
//! detection of the incidents naming each artefact and the resolutions of incidents not yet
//! detected. The seen ids, pending changes, artefact contents, held resolutions, the latest
//! deployment and the latest rollback of each service persist in the store between imports; a
//! pipeline chain split across two import files loses its start.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};
use smallvec::SmallVec;

use crate::cdevents::{self, Event, Kind};
use crate::chunk::{self, NewDeployment};
use crate::history::Time;
pub use crate::ids::id_hash;
use crate::ids::{FastMap, FastSet};
use crate::store::Store;
use tollgate_domain::policy::environment_key;

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
    /// This import's incidents left without a cause.
    pub unattributed_incidents: u64,
    /// Incidents of earlier imports that a deployment of this one caused.
    pub earlier_incidents_attributed: u64,
    pub changes_shipped: u64,
    /// Production deployments at or after the enforcement time, every one of them, for the
    /// approved-release check: (service, artefact, finished).
    pub to_check: Vec<(String, Option<String>, Time)>,
}

#[derive(Clone, Copy)]
struct Chain {
    first: Time,
    pipeline_started: Option<Time>,
    deployed: bool,
}

/// A production deployment of an artefact: what an incident naming the artefact is caused by.
#[derive(Clone, Copy)]
struct Deployed {
    id: u64,
    finished: Time,
    /// Orders deployments of one artefact finishing in the same second whatever their arrival:
    /// the low half of the event's id hash.
    tie: i64,
    service: i64,
}

impl Deployed {
    /// Of two candidates for an incident's cause, the higher is the one.
    fn rank(&self) -> (Time, i64) {
        (self.finished, self.tie)
    }
}

/// A rollback that a deployment arriving later takes over.
struct Moved {
    /// In `kpi_rollbacks`.
    row: i64,
    completed: Time,
    decided: Time,
    /// What it rolled back until then: deployment id and period.
    before: Option<(u64, i64)>,
}

/// A successful deployment as a rollback names it: a rollback rolls back the latest one of its
/// service and environment finished at or before it (of two in the same second, the one
/// imported later).
#[derive(Clone, Copy)]
struct Target {
    id: u64,
    period: i64,
    finished: Time,
}

impl Target {
    fn rank(&self) -> (Time, u64) {
        (self.finished, self.id)
    }
}

pub struct Importer<'s> {
    store: &'s mut Store,
    production: String,
    names: FastMap<String, i64>,
    seen: FastSet<u128>,
    new_seen: Vec<u128>,
    chains: FastMap<u128, Chain>,
    /// Merged, not yet in production: commit time.
    changes: FastMap<u128, Time>,
    artefact_changes: FastMap<u128, Vec<u128>>,
    /// The latest successful deployment of each (service, environment), by finish.
    latest: FastMap<(i64, i64), Target>,
    /// The latest completion among the rollbacks of each (service, environment), of every
    /// import: a deployment finishing after it is rolled back by none of them.
    rolled_until: FastMap<(i64, i64), Time>,
    /// Records not yet written, by chunk: (environment, period, service).
    chunks: FastMap<(i64, i64, i64), Vec<u8>>,
    chunk_bytes: usize,
    /// Production deployments not yet written to `kpi_artefacts`, by artefact.
    deployed_artefacts: FastMap<u128, SmallVec<[Deployed; 1]>>,
    /// The latest finish among the deployments in `kpi_artefacts`.
    artefacts_until: Time,
    /// The latest detection among the incidents naming each artefact, of every import: a
    /// deployment finishing after it explains none of them.
    incident_artefacts: FastMap<u128, Time>,
    /// Resolutions of incidents not yet detected, by the hash of the incident's key.
    resolutions: FastMap<u128, Time>,
    /// Incidents with a larger row id are this import's.
    first_incident: i64,
    /// The latest period an event fell in; moving past it writes the chunks.
    period: i64,
    next_id: u64,
    pub summary: Summary,
    enforced_from: Option<Time>,
}

const MAX_REJECTIONS_LISTED: usize = 100;
/// Chunks are written early when the stream is out of order and this much is buffered.
const MAX_BUFFERED: usize = 256 << 20;
/// Seen ids are written in blobs of at most this many.
const SEEN_PER_BLOB: usize = 1 << 20;

impl<'s> Importer<'s> {
    /// `production` is the profile's production environment id.
    /// Production deployments from `enforced_from` on are listed for the approved-release check.
    /// `expected_lines` sizes the table of seen ids (an estimate is fine).
    pub fn new(
        store: &'s mut Store,
        production: &str,
        enforced_from: Option<Time>,
        expected_lines: usize,
    ) -> rusqlite::Result<Importer<'s>> {
        // A large page cache for the import's writes (queries keep SQLite's small default).
        store.conn.execute_batch("PRAGMA cache_size = -262144; BEGIN IMMEDIATE")?;
        let mut names = FastMap::default();
        {
            let mut stmt = store.conn.prepare("SELECT id, name FROM kpi_names")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                names.insert(r.get::<_, String>(1)?, r.get::<_, i64>(0)?);
            }
        }
        let seen_before: i64 =
            store.conn.query_row("SELECT coalesce(sum(length(hashes)), 0) / 16 FROM kpi_seen", [], |r| r.get(0))?;
        let mut seen = FastSet::with_capacity_and_hasher(seen_before as usize + expected_lines, Default::default());
        {
            let mut stmt = store.conn.prepare("SELECT hashes FROM kpi_seen ORDER BY chunk")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let blob = r.get_ref(0)?.as_blob()?;
                seen.extend(blob.chunks_exact(16).map(|c| u128::from_le_bytes(c.try_into().unwrap_or([0; 16]))));
            }
        }
        let state = |key: &str| -> rusqlite::Result<Vec<u8>> {
            Ok(store
                .conn
                .query_row("SELECT value FROM kpi_state WHERE key = ?1", [key], |r| r.get(0))
                .optional()?
                .unwrap_or_default())
        };
        let changes = pairs(&state("changes")?).map(|(k, v)| (k, v as Time)).collect();
        let mut artefact_changes: FastMap<u128, Vec<u128>> = FastMap::default();
        for (artefact, change) in pairs(&state("artefact_changes")?) {
            artefact_changes.entry(artefact).or_default().push(change);
        }
        let latest_at = state("latest_at")?;
        let latest = if latest_at.is_empty() {
            // A store of format 2, which did not keep the finish: its latest deployments come
            // before any imported from now on.
            ints(&state("latest")?, 33)
                .map(|i| ((i[0], i[1]), Target { id: i[2] as u64, period: i[3], finished: Time::MIN }))
                .collect()
        } else {
            ints(&latest_at, 40)
                .map(|i| ((i[0], i[1]), Target { id: i[2] as u64, period: i[3], finished: i[4] }))
                .collect()
        };
        let rolled_until = ints(&state("rolled_until")?, 24).map(|i| ((i[0], i[1]), i[2])).collect();
        let next_id = state("next_id")?.try_into().map(u64::from_le_bytes).unwrap_or(1);
        let artefacts_until = match state("artefacts_until")?.try_into() {
            Ok(bytes) => i64::from_le_bytes(bytes),
            // A store written before the state kept it.
            Err(_) => {
                store
                    .conn
                    .query_row("SELECT coalesce(max(finished), ?1) FROM kpi_artefacts", [i64::MIN], |r| r.get(0))?
            }
        };
        let resolutions = pairs(&state("resolutions")?).map(|(k, v)| (k, v as Time)).collect();
        let mut incident_artefacts = FastMap::default();
        {
            let mut stmt = store.conn.prepare(
                "SELECT artefact, artefact_low, max(detected) FROM kpi_incidents WHERE artefact IS NOT NULL
                 GROUP BY artefact, artefact_low",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let hash = join(r.get(0)?, r.get(1)?);
                incident_artefacts.insert(hash, r.get::<_, Time>(2)?);
            }
        }
        let first_incident =
            store.conn.query_row("SELECT coalesce(max(id), 0) FROM kpi_incidents", [], |r| r.get(0))?;
        Ok(Importer {
            store,
            production: production.to_owned(),
            names,
            seen,
            new_seen: Vec::new(),
            chains: FastMap::default(),
            changes,
            artefact_changes,
            latest,
            rolled_until,
            chunks: FastMap::default(),
            chunk_bytes: 0,
            deployed_artefacts: FastMap::default(),
            artefacts_until,
            incident_artefacts,
            resolutions,
            first_incident,
            period: i64::MIN,
            next_id,
            summary: Summary::default(),
            enforced_from,
        })
    }

    /// One line of input (without its newline). Blank lines are ignored.
    pub fn line(&mut self, line: &[u8]) -> rusqlite::Result<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            self.summary.lines += 1;
            return Ok(());
        }
        self.take(cdevents::parse(line))
    }

    /// The lines of a batch parsed ahead (on another thread), in order.
    pub fn parsed(&mut self, batch: &cdevents::Parsed) -> rusqlite::Result<()> {
        for line in batch.lines() {
            match line {
                Ok(None) => self.summary.lines += 1,
                Ok(Some(e)) => self.take(Ok(e))?,
                Err(why) => self.take(Err(why.to_owned()))?,
            }
        }
        Ok(())
    }

    fn take(&mut self, parsed: Result<Event<'_>, String>) -> rusqlite::Result<()> {
        self.summary.lines += 1;
        let event = match parsed {
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
        let period = chunk::period(event.at);
        if period > self.period || self.chunk_bytes > MAX_BUFFERED {
            self.write()?;
            self.period = self.period.max(period);
        }
        match self.apply(&event, h)? {
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
        Ok(())
    }

    fn reject(&mut self, why: String) {
        self.summary.rejected += 1;
        if self.summary.rejections.len() < MAX_REJECTIONS_LISTED {
            self.summary.rejections.push((self.summary.lines, why));
        }
    }

    /// Commits everything, with the state the next import continues from.
    pub fn finish(self) -> rusqlite::Result<Summary> {
        self.prepare()?.commit()
    }

    /// Writes everything, with the state the next import continues from, without committing:
    /// the caller commits once what must land with it (the log's record of the import) has,
    /// and dropping the result rolls the whole import back.
    pub fn prepare(mut self) -> rusqlite::Result<Prepared<'s>> {
        self.write()?;
        let changes: Vec<u8> = self.changes.iter().flat_map(|(k, v)| pair(*k, *v as u128)).collect();
        let artefact_changes: Vec<u8> =
            self.artefact_changes.iter().flat_map(|(a, cs)| cs.iter().flat_map(move |c| pair(*a, *c))).collect();
        let latest: Vec<u8> = self
            .latest
            .iter()
            .flat_map(|((service, environment), l)| [*service, *environment, l.id as i64, l.period, l.finished])
            .flat_map(i64::to_le_bytes)
            .collect();
        let rolled_until: Vec<u8> = self
            .rolled_until
            .iter()
            .flat_map(|((service, environment), at)| [*service, *environment, *at])
            .flat_map(i64::to_le_bytes)
            .collect();
        self.store.conn.execute("DELETE FROM kpi_state WHERE key = 'latest'", [])?;
        let resolutions: Vec<u8> = self.resolutions.iter().flat_map(|(k, v)| pair(*k, *v as u128)).collect();
        for (key, value) in [
            ("changes", changes),
            ("artefact_changes", artefact_changes),
            ("latest_at", latest),
            ("rolled_until", rolled_until),
            ("next_id", self.next_id.to_le_bytes().to_vec()),
            ("artefacts_until", self.artefacts_until.to_le_bytes().to_vec()),
            ("resolutions", resolutions),
        ] {
            self.store
                .conn
                .execute("INSERT OR REPLACE INTO kpi_state (key, value) VALUES (?1, ?2)", params![key, value])?;
        }
        Ok(Prepared { store: Some(self.store), summary: self.summary })
    }

    /// Writes the buffered chunks (appending to any already written), the artefacts deployed
    /// since the last write, and the ids seen.
    fn write(&mut self) -> rusqlite::Result<()> {
        let conn = &self.store.conn;
        let mut chunks: Vec<_> = self.chunks.drain().collect();
        chunks.sort_unstable_by_key(|(key, _)| *key);
        // SQLite's `||` makes text of blobs: a chunk written before is extended here.
        let mut written = conn.prepare_cached(
            "SELECT records FROM kpi_deployments WHERE environment = ?1 AND period = ?2 AND service = ?3",
        )?;
        let mut insert = conn.prepare_cached(
            "INSERT OR REPLACE INTO kpi_deployments (environment, period, service, records) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for ((environment, period, service), mut records) in chunks {
            let key = params![environment, period, service];
            if let Some(mut before) = written.query_row(key, |r| r.get::<_, Vec<u8>>(0)).optional()? {
                before.append(&mut records);
                records = before;
            }
            insert.execute(params![environment, period, service, records])?;
        }
        self.chunk_bytes = 0;
        let mut artefacts: Vec<(u128, Deployed)> =
            self.deployed_artefacts.drain().flat_map(|(hash, ds)| ds.into_iter().map(move |d| (hash, d))).collect();
        // In the table's key order.
        artefacts.sort_unstable_by_key(|(hash, d)| (split(*hash), d.rank()));
        let mut insert = conn.prepare_cached(
            "INSERT INTO kpi_artefacts (hash, hash_low, finished, tie, deployment, service)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (hash, d) in artefacts {
            let (high, low) = split(hash);
            insert.execute(params![high, low, d.finished, d.tie, d.id as i64, d.service])?;
            self.artefacts_until = self.artefacts_until.max(d.finished);
        }
        let mut insert = conn.prepare_cached("INSERT INTO kpi_seen (hashes) VALUES (?1)")?;
        for hashes in self.new_seen.chunks(SEEN_PER_BLOB) {
            let blob: Vec<u8> = hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
            insert.execute([blob])?;
        }
        self.new_seen.clear();
        Ok(())
    }

    /// Appends a record to its chunk's buffer.
    fn record(&mut self, environment: i64, period: i64, service: i64, write: impl FnOnce(&mut Vec<u8>)) {
        let buf = self.chunks.entry((environment, period, service)).or_default();
        let before = buf.len();
        write(buf);
        self.chunk_bytes += buf.len() - before;
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

    /// `h` is the hash of the event's id.
    fn apply(&mut self, e: &Event<'_>, h: u128) -> rusqlite::Result<Result<(), Outcome>> {
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
            Kind::ServiceDeployed => self.deployed(e, h, chain.map(|(_, c)| c))?,
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
            Kind::IncidentResolved => self.resolved(e)?,
            Kind::Other => Err(Outcome::Skipped("event type not used by the KPIs")),
        })
    }

    fn deployed(&mut self, e: &Event<'_>, h: u128, chain: Option<Chain>) -> rusqlite::Result<Result<(), Outcome>> {
        let Some(env) = e.environment.as_deref() else {
            return Ok(Err(Outcome::Rejected("service.deployed without subject.content.environment.id".into())));
        };
        let service = self.name(&e.subject)?;
        // `Production` and ` production ` are the production environment: sources differ in
        // case and spacing, and a deployment must not escape the checks by its spelling.
        let env = environment_key(env);
        let environment = self.name(&env)?;
        let production = env == environment_key(&self.production);
        let artefact = e.artefact.as_deref().map(id_hash);
        let mut lead_times = Vec::new();
        if production
            && let Some(hash) = artefact
            && let Some(changes) = self.artefact_changes.remove(&hash)
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
        let id = self.next_id;
        self.next_id += 1;
        let period = chunk::period(e.at);
        let deployment = NewDeployment {
            id,
            finished: e.at,
            success: true,
            emergency: e.custom.emergency.unwrap_or(false),
            pipeline_started: chain.and_then(|c| c.pipeline_started),
            artefact: e.artefact.as_deref(),
            fixes_incident: e.custom.incident.as_deref(),
            lead_times: &lead_times,
        };
        self.record(environment, period, service, |buf| chunk::push_deployment(buf, &deployment));
        let target = Target { id, period, finished: e.at };
        let latest = self.latest.entry((service, environment)).or_insert(target);
        if target.rank() > latest.rank() {
            *latest = target;
        }
        if self.rolled_until.get(&(service, environment)).is_some_and(|&at| at >= e.at) {
            self.rollbacks_taken_over(service, environment, target)?;
        }
        if production && let Some(hash) = artefact {
            let d = Deployed { id, finished: e.at, tie: h as i64, service };
            self.deployed_artefacts.entry(hash).or_default().push(d);
            if self.incident_artefacts.get(&hash).is_some_and(|&detected| detected >= e.at) {
                self.takes_over(hash, d)?;
            }
        }
        if production && self.enforced_from.is_some_and(|from| e.at >= from) {
            self.summary.to_check.push((e.subject.to_string(), e.artefact.as_deref().map(str::to_owned), e.at));
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
        let id = self.next_id;
        self.next_id += 1;
        let deployment = NewDeployment {
            id,
            finished: e.at,
            success: false,
            emergency: e.custom.emergency.unwrap_or(false),
            pipeline_started: chain.and_then(|c| c.pipeline_started),
            artefact: None,
            fixes_incident: None,
            lead_times: &[],
        };
        self.record(environment, chunk::period(e.at), service, |buf| chunk::push_deployment(buf, &deployment));
        self.summary.failed_deployments += 1;
        Ok(Ok(()))
    }

    fn rolled_back(&mut self, e: &Event<'_>, chain: Option<Chain>) -> rusqlite::Result<Result<(), Outcome>> {
        let Some(env) = e.environment.as_deref() else {
            return Ok(Err(Outcome::Rejected("service.rolledback without subject.content.environment.id".into())));
        };
        let service = self.name(&e.subject)?;
        let environment = self.name(&environment_key(env))?;
        let decided = chain.map_or(e.at, |c| c.first.min(e.at));
        let target = match self.latest.get(&(service, environment)) {
            Some(l) if l.finished <= e.at => Some(*l),
            // Never deployed there (yet): held until a deployment arrives.
            None => None,
            Some(_) => self.target_before(service, environment, e.at)?,
        };
        let (id, finished, period) = match target {
            Some(t) => (Some(t.id as i64), Some(t.finished), Some(t.period)),
            None => (None, None, None),
        };
        self.store
            .conn
            .prepare_cached(
                "INSERT INTO kpi_rollbacks (service, environment, completed, decided, deployment, target_finished,
                     target_period) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![service, environment, e.at, decided, id, finished, period])?;
        // Every rollback of a deployment is recorded; a query takes the earliest.
        if let Some(t) = target {
            self.record(environment, t.period, service, |buf| chunk::push_rollback(buf, t.id, decided, e.at));
        }
        let until = self.rolled_until.entry((service, environment)).or_insert(e.at);
        *until = (*until).max(e.at);
        self.summary.rollbacks += 1;
        Ok(Ok(()))
    }

    /// The latest successful deployment of the service to the environment finished at or before
    /// `at`, from the chunks of the periods up to `at`'s, latest first (written or not).
    fn target_before(&self, service: i64, environment: i64, at: Time) -> rusqlite::Result<Option<Target>> {
        let last = chunk::period(at);
        let conn = &self.store.conn;
        let mut periods: Vec<i64> = conn
            .prepare_cached(
                "SELECT period FROM kpi_deployments WHERE service = ?1 AND environment = ?2 AND period <= ?3",
            )?
            .query_map(params![service, environment, last], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        periods.extend(self.chunks.keys().filter(|k| (k.0, k.2) == (environment, service) && k.1 <= last).map(|k| k.1));
        periods.sort_unstable();
        periods.dedup();
        let mut written = conn.prepare_cached(
            "SELECT records FROM kpi_deployments WHERE environment = ?1 AND period = ?2 AND service = ?3",
        )?;
        for period in periods.into_iter().rev() {
            let key = (environment, period, service);
            let blob: Option<Vec<u8>> = written.query_row(params![key.0, key.1, key.2], |r| r.get(0)).optional()?;
            let mut best: Option<Target> = None;
            for blob in [blob.as_deref(), self.chunks.get(&key).map(Vec::as_slice)].into_iter().flatten() {
                for record in chunk::records(blob) {
                    if let chunk::Record::Deployment(d) = record.map_err(crate::store::chunk_error)?
                        && d.success
                        && d.finished <= at
                    {
                        let t = Target { id: d.id, period, finished: d.finished };
                        if best.is_none_or(|b| t.rank() > b.rank()) {
                            best = Some(t);
                        }
                    }
                }
            }
            if best.is_some() {
                return Ok(best);
            }
        }
        Ok(None)
    }

    /// A successful deployment arriving after rollbacks of its service and environment that
    /// completed at or after it: it is what they roll back where it is later than what they had.
    fn rollbacks_taken_over(&mut self, service: i64, environment: i64, d: Target) -> rusqlite::Result<()> {
        let id = d.id as i64;
        let moved: Vec<Moved> = {
            let conn = &self.store.conn;
            let moved: Vec<_> = conn
                .prepare_cached(
                    "SELECT id, completed, decided, deployment, target_period FROM kpi_rollbacks
                     WHERE service = ?1 AND environment = ?2 AND completed >= ?3
                         AND (deployment IS NULL OR target_finished < ?3 OR (target_finished = ?3 AND deployment < ?4))",
                )?
                .query_map(params![service, environment, d.finished, id], |r| {
                    let before = r.get::<_, Option<i64>>(3)?.zip(r.get::<_, Option<i64>>(4)?);
                    Ok(Moved {
                        row: r.get(0)?,
                        completed: r.get(1)?,
                        decided: r.get(2)?,
                        before: before.map(|(b, p)| (b as u64, p)),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut update = conn.prepare_cached(
                "UPDATE kpi_rollbacks SET deployment = ?1, target_finished = ?2, target_period = ?3 WHERE id = ?4",
            )?;
            for m in &moved {
                update.execute(params![id, d.finished, d.period, m.row])?;
            }
            moved
        };
        for Moved { completed, decided, before, .. } in moved {
            if let Some((before, period)) = before {
                self.record(environment, period, service, |buf| chunk::push_withdrawn(buf, before, decided, completed));
            }
            self.record(environment, d.period, service, |buf| chunk::push_rollback(buf, d.id, decided, completed));
        }
        Ok(())
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
        let artefact = e.artefact.as_deref().map(id_hash);
        let cause = match artefact {
            Some(hash) => self.cause(hash, e.at)?,
            None => None,
        };
        let service = match e.service.as_deref().or(e.custom.service.as_deref()) {
            Some(s) => Some(self.name(s)?),
            None => None,
        };
        let environment = match e.environment.as_deref() {
            Some(env) => Some(self.name(env)?),
            None => None,
        };
        // A resolution that arrived before the detection.
        let key = (!self.resolutions.is_empty()).then(|| id_hash(&e.subject));
        let resolved = key.and_then(|k| self.resolutions.get(&k).copied());
        let (high, low) = artefact.map(split).unzip();
        let n = self
            .store
            .conn
            .prepare_cached(
                "INSERT INTO kpi_incidents (key, service, environment, severity, detected, resolved, caused_by,
                     caused_service, artefact, artefact_low, cause_finished, cause_tie)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT (key) DO NOTHING",
            )?
            .execute(params![
                e.subject.as_ref(),
                service,
                environment,
                severity,
                e.at,
                resolved,
                cause.map(|c| c.id as i64),
                cause.map(|c| c.service),
                high,
                low,
                cause.map(|c| c.finished),
                cause.map(|c| c.tie),
            ])?;
        if n == 0 {
            return Ok(Err(Outcome::Skipped("incident already detected")));
        }
        if let Some(k) = key {
            self.resolutions.remove(&k);
        }
        if let Some(hash) = artefact {
            let latest = self.incident_artefacts.entry(hash).or_insert(e.at);
            *latest = (*latest).max(e.at);
        }
        self.summary.incidents += 1;
        if cause.is_none() {
            self.summary.unattributed_incidents += 1;
        }
        Ok(Ok(()))
    }

    /// The latest production deployment of the artefact at or before `detected`, of those
    /// imported so far: in memory (not yet written) or in `kpi_artefacts`.
    fn cause(&self, hash: u128, detected: Time) -> rusqlite::Result<Option<Deployed>> {
        let unwritten = self
            .deployed_artefacts
            .get(&hash)
            .and_then(|ds| ds.iter().filter(|d| d.finished <= detected).max_by_key(|d| d.rank()).copied());
        // Every written deployment finished by `artefacts_until`: in time order, the store is
        // not asked.
        if unwritten.is_some_and(|d| d.finished > self.artefacts_until) {
            return Ok(unwritten);
        }
        let (high, low) = split(hash);
        let written = self
            .store
            .conn
            .prepare_cached(
                "SELECT deployment, finished, tie, service FROM kpi_artefacts
                 WHERE hash = ?1 AND hash_low = ?2 AND finished <= ?3 ORDER BY finished DESC, tie DESC LIMIT 1",
            )?
            .query_row(params![high, low, detected], |r| {
                Ok(Deployed { id: r.get::<_, i64>(0)? as u64, finished: r.get(1)?, tie: r.get(2)?, service: r.get(3)? })
            })
            .optional()?;
        Ok(unwritten.into_iter().chain(written).max_by_key(Deployed::rank))
    }

    /// A production deployment of `hash` arriving after incidents naming it that were detected
    /// at or after it: it becomes their cause where it is later than the one they had.
    fn takes_over(&mut self, hash: u128, d: Deployed) -> rusqlite::Result<()> {
        let (high, low) = split(hash);
        let conn = &self.store.conn;
        let set = "UPDATE kpi_incidents SET caused_by = ?1, caused_service = ?2, cause_finished = ?3, cause_tie = ?4
                   WHERE artefact = ?5 AND artefact_low = ?6 AND detected >= ?3";
        let id = d.id as i64;
        let values = params![id, d.service, d.finished, d.tie, high, low];
        let attributed: Vec<i64> = conn
            .prepare_cached(&format!("{set} AND caused_by IS NULL RETURNING id"))?
            .query_map(values, |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        conn.prepare_cached(&format!("{set} AND (cause_finished < ?3 OR (cause_finished = ?3 AND cause_tie < ?4))"))?
            .execute(values)?;
        for id in attributed {
            if id > self.first_incident {
                self.summary.unattributed_incidents -= 1;
            } else {
                self.summary.earlier_incidents_attributed += 1;
            }
        }
        Ok(())
    }

    /// An incident's resolution is its earliest; one arriving before the detection is held.
    fn resolved(&mut self, e: &Event<'_>) -> rusqlite::Result<Result<(), Outcome>> {
        let conn = &self.store.conn;
        let n = conn
            .prepare_cached(
                "UPDATE kpi_incidents SET resolved = ?1 WHERE key = ?2 AND (resolved IS NULL OR resolved > ?1)",
            )?
            .execute(params![e.at, e.subject.as_ref()])?;
        if n > 0 {
            return Ok(Ok(()));
        }
        let detected = conn
            .prepare_cached("SELECT 1 FROM kpi_incidents WHERE key = ?1")?
            .query_row([e.subject.as_ref()], |_| Ok(()))
            .optional()?;
        if detected.is_some() {
            return Ok(Err(Outcome::Skipped("resolution of an incident resolved earlier")));
        }
        let held = self.resolutions.entry(id_hash(&e.subject)).or_insert(e.at);
        *held = (*held).min(e.at);
        Ok(Ok(()))
    }
}

/// An import written to the KPI store and not yet committed. Dropped uncommitted, it rolls
/// back: the store is as it was before the import.
pub struct Prepared<'s> {
    store: Option<&'s mut Store>,
    pub summary: Summary,
}

impl Prepared<'_> {
    pub fn commit(mut self) -> rusqlite::Result<Summary> {
        if let Some(store) = self.store.take() {
            store.conn.execute_batch("COMMIT")?;
        }
        Ok(std::mem::take(&mut self.summary))
    }
}

impl Drop for Prepared<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            // Closing the connection would roll back too; this says so where it happens.
            let _ = store.conn.execute_batch("ROLLBACK");
        }
    }
}

enum Outcome {
    Skipped(&'static str),
    Rejected(String),
}

/// Pairs of 128-bit hashes, as `kpi_state` holds them.
fn pairs(blob: &[u8]) -> impl Iterator<Item = (u128, u128)> + '_ {
    blob.chunks_exact(32).map(|c| {
        let (a, b) = c.split_at(16);
        (u128::from_le_bytes(a.try_into().unwrap_or([0; 16])), u128::from_le_bytes(b.try_into().unwrap_or([0; 16])))
    })
}

fn pair(a: u128, b: u128) -> impl Iterator<Item = u8> {
    a.to_le_bytes().into_iter().chain(b.to_le_bytes())
}

/// Records of `size` bytes from a `kpi_state` blob, each read as little-endian i64s.
fn ints(blob: &[u8], size: usize) -> impl Iterator<Item = Vec<i64>> + '_ {
    blob.chunks_exact(size)
        .map(|c| c.chunks_exact(8).map(|i| i64::from_le_bytes(i.try_into().unwrap_or([0; 8]))).collect())
}

/// A 128-bit hash as the store's two integer columns: high half, low half.
fn split(hash: u128) -> (i64, i64) {
    ((hash >> 64) as i64, hash as i64)
}

fn join(high: i64, low: i64) -> u128 {
    (u128::from(high as u64) << 64) | u128::from(low as u64)
}
