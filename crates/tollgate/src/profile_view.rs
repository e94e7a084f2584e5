//! `tollgate profile show`: the procedure as Tollgate will enforce it, table by table.

use serde_json::{Value, json};
use tollgate_domain::Profile;
use tollgate_domain::policy::{Count, Requirement};

use crate::view::View;

fn requirement(r: &Requirement) -> String {
    let count = match r.count {
        Count::AtLeast(1) => String::new(),
        Count::AtLeast(n) => format!(" ×{n}"),
        Count::All => " (all)".to_owned(),
    };
    let when = if r.when_touches.is_empty() {
        String::new()
    } else {
        format!(" if touching {}", r.when_touches.iter().cloned().collect::<Vec<_>>().join("/"))
    };
    format!("{}{count}{when}", r.role)
}

pub fn show(profile: &Profile) -> View {
    let p = &profile.policy;
    let mut t = format!(
        "{} {} — {} ({}){}\ncontent hash {}\n\nRelease types (3.7)\n",
        p.id,
        p.version,
        p.title,
        p.document,
        p.extends.as_deref().map(|b| format!(", tightening {b}")).unwrap_or_default(),
        profile.hash
    );
    let mut types = Vec::new();
    for (id, rt) in &p.release_types {
        let routes: Vec<String> =
            rt.approvals.iter().map(|r| r.requires.iter().map(requirement).collect::<Vec<_>>().join(" + ")).collect();
        t.push_str(&format!(
            "  {:<15} lead ≥ {:<8} stabilise {:<6} {:<9} approvals: {}\n                  tests: {}\n",
            id,
            rt.min_lead_time.to_string(),
            rt.stabilisation.to_string(),
            rt.track.key(),
            routes.join("  OR  "),
            rt.test_phases.join(", ")
        ));
        types.push(json!({"id": id, "name": rt.name, "track": rt.track.key(), "min_lead_time": rt.min_lead_time.to_string(), "lead_time": rt.lead_time, "stabilisation": rt.stabilisation.to_string(), "approval_routes": routes, "test_phases": rt.test_phases}));
    }
    if !p.additional_approvals.is_empty() {
        t.push_str(&format!(
            "  every type also: {}\n",
            p.additional_approvals.iter().map(requirement).collect::<Vec<_>>().join(", ")
        ));
    }
    t.push_str("\nGates (4.4, 4.6)\n");
    let mut gates = Vec::new();
    for g in &p.gates {
        t.push_str(&format!("  {}/{} — {} (signed off by {})\n", g.track, g.id, g.name, g.signed_off_by.join(" or ")));
        for c in &g.criteria {
            let types = if c.types.is_empty() {
                String::new()
            } else {
                format!(" [{}]", c.types.iter().cloned().collect::<Vec<_>>().join(", "))
            };
            t.push_str(&format!(
                "      {:<34} {}{}{}\n",
                c.id,
                c.check.name(),
                types,
                if c.overridable { " (overridable)" } else { "" }
            ));
        }
        gates.push(json!({"track": g.track.key(), "id": g.id, "phase": g.phase.key(), "name": g.name, "says": g.says, "criteria": g.criteria.iter().map(|c| json!({"id": c.id, "check": c.check.name(), "says": c.says, "types": c.types, "overridable": c.overridable})).collect::<Vec<_>>()}));
    }
    t.push_str("\nEmergency deferred steps (4.6)\n");
    for d in &p.deferred {
        t.push_str(&format!("  {:<22} within {:<16} {}\n", d.id, d.within.to_string(), d.says));
    }
    t.push_str(&format!("\nRollback (4.5): target {}\n", p.rollback.target));
    for tr in &p.rollback.triggers {
        t.push_str(&format!("  trigger {}: {}\n", tr.id, tr.says));
    }
    t.push_str(&format!(
        "\nNon-conformances (6.2): corrective action within {}\n",
        p.nonconformance.corrective_action_within
    ));
    for (id, c) in &p.nonconformance.conditions {
        t.push_str(&format!("  {:<36} {}\n", id, c.says));
    }
    t.push_str("\nAbsolute rules (no override waives them)\n");
    for a in &p.absolute {
        t.push_str(&format!(
            "  {:<36} {} [{}]\n",
            a.id,
            a.says,
            a.checks.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    t.push_str(&format!("\nRecording: a fact may be recorded at most {} after it happened\n", p.max_lateness));
    t.push_str("\nRetention (4.8)\n");
    for r in &p.retention {
        t.push_str(&format!("  {:<38} {:<18} {}\n", r.document, r.keep, r.location));
    }
    t.push_str("\nKPIs (4.2)\n");
    for k in &p.kpis {
        t.push_str(&format!("  {:<30} {}\n", k.name, k.target.as_deref().unwrap_or("no target set")));
    }
    let json: Value = json!({
        "id": p.id, "version": p.version, "title": p.title, "document": p.document, "extends": p.extends, "hash": profile.hash,
        "roles": p.roles.iter().map(|(id, r)| json!({"id": id, "name": r.name, "backup": r.backup})).collect::<Vec<_>>(),
        "release_types": types,
        "test_phases": p.test_phases.iter().map(|tp| json!({"id": tp.id, "name": tp.name, "exit_criteria": tp.exit_criteria, "owner": tp.owner})).collect::<Vec<_>>(),
        "gates": gates,
        "deferred": p.deferred.iter().map(|d| json!({"id": d.id, "within": d.within.to_string(), "says": d.says})).collect::<Vec<_>>(),
        "rollback_target": p.rollback.target.to_string(),
        "corrective_action_within": p.nonconformance.corrective_action_within.to_string(),
        "nonconformance_conditions": p.nonconformance.conditions.iter().map(|(id, c)| json!({"id": id, "says": c.says, "detect": c.detect.name()})).collect::<Vec<_>>(),
        "absolute": p.absolute.iter().map(|a| json!({"id": a.id, "says": a.says, "checks": a.checks})).collect::<Vec<_>>(),
        "max_lateness": p.max_lateness.to_string(),
        "retention": p.retention.iter().map(|r| json!({"document": r.document, "keep": r.keep, "location": r.location, "access": r.access})).collect::<Vec<_>>(),
        "kpis": p.kpis.iter().map(|k| json!({"id": k.id, "name": k.name, "target": k.target, "dora": k.dora})).collect::<Vec<_>>(),
    });
    View { json, text: t }
}
