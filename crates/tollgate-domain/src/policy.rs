//! The procedure as data: what a profile file says, after it has been read and validated.
//! Nothing here decides; `gate`, `decide` and `obligation` read these values. Ids are the
//! strings the profile uses (`release-manager`, `minor`, `security-scan`), so an error or a
//! gate reason can quote them back to the team that wrote them.

use std::collections::{BTreeMap, BTreeSet};

use crate::evidence::{Digest, EvidenceKind};
use crate::lifecycle::{Phase, Track};
use crate::time::{Calendar, Span};

pub type RoleId = String;
pub type TypeId = String;
pub type TestPhaseId = String;
pub type DocKind = String;
pub type ConfirmationId = String;
pub type Touch = String;

/// One version of one procedure.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub id: String,
    pub version: String,
    pub title: String,
    /// The controlled document this profile implements, e.g. `QMS-DEV-PRO-004`.
    pub document: String,
    /// The built-in profile this one tightens, if any.
    pub extends: Option<String>,
    pub calendar: Calendar,
    pub roles: BTreeMap<RoleId, RoleDef>,
    pub touches: BTreeMap<Touch, String>,
    pub environments: Vec<Environment>,
    pub authority: BTreeMap<Action, Vec<RoleId>>,
    /// Approvals every release type needs on top of its own (3.6: security for auth/crypto...).
    pub additional_approvals: Vec<Requirement>,
    pub release_types: BTreeMap<TypeId, ReleaseTypeDef>,
    /// In the order of the 4.3 table.
    pub test_phases: Vec<TestPhaseDef>,
    pub documents: Vec<DocumentDef>,
    pub confirmations: BTreeMap<ConfirmationId, ConfirmationDef>,
    pub gates: Vec<GateDef>,
    pub deferred: Vec<ObligationDef>,
    pub rollback: RollbackPolicy,
    pub nonconformance: NcPolicy,
    pub retention: Vec<RetentionRule>,
    pub kpis: Vec<KpiDef>,
    pub cadences: Vec<CadenceDef>,
    pub risks: Vec<RiskSeed>,
    /// Confirmations that freeze the scope like a lock does (4.4.2 code freeze).
    pub freezes_scope: Vec<ConfirmationId>,
    /// The most severe defect whose risk may be accepted instead of fixed (4.4.3: High).
    pub max_accepted_risk: Severity,
    /// Whose signatures, identities and builders are trusted for release artefacts (4.1).
    pub artefacts: ArtefactPolicy,
    /// How evidence files are judged beyond the test phases' own rules.
    pub evidence: EvidencePolicy,
    /// Rules the procedure states as absolute: no override waives the checks they name.
    pub absolute: Vec<AbsoluteRule>,
    /// The test phases run in the order `test_phases` lists them (4.4.3 "in the sequence
    /// specified"); a gate checking them says which ran out of order.
    pub test_phases_in_sequence: bool,
    /// How long after it happened a fact may still be recorded (`--now` in the past); a late
    /// fact carries the reason it is late. Neither seed states one: profiles say so.
    pub max_lateness: Span,
    /// 3.7 "Misclassification that results in an under-controlled change is a
    /// non-conformance": what a release shows of itself that implies a stricter type.
    pub classification: Vec<ClassificationRule>,
}

/// A sign that a release needs a stricter type than a weaker one chosen: "breaking API changes"
/// are Major, "IaC changes; network policy changes" are Infrastructure. Any one signal is
/// enough; a release of one of `types` is classified consistently with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassificationRule {
    pub id: String,
    pub says: String,
    /// The version's major number is higher than any earlier release of the service.
    pub semver_major: bool,
    /// The release declares one of these touches.
    pub touches: BTreeSet<Touch>,
    /// The release's scope holds an item of one of these kinds (`iac`, `migration`).
    pub scope_kinds: BTreeSet<String>,
    /// The types that control such a change enough.
    pub types: BTreeSet<TypeId>,
}

impl Policy {
    /// Tollgate's bound when a profile names none: a day, so that what was decided in a
    /// meeting can be typed in afterwards, but history cannot be written up weeks later.
    pub const DEFAULT_MAX_LATENESS: Span = Span::Fixed(chrono::Duration::hours(24));
}

/// A rule the procedure states without exception ("Critical CVEs block release", "No artefact
/// reaches production that was not built from a tagged, reviewed, signed commit"). A criterion
/// using one of its checks can never be overridden, whatever the gate says; an executive's
/// written acceptance of risk covers only what the procedure allows to be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbsoluteRule {
    pub id: String,
    pub says: String,
    /// `check = "..."` names (`no-critical-findings`, `provenance`, ...).
    pub checks: BTreeSet<String>,
}

/// Trust for release artefacts. Empty lists trust nothing: an organisation names its own
/// signing keys, Sigstore identities and build platforms in a profile that extends a built-in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArtefactPolicy {
    /// SHA-256 fingerprints of public keys (DER SubjectPublicKeyInfo) whose signatures count,
    /// for artefact signatures and key-signed bundles.
    pub trusted_keys: BTreeSet<Digest>,
    /// Sigstore keyless signers: the certificate's exact SAN and the OIDC issuer.
    pub signers: Vec<Signer>,
    /// Trusted build platforms, each pinned to the keys its provenance is signed with: a
    /// provenance envelope counts only when signed by a key pinned to the builder it names, so
    /// a key trusted for one builder cannot vouch for another.
    pub builders: Vec<TrustedBuilder>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedBuilder {
    /// The SLSA `runDetails.builder.id`, exactly.
    pub id: String,
    /// SHA-256 fingerprints of the keys that sign this builder's provenance envelopes.
    pub keys: BTreeSet<Digest>,
}

impl ArtefactPolicy {
    pub fn builder(&self, id: &str) -> Option<&TrustedBuilder> {
        self.builders.iter().find(|b| b.id == id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Signer {
    pub identity: String,
    pub issuer: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EvidencePolicy {
    /// Drift that shuts the gate until resolved or accepted (4.2 environment parity).
    pub critical_drift: Vec<DriftRule>,
    /// A regression above this fraction on an SLO metric needs triage (4.4.3: 10%).
    pub performance_regression: f64,
}

impl Default for EvidencePolicy {
    fn default() -> EvidencePolicy {
        let any = |action: &str| DriftRule { resource_type: "*".into(), action: action.into() };
        EvidencePolicy { critical_drift: vec![any("delete"), any("replace")], performance_regression: 0.10 }
    }
}

/// `resource_type` is a Terraform type or `*`; `action` is `create`, `update`, `delete`,
/// `replace`, `read` or `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftRule {
    pub resource_type: String,
    pub action: String,
}

impl DriftRule {
    pub fn matches(&self, resource_type: &str, action: &str) -> bool {
        (self.resource_type == "*" || self.resource_type == resource_type)
            && (self.action == "*" || self.action == action)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDef {
    pub name: String,
    pub responsibilities: String,
    pub backup: Vec<RoleId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub id: String,
    pub production: bool,
}

/// How environment names are compared: sources differ in case and spacing (`Production`,
/// ` production `), and a deployment must not escape the checks by its spelling. Used by the
/// profile's lookup (`Policy::environment`) and by the import of deployments.
pub fn environment_key(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// Things a person may only do while holding one of the roles the profile lists for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    AdministerPeople,
    AdoptProfile,
    CreateRelease,
    CreateEmergency,
    Reschedule,
    EditScope,
    EditScopeAfterLock,
    LockScope,
    Plan,
    AttachDocument,
    RecordDefect,
    ResolveDefect,
    AcceptDefectRisk,
    DescopeDefect,
    SkipTestPhase,
    GoDecision,
    Deploy,
    Rollback,
    Override,
    ManageBlackouts,
    ManageRisks,
    RaiseNonconformance,
    CloseNonconformance,
    WithdrawRelease,
    RecordArtefact,
    TriageVulnerability,
    AcceptDrift,
    TriageRegression,
    ImportEvents,
    /// Moving an open release to the version in force (`regovern-release`; a profile without
    /// the key gives it to the roles of `withdraw-release`).
    RegovernRelease,
    /// Letting a rollout take a step that cannot be undone (a profile without the key gives it
    /// to the roles of `go-decision`: the release manager's approval).
    ApproveOneWayStep,
}

impl Action {
    pub const ALL: [Action; 31] = [
        Action::AdministerPeople,
        Action::AdoptProfile,
        Action::CreateRelease,
        Action::CreateEmergency,
        Action::Reschedule,
        Action::EditScope,
        Action::EditScopeAfterLock,
        Action::LockScope,
        Action::Plan,
        Action::AttachDocument,
        Action::RecordDefect,
        Action::ResolveDefect,
        Action::AcceptDefectRisk,
        Action::DescopeDefect,
        Action::SkipTestPhase,
        Action::GoDecision,
        Action::Deploy,
        Action::Rollback,
        Action::Override,
        Action::ManageBlackouts,
        Action::ManageRisks,
        Action::RaiseNonconformance,
        Action::CloseNonconformance,
        Action::WithdrawRelease,
        Action::RecordArtefact,
        Action::TriageVulnerability,
        Action::AcceptDrift,
        Action::TriageRegression,
        Action::ImportEvents,
        Action::RegovernRelease,
        Action::ApproveOneWayStep,
    ];

    /// The key used in the profile's `[authority]` table.
    pub fn key(self) -> &'static str {
        match self {
            Action::AdministerPeople => "administer-people",
            Action::AdoptProfile => "adopt-profile",
            Action::CreateRelease => "create-release",
            Action::CreateEmergency => "create-emergency",
            Action::Reschedule => "reschedule",
            Action::EditScope => "edit-scope",
            Action::EditScopeAfterLock => "edit-scope-after-lock",
            Action::LockScope => "lock-scope",
            Action::Plan => "plan",
            Action::AttachDocument => "attach-document",
            Action::RecordDefect => "record-defect",
            Action::ResolveDefect => "resolve-defect",
            Action::AcceptDefectRisk => "accept-defect-risk",
            Action::DescopeDefect => "descope-defect",
            Action::SkipTestPhase => "skip-test-phase",
            Action::GoDecision => "go-decision",
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
            Action::Override => "override",
            Action::ManageBlackouts => "manage-blackouts",
            Action::ManageRisks => "manage-risks",
            Action::RaiseNonconformance => "raise-nonconformance",
            Action::CloseNonconformance => "close-nonconformance",
            Action::WithdrawRelease => "withdraw-release",
            Action::RecordArtefact => "record-artefact",
            Action::TriageVulnerability => "triage-vulnerability",
            Action::AcceptDrift => "accept-drift",
            Action::TriageRegression => "triage-regression",
            Action::ImportEvents => "import-events",
            Action::RegovernRelease => "regovern-release",
            Action::ApproveOneWayStep => "approve-one-way-step",
        }
    }

    pub fn from_key(key: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.key() == key)
    }
}

/// A row of the 3.7 table.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseTypeDef {
    pub name: String,
    pub description: String,
    pub track: Track,
    pub process: String,
    /// The lead time as the procedure writes it ("2-4 weeks"); `min_lead_time` is enforced.
    pub lead_time: String,
    pub min_lead_time: Span,
    /// Alternative approval routes; any one fully satisfied approves the release.
    pub approvals: Vec<ApprovalRoute>,
    pub test_phases: Vec<TestPhaseId>,
    /// 4.4.5: minimum monitoring after the production deployment completes.
    pub stabilisation: Span,
    /// 4.4.4 "the defined rollout strategy per release type": the least a rollout of this
    /// type does; a release's plan may only be tighter.
    pub rollout: Option<crate::rollout::minimum::MinimumPlan>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRoute {
    pub label: String,
    pub requires: Vec<Requirement>,
}

/// "Release Manager", "Full CAB", "Security (if network or IAM)".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub role: RoleId,
    pub count: Count,
    /// Required only when the release touches one of these; empty means always.
    pub when_touches: BTreeSet<Touch>,
}

impl Requirement {
    pub fn applies_to(&self, touches: &BTreeSet<Touch>) -> bool {
        self.when_touches.is_empty() || !self.when_touches.is_disjoint(touches)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// At least this many distinct people holding the role.
    AtLeast(u32),
    /// Every person holding the role ("Full CAB"), and at least one.
    All,
}

/// A row of the 4.3 table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestPhaseDef {
    pub id: TestPhaseId,
    pub name: String,
    pub scope: String,
    pub environment: String,
    pub owner: String,
    pub exit_criteria: String,
    pub automation: String,
    pub recorded_by: Vec<RoleId>,
    /// The result must name its written record (UAT: "verbal only is not" acceptable).
    pub written: bool,
    /// Required for every release type when the release touches one of these.
    pub required_when_touches: BTreeSet<Touch>,
    /// The evidence files that must be recorded for the phase against the current artefact;
    /// when not empty, Tollgate judges the phase from them and a hand-typed result is refused.
    pub evidence: Vec<EvidenceKind>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentDef {
    pub kind: DocKind,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationDef {
    pub says: String,
    pub by: Vec<RoleId>,
    pub written: bool,
    /// The confirmation speaks of something that can change: it counts only when recorded
    /// after the latest such change, and must be given again after it.
    pub after: Option<Anchor>,
    /// The confirmation counts only when given before the deployment window opens (3.6
    /// Operations/SRE: "Must confirm monitoring and alerting are active before deployment
    /// window opens").
    pub before_window: bool,
}

/// What a confirmation must be newer than.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The current production deployment's completion (smoke tests, sign-offs, SLOs).
    Deployment,
    /// The current deployment window (the maintenance window confirmed with operations).
    Schedule,
    /// The end of the stabilisation window after the current deployment (4.4.5: sign-offs and
    /// "all production metrics within SLO" speak of the whole window, not its first minutes).
    Stabilisation,
}

impl Anchor {
    pub fn key(self) -> &'static str {
        match self {
            Anchor::Deployment => "deployment",
            Anchor::Schedule => "schedule",
            Anchor::Stabilisation => "stabilisation",
        }
    }

    pub fn from_key(key: &str) -> Option<Anchor> {
        [Anchor::Deployment, Anchor::Schedule, Anchor::Stabilisation].into_iter().find(|a| a.key() == key)
    }
}

/// Which command a gate guards: leaving its phase, or starting the production deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opens {
    Advance,
    Deploy,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GateDef {
    pub track: Track,
    pub id: String,
    pub phase: Phase,
    pub opens: Opens,
    pub name: String,
    /// The procedure's "Gate" line.
    pub says: String,
    pub signed_off_by: Vec<RoleId>,
    pub criteria: Vec<CriterionDef>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CriterionDef {
    pub id: String,
    pub says: String,
    pub check: Check,
    /// Only these release types; empty means every type.
    pub types: BTreeSet<TypeId>,
    /// Only for releases touching one of these; empty means every release.
    pub when_touches: BTreeSet<Touch>,
    /// The override authority may accept the risk of this criterion being unmet, in writing.
    pub overridable: bool,
}

impl CriterionDef {
    /// The confirmation a `confirmed` criterion asks for; empty for other checks.
    pub fn check_confirmation(&self) -> &str {
        match &self.check {
            Check::Confirmed(id) | Check::Rollout { confirmation: id, .. } => id,
            _ => "",
        }
    }

    pub fn applies_to(&self, release_type: &str, touches: &BTreeSet<Touch>) -> bool {
        (self.types.is_empty() || self.types.contains(release_type))
            && (self.when_touches.is_empty() || !self.when_touches.is_disjoint(touches))
    }
}

/// What Tollgate can evaluate. Profiles compose gates from these.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    Classified,
    ScopeRecorded,
    ScopeLocked,
    /// Every scope item names its rollback mechanism.
    ScopeRollback,
    Plan(Vec<PlanField>),
    Approvals,
    LeadTime,
    OutsideBlackout,
    WithinWindow,
    Confirmed(ConfirmationId),
    Documents(Vec<DocKind>),
    /// The test phases the release type requires, narrowed by `only` / `except`.
    TestPhases {
        only: Vec<TestPhaseId>,
        except: Vec<TestPhaseId>,
    },
    NoOpenDefects(Severity),
    DefectsTriaged(Severity),
    GoDecision,
    Deployed,
    StabilisationElapsed,
    ElapsedSinceDeployment(Span),
    ObligationsDone,
    /// After a rollback, this confirmation must be recorded again before the next attempt.
    ReviewedSinceRollback(ConfirmationId),
    /// The release's source is recorded: repository, tag and commit (4.4.2 "the release tag is
    /// the authoritative reference for what is being deployed").
    Tagged,
    /// Every current artefact carries a verified signature by a trusted key or identity.
    ArtefactsSigned,
    /// Every current artefact has verified SLSA provenance from a trusted builder, built from
    /// the release's tag and commit (4.1).
    Provenance,
    /// No Critical finding is open against any current artefact, in any scan ever recorded
    /// for it (5.1 "Critical CVEs block release"): a later report does not close an earlier
    /// finding; a VEX statement or a new build does.
    NoCriticalFindings,
    /// What the record of a rollout Tollgate ran proves (4.4.4, 4.4.5); a deployment it did
    /// not run is judged by the person's `confirmation` instead, as `Confirmed` would be.
    Rollout {
        evidence: RolloutEvidence,
        confirmation: ConfirmationId,
    },
}

/// What a rollout's record is read for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RolloutEvidence {
    /// Every smoke check of the plan ran and passed at every stage reached.
    SmokeTests,
    /// No rollback trigger had fired when the rollout completed; the monitoring snapshot then.
    NoTrigger,
    /// Production since completion against the pre-deployment baseline, each signal no worse
    /// than `margin` (0.10: 10%), p95 latency within the SLO.
    WithinBaseline { margin: f64 },
}

impl RolloutEvidence {
    pub fn key(self) -> &'static str {
        match self {
            RolloutEvidence::SmokeTests => "smoke-tests",
            RolloutEvidence::NoTrigger => "no-trigger",
            RolloutEvidence::WithinBaseline { .. } => "within-baseline",
        }
    }
}

impl Check {
    /// The `check = "..."` name in the profile.
    pub fn name(&self) -> &'static str {
        match self {
            Check::Classified => "classified",
            Check::ScopeRecorded => "scope-recorded",
            Check::ScopeLocked => "scope-locked",
            Check::ScopeRollback => "scope-rollback",
            Check::Plan(_) => "plan",
            Check::Approvals => "approvals",
            Check::LeadTime => "lead-time",
            Check::OutsideBlackout => "outside-blackout",
            Check::WithinWindow => "within-window",
            Check::Confirmed(_) => "confirmed",
            Check::Documents(_) => "documents",
            Check::TestPhases { .. } => "test-phases",
            Check::NoOpenDefects(_) => "no-open-defects",
            Check::DefectsTriaged(_) => "defects-triaged",
            Check::GoDecision => "go-decision",
            Check::Deployed => "deployed",
            Check::StabilisationElapsed => "stabilisation-elapsed",
            Check::ElapsedSinceDeployment(_) => "elapsed-since-deployment",
            Check::ObligationsDone => "obligations-done",
            Check::ReviewedSinceRollback(_) => "reviewed-since-rollback",
            Check::Tagged => "tagged",
            Check::ArtefactsSigned => "artefacts-signed",
            Check::Provenance => "provenance",
            Check::NoCriticalFindings => "no-critical-findings",
            Check::Rollout { .. } => "rollout",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum PlanField {
    Impact,
    BlastRadius,
    RollbackStrategy,
}

impl PlanField {
    pub const ALL: [PlanField; 3] = [PlanField::Impact, PlanField::BlastRadius, PlanField::RollbackStrategy];

    pub fn key(self) -> &'static str {
        match self {
            PlanField::Impact => "impact",
            PlanField::BlastRadius => "blast-radius",
            PlanField::RollbackStrategy => "rollback-strategy",
        }
    }

    pub fn from_key(key: &str) -> Option<PlanField> {
        PlanField::ALL.into_iter().find(|f| f.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            PlanField::Impact => "impact assessment",
            PlanField::BlastRadius => "blast radius assessment",
            PlanField::RollbackStrategy => "rollback strategy",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn key(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn from_key(key: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// A step the emergency track defers (4.6), due `within` after the production deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct ObligationDef {
    pub id: String,
    pub says: String,
    pub within: Span,
    /// The check that, once met, fulfils the obligation. Only checks with a time of
    /// fulfilment are allowed: confirmed, plan, documents, test-phases.
    pub fulfilled_by: Check,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RollbackPolicy {
    /// Decision to "previous version confirmed stable" (4.5: 15 minutes).
    pub target: Span,
    pub says: String,
    pub triggers: Vec<Trigger>,
    /// What a completed rollback leaves on record.
    pub afterwards: Afterwards,
}

/// The records a completed rollback raises: QMS-DEV-PRO-004 4.5 "once stable, raise an incident
/// record, and link it to the deployment record"; GRS-ISMS-PRC-009 4.6 "open defect".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Afterwards {
    pub says: String,
    /// The severity of the incident record raised, linked to the deployment rolled back.
    pub incident: Option<String>,
    /// The severity of the defect opened on the release.
    pub defect: Option<Severity>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    pub id: String,
    pub says: String,
    /// What makes the condition measurable, for the executor to act on without approval.
    pub rule: crate::rollout::trigger::Rule,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NcPolicy {
    pub corrective_action_within: Span,
    pub says: String,
    pub conditions: BTreeMap<String, NcCondition>,
    /// Deployments from outside Tollgate (imported events) are held to the procedure from this
    /// day (UTC); `None`: from the first adoption of a profile.
    pub enforced_from: Option<chrono::NaiveDate>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NcCondition {
    pub says: String,
    pub detect: Detect,
}

/// How Tollgate notices a non-conformance.
#[derive(Clone, Debug, PartialEq)]
pub enum Detect {
    /// A production deployment started while the release's approvals were overridden rather
    /// than given.
    DeploymentWithoutApproval,
    /// A required test phase neither passed nor skipped with approval at production deployment.
    TestPhaseSkipped,
    /// A production deployment of an artefact without verified provenance from a trusted
    /// builder, built from the release's tag and commit (6.2, second condition).
    ArtefactNotFromTaggedCommit,
    /// Rollback decision to completion longer than the rollback target.
    RollbackOverTarget,
    /// More than `max` emergency releases for one service within `window`.
    EmergencyFrequency { max: u32, window: Span },
    /// Any of these documents missing at production deployment (standard track).
    DocumentationAbsent(Vec<DocKind>),
    /// A production deployment of a release whose scope or touches imply a stricter type than
    /// the one it was classified as (the profile's classification rules).
    Misclassified,
    /// An emergency obligation not fulfilled by its due time.
    DeferredOverdue,
    /// Detected outside Tollgate and raised by hand (`nc raise`).
    Reported,
}

impl Detect {
    pub fn name(&self) -> &'static str {
        match self {
            Detect::DeploymentWithoutApproval => "deployment-without-approval",
            Detect::TestPhaseSkipped => "test-phase-skipped",
            Detect::ArtefactNotFromTaggedCommit => "artefact-not-from-tagged-commit",
            Detect::RollbackOverTarget => "rollback-over-target",
            Detect::EmergencyFrequency { .. } => "emergency-frequency",
            Detect::DocumentationAbsent(_) => "documentation-absent",
            Detect::Misclassified => "misclassified",
            Detect::DeferredOverdue => "deferred-overdue",
            Detect::Reported => "reported",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionRule {
    pub document: String,
    pub content: String,
    pub keep: String,
    pub location: String,
    pub access: String,
}

/// A metric the procedure names. `id` is one Tollgate computes ([`KpiDef::IDS`]); `target` is
/// the procedure's own words, `None` when it sets none (then no target and no band is reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KpiDef {
    pub id: String,
    pub name: String,
    pub measures: String,
    pub target: Option<String>,
    pub dora: bool,
}

impl KpiDef {
    /// The KPIs Tollgate computes (`tollgate-metrics`), by the id a profile names them with.
    pub const IDS: [&str; 16] = [
        "deployment-frequency",
        "deployment-success-rate",
        "change-failure-rate",
        "mean-time-to-restore",
        "lead-time-for-changes",
        "rollback-rate",
        "mean-time-to-deploy",
        "rollback-execution-time",
        "environment-parity-drift",
        "documentation-completeness",
        "post-deployment-incident-rate",
        "stabilisation-breach-rate",
        "approval-cycle-time",
        "emergency-release-frequency",
        "deployment-rework-rate",
        "unattributed-incidents",
    ];
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CadenceDef {
    pub id: String,
    pub trigger: String,
    pub reviews: String,
    pub output: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskSeed {
    pub category: String,
    pub risk: String,
    pub mitigation: String,
}

impl Policy {
    pub fn roles_for(&self, action: Action) -> &[RoleId] {
        self.authority.get(&action).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The roles that govern others: administering people and overriding a gate. Granting one
    /// takes a second administrator.
    pub fn governing_roles(&self) -> BTreeSet<&str> {
        [Action::AdministerPeople, Action::Override]
            .into_iter()
            .flat_map(|a| self.roles_for(a))
            .map(String::as_str)
            .collect()
    }

    pub fn production(&self) -> Option<&str> {
        self.environments.iter().find(|e| e.production).map(|e| e.id.as_str())
    }

    /// The environment a name means, compared by `environment_key`.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        let key = environment_key(name);
        self.environments.iter().find(|e| environment_key(&e.id) == key)
    }

    pub fn gate(&self, track: Track, id: &str) -> Option<&GateDef> {
        self.gates.iter().find(|g| g.track == track && g.id == id)
    }

    /// The gate that must be open to leave `phase` (or, with `Opens::Deploy`, to deploy in it).
    pub fn gate_for(&self, track: Track, phase: Phase, opens: Opens) -> Option<&GateDef> {
        self.gates.iter().find(|g| g.track == track && g.phase == phase && g.opens == opens)
    }

    /// The test phases a release of this type touching these areas must pass, in 4.3 order.
    pub fn required_test_phases(&self, release_type: &ReleaseTypeDef, touches: &BTreeSet<Touch>) -> Vec<&TestPhaseDef> {
        self.test_phases
            .iter()
            .filter(|def| release_type.test_phases.contains(&def.id) || !def.required_when_touches.is_disjoint(touches))
            .collect()
    }

    /// The absolute rule that forbids waiving `check`, if any.
    pub fn absolute_rule(&self, check: &Check) -> Option<&AbsoluteRule> {
        self.absolute.iter().find(|r| r.checks.contains(check.name()))
    }

    pub fn test_phase(&self, id: &str) -> Option<&TestPhaseDef> {
        self.test_phases.iter().find(|t| t.id == id)
    }

    pub fn document(&self, kind: &str) -> Option<&DocumentDef> {
        self.documents.iter().find(|d| d.kind == kind)
    }

    /// The type used by `emergency create`: the only one on the emergency track.
    pub fn emergency_type(&self) -> Option<&str> {
        let mut it = self.release_types.iter().filter(|(_, t)| t.track == Track::Emergency);
        match (it.next(), it.next()) {
            (Some((id, _)), None) => Some(id.as_str()),
            _ => None,
        }
    }
}
