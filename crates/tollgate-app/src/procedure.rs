//! Changing the procedure in force: the proposal of a new profile version carries every rule
//! it loosens relative to the version in force, which decides who must approve it. The list is
//! computed here, where profiles are read; the domain judges it.

use std::sync::Arc;

use tollgate_domain::{Command, Profile, State};

/// The command that proposes `profile` as the next version of the procedure.
pub fn proposal(state: &State, profile: Arc<Profile>) -> Command {
    let loosens =
        state.current().map(|current| tollgate_profile::loosened(&current.policy, &profile.policy)).unwrap_or_default();
    Command::AdoptProfile { profile, loosens }
}
