//! What people ask Tollgate to do. A command is a request; `decide` accepts it as facts or
//! rejects it with every reason.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::event::{ExternalDeployment, ImportRecord, Profile, Triage};
use crate::evidence::{Digest, EvidenceKind, Report, Verification};
use crate::policy::{PlanField, RoleId, Severity};
use crate::release::{ReleaseId, TriageOutcome};
use crate::rollout::progress::{RolloutFact, RolloutPlan};
use crate::time::{Span, Timestamp};

#[derive(Clone, Debug)]
pub enum Command {
    /// A new store: the profile adopted and the actor, holding `roles`, its first
    /// administrator; with `sandbox`, a rehearsal store from its first fact, for life.
    Init {
        profile: Arc<Profile>,
        roles: BTreeSet<RoleId>,
        sandbox: bool,
    },
    /// Move a sandbox's clock forward by `by`, so that a rehearsal reaches its deadlines without
    /// waiting for them. Refused on a real store, whose clock is the world's.
    AdvanceClock {
        by: Span,
    },
    /// A new document version (6.3).
    /// Propose a new version of the procedure (6.3); it takes effect once approved.
    AdoptProfile {
        profile: Arc<Profile>,
        /// Every rule it loosens relative to the version in force, as `key: message` lines
        /// (computed by the application layer, which reads profiles).
        loosens: Vec<String>,
    },
    /// Approve (or reject, with `approve = false`) the proposed version `version` of `id`.
    ReviewProfile {
        id: String,
        version: String,
        approve: bool,
        comment: String,
    },
    AddPerson {
        name: String,
        roles: BTreeSet<RoleId>,
    },
    GrantRoles {
        name: String,
        roles: BTreeSet<RoleId>,
    },
    RevokeRoles {
        name: String,
        roles: BTreeSet<RoleId>,
    },
    /// A personal API token for `person`. The secret never reaches the domain: only the hex
    /// SHA-256 of the whole token string the person will present.
    CreateToken {
        id: String,
        person: String,
        sha256: String,
        expires: Option<Timestamp>,
    },
    /// Revoke a token: by an administrator, or by the person it was issued to.
    RevokeToken {
        id: String,
        reason: Option<String>,
    },
    /// A token was used, by its own person: the first use on a day is recorded, later ones
    /// that day decide to nothing.
    RecordTokenUse {
        id: String,
    },
    AddBlackout {
        from: Timestamp,
        to: Timestamp,
        reason: String,
        service: Option<String>,
    },
    AddRisk {
        category: String,
        risk: String,
        mitigation: String,
        owner: String,
    },
    CreateRelease(NewRelease),
    Reschedule {
        release: ReleaseId,
        start: Timestamp,
        end: Option<Timestamp>,
    },
    AddScope {
        release: ReleaseId,
        kind: String,
        reference: String,
        rollback: Option<String>,
        justification: Option<String>,
    },
    LockScope {
        release: ReleaseId,
    },
    RecordPlan {
        release: ReleaseId,
        fields: Vec<(PlanField, String)>,
    },
    AttachDocument {
        release: ReleaseId,
        kind: String,
        name: String,
        sha256: String,
        bytes: u64,
    },
    RecordTestResult {
        release: ReleaseId,
        phase: String,
        passed: bool,
        reference: Option<String>,
    },
    SkipTestPhase {
        release: ReleaseId,
        phase: String,
        justification: String,
    },
    RecordDefect {
        release: ReleaseId,
        reference: String,
        severity: Severity,
        title: String,
    },
    TriageDefect {
        release: ReleaseId,
        reference: String,
        outcome: Triage,
        comment: String,
        /// For a descoped defect, the scope item (`KIND:REF`) it is in: descoping removes it.
        scope: Option<String>,
    },
    Confirm {
        release: ReleaseId,
        confirmation: String,
        comment: Option<String>,
    },
    /// The release package submitted for approval: the start of the approval cycle (4.2 "CAB /
    /// Approval Cycle Time": "from release package submission to all required approvals").
    Submit {
        release: ReleaseId,
    },
    Approve {
        release: ReleaseId,
        role: Option<RoleId>,
        approve: bool,
        comment: Option<String>,
    },
    Override {
        release: ReleaseId,
        criterion: String,
        justification: String,
    },
    Go {
        release: ReleaseId,
    },
    NoGo {
        release: ReleaseId,
        reason: String,
    },
    Advance {
        release: ReleaseId,
    },
    Close {
        release: ReleaseId,
    },
    Deploy {
        release: ReleaseId,
        environment: String,
    },
    DeploymentFinished {
        release: ReleaseId,
        success: bool,
    },
    /// Start a deployment that Tollgate's executor carries out by `plan`: the deployment's
    /// rules, and the plan's (a target to set, a rollback target on the emergency track).
    /// `artefact: None` means the release's only artefact.
    StartRollout {
        release: ReleaseId,
        environment: String,
        plan: Arc<RolloutPlan>,
        artefact: Option<Digest>,
    },
    /// What the executor did or measured in the release's running rollout (or a person's
    /// resume of a paused one).
    RecordRollout {
        release: ReleaseId,
        fact: RolloutFact,
    },
    StartRollback {
        release: ReleaseId,
        reason: String,
    },
    CompleteRollback {
        release: ReleaseId,
    },
    /// Abandon a release before it reaches production: it closes without passing its gates.
    Withdraw {
        release: ReleaseId,
        reason: String,
    },
    /// Move an open release to the profile version in force: from then on every gate of it is
    /// evaluated under that version (6.3).
    Regovern {
        release: ReleaseId,
        reason: String,
        /// Every rule the version in force loosens relative to the release's governing version,
        /// as `key: message` lines (computed by the application layer, which reads profiles).
        loosens: Vec<String>,
        /// The content hashes `loosens` compares: the governing version's, then the one in
        /// force. If either changed before the command is decided, it is refused as stale.
        compared: (String, String),
    },
    RecordSource {
        release: ReleaseId,
        repository: String,
        tag: String,
        commit: String,
    },
    /// The shell has already checked the signatures cryptographically; `decide` checks that
    /// what was verified is trusted by the profile and matches the release.
    AddArtefact {
        release: ReleaseId,
        name: String,
        digest: Digest,
        verifications: Vec<Verification>,
    },
    /// A parsed evidence file. `artefact: None` means the release's only artefact.
    AddEvidence {
        release: ReleaseId,
        phase: String,
        kind: EvidenceKind,
        artefact: Option<Digest>,
        file: String,
        file_digest: Digest,
        bytes: u64,
        report: Box<Report>,
        /// Why a report of the same kind for the same phase and artefact is recorded again
        /// (a rerun): required when an earlier one counts, which it then supersedes.
        rerun_reason: Option<String>,
    },
    TriageFinding {
        release: ReleaseId,
        finding: String,
        outcome: TriageOutcome,
        until: Timestamp,
        comment: String,
    },
    RaiseNc {
        condition: String,
        release: Option<ReleaseId>,
        service: Option<String>,
        detail: String,
    },
    CloseNc {
        id: u32,
        corrective_action: String,
    },
    /// Evaluates the time-driven rules at `now`.
    Tick,
    /// Events imported from CI/CD and incident tools (CDEvents): what was read, by its digest.
    RecordImport {
        record: ImportRecord,
        /// Production deployments since the procedure was enforced, to check against releases.
        deployments: Vec<ExternalDeployment>,
    },
}

#[derive(Clone, Debug)]
pub struct NewRelease {
    pub service: String,
    pub version: String,
    /// `None` for `emergency create`: the profile's emergency type.
    pub release_type: Option<String>,
    pub title: String,
    /// `None` for an emergency: the window opens now.
    pub window_start: Option<Timestamp>,
    pub window_end: Option<Timestamp>,
    pub touches: BTreeSet<String>,
    pub incident: Option<String>,
}
