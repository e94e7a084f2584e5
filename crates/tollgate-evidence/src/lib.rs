//! Reading what CI produces. Every parser turns one file into a `tollgate_domain::evidence`
//! value or a [`ParseError`] that says where (line and column, or JSON path) and what was
//! expected. Nothing here decides whether a gate opens: that is `tollgate_domain::judge`.
//!
//! Every reader bounds what it accepts (document size, nesting depth, listed items), and a
//! security-relevant document that says something Tollgate does not understand (a duplicate
//! key, an unknown version or predicate) is refused rather than half-read.

#![forbid(unsafe_code)]

pub mod cvss;
pub mod error;
pub mod json;
pub mod junit;
pub mod perf;
pub mod provenance;
pub mod sarif;
pub mod sbom;
mod subject;
pub mod tfplan;
pub mod vulns;

pub use error::{Location, ParseError};
