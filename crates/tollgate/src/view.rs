//! What commands print: each view as JSON (stable keys, snake_case) and as text for people.
//! These are the edge's wire types, built by hand from domain values.

use serde_json::{Value, json};
use tollgate_domain::evidence::Verification;
use tollgate_domain::gate::{Condition, DeployAnswer, Verdict, when};
use tollgate_domain::judge;
use tollgate_domain::obligation;
use tollgate_domain::release::Release;
use tollgate_domain::state::{Nonconformance, State};
use tollgate_domain::{Timestamp, approval};

use tollgate_app::codec::time;

/// A view: the JSON document and the text rendering.
pub struct View {
    pub json: Value,
    pub text: String,
}

fn opt_time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(time(t)))
}

/// The classification advisor's flags on a release (3.7), as sentences.
pub fn classification_flags(state: &State, r: &Release) -> Vec<String> {
    tollgate_domain::classification::flags(state, r)
        .iter()
        .map(|f| format!("classified {}, but {f}", r.release_type))
        .collect()
}

/// Flags as text lines under a gate or a release.
fn flag_lines(flags: &[String]) -> String {
    flags.iter().map(|f| format!("  ⚠ classification: {f}; deploying it so is a non-conformance\n")).collect()
}

pub fn gate(state: &State, release: &Release, verdict: &Verdict, name: &str) -> View {
    let flags = classification_flags(state, release);
    let criteria: Vec<Value> = verdict
        .criteria
        .iter()
        .map(|c| json!({"id": c.id, "met": c.met, "reason": c.reason, "says": c.says, "overridden": c.overridden}))
        .collect();
    let json = json!({
        "release": release.id.to_string(),
        "phase": release.phase.key(),
        "gate": verdict.gate,
        "open": verdict.open,
        "criteria": criteria,
        "classification_flags": flags,
    });
    let mut text = format!(
        "{} gate {} ({name}) is {} — release in {}\n",
        release.id,
        verdict.gate,
        if verdict.open { "OPEN" } else { "SHUT" },
        release.phase
    );
    for c in &verdict.criteria {
        let mark = if c.overridden {
            "!"
        } else if c.met {
            "✓"
        } else {
            "✗"
        };
        text.push_str(&format!("  {mark} {:<34} {}\n", c.id, c.reason));
    }
    text.push_str(&flag_lines(&flags));
    View { json, text }
}

/// The answer of `tollgate check`: yes or no, the release and gate it came from, everything
/// checked and every unmet condition with its reason.
pub fn deploy_answer(a: &DeployAnswer) -> View {
    let condition = |c: &Condition| json!({"id": c.id, "met": c.met, "reason": c.reason});
    let gate = a.gate.as_ref().map_or(Value::Null, |(name, v)| {
        let criteria: Vec<Value> = v
            .criteria
            .iter()
            .map(|c| json!({"id": c.id, "met": c.met, "reason": c.reason, "says": c.says, "overridden": c.overridden}))
            .collect();
        json!({"id": v.gate, "name": name, "open": v.open, "criteria": criteria})
    });
    let json = json!({
        "allowed": a.allowed(),
        "service": a.service,
        "artefact": a.artefact.as_str(),
        "environment": a.asked,
        "target": a.environment.as_ref().map_or(Value::Null, |e| json!({"id": e.id, "production": e.production})),
        "release": a.release.as_ref().map(|(id, _)| id.to_string()),
        "artefact_name": a.release.as_ref().map(|(_, name)| name.clone()),
        "phase": a.phase.map(|p| p.key()),
        "gate": gate,
        "checked": a.checked.iter().map(condition).collect::<Vec<_>>(),
        "unmet": a.unmet().iter().map(|c| json!({"id": c.id, "reason": c.reason})).collect::<Vec<_>>(),
        "not_checked": a.not_checked,
    });
    let target = a.environment.as_ref().map_or(a.asked.as_str(), |e| e.id.as_str());
    let mut text = if a.allowed() {
        format!("YES: {} {} may be deployed to {target} now\n", a.service, a.artefact)
    } else {
        format!("NO: {} {} may not be deployed to {target} now\n", a.service, a.artefact)
    };
    if let (Some((id, name)), Some(phase)) = (&a.release, a.phase) {
        text.push_str(&format!("  release {id}, artefact {name}, in {phase}\n"));
    }
    let mark = |met: bool| if met { "✓" } else { "✗" };
    for c in &a.checked {
        text.push_str(&format!("  {} {:<34} {}\n", mark(c.met), c.id, c.reason));
    }
    if let Some((name, v)) = &a.gate {
        text.push_str(&format!("  gate {} ({name}) is {}\n", v.gate, if v.open { "OPEN" } else { "SHUT" }));
        for c in &v.criteria {
            let m = if c.overridden { "!" } else { mark(c.met) };
            text.push_str(&format!("    {m} {:<32} {}\n", c.id, c.reason));
        }
    }
    for n in &a.not_checked {
        text.push_str(&format!("  not checked: {n}\n"));
    }
    View { json, text }
}

pub fn release_row(state: &State, r: &Release) -> (Value, String) {
    let policy = state.policy_of(r);
    let type_name = policy.release_types.get(&r.release_type).map_or(r.release_type.as_str(), |t| t.name.as_str());
    (
        json!({
            "id": r.id.to_string(), "service": r.service, "version": r.version, "type": r.release_type,
            "track": r.track.key(), "phase": r.phase.key(), "title": r.title, "window_start": time(r.window.start),
        }),
        format!(
            "{:<6} {:<14} {:<10} {:<15} {:<14} {}  {}",
            r.id,
            r.service,
            r.version,
            type_name,
            r.phase,
            when(r.window.start),
            r.title
        ),
    )
}

pub fn release(state: &State, r: &Release, now: Timestamp) -> View {
    let policy = state.policy_of(r);
    let profile = &state.profiles[r.profile].profile;
    let rt = &policy.release_types[&r.release_type];
    let obligations: Vec<Value> = obligation::of(policy, r, now)
        .iter()
        .map(|o| {
            json!({"id": o.def.id, "says": o.def.says, "status": o.status.key(), "due_at": opt_time(o.due), "fulfilled_at": opt_time(o.fulfilled)})
        })
        .collect();
    let ncs: Vec<Value> = state.ncs.iter().filter(|n| n.release == Some(r.id)).map(|n| nc_json(n, now)).collect();
    let removed_scope: Vec<Value> = r
        .removed_scope
        .iter()
        .map(|s| json!({"kind": s.value.0.kind, "ref": s.value.0.reference, "because": s.value.1, "by": s.by, "at": time(s.at)}))
        .collect();
    let mut json = json!({
        "id": r.id.to_string(),
        "service": r.service,
        "version": r.version,
        "type": r.release_type,
        "track": r.track.key(),
        "title": r.title,
        "phase": r.phase.key(),
        "profile": policy.id,
        "profile_version": policy.version,
        "profile_hash": profile.hash,
        "created_by": r.created.by,
        "created_at": time(r.created.at),
        "window_start": time(r.window.start),
        "window_end": opt_time(r.window.end),
        "touches": r.touches,
        "incident": r.incident,
        "scope": r.scope.iter().map(|s| json!({"kind": s.value.kind, "ref": s.value.reference, "rollback": s.value.rollback, "reassessment": s.value.reassessment, "by": s.by, "at": time(s.at)})).collect::<Vec<_>>(),
        "scope_locked": r.scope_locked.as_ref().map(|l| json!({"by": l.by, "at": time(l.at)})),
        "plan": r.plan.iter().map(|(f, p)| (f.key().to_owned(), json!({"text": p.value, "by": p.by, "at": time(p.at)}))).collect::<serde_json::Map<_, _>>(),
        "documents": r.documents.iter().map(|(k, d)| (k.clone(), json!({"name": d.value.name, "sha256": d.value.sha256, "bytes": d.value.bytes, "by": d.by, "at": time(d.at)}))).collect::<serde_json::Map<_, _>>(),
        "tests": r.tests.iter().map(|(k, t)| (k.clone(), json!({"result": if t.value.passed {"pass"} else {"fail"}, "ref": t.value.reference, "by": t.by, "at": time(t.at)}))).collect::<serde_json::Map<_, _>>(),
        "skipped_tests": r.skipped_tests.iter().map(|(k, s)| (k.clone(), json!({"justification": s.value, "by": s.by, "at": time(s.at)}))).collect::<serde_json::Map<_, _>>(),
        "defects": r.defects.iter().map(|(k, d)| json!({"ref": k, "severity": d.severity.key(), "title": d.title, "triage": d.triage.as_ref().map(|t| json!({"outcome": t.value.0.key(), "comment": t.value.1, "by": t.by, "at": time(t.at)}))})).collect::<Vec<_>>(),
        "confirmations": r.confirmations.iter().map(|(k, c)| (k.clone(), json!({"comment": c.value, "by": c.by, "at": time(c.at)}))).collect::<serde_json::Map<_, _>>(),
        "approvals": r.approvals.iter().map(|(who, a)| json!({"by": who, "role": a.role, "approve": a.approve, "comment": a.comment, "at": time(a.at)})).collect::<Vec<_>>(),
        "approval_routes": approval::routes(policy, r).into_iter().map(|(label, reqs)| json!({"label": label, "roles": reqs.iter().map(|q| q.role.clone()).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        "overrides": r.overrides.iter().map(|(k, o)| json!({"criterion": k, "justification": o.value.justification, "unmet_when_given": o.value.unmet, "by": o.by, "at": time(o.at)})).collect::<Vec<_>>(),
        "go": r.go().map(|g| json!({"go": g.value.go, "reason": g.value.reason, "by": g.by, "at": time(g.at)})),
        "decisions": r.decisions.iter().map(|g| json!({"go": g.value.go, "reason": g.value.reason, "by": g.by, "at": time(g.at)})).collect::<Vec<_>>(),
        "withdrawn": r.withdrawn.as_ref().map(|w| json!({"reason": w.value, "by": w.by, "at": time(w.at)})),
        "deployments": r.deployments.iter().map(|d| json!({"environment": d.environment, "by": d.started.by, "started_at": time(d.started.at), "finished_at": opt_time(d.finished.map(|f| f.0)), "outcome": d.finished.map(|f| if f.1 {"success"} else {"failed"})})).collect::<Vec<_>>(),
        "rollbacks": r.rollbacks.iter().map(|b| json!({"reason": b.reason, "by": b.started.by, "decided_at": time(b.started.at), "completed_at": opt_time(b.completed), "seconds": b.completed.map(|c| (c - b.started.at).num_seconds())})).collect::<Vec<_>>(),
        "obligations": obligations,
        "nonconformances": ncs,
        "source": r.source.as_ref().map(|s| json!({"repository": s.value.repository, "tag": s.value.tag, "commit": s.value.commit, "by": s.by, "at": time(s.at)})),
        "artefacts": artefacts_json(policy, r),
        "evidence": evidence_json(policy, r, now),
        "triage": triage_json(r, now),
    });
    // Beside the macro's object: one more key there passes serde_json's recursion limit.
    json["removed_scope"] = Value::Array(removed_scope);
    let flags = classification_flags(state, r);
    json["classification_flags"] = json!(flags);
    json["submitted"] = json!(r.submitted.as_ref().map(|s| json!({"by": s.by, "at": time(s.at)})));
    json["regoverned"] = Value::Array(r.regoverned.iter().map(|m| json!({"from": m.value.from_version, "to": m.value.to_version, "reason": m.value.reason, "loosens": m.value.loosens, "decisions_set_aside": m.value.decisions_before, "approvals_set_aside": m.value.superseded_approvals.keys().collect::<Vec<_>>(), "by": m.by, "at": time(m.at)})).collect());
    let in_force = state.current().map(|p| &p.policy).filter(|p| p.version != policy.version || p.id != policy.id);
    json["profile_in_force"] = json!(state.current().map(|p| p.policy.version.clone()));
    let mut text = format!(
        "{} {} {} — {}\n  type       {} ({}, {} track; min lead time {}, stabilisation {})\n  phase      {}\n  window     {}{}\n  governed   {} {} ({}…)\n  created    by {} at {}\n",
        r.id,
        r.service,
        r.version,
        r.title,
        rt.name,
        rt.process,
        r.track,
        rt.min_lead_time,
        rt.stabilisation,
        r.phase,
        when(r.window.start),
        r.window.end.map(|e| format!(" to {}", when(e))).unwrap_or_default(),
        policy.id,
        policy.version,
        &profile.hash[..12],
        r.created.by,
        when(r.created.at),
    );
    text.push_str(&flag_lines(&flags));
    if let Some(p) = in_force.filter(|_| r.phase != tollgate_domain::lifecycle::Phase::Closed) {
        text.push_str(&format!(
            "  in force   {} {} (to move: `tollgate release regovern {} --reason ...`)\n",
            p.id, p.version, r.id
        ));
    }
    for m in &r.regoverned {
        let v = &m.value;
        text.push_str(&format!(
            "  moved      from {} to {} by {} at {}: {}\n",
            v.from_version,
            v.to_version,
            m.by,
            when(m.at),
            v.reason
        ));
        for l in &v.loosens {
            text.push_str(&format!("             loosens {l}\n"));
        }
        if v.decisions_before > 0 {
            text.push_str("             the go/no-go decisions before it no longer count\n");
        }
        if !v.superseded_approvals.is_empty() {
            let who: Vec<&str> = v.superseded_approvals.keys().map(String::as_str).collect();
            text.push_str(&format!(
                "             approvals set aside (given again under the new rules): {}\n",
                who.join(", ")
            ));
        }
    }
    if !r.touches.is_empty() {
        text.push_str(&format!("  touches    {}\n", r.touches.iter().cloned().collect::<Vec<_>>().join(", ")));
    }
    for s in &r.scope {
        let rb = s.value.rollback.as_deref().map(|x| format!(" (rollback: {x})")).unwrap_or_default();
        let re = s.value.reassessment.as_deref().map(|x| format!(" [added after lock: {x}]")).unwrap_or_default();
        text.push_str(&format!("  scope      {}:{}{rb}{re}\n", s.value.kind, s.value.reference));
    }
    for s in &r.removed_scope {
        let (item, because) = &s.value;
        text.push_str(&format!(
            "  removed    {}:{} ({because}, by {} at {})\n",
            item.kind,
            item.reference,
            s.by,
            when(s.at)
        ));
    }
    for (kind, d) in &r.documents {
        text.push_str(&format!(
            "  document   {kind}: {} (sha256 {}…) by {}\n",
            d.value.name,
            &d.value.sha256[..12.min(d.value.sha256.len())],
            d.by
        ));
    }
    for (phase, t) in &r.tests {
        let result = if t.value.passed { "passed" } else { "FAILED" };
        let reference = t.value.reference.as_deref().map(|x| format!(" ({x})")).unwrap_or_default();
        text.push_str(&format!("  test       {phase} {result}{reference} by {} at {}\n", t.by, when(t.at)));
    }
    for (phase, sk) in &r.skipped_tests {
        text.push_str(&format!("  skipped    {phase} by {}: {}\n", sk.by, sk.value));
    }
    if let Some(s) = &r.source {
        text.push_str(&format!("  source     {} {} at {}\n", s.value.repository, s.value.tag, s.value.commit));
    }
    for (name, a) in &r.artefacts {
        text.push_str(&format!("  artefact   {name} {}\n", a.digest));
        for old in &a.previous {
            text.push_str(&format!("             rebuilt from {old}: evidence against it no longer counts\n"));
        }
        for v in &a.verifications {
            let trusted = match &v.value {
                Verification::Provenance { .. } => match &r.source {
                    Some(s) => tollgate_domain::artefact::trusted_provenance(policy, &s.value, &v.value),
                    None => Err("no release source to compare with".into()),
                },
                other => tollgate_domain::artefact::trusted_signature(policy, other),
            };
            let verdict = trusted.err().map(|e| format!(" — NOT TRUSTED: {e}")).unwrap_or_default();
            text.push_str(&format!("             {}{verdict}\n", tollgate_domain::artefact::describe(&v.value)));
        }
    }
    for (i, e) in r.evidence.iter().enumerate() {
        let problems = judge::problems(policy, r, &e.value, now);
        let status = if !r.is_current(&e.value.artefact) {
            format!("STALE: recorded against {}, since rebuilt", e.value.artefact.short())
        } else if let Some((j, later)) = r.superseded_by(i) {
            let why = later.value.rerun_reason.as_deref().unwrap_or("a later file of the same name");
            let counts = if matches!(e.value.report, tollgate_domain::evidence::Report::Scan(_)) {
                "its findings still stand until triaged or cleared"
            } else {
                "it no longer counts"
            };
            format!("SUPERSEDED by E-{} (rerun: {why}); {counts}", j + 1)
        } else if problems.is_empty() {
            "passes".to_owned()
        } else {
            format!("DOES NOT PASS: {}", problems.join("; "))
        };
        text.push_str(&format!(
            "  evidence   E-{} {} {} {}: {} — {status}{}\n",
            i + 1,
            e.value.phase,
            e.value.kind.key(),
            e.value.file,
            judge::summary(&e.value.report),
            judge::rerun(r, i)
        ));
    }
    for (finding, a) in &r.acceptances {
        let expired = if a.value.until <= now { " (EXPIRED)" } else { "" };
        text.push_str(&format!(
            "  triage     {finding} {} by {} until {}{expired}: {}\n",
            a.value.outcome.key(),
            a.by,
            when(a.value.until),
            a.value.comment
        ));
    }
    for (reference, d) in &r.defects {
        let status = d.triage.as_ref().map_or("open".to_owned(), |t| format!("{} by {}", t.value.0.key(), t.by));
        text.push_str(&format!("  defect     {reference} {} \"{}\": {status}\n", d.severity.key(), d.title));
    }
    for (criterion, o) in &r.overrides {
        text.push_str(&format!("  override   {criterion} by {}: {}\n", o.by, o.value.justification));
    }
    if let Some(s) = &r.submitted {
        text.push_str(&format!("  submitted  for approval by {} at {}\n", s.by, when(s.at)));
    }
    for (who, a) in &r.approvals {
        text.push_str(&format!(
            "  {}   {who} as {} at {}\n",
            if a.approve { "approved" } else { "rejected" },
            a.role,
            when(a.at)
        ));
    }
    for g in &r.decisions {
        let go = if g.value.go { "GO" } else { "NO-GO" };
        text.push_str(&format!("  decision   {go} by {} at {}\n", g.by, when(g.at)));
    }
    if let Some(w) = &r.withdrawn {
        text.push_str(&format!("  withdrawn  by {} at {}: {}\n", w.by, when(w.at), w.value));
    }
    for d in &r.deployments {
        let outcome = match d.finished {
            None => "running".to_owned(),
            Some((at, ok)) => format!("{} at {}", if ok { "succeeded" } else { "failed" }, when(at)),
        };
        text.push_str(&format!(
            "  deployed   to {} by {} at {}: {outcome}\n",
            d.environment,
            d.started.by,
            when(d.started.at)
        ));
    }
    for b in &r.rollbacks {
        let done = b.completed.map_or("running".to_owned(), |c| {
            format!("stable after {}", tollgate_domain::time::format_duration(c - b.started.at))
        });
        text.push_str(&format!("  rollback   by {} at {} ({}): {done}\n", b.started.by, when(b.started.at), b.reason));
    }
    for o in obligation::of(policy, r, now) {
        text.push_str(&format!("  deferred   {:<22} {}\n", o.def.id, o.status_text()));
    }
    for n in state.ncs.iter().filter(|n| n.release == Some(r.id)) {
        text.push_str(&format!("  NC-{:<7} {} ({})\n", n.id, n.condition, n.status(now).key()));
    }
    View { json, text }
}

pub fn nc_json(n: &Nonconformance, now: Timestamp) -> Value {
    json!({
        "id": format!("NC-{}", n.id),
        "condition": n.condition,
        "release": n.release.map(|r| r.to_string()),
        "service": n.service,
        "detail": n.detail,
        "raised_at": time(n.raised_at),
        "raised_by": n.raised_by,
        "occurred_at": time(n.occurred),
        "due_at": time(n.due),
        "status": n.status(now).key(),
        "formal_corrective_action": n.repeat,
        "corrective_action": n.closed.as_ref().map(|c| c.2.clone()),
        "closed_at": n.closed.as_ref().map(|c| time(c.0)),
    })
}

pub fn nc_text(n: &Nonconformance, now: Timestamp) -> String {
    format!(
        "NC-{:<4} {:<8} {:<36} {:<6} {:<10} raised {}  due {}{}\n         {}\n",
        n.id,
        n.status(now).key(),
        n.condition,
        n.release.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
        n.service.as_deref().unwrap_or("-"),
        when(n.raised_at),
        when(n.due),
        if n.repeat { "  REPEAT: formal corrective action" } else { "" },
        n.detail
    )
}

fn artefacts_json(policy: &tollgate_domain::policy::Policy, r: &Release) -> Value {
    r.artefacts
        .iter()
        .map(|(name, a)| {
            let checks: Vec<Value> = a
                .verifications
                .iter()
                .map(|v| {
                    let trusted = match &v.value {
                        Verification::Provenance { .. } => r.source.as_ref().map_or(Err("no release source".to_owned()), |s| {
                            tollgate_domain::artefact::trusted_provenance(policy, &s.value, &v.value)
                        }),
                        other => tollgate_domain::artefact::trusted_signature(policy, other),
                    };
                    json!({"check": v.value.label(), "what": tollgate_domain::artefact::describe(&v.value), "trusted": trusted.is_ok(), "why_not": trusted.err(), "by": v.by, "at": time(v.at)})
                })
                .collect();
            json!({"name": name, "digest": a.digest.to_string(), "since": time(a.since), "previous": a.previous.iter().map(|d| d.to_string()).collect::<Vec<_>>(), "verifications": checks})
        })
        .collect()
}

fn evidence_json(policy: &tollgate_domain::policy::Policy, r: &Release, now: Timestamp) -> Value {
    r.evidence
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let problems = judge::problems(policy, r, &e.value, now);
            json!({
                "id": format!("E-{}", i + 1),
                "phase": e.value.phase,
                "kind": e.value.kind.key(),
                "file": e.value.file,
                "file_digest": e.value.file_digest.to_string(),
                "bytes": e.value.bytes,
                "artefact": e.value.artefact.to_string(),
                "current": r.is_current(&e.value.artefact),
                "counts": r.is_current(&e.value.artefact) && r.superseded_by(i).is_none(),
                "superseded_by": r.superseded_by(i).map(|(j, _)| format!("E-{}", j + 1)),
                "rerun_reason": e.value.rerun_reason,
                "supersedes": r.supersedes(i).iter().map(|j| format!("E-{}", j + 1)).collect::<Vec<_>>(),
                "summary": judge::summary(&e.value.report),
                "passes": problems.is_empty(),
                "problems": problems,
                "by": e.by,
                "at": time(e.at),
            })
        })
        .collect()
}

fn triage_json(r: &Release, now: Timestamp) -> Value {
    r.acceptances
        .iter()
        .map(|(f, a)| {
            json!({"finding": f, "kind": a.value.kind.key(), "outcome": a.value.outcome.key(), "until": time(a.value.until), "expired": a.value.until <= now, "comment": a.value.comment, "by": a.by, "at": time(a.at)})
        })
        .collect()
}
