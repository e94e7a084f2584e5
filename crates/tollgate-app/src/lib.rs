//! The application layer that every front end calls — the CLI today, the server and the rollout
//! executor next: the wire format of the log ([`codec`]), replay and the one way a command
//! becomes facts in the log ([`app`]: load, `decide`, append, with the clock injected), and who
//! a request acts as ([`identity`]: API tokens and OIDC ID tokens, checked offline), and what
//! makes a rehearsal store one for life ([`sandbox`]).
//! Nothing here knows a terminal or HTTP; the only files read besides the store are the OIDC
//! configuration and the JWKS files it names.

#![forbid(unsafe_code)]

pub mod app;
pub mod codec;
pub mod codec_evidence;
pub mod codec_rollout;
pub mod identity;
pub mod procedure;
pub mod sandbox;
pub mod snapshot;

pub use app::{App, AppError, Clock, ManualClock, Recorded, SystemClock, When};
