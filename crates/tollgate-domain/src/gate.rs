//! Gate evaluation: a pure function from (state, release, gate, now) to a verdict on every
//! criterion, each with a reason a release manager can act on. A gate is open when every
//! criterion that applies to the release's type is met, or overridden in writing where the
//! profile allows it.

use crate::approval;
use crate::artefact;
use crate::evidence::{Rating, Report};
use crate::judge;
use crate::obligation::{self, ObligationStatus};
use crate::policy::{Anchor, Check, CriterionDef, GateDef, Policy, RolloutEvidence, Severity};
use crate::release::Release;
use crate::state::State;
use crate::time::{Timestamp, format_duration};

mod deploy;
pub use deploy::{
    Condition, DEPLOYER_NOT_CHECKED, DeployAnswer, Readiness, SIGNING_NOT_CHECKED, may_deploy, may_deploy_commit,
    readiness,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub gate: String,
    pub open: bool,
    pub criteria: Vec<CriterionVerdict>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriterionVerdict {
    pub id: String,
    pub says: String,
    pub met: bool,
    pub reason: String,
    /// Met only because an executive accepted the risk in writing.
    pub overridden: bool,
}

impl Verdict {
    pub fn unmet(&self) -> impl Iterator<Item = &CriterionVerdict> {
        self.criteria.iter().filter(|c| !c.met)
    }
}

/// Met or not, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub met: bool,
    pub reason: String,
}

fn met(reason: impl Into<String>) -> Outcome {
    Outcome { met: true, reason: reason.into() }
}

fn unmet(reason: impl Into<String>) -> Outcome {
    Outcome { met: false, reason: reason.into() }
}

pub fn evaluate(state: &State, release: &Release, gate: &GateDef, now: Timestamp) -> Verdict {
    let policy = state.policy_of(release);
    let criteria: Vec<CriterionVerdict> =
        gate.criteria.iter().map(|c| evaluate_criterion(state, release, policy, c, now)).collect();
    Verdict { gate: gate.id.clone(), open: criteria.iter().all(|c| c.met), criteria }
}

fn evaluate_criterion(
    state: &State,
    release: &Release,
    policy: &Policy,
    criterion: &CriterionDef,
    now: Timestamp,
) -> CriterionVerdict {
    let verdict = |outcome: Outcome, overridden| CriterionVerdict {
        id: criterion.id.clone(),
        says: criterion.says.clone(),
        met: outcome.met,
        reason: outcome.reason,
        overridden,
    };
    if !criterion.applies_to(&release.release_type, &release.touches) {
        let touching = if criterion.when_touches.is_empty() {
            String::new()
        } else {
            format!(" not touching {}", criterion.when_touches.iter().cloned().collect::<Vec<_>>().join(" or "))
        };
        return verdict(met(format!("not required for {} releases{touching}", type_name(policy, release))), false);
    }
    let outcome = check(state, release, policy, &criterion.check, now);
    match release.overrides.get(&criterion.id) {
        // An override covers the shortfall it was written for, nothing else.
        Some(o) if !outcome.met && criterion.overridable && o.value.unmet == outcome.reason => {
            let reason = format!(
                "overridden by {} at {}: \"{}\" (unmet: {})",
                o.by,
                when(o.at),
                o.value.justification,
                outcome.reason
            );
            verdict(met(reason), true)
        }
        Some(o) if !outcome.met => {
            let reason = format!(
                "{} (the override by {} at {} covered a different shortfall and has lapsed)",
                outcome.reason,
                o.by,
                when(o.at)
            );
            verdict(unmet(reason), false)
        }
        _ => verdict(outcome, false),
    }
}

/// The criterion's outcome before any override: what an override would have to cover.
pub fn shortfall(state: &State, release: &Release, criterion: &CriterionDef, now: Timestamp) -> Outcome {
    check(state, release, state.policy_of(release), &criterion.check, now)
}

/// Evaluates one check. Also used for emergency obligations, which reuse the vocabulary.
pub fn check(state: &State, release: &Release, policy: &Policy, check: &Check, now: Timestamp) -> Outcome {
    let r = release;
    match check {
        Check::Classified => {
            met(format!("classified as {} by {} at {}", type_name(policy, r), r.created.by, when(r.created.at)))
        }
        Check::ScopeRecorded => match r.scope.len() {
            0 => unmet("no scope items recorded"),
            n => met(format!(
                "{n} item{}: {}",
                plural(n),
                first_few(r.scope.iter().map(|s| format!("{}:{}", s.value.kind, s.value.reference)), n)
            )),
        },
        Check::ScopeLocked => match &r.scope_locked {
            None => unmet("scope is not locked"),
            Some(lock) => {
                let after = r.scope.iter().filter(|s| s.value.reassessment.is_some()).count();
                let extra = if after > 0 {
                    format!("; {after} item{} added after lock with re-assessment", plural(after))
                } else {
                    String::new()
                };
                met(format!("locked by {} at {}{extra}", lock.by, when(lock.at)))
            }
        },
        Check::ScopeRollback => {
            if r.scope.is_empty() {
                return unmet("no scope items recorded");
            }
            let missing: Vec<String> = r
                .scope
                .iter()
                .filter(|s| s.value.rollback.is_none())
                .map(|s| format!("{}:{}", s.value.kind, s.value.reference))
                .collect();
            if missing.is_empty() {
                let mut mechanisms: Vec<&str> = Vec::new();
                for m in r.scope.iter().filter_map(|s| s.value.rollback.as_deref()) {
                    if !mechanisms.contains(&m) {
                        mechanisms.push(m);
                    }
                }
                met(format!("every scope item names its rollback mechanism ({})", list(mechanisms)))
            } else {
                let n = missing.len();
                unmet(format!("no rollback mechanism for {}", first_few(missing, n)))
            }
        }
        Check::Plan(fields) => {
            let missing: Vec<&str> = fields.iter().filter(|f| !r.plan.contains_key(f)).map(|f| f.label()).collect();
            if missing.is_empty() {
                let latest = fields.iter().filter_map(|f| r.plan.get(f)).max_by_key(|p| p.at).expect("fields present");
                met(format!(
                    "recorded ({} by {} at {})",
                    list(fields.iter().map(|f| f.label())),
                    latest.by,
                    when(latest.at)
                ))
            } else {
                unmet(format!("no {} recorded", missing.join(", no ")))
            }
        }
        Check::Approvals => approval::status(state, r, policy),
        Check::LeadTime => {
            let rt = &policy.release_types[&r.release_type];
            let earliest = rt.min_lead_time.after(r.created.at, &policy.calendar);
            let lead = format_duration(r.window.start - r.created.at);
            if r.window.start >= earliest {
                met(format!(
                    "window starts {lead} after planning began; {} releases need at least {}",
                    rt.name, rt.min_lead_time
                ))
            } else {
                unmet(format!(
                    "window starts {} ({lead} after planning began at {}); {} releases need at least {}, so no earlier than {}",
                    when(r.window.start),
                    when(r.created.at),
                    rt.name,
                    rt.min_lead_time,
                    when(earliest)
                ))
            }
        }
        Check::OutsideBlackout => {
            let window = match r.window.end {
                Some(end) => format!("window {} to {}", when(r.window.start), when(end)),
                None => format!("window at {}", when(r.window.start)),
            };
            // Once the window has opened, deploying now must be clear too: a window without an
            // end is only its start.
            let deploying_now = now >= r.window.start;
            let clashes: Vec<String> = state
                .blackouts
                .iter()
                .filter(|b| b.service.as_deref().is_none_or(|s| s == r.service))
                .filter(|b| r.window.overlaps(b.from, b.to) || (deploying_now && b.from <= now && now < b.to))
                .map(|b| format!("blackout B-{} \"{}\" ({} to {})", b.id, b.reason, when(b.from), when(b.to)))
                .collect();
            if clashes.is_empty() {
                met(format!("{window} is clear of blackouts"))
            } else {
                unmet(format!("{window} falls in {}", clashes.join(", ")))
            }
        }
        Check::WithinWindow => {
            if now < r.window.start {
                unmet(format!("the deployment window opens at {}", when(r.window.start)))
            } else if let Some(end) = r.window.end.filter(|end| now > *end) {
                unmet(format!("the deployment window closed at {}", when(end)))
            } else {
                met(format!("within the deployment window (opened {})", when(r.window.start)))
            }
        }
        Check::Rollout { evidence, confirmation } => match r.production_rollout() {
            // A deployment Tollgate did not run has only the person's word for it.
            None => self::check(state, r, policy, &Check::Confirmed(confirmation.clone()), now),
            Some(rollout) => rollout_evidence(policy, r, rollout, *evidence, now),
        },
        Check::Confirmed(id) => {
            let def = policy.confirmations.get(id);
            match (r.confirmations.get(id), def.and_then(|d| stale_since(policy, r, d.after))) {
                (Some(c), _) if def.is_some_and(|d| d.before_window) && c.at >= r.window.start => unmet(format!(
                    "{id} was confirmed by {} at {}, after the deployment window opened at {}; it must be confirmed before the window opens",
                    c.by,
                    when(c.at),
                    when(r.window.start)
                )),
                (Some(c), Some((since, what))) if c.at < since => unmet(format!(
                    "{id} was confirmed by {} at {}, before {what} at {}; confirm it again",
                    c.by,
                    when(c.at),
                    when(since)
                )),
                (Some(c), _) => met(format!(
                    "confirmed by {} at {}{}",
                    c.by,
                    when(c.at),
                    c.value.as_deref().map(|t| format!(": {t}")).unwrap_or_default()
                )),
                (None, _) => {
                    let by = def.map(|c| c.by.join(" or ")).unwrap_or_default();
                    unmet(format!("not confirmed yet ({id}, by {by})"))
                }
            }
        }
        Check::Documents(kinds) => {
            let missing: Vec<&str> = kinds
                .iter()
                .filter(|k| !r.documents.contains_key(*k))
                .map(|k| policy.document(k).map_or(k.as_str(), |d| d.label.as_str()))
                .collect();
            if missing.is_empty() {
                met(format!("attached: {}", list(kinds.iter().map(|k| format!("{k} ({})", r.documents[k].value.name)))))
            } else {
                unmet(format!("missing: {}", missing.join(", ")))
            }
        }
        Check::TestPhases { only, except } => test_phases(policy, r, only, except, now),
        Check::Tagged => tagged(r),
        Check::ArtefactsSigned => artefacts_signed(policy, r),
        Check::Provenance => provenance(policy, r),
        Check::NoCriticalFindings => no_critical_findings(r),
        Check::NoOpenDefects(severity) => {
            if r.defect_counts.open_at_least(*severity) == 0 {
                return met(format!("no open {} defects", severity.key()));
            }
            let open = open_defects(r, *severity);
            let n = open.len();
            unmet(format!("open {} defect{}: {}", severity.key(), plural(n), first_few(open, n)))
        }
        Check::DefectsTriaged(severity) => {
            if r.defect_counts.open_at_least(*severity) == 0 {
                let n = r.defect_counts.recorded_at_least(*severity) as usize;
                return met(format!("{n} {} defect{} triaged", severity.key(), plural(n)));
            }
            let open = open_defects(r, *severity);
            let n = open.len();
            unmet(format!("{} defect{} awaiting triage: {}", severity.key(), plural(n), first_few(open, n)))
        }
        Check::GoDecision => go_decision(r),
        Check::Deployed => match r.production_deployment() {
            None => unmet("not deployed to production"),
            Some(d) => match d.finished {
                None => {
                    unmet(format!("production deployment by {} running since {}", d.started.by, when(d.started.at)))
                }
                Some((at, false)) => unmet(format!("the production deployment failed at {}", when(at))),
                Some((at, true)) => match r.live_since() {
                    Some(_) => met(format!("deployed to production by {} at {}", d.started.by, when(at))),
                    None => unmet("the production deployment was rolled back"),
                },
            },
        },
        Check::StabilisationElapsed => {
            let rt = &policy.release_types[&r.release_type];
            elapsed_since_deployment(
                policy,
                r,
                rt.stabilisation,
                &format!("{} stabilisation window of {}", rt.name, rt.stabilisation),
                now,
            )
        }
        Check::ElapsedSinceDeployment(span) => {
            elapsed_since_deployment(policy, r, *span, &format!("{span} since deployment"), now)
        }
        Check::ObligationsDone => {
            let obligations = obligation::of(policy, r, now);
            let pending: Vec<String> = obligations
                .iter()
                .filter(|o| !matches!(o.status, ObligationStatus::Done | ObligationStatus::DoneLate))
                .map(|o| format!("{} ({})", o.def.id, o.status_text()))
                .collect();
            if pending.is_empty() {
                met(format!("all {} deferred steps completed", obligations.len()))
            } else {
                unmet(format!("deferred steps not completed: {}", pending.join(", ")))
            }
        }
        Check::ReviewedSinceRollback(confirmation) => match r.last_failed_attempt() {
            None => met("no rollback or failed deployment to review"),
            Some(failed) => match r.confirmations.get(confirmation) {
                Some(c) if c.at >= failed => {
                    met(format!("reviewed by {} at {} after the last attempt", c.by, when(c.at)))
                }
                _ => unmet(format!(
                    "the last attempt was rolled back or failed at {}; no {confirmation} recorded since",
                    when(failed)
                )),
            },
        },
    }
}

fn test_phases(policy: &Policy, r: &Release, only: &[String], except: &[String], now: Timestamp) -> Outcome {
    let rt = &policy.release_types[&r.release_type];
    let phases: Vec<_> = policy
        .required_test_phases(rt, &r.touches)
        .into_iter()
        .filter(|p| (only.is_empty() || only.contains(&p.id)) && !except.contains(&p.id))
        .collect();
    if phases.is_empty() {
        let what = if only.is_empty() { "test phases".to_owned() } else { only.join(", ") };
        return met(format!("{what} not required for {} releases", rt.name));
    }
    let mut all_met = true;
    let mut fail = |text: String| {
        all_met = false;
        text
    };
    let parts: Vec<String> = phases
        .iter()
        .map(|p| {
            if let Some(s) = r.skipped_tests.get(&p.id) {
                // A skip approves not running the phase; it never masks a run that failed.
                let failing = judge::failing(policy, r, p, now);
                let failed_result = r.tests.get(&p.id).filter(|t| !t.value.passed);
                return match (failing.is_empty(), failed_result) {
                    (false, _) => fail(format!(
                        "{} was skipped with approval of {}, but its evidence fails: {}",
                        p.id,
                        s.by,
                        failing.join("; ")
                    )),
                    (true, Some(t)) => {
                        fail(format!("{} was skipped with approval of {}, but it FAILED at {}", p.id, s.by, when(t.at)))
                    }
                    (true, None) => format!("{} skipped with approval of {} (\"{}\")", p.id, s.by, s.value),
                };
            }
            // Evidence recorded for a phase is judged even where the profile does not demand it.
            let judged = !p.evidence.is_empty() || !r.current_evidence(&p.id).is_empty();
            if judged {
                let verdict = judge::phase(policy, r, p, now);
                if p.evidence.is_empty() && !r.tests.get(&p.id).is_some_and(|t| t.value.passed) {
                    // Optional evidence never stands in for the result the phase needs.
                    return fail(format!("{} has no result (exit criteria: {})", p.id, p.exit_criteria));
                }
                return match verdict {
                    Ok(summary) => format!("{} passed on evidence: {summary}", p.id),
                    Err(problems) => fail(format!("{} not passed: {}", p.id, problems.join("; "))),
                };
            }
            match r.tests.get(&p.id) {
                Some(t) if t.value.passed => {
                    let reference = t.value.reference.as_deref().map(|x| format!(", {x}")).unwrap_or_default();
                    format!("{} passed ({} at {}{reference})", p.id, t.by, when(t.at))
                }
                Some(t) => fail(format!("{} FAILED at {} (exit criteria: {})", p.id, when(t.at), p.exit_criteria)),
                None => fail(format!("{} has no result (exit criteria: {})", p.id, p.exit_criteria)),
            }
        })
        .collect();
    let mut parts = parts;
    if let Some(problem) = out_of_sequence(r, &phases).filter(|_| policy.test_phases_in_sequence) {
        all_met = false;
        parts.push(problem);
    }
    Outcome { met: all_met, reason: parts.join("; ") }
}

/// 4.4.3 "Execute the test phases defined in Section 4.3 in the sequence specified": each
/// phase that has run started no earlier than the phases before it in the table. A phase
/// starts with its first record that still counts; skipped phases are left out.
fn out_of_sequence(r: &Release, phases: &[&crate::policy::TestPhaseDef]) -> Option<String> {
    let started = |id: &str| {
        let evidence = r.current_evidence(id).into_iter().map(|(_, e)| e.at).min();
        evidence.or_else(|| r.tests.get(id).map(|t| t.at))
    };
    let ran: Vec<(&str, Timestamp)> = phases
        .iter()
        .filter(|p| !r.skipped_tests.contains_key(&p.id))
        .filter_map(|p| started(&p.id).map(|t| (p.id.as_str(), t)))
        .collect();
    let early: Vec<String> = ran
        .iter()
        .enumerate()
        .flat_map(|(i, (later, at))| {
            ran[..i].iter().filter(move |(_, before)| at < before).map(move |(earlier, before)| {
                format!("{later} ran at {} before {earlier} (first run {})", when(*at), when(*before))
            })
        })
        .collect();
    if early.is_empty() {
        return None;
    }
    let order: Vec<&str> = phases.iter().map(|p| p.id.as_str()).collect();
    Some(format!(
        "out of the sequence 4.3 specifies ({}): {}",
        order.join(", "),
        first_few(early.iter().cloned(), early.len())
    ))
}

/// 4.4.2: "Tag the release in version control. The release tag is the authoritative reference
/// for what is being deployed."
fn tagged(r: &Release) -> Outcome {
    match &r.source {
        Some(s) => met(format!(
            "{} at {} in {} (recorded by {} at {})",
            s.value.tag,
            &s.value.commit[..s.value.commit.len().min(12)],
            s.value.repository,
            s.by,
            when(s.at)
        )),
        None => unmet("no release tag recorded (`tollgate release source`)"),
    }
}

/// 4.4.2 "Sign the release artefact": every current artefact has a signature by a key or a
/// Sigstore identity the profile trusts.
fn artefacts_signed(policy: &Policy, r: &Release) -> Outcome {
    if r.artefacts.is_empty() {
        return unmet("no artefact recorded (`tollgate artefact add`)");
    }
    let mut ok = true;
    let parts: Vec<String> = r
        .artefacts
        .iter()
        .map(|(name, a)| {
            let signed = a.verifications.iter().find(|v| artefact::trusted_signature(policy, &v.value).is_ok());
            match signed {
                Some(v) => format!(
                    "{name} {} signed ({}, checked by {} at {})",
                    a.digest.short(),
                    artefact::describe(&v.value),
                    v.by,
                    when(v.at)
                ),
                None => {
                    ok = false;
                    let rebuilt = if a.previous.is_empty() { String::new() } else { " since its rebuild".to_owned() };
                    format!("{name} {} has no trusted signature{rebuilt}", a.digest.short())
                }
            }
        })
        .collect();
    Outcome { met: ok, reason: parts.join("; ") }
}

/// 4.1 "built from a tagged, reviewed, signed commit via the CI/CD pipeline": verified SLSA
/// provenance for every current artefact, from a trusted builder, of the release's tag and commit.
fn provenance(policy: &Policy, r: &Release) -> Outcome {
    if r.artefacts.is_empty() {
        return unmet("no artefact recorded (`tollgate artefact add`)");
    }
    let Some(source) = &r.source else {
        return unmet("no release tag recorded to compare provenance with (`tollgate release source`)");
    };
    let mut ok = true;
    let parts: Vec<String> = r
        .artefacts
        .iter()
        .map(|(name, a)| {
            let checks =
                a.verifications.iter().filter(|v| matches!(v.value, crate::evidence::Verification::Provenance { .. }));
            let mut why = None;
            for v in checks {
                match artefact::trusted_provenance(policy, &source.value, &v.value) {
                    Ok(()) => return format!("{name} {} built by {}", a.digest.short(), artefact::describe(&v.value)),
                    Err(e) => why = Some(e),
                }
            }
            ok = false;
            match why {
                Some(e) => format!("{name} {}: {e}", a.digest.short()),
                None => format!("{name} {} has no verified provenance", a.digest.short()),
            }
        })
        .collect();
    Outcome { met: ok, reason: parts.join("; ") }
}

/// 5.1 "Critical CVEs block release": every finding rated Critical that any scan, in any
/// phase, reported against a current artefact, and that no VEX statement has cleared.
fn no_critical_findings(r: &Release) -> Outcome {
    let mut open = Vec::new();
    let mut scans = 0;
    for (name, a) in &r.artefacts {
        scans += r
            .evidence
            .iter()
            .filter(|e| e.value.artefact == a.digest)
            // Only a scan that names the artefact is a scan of it (`judge::scan_subject`).
            .filter(|e| matches!(&e.value.report, Report::Scan(s) if judge::scan_subject(r, s, &a.digest).is_ok()))
            .count();
        for (i, f) in judge::open_findings(r, &a.digest, None) {
            if f.rating == Rating::Critical {
                open.push(format!("{} in {name} {} (E-{})", f.id, a.digest.short(), i + 1));
            }
        }
    }
    if open.is_empty() {
        return met(format!("no open Critical finding in {scans} scan{} of the current artefacts", plural(scans)));
    }
    let n = open.len();
    unmet(format!(
        "open Critical finding{}: {}; only a new build without it, or a VEX statement `not_affected` with a justification, clears a Critical",
        plural(n),
        first_few(open, n)
    ))
}

fn open_defects(r: &Release, severity: Severity) -> Vec<String> {
    r.defects
        .iter()
        .filter(|(_, d)| d.severity >= severity && d.triage.is_none())
        .map(|(reference, d)| format!("{reference} \"{}\"", d.title))
        .collect()
}

fn go_decision(r: &Release) -> Outcome {
    let Some(go) = r.go() else {
        return unmet("no go/no-go decision recorded");
    };
    if !go.value.go {
        return unmet(format!(
            "no-go decided by {} at {}: {}",
            go.by,
            when(go.at),
            go.value.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    // A go decision is taken under the rules governing the release then.
    if let Some(moved) = r.go_predates_regovern() {
        return unmet(format!(
            "the go decision of {} was taken under profile version {}; {} is governed by {} since {}: a new decision is needed",
            when(go.at),
            moved.value.from_version,
            r.id,
            moved.value.to_version,
            when(moved.at)
        ));
    }
    // A go decision authorises one attempt at the release as it then stood.
    let stale = [
        (r.last_failed_attempt().filter(|t| *t >= go.at), "the last attempt was rolled back or failed"),
        (r.scope_changed_at().filter(|t| *t > go.at), "the scope changed"),
        (Some(r.window_set_at).filter(|t| *t > go.at), "the window was rescheduled"),
        (r.artefacts.values().map(|a| a.since).max().filter(|t| *t > go.at), "an artefact was added or rebuilt"),
        (r.source.as_ref().map(|s| s.at).filter(|t| *t > go.at), "the release source was changed"),
    ];
    if let Some((at, what)) = stale.into_iter().find_map(|(at, what)| at.map(|at| (at, what))) {
        return unmet(format!(
            "{what} at {} after the go decision of {}; a new decision is needed",
            when(at),
            when(go.at)
        ));
    }
    met(format!("go decided by {} at {}", go.by, when(go.at)))
}

/// When a confirmation anchored to a changeable thing must be newer than, and what changed.
fn stale_since(policy: &Policy, r: &Release, after: Option<Anchor>) -> Option<(Timestamp, &'static str)> {
    match after? {
        Anchor::Deployment => r.live_since().map(|t| (t, "the current deployment completed")),
        Anchor::Schedule => Some((r.window_set_at, "the deployment window was set")),
        Anchor::Stabilisation => stabilisation_ends(policy, r).map(|t| (t, "the stabilisation window ended")),
    }
}

/// When the stabilisation window after the current production deployment ends.
/// What the record of the rollout that ran the deployment proves: the person's confirmation
/// cannot stand in for it, nor against it.
fn rollout_evidence(
    policy: &Policy,
    r: &Release,
    rollout: &crate::rollout::progress::Rollout,
    evidence: RolloutEvidence,
    now: Timestamp,
) -> Outcome {
    let by = |verdict: Result<String, String>| match verdict {
        Ok(why) => met(format!("the rollout's record: {why}")),
        Err(why) => unmet(format!("the rollout's record: {why}")),
    };
    match evidence {
        RolloutEvidence::SmokeTests => by(rollout.smoke_tests()),
        RolloutEvidence::NoTrigger => by(rollout.no_trigger_at_completion(&policy.rollback.triggers)),
        RolloutEvidence::WithinBaseline { margin } => {
            let Some(from) = rollout.completed else {
                return unmet("the rollout's record: the deployment has not completed");
            };
            let until = stabilisation_ends(policy, r).map_or(now, |end| end.min(now));
            let compared = rollout.against_baseline(margin, from, until);
            if compared.is_empty() {
                return unmet(format!(
                    "the rollout's record: the plan {} measures no signal to compare",
                    rollout.plan.name
                ));
            }
            let (within, outside): (Vec<_>, Vec<_>) = compared.into_iter().partition(|c| c.verdict.is_ok());
            let words = |cs: Vec<crate::rollout::evidence::Compared>| {
                cs.into_iter().map(|c| c.verdict.unwrap_or_else(|e| e)).collect::<Vec<_>>().join("; ")
            };
            let since = format!("since completion at {}", when(from));
            if !outside.is_empty() {
                unmet(format!("the rollout's record {since}: {}", words(outside)))
            } else {
                met(format!("the rollout's record {since}, against the pre-deployment baseline: {}", words(within)))
            }
        }
    }
}

pub fn stabilisation_ends(policy: &Policy, r: &Release) -> Option<Timestamp> {
    let span = policy.release_types.get(&r.release_type)?.stabilisation;
    r.live_since().map(|live| span.after(live, &policy.calendar))
}

fn elapsed_since_deployment(
    policy: &Policy,
    r: &Release,
    span: crate::time::Span,
    what: &str,
    now: Timestamp,
) -> Outcome {
    let Some(live) = r.live_since() else {
        return unmet(format!("{what}: not live in production"));
    };
    let ends = span.after(live, &policy.calendar);
    if now >= ends {
        met(format!("{what} elapsed at {} (deployed {})", when(ends), when(live)))
    } else {
        unmet(format!("{what} ends at {} ({} to go)", when(ends), format_duration(ends - now)))
    }
}

fn type_name<'a>(policy: &'a Policy, r: &'a Release) -> &'a str {
    policy.release_types.get(&r.release_type).map_or(r.release_type.as_str(), |t| t.name.as_str())
}

/// Times in reasons: minute precision reads best; seconds appear only when they are not zero.
pub fn when(t: Timestamp) -> String {
    use chrono::{Datelike, Timelike};
    // Written out by hand: chrono's strftime parses its pattern on every call, and gate reasons
    // format many times.
    let (date, time) = (t.date_naive(), t.time());
    let day =
        format!("{:04}-{:02}-{:02} {:02}:{:02}", date.year(), date.month(), date.day(), time.hour(), time.minute());
    if time.second() == 0 { format!("{day} UTC") } else { format!("{day}:{:02} UTC", time.second()) }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect::<Vec<_>>().join(", ")
}

/// The first few of `n` items, then how many more: reasons stay readable on big releases.
fn first_few(items: impl IntoIterator<Item = String>, n: usize) -> String {
    const SHOWN: usize = 5;
    let shown = list(items.into_iter().take(SHOWN));
    if n > SHOWN { format!("{shown} and {} more", n - SHOWN) } else { shown }
}
