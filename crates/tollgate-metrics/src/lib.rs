//! Release KPIs from explicit records. Deployments, rollbacks, incidents, changes and approvals
//! are facts with explicit links (an incident names the deployment that caused it; a change
//! names the deployment that first took it to production), never joined by a time heuristic.
//! [`history::History`] holds them in memory, in time order, for a window; `kpi` computes every
//! KPI of QMS-DEV-PRO-004 4.2 and DORA's five from it, each with its definition, value, target
//! and band, or `None` with the reason when there is no data.

#![forbid(unsafe_code)]

pub mod cdevents;
pub mod chunk;
pub mod history;
pub mod ids;
pub mod import;
pub mod kpi;
pub mod store;
