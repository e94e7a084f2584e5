//! The profile file's shape, as serde reads it. Unknown keys are errors: a rule Tollgate does
//! not understand must not be silently ignored. Maps keep file order (test phases and documents
//! are listed in the order the procedure's tables give them).

use indexmap::IndexMap;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawProfile {
    pub profile: RawHeader,
    #[serde(default)]
    pub calendar: RawCalendar,
    pub roles: IndexMap<String, RawRole>,
    #[serde(default)]
    pub touches: IndexMap<String, String>,
    pub environments: Vec<RawEnvironment>,
    pub authority: IndexMap<String, Vec<String>>,
    #[serde(default)]
    pub approvals: RawApprovals,
    pub release_types: IndexMap<String, RawReleaseType>,
    pub test_phases: IndexMap<String, RawTestPhase>,
    pub documents: IndexMap<String, String>,
    pub confirmations: IndexMap<String, RawConfirmation>,
    pub gates: Vec<RawGate>,
    #[serde(default)]
    pub emergency: RawEmergency,
    pub rollback: RawRollback,
    pub nonconformance: RawNonconformance,
    #[serde(default)]
    pub retention: Vec<RawRetention>,
    #[serde(default)]
    pub kpis: Vec<RawKpi>,
    #[serde(default)]
    pub cadences: Vec<RawCadence>,
    #[serde(default)]
    pub risks: Vec<RawRisk>,
    pub scope: RawScope,
    pub defects: RawDefects,
    #[serde(default)]
    pub artefacts: RawArtefacts,
    #[serde(default)]
    pub evidence: RawEvidence,
    #[serde(default)]
    pub absolute: IndexMap<String, RawAbsolute>,
    #[serde(default)]
    pub testing: RawTesting,
    #[serde(default)]
    pub recording: RawRecording,
    #[serde(default)]
    pub classification: Vec<RawClassification>,
}

/// A classification rule: any one signal implies one of `types`.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawClassification {
    pub id: String,
    pub says: String,
    #[serde(default)]
    pub semver_major: bool,
    #[serde(default)]
    pub touches: Vec<String>,
    #[serde(default)]
    pub scope_kinds: Vec<String>,
    pub types: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRecording {
    /// How long after it happened a fact may still be recorded (`24h`).
    pub max_lateness: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawTesting {
    /// The test phases run in the order `[test-phases]` lists them.
    #[serde(default)]
    pub in_sequence: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawAbsolute {
    pub says: String,
    pub checks: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawArtefacts {
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    #[serde(default)]
    pub signers: Vec<RawSigner>,
    #[serde(default)]
    pub builders: Vec<RawBuilder>,
    /// The flat list of builder ids read before builders were pinned to keys: an empty list
    /// (as older profiles wrote it) means nothing; any entry is refused, naming the new form.
    #[serde(default)]
    pub trusted_builders: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawBuilder {
    pub id: String,
    pub keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawSigner {
    pub identity: String,
    pub issuer: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawEvidence {
    pub critical_drift: Option<Vec<RawDriftRule>>,
    pub performance_regression: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawDriftRule {
    pub resource_type: String,
    pub action: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawScope {
    pub frozen_by: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawDefects {
    pub max_accepted_risk: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawHeader {
    pub id: String,
    pub version: String,
    pub title: String,
    pub document: String,
    pub extends: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawCalendar {
    #[serde(default)]
    pub holidays: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRole {
    pub name: String,
    pub responsibilities: String,
    #[serde(default)]
    pub backup: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawEnvironment {
    pub id: String,
    #[serde(default)]
    pub production: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawApprovals {
    #[serde(default)]
    pub additional: Vec<RawRequirement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRequirement {
    pub role: String,
    pub count: Option<RawCount>,
    #[serde(default)]
    pub when_touches: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum RawCount {
    Number(i64),
    Word(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRoute {
    pub label: String,
    pub requires: Vec<RawRequirement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawReleaseType {
    pub name: String,
    pub description: String,
    pub track: String,
    pub process: String,
    pub lead_time: String,
    pub min_lead_time: String,
    pub approvals: Vec<RawRoute>,
    pub test_phases: Vec<String>,
    pub stabilisation: String,
    /// 4.4.4's rollout strategy for the type: the least a release's rollout plan does.
    pub rollout: Option<crate::plan::RawMinimumPlan>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawTestPhase {
    pub name: String,
    pub scope: String,
    pub environment: String,
    pub owner: String,
    pub exit_criteria: String,
    pub automation: String,
    pub recorded_by: Vec<String>,
    #[serde(default)]
    pub written: bool,
    #[serde(default)]
    pub required_when_touches: Vec<String>,
    #[serde(default)]
    pub evidence: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawConfirmation {
    pub says: String,
    pub by: Vec<String>,
    #[serde(default)]
    pub written: bool,
    pub after: Option<String>,
    /// `window-opens`: counts only when given before the deployment window opens.
    pub before: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawGate {
    pub track: String,
    pub id: String,
    pub phase: String,
    pub opens: Option<String>,
    pub name: String,
    pub says: String,
    pub signed_off_by: Vec<String>,
    pub criteria: Vec<RawCriterion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawCriterion {
    pub id: String,
    pub says: String,
    pub check: String,
    #[serde(default)]
    pub types: Vec<String>,
    #[serde(default)]
    pub when_touches: Vec<String>,
    #[serde(default)]
    pub overridable: bool,
    pub confirmation: Option<String>,
    pub fields: Option<Vec<String>>,
    pub documents: Option<Vec<String>>,
    pub only: Option<Vec<String>>,
    pub except: Option<Vec<String>>,
    pub severity: Option<String>,
    pub duration: Option<String>,
    /// `check = "rollout"`: what the rollout's record is read for, and a baseline's margin.
    pub evidence: Option<String>,
    pub margin: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawEmergency {
    #[serde(default)]
    pub deferred: Vec<RawObligation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawObligation {
    pub id: String,
    pub says: String,
    pub within: String,
    pub check: String,
    pub confirmation: Option<String>,
    pub fields: Option<Vec<String>>,
    pub documents: Option<Vec<String>>,
    pub only: Option<Vec<String>>,
    pub except: Option<Vec<String>>,
    pub severity: Option<String>,
    pub duration: Option<String>,
    /// `check = "rollout"`: what the rollout's record is read for, and a baseline's margin.
    pub evidence: Option<String>,
    pub margin: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRollback {
    pub target: String,
    pub says: String,
    #[serde(default)]
    pub triggers: Vec<RawTrigger>,
    pub afterwards: Option<RawAfterwards>,
}

/// What a completed rollback raises: an incident record (its severity), a defect (its).
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawAfterwards {
    pub says: String,
    pub incident: Option<String>,
    pub defect: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawTrigger {
    pub id: String,
    pub says: String,
    /// What makes it measurable (absent: a person's call).
    pub rule: Option<String>,
    /// error-rate-over-baseline: `10%`.
    pub above_baseline: Option<String>,
    /// error-rate-over-baseline, latency-over-slo: `5m`.
    pub sustained: Option<String>,
    /// health-check-failures: failed checks in a row tolerated.
    pub more_than: Option<u32>,
    /// incident-attributed: `P1`.
    pub severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawNonconformance {
    pub corrective_action_within: String,
    pub says: String,
    pub conditions: IndexMap<String, RawCondition>,
    #[serde(default)]
    pub enforced_from: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawCondition {
    pub says: String,
    pub detect: String,
    pub max: Option<i64>,
    pub window: Option<String>,
    pub documents: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRetention {
    pub document: String,
    pub content: String,
    pub keep: String,
    pub location: String,
    pub access: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawKpi {
    pub id: String,
    pub name: String,
    pub measures: String,
    /// Absent when the procedure sets no target.
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub dora: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawCadence {
    pub id: String,
    pub trigger: String,
    pub reviews: String,
    pub output: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRisk {
    pub category: String,
    pub risk: String,
    pub mitigation: String,
}
