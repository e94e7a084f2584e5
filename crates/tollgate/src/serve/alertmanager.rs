//! Alertmanager's webhook receiver (`POST /api/v1/alertmanager`): each firing alert that names
//! a release (label `release`, `R-7`) or a service (label `service`) with a rollout running,
//! rolling back or in its stabilisation window is attributed to that deployment as an
//! incident, with the alert's `severity` label. An incident of the profile's trigger severity
//! (4.5: "Any P1 incident is raised and attributed to the deployment") makes the executor roll
//! back at once. Alertmanager authenticates with a bearer credential like any client
//! (`http_config.authorization` in its receiver), as an identity that may call a rollback.
//!
//! The payload is Alertmanager's webhook format, version 4
//! (<https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>); resolved alerts
//! are ignored, and an alert attributed once is not attributed again on Alertmanager's repeats.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_domain::release::ReleaseId;
use tollgate_domain::rollout::progress::{self, RolloutFact};
use tollgate_domain::{Command, State, Timestamp};

use super::Server;
use super::api::ApiError;

#[derive(Deserialize)]
struct Notification {
    version: String,
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
struct Alert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(default)]
    fingerprint: String,
}

pub(super) fn receive(server: &Server, principal: &str, state: &State, body: &[u8]) -> Result<Value, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad-request", message);
    let notification: Notification =
        serde_json::from_slice(body).map_err(|e| bad(format!("not an Alertmanager webhook notification: {e}")))?;
    if notification.version != "4" {
        return Err(bad(format!("Alertmanager webhook version `{}`; expected 4", notification.version)));
    }
    let now = crate::when::system_now();
    let (mut attributed, mut unattributed, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for alert in notification.alerts.iter().filter(|a| a.status == "firing") {
        let name = alert.labels.get("alertname").cloned().unwrap_or_else(|| "alert".into());
        let reference = if alert.fingerprint.is_empty() {
            format!("{name}@{}", alert.starts_at)
        } else {
            format!("{name}/{}", alert.fingerprint)
        };
        let Some(release) = attributed_to(state, alert, now) else {
            unattributed.push(json!({"alert": reference, "why": "no release or service label names a deployment being rolled out or stabilising"}));
            continue;
        };
        let raised = chrono::DateTime::parse_from_rfc3339(&alert.starts_at)
            .map_err(|e| bad(format!("alerts[].startsAt `{}`: {e}", alert.starts_at)))?
            .with_timezone(&chrono::Utc)
            .min(now);
        let fact = RolloutFact::Incident {
            reference: reference.clone(),
            severity: alert.labels.get("severity").cloned().unwrap_or_else(|| "unknown".into()),
            summary: summary(alert, &name),
            raised,
        };
        match super::commit::record(server, principal, &Command::RecordRollout { release, fact }) {
            Ok(()) => attributed.push(json!({"alert": reference, "release": release.to_string()})),
            Err(why) => refused.push(json!({"alert": reference, "release": release.to_string(), "why": why})),
        }
    }
    Ok(json!({"attributed": attributed, "unattributed": unattributed, "refused": refused}))
}

/// The release the alert names, or the latest release of the service it names, whose rollout
/// the executor has work in.
fn attributed_to(state: &State, alert: &Alert, now: Timestamp) -> Option<ReleaseId> {
    let watched = |id: &ReleaseId| {
        state.releases.get(id).is_some_and(|r| progress::current(r, state.policy_of(r), now).is_some())
    };
    if let Some(named) = alert.labels.get("release") {
        return crate::run::release_id(named).ok().filter(watched);
    }
    let service = alert.labels.get("service")?;
    state.releases.iter().rev().filter(|(_, r)| r.service == *service).map(|(id, _)| *id).find(watched)
}

fn summary(alert: &Alert, name: &str) -> String {
    ["summary", "description"]
        .iter()
        .find_map(|key| alert.annotations.get(*key))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}
