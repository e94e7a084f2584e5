//! Why a command was not accepted. `Invalid` is a mistake in the request (an unknown id, an
//! empty text, a time in the past); `Refused` is the procedure saying no (a shut gate, a role
//! not held, separation of duties). Both carry every reason found, not just the first.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    Invalid(Vec<String>),
    Refused(Vec<Refusal>),
}

/// One rule that refused the command, e.g. `separation-of-duties` or `gate:planning/lead-time`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub rule: String,
    pub reason: String,
}

impl Rejection {
    pub fn invalid(reason: impl Into<String>) -> Rejection {
        Rejection::Invalid(vec![reason.into()])
    }

    pub fn refused(rule: impl Into<String>, reason: impl Into<String>) -> Rejection {
        Rejection::Refused(vec![Refusal { rule: rule.into(), reason: reason.into() }])
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Invalid(reasons) => f.write_str(&reasons.join("; ")),
            Rejection::Refused(refusals) => {
                let parts: Vec<String> = refusals.iter().map(|r| format!("[{}] {}", r.rule, r.reason)).collect();
                f.write_str(&parts.join("; "))
            }
        }
    }
}

/// Collects every reason before answering, so a rejection lists all that is wrong at once.
#[derive(Default)]
pub struct Reasons {
    invalid: Vec<String>,
    refused: Vec<Refusal>,
}

impl Reasons {
    pub fn invalid_if(&mut self, bad: bool, reason: impl FnOnce() -> String) {
        if bad {
            self.invalid.push(reason());
        }
    }

    pub fn refuse_if(&mut self, bad: bool, rule: &str, reason: impl FnOnce() -> String) {
        if bad {
            self.refused.push(Refusal { rule: rule.to_owned(), reason: reason() });
        }
    }

    pub fn absorb(&mut self, result: Result<(), Rejection>) {
        match result {
            Ok(()) => {}
            Err(Rejection::Invalid(r)) => self.invalid.extend(r),
            Err(Rejection::Refused(r)) => self.refused.extend(r),
        }
    }

    /// Mistakes in the request come first: a refusal of an invalid request says little.
    pub fn finish(self) -> Result<(), Rejection> {
        if !self.invalid.is_empty() {
            Err(Rejection::Invalid(self.invalid))
        } else if !self.refused.is_empty() {
            Err(Rejection::Refused(self.refused))
        } else {
            Ok(())
        }
    }
}
