//! The log's wire format: each fact as one JSON document, versioned per event type, and the
//! stream it belongs to. Domain types are not serialisable by design; this module converts by
//! hand, so renaming a Rust field can never silently change what the log says.
//!
//! Each event type has its own version (`ev` in the envelope, absent for version 1). A change
//! to a type's data bumps its version by adding an upcaster to `UPCASTERS`: a function from
//! the old version's data (as a `serde_json::Value`) to the next version's. Decoding reads a
//! current-version fact straight into the wire types; an older one goes through its upcasters
//! first. `tests/golden` pins every type's bytes, and keeps old versions' goldens decoding.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_domain::event::{CriterionSnapshot, NcRaised, ReleaseCreated, Triage};
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::policy::{PlanField, Severity};
use tollgate_domain::release::{ReleaseId, ScopeItem, Window};
use tollgate_domain::{Event, Fact, Profile, ProfileSource, Timestamp};

use crate::codec_evidence as ev;
use crate::codec_rollout as ro;
use tollgate_domain::rollout::progress::RolloutFact;

/// The envelope's own version (`v`): the fields around the event.
const VERSION: u32 = 1;

/// Turns one version of an event type's data into the next; an error says what is missing.
type Upcaster = fn(Value) -> Result<Value, String>;

/// The event types whose data has changed, with their upcasters: the `i`-th turns version
/// `i + 1` into version `i + 2`, so a type is written at one more than its number of upcasters
/// (a type not listed is at version 1). Never edit or remove an upcaster: logs hold every
/// version ever written.
const UPCASTERS: &[(&str, &[Upcaster])] = &[
    // v2: a scan report always writes `cleared` and `subjects`.
    ("release.evidence_recorded", &[ev::evidence_v1_to_v2]),
];

fn upcasters(event_type: &str) -> &'static [Upcaster] {
    UPCASTERS.iter().find(|(t, _)| *t == event_type).map_or(&[], |(_, u)| u)
}

/// The version `event_type`'s data is written at today.
pub fn version(event_type: &str) -> u32 {
    upcasters(event_type).len() as u32 + 1
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    /// The fact belongs to a sandbox, a rehearsal store: every one of its facts says so, so a
    /// fact copied out of a sandbox can never pass for a real store's. Absent in a real store.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sandbox: bool,
    at: String,
    actor: String,
    /// The profile version in force for this fact (the release's governing version for
    /// release facts).
    profile: String,
    /// Why the fact was recorded after it happened (more than the clock skew), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    late: Option<String>,
    /// The event type's version; absent for version 1 (every log written before types had
    /// versions is version 1 throughout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ev: Option<u32>,
    /// `{"type": ..., "data": ...}`, type first so that reading never buffers the data (serde's
    /// `flatten` would, at several times the cost).
    event: Wire,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
enum Wire {
    #[serde(rename = "sandbox.opened")]
    SandboxOpened {},
    /// Whole seconds: spans are never finer.
    #[serde(rename = "sandbox.clock_advanced")]
    SandboxClockAdvanced { by_seconds: i64, offset_seconds: i64 },
    #[serde(rename = "profile.adopted")]
    ProfileAdopted { id: String, version: String, hash: String, reason: String, sources: Vec<WireSource> },
    #[serde(rename = "profile.proposed")]
    ProfileProposed {
        id: String,
        version: String,
        hash: String,
        reason: String,
        sources: Vec<WireSource>,
        loosens: Vec<String>,
    },
    #[serde(rename = "profile.reviewed")]
    ProfileReviewed { id: String, version: String, approve: bool, comment: String },
    #[serde(rename = "person.added")]
    PersonAdded { name: String, roles: BTreeSet<String> },
    #[serde(rename = "person.roles_granted")]
    RolesGranted { name: String, roles: BTreeSet<String> },
    #[serde(rename = "person.roles_revoked")]
    RolesRevoked { name: String, roles: BTreeSet<String> },
    #[serde(rename = "person.grant_proposed")]
    GrantProposed { name: String, roles: BTreeSet<String> },
    /// `sha256` is the hex SHA-256 of the whole token; the token itself is never written.
    #[serde(rename = "token.created")]
    TokenCreated { id: String, person: String, sha256: String, expires: Option<String> },
    #[serde(rename = "token.revoked")]
    TokenRevoked { id: String, reason: Option<String> },
    #[serde(rename = "token.used")]
    TokenUsed { id: String },
    #[serde(rename = "blackout.added")]
    BlackoutAdded { id: u32, from: String, to: String, reason: String, service: Option<String> },
    #[serde(rename = "risk.added")]
    RiskAdded { id: u32, category: String, risk: String, mitigation: String, owner: String },
    #[serde(rename = "release.created")]
    ReleaseCreated {
        release: String,
        service: String,
        version: String,
        release_type: String,
        title: String,
        window_start: String,
        window_end: Option<String>,
        touches: BTreeSet<String>,
        incident: Option<String>,
        profile_version: String,
        profile_hash: String,
    },
    #[serde(rename = "release.rescheduled")]
    Rescheduled { release: String, window_start: String, window_end: Option<String> },
    #[serde(rename = "release.scope_added")]
    ScopeAdded {
        release: String,
        kind: String,
        reference: String,
        rollback: Option<String>,
        reassessment: Option<String>,
    },
    #[serde(rename = "release.scope_locked")]
    ScopeLocked { release: String },
    #[serde(rename = "release.scope_removed")]
    ScopeRemoved { release: String, kind: String, reference: String, because: String },
    #[serde(rename = "release.submitted")]
    Submitted { release: String },
    #[serde(rename = "release.plan_recorded")]
    PlanRecorded { release: String, field: String, text: String },
    #[serde(rename = "release.document_attached")]
    DocumentAttached { release: String, kind: String, name: String, sha256: String, bytes: u64 },
    #[serde(rename = "release.test_result_recorded")]
    TestResultRecorded { release: String, phase: String, passed: bool, reference: Option<String> },
    #[serde(rename = "release.test_phase_skipped")]
    TestPhaseSkipped { release: String, phase: String, justification: String },
    #[serde(rename = "release.defect_recorded")]
    DefectRecorded { release: String, reference: String, severity: String, title: String },
    #[serde(rename = "release.defect_triaged")]
    DefectTriaged { release: String, reference: String, outcome: String, comment: String },
    #[serde(rename = "release.confirmed")]
    Confirmed { release: String, confirmation: String, comment: Option<String> },
    #[serde(rename = "release.approval_recorded")]
    ApprovalRecorded { release: String, role: String, approve: bool, comment: Option<String> },
    #[serde(rename = "release.overridden")]
    Overridden { release: String, criterion: String, justification: String, unmet: String },
    #[serde(rename = "release.go_decided")]
    GoDecided { release: String, go: bool, reason: Option<String> },
    #[serde(rename = "release.phase_advanced")]
    PhaseAdvanced { release: String, gate: String, from: String, to: String, criteria: Vec<WireCriterion> },
    #[serde(rename = "release.deployment_started")]
    DeploymentStarted { release: String, environment: String },
    #[serde(rename = "release.deployment_finished")]
    DeploymentFinished { release: String, environment: String, success: bool },
    #[serde(rename = "release.rollout_started")]
    RolloutStarted {
        release: String,
        environment: String,
        plan: ro::WirePlan,
        artefact: String,
        previous: Option<String>,
    },
    #[serde(rename = "release.rollout_shifted")]
    RolloutShifted { release: String, stage: u32, weight: u32 },
    #[serde(rename = "release.rollout_measured")]
    RolloutMeasured { release: String, measurement: ro::WireMeasurement },
    #[serde(rename = "release.rollout_smoke_checked")]
    RolloutSmokeChecked { release: String, check: ro::WireSmoke },
    #[serde(rename = "release.rollout_stage_passed")]
    RolloutStagePassed { release: String, stage: u32 },
    #[serde(rename = "release.rollout_paused")]
    RolloutPaused { release: String, reason: String },
    #[serde(rename = "release.rollout_resumed")]
    RolloutResumed { release: String },
    #[serde(rename = "release.rollout_one_way_approved")]
    RolloutOneWayApproved { release: String, stage: u32 },
    #[serde(rename = "release.rollout_rolled_forward")]
    RolloutRolledForward { release: String, reason: String },
    #[serde(rename = "release.rollout_completed")]
    RolloutCompleted { release: String },
    #[serde(rename = "release.rollout_traffic_restored")]
    RolloutTrafficRestored { release: String },
    #[serde(rename = "release.rollout_incident")]
    RolloutIncident { release: String, reference: String, severity: String, summary: String, raised: String },
    #[serde(rename = "release.rollback_started")]
    RollbackStarted { release: String, reason: String },
    #[serde(rename = "release.rollback_completed")]
    RollbackCompleted { release: String, seconds: i64 },
    #[serde(rename = "release.incident_raised")]
    IncidentRaised {
        release: String,
        reference: String,
        severity: String,
        summary: String,
        deployment: u32,
        detected: String,
    },
    #[serde(rename = "release.withdrawn")]
    Withdrawn { release: String, reason: String },
    #[serde(rename = "release.regoverned")]
    ReleaseRegoverned {
        release: String,
        from: String,
        to: String,
        to_hash: String,
        reason: String,
        loosens: Vec<String>,
    },
    #[serde(rename = "release.source_recorded")]
    SourceRecorded { release: String, source: ev::WireSource },
    #[serde(rename = "release.artefact_recorded")]
    ArtefactRecorded { release: String, name: String, digest: String, verifications: Vec<ev::WireVerification> },
    #[serde(rename = "release.evidence_recorded")]
    EvidenceRecorded { release: String, evidence: ev::WireEvidence },
    #[serde(rename = "release.finding_triaged")]
    FindingTriaged { release: String, finding: String, acceptance: ev::WireAcceptance },
    #[serde(rename = "nc.raised")]
    NcRaised {
        id: u32,
        condition: String,
        release: Option<String>,
        service: Option<String>,
        subject: String,
        detail: String,
        occurred: String,
        due: String,
        repeat: bool,
    },
    #[serde(rename = "nc.closed")]
    NcClosed { id: u32, corrective_action: String },
    #[serde(rename = "import.recorded")]
    EventsImported {
        format: String,
        source: String,
        digest: String,
        lines: u64,
        imported: u64,
        duplicates: u64,
        skipped: u64,
        rejected: u64,
    },
}

impl Wire {
    /// The type name serde writes for this variant (checked against every golden file).
    fn name(&self) -> &'static str {
        match self {
            Wire::SandboxOpened { .. } => "sandbox.opened",
            Wire::SandboxClockAdvanced { .. } => "sandbox.clock_advanced",
            Wire::ProfileAdopted { .. } => "profile.adopted",
            Wire::ProfileProposed { .. } => "profile.proposed",
            Wire::ProfileReviewed { .. } => "profile.reviewed",
            Wire::PersonAdded { .. } => "person.added",
            Wire::RolesGranted { .. } => "person.roles_granted",
            Wire::RolesRevoked { .. } => "person.roles_revoked",
            Wire::GrantProposed { .. } => "person.grant_proposed",
            Wire::TokenCreated { .. } => "token.created",
            Wire::TokenRevoked { .. } => "token.revoked",
            Wire::TokenUsed { .. } => "token.used",
            Wire::BlackoutAdded { .. } => "blackout.added",
            Wire::RiskAdded { .. } => "risk.added",
            Wire::ReleaseCreated { .. } => "release.created",
            Wire::Rescheduled { .. } => "release.rescheduled",
            Wire::ScopeAdded { .. } => "release.scope_added",
            Wire::ScopeLocked { .. } => "release.scope_locked",
            Wire::ScopeRemoved { .. } => "release.scope_removed",
            Wire::Submitted { .. } => "release.submitted",
            Wire::PlanRecorded { .. } => "release.plan_recorded",
            Wire::DocumentAttached { .. } => "release.document_attached",
            Wire::TestResultRecorded { .. } => "release.test_result_recorded",
            Wire::TestPhaseSkipped { .. } => "release.test_phase_skipped",
            Wire::DefectRecorded { .. } => "release.defect_recorded",
            Wire::DefectTriaged { .. } => "release.defect_triaged",
            Wire::Confirmed { .. } => "release.confirmed",
            Wire::ApprovalRecorded { .. } => "release.approval_recorded",
            Wire::Overridden { .. } => "release.overridden",
            Wire::GoDecided { .. } => "release.go_decided",
            Wire::PhaseAdvanced { .. } => "release.phase_advanced",
            Wire::DeploymentStarted { .. } => "release.deployment_started",
            Wire::DeploymentFinished { .. } => "release.deployment_finished",
            Wire::RolloutStarted { .. } => "release.rollout_started",
            Wire::RolloutShifted { .. } => "release.rollout_shifted",
            Wire::RolloutMeasured { .. } => "release.rollout_measured",
            Wire::RolloutSmokeChecked { .. } => "release.rollout_smoke_checked",
            Wire::RolloutStagePassed { .. } => "release.rollout_stage_passed",
            Wire::RolloutPaused { .. } => "release.rollout_paused",
            Wire::RolloutResumed { .. } => "release.rollout_resumed",
            Wire::RolloutOneWayApproved { .. } => "release.rollout_one_way_approved",
            Wire::RolloutRolledForward { .. } => "release.rollout_rolled_forward",
            Wire::RolloutCompleted { .. } => "release.rollout_completed",
            Wire::RolloutTrafficRestored { .. } => "release.rollout_traffic_restored",
            Wire::RolloutIncident { .. } => "release.rollout_incident",
            Wire::RollbackStarted { .. } => "release.rollback_started",
            Wire::RollbackCompleted { .. } => "release.rollback_completed",
            Wire::IncidentRaised { .. } => "release.incident_raised",
            Wire::Withdrawn { .. } => "release.withdrawn",
            Wire::ReleaseRegoverned { .. } => "release.regoverned",
            Wire::SourceRecorded { .. } => "release.source_recorded",
            Wire::ArtefactRecorded { .. } => "release.artefact_recorded",
            Wire::EvidenceRecorded { .. } => "release.evidence_recorded",
            Wire::FindingTriaged { .. } => "release.finding_triaged",
            Wire::NcRaised { .. } => "nc.raised",
            Wire::NcClosed { .. } => "nc.closed",
            Wire::EventsImported { .. } => "import.recorded",
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireSource {
    pub(crate) name: String,
    pub(crate) text: String,
}

#[derive(Serialize, Deserialize)]
struct WireCriterion {
    id: String,
    met: bool,
    reason: String,
}

/// The stream of profile adoptions: every decision reads the procedure in force.
pub const PROFILE_STREAM: &str = "profile";

/// The stream of a sandbox's own facts: every decision on a sandbox reads its clock.
pub const SANDBOX_STREAM: &str = "sandbox";

/// Every event type name the log can hold, in `Wire`'s order. Read from `Wire`'s own serde
/// names (the list serde reports for an unknown type), so it cannot drift from what decoding
/// accepts: the golden tests require a golden file for each.
pub fn event_types() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Expected(Option<&'static [&'static str]>);
    impl std::fmt::Display for Expected {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl std::error::Error for Expected {}
    impl serde::de::Error for Expected {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Expected(None)
        }
        fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
            Expected(Some(expected))
        }
    }
    let probe = serde::de::value::MapDeserializer::<_, Expected>::new([("type", "\0"), ("data", "")].into_iter());
    match Wire::deserialize(probe) {
        Err(Expected(Some(names))) => names,
        _ => unreachable!("serde names the expected variants of an unknown event type"),
    }
}

/// The stream a fact belongs to: the unit of optimistic concurrency.
pub fn stream(event: &Event) -> String {
    match event {
        Event::SandboxOpened | Event::SandboxClockAdvanced { .. } => SANDBOX_STREAM.to_owned(),
        Event::ProfileAdopted(_) | Event::ProfileProposed { .. } | Event::ProfileReviewed { .. } => {
            PROFILE_STREAM.to_owned()
        }
        Event::PersonAdded { name, .. }
        | Event::RolesGranted { name, .. }
        | Event::RolesRevoked { name, .. }
        | Event::GrantProposed { name, .. } => {
            format!("person/{name}")
        }
        Event::TokenCreated { id, .. } | Event::TokenRevoked { id, .. } | Event::TokenUsed { id } => {
            format!("token/{id}")
        }
        Event::BlackoutAdded { id, .. } => format!("blackout/B-{id}"),
        Event::RiskAdded { id, .. } => format!("risk/RISK-{id}"),
        Event::NcRaised(nc) => format!("nc/NC-{}", nc.id),
        Event::NcClosed { id, .. } => format!("nc/NC-{id}"),
        Event::EventsImported(_) => "import".to_owned(),
        other => format!("release/{}", other.release().expect("every other event belongs to a release")),
    }
}

pub fn time(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Why a stored fact could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

pub(crate) fn parse_time(field: &str, s: &str) -> Result<Timestamp, DecodeError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| DecodeError(format!("{field}: `{s}` is not an RFC 3339 time ({e})")))
}

fn parse_release(s: &str) -> Result<ReleaseId, DecodeError> {
    s.parse().map_err(DecodeError)
}

fn key<T>(what: &str, s: &str, from: impl Fn(&str) -> Option<T>) -> Result<T, DecodeError> {
    from(s).ok_or_else(|| DecodeError(format!("unknown {what} `{s}`")))
}

/// A profile as the log keeps it: its source texts, so the log alone rebuilds the policy.
fn wire_profile(p: &Profile) -> (String, String, String, String, Vec<WireSource>) {
    let sources = p.sources.iter().map(|s| WireSource { name: s.name.clone(), text: s.text.clone() }).collect();
    (p.policy.id.clone(), p.policy.version.clone(), p.hash.clone(), p.reason.clone(), sources)
}

/// Re-reads a recorded profile from its texts and checks it is the one recorded.
pub(crate) fn profile_from(
    id: &str,
    version: &str,
    hash: &str,
    reason: String,
    sources: Vec<WireSource>,
) -> Result<Arc<Profile>, DecodeError> {
    let sources: Vec<ProfileSource> =
        sources.into_iter().map(|s| ProfileSource { name: s.name, text: s.text }).collect();
    let mut profile = tollgate_profile::from_sources(sources)
        .map_err(|e| DecodeError(format!("the recorded profile {id} {version} no longer loads: {e}")))?;
    if profile.hash != hash || profile.policy.version != version {
        return Err(DecodeError(format!(
            "profile {id} {version}: recorded hash {hash} does not match its sources ({})",
            profile.hash
        )));
    }
    profile.reason = reason;
    Ok(Arc::new(profile))
}

fn rollout_to(release: String, fact: &RolloutFact) -> Wire {
    match fact {
        RolloutFact::Shifted { stage, weight } => Wire::RolloutShifted { release, stage: *stage, weight: *weight },
        RolloutFact::Measured(m) => Wire::RolloutMeasured { release, measurement: ro::measurement_to(m) },
        RolloutFact::SmokeChecked(s) => Wire::RolloutSmokeChecked { release, check: ro::smoke_to(s) },
        RolloutFact::StagePassed { stage } => Wire::RolloutStagePassed { release, stage: *stage },
        RolloutFact::Paused { reason } => Wire::RolloutPaused { release, reason: reason.clone() },
        RolloutFact::Resumed => Wire::RolloutResumed { release },
        RolloutFact::OneWayApproved { stage } => Wire::RolloutOneWayApproved { release, stage: *stage },
        RolloutFact::RolledForward { reason } => Wire::RolloutRolledForward { release, reason: reason.clone() },
        RolloutFact::Completed => Wire::RolloutCompleted { release },
        RolloutFact::TrafficRestored => Wire::RolloutTrafficRestored { release },
        RolloutFact::Incident { reference, severity, summary, raised } => Wire::RolloutIncident {
            release,
            reference: reference.clone(),
            severity: severity.clone(),
            summary: summary.clone(),
            raised: time(*raised),
        },
    }
}

fn rollout(release: &str, fact: RolloutFact) -> Result<Event, DecodeError> {
    Ok(Event::Rollout { release: parse_release(release)?, fact })
}

/// The fact as the log stores it; `sandbox` marks a sandbox store's fact.
pub fn encode(fact: &Fact, profile_version: &str, late_reason: Option<&str>, sandbox: bool) -> Vec<u8> {
    let r = |id: &ReleaseId| id.to_string();
    let event = match &fact.event {
        Event::SandboxOpened => Wire::SandboxOpened {},
        Event::SandboxClockAdvanced { by, offset } => {
            Wire::SandboxClockAdvanced { by_seconds: by.num_seconds(), offset_seconds: offset.num_seconds() }
        }
        Event::ProfileAdopted(p) => {
            let (id, version, hash, reason, sources) = wire_profile(p);
            Wire::ProfileAdopted { id, version, hash, reason, sources }
        }
        Event::ProfileProposed { profile, loosens } => {
            let (id, version, hash, reason, sources) = wire_profile(profile);
            Wire::ProfileProposed { id, version, hash, reason, sources, loosens: loosens.clone() }
        }
        Event::ProfileReviewed { id, version, approve, comment } => Wire::ProfileReviewed {
            id: id.clone(),
            version: version.clone(),
            approve: *approve,
            comment: comment.clone(),
        },
        Event::PersonAdded { name, roles } => Wire::PersonAdded { name: name.clone(), roles: roles.clone() },
        Event::RolesGranted { name, roles } => Wire::RolesGranted { name: name.clone(), roles: roles.clone() },
        Event::GrantProposed { name, roles } => Wire::GrantProposed { name: name.clone(), roles: roles.clone() },
        Event::RolesRevoked { name, roles } => Wire::RolesRevoked { name: name.clone(), roles: roles.clone() },
        Event::TokenCreated { id, person, sha256, expires } => Wire::TokenCreated {
            id: id.clone(),
            person: person.clone(),
            sha256: sha256.clone(),
            expires: expires.map(time),
        },
        Event::TokenRevoked { id, reason } => Wire::TokenRevoked { id: id.clone(), reason: reason.clone() },
        Event::TokenUsed { id } => Wire::TokenUsed { id: id.clone() },
        Event::BlackoutAdded { id, from, to, reason, service } => Wire::BlackoutAdded {
            id: *id,
            from: time(*from),
            to: time(*to),
            reason: reason.clone(),
            service: service.clone(),
        },
        Event::RiskAdded { id, category, risk, mitigation, owner } => Wire::RiskAdded {
            id: *id,
            category: category.clone(),
            risk: risk.clone(),
            mitigation: mitigation.clone(),
            owner: owner.clone(),
        },
        Event::ReleaseCreated(c) => Wire::ReleaseCreated {
            release: r(&c.release),
            service: c.service.clone(),
            version: c.version.clone(),
            release_type: c.release_type.clone(),
            title: c.title.clone(),
            window_start: time(c.window.start),
            window_end: c.window.end.map(time),
            touches: c.touches.clone(),
            incident: c.incident.clone(),
            profile_version: c.profile_version.clone(),
            profile_hash: c.profile_hash.clone(),
        },
        Event::Rescheduled { release, window } => Wire::Rescheduled {
            release: r(release),
            window_start: time(window.start),
            window_end: window.end.map(time),
        },
        Event::ScopeAdded { release, item } => Wire::ScopeAdded {
            release: r(release),
            kind: item.kind.clone(),
            reference: item.reference.clone(),
            rollback: item.rollback.clone(),
            reassessment: item.reassessment.clone(),
        },
        Event::ScopeLocked { release } => Wire::ScopeLocked { release: r(release) },
        Event::ScopeRemoved { release, kind, reference, because } => Wire::ScopeRemoved {
            release: r(release),
            kind: kind.clone(),
            reference: reference.clone(),
            because: because.clone(),
        },
        Event::Submitted { release } => Wire::Submitted { release: r(release) },
        Event::PlanRecorded { release, field, text } => {
            Wire::PlanRecorded { release: r(release), field: field.key().to_owned(), text: text.clone() }
        }
        Event::DocumentAttached { release, kind, name, sha256, bytes } => Wire::DocumentAttached {
            release: r(release),
            kind: kind.clone(),
            name: name.clone(),
            sha256: sha256.clone(),
            bytes: *bytes,
        },
        Event::TestResultRecorded { release, phase, passed, reference } => Wire::TestResultRecorded {
            release: r(release),
            phase: phase.clone(),
            passed: *passed,
            reference: reference.clone(),
        },
        Event::TestPhaseSkipped { release, phase, justification } => {
            Wire::TestPhaseSkipped { release: r(release), phase: phase.clone(), justification: justification.clone() }
        }
        Event::DefectRecorded { release, reference, severity, title } => Wire::DefectRecorded {
            release: r(release),
            reference: reference.clone(),
            severity: severity.key().to_owned(),
            title: title.clone(),
        },
        Event::DefectTriaged { release, reference, outcome, comment } => Wire::DefectTriaged {
            release: r(release),
            reference: reference.clone(),
            outcome: outcome.key().to_owned(),
            comment: comment.clone(),
        },
        Event::Confirmed { release, confirmation, comment } => {
            Wire::Confirmed { release: r(release), confirmation: confirmation.clone(), comment: comment.clone() }
        }
        Event::ApprovalRecorded { release, role, approve, comment } => Wire::ApprovalRecorded {
            release: r(release),
            role: role.clone(),
            approve: *approve,
            comment: comment.clone(),
        },
        Event::Overridden { release, criterion, justification, unmet } => Wire::Overridden {
            release: r(release),
            criterion: criterion.clone(),
            justification: justification.clone(),
            unmet: unmet.clone(),
        },
        Event::GoDecided { release, go, reason } => {
            Wire::GoDecided { release: r(release), go: *go, reason: reason.clone() }
        }
        Event::PhaseAdvanced { release, gate, from, to, criteria } => Wire::PhaseAdvanced {
            release: r(release),
            gate: gate.clone(),
            from: from.key().to_owned(),
            to: to.key().to_owned(),
            criteria: criteria
                .iter()
                .map(|c| WireCriterion { id: c.id.clone(), met: c.met, reason: c.reason.clone() })
                .collect(),
        },
        Event::DeploymentStarted { release, environment } => {
            Wire::DeploymentStarted { release: r(release), environment: environment.clone() }
        }
        Event::DeploymentFinished { release, environment, success } => {
            Wire::DeploymentFinished { release: r(release), environment: environment.clone(), success: *success }
        }
        Event::RolloutStarted { release, environment, plan, artefact, previous } => Wire::RolloutStarted {
            release: r(release),
            environment: environment.clone(),
            plan: ro::plan_to(plan),
            artefact: artefact.to_string(),
            previous: previous.as_ref().map(ToString::to_string),
        },
        Event::Rollout { release, fact } => rollout_to(r(release), fact),
        Event::RollbackStarted { release, reason } => {
            Wire::RollbackStarted { release: r(release), reason: reason.clone() }
        }
        Event::RollbackCompleted { release, seconds } => {
            Wire::RollbackCompleted { release: r(release), seconds: *seconds }
        }
        Event::IncidentRaised { release, reference, severity, summary, deployment, detected } => Wire::IncidentRaised {
            release: r(release),
            reference: reference.clone(),
            severity: severity.clone(),
            summary: summary.clone(),
            deployment: *deployment,
            detected: time(*detected),
        },
        Event::Withdrawn { release, reason } => Wire::Withdrawn { release: r(release), reason: reason.clone() },
        Event::ReleaseRegoverned { release, from, to, to_hash, reason, loosens } => Wire::ReleaseRegoverned {
            release: r(release),
            from: from.clone(),
            to: to.clone(),
            to_hash: to_hash.clone(),
            reason: reason.clone(),
            loosens: loosens.clone(),
        },
        Event::SourceRecorded { release, source } => {
            Wire::SourceRecorded { release: r(release), source: ev::source_to(source) }
        }
        Event::ArtefactRecorded { release, name, digest, verifications } => Wire::ArtefactRecorded {
            release: r(release),
            name: name.clone(),
            digest: digest.to_string(),
            verifications: verifications.iter().map(ev::verification_to).collect(),
        },
        Event::EvidenceRecorded { release, evidence } => {
            Wire::EvidenceRecorded { release: r(release), evidence: ev::evidence_to(evidence) }
        }
        Event::FindingTriaged { release, finding, acceptance } => Wire::FindingTriaged {
            release: r(release),
            finding: finding.clone(),
            acceptance: ev::acceptance_to(acceptance),
        },
        Event::NcRaised(nc) => Wire::NcRaised {
            id: nc.id,
            condition: nc.condition.clone(),
            release: nc.release.as_ref().map(r),
            service: nc.service.clone(),
            subject: nc.subject.clone(),
            detail: nc.detail.clone(),
            occurred: time(nc.occurred),
            due: time(nc.due),
            repeat: nc.repeat,
        },
        Event::EventsImported(i) => Wire::EventsImported {
            format: i.format.clone(),
            source: i.source.clone(),
            digest: i.digest.to_string(),
            lines: i.lines,
            imported: i.imported,
            duplicates: i.duplicates,
            skipped: i.skipped,
            rejected: i.rejected,
        },
        Event::NcClosed { id, corrective_action } => {
            Wire::NcClosed { id: *id, corrective_action: corrective_action.clone() }
        }
    };
    let ev = version(event.name());
    let envelope = Envelope {
        v: VERSION,
        sandbox,
        at: time(fact.at),
        actor: fact.actor.clone(),
        profile: profile_version.to_owned(),
        late: late_reason.map(str::to_owned),
        ev: (ev > 1).then_some(ev),
        event,
    };
    serde_json::to_vec(&envelope).expect("wire types always serialise")
}

/// A decoded fact, the profile version it was recorded under, why it was recorded late, and
/// whether it is marked as a sandbox's.
pub struct Decoded {
    pub fact: Fact,
    pub profile_version: String,
    pub late_reason: Option<String>,
    pub sandbox: bool,
}

/// Reads a fact back. Errors name the event type, the version it was written at and the field.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    // Nearly every fact is at its type's current version: read it straight into the wire
    // types. Anything else (an older version, or a document that does not read) goes the slow
    // way, which upcasts, or says exactly what is wrong.
    let (envelope, written) = match serde_json::from_slice::<Envelope>(bytes) {
        Ok(e) if e.v == VERSION && e.ev.unwrap_or(1) == version(e.event.name()) => {
            let written = e.ev.unwrap_or(1);
            (e, written)
        }
        _ => upcast(bytes)?,
    };
    let name = envelope.event.name();
    from_wire(envelope).map_err(|e| DecodeError(format!("{name} v{written}: {}", e.0)))
}

/// The envelope of an event at any version, its data upcast to the current version, and the
/// version it was written at.
fn upcast(bytes: &[u8]) -> Result<(Envelope, u32), DecodeError> {
    let fail = |m: String| DecodeError(m);
    let mut doc: Value = serde_json::from_slice(bytes).map_err(|e| fail(format!("not a Tollgate event: {e}")))?;
    match doc.get("v").and_then(Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(fail(format!("envelope version {v} is newer than this Tollgate understands ({VERSION})")));
        }
        None => return Err(fail("not a Tollgate event: no envelope version `v`".into())),
    }
    let Some(kind) = doc.pointer("/event/type").and_then(Value::as_str) else {
        return Err(fail("not a Tollgate event: no `event.type`".into()));
    };
    let Some(kind) = event_types().iter().copied().find(|t| *t == kind) else {
        return Err(fail(format!("unknown event type `{kind}`")));
    };
    let written = match doc.get("ev") {
        None => 1,
        Some(ev) => ev
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| fail(format!("{kind}: `ev` must be a version number from 1, not {ev}")))?,
    };
    let current = version(kind);
    if written > current {
        return Err(fail(format!("{kind} v{written} is newer than this Tollgate understands (v{current})")));
    }
    let event = doc.get_mut("event").expect("has a type");
    for (n, up) in (written..).zip(&upcasters(kind)[written as usize - 1..]) {
        let data = event.get_mut("data").map(Value::take).unwrap_or(Value::Null);
        let data = up(data).map_err(|e| fail(format!("{kind} v{written}: upcasting v{n} to v{}: {e}", n + 1)))?;
        event["data"] = data;
    }
    doc["ev"] = Value::from(current);
    // Read from text rather than the value, so that serde_json says where in the data it
    // stopped; the type goes first, as `encode` writes it, so that the data is read as it
    // comes rather than buffered and judged at its end. Serde names a missing or unknown field
    // or variant; `from_wire` names the field of a value it cannot read.
    let data = doc.get_mut("event").and_then(|e| e.get_mut("data")).map(Value::take).unwrap_or(Value::Null);
    doc.as_object_mut().expect("has a version").remove("event");
    let head = doc.to_string();
    let text = format!(r#"{},"event":{{"type":{},"data":{data}}}}}"#, &head[..head.len() - 1], Value::from(kind));
    let envelope: Envelope = serde_json::from_str(&text).map_err(|e| fail(format!("{kind} v{written}: {e}")))?;
    Ok((envelope, written))
}

fn from_wire(envelope: Envelope) -> Result<Decoded, DecodeError> {
    let at = parse_time("at", &envelope.at)?;
    let event = match envelope.event {
        Wire::SandboxOpened {} => Event::SandboxOpened,
        Wire::SandboxClockAdvanced { by_seconds, offset_seconds } => Event::SandboxClockAdvanced {
            by: chrono::Duration::try_seconds(by_seconds)
                .ok_or_else(|| DecodeError(format!("by_seconds: {by_seconds} is out of range")))?,
            offset: chrono::Duration::try_seconds(offset_seconds)
                .ok_or_else(|| DecodeError(format!("offset_seconds: {offset_seconds} is out of range")))?,
        },
        Wire::ProfileAdopted { id, version, hash, reason, sources } => {
            Event::ProfileAdopted(profile_from(&id, &version, &hash, reason, sources)?)
        }
        Wire::ProfileProposed { id, version, hash, reason, sources, loosens } => {
            Event::ProfileProposed { profile: profile_from(&id, &version, &hash, reason, sources)?, loosens }
        }
        Wire::ProfileReviewed { id, version, approve, comment } => {
            Event::ProfileReviewed { id, version, approve, comment }
        }
        Wire::PersonAdded { name, roles } => Event::PersonAdded { name, roles },
        Wire::RolesGranted { name, roles } => Event::RolesGranted { name, roles },
        Wire::GrantProposed { name, roles } => Event::GrantProposed { name, roles },
        Wire::RolesRevoked { name, roles } => Event::RolesRevoked { name, roles },
        Wire::TokenCreated { id, person, sha256, expires } => {
            Event::TokenCreated { id, person, sha256, expires: expires.map(|e| parse_time("expires", &e)).transpose()? }
        }
        Wire::TokenRevoked { id, reason } => Event::TokenRevoked { id, reason },
        Wire::TokenUsed { id } => Event::TokenUsed { id },
        Wire::BlackoutAdded { id, from, to, reason, service } => {
            Event::BlackoutAdded { id, from: parse_time("from", &from)?, to: parse_time("to", &to)?, reason, service }
        }
        Wire::RiskAdded { id, category, risk, mitigation, owner } => {
            Event::RiskAdded { id, category, risk, mitigation, owner }
        }
        Wire::ReleaseCreated {
            release,
            service,
            version,
            release_type,
            title,
            window_start,
            window_end,
            touches,
            incident,
            profile_version,
            profile_hash,
        } => Event::ReleaseCreated(ReleaseCreated {
            release: parse_release(&release)?,
            service,
            version,
            release_type,
            title,
            window: Window {
                start: parse_time("window_start", &window_start)?,
                end: window_end.map(|e| parse_time("window_end", &e)).transpose()?,
            },
            touches,
            incident,
            profile_version,
            profile_hash,
        }),
        Wire::Rescheduled { release, window_start, window_end } => Event::Rescheduled {
            release: parse_release(&release)?,
            window: Window {
                start: parse_time("window_start", &window_start)?,
                end: window_end.map(|e| parse_time("window_end", &e)).transpose()?,
            },
        },
        Wire::ScopeAdded { release, kind, reference, rollback, reassessment } => Event::ScopeAdded {
            release: parse_release(&release)?,
            item: ScopeItem { kind, reference, rollback, reassessment },
        },
        Wire::ScopeLocked { release } => Event::ScopeLocked { release: parse_release(&release)? },
        Wire::ScopeRemoved { release, kind, reference, because } => {
            Event::ScopeRemoved { release: parse_release(&release)?, kind, reference, because }
        }
        Wire::Submitted { release } => Event::Submitted { release: parse_release(&release)? },
        Wire::PlanRecorded { release, field, text } => Event::PlanRecorded {
            release: parse_release(&release)?,
            field: key("plan field", &field, PlanField::from_key)?,
            text,
        },
        Wire::DocumentAttached { release, kind, name, sha256, bytes } => {
            Event::DocumentAttached { release: parse_release(&release)?, kind, name, sha256, bytes }
        }
        Wire::TestResultRecorded { release, phase, passed, reference } => {
            Event::TestResultRecorded { release: parse_release(&release)?, phase, passed, reference }
        }
        Wire::TestPhaseSkipped { release, phase, justification } => {
            Event::TestPhaseSkipped { release: parse_release(&release)?, phase, justification }
        }
        Wire::DefectRecorded { release, reference, severity, title } => Event::DefectRecorded {
            release: parse_release(&release)?,
            reference,
            severity: key("severity", &severity, Severity::from_key)?,
            title,
        },
        Wire::DefectTriaged { release, reference, outcome, comment } => Event::DefectTriaged {
            release: parse_release(&release)?,
            reference,
            outcome: key("triage outcome", &outcome, Triage::from_key)?,
            comment,
        },
        Wire::Confirmed { release, confirmation, comment } => {
            Event::Confirmed { release: parse_release(&release)?, confirmation, comment }
        }
        Wire::ApprovalRecorded { release, role, approve, comment } => {
            Event::ApprovalRecorded { release: parse_release(&release)?, role, approve, comment }
        }
        Wire::Overridden { release, criterion, justification, unmet } => {
            Event::Overridden { release: parse_release(&release)?, criterion, justification, unmet }
        }
        Wire::GoDecided { release, go, reason } => Event::GoDecided { release: parse_release(&release)?, go, reason },
        Wire::PhaseAdvanced { release, gate, from, to, criteria } => Event::PhaseAdvanced {
            release: parse_release(&release)?,
            gate,
            from: key("phase", &from, Phase::from_key)?,
            to: key("phase", &to, Phase::from_key)?,
            criteria: criteria
                .into_iter()
                .map(|c| CriterionSnapshot { id: c.id, met: c.met, reason: c.reason })
                .collect(),
        },
        Wire::DeploymentStarted { release, environment } => {
            Event::DeploymentStarted { release: parse_release(&release)?, environment }
        }
        Wire::DeploymentFinished { release, environment, success } => {
            Event::DeploymentFinished { release: parse_release(&release)?, environment, success }
        }
        Wire::RolloutStarted { release, environment, plan, artefact, previous } => Event::RolloutStarted {
            release: parse_release(&release)?,
            environment,
            plan: ro::plan_from(plan)?,
            artefact: ev::digest(&artefact)?,
            previous: previous.as_deref().map(ev::digest).transpose()?,
        },
        Wire::RolloutShifted { release, stage, weight } => rollout(&release, RolloutFact::Shifted { stage, weight })?,
        Wire::RolloutMeasured { release, measurement } => {
            rollout(&release, RolloutFact::Measured(ro::measurement_from(measurement)?))?
        }
        Wire::RolloutSmokeChecked { release, check } => {
            rollout(&release, RolloutFact::SmokeChecked(ro::smoke_from(check)))?
        }
        Wire::RolloutStagePassed { release, stage } => rollout(&release, RolloutFact::StagePassed { stage })?,
        Wire::RolloutPaused { release, reason } => rollout(&release, RolloutFact::Paused { reason })?,
        Wire::RolloutResumed { release } => rollout(&release, RolloutFact::Resumed)?,
        Wire::RolloutOneWayApproved { release, stage } => rollout(&release, RolloutFact::OneWayApproved { stage })?,
        Wire::RolloutRolledForward { release, reason } => rollout(&release, RolloutFact::RolledForward { reason })?,
        Wire::RolloutCompleted { release } => rollout(&release, RolloutFact::Completed)?,
        Wire::RolloutTrafficRestored { release } => rollout(&release, RolloutFact::TrafficRestored)?,
        Wire::RolloutIncident { release, reference, severity, summary, raised } => rollout(
            &release,
            RolloutFact::Incident { reference, severity, summary, raised: parse_time("raised", &raised)? },
        )?,
        Wire::RollbackStarted { release, reason } => {
            Event::RollbackStarted { release: parse_release(&release)?, reason }
        }
        Wire::RollbackCompleted { release, seconds } => {
            Event::RollbackCompleted { release: parse_release(&release)?, seconds }
        }
        Wire::IncidentRaised { release, reference, severity, summary, deployment, detected } => Event::IncidentRaised {
            release: parse_release(&release)?,
            reference,
            severity,
            summary,
            deployment,
            detected: parse_time("detected", &detected)?,
        },
        Wire::Withdrawn { release, reason } => Event::Withdrawn { release: parse_release(&release)?, reason },
        Wire::ReleaseRegoverned { release, from, to, to_hash, reason, loosens } => {
            Event::ReleaseRegoverned { release: parse_release(&release)?, from, to, to_hash, reason, loosens }
        }
        Wire::SourceRecorded { release, source } => {
            Event::SourceRecorded { release: parse_release(&release)?, source: ev::source_from(source) }
        }
        Wire::ArtefactRecorded { release, name, digest, verifications } => Event::ArtefactRecorded {
            release: parse_release(&release)?,
            name,
            digest: ev::digest(&digest)?,
            verifications: verifications.into_iter().map(ev::verification_from).collect::<Result<_, _>>()?,
        },
        Wire::EvidenceRecorded { release, evidence } => Event::EvidenceRecorded {
            release: parse_release(&release)?,
            evidence: Box::new(ev::evidence_from(evidence)?),
        },
        Wire::FindingTriaged { release, finding, acceptance } => Event::FindingTriaged {
            release: parse_release(&release)?,
            finding,
            acceptance: ev::acceptance_from(acceptance)?,
        },
        Wire::NcRaised { id, condition, release, service, subject, detail, occurred, due, repeat } => {
            Event::NcRaised(NcRaised {
                id,
                condition,
                release: release.map(|r| parse_release(&r)).transpose()?,
                service,
                subject,
                detail,
                occurred: parse_time("occurred", &occurred)?,
                due: parse_time("due", &due)?,
                repeat,
            })
        }
        Wire::NcClosed { id, corrective_action } => Event::NcClosed { id, corrective_action },
        Wire::EventsImported { format, source, digest, lines, imported, duplicates, skipped, rejected } => {
            Event::EventsImported(tollgate_domain::event::ImportRecord {
                format,
                source,
                digest: ev::digest(&digest)?,
                lines,
                imported,
                duplicates,
                skipped,
                rejected,
            })
        }
    };
    Ok(Decoded {
        fact: Fact { at, actor: envelope.actor, event },
        profile_version: envelope.profile,
        late_reason: envelope.late,
        sandbox: envelope.sandbox,
    })
}

/// The event's type name as written in the log, for listings.
pub fn type_name(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct Head {
        event: Kind,
    }
    serde_json::from_slice::<Head>(bytes).ok().map(|h| h.event.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Wire::name` is written by hand beside serde's renames: it must agree with them for
    /// every type (every type has a golden file, `tests/golden.rs` checks that).
    #[test]
    fn every_variant_is_named_as_serde_writes_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        let mut seen = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let envelope: Envelope = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(Some(envelope.event.name()), type_name(&bytes).as_deref(), "{}", path.display());
            seen.insert(envelope.event.name());
        }
        assert_eq!(seen.len(), event_types().len());
    }

    #[test]
    fn every_upcast_type_exists_and_is_listed_once() {
        for (i, (kind, ups)) in UPCASTERS.iter().enumerate() {
            assert!(event_types().contains(kind), "{kind}");
            assert!(!ups.is_empty(), "{kind}");
            assert!(UPCASTERS[..i].iter().all(|(k, _)| k != kind), "{kind} twice");
        }
    }

    fn error(json: &str) -> String {
        decode(json.as_bytes()).err().unwrap().0
    }

    #[test]
    fn decoding_errors_name_the_type_the_version_and_the_field() {
        let head = r#"{"v":1,"at":"2026-11-02T09:00:00Z","actor":"rita","profile":"1""#;
        assert!(
            error(&format!(r#"{head},"event":{{"type":"release.overridden","data":{{"release":"R-1","criterion":"c","justification":"j"}}}}}}"#))
                .starts_with("release.overridden v1: missing field `unmet` at line 1 column ")
        );
        assert_eq!(
            error(&format!(
                r#"{head},"event":{{"type":"release.phase_advanced","data":{{"release":"R-1","gate":"g","from":"testing","to":"nowhere","criteria":[]}}}}}}"#
            )),
            "release.phase_advanced v1: unknown phase `nowhere`"
        );
        assert_eq!(
            error(&format!(r#"{head},"ev":3,"event":{{"type":"release.evidence_recorded","data":{{}}}}}}"#)),
            "release.evidence_recorded v3 is newer than this Tollgate understands (v2)"
        );
        assert_eq!(
            error(&format!(
                r#"{head},"ev":1,"event":{{"type":"release.evidence_recorded","data":{{"release":"R-1"}}}}}}"#
            )),
            "release.evidence_recorded v1: upcasting v1 to v2: no `evidence.report`"
        );
        assert_eq!(
            error(&format!(r#"{head},"ev":2,"event":{{"type":"release.submitted","data":{{"release":"R-1"}}}}}}"#)),
            "release.submitted v2 is newer than this Tollgate understands (v1)"
        );
        assert_eq!(
            error(&format!(r#"{head},"event":{{"type":"release.teleported","data":{{}}}}}}"#)),
            "unknown event type `release.teleported`"
        );
        assert!(error(r#"{"v":2}"#).starts_with("envelope version 2 is newer"));
        let golden = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/release.evidence_recorded--scan.json"),
        )
        .unwrap();
        let bad = error(&golden.replace(r#""rating":"high""#, r#""rating":7"#));
        assert!(bad.starts_with("release.evidence_recorded v2: invalid type: integer `7`, expected a string"), "{bad}");
        let bad = error(&golden.replace(r#""kind":"vulns""#, r#""kind":"vibes""#));
        assert_eq!(bad, "release.evidence_recorded v2: unknown evidence kind `vibes`");
    }
}
