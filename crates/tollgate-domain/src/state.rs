//! Everything Tollgate knows, rebuilt by folding facts: adopted profiles, people and their roles,
//! blackouts, the risk register, releases and the non-conformance register.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::event::Profile;
use crate::policy::{Policy, RoleId};
use crate::release::{Release, ReleaseId};
use crate::time::Timestamp;

/// A decision works on a copy of the state, and a server publishes one after every commit, so
/// copying must not cost every release: the releases and the registers are persistent
/// collections (`imbl`: a copy shares all, a change copies one path), and their entries sit
/// behind `Arc`s, copied only when a fact changes them.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Every version adopted, oldest first; the last is in force for new releases.
    pub profiles: Vec<Adopted>,
    /// A version proposed and not yet approved or rejected (one at a time).
    pub proposed_profile: Option<ProposedProfile>,
    pub people: BTreeMap<String, Arc<Person>>,
    /// Governing roles awaiting a second administrator, by (person, role).
    pub pending_grants: BTreeMap<(String, RoleId), PendingGrant>,
    /// Personal API tokens by id, revoked ones included (their ids are never reused).
    pub tokens: BTreeMap<String, Arc<Token>>,
    pub releases: imbl::OrdMap<ReleaseId, Arc<Release>>,
    pub blackouts: imbl::Vector<Arc<Blackout>>,
    pub risks: imbl::Vector<Arc<Risk>>,
    pub ncs: imbl::Vector<Arc<Nonconformance>>,
    /// The time of the latest fact: time never runs backwards in the log.
    pub last_at: Option<Timestamp>,
    /// Set when the store is a sandbox (its first fact said so): a rehearsal, never a record.
    pub sandbox: Option<Sandbox>,
}

/// A rehearsal store's clock: the recording machine's, moved forward by every advance so far.
/// The offset lives in the log, so every process that replays it keeps the same time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sandbox {
    pub offset: chrono::Duration,
}

#[derive(Clone, Debug)]
pub struct Adopted {
    pub profile: Arc<Profile>,
    pub by: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Person {
    pub name: String,
    pub roles: BTreeSet<RoleId>,
}

/// A proposed version of the procedure and the reviews it has had (6.3 document control).
#[derive(Clone, Debug, PartialEq)]
pub struct ProposedProfile {
    pub profile: Arc<Profile>,
    pub loosens: Vec<String>,
    pub by: String,
    pub at: Timestamp,
    /// Approvals so far: who, and the roles they held when they approved.
    pub approvals: Vec<(String, BTreeSet<RoleId>)>,
}

/// A personal API token as the log knows it: whose it is and the SHA-256 of the token string.
/// The token itself is shown once, to the administrator who created it, and kept nowhere.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Token {
    pub id: String,
    pub person: String,
    /// Lower-case hex SHA-256 of the whole token as presented (`tgt_<id>_<secret>`).
    pub sha256: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub expires: Option<Timestamp>,
    /// When, and by whom.
    pub revoked: Option<(Timestamp, String)>,
    /// The day's first use last recorded (a token is recorded once a day it is used).
    pub last_used: Option<Timestamp>,
}

/// Who proposed a governing role, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct PendingGrant {
    pub by: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Blackout {
    pub id: u32,
    pub from: Timestamp,
    pub to: Timestamp,
    pub reason: String,
    /// `None` applies to every service.
    pub service: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Risk {
    pub id: u32,
    pub category: String,
    pub risk: String,
    pub mitigation: String,
    pub owner: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Nonconformance {
    pub id: u32,
    pub condition: String,
    pub release: Option<ReleaseId>,
    pub service: Option<String>,
    pub subject: String,
    pub detail: String,
    pub raised_at: Timestamp,
    pub raised_by: String,
    /// When the breach itself happened, which a tick may detect later.
    pub occurred: Timestamp,
    pub due: Timestamp,
    pub repeat: bool,
    pub closed: Option<(Timestamp, String, String)>,
}

/// Open, closed, or open past its corrective-action due time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NcStatus {
    Open,
    Overdue,
    Closed,
}

impl NcStatus {
    pub fn key(self) -> &'static str {
        match self {
            NcStatus::Open => "open",
            NcStatus::Overdue => "overdue",
            NcStatus::Closed => "closed",
        }
    }
}

impl Nonconformance {
    pub fn status(&self, now: Timestamp) -> NcStatus {
        match self.closed {
            Some(_) => NcStatus::Closed,
            None if now > self.due => NcStatus::Overdue,
            None => NcStatus::Open,
        }
    }
}

impl State {
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// How far ahead of the recording clock this store's time runs: zero for a real store.
    pub fn clock_offset(&self) -> chrono::Duration {
        self.sandbox.map_or(chrono::Duration::zero(), |s| s.offset)
    }

    pub fn current(&self) -> Option<&Arc<Profile>> {
        self.profiles.last().map(|a| &a.profile)
    }

    pub fn policy(&self) -> Option<&Policy> {
        self.current().map(|p| &p.policy)
    }

    /// The policy a release is governed by.
    pub fn policy_of(&self, release: &Release) -> &Policy {
        &self.profiles[release.profile].profile.policy
    }

    pub fn holds(&self, person: &str, role: &str) -> bool {
        self.people.get(person).is_some_and(|p| p.roles.contains(role))
    }

    /// People currently holding `role`, for "Full CAB" counts.
    pub fn holders(&self, role: &str) -> impl Iterator<Item = &str> {
        self.people.values().filter(move |p| p.roles.contains(role)).map(|p| p.name.as_str())
    }

    pub fn next_release_id(&self) -> ReleaseId {
        ReleaseId(self.releases.keys().next_back().map_or(1, |r| r.0 + 1))
    }

    pub fn next_nc_id(&self) -> u32 {
        self.ncs.last().map_or(1, |n| n.id + 1)
    }

    pub fn nc(&self, id: u32) -> Option<&Nonconformance> {
        self.ncs.iter().find(|n| n.id == id).map(|n| &**n)
    }
}
