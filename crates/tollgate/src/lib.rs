//! The `tollgate` command and the shell around Tollgate's functional core: the wire format of
//! the log ([`codec`]), replay and atomic appends ([`app`]), the command line ([`cli`], [`run`])
//! and what it prints ([`view`], [`profile_view`]), the auditor's commands ([`audit`]) and the
//! demo ([`demo`]).

#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod cli;
pub mod codec;
pub mod codec_evidence;
pub mod demo;
mod event_stream;
pub mod evidence_cmd;
pub mod metrics_cmd;
pub mod out;
pub mod own_history;
pub mod profile_view;
pub mod report;
pub mod run;
pub mod view;
pub mod when;
