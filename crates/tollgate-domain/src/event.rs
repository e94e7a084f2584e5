//! Facts: what happened, as the log records it. `decide` produces them, `evolve` applies them.
//! A fact carries its actor and time; the event inside says what changed and nothing more.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;

use crate::evidence::{Digest, Verification};
use crate::lifecycle::Phase;
use crate::policy::{PlanField, Policy, RoleId, Severity};
use crate::release::{Acceptance, EvidenceRecord, ReleaseId, ScopeItem, Source, Window};
use crate::rollout::progress::{RolloutFact, RolloutPlan};
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    pub at: Timestamp,
    pub actor: String,
    pub event: Event,
}

/// A profile as adopted: the validated policy, its content hash, the texts it was read from
/// (so the log alone can rebuild it) and why it was adopted (6.3 document control).
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub policy: Policy,
    /// Hex SHA-256 over the source texts, see `tollgate-profile`.
    pub hash: String,
    pub sources: Vec<ProfileSource>,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileSource {
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The store is a sandbox, a rehearsal of the procedure and no record of real releases.
    /// Only ever the first fact of a log: a store is a sandbox from its start or never.
    SandboxOpened,
    /// The sandbox's clock moved forward by `by`; it now runs `offset` ahead of the recording
    /// machine's clock (the sum of every advance, so replay needs only the latest).
    SandboxClockAdvanced {
        by: Duration,
        offset: Duration,
    },
    ProfileAdopted(Arc<Profile>),
    /// A new version proposed; the version in force stays until it is approved.
    ProfileProposed {
        profile: Arc<Profile>,
        loosens: Vec<String>,
    },
    /// A review of the proposed version by one person: approved, or rejected (which ends it).
    ProfileReviewed {
        id: String,
        version: String,
        approve: bool,
        comment: String,
    },
    PersonAdded {
        name: String,
        roles: BTreeSet<RoleId>,
    },
    RolesGranted {
        name: String,
        roles: BTreeSet<RoleId>,
    },
    RolesRevoked {
        name: String,
        roles: BTreeSet<RoleId>,
    },
    /// Roles that govern others, proposed by one administrator; they take effect when a
    /// second one grants them too.
    GrantProposed {
        name: String,
        roles: BTreeSet<RoleId>,
    },
    /// A personal API token issued: its id, whose it is, and the hex SHA-256 of the token
    /// (never the token itself).
    TokenCreated {
        id: String,
        person: String,
        sha256: String,
        expires: Option<Timestamp>,
    },
    TokenRevoked {
        id: String,
        reason: Option<String>,
    },
    /// The token's first use on the day of the fact: who used it is the fact's actor.
    TokenUsed {
        id: String,
    },
    BlackoutAdded {
        id: u32,
        from: Timestamp,
        to: Timestamp,
        reason: String,
        service: Option<String>,
    },
    RiskAdded {
        id: u32,
        category: String,
        risk: String,
        mitigation: String,
        owner: String,
    },
    ReleaseCreated(ReleaseCreated),
    Rescheduled {
        release: ReleaseId,
        window: Window,
    },
    ScopeAdded {
        release: ReleaseId,
        item: ScopeItem,
    },
    ScopeLocked {
        release: ReleaseId,
    },
    /// A change taken out of the release (4.4.3 "release scope reduction"), with why.
    ScopeRemoved {
        release: ReleaseId,
        kind: String,
        reference: String,
        because: String,
    },
    PlanRecorded {
        release: ReleaseId,
        field: PlanField,
        text: String,
    },
    DocumentAttached {
        release: ReleaseId,
        kind: String,
        name: String,
        sha256: String,
        bytes: u64,
    },
    TestResultRecorded {
        release: ReleaseId,
        phase: String,
        passed: bool,
        reference: Option<String>,
    },
    TestPhaseSkipped {
        release: ReleaseId,
        phase: String,
        justification: String,
    },
    DefectRecorded {
        release: ReleaseId,
        reference: String,
        severity: Severity,
        title: String,
    },
    DefectTriaged {
        release: ReleaseId,
        reference: String,
        outcome: Triage,
        comment: String,
    },
    Confirmed {
        release: ReleaseId,
        confirmation: String,
        comment: Option<String>,
    },
    /// The release package was submitted to its approvers (4.2): the approval cycle starts.
    Submitted {
        release: ReleaseId,
    },
    ApprovalRecorded {
        release: ReleaseId,
        role: RoleId,
        approve: bool,
        comment: Option<String>,
    },
    /// `unmet` is the criterion's reason at the time: the override covers exactly that.
    Overridden {
        release: ReleaseId,
        criterion: String,
        justification: String,
        unmet: String,
    },
    GoDecided {
        release: ReleaseId,
        go: bool,
        reason: Option<String>,
    },
    PhaseAdvanced {
        release: ReleaseId,
        gate: String,
        from: Phase,
        to: Phase,
        criteria: Vec<CriterionSnapshot>,
    },
    DeploymentStarted {
        release: ReleaseId,
        environment: String,
    },
    DeploymentFinished {
        release: ReleaseId,
        environment: String,
        success: bool,
    },
    /// Tollgate's executor runs the deployment just started by `plan`, rolling out `artefact`,
    /// with `previous` (the service's last production artefact that stabilised) to go back to.
    RolloutStarted {
        release: ReleaseId,
        environment: String,
        plan: Arc<RolloutPlan>,
        artefact: Digest,
        previous: Option<Digest>,
    },
    /// A step of the release's running rollout, as the executor recorded it.
    Rollout {
        release: ReleaseId,
        fact: RolloutFact,
    },
    RollbackStarted {
        release: ReleaseId,
        reason: String,
    },
    RollbackCompleted {
        release: ReleaseId,
        seconds: i64,
    },
    /// An incident record raised by Tollgate (4.5: once a rollback is stable), linked to the
    /// deployment by its index among the release's deployments; `detected` is when the
    /// rollback was decided, the record's own time when service was restored.
    IncidentRaised {
        release: ReleaseId,
        reference: String,
        severity: String,
        summary: String,
        deployment: u32,
        detected: Timestamp,
    },
    Withdrawn {
        release: ReleaseId,
        reason: String,
    },
    /// The release moved from the profile version `from` to `to` (the version in force then,
    /// by its content hash): its gates are evaluated under `to` from here on. `loosens` lists the
    /// rules `to` loosens relative to `from`; a go decision taken before no longer counts, nor,
    /// when `loosens` is not empty, the approvals given before.
    ReleaseRegoverned {
        release: ReleaseId,
        from: String,
        to: String,
        to_hash: String,
        reason: String,
        loosens: Vec<String>,
    },
    SourceRecorded {
        release: ReleaseId,
        source: Source,
    },
    /// A new name, a rebuild (a new digest for a known name) or more checks on the same digest.
    ArtefactRecorded {
        release: ReleaseId,
        name: String,
        digest: Digest,
        verifications: Vec<Verification>,
    },
    EvidenceRecorded {
        release: ReleaseId,
        evidence: Box<EvidenceRecord>,
    },
    FindingTriaged {
        release: ReleaseId,
        finding: String,
        acceptance: Acceptance,
    },
    NcRaised(NcRaised),
    NcClosed {
        id: u32,
        corrective_action: String,
    },
    EventsImported(ImportRecord),
}

/// A successful production deployment found in imported events, for the 6.2 check that every
/// production deployment has an approved release record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalDeployment {
    pub service: String,
    pub artefact: Option<String>,
    pub at: Timestamp,
}

/// An import of external events: the exact input by digest, and what became of its lines. The
/// KPI facts derived from it live in the KPI store; this is their tamper-evident anchor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRecord {
    /// `cdevents`.
    pub format: String,
    /// The file name, or `-` for standard input.
    pub source: String,
    /// SHA-256 of every byte read.
    pub digest: crate::evidence::Digest,
    pub lines: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub rejected: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseCreated {
    pub release: ReleaseId,
    pub service: String,
    pub version: String,
    pub release_type: String,
    pub title: String,
    pub window: Window,
    pub touches: BTreeSet<String>,
    pub incident: Option<String>,
    /// The profile governing this release for its whole life (6.3).
    pub profile_version: String,
    pub profile_hash: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Triage {
    Resolved,
    RiskAccepted,
    Descoped,
}

impl Triage {
    pub fn key(self) -> &'static str {
        match self {
            Triage::Resolved => "resolved",
            Triage::RiskAccepted => "risk-accepted",
            Triage::Descoped => "descoped",
        }
    }

    pub fn from_key(key: &str) -> Option<Triage> {
        [Triage::Resolved, Triage::RiskAccepted, Triage::Descoped].into_iter().find(|t| t.key() == key)
    }
}

/// What a gate said when its phase was signed off, kept in the record for the auditor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriterionSnapshot {
    pub id: String,
    pub met: bool,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NcRaised {
    pub id: u32,
    pub condition: String,
    pub release: Option<ReleaseId>,
    pub service: Option<String>,
    /// What exactly failed, so the same failure is raised once: `R-3/rollback#1`.
    pub subject: String,
    pub detail: String,
    /// When the breach happened (a deadline passed, a deployment started); it may precede the
    /// moment it was detected, such as a tick.
    pub occurred: Timestamp,
    pub due: Timestamp,
    /// The same condition was raised before for the same service: formal corrective action.
    pub repeat: bool,
}

impl Event {
    /// The release this event belongs to, if any.
    pub fn release(&self) -> Option<ReleaseId> {
        use Event::*;
        match self {
            ReleaseCreated(c) => Some(c.release),
            Rescheduled { release, .. }
            | ScopeAdded { release, .. }
            | ScopeRemoved { release, .. }
            | ScopeLocked { release }
            | PlanRecorded { release, .. }
            | DocumentAttached { release, .. }
            | TestResultRecorded { release, .. }
            | TestPhaseSkipped { release, .. }
            | DefectRecorded { release, .. }
            | DefectTriaged { release, .. }
            | Confirmed { release, .. }
            | Submitted { release }
            | ApprovalRecorded { release, .. }
            | Overridden { release, .. }
            | GoDecided { release, .. }
            | PhaseAdvanced { release, .. }
            | DeploymentStarted { release, .. }
            | DeploymentFinished { release, .. }
            | RolloutStarted { release, .. }
            | Rollout { release, .. }
            | RollbackStarted { release, .. }
            | RollbackCompleted { release, .. }
            | IncidentRaised { release, .. }
            | Withdrawn { release, .. }
            | ReleaseRegoverned { release, .. }
            | SourceRecorded { release, .. }
            | ArtefactRecorded { release, .. }
            | EvidenceRecorded { release, .. }
            | FindingTriaged { release, .. } => Some(*release),
            NcRaised(nc) => nc.release,
            SandboxOpened
            | SandboxClockAdvanced { .. }
            | ProfileAdopted(_)
            | ProfileProposed { .. }
            | ProfileReviewed { .. }
            | PersonAdded { .. }
            | RolesGranted { .. }
            | RolesRevoked { .. }
            | GrantProposed { .. }
            | TokenCreated { .. }
            | TokenRevoked { .. }
            | TokenUsed { .. }
            | BlackoutAdded { .. }
            | RiskAdded { .. }
            | NcClosed { .. }
            | EventsImported(_) => None,
        }
    }
}
