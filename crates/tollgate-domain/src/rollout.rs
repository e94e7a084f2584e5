//! Rollouts Tollgate runs itself (QMS-DEV-PRO-004 4.4.4, 4.4.5 and 4.5; GRS-ISMS-PRC-009 4.4
//! and 4.6): the plan a release is rolled out by ([`plan`]) and the least its release type
//! requires of it ([`minimum`]), how each measurement and each
//! stage's analysis is judged, failing closed ([`analysis`]), the statistical canary judge
//! ([`mann_whitney`]), and the rollback trigger conditions of 4.5, each as profile data and a
//! pure function of what was observed ([`trigger`]), a rollout's recorded progress with
//! what its executor does next ([`progress`]), and a candidate analysis replayed over a past
//! rollout's measurements, stage by stage, beside what the rollout did ([`backtest`]).
//!
//! Like the rest of the core this does no IO: the executor measures (Prometheus, health
//! checks, the data-integrity command) and records what it measured; these functions say what
//! the record means.

pub mod analysis;
pub mod backtest;
pub mod evidence;
pub mod mann_whitney;
pub mod minimum;
pub mod plan;
pub mod progress;
pub mod trigger;

/// Spans in the state cache, as whole milliseconds (`chrono::Duration` has no serde form).
#[cfg(feature = "snapshot")]
pub(crate) mod span_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(span: &chrono::Duration, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_i64(span.num_milliseconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<chrono::Duration, D::Error> {
        i64::deserialize(from).map(chrono::Duration::milliseconds)
    }
}
