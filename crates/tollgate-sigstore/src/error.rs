//! The one error every check returns. Each carries a sentence a person can act on: where in the
//! input the problem is, or which verification step refused and why.

use std::fmt;

/// Why a signature, envelope or bundle was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SigError {
    pub kind: SigErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigErrorKind {
    /// The input is not what it claims to be: bad JSON, base64, PEM or DER, a missing member.
    Malformed,
    /// Well formed, but uses something this crate refuses to judge: an unknown bundle
    /// version, key type or algorithm. Refused rather than skipped.
    Unsupported,
    /// Well formed and understood, but a verification step failed.
    Invalid,
}

impl SigError {
    pub fn malformed(message: impl Into<String>) -> SigError {
        SigError { kind: SigErrorKind::Malformed, message: message.into() }
    }

    pub fn unsupported(message: impl Into<String>) -> SigError {
        SigError { kind: SigErrorKind::Unsupported, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> SigError {
        SigError { kind: SigErrorKind::Invalid, message: message.into() }
    }

    /// The same error, its message prefixed with where it happened ("log entry 0: ...").
    pub fn context(self, prefix: impl fmt::Display) -> SigError {
        SigError { kind: self.kind, message: format!("{prefix}: {}", self.message) }
    }
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Result<T> = std::result::Result<T, SigError>;
