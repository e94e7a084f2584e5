//! The KPI facts on disk: an SQLite database beside the ledger (`tollgate.db` → `tollgate.kpi.db`).
//! Rows are derived facts with their links already resolved at import (a deployment carries its
//! rollback and the lead times of the changes it first shipped; an incident names the deployment
//! that caused it), so a KPI query reads one index range and never rescans raw events. The
//! tamper-evident record of an import is the ledger fact holding the digest of the lines read.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::history::{Deployment, History, Incident, Rollback, Severity, Time};

pub struct Store {
    pub(crate) conn: Connection,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
}

/// `payments.db` → `payments.kpi.db`.
pub fn path_beside(ledger: &Path) -> PathBuf {
    ledger.with_extension("kpi.db")
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kpi_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS kpi_deployments (
    id INTEGER PRIMARY KEY,
    service INTEGER NOT NULL,
    environment INTEGER NOT NULL,
    artefact TEXT,
    pipeline_started INTEGER,
    finished INTEGER NOT NULL,
    success INTEGER NOT NULL,
    emergency INTEGER NOT NULL,
    fixes_incident TEXT,
    lead_times BLOB,
    rb_decided INTEGER,
    rb_completed INTEGER
);
CREATE INDEX IF NOT EXISTS kpi_deployments_env ON kpi_deployments (environment, finished);
CREATE INDEX IF NOT EXISTS kpi_deployments_service ON kpi_deployments (service, environment, finished);
CREATE INDEX IF NOT EXISTS kpi_deployments_artefact ON kpi_deployments (artefact, environment, finished)
    WHERE artefact IS NOT NULL;
CREATE TABLE IF NOT EXISTS kpi_incidents (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    service INTEGER,
    environment INTEGER,
    severity INTEGER NOT NULL,
    detected INTEGER NOT NULL,
    resolved INTEGER,
    caused_by INTEGER
);
CREATE INDEX IF NOT EXISTS kpi_incidents_detected ON kpi_incidents (detected);
CREATE INDEX IF NOT EXISTS kpi_incidents_cause ON kpi_incidents (caused_by) WHERE caused_by IS NOT NULL;
CREATE TABLE IF NOT EXISTS kpi_seen (chunk INTEGER PRIMARY KEY, hashes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kpi_state (key TEXT PRIMARY KEY, value BLOB NOT NULL);
";

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |source| StoreError::Sqlite { path: path.display().to_string(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY;",
        )
        .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Store { conn })
    }

    pub fn in_memory() -> Store {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        conn.execute_batch(SCHEMA).expect("schema");
        Store { conn }
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
        let sql = "SELECT id, service, artefact, pipeline_started, finished, success, emergency, fixes_incident, lead_times, rb_decided, rb_completed
                   FROM kpi_deployments";
        let mut stmt;
        let mut rows = match service_id {
            Some(s) => {
                stmt = self.conn.prepare_cached(&format!(
                    "{sql} WHERE service = ?1 AND environment = ?2 AND finished >= ?3 AND finished < ?4 ORDER BY finished"
                ))?;
                stmt.query(params![s, env, start, to])?
            }
            None => {
                stmt = self.conn.prepare_cached(&format!(
                    "{sql} WHERE environment = ?1 AND finished >= ?2 AND finished < ?3 ORDER BY finished"
                ))?;
                stmt.query(params![env, start, to])?
            }
        };
        let environment = environment.to_owned();
        while let Some(r) = rows.next()? {
            let lead: Option<Vec<u8>> = r.get(8)?;
            let decided: Option<i64> = r.get(9)?;
            history.deployments.push(Deployment {
                id: r.get::<_, i64>(0)? as u64,
                service: name(r.get(1)?),
                environment: environment.clone(),
                artefact: r.get(2)?,
                pipeline_started: r.get(3)?,
                finished: r.get(4)?,
                success: r.get(5)?,
                release: None,
                release_type: None,
                emergency: r.get(6)?,
                fixes_incident: r.get(7)?,
                change_lead_times: lead.map(|b| decode_i64s(&b)).unwrap_or_default(),
                rollback: decided.map(|decided| Rollback { decided, completed: r.get(10).ok().flatten() }),
                stabilisation: None,
            });
        }
        drop(rows);
        let first = history.deployments.first().map_or(i64::MAX, |d| d.id as i64);
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, service, environment, severity, detected, resolved, caused_by FROM kpi_incidents
             WHERE (detected >= ?1 AND detected < ?2) OR caused_by >= ?3 ORDER BY detected",
        )?;
        let mut rows = stmt.query(params![from, to, first])?;
        while let Some(r) = rows.next()? {
            let service: Option<i64> = r.get(1)?;
            let env_id: Option<i64> = r.get(2)?;
            if service_id.is_some() && service != service_id {
                continue;
            }
            let caused_by: Option<i64> = r.get(6)?;
            // Incidents of other environments matter only through a deployment of this one.
            if caused_by.is_none() && env_id.is_some_and(|e| e != env) {
                continue;
            }
            let severity = match r.get::<_, i64>(3)? {
                1 => Severity::P1,
                2 => Severity::P2,
                3 => Severity::P3,
                _ => Severity::P4,
            };
            history.incidents.push(Incident {
                id: r.get(0)?,
                service: service.map(name),
                environment: env_id.map(name),
                severity,
                detected: r.get(4)?,
                resolved: r.get(5)?,
                caused_by: caused_by.map(|c| c as u64),
            });
        }
        // An incident caused by a deployment of another environment or service is not this query's.
        let ids: std::collections::HashSet<u64> = history.deployments.iter().map(|d| d.id).collect();
        history.incidents.retain(|i| i.caused_by.is_none_or(|c| ids.contains(&c)));
        Ok(history)
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

pub fn encode_i64s(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn decode_i64s(bytes: &[u8]) -> Vec<i64> {
    bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
}
