//! Judging evidence against the procedure's exit criteria (4.3):
//! - Unit, integration, system, regression: "100% pass rate" — any failed or errored test, a
//!   report with no test cases, or one whose every test was skipped, fails the phase.
//! - Security scan: "Zero Critical open findings; High findings triaged with accepted risk or
//!   remediation plan" — findings accumulate per artefact digest (a later report that omits a
//!   finding closes nothing; a VEX statement or a new build does); a Critical blocks outright;
//!   a High (or a finding of Unknown severity, which is never taken for harmless) needs a
//!   triage that has not expired.
//! - Performance: "no regression from baseline" — 4.4.3 "Regressions above 10% on any defined
//!   SLO require triage".
//! - Infrastructure: "Zero configuration drift" — critical drift (profile rules; by default any
//!   delete or replace) shuts the gate until resolved by a new plan or accepted.
//!
//! Evidence only counts against the release's current artefact digests; judgements are made at
//! `now`, so an acceptance that expires shuts the gate again without anyone recording anything.

use crate::artefact::same_repository;
use crate::evidence::{Digest, EvidenceKind, Finding, PlanItem, Rating, Report, ScanReport, ScanSubject, TestReport};
use crate::gate::when;
use crate::policy::{Policy, Severity, TestPhaseDef};
use crate::release::{EvidenceRecord, FindingKind, Release};
use crate::time::Timestamp;

/// Every reason one evidence file fails its phase; empty when it passes.
pub fn problems(policy: &Policy, r: &Release, e: &EvidenceRecord, now: Timestamp) -> Vec<String> {
    match &e.report {
        Report::Tests(t) => tests(t),
        Report::Scan(s) => {
            let mut out: Vec<String> = scan_subject(r, s, &e.artefact).err().into_iter().collect();
            out.extend(unlisted(s));
            out.extend(scan_problems(policy, r, &e.artefact, &e.phase, now));
            out
        }
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
        return vec!["the report holds no test cases; an empty run is not a pass".into()];
    }
    if c.passed() == 0 && c.failures + c.errors == 0 {
        return vec![format!("all {} tests were skipped; a run in which no test ran is not a pass", c.tests)];
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

/// Whether a scan recorded against `digest` is about it. An image or file scan counts when
/// the report names `digest` among the digests it scanned. A source scan (CodeQL and other SARIF
/// tools, `trivy repo`) scans a commit, not an image: it counts when the commit it names is the
/// one the release is built from (`release source`, which the artefact's provenance is checked
/// against), in the same repository when the report names one. A report that names nothing
/// counts for nothing, so no gate can pass on a report about something else, or about nothing.
/// Judged again at every evaluation, so a release source recorded anew after the scan stops a
/// scan of the old commit from counting.
pub fn scan_subject(r: &Release, s: &ScanReport, digest: &Digest) -> Result<(), String> {
    let source = r.source.as_ref().map(|s| &s.value);
    let names = |subject: &ScanSubject| match subject {
        ScanSubject::Digest(d) => d == digest,
        ScanSubject::Commit { repository, commit } => source.is_some_and(|source| {
            commit.eq_ignore_ascii_case(&source.commit)
                && repository.as_deref().is_none_or(|repo| same_repository(repo, &source.repository))
        }),
    };
    if s.subjects.iter().any(names) {
        return Ok(());
    }
    if s.subjects.is_empty() {
        return Err(format!(
            "the scan names nothing it scanned (no image or file digest, no commit), so it is not evidence about the artefact {digest}: \
             a report that says nothing is not a clean scan; scan the image by digest, or the release's commit"
        ));
    }
    let digests: Vec<String> = s
        .subjects
        .iter()
        .filter_map(|subject| match subject {
            ScanSubject::Digest(d) => Some(d.to_string()),
            ScanSubject::Commit { .. } => None,
        })
        .collect();
    let commits: Vec<String> = s
        .subjects
        .iter()
        .filter(|subject| matches!(subject, ScanSubject::Commit { .. }))
        .map(|c| c.to_string())
        .collect();
    let mut out = Vec::new();
    if !digests.is_empty() {
        out.push(format!("scan names {} not the artefact {digest}", digests.join(", ")));
    }
    if !commits.is_empty() {
        out.push(match source {
            None => format!(
                "scan names {}, and the release records no source commit to match it with (`tollgate release source`)",
                commits.join(", ")
            ),
            Some(source) => format!(
                "scan names {}, not the commit {} of {} the release is built from",
                commits.join(", "),
                source.commit,
                source.repository
            ),
        });
    }
    Err(out.join("; "))
}

/// Findings counted but not listed cannot be triaged one by one, so they cannot pass.
fn unlisted(s: &ScanReport) -> Vec<String> {
    let listed = |rating| s.findings.iter().filter(|f| f.rating == rating).count() as u64;
    let mut out = Vec::new();
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

/// Every finding any scan of `phase` (or of any phase, with `None`) reported against
/// `digest` and that is still open, with the `E-n` index of the report that first listed it.
/// Findings accumulate per digest: the same bytes cannot lose a vulnerability, so a later report
/// that omits a finding closes nothing; only a VEX statement (`cleared`) does, or a new build
/// (another digest). Triage is applied by the judge, not here.
pub fn open_findings<'r>(r: &'r Release, digest: &Digest, phase: Option<&str>) -> Vec<(usize, &'r Finding)> {
    let mut open: Vec<(usize, &Finding)> = Vec::new();
    for (i, e) in r.evidence.iter().enumerate() {
        if e.value.artefact != *digest || phase.is_some_and(|p| p != e.value.phase) {
            continue;
        }
        let Report::Scan(s) = &e.value.report else { continue };
        // A statement about another subject closes nothing here; its findings still count.
        if scan_subject(r, s, digest).is_ok() {
            open.retain(|(_, f)| !s.cleared.contains(&f.id));
        }
        for f in &s.findings {
            match open.iter_mut().find(|(_, o)| o.id == f.id && o.component == f.component) {
                // Two scanners disagree: the more severe rating stands.
                Some(known) if severity_rank(f.rating) > severity_rank(known.1.rating) => *known = (i, f),
                Some(_) => {}
                None => open.push((i, f)),
            }
        }
    }
    open
}

/// Unknown ranks with High: it is triaged like one.
fn severity_rank(rating: Rating) -> u8 {
    match rating {
        Rating::Critical => 3,
        Rating::High | Rating::Unknown => 2,
        Rating::Medium => 1,
        Rating::Low | Rating::None => 0,
    }
}

/// 4.3 Security Scan: "Zero Critical open findings; High findings triaged with accepted risk
/// or remediation plan", over every finding still open against the digest in this phase.
fn scan_problems(policy: &Policy, r: &Release, digest: &Digest, phase: &str, now: Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    let acceptable = policy.max_accepted_risk >= Severity::High;
    for (i, f) in open_findings(r, digest, Some(phase)) {
        let from = format!("{} (reported by E-{})", describe(f), i + 1);
        match f.rating {
            Rating::Critical => out.push(format!("{from} blocks the release: only a fix (a new build), or a VEX statement `not_affected` with a justification, clears a Critical")),
            _ if !acceptable => out.push(format!(
                "{from} blocks the release: the profile accepts no risk above {}",
                policy.max_accepted_risk.key()
            )),
            _ => out.extend(untriaged(r, &f.id, &from, now)),
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

/// The finding a triage names, searched in what is open against the release's current
/// artefacts: what kind it is, and whether its rating may be accepted at all.
pub fn find(policy: &Policy, r: &Release, finding: &str) -> Option<(FindingKind, Option<Rating>)> {
    let vulnerability = r
        .current_digests()
        .flat_map(|d| open_findings(r, d, None))
        .find(|(_, f)| f.id == finding)
        .map(|(_, f)| (FindingKind::Vulnerability, Some(f.rating)));
    let phases = policy.test_phases.iter().map(|p| p.id.as_str());
    let mut current = phases.flat_map(|p| r.current_evidence(p)).map(|(_, e)| &e.value.report);
    vulnerability.or_else(|| {
        current.find_map(|report| match report {
            Report::Plan(p) => p.drift.iter().any(|d| d.address == finding).then_some((FindingKind::Drift, None)),
            Report::Perf(p) => p.metrics.iter().any(|m| m.name == finding).then_some((FindingKind::Regression, None)),
            Report::Tests(_) | Report::Sbom(_) | Report::Scan(_) => None,
        })
    })
}

/// A phase judged from its evidence: every kind the profile requires is present against each
/// current artefact (a second artefact added after testing needs its own evidence), and every
/// current file passes. `Ok` holds a summary of what counted, `Err` the reasons.
pub fn phase(policy: &Policy, r: &Release, def: &TestPhaseDef, now: Timestamp) -> Result<String, Vec<String>> {
    let mut problems = missing(r, def);
    problems.extend(failing(policy, r, def, now));
    if problems.is_empty() {
        let current = r.current_evidence(&def.id);
        let ids: Vec<String> =
            current.iter().map(|(i, e)| format!("E-{} {}{}", i + 1, summary(&e.value.report), rerun(r, *i))).collect();
        Ok(ids.join("; "))
    } else {
        Err(problems)
    }
}

/// What a rerun replaced and why, for explanations: ` (rerun superseding E-1: flaky stub)`.
pub fn rerun(r: &Release, index: usize) -> String {
    let replaced = r.supersedes(index);
    match r.evidence.get(index).and_then(|e| e.value.rerun_reason.as_deref()) {
        Some(why) if !replaced.is_empty() => {
            let ids: Vec<String> = replaced.iter().map(|j| format!("E-{}", j + 1)).collect();
            format!(" (rerun superseding {}: {why})", ids.join(", "))
        }
        _ => String::new(),
    }
}

/// The evidence the phase still needs: each required kind against each current artefact.
fn missing(r: &Release, def: &TestPhaseDef) -> Vec<String> {
    let current = r.current_evidence(&def.id);
    let mut problems = Vec::new();
    if r.artefacts.is_empty() && !def.evidence.is_empty() {
        problems.push("no artefact recorded: evidence is bound to the artefact it tested".to_owned());
    }
    for (name, a) in &r.artefacts {
        for kind in &def.evidence {
            if current.iter().any(|(_, e)| e.value.kind == *kind && e.value.artefact == a.digest) {
                continue;
            }
            let stale: Vec<String> = r
                .stale_evidence(&def.id)
                .filter(|(_, e)| e.value.kind == *kind && a.previous.contains(&e.value.artefact))
                .map(|(i, e)| format!("E-{} was recorded against {}, since rebuilt", i + 1, e.value.artefact.short()))
                .collect();
            let stale = if stale.is_empty() { String::new() } else { format!(" ({})", stale.join("; ")) };
            problems.push(format!("no {} recorded against {name} {}{stale}", kind.label(), a.digest.short()));
        }
    }
    problems
}

/// Why the phase's recorded evidence fails, whatever is still missing: a skip approves not
/// running a phase, never a run that failed.
pub fn failing(policy: &Policy, r: &Release, def: &TestPhaseDef, now: Timestamp) -> Vec<String> {
    let mut problems = Vec::new();
    let mut scanned: Vec<&Digest> = Vec::new();
    for (i, e) in r.current_evidence(&def.id) {
        let own = match &e.value.report {
            // Findings accumulate per artefact: judged once per digest, below.
            Report::Scan(s) => {
                if !scanned.contains(&&e.value.artefact) {
                    scanned.push(&e.value.artefact);
                }
                let mut own: Vec<String> = scan_subject(r, s, &e.value.artefact).err().into_iter().collect();
                own.extend(unlisted(s));
                own
            }
            _ => self::problems(policy, r, &e.value, now),
        };
        problems.extend(own.into_iter().map(|p| format!("E-{} {}: {p}", i + 1, e.value.file)));
    }
    for digest in scanned {
        let name = r.artefact_of(digest).map_or("", |(n, _)| n);
        let found = scan_problems(policy, r, digest, &def.id, now);
        problems.extend(found.into_iter().map(|p| format!("{name} {}: {p}", digest.short())));
    }
    problems
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
