//! The I/O adapters of the rollouts Tollgate runs itself (issue 10): what the executor touches
//! in the world, and nothing of what it decides.
//!
//! - [`prometheus`] — instant and range queries over Prometheus's HTTP API, every failure a
//!   [`prometheus::QueryError`] the analysis can call inconclusive (fail closed);
//! - [`haproxy`] — HAProxy's runtime API over its admin socket: weights, server states, and the
//!   `show servers state` table;
//! - [`target`] — the [`target::Target`] trait the executor drives to move traffic, with
//!   implementations for HAProxy, a command (kubectl, Argo, Nomad, scripts), a webhook and a
//!   feature flag's rollout in Unleash (its Admin API);
//! - [`smoke`] — HTTP checks of a service's critical paths after each stage.
//!
//! Everything here is blocking: the executor runs on a thread of its own with an injected
//! clock, so the adapters need no runtime, and every call is bounded by a timeout given to it.
//! The clock is never read here to decide anything; the only reading is `Instant` to report how
//! long a smoke check took.
//!
//! Errors are `thiserror` enums, one per adapter, that name the address, what was sent and
//! what came back, so an inconclusive analysis or a failed shift says why in the log.

pub mod haproxy;
mod http;
pub mod prometheus;
pub mod smoke;
pub mod target;

pub use haproxy::{Runtime, RuntimeError};
pub use prometheus::{Prometheus, QueryError, Sample, Series};
pub use smoke::{SmokeCheck, SmokeResult};
pub use target::{CommandTarget, HaproxyTarget, Shift, Target, TargetError, UnleashTarget, WebhookTarget};
