//! The KPI facts on disk: an SQLite database beside the ledger (`tollgate.db` → `tollgate.kpi.db`).
//! Facts carry their links already resolved at import (a deployment carries the lead times of
//! the changes it first shipped and its rollback; an incident names the deployment that caused
//! it), so a KPI query never rescans raw events. Deployments are kept in chunks, one blob per
//! (environment, two-week period, service) (see [`crate::chunk`]): a query reads a few blobs per
//! service, not a row per deployment. The tamper-evident record of an import is the ledger fact
//! holding the digest of the lines read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use smallvec::SmallVec;

use crate::chunk::{self, Record};
use crate::history::{Deployment, History, Incident, Rollback, Severity, Time};
use crate::ids::{FastMap, FastSet};

pub struct Store {
    pub(crate) conn: Connection,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error(
        "{path}: a KPI store in an earlier layout (format {found}, this Tollgate reads {FORMAT}); move it aside and import the events again"
    )]
    Format { path: String, found: i64 },
}

/// `payments.db` → `payments.kpi.db`.
pub fn path_beside(ledger: &Path) -> PathBuf {
    ledger.with_extension("kpi.db")
}

/// `PRAGMA user_version` of the current layout. Format 1 kept a row per deployment; format 2
/// only the latest production deployment of each artefact, and no artefact with an incident.
const FORMAT: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kpi_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS kpi_deployments (
    environment INTEGER NOT NULL,
    period INTEGER NOT NULL,
    service INTEGER NOT NULL,
    records BLOB NOT NULL,
    PRIMARY KEY (environment, period, service)
);
CREATE INDEX IF NOT EXISTS kpi_deployments_service ON kpi_deployments (service, environment, period);
CREATE TABLE IF NOT EXISTS kpi_artefacts (
    hash INTEGER NOT NULL,
    hash_low INTEGER NOT NULL,
    finished INTEGER NOT NULL,
    tie INTEGER NOT NULL,
    deployment INTEGER NOT NULL,
    service INTEGER NOT NULL,
    PRIMARY KEY (hash, hash_low, finished, tie, deployment)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kpi_incidents (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    service INTEGER,
    environment INTEGER,
    severity INTEGER NOT NULL,
    detected INTEGER NOT NULL,
    resolved INTEGER,
    caused_by INTEGER,
    caused_service INTEGER,
    artefact INTEGER,
    artefact_low INTEGER,
    cause_finished INTEGER,
    cause_tie INTEGER
);
CREATE INDEX IF NOT EXISTS kpi_incidents_detected ON kpi_incidents (detected);
CREATE INDEX IF NOT EXISTS kpi_incidents_service ON kpi_incidents (service, detected);
CREATE INDEX IF NOT EXISTS kpi_incidents_cause ON kpi_incidents (caused_by) WHERE caused_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_incidents_caused_service ON kpi_incidents (caused_service, caused_by)
    WHERE caused_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS kpi_incidents_artefact ON kpi_incidents (artefact, artefact_low, detected)
    WHERE artefact IS NOT NULL;
CREATE TABLE IF NOT EXISTS kpi_rollbacks (
    id INTEGER PRIMARY KEY,
    service INTEGER NOT NULL,
    environment INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    decided INTEGER NOT NULL,
    deployment INTEGER,
    target_finished INTEGER,
    target_period INTEGER
);
CREATE INDEX IF NOT EXISTS kpi_rollbacks_service ON kpi_rollbacks (service, environment, completed);
CREATE TABLE IF NOT EXISTS kpi_seen (chunk INTEGER PRIMARY KEY, hashes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kpi_state (key TEXT PRIMARY KEY, value BLOB NOT NULL);
";

/// Format 2 to 3: its incidents and rollbacks keep the deployments they name (no deployment
/// imported later takes them over), its artefacts their latest production deployment.
const FROM_2: &str = "
ALTER TABLE kpi_incidents ADD COLUMN artefact INTEGER;
ALTER TABLE kpi_incidents ADD COLUMN artefact_low INTEGER;
ALTER TABLE kpi_incidents ADD COLUMN cause_finished INTEGER;
ALTER TABLE kpi_incidents ADD COLUMN cause_tie INTEGER;
ALTER TABLE kpi_artefacts RENAME TO kpi_artefacts_2;
";

/// A chunk that does not decode, as the error of the query that read it.
pub(crate) fn chunk_error(e: chunk::Damaged) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Blob, Box::new(e))
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |source| StoreError::Sqlite { path: path.display().to_string(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;")
            .map_err(err)?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0)).map_err(err)?;
        if found == 2 {
            Self::from_2(&conn).map_err(err)?;
        } else if found != FORMAT && (found != 0 || tables > 0) {
            return Err(StoreError::Format { path: path.display().to_string(), found });
        }
        if found == 0 {
            Self::create(&conn).map_err(err)?;
        }
        Ok(Store { conn })
    }

    pub fn in_memory() -> Store {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        Self::create(&conn).expect("schema");
        Store { conn }
    }

    fn create(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", FORMAT)
    }

    /// One transaction: a store is of one format or the other.
    fn from_2(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let migrated = conn.execute_batch(FROM_2).and_then(|()| Self::create(conn)).and_then(|()| {
            conn.execute_batch(
                "INSERT INTO kpi_artefacts (hash, hash_low, finished, tie, deployment, service)
                         SELECT hash, hash_low, finished, 0, deployment, service FROM kpi_artefacts_2;
                     DROP TABLE kpi_artefacts_2;",
            )
        });
        conn.execute_batch(if migrated.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
        migrated
    }

    pub fn name_id(&self, name: &str) -> rusqlite::Result<Option<i64>> {
        self.conn.query_row("SELECT id FROM kpi_names WHERE name = ?1", [name], |r| r.get(0)).optional()
    }

    /// The facts a KPI query over `[from, to)` needs: deployments of the environment finishing
    /// from `lookback` seconds before `from` (rolling windows look back) to `to`, and the
    /// incidents detected in the window or caused by those deployments.
    pub fn history(
        &self,
        service: Option<&str>,
        environment: &str,
        from: Time,
        to: Time,
        lookback: i64,
    ) -> rusqlite::Result<History> {
        let mut history = History::default();
        let Some(env) = self.name_id(environment)? else { return Ok(history) };
        let service_id = match service {
            Some(s) => match self.name_id(s)? {
                Some(id) => Some(id),
                None => return Ok(history),
            },
            None => None,
        };
        let names = self.names()?;
        let name = |id: i64| names.get(id as usize).cloned().flatten().unwrap_or_default();
        let start = from - lookback;
        history.deployments = self.deployments(service_id, env, environment, start, to, &name)?;
        let first = history.deployments.iter().map(|d| d.id).min().map_or(i64::MAX, |id| id as i64);
        // Two index ranges: incidents detected in the window, and incidents caused by the
        // deployments loaded (whenever detected); for one service, those reported against it
        // or caused by its deployments.
        let columns =
            "SELECT id, key, service, environment, severity, detected, resolved, caused_by FROM kpi_incidents";
        let queries: [(String, Vec<i64>); 2] = match service_id {
            Some(s) => [
                (format!("{columns} WHERE service = ?1 AND detected >= ?2 AND detected < ?3"), vec![s, from, to]),
                (format!("{columns} WHERE caused_service = ?1 AND caused_by >= ?2"), vec![s, first]),
            ],
            None => [
                (format!("{columns} WHERE detected >= ?1 AND detected < ?2"), vec![from, to]),
                (format!("{columns} WHERE caused_by >= ?1"), vec![first]),
            ],
        };
        let mut loaded: FastSet<i64> = FastSet::default();
        for (sql, values) in queries {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
            while let Some(r) = rows.next()? {
                if !loaded.insert(r.get(0)?) {
                    continue;
                }
                let env_id: Option<i64> = r.get(3)?;
                let caused_by: Option<i64> = r.get(7)?;
                // Incidents of other environments matter only through a deployment of this one.
                if caused_by.is_none() && env_id.is_some_and(|e| e != env) {
                    continue;
                }
                let severity = match r.get::<_, i64>(4)? {
                    1 => Severity::P1,
                    2 => Severity::P2,
                    3 => Severity::P3,
                    _ => Severity::P4,
                };
                history.incidents.push(Incident {
                    id: r.get(1)?,
                    service: r.get::<_, Option<i64>>(2)?.map(name),
                    environment: env_id.map(name),
                    severity,
                    detected: r.get(5)?,
                    resolved: r.get(6)?,
                    caused_by: caused_by.map(|c| c as u64),
                });
            }
        }
        history.incidents.sort_by_key(|i| i.detected);
        // An incident caused by a deployment of another environment or service is not this query's.
        let mut ids: FastSet<u64> = FastSet::with_capacity_and_hasher(history.deployments.len(), Default::default());
        ids.extend(history.deployments.iter().map(|d| d.id));
        history.incidents.retain(|i| i.caused_by.is_none_or(|c| ids.contains(&c)));
        Ok(history)
    }

    /// The deployments finishing in `[start, to)`, from the chunks of the periods the range
    /// touches, chunk by chunk: ordered within each service, not across services (putting a
    /// million 250-byte structs in global order costs more than `kpi::compute` sorting its
    /// compact rows). Each comes with its rollback, the first one recorded in its chunk.
    fn deployments(
        &self,
        service: Option<i64>,
        env: i64,
        environment: &str,
        start: Time,
        to: Time,
        name: &dyn Fn(i64) -> String,
    ) -> rusqlite::Result<Vec<Deployment>> {
        if start >= to {
            return Ok(Vec::new());
        }
        let (services, value) = match service {
            Some(s) => ("service = ?4", s),
            None => ("service >= ?4", i64::MIN),
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT service, records FROM kpi_deployments
             WHERE environment = ?1 AND period BETWEEN ?2 AND ?3 AND {services}"
        ))?;
        let mut rows = stmt.query(params![env, chunk::period(start), chunk::period(to - 1), value])?;
        let environment: Arc<str> = environment.into();
        let mut names: FastMap<i64, Arc<str>> = FastMap::default();
        let mut out = Vec::new();
        let mut rollbacks: FastMap<u64, SmallVec<[Rollback; 1]>> = FastMap::default();
        let mut withdrawn = Vec::new();
        // Blobs are decoded where SQLite holds them, never copied: a whole-organisation query
        // reads some 150 MB of them.
        while let Some(r) = rows.next()? {
            let service_id: i64 = r.get(0)?;
            let service = names.entry(service_id).or_insert_with(|| name(service_id).into()).clone();
            for record in chunk::records(r.get_ref(1)?.as_blob()?) {
                match record.map_err(chunk_error)? {
                    Record::Deployment(d) if start <= d.finished && d.finished < to => out.push(Deployment {
                        id: d.id,
                        service: service.clone(),
                        environment: environment.clone(),
                        artefact: d.artefact.map(str::to_owned),
                        pipeline_started: d.pipeline_started,
                        finished: d.finished,
                        success: d.success,
                        release: None,
                        release_type: None,
                        emergency: d.emergency,
                        fixes_incident: d.fixes_incident.map(str::to_owned),
                        change_lead_times: d.lead_times(),
                        rollback: None,
                        stabilisation: None,
                    }),
                    Record::Deployment(_) => {}
                    Record::Rollback { deployment, decided, completed } => {
                        rollbacks.entry(deployment).or_default().push(Rollback { decided, completed: Some(completed) });
                    }
                    Record::Withdrawn { deployment, decided, completed } => {
                        withdrawn.push((deployment, Rollback { decided, completed: Some(completed) }));
                    }
                }
            }
        }
        for (deployment, rollback) in withdrawn {
            if let Some(rs) = rollbacks.get_mut(&deployment)
                && let Some(at) = rs.iter().position(|r| *r == rollback)
            {
                rs.remove(at);
            }
        }
        // A deployment rolled back more than once: by the earliest.
        for d in &mut out {
            d.rollback = rollbacks.get(&d.id).and_then(|rs| rs.iter().min_by_key(|r| r.completed).copied());
        }
        Ok(out)
    }

    fn names(&self) -> rusqlite::Result<Vec<Option<String>>> {
        let mut out = Vec::new();
        let mut stmt = self.conn.prepare_cached("SELECT id, name FROM kpi_names")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let idx = usize::try_from(id).unwrap_or(0);
            if out.len() <= idx {
                out.resize(idx + 1, None);
            }
            out[idx] = Some(r.get(1)?);
        }
        Ok(out)
    }
}
