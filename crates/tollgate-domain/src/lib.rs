//! Tollgate's functional core. A release procedure (a [`policy::Policy`]) and the facts recorded
//! so far (a [`state::State`]) decide whether a command is accepted ([`decide::decide`]) and
//! what each gate says ([`gate::evaluate`]). Time is always a parameter.
//!
//! Architecture invariant: this crate does no IO, reads no clock and knows no wire format.

#![forbid(unsafe_code)]

pub mod approval;
pub mod artefact;
pub mod classification;
pub mod command;
pub mod decide;
pub mod event;
pub mod evidence;
pub mod evolve;
pub mod gate;
pub mod judge;
pub mod lifecycle;
pub mod nonconformance;
pub mod obligation;
pub mod playbook;
pub mod policy;
pub mod recording;
pub mod rejection;
pub mod release;
pub mod rollout;
pub mod state;
pub mod time;

pub use command::{Command, NewRelease};
pub use decide::decide;
pub use event::{Event, Fact, Profile, ProfileSource};
pub use evolve::evolve;
pub use rejection::{Refusal, Rejection};
pub use state::State;
pub use time::{Span, Timestamp};
