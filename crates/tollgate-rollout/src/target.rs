//! Where the executor moves traffic: one trait, [`Target`], and an implementation per way a
//! service's traffic is steered — HAProxy's server weights, a program (kubectl, Argo, Nomad, a
//! script), or a webhook.
//!
//! A shift names the whole intended state (the new version's share and both artefacts), never
//! a step relative to the last one, so repeating a shift after a crash or a timeout is
//! harmless: the executor may retry one it does not know to have taken.

mod command;
mod haproxy;
mod webhook;

use std::time::Duration;

pub use command::CommandTarget;
pub use haproxy::{HaproxyTarget, split};
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
}
