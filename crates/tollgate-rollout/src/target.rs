//! Where the executor moves traffic: one trait, [`Target`], and an implementation per way a
//! service's traffic is steered — HAProxy's server weights, a program (kubectl, Argo, Nomad, a
//! script), a webhook, or, for the `feature-flag` strategy, the rollout of a flag in Unleash
//! (every instance runs the new version; the flag decides which users reach it).
//!
//! A shift names the whole intended state (the new version's share and both artefacts), never
//! a step relative to the last one, so repeating a shift after a crash or a timeout is
//! harmless: the executor may retry one it does not know to have taken.

mod command;
mod haproxy;
mod unleash;
mod webhook;

use std::time::Duration;

pub use command::CommandTarget;
pub use haproxy::{HaproxyTarget, split};
pub use unleash::UnleashTarget;
pub use webhook::WebhookTarget;

/// Moves a service's traffic between its stable and new versions.
pub trait Target: Send + Sync {
    /// Puts `shift.weight` percent of the traffic on `shift.artefact` and the rest on
    /// `shift.previous`. Returns only once the target says the change took (or has checked it);
    /// an error means the traffic may be anywhere between the old split and the new one.
    fn shift(&self, shift: &Shift) -> Result<(), TargetError>;

    /// What this target is, for the log: kind and address, without secrets.
    fn describe(&self) -> String;
}

/// The intended split of one service's traffic in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// Percent of traffic on the new version, 0 to 100; 0 is a full rollback.
    pub weight: u8,
    /// The new version's artefact digest (`sha256:...`).
    pub artefact: String,
    /// The artefact the rest of the traffic goes to, and all of it on a rollback; `None` for a
    /// first deployment.
    pub previous: Option<String>,
    pub environment: String,
    pub release: String,
}

impl Shift {
    /// The weight as a percent, refused above 100 before any target is touched.
    pub(crate) fn percent(&self) -> Result<u8, TargetError> {
        if self.weight > 100 {
            return Err(TargetError::Weight(self.weight));
        }
        Ok(self.weight)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("weight {0}% is above 100%")]
    Weight(u8),
    #[error(transparent)]
    Haproxy(#[from] crate::haproxy::RuntimeError),
    /// HAProxy took the commands but reads back another weight (a concurrent operator, a
    /// reload, a static algorithm that only takes 0% and 100%).
    #[error("HAProxy's {backend}/{server} has weight {actual} after the shift, expected {expected}")]
    NotApplied { backend: String, server: String, expected: u16, actual: u16 },
    #[error("{program} could not be started: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("{program} failed ({status}): {stderr_tail}")]
    Failed { program: String, status: String, stderr_tail: String },
    #[error("{program} did not finish within {timeout:?} and was killed")]
    CommandTimeout { program: String, timeout: Duration },
    #[error("the webhook {url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the webhook {url} did not answer within {timeout:?}")]
    WebhookTimeout { url: String, timeout: Duration },
    #[error("the webhook {url} answered HTTP {status}, expected 2xx: {body}")]
    Refused { url: String, status: u16, body: String },
    /// Unleash took the changes but reads back another state (an operator's edit in between,
    /// something in front of Unleash answering for it).
    #[error(
        "Unleash's feature {feature} in {environment} reads back {actual} after the shift, expected rollout {expected}%"
    )]
    FlagNotApplied { feature: String, environment: String, expected: u8, actual: String },
    #[error("Unleash at {url} could not be reached: {reason}")]
    UnleashUnreachable { url: String, reason: String },
    #[error("Unleash at {url} did not answer within {timeout:?}")]
    UnleashTimeout { url: String, timeout: Duration },
    #[error(
        "Unleash refused the admin API token on {path} (HTTP 401: missing, mistyped, expired or revoked): {message}"
    )]
    UnleashUnauthorized { path: String, message: String },
    #[error(
        "the admin API token may not change {path} (HTTP 403: its permissions, or the environment requires change requests): {message}"
    )]
    UnleashForbidden { path: String, message: String },
    #[error(
        "Unleash answered HTTP 404 to {path}: is there a feature {feature} with environment {environment} in project {project}? {message}"
    )]
    UnleashNotFound { project: String, feature: String, environment: String, path: String, message: String },
    #[error("Unleash answered HTTP {status} to {method} {path}: {message}")]
    UnleashRefused { method: &'static str, path: String, status: u16, message: String },
    #[error("Unleash's answer to {path} is not what its Admin API sends: {reason}")]
    UnleashAnswer { path: String, reason: String },
}
