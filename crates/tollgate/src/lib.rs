//! The `tollgate` command: the command line ([`cli`], [`run`]) over the application layer
//! (`tollgate-app`: the log's wire format, replay and atomic appends)
//! and what it prints ([`view`], [`profile_view`]), the auditor's commands ([`audit`]) and the
//! demo ([`demo`]).

#![forbid(unsafe_code)]

mod analysis_cmd;
pub mod audit;
pub mod cli;
mod client;
mod clock_cmd;
pub mod demo;
mod event_stream;
pub mod evidence_cmd;
pub mod files;
pub mod metrics_cmd;
pub mod out;
pub mod own_history;
mod profile_cmd;
pub mod profile_view;
mod reads;
mod remote;
pub mod report;
mod rollout_cmd;
pub mod run;
pub mod serve;
mod token_cmd;
pub mod view;
pub mod when;
