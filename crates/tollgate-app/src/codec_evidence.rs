//! The wire form of evidence, artefact checks and triage: what `codec` writes for the
//! `release.artefact_recorded`, `release.evidence_recorded` and `release.finding_triaged`
//! facts. Converted by hand like the rest of the log's format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_domain::evidence::{
    Digest, EvidenceKind, FailedTest, Finding, PerfMetric, PerfReport, PlanItem, PlanReport, Rating, Report,
    SbomReport, ScanReport, ScanSubject, SuiteCounts, TestCounts, TestReport, Verification,
};
use tollgate_domain::release::{Acceptance, EvidenceRecord, FindingKind, Source, TriageOutcome};

use crate::codec::{DecodeError, parse_time, time};

#[derive(Serialize, Deserialize)]
pub struct WireSource {
    repository: String,
    tag: String,
    commit: String,
}

pub fn source_to(s: &Source) -> WireSource {
    WireSource { repository: s.repository.clone(), tag: s.tag.clone(), commit: s.commit.clone() }
}

pub fn source_from(w: WireSource) -> Source {
    Source { repository: w.repository, tag: w.tag, commit: w.commit }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireVerification {
    Signature {
        algorithm: String,
        key: String,
    },
    Bundle {
        media_type: String,
        identity: Option<String>,
        issuer: Option<String>,
        key: Option<String>,
        trusted_root: String,
        signed_at: Option<String>,
    },
    Provenance {
        builder: String,
        build_type: String,
        repository: String,
        git_ref: String,
        commit: String,
        key: String,
    },
}

pub fn verification_to(v: &Verification) -> WireVerification {
    match v {
        Verification::KeySignature { algorithm, key } => {
            WireVerification::Signature { algorithm: algorithm.clone(), key: key.to_string() }
        }
        Verification::Bundle { media_type, identity, issuer, key, trusted_root, signed_at } => {
            WireVerification::Bundle {
                media_type: media_type.clone(),
                identity: identity.clone(),
                issuer: issuer.clone(),
                key: key.as_ref().map(Digest::to_string),
                trusted_root: trusted_root.to_string(),
                signed_at: signed_at.map(time),
            }
        }
        Verification::Provenance { builder, build_type, repository, git_ref, commit, key } => {
            WireVerification::Provenance {
                builder: builder.clone(),
                build_type: build_type.clone(),
                repository: repository.clone(),
                git_ref: git_ref.clone(),
                commit: commit.clone(),
                key: key.to_string(),
            }
        }
    }
}

pub fn digest(s: &str) -> Result<Digest, DecodeError> {
    Digest::parse(s).map_err(DecodeError)
}

pub fn verification_from(w: WireVerification) -> Result<Verification, DecodeError> {
    Ok(match w {
        WireVerification::Signature { algorithm, key } => Verification::KeySignature { algorithm, key: digest(&key)? },
        WireVerification::Bundle { media_type, identity, issuer, key, trusted_root, signed_at } => {
            Verification::Bundle {
                media_type,
                identity,
                issuer,
                key: key.as_deref().map(digest).transpose()?,
                trusted_root: digest(&trusted_root)?,
                signed_at: signed_at.as_deref().map(|t| parse_time("signed_at", t)).transpose()?,
            }
        }
        WireVerification::Provenance { builder, build_type, repository, git_ref, commit, key } => {
            Verification::Provenance { builder, build_type, repository, git_ref, commit, key: digest(&key)? }
        }
    })
}

#[derive(Serialize, Deserialize)]
pub struct WireEvidence {
    phase: String,
    kind: String,
    artefact: String,
    file: String,
    file_digest: String,
    bytes: u64,
    report: WireReport,
    /// Added without a version bump: absent when there is none, so every earlier fact reads
    /// and re-encodes to the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rerun_reason: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
enum WireReport {
    Tests {
        suites: Vec<WireSuite>,
        totals: [u64; 4],
        failed: Vec<WireFailed>,
    },
    Scan {
        tool: String,
        open: BTreeMap<String, u64>,
        excluded: BTreeMap<String, u64>,
        findings: Vec<WireFinding>,
        /// Written always since `release.evidence_recorded` v2; see [`evidence_v1_to_v2`].
        cleared: Vec<String>,
        subjects: Vec<WireSubject>,
    },
    Sbom {
        format_name: String,
        subject: Option<String>,
        describes: Vec<String>,
        components: u64,
        with_purl: u64,
        with_hashes: u64,
    },
    Plan {
        terraform_version: String,
        changes: BTreeMap<String, u64>,
        drift: Vec<[String; 3]>,
        changed: Vec<[String; 3]>,
    },
    Perf {
        metrics: Vec<WireMetric>,
    },
}

/// What a scan names: `{"digest":"sha256:..."}` or `{"commit":"...","repository":"..."}`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum WireSubject {
    Digest {
        digest: String,
    },
    Commit {
        commit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repository: Option<String>,
    },
}

fn subject_to(s: &ScanSubject) -> WireSubject {
    match s {
        ScanSubject::Digest(d) => WireSubject::Digest { digest: d.to_string() },
        ScanSubject::Commit { repository, commit } => {
            WireSubject::Commit { commit: commit.clone(), repository: repository.clone() }
        }
    }
}

fn subject_from(w: WireSubject) -> Result<ScanSubject, DecodeError> {
    Ok(match w {
        WireSubject::Digest { digest: d } => ScanSubject::Digest(digest(&d)?),
        WireSubject::Commit { commit, repository } => ScanSubject::Commit { repository, commit },
    })
}

/// `[tests, failures, errors, skipped]`: suites can be many, so counts are compact.
#[derive(Serialize, Deserialize)]
struct WireSuite {
    name: String,
    counts: [u64; 4],
}

#[derive(Serialize, Deserialize)]
struct WireFailed {
    suite: String,
    name: String,
    error: bool,
    message: String,
}

#[derive(Serialize, Deserialize)]
struct WireFinding {
    id: String,
    rating: String,
    score: Option<f64>,
    component: Option<String>,
    location: Option<String>,
    title: String,
}

#[derive(Serialize, Deserialize)]
struct WireMetric {
    name: String,
    unit: Option<String>,
    baseline: f64,
    value: f64,
    higher_is_better: bool,
    slo: bool,
}

fn counts_to(c: &TestCounts) -> [u64; 4] {
    [c.tests, c.failures, c.errors, c.skipped]
}

fn counts_from(c: [u64; 4]) -> TestCounts {
    TestCounts { tests: c[0], failures: c[1], errors: c[2], skipped: c[3] }
}

fn item_to(i: &PlanItem) -> [String; 3] {
    [i.address.clone(), i.resource_type.clone(), i.action.clone()]
}

fn item_from([address, resource_type, action]: [String; 3]) -> PlanItem {
    PlanItem { address, resource_type, action }
}

pub fn evidence_to(e: &EvidenceRecord) -> WireEvidence {
    let report = match &e.report {
        Report::Tests(t) => WireReport::Tests {
            suites: t.suites.iter().map(|s| WireSuite { name: s.name.clone(), counts: counts_to(&s.counts) }).collect(),
            totals: counts_to(&t.totals),
            failed: t
                .failed
                .iter()
                .map(|f| WireFailed {
                    suite: f.suite.clone(),
                    name: f.name.clone(),
                    error: f.error,
                    message: f.message.clone(),
                })
                .collect(),
        },
        Report::Scan(s) => WireReport::Scan {
            cleared: s.cleared.clone(),
            subjects: s.subjects.iter().map(subject_to).collect(),
            tool: s.tool.clone(),
            open: s.open.iter().map(|(r, n)| (r.key().to_owned(), *n)).collect(),
            excluded: s.excluded.clone(),
            findings: s
                .findings
                .iter()
                .map(|f| WireFinding {
                    id: f.id.clone(),
                    rating: f.rating.key().to_owned(),
                    score: f.score,
                    component: f.component.clone(),
                    location: f.location.clone(),
                    title: f.title.clone(),
                })
                .collect(),
        },
        Report::Sbom(b) => WireReport::Sbom {
            format_name: b.format.clone(),
            subject: b.subject.clone(),
            describes: b.describes.iter().map(Digest::to_string).collect(),
            components: b.components,
            with_purl: b.with_purl,
            with_hashes: b.with_hashes,
        },
        Report::Plan(p) => WireReport::Plan {
            terraform_version: p.terraform_version.clone(),
            changes: p.changes.clone(),
            drift: p.drift.iter().map(item_to).collect(),
            changed: p.changed.iter().map(item_to).collect(),
        },
        Report::Perf(p) => WireReport::Perf {
            metrics: p
                .metrics
                .iter()
                .map(|m| WireMetric {
                    name: m.name.clone(),
                    unit: m.unit.clone(),
                    baseline: m.baseline,
                    value: m.value,
                    higher_is_better: m.higher_is_better,
                    slo: m.slo,
                })
                .collect(),
        },
    };
    WireEvidence {
        phase: e.phase.clone(),
        kind: e.kind.key().to_owned(),
        artefact: e.artefact.to_string(),
        file: e.file.clone(),
        file_digest: e.file_digest.to_string(),
        bytes: e.bytes,
        report,
        rerun_reason: e.rerun_reason.clone(),
    }
}

fn rating(s: &str) -> Result<Rating, DecodeError> {
    Rating::from_key(s).ok_or_else(|| DecodeError(format!("unknown rating `{s}`")))
}

pub fn evidence_from(w: WireEvidence) -> Result<EvidenceRecord, DecodeError> {
    let report = match w.report {
        WireReport::Tests { suites, totals, failed } => Report::Tests(TestReport {
            suites: suites.into_iter().map(|s| SuiteCounts { name: s.name, counts: counts_from(s.counts) }).collect(),
            totals: counts_from(totals),
            failed: failed
                .into_iter()
                .map(|f| FailedTest { suite: f.suite, name: f.name, error: f.error, message: f.message })
                .collect(),
        }),
        WireReport::Scan { tool, open, excluded, findings, cleared, subjects } => Report::Scan(ScanReport {
            cleared,
            subjects: subjects.into_iter().map(subject_from).collect::<Result<_, _>>()?,
            tool,
            open: open.iter().map(|(r, n)| Ok((rating(r)?, *n))).collect::<Result<_, DecodeError>>()?,
            excluded,
            findings: findings
                .into_iter()
                .map(|f| {
                    Ok(Finding {
                        rating: rating(&f.rating)?,
                        id: f.id,
                        score: f.score,
                        component: f.component,
                        location: f.location,
                        title: f.title,
                    })
                })
                .collect::<Result<_, DecodeError>>()?,
        }),
        WireReport::Sbom { format_name, subject, describes, components, with_purl, with_hashes } => {
            Report::Sbom(SbomReport {
                format: format_name,
                subject,
                describes: describes.iter().map(|d| digest(d)).collect::<Result<_, _>>()?,
                components,
                with_purl,
                with_hashes,
            })
        }
        WireReport::Plan { terraform_version, changes, drift, changed } => Report::Plan(PlanReport {
            terraform_version,
            changes,
            drift: drift.into_iter().map(item_from).collect(),
            changed: changed.into_iter().map(item_from).collect(),
        }),
        WireReport::Perf { metrics } => Report::Perf(PerfReport {
            metrics: metrics
                .into_iter()
                .map(|m| PerfMetric {
                    name: m.name,
                    unit: m.unit,
                    baseline: m.baseline,
                    value: m.value,
                    higher_is_better: m.higher_is_better,
                    slo: m.slo,
                })
                .collect(),
        }),
    };
    Ok(EvidenceRecord {
        phase: w.phase,
        kind: EvidenceKind::from_key(&w.kind)
            .ok_or_else(|| DecodeError(format!("unknown evidence kind `{}`", w.kind)))?,
        artefact: digest(&w.artefact)?,
        file: w.file,
        file_digest: digest(&w.file_digest)?,
        bytes: w.bytes,
        report,
        rerun_reason: w.rerun_reason,
    })
}

/// `release.evidence_recorded` v1 to v2. Version 1 left a scan's `cleared` and `subjects` out
/// when empty, and scans recorded before either existed have neither: absent means none, so a
/// scan from before subjects were read names nothing (it no longer counts, see
/// docs/evidence-formats.md; replay applies it unchanged). Version 2 writes both always.
pub fn evidence_v1_to_v2(mut data: Value) -> Result<Value, String> {
    let report = data.pointer_mut("/evidence/report").ok_or("no `evidence.report`")?;
    if report.get("format").and_then(Value::as_str) == Some("scan") {
        let report = report.as_object_mut().ok_or("`evidence.report` is not an object")?;
        report.entry("cleared").or_insert_with(|| Value::Array(Vec::new()));
        report.entry("subjects").or_insert_with(|| Value::Array(Vec::new()));
    }
    Ok(data)
}

#[derive(Serialize, Deserialize)]
pub struct WireAcceptance {
    kind: String,
    outcome: String,
    until: String,
    comment: String,
}

pub fn acceptance_to(a: &Acceptance) -> WireAcceptance {
    WireAcceptance {
        kind: a.kind.key().to_owned(),
        outcome: a.outcome.key().to_owned(),
        until: time(a.until),
        comment: a.comment.clone(),
    }
}

pub fn acceptance_from(w: WireAcceptance) -> Result<Acceptance, DecodeError> {
    Ok(Acceptance {
        kind: FindingKind::from_key(&w.kind)
            .ok_or_else(|| DecodeError(format!("unknown finding kind `{}`", w.kind)))?,
        outcome: TriageOutcome::from_key(&w.outcome)
            .ok_or_else(|| DecodeError(format!("unknown triage outcome `{}`", w.outcome)))?,
        until: parse_time("until", &w.until)?,
        comment: w.comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan recorded before `cleared` and `subjects` existed (`release.evidence_recorded` v1).
    const OLD_SCAN: &str = r#"{"release":"R-1","evidence":{"phase":"security-scan","kind":"vulns","artefact":"sha256:0101010101010101010101010101010101010101010101010101010101010101",
        "file":"grype.json","file_digest":"sha256:0202020202020202020202020202020202020202020202020202020202020202","bytes":10,
        "report":{"format":"scan","tool":"grype 0.74.0","open":{},"excluded":{},"findings":[]}}}"#;

    fn upcast_old_scan() -> EvidenceRecord {
        let data = evidence_v1_to_v2(serde_json::from_str(OLD_SCAN).unwrap()).unwrap();
        evidence_from(serde_json::from_value(data["evidence"].clone()).unwrap()).unwrap()
    }

    #[test]
    fn a_scan_written_before_subjects_is_upcast_to_naming_nothing() {
        let e = upcast_old_scan();
        let Report::Scan(s) = &e.report else { panic!("{e:?}") };
        assert!(s.subjects.is_empty() && s.cleared.is_empty());
        let again = serde_json::to_value(evidence_to(&e)).unwrap();
        assert_eq!(again["report"]["subjects"], serde_json::json!([]));
        // Version 2 refuses a scan without them rather than reading it as naming nothing.
        let v1: serde_json::Value = serde_json::from_str(OLD_SCAN).unwrap();
        assert!(serde_json::from_value::<WireEvidence>(v1["evidence"].clone()).is_err());
    }

    #[test]
    fn the_upcaster_leaves_other_reports_and_present_fields_alone() {
        let tests = serde_json::json!({"evidence": {"report": {"format": "tests", "totals": [1, 0, 0, 0]}}});
        assert_eq!(evidence_v1_to_v2(tests.clone()).unwrap(), tests);
        let scan = serde_json::json!({"evidence": {"report": {"format": "scan", "cleared": ["CVE-1"], "subjects": [{"digest": "d"}]}}});
        assert_eq!(evidence_v1_to_v2(scan.clone()).unwrap(), scan);
        assert_eq!(evidence_v1_to_v2(serde_json::json!({"release": "R-1"})).unwrap_err(), "no `evidence.report`");
    }

    #[test]
    fn scan_subjects_round_trip() {
        let mut e = upcast_old_scan();
        let Report::Scan(s) = &mut e.report else { panic!() };
        s.subjects = vec![
            ScanSubject::Digest(Digest::from_sha256([3; 32])),
            ScanSubject::Commit {
                repository: Some("https://github.com/acme/payments".into()),
                commit: "ab".repeat(20),
            },
            ScanSubject::Commit { repository: None, commit: "cd".repeat(20) },
        ];
        let json = serde_json::to_string(&evidence_to(&e)).unwrap();
        let back = evidence_from(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
