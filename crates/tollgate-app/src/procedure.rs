//! Changing the procedure in force: the proposal of a new profile version carries every rule
//! it loosens relative to the version in force, which decides who must approve it. The list is
//! computed here, where profiles are read; the domain judges it. Moving an open release to the
//! version in force carries the rules that version loosens relative to the release's own.

use std::sync::Arc;

use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Profile, State};

/// The command that proposes `profile` as the next version of the procedure.
pub fn proposal(state: &State, profile: Arc<Profile>) -> Command {
    let loosens =
        state.current().map(|current| tollgate_profile::loosened(&current.policy, &profile.policy)).unwrap_or_default();
    Command::AdoptProfile { profile, loosens }
}

/// The command that moves `release` to the version in force, with every rule that version
/// loosens relative to the release's governing one. For an unknown release the lists are empty
/// and `decide` answers `unknown release`.
pub fn regovern(state: &State, release: ReleaseId, reason: String) -> Command {
    let governing = state.releases.get(&release).map(|r| &state.profiles[r.profile].profile);
    let (loosens, compared) = match (governing, state.current()) {
        (Some(from), Some(to)) => {
            (tollgate_profile::loosened(&from.policy, &to.policy), (from.hash.clone(), to.hash.clone()))
        }
        _ => (Vec::new(), (String::new(), String::new())),
    };
    Command::Regovern { release, reason, loosens, compared }
}
