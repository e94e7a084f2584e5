//! A profile that extends another may only tighten it: longer lead times, more approvers, more
//! required test phases and checks, shorter deadlines, fewer people allowed to act. Each
//! loosened rule is reported at its key, with the base's value.

use std::collections::BTreeSet;

use tollgate_domain::policy::*;

use crate::convert::Problems;
use crate::path::KeyPath;

pub fn check(base: &Policy, team: &Policy) -> Problems {
    let mut p = Problems::default();
    let root = KeyPath::root();
    let was = |what: String| {
        format!("{what} in {} {} (a profile that extends another may only tighten it)", base.id, base.version)
    };

    let added: Vec<String> =
        team.calendar.holidays.difference(&base.calendar.holidays).map(|d| d.to_string()).collect();
    if !added.is_empty() {
        p.at(
            &root.key("calendar").key("holidays"),
            format!(
                "adds holidays {}, which pushes business-day deadlines later; {}",
                added.join(", "),
                was("not holidays".into())
            ),
        );
    }

    for action in Action::ALL {
        let extra = not_in(team.roles_for(action), base.roles_for(action));
        if !extra.is_empty() {
            p.at(
                &root.key("authority").key(action.key()),
                format!(
                    "lets {} {} as well; {}",
                    extra.join(", "),
                    action.key(),
                    was(format!("only {}", base.roles_for(action).join(", ")))
                ),
            );
        }
    }

    for req in &base.additional_approvals {
        if !team.additional_approvals.iter().any(|t| implies(t, req)) {
            p.at(
                &root.key("approvals").key("additional"),
                format!("drops or narrows the additional approval by {}; {}", req.role, was("required".into())),
            );
        }
    }

    for id in team.release_types.keys().filter(|id| !base.release_types.contains_key(*id)) {
        p.at(
            &root.key("release-types").key(id),
            format!(
                "adds release type `{id}`, which could be used to avoid the base's controls; {}",
                was("the types are fixed".into())
            ),
        );
    }
    let missing_freeze = not_in(&base.freezes_scope, &team.freezes_scope);
    if !missing_freeze.is_empty() {
        p.at(
            &root.key("scope").key("frozen-by"),
            format!("no longer freezes scope on {}; {}", missing_freeze.join(", "), was("it does".into())),
        );
    }
    if team.max_accepted_risk > base.max_accepted_risk {
        p.at(
            &root.key("defects").key("max-accepted-risk"),
            format!(
                "accepts the risk of {} defects; {}",
                team.max_accepted_risk.key(),
                was(format!("at most {}", base.max_accepted_risk.key()))
            ),
        );
    }
    for b in &base.retention {
        let path = root.key("retention");
        match team.retention.iter().find(|t| t.document == b.document) {
            None => p.at(&path, was(format!("\"{}\" are retained for {}", b.document, b.keep))),
            Some(t) if !retained_at_least(&t.keep, &b.keep) => {
                p.at(&path, format!("keeps \"{}\" for {}, less than {}", b.document, t.keep, was(b.keep.clone())))
            }
            Some(_) => {}
        }
    }

    for (id, b) in &base.release_types {
        let path = root.key("release-types").key(id);
        let Some(t) = team.release_types.get(id) else {
            p.at(&path, was(format!("release type `{id}` is defined")));
            continue;
        };
        if t.track != b.track {
            p.at(&path.key("track"), format!("moves {id} to the {} track; {}", t.track, was(format!("{}", b.track))));
        }
        if !t.min_lead_time.never_shorter_than(b.min_lead_time) {
            p.at(
                &path.key("min-lead-time"),
                format!("{} is shorter than {}", t.min_lead_time, was(b.min_lead_time.to_string())),
            );
        }
        if !t.stabilisation.never_shorter_than(b.stabilisation) {
            p.at(
                &path.key("stabilisation"),
                format!("{} is shorter than {}", t.stabilisation, was(b.stabilisation.to_string())),
            );
        }
        if let Some(least) = &b.rollout {
            let rollout = path.key("rollout");
            match &t.rollout {
                None => p.at(&rollout, was(format!("{id} has a minimum rollout ({})", least.says))),
                Some(minimum) => {
                    for problem in minimum.loosens(least) {
                        p.at(
                            &crate::plan::root_field(&rollout, &problem.field),
                            format!("{}; {}", problem.message, was("the minimum".into())),
                        );
                    }
                }
            }
        }
        let dropped = not_in(&b.test_phases, &t.test_phases);
        if !dropped.is_empty() {
            p.at(&path.key("test-phases"), format!("drops {}; {}", dropped.join(", "), was("required".into())));
        }
        for (i, route) in t.approvals.iter().enumerate() {
            if !b.approvals.iter().any(|base_route| route_implies(route, base_route)) {
                p.at(
                    &path.key("approvals").index(i),
                    format!(
                        "route \"{}\" asks less than every route {}",
                        route.label,
                        was(format!(
                            "({})",
                            b.approvals.iter().map(|r| r.label.as_str()).collect::<Vec<_>>().join(" / ")
                        ))
                    ),
                );
            }
        }
    }

    let (ta, ba) = (&team.rollback.afterwards, &base.rollback.afterwards);
    let afterwards = root.key("rollback").key("afterwards");
    if ba.incident.is_some() && ta.incident.is_none() {
        p.at(&afterwards.key("incident"), was("a completed rollback raises an incident record".into()));
    }
    if ba.defect.is_some_and(|b| ta.defect.is_none_or(|t| t < b)) {
        p.at(
            &afterwards.key("defect"),
            was(format!("a completed rollback opens a {} defect", ba.defect.expect("some").key())),
        );
    }

    for b in &base.test_phases {
        let path = root.key("test-phases").key(&b.id);
        let Some(t) = team.test_phase(&b.id) else {
            p.at(&path, was(format!("test phase `{}` is defined", b.id)));
            continue;
        };
        if b.written && !t.written {
            p.at(&path.key("written"), was("a written record is required".into()));
        }
        let extra = not_in(&t.recorded_by, &b.recorded_by);
        if !extra.is_empty() {
            p.at(
                &path.key("recorded-by"),
                format!(
                    "lets {} record results; {}",
                    extra.join(", "),
                    was(format!("only {}", b.recorded_by.join(", ")))
                ),
            );
        }
        if !t.required_when_touches.is_superset(&b.required_when_touches) {
            p.at(
                &path.key("required-when-touches"),
                was(format!("required when touching {}", join(&b.required_when_touches))),
            );
        }
        let dropped: Vec<&str> = b.evidence.iter().filter(|k| !t.evidence.contains(k)).map(|k| k.key()).collect();
        if !dropped.is_empty() {
            p.at(
                &path.key("evidence"),
                format!(
                    "no longer judges the phase from {}; {}",
                    dropped.join(", "),
                    was("it must be recorded".into())
                ),
            );
        }
    }
    if base.test_phases_in_sequence && !team.test_phases_in_sequence {
        p.at(&root.key("testing").key("in-sequence"), was("test phases run in the sequence listed".into()));
    }
    for b in &base.absolute {
        let path = root.key("absolute").key(&b.id);
        let kept = team.absolute.iter().find(|t| t.id == b.id).map(|t| &t.checks);
        let dropped: Vec<&str> =
            b.checks.iter().filter(|c| !kept.is_some_and(|k| k.contains(*c))).map(String::as_str).collect();
        if !dropped.is_empty() {
            p.at(
                &path.key("checks"),
                format!("lets an override waive {}; {}", dropped.join(", "), was(format!("absolute ({})", b.says))),
            );
        }
    }
    // Trusted keys, signers and builders are the organisation's own configuration, which the
    // built-ins leave empty: adding them is not loosening. Judging rules are procedure.
    if team.evidence.performance_regression > base.evidence.performance_regression {
        p.at(
            &root.key("evidence").key("performance-regression"),
            format!(
                "lets SLO regressions up to {:.0}% pass untriaged; {}",
                team.evidence.performance_regression * 100.0,
                was(format!("{:.0}%", base.evidence.performance_regression * 100.0))
            ),
        );
    }
    for rule in &base.evidence.critical_drift {
        let kept = team.evidence.critical_drift.iter().any(|t| {
            (t.resource_type == "*" || t.resource_type == rule.resource_type)
                && (t.action == "*" || t.action == rule.action)
        });
        if !kept {
            p.at(
                &root.key("evidence").key("critical-drift"),
                was(format!("{} of {} is critical drift", rule.action, rule.resource_type)),
            );
        }
    }

    for (id, b) in &base.confirmations {
        let path = root.key("confirmations").key(id);
        let Some(t) = team.confirmations.get(id) else {
            p.at(&path, was(format!("confirmation `{id}` is defined")));
            continue;
        };
        if b.written && !t.written {
            p.at(&path.key("written"), was("a written record is required".into()));
        }
        if b.after.is_some() && t.after != b.after {
            p.at(
                &path.key("after"),
                was(format!("it must be given after each {}", b.after.map(|a| a.key()).unwrap_or_default())),
            );
        }
        if b.before_window && !t.before_window {
            p.at(&path.key("before"), was("it must be given before the deployment window opens".into()));
        }
        let extra = not_in(&t.by, &b.by);
        if !extra.is_empty() {
            p.at(
                &path.key("by"),
                format!("lets {} confirm; {}", extra.join(", "), was(format!("only {}", b.by.join(", ")))),
            );
        }
    }

    for b in &base.gates {
        let path = root.key("gates").id(&format!("{}/{}", b.track, b.id));
        let Some(t) = team.gate(b.track, &b.id) else {
            p.at(&path, was(format!("gate `{}` exists", b.id)));
            continue;
        };
        if t.phase != b.phase || t.opens != b.opens {
            p.at(&path.key("phase"), was(format!("this gate guards the {} phase", b.phase)));
        }
        let extra = not_in(&t.signed_off_by, &b.signed_off_by);
        if !extra.is_empty() {
            p.at(
                &path.key("signed-off-by"),
                format!("lets {} sign off; {}", extra.join(", "), was(format!("only {}", b.signed_off_by.join(", ")))),
            );
        }
        for bc in &b.criteria {
            let cpath = path.key("criteria").id(&bc.id);
            let Some(tc) = t.criteria.iter().find(|c| c.id == bc.id) else {
                p.at(&cpath, was(format!("criterion `{}` is checked", bc.id)));
                continue;
            };
            if !check_implies(&tc.check, &bc.check) {
                p.at(
                    &cpath.key("check"),
                    format!("checks less; {}", was(format!("check `{}` with its parameters", bc.check.name()))),
                );
            }
            // An empty list means every type; the team's list must cover at least the base's.
            let covers = tc.types.is_empty() || (!bc.types.is_empty() && tc.types.is_superset(&bc.types));
            if !covers {
                p.at(
                    &cpath.key("types"),
                    format!(
                        "applies to fewer release types; {}",
                        was(if bc.types.is_empty() { "every type".into() } else { join(&bc.types) })
                    ),
                );
            }
            let wide = tc.when_touches.is_empty()
                || (!bc.when_touches.is_empty() && tc.when_touches.is_superset(&bc.when_touches));
            if !wide {
                p.at(
                    &cpath.key("when-touches"),
                    format!(
                        "applies to fewer releases; {}",
                        was(if bc.when_touches.is_empty() { "every release".into() } else { join(&bc.when_touches) })
                    ),
                );
            }
            if tc.overridable && !bc.overridable {
                p.at(&cpath.key("overridable"), was("no override allowed".into()));
            }
        }
    }

    for b in &base.deferred {
        let path = root.key("emergency").key("deferred").id(&b.id);
        match team.deferred.iter().find(|d| d.id == b.id) {
            None => p.at(&path, was(format!("deferred step `{}` is tracked", b.id))),
            Some(t) => {
                if !t.within.never_longer_than(b.within) {
                    p.at(&path.key("within"), format!("{} is later than {}", t.within, was(b.within.to_string())));
                }
                if !check_implies(&t.fulfilled_by, &b.fulfilled_by) {
                    p.at(
                        &path.key("check"),
                        was(format!("fulfilled by `{}` with its parameters", b.fulfilled_by.name())),
                    );
                }
            }
        }
    }

    if !team.rollback.target.never_longer_than(base.rollback.target) {
        p.at(
            &root.key("rollback").key("target"),
            format!("{} is longer than {}", team.rollback.target, was(base.rollback.target.to_string())),
        );
    }
    for b in &base.classification {
        let path = root.key("classification").id(&b.id);
        let Some(t) = team.classification.iter().find(|t| t.id == b.id) else {
            p.at(&path, was(format!("`{}` flags a release classified below {}", b.id, join(&b.types))));
            continue;
        };
        let extra: Vec<&str> = t.types.difference(&b.types).map(String::as_str).collect();
        if !extra.is_empty() {
            p.at(
                &path.key("types"),
                format!("lets {} do as well; {}", extra.join(", "), was(format!("only {}", join(&b.types)))),
            );
        }
        let signals_kept = (t.semver_major || !b.semver_major)
            && t.touches.is_superset(&b.touches)
            && t.scope_kinds.is_superset(&b.scope_kinds);
        if !signals_kept {
            p.at(&path, format!("reads fewer signals; {}", was("all its signals are read".into())));
        }
    }
    if !team.max_lateness.never_longer_than(base.max_lateness) {
        p.at(
            &root.key("recording").key("max-lateness"),
            format!(
                "lets facts be recorded {} after they happened; {}",
                team.max_lateness,
                was(format!("at most {}", base.max_lateness))
            ),
        );
    }
    for b in &base.rollback.triggers {
        let path = root.key("rollback").key("triggers").id(&b.id);
        match team.rollback.triggers.iter().find(|t| t.id == b.id) {
            None => p.at(&path, was(format!("\"{}\" triggers a rollback", b.says))),
            Some(t) => {
                if let Some(loosened) = t.rule.loosens(&b.rule) {
                    p.at(&path, was(loosened));
                }
            }
        }
    }
    for b in &base.cadences {
        if !team.cadences.iter().any(|t| t.id == b.id) {
            p.at(&root.key("cadences").id(&b.id), was(format!("{} is reviewed ({})", b.reviews, b.trigger)));
        }
    }
    for b in &base.kpis {
        if !team.kpis.iter().any(|t| t.id == b.id) {
            p.at(&root.key("kpis").id(&b.id), was(format!("{} is measured", b.name)));
        }
    }
    let nc = root.key("nonconformance");
    if let Some(base_from) = base.nonconformance.enforced_from
        && team.nonconformance.enforced_from.is_none_or(|t| t > base_from)
    {
        p.at(
            &nc.key("enforced-from"),
            format!(
                "holds imported deployments to the procedure only from {}; {}",
                team.nonconformance.enforced_from.map_or("the first adoption".into(), |t| t.to_string()),
                was(format!("from {base_from}"))
            ),
        );
    }
    if !team.nonconformance.corrective_action_within.never_longer_than(base.nonconformance.corrective_action_within) {
        p.at(
            &nc.key("corrective-action-within"),
            format!(
                "{} is later than {}",
                team.nonconformance.corrective_action_within,
                was(base.nonconformance.corrective_action_within.to_string())
            ),
        );
    }
    for (id, b) in &base.nonconformance.conditions {
        let path = nc.key("conditions").key(id);
        match team.nonconformance.conditions.get(id) {
            None => p.at(&path, was(format!("condition `{id}` is detected"))),
            Some(t) => match (&t.detect, &b.detect) {
                (
                    Detect::EmergencyFrequency { max: tm, window: tw },
                    Detect::EmergencyFrequency { max: bm, window: bw },
                ) => {
                    if tm > bm {
                        p.at(&path.key("max"), format!("{tm} is more than {}", was(bm.to_string())));
                    }
                    if !tw.never_shorter_than(*bw) {
                        p.at(&path.key("window"), format!("{tw} is shorter than {}", was(bw.to_string())));
                    }
                }
                (Detect::DocumentationAbsent(td), Detect::DocumentationAbsent(bd)) => {
                    let dropped = not_in(bd, td);
                    if !dropped.is_empty() {
                        p.at(
                            &path.key("documents"),
                            format!("no longer requires {}; {}", dropped.join(", "), was("required".into())),
                        );
                    }
                }
                (t, b) if t == b => {}
                (_, b) => p.at(&path.key("detect"), was(format!("detected by `{}`", b.name()))),
            },
        }
    }
    if team.production() != base.production() {
        p.at(&root.key("environments"), was(format!("production is `{}`", base.production().unwrap_or("?"))));
    }
    p
}

/// Retention written as people write it: `3 years`, `18 months`, `product lifetime`. Text that
/// is not a period must stay as it was.
fn retained_at_least(team: &str, base: &str) -> bool {
    fn months(keep: &str) -> Option<u32> {
        if keep.trim() == "product lifetime" {
            return Some(u32::MAX);
        }
        let (n, unit) = keep.trim().split_once(' ')?;
        let n: u32 = n.parse().ok()?;
        match unit.trim_end_matches('s') {
            "year" => Some(n * 12),
            "month" => Some(n),
            _ => None,
        }
    }
    match (months(team), months(base)) {
        (Some(t), Some(b)) => t >= b,
        _ => team == base,
    }
}

fn not_in(team: &[String], base: &[String]) -> Vec<String> {
    team.iter().filter(|r| !base.contains(r)).cloned().collect()
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Requirement `t` asks at least what `b` asks: same role, at least as many people, and
/// applies whenever `b` applies.
fn implies(t: &Requirement, b: &Requirement) -> bool {
    let count = match (t.count, b.count) {
        (Count::AtLeast(x), Count::AtLeast(y)) => x >= y,
        (Count::All, Count::All) => true,
        // "All" may be one person; a fixed count may exceed the board.
        _ => false,
    };
    let applies =
        t.when_touches.is_empty() || (!b.when_touches.is_empty() && t.when_touches.is_superset(&b.when_touches));
    t.role == b.role && count && applies
}

/// Anyone satisfying route `t` also satisfies route `b`.
fn route_implies(t: &ApprovalRoute, b: &ApprovalRoute) -> bool {
    b.requires.iter().all(|br| t.requires.iter().any(|tr| implies(tr, br)))
}

/// Check `t` is met only when `b` would be.
fn check_implies(t: &Check, b: &Check) -> bool {
    match (t, b) {
        (Check::Plan(tf), Check::Plan(bf)) => bf.iter().all(|f| tf.contains(f)),
        (Check::Documents(td), Check::Documents(bd)) => bd.iter().all(|d| td.contains(d)),
        (Check::TestPhases { only: to, except: te }, Check::TestPhases { only: bo, except: be }) => {
            let wider_only = to.is_empty() || (!bo.is_empty() && bo.iter().all(|p| to.contains(p)));
            wider_only && te.iter().all(|p| be.contains(p))
        }
        (Check::ElapsedSinceDeployment(ts), Check::ElapsedSinceDeployment(bs)) => ts.never_shorter_than(*bs),
        (Check::NoOpenDefects(ts), Check::NoOpenDefects(bs))
        | (Check::DefectsTriaged(ts), Check::DefectsTriaged(bs)) => ts <= bs,
        (t, b) => t == b,
    }
}
