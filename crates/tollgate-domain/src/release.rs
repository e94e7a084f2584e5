//! A release as the record holds it: what it is, what has been recorded against it, and the
//! queries gates ask of it. Only `evolve` writes these fields.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::event::Triage;
use crate::evidence::{Digest, EvidenceKind, Report, Verification};
use crate::lifecycle::{Phase, Track};
use crate::policy::{PlanField, RoleId, Severity};
use crate::time::Timestamp;

/// `R-12`. Numbers are allocated in order of creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct ReleaseId(pub u32);

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R-{}", self.0)
    }
}

impl std::str::FromStr for ReleaseId {
    type Err = String;

    fn from_str(s: &str) -> Result<ReleaseId, String> {
        let digits = s.strip_prefix("R-").or_else(|| s.strip_prefix("r-")).unwrap_or(s);
        digits
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .map(ReleaseId)
            .ok_or_else(|| format!("`{s}` is not a release id; expected R-<number>, like R-1"))
    }
}

/// The deployment window agreed in planning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Window {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

impl Window {
    /// The window as an interval; without an end it is the instant it starts.
    pub fn overlaps(&self, from: Timestamp, to: Timestamp) -> bool {
        let end = self.end.unwrap_or(self.start);
        self.start < to && from <= end
    }
}

/// Who recorded something and when.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Stamped<T> {
    pub value: T,
    pub by: String,
    pub at: Timestamp,
}

impl Stamped<()> {
    /// The same who and when, holding `value`.
    pub fn with<T>(&self, value: T) -> Stamped<T> {
        Stamped { value, by: self.by.clone(), at: self.at }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct ScopeItem {
    /// ticket, pr, config, iac, migration, ...
    pub kind: String,
    pub reference: String,
    /// Pipeline rollback, feature flag toggle, migration reversal, DNS failover, ...
    pub rollback: Option<String>,
    /// Set when the item was added after scope lock or code freeze: the release manager's
    /// re-assessment (4.4.1, 4.4.2).
    pub reassessment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Document {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct TestResult {
    pub passed: bool,
    pub reference: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Defect {
    pub severity: Severity,
    pub title: String,
    pub recorded: Stamped<()>,
    /// `None` while open.
    pub triage: Option<Stamped<(Triage, String)>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct DefectCounts {
    pub recorded: [u32; 4],
    pub open: [u32; 4],
}

impl DefectCounts {
    pub fn recorded_at_least(&self, severity: Severity) -> u32 {
        self.recorded[severity as usize..].iter().sum()
    }

    pub fn open_at_least(&self, severity: Severity) -> u32 {
        self.open[severity as usize..].iter().sum()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Approval {
    pub role: RoleId,
    pub approve: bool,
    pub comment: Option<String>,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct GoDecision {
    pub go: bool,
    pub reason: Option<String>,
}

/// An executive's written acceptance of the risk of a criterion being unmet, for exactly the
/// shortfall it was given for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Override {
    pub justification: String,
    /// The criterion's reason when the override was given; if it changes, the override lapses.
    pub unmet: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Deployment {
    pub environment: String,
    pub production: bool,
    pub started: Stamped<()>,
    /// `(finished at, succeeded)`; `None` while running.
    pub finished: Option<(Timestamp, bool)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Rollback {
    pub reason: String,
    pub started: Stamped<()>,
    pub completed: Option<Timestamp>,
}

/// An incident record linked to one of the release's deployments (by index).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct IncidentRecord {
    pub reference: String,
    pub severity: String,
    pub summary: String,
    pub deployment: u32,
    pub detected: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Release {
    pub id: ReleaseId,
    pub service: String,
    pub version: String,
    pub release_type: String,
    pub track: Track,
    pub title: String,
    pub window: Window,
    /// When the current window was set: confirmations of the schedule must be newer.
    pub window_set_at: Timestamp,
    pub touches: BTreeSet<String>,
    pub incident: Option<String>,
    /// Index into `State::profiles`: the profile version this release is governed by.
    pub profile: usize,
    pub created: Stamped<()>,
    pub phase: Phase,
    pub scope: Vec<Stamped<ScopeItem>>,
    /// Items taken out of the release, and why (a descoped defect).
    pub removed_scope: Vec<Stamped<(ScopeItem, String)>>,
    pub scope_locked: Option<Stamped<()>>,
    pub plan: BTreeMap<PlanField, Stamped<String>>,
    pub documents: BTreeMap<String, Stamped<Document>>,
    /// Latest result per test phase: a re-run replaces an earlier result.
    pub tests: BTreeMap<String, Stamped<TestResult>>,
    pub skipped_tests: BTreeMap<String, Stamped<String>>,
    pub defects: BTreeMap<String, Defect>,
    /// Defects by severity (index `Severity as usize`): recorded, and still open. Kept by
    /// `evolve` so gates need not walk every defect of a big release on each evaluation.
    pub defect_counts: DefectCounts,
    pub confirmations: BTreeMap<String, Stamped<Option<String>>>,
    /// When the release package was submitted for approval, and by whom: the approval cycle of
    /// 4.2 runs from here to the last required approval.
    pub submitted: Option<Stamped<()>>,
    /// Latest decision per person.
    pub approvals: BTreeMap<String, Approval>,
    /// Who held each role when the release was created and its approval became due: a
    /// requirement of the whole board ("Full CAB") counts them, so revoking a member who has
    /// not approved does not complete it.
    pub board: BTreeMap<RoleId, BTreeSet<String>>,
    pub overrides: BTreeMap<String, Stamped<Override>>,
    /// Every go/no-go decision, oldest first; the last one stands.
    pub decisions: Vec<Stamped<GoDecision>>,
    pub deployments: Vec<Deployment>,
    pub rollbacks: Vec<Rollback>,
    /// Incident records Tollgate raised (4.5: once a rollback is stable), oldest first.
    pub incidents_raised: Vec<Stamped<IncidentRecord>>,
    /// The rollouts Tollgate's executor ran, oldest first.
    pub rollouts: Vec<crate::rollout::progress::Rollout>,
    pub advanced: Vec<Stamped<(Phase, Phase)>>,
    /// Abandoned before production, with the reason.
    pub withdrawn: Option<Stamped<String>>,
    /// Every move to a newer profile version, oldest first (`profile` is the latest `to`).
    pub regoverned: Vec<Stamped<Regoverned>>,
    /// What the release is built from.
    pub source: Option<Stamped<Source>>,
    /// By artefact name; a rebuild replaces the digest and keeps the old one in `previous`.
    pub artefacts: BTreeMap<String, Artefact>,
    /// Every evidence file recorded, oldest first; `E-n` is its index plus one.
    pub evidence: Vec<Stamped<EvidenceRecord>>,
    /// Triage of findings (a CVE, a drifted resource, a regressed metric), by finding id.
    pub acceptances: BTreeMap<String, Stamped<Acceptance>>,
}

/// A move of the release to the profile version in force.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Regoverned {
    /// Indexes into `State::profiles`, and those versions' names.
    pub from: usize,
    pub to: usize,
    pub from_version: String,
    pub to_version: String,
    pub reason: String,
    /// The rules `to` loosens relative to `from`.
    pub loosens: Vec<String>,
    /// How many go/no-go decisions had been taken: those no longer count (the go/no-go is
    /// taken again under the rules now governing).
    pub decisions_before: usize,
    /// The approvals that no longer count because the move loosens a rule, as they stood.
    pub superseded_approvals: BTreeMap<String, Approval>,
}

/// The repository, tag and commit the release is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Source {
    pub repository: String,
    /// Always `refs/tags/...`.
    pub tag: String,
    pub commit: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Artefact {
    pub digest: Digest,
    /// When this digest was first recorded.
    pub since: Timestamp,
    /// Digests of earlier builds, oldest first: evidence against them no longer counts.
    pub previous: Vec<Digest>,
    /// Checks made on this digest (earlier builds' checks are dropped with them).
    pub verifications: Vec<Stamped<Verification>>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct EvidenceRecord {
    pub phase: String,
    pub kind: EvidenceKind,
    /// The artefact the evidence was produced against.
    pub artefact: Digest,
    /// The file as given, and its own digest and size.
    pub file: String,
    pub file_digest: Digest,
    pub bytes: u64,
    pub report: Report,
    /// Why this report was recorded again for the same phase, kind and artefact: it supersedes
    /// the earlier ones in the gate, which stay in the record.
    pub rerun_reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum TriageOutcome {
    /// The risk is accepted until `until` (4.3 "High findings triaged with accepted risk").
    AcceptRisk,
    /// To be fixed by `until` under a remediation plan; the gate may proceed meanwhile.
    Remediate,
}

impl TriageOutcome {
    pub fn key(self) -> &'static str {
        match self {
            TriageOutcome::AcceptRisk => "accept-risk",
            TriageOutcome::Remediate => "remediate",
        }
    }

    pub fn from_key(key: &str) -> Option<TriageOutcome> {
        [TriageOutcome::AcceptRisk, TriageOutcome::Remediate].into_iter().find(|t| t.key() == key)
    }
}

/// What kind of finding a triage is about: decides who may give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum FindingKind {
    Vulnerability,
    Drift,
    Regression,
}

impl FindingKind {
    pub fn key(self) -> &'static str {
        match self {
            FindingKind::Vulnerability => "vulnerability",
            FindingKind::Drift => "drift",
            FindingKind::Regression => "regression",
        }
    }

    pub fn from_key(key: &str) -> Option<FindingKind> {
        [FindingKind::Vulnerability, FindingKind::Drift, FindingKind::Regression].into_iter().find(|t| t.key() == key)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Acceptance {
    pub kind: FindingKind,
    pub outcome: TriageOutcome,
    /// The acceptance lapses at this time and the gate shuts again.
    pub until: Timestamp,
    pub comment: String,
}

impl Stamped<EvidenceRecord> {
    pub fn id(&self, index: usize) -> String {
        format!("E-{}", index + 1)
    }
}

impl Release {
    /// The digest an artefact name currently has.
    pub fn current_digests(&self) -> impl Iterator<Item = &Digest> {
        self.artefacts.values().map(|a| &a.digest)
    }

    pub fn is_current(&self, digest: &Digest) -> bool {
        self.artefacts.values().any(|a| &a.digest == digest)
    }

    /// The artefact whose current or earlier build has this digest.
    pub fn artefact_of(&self, digest: &Digest) -> Option<(&str, &Artefact)> {
        self.artefacts
            .iter()
            .find(|(_, a)| &a.digest == digest || a.previous.contains(digest))
            .map(|(n, a)| (n.as_str(), a))
    }

    /// The evidence that counts for a phase: against a current artefact, and not superseded by
    /// a later report (`superseded_by`). With its `E-n` number.
    pub fn current_evidence(&self, phase: &str) -> Vec<(usize, &Stamped<EvidenceRecord>)> {
        self.evidence
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                e.value.phase == phase && self.is_current(&e.value.artefact) && self.superseded_by(*i).is_none()
            })
            .collect()
    }

    /// The later report that replaces evidence `index` in the gate, if any: a rerun (a report
    /// of the same phase, kind and artefact recorded with its reason) or, in logs written
    /// before reruns needed a reason, a later file of the same name, kind and artefact.
    pub fn superseded_by(&self, index: usize) -> Option<(usize, &Stamped<EvidenceRecord>)> {
        let o = &self.evidence.get(index)?.value;
        self.evidence.iter().enumerate().skip(index + 1).find(|(_, e)| {
            let e = &e.value;
            e.phase == o.phase
                && e.kind == o.kind
                && e.artefact == o.artefact
                && (e.rerun_reason.is_some() || e.file == o.file)
        })
    }

    /// The earlier evidence that evidence `index` replaced in the gate, by `E-n` index.
    pub fn supersedes(&self, index: usize) -> Vec<usize> {
        (0..index).filter(|j| self.superseded_by(*j).is_some_and(|(i, _)| i == index)).collect()
    }

    /// Evidence for a phase recorded against a digest that has since been rebuilt.
    pub fn stale_evidence(&self, phase: &str) -> impl Iterator<Item = (usize, &Stamped<EvidenceRecord>)> {
        self.evidence
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.value.phase == phase && !self.is_current(&e.value.artefact))
    }

    /// Scope is frozen by an explicit lock or by a confirmation the profile says freezes it.
    pub fn scope_frozen(&self, freezes_scope: &[String]) -> bool {
        self.scope_locked.is_some() || freezes_scope.iter().any(|c| self.confirmations.contains_key(c))
    }

    /// The go/no-go decision standing now.
    pub fn go(&self) -> Option<&Stamped<GoDecision>> {
        self.decisions.last()
    }

    /// The move to another profile version that the standing go/no-go decision predates, if
    /// any: that decision was taken under other rules and no longer counts.
    pub fn go_predates_regovern(&self) -> Option<&Stamped<Regoverned>> {
        self.regoverned
            .last()
            .filter(|m| !self.decisions.is_empty() && self.decisions.len() <= m.value.decisions_before)
    }

    /// Everyone who took a go/no-go decision on this release: none of them may deploy it.
    pub fn deciders(&self) -> impl Iterator<Item = &str> {
        self.decisions.iter().map(|d| d.by.as_str())
    }

    pub fn running_deployment(&self) -> Option<&Deployment> {
        self.deployments.last().filter(|d| d.finished.is_none())
    }

    /// The latest production deployment that started, whatever its outcome.
    pub fn production_deployment(&self) -> Option<&Deployment> {
        self.deployments.iter().rev().find(|d| d.production)
    }

    /// When the latest successful production deployment completed, unless rolled back since.
    pub fn live_since(&self) -> Option<Timestamp> {
        let deployment = self.production_deployment()?;
        let (finished, success) = deployment.finished?;
        let rolled_back = self.rollbacks.last().is_some_and(|r| r.started.at >= deployment.started.at);
        (success && !rolled_back).then_some(finished)
    }

    /// The first production deployment start: the anchor of emergency deadlines.
    pub fn first_production_deployment(&self) -> Option<Timestamp> {
        self.deployments.iter().find(|d| d.production).map(|d| d.started.at)
    }

    pub fn rollback_in_progress(&self) -> Option<&Rollback> {
        self.rollbacks.last().filter(|r| r.completed.is_none())
    }

    /// The rollout the executor has work in: the latest, while it runs or while a rollback
    /// of it does; with when that rollback started. A rollout that stopped to roll forward
    /// is the people's again: they record how the deployment ended.
    pub fn active_rollout(&self) -> Option<(&crate::rollout::progress::Rollout, Option<Timestamp>)> {
        let rollout = self.rollouts.last()?;
        let rolling_back =
            self.rollback_in_progress().filter(|rb| rb.started.at >= rollout.started.at).map(|rb| rb.started.at);
        let running = !rollout.finished() && rollout.rolled_forward.is_none() && self.running_deployment().is_some();
        (rolling_back.is_some() || running).then_some((rollout, rolling_back))
    }

    /// The rollout that ran the latest production deployment, if Tollgate's executor ran it.
    pub fn production_rollout(&self) -> Option<&crate::rollout::progress::Rollout> {
        let deployment = self.production_deployment()?;
        self.rollouts.last().filter(|r| r.started.at >= deployment.started.at)
    }

    /// The one-way step the latest production deployment's rollout went past, if it did: that
    /// deployment cannot be rolled back, only forward.
    pub fn one_way_step_taken(&self) -> Option<&crate::rollout::plan::OneWay> {
        self.production_rollout()?.past_one_way()
    }

    /// Who started the latest production deployment: may always roll it back (4.5).
    pub fn deploying_engineer(&self) -> Option<&str> {
        self.production_deployment().map(|d| d.started.by.as_str())
    }

    /// The latest moment the scope changed: a go decision taken before it is stale.
    pub fn scope_changed_at(&self) -> Option<Timestamp> {
        self.scope.iter().map(|s| s.at).max()
    }

    pub fn last_rollback_completed(&self) -> Option<Timestamp> {
        self.rollbacks.iter().filter_map(|r| r.completed).max()
    }

    /// The end of the latest attempt that did not stick: a completed rollback or a failed
    /// production deployment. The next attempt needs a review and a new go decision (4.5).
    pub fn last_failed_attempt(&self) -> Option<Timestamp> {
        let failed = self.deployments.iter().filter(|d| d.production).filter_map(|d| match d.finished {
            Some((at, false)) => Some(at),
            _ => None,
        });
        failed.chain(self.last_rollback_completed()).max()
    }
}
