//! Judging evidence against the procedure's exit criteria (4.3):
//! - Unit, integration, system, regression: "100% pass rate" — any failed or errored test, or
//!   a report with no tests at all, fails the phase.
//! - Security scan: "Zero Critical open findings; High findings triaged with accepted risk or
//!   remediation plan" — a Critical blocks outright; a High (or a finding of Unknown severity,
//!   which is never taken for harmless) needs a triage that has not expired.
//! - Performance: "no regression from baseline" — 4.4.3 "Regressions above 10% on any defined
//!   SLO require triage".
//! - Infrastructure: "Zero configuration drift" — critical drift (profile rules; by default any
//!   delete or replace) shuts the gate until resolved by a new plan or accepted.
//!
//! Evidence only counts against the release's current artefact digests; judgements are made at
//! `now`, so an acceptance that expires shuts the gate again without anyone recording anything.

use crate::evidence::{EvidenceKind, Finding, PlanItem, Rating, Report, ScanReport, TestReport};
use crate::gate::when;
use crate::policy::{Policy, Severity, TestPhaseDef};
use crate::release::{EvidenceRecord, FindingKind, Release};
use crate::time::Timestamp;

/// Every reason one evidence file fails its phase; empty when it passes.
pub fn problems(policy: &Policy, r: &Release, e: &EvidenceRecord, now: Timestamp) -> Vec<String> {
    match &e.report {
        Report::Tests(t) => tests(t),
        Report::Scan(s) => scan(policy, r, s, now),
        Report::Sbom(_) => Vec::new(),
        Report::Plan(p) => p
            .drift
            .iter()
            .filter(|d| critical_drift(policy, d))
            .filter_map(|d| {
                let what = format!("{} was {} outside Terraform (critical drift)", d.address, past(&d.action));
                untriaged(r, &d.address, &what, now)
            })
            .collect(),
        Report::Perf(p) => p
            .metrics
            .iter()
            .filter(|m| m.slo && m.regression() > policy.evidence.performance_regression)
            .filter_map(|m| {
                let what = format!(
                    "{} regressed {:.1}% from the baseline {} to {}{} (threshold {:.0}%)",
                    m.name,
                    m.regression() * 100.0,
                    m.baseline,
                    m.value,
                    m.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default(),
                    policy.evidence.performance_regression * 100.0
                );
                untriaged(r, &m.name, &what, now)
            })
            .collect(),
    }
}

pub fn critical_drift(policy: &Policy, item: &PlanItem) -> bool {
    policy.evidence.critical_drift.iter().any(|rule| rule.matches(&item.resource_type, &item.action))
}

fn past(action: &str) -> String {
    match action {
        "create" => "created".into(),
        "update" => "updated".into(),
        "delete" => "deleted".into(),
        "replace" => "replaced".into(),
        "read" => "read".into(),
        other => format!("changed ({other})"),
    }
}

fn tests(t: &TestReport) -> Vec<String> {
    let c = &t.totals;
    if c.tests == 0 {
        return vec!["the report holds no tests; an empty run is not a pass".into()];
    }
    let failed = c.failures + c.errors;
    if failed == 0 {
        return Vec::new();
    }
    let named: Vec<String> = t
        .failed
        .iter()
        .take(5)
        .map(|f| {
            let what = if f.error { "error" } else { "failed" };
            if f.message.is_empty() {
                format!("{} ({what})", f.name)
            } else {
                format!("{} ({what}: {})", f.name, f.message)
            }
        })
        .collect();
    let more = if failed as usize > named.len() {
        format!(" and {} more", failed as usize - named.len())
    } else {
        String::new()
    };
    vec![format!("{failed} of {} tests did not pass (100% required): {}{more}", c.tests, named.join("; "))]
}

fn scan(policy: &Policy, r: &Release, s: &ScanReport, now: Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    for f in s.findings.iter().filter(|f| f.rating == Rating::Critical) {
        out.push(format!("{} blocks the release: only a fix, or a VEX statement `not_affected` with a justification, clears a Critical", describe(f)));
    }
    let acceptable = policy.max_accepted_risk >= Severity::High;
    for f in s.findings.iter().filter(|f| f.rating.needs_triage()) {
        if !acceptable {
            out.push(format!(
                "{} blocks the release: the profile accepts no risk above {}",
                describe(f),
                policy.max_accepted_risk.key()
            ));
        } else if let Some(problem) = untriaged(r, &f.id, &describe(f), now) {
            out.push(problem);
        }
    }
    let listed = |rating| s.findings.iter().filter(|f| f.rating == rating).count() as u64;
    for rating in [Rating::Critical, Rating::High, Rating::Unknown] {
        let open = s.open.get(&rating).copied().unwrap_or(0);
        if open > listed(rating) {
            out.push(format!(
                "{} more {} findings than the report lists individually; they cannot be triaged one by one",
                open - listed(rating),
                rating.key()
            ));
        }
    }
    out
}

fn describe(f: &Finding) -> String {
    let score = f.score.map(|s| format!(" {s:.1}")).unwrap_or_default();
    let place = match (&f.component, &f.location) {
        (Some(c), _) => format!(" in {c}"),
        (None, Some(l)) => format!(" at {l}"),
        (None, None) => String::new(),
    };
    format!("{} ({}{score}){place}", f.id, f.rating.key())
}

/// `None` when a triage stands for `finding` at `now`; otherwise why not.
fn untriaged(r: &Release, finding: &str, what: &str, now: Timestamp) -> Option<String> {
    match r.acceptances.get(finding) {
        Some(a) if a.value.until > now => None,
        Some(a) => Some(format!(
            "{what}: the triage by {} ({}) expired at {}; triage it again",
            a.by,
            a.value.outcome.key(),
            when(a.value.until)
        )),
        None => Some(format!("{what} needs triage")),
    }
}

/// The finding a triage names, searched in the release's current evidence: what kind it is,
/// and whether its rating may be accepted at all.
pub fn find(policy: &Policy, r: &Release, finding: &str) -> Option<(FindingKind, Option<Rating>)> {
    let phases = policy.test_phases.iter().map(|p| p.id.as_str());
    let mut current = phases.flat_map(|p| r.current_evidence(p)).map(|(_, e)| &e.value.report);
    current.find_map(|report| match report {
        Report::Scan(s) => {
            s.findings.iter().find(|f| f.id == finding).map(|f| (FindingKind::Vulnerability, Some(f.rating)))
        }
        Report::Plan(p) => p.drift.iter().any(|d| d.address == finding).then_some((FindingKind::Drift, None)),
        Report::Perf(p) => p.metrics.iter().any(|m| m.name == finding).then_some((FindingKind::Regression, None)),
        Report::Tests(_) | Report::Sbom(_) => None,
    })
}

/// A phase judged from its evidence: every kind the profile requires is present against a
/// current artefact, and every current file passes. `Ok` holds a summary, `Err` the reasons.
pub fn phase(policy: &Policy, r: &Release, def: &TestPhaseDef, now: Timestamp) -> Result<String, Vec<String>> {
    let current = r.current_evidence(&def.id);
    let mut problems = Vec::new();
    for kind in &def.evidence {
        if !current.iter().any(|(_, e)| e.value.kind == *kind) {
            let stale: Vec<String> = r
                .stale_evidence(&def.id)
                .filter(|(_, e)| e.value.kind == *kind)
                .map(|(i, e)| format!("E-{} was recorded against {}, since rebuilt", i + 1, e.value.artefact.short()))
                .collect();
            let stale = if stale.is_empty() { String::new() } else { format!(" ({})", stale.join("; ")) };
            problems.push(format!("no {} recorded against the current artefact{stale}", kind.label()));
        }
    }
    for (i, e) in &current {
        for p in self::problems(policy, r, &e.value, now) {
            problems.push(format!("E-{} {}: {p}", i + 1, e.value.file));
        }
    }
    if problems.is_empty() {
        let ids: Vec<String> =
            current.iter().map(|(i, e)| format!("E-{} {}", i + 1, summary(&e.value.report))).collect();
        Ok(ids.join("; "))
    } else {
        Err(problems)
    }
}

/// One line of counts, for views and reasons.
pub fn summary(report: &Report) -> String {
    match report {
        Report::Tests(t) => {
            let c = &t.totals;
            format!(
                "{} tests: {} passed, {} failed, {} errors, {} skipped",
                c.tests,
                c.passed(),
                c.failures,
                c.errors,
                c.skipped
            )
        }
        Report::Scan(s) => {
            let open: Vec<String> = Rating::ALL
                .iter()
                .filter_map(|r| s.open.get(r).filter(|n| **n > 0).map(|n| format!("{n} {}", r.key())))
                .collect();
            let excluded: Vec<String> =
                s.excluded.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
            let open = if open.is_empty() { "no open findings".to_owned() } else { open.join(", ") };
            if excluded.is_empty() {
                format!("{}: {open}", s.tool)
            } else {
                format!("{}: {open} ({})", s.tool, excluded.join(", "))
            }
        }
        Report::Sbom(b) => format!(
            "{}{}: {} components, {} with purl, {} with hashes",
            b.format,
            b.subject.as_deref().map(|s| format!(" of {s}")).unwrap_or_default(),
            b.components,
            b.with_purl,
            b.with_hashes
        ),
        Report::Plan(p) => {
            let changes: Vec<String> = p
                .changes
                .iter()
                .filter(|(a, n)| **n > 0 && a.as_str() != "no-op")
                .map(|(a, n)| format!("{n} {a}"))
                .collect();
            format!(
                "terraform {}: {} drifted, changes: {}",
                p.terraform_version,
                p.drift.len(),
                if changes.is_empty() { "none".into() } else { changes.join(", ") }
            )
        }
        Report::Perf(p) => {
            let worst = p.metrics.iter().filter(|m| m.slo).map(|m| m.regression()).fold(f64::NEG_INFINITY, f64::max);
            if worst.is_finite() {
                format!("{} metrics, worst SLO change {:+.1}%", p.metrics.len(), worst * 100.0)
            } else {
                format!("{} metrics", p.metrics.len())
            }
        }
    }
}

/// The evidence kind a report comes from must match what the file was given as.
pub fn kind_matches(kind: EvidenceKind, report: &Report) -> bool {
    matches!(
        (kind, report),
        (EvidenceKind::Junit, Report::Tests(_))
            | (EvidenceKind::Sarif | EvidenceKind::Vulns, Report::Scan(_))
            | (EvidenceKind::Sbom, Report::Sbom(_))
            | (EvidenceKind::Tfplan, Report::Plan(_))
            | (EvidenceKind::Perf, Report::Perf(_))
    )
}

/// When a test phase passed, if it has: from its evidence where the profile judges the phase
/// so, else from the recorded result. Evidence is judged at `now` (triage can expire).
pub fn passed_at(policy: &Policy, r: &Release, def: &TestPhaseDef, now: Timestamp) -> Option<Timestamp> {
    if def.evidence.is_empty() {
        return r.tests.get(&def.id).filter(|t| t.value.passed).map(|t| t.at);
    }
    phase(policy, r, def, now).ok()?;
    let triaged = r.acceptances.values().map(|a| a.at);
    r.current_evidence(&def.id).iter().map(|(_, e)| e.at).chain(triaged.filter(|t| *t <= now)).max()
}

/// The last moment anything the phase's judgement depends on was recorded.
pub fn last_recorded(r: &Release, def: &TestPhaseDef) -> Option<Timestamp> {
    let evidence = r.current_evidence(&def.id).into_iter().map(|(_, e)| e.at);
    evidence.chain(r.acceptances.values().map(|a| a.at)).max()
}
