//! Sandbox stores: rehearsals of the procedure that can never pass for a record of real
//! releases. A sandbox is one from its creation to its end, and says so three ways, each
//! checked against the others: its ledger's origin (`tollgate-sandbox/<hex>`, named by every
//! signed checkpoint, so a sandbox checkpoint never verifies as a real store's), its first fact
//! (`sandbox.opened`), and a mark in the envelope of every fact (so a fact copied out of a
//! sandbox is refused by a real log, and a real fact by a sandbox's).
//!
//! Its clock is the recording machine's plus the offset its `sandbox.clock_advanced` facts
//! record. The offset lives in the log, so every process that replays it (the CLI, the server,
//! an auditor) keeps the same time.

use tollgate_domain::{State, Timestamp, evolve};

use crate::codec::Decoded;

/// How a sandbox's ledger origin begins; a real store's is `tollgate/<hex>`.
pub const ORIGIN_PREFIX: &str = "tollgate-sandbox/";

/// The origin of a new store's ledger: random, so that no two stores' checkpoints are alike.
pub fn origin(sandbox: bool, random: &[u8]) -> String {
    let prefix = if sandbox { ORIGIN_PREFIX } else { "tollgate/" };
    format!("{prefix}{}", hex::encode(random))
}

pub fn is_sandbox_origin(origin: &str) -> bool {
    origin.starts_with(ORIGIN_PREFIX)
}

/// The store's time when the recording clock reads `clock`: a sandbox's runs ahead by its
/// offset; a real store's is the clock's.
pub fn time(state: &State, clock: Timestamp) -> Timestamp {
    clock + state.clock_offset()
}

/// The store's time now, for what a command reads and the times it is given: what a fact
/// recorded now would carry, so never before the latest record.
pub fn now(state: &State, clock: Timestamp) -> Timestamp {
    let t = time(state, clock);
    state.last_at.map_or(t, |last| last.max(t))
}

/// Applies a stored fact, which must be marked exactly when the store is a sandbox.
pub fn apply(state: &mut State, decoded: &Decoded) -> Result<(), String> {
    evolve(state, &decoded.fact).map_err(|e| e.0)?;
    match (decoded.sandbox, state.is_sandbox()) {
        (true, false) => Err("a fact marked as a sandbox's, in the log of a real store".into()),
        (false, true) => Err("a fact without the sandbox mark, in the log of a sandbox".into()),
        _ => Ok(()),
    }
}

/// The ledger's origin and the facts agree on what the store is (a log with no facts yet
/// agrees with either).
pub fn check_origin(origin: &str, state: &State) -> Result<(), String> {
    let empty = state.last_at.is_none();
    match (is_sandbox_origin(origin), state.is_sandbox()) {
        (true, false) if !empty => {
            Err(format!("the log's origin {origin} names a sandbox, but its first fact does not open one"))
        }
        (false, true) => {
            Err(format!("the log's first fact opens a sandbox, but its origin {origin} is a real store's"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_say_what_the_store_is() {
        assert_eq!(origin(true, &[0xab, 0x01]), "tollgate-sandbox/ab01");
        assert_eq!(origin(false, &[0xab, 0x01]), "tollgate/ab01");
        assert!(is_sandbox_origin("tollgate-sandbox/ab01"));
        assert!(!is_sandbox_origin("tollgate/ab01"));
    }
}
