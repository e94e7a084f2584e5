//! Hand-computed fixtures for every KPI. Each expected number is written out with its
//! arithmetic; nothing here is derived from the code under test.

use tollgate_metrics::history::{
    ApprovalCycle, Deployment, History, Incident, ReleaseAtGate, Rollback, Severity, Time,
};
use tollgate_metrics::kpi::{self, Kpi, Query, Stats, Value};

const M: i64 = 60;
const H: i64 = 3600;
const D: i64 = 86_400;
/// Monday 2026-03-02 00:00 UTC.
const MON: Time = 1_772_409_600;

fn dep(id: u64, service: &str, finished: Time) -> Deployment {
    Deployment {
        id,
        service: service.into(),
        environment: "production".into(),
        artefact: Some(format!("{service}-{id}")),
        pipeline_started: None,
        finished,
        success: true,
        release: Some(format!("R-{id}")),
        release_type: Some("minor".into()),
        emergency: false,
        fixes_incident: None,
        change_lead_times: Default::default(),
        rollback: None,
        stabilisation: Some(2 * H),
    }
}

fn incident(id: &str, severity: Severity, detected: Time, resolved: Option<Time>, caused_by: Option<u64>) -> Incident {
    Incident {
        id: id.into(),
        service: None,
        environment: Some("production".into()),
        severity,
        detected,
        resolved,
        caused_by,
    }
}

fn approval(release: &str, service: &str, emergency: bool, requested: Time, granted: Option<Time>) -> ApprovalCycle {
    ApprovalCycle {
        release: release.into(),
        service: service.into(),
        emergency,
        requested: Some(requested),
        opened: requested - D,
        granted,
    }
}

fn gate(release: &str, service: &str, gate_at: Time, docs: bool, drift: Option<u32>) -> ReleaseAtGate {
    ReleaseAtGate {
        release: release.into(),
        service: service.into(),
        gate_at,
        documentation_complete: docs,
        critical_drift: drift,
    }
}

fn query(service: Option<&str>, from: Time, to: Time) -> Query {
    Query { service: service.map(Into::into), environment: "production".into(), from, to }
}

fn get<'a>(kpis: &'a [Kpi], key: &str) -> &'a Kpi {
    kpis.iter().find(|k| k.key == key).unwrap_or_else(|| panic!("no KPI {key}"))
}

fn ratio(k: &Kpi) -> (u64, u64) {
    match k.value {
        Some(Value::Ratio { numerator, denominator }) => (numerator, denominator),
        ref v => panic!("{}: not a ratio: {v:?}", k.key),
    }
}

fn durations(k: &Kpi) -> (Stats, u64, u64) {
    match k.value {
        Some(Value::Durations { stats, over_target, unmeasured, missing_source }) => {
            (stats, over_target, unmeasured + missing_source)
        }
        ref v => panic!("{}: not durations: {v:?}", k.key),
    }
}

fn band(k: &Kpi) -> (&str, bool) {
    let b = k.band.as_ref().unwrap_or_else(|| panic!("{}: no band", k.key));
    (b.label.as_str(), b.met)
}

fn breach_deployments(k: &Kpi) -> Vec<u64> {
    k.breaches.iter().filter_map(|b| b.deployment).collect()
}

/// Two services over the two whole ISO weeks from Monday 2026-03-02 (see each KPI's test for
/// which facts it uses). Deployment 1 is the window's first and is rolled back.
fn scenario() -> History {
    let d0 = MON;
    let mut deployments = Vec::new();

    let mut d = dep(1, "pay", d0 + 10 * H);
    d.pipeline_started = Some(d.finished - 20 * M);
    d.change_lead_times = vec![2 * H, 30 * M].into();
    d.rollback = Some(Rollback { decided: d.finished + 30 * M, completed: Some(d.finished + 40 * M) });
    deployments.push(d);

    let mut d = dep(2, "pay", d0 + 14 * H);
    d.pipeline_started = Some(d.finished - 25 * M);
    d.change_lead_times = vec![5 * H].into();
    deployments.push(d);

    let mut d = dep(3, "shop", d0 + D + 9 * H);
    d.success = false;
    d.pipeline_started = Some(d.finished - 10 * M);
    // A failed deployment ships nothing: its list must be ignored.
    d.change_lead_times = vec![100].into();
    deployments.push(d);

    let mut d = dep(4, "shop", d0 + D + 11 * H);
    d.pipeline_started = Some(d.finished - 50 * M);
    d.release_type = Some("infrastructure".into());
    d.stabilisation = Some(24 * H);
    d.change_lead_times = vec![25 * H].into();
    deployments.push(d);

    let mut d = dep(5, "pay", d0 + 2 * D + 8 * H);
    d.stabilisation = None;
    deployments.push(d);

    let mut d = dep(6, "pay", d0 + 2 * D + 8 * H + 40 * M);
    d.pipeline_started = Some(d.finished - 5 * M);
    d.emergency = true;
    d.release_type = Some("emergency".into());
    d.fixes_incident = Some("I1".into());
    d.stabilisation = Some(30 * M);
    deployments.push(d);

    let mut d = dep(7, "shop", d0 + 3 * D + 12 * H);
    d.pipeline_started = Some(d.finished - 35 * M);
    d.rollback = Some(Rollback { decided: d.finished + 3 * H, completed: Some(d.finished + 3 * H + 20 * M) });
    deployments.push(d);

    deployments.push(dep(8, "shop", d0 + 8 * D + 10 * H));

    let mut d = dep(9, "pay", d0 + 9 * D + 10 * H);
    d.pipeline_started = Some(d.finished - 15 * M);
    d.change_lead_times = vec![-10, 40 * M].into();
    deployments.push(d);

    let mut d = dep(10, "pay", d0 + 9 * D + 11 * H);
    d.environment = "staging".into();
    d.change_lead_times = vec![H].into();
    d.rollback = Some(Rollback { decided: d.finished + M, completed: None });
    deployments.push(d);

    // After the window: never counted.
    deployments.push(dep(11, "pay", d0 + 15 * D));

    let incidents = vec![
        incident("I1", Severity::P1, d0 + 2 * D + 9 * H, Some(d0 + 2 * D + 9 * H + 45 * M), Some(5)),
        incident("I2", Severity::P3, d0 + 3 * D + 13 * H, Some(d0 + 3 * D + 14 * H), Some(7)),
        Incident { service: Some("pay".into()), ..incident("I4", Severity::P1, d0 + 4 * D, None, None) },
        incident("I5", Severity::P4, d0 + 4 * D + H, None, None),
        Incident {
            environment: Some("staging".into()),
            ..incident("I6", Severity::P1, d0 + 4 * D + 2 * H, None, None)
        },
        Incident { environment: None, ..incident("I7", Severity::P2, d0 + 5 * D, Some(d0 + 5 * D + H), None) },
        incident("I3", Severity::P2, d0 + 9 * D + 10 * H, None, Some(8)),
        // Caused by the staging deployment: outside the query.
        incident("I8", Severity::P1, d0 + 9 * D + 12 * H, Some(d0 + 10 * D), Some(10)),
    ];
    let approvals = vec![
        approval("R-0", "pay", false, d0 - D, Some(d0 - D + 10 * H)),
        approval("R-2", "pay", false, d0 + 8 * H, Some(d0 + 11 * H)),
        approval("R-4", "shop", false, d0 + 9 * H, Some(d0 + 15 * H)),
        approval("R-6", "pay", true, d0 + 2 * D + 8 * H + 10 * M, Some(d0 + 2 * D + 8 * H + 30 * M)),
        approval("R-12", "shop", false, d0 + 5 * D, None),
    ];
    let releases = vec![
        gate("R-0", "pay", d0 - D, false, Some(9)),
        gate("R-1", "pay", d0 + 8 * H, true, Some(0)),
        gate("R-2", "pay", d0 + 12 * H, false, Some(2)),
        gate("R-4", "shop", d0 + D + 8 * H, true, None),
    ];
    History { deployments, incidents, approvals, releases }
}

fn org() -> Vec<Kpi> {
    kpi::compute(&scenario(), &query(None, MON, MON + 14 * D))
}

#[test]
fn order_and_keys_follow_the_table() {
    let keys: Vec<&str> = org().iter().map(|k| k.key).collect();
    assert_eq!(
        keys,
        [
            "deployment_frequency",
            "deployment_success_rate",
            "change_failure_rate",
            "failed_deployment_recovery_time",
            "lead_time_for_changes",
            "rollback_rate",
            "mean_time_to_deploy",
            "rollback_execution_time",
            "environment_parity_drift",
            "documentation_completeness",
            "post_deployment_incident_rate",
            "stabilisation_breach_rate",
            "approval_cycle_time",
            "emergency_release_frequency",
            "deployment_rework_rate",
            "unattributed_incidents",
        ]
    );
}

#[test]
fn deployment_frequency() {
    let kpis = org();
    let k = get(&kpis, "deployment_frequency");
    // Production deployments in [MON, MON+14d): 1..=9 (10 is staging, 11 after the window);
    // 3 failed, so 8 successful. Per week: 8 / (14 / 7) = 4.0.
    // Whole ISO weeks: 2. Deploy-days, week 1: Mon (1, 2), Tue (4), Wed (5, 6), Thu (7) = 4;
    // week 2: Tue (8), Wed (9) = 2. Nearest-rank median of [2, 4]: rank ⌈0.5·2⌉ = 1 → 2.
    assert_eq!(
        k.value,
        Some(Value::Frequency {
            deployments: 8,
            attempts: 9,
            per_week: 4.0,
            median_deploy_days_per_week: Some(2),
            whole_weeks: 2
        })
    );
    // Both services deployed in both weeks: at least weekly for all teams; 2 < 5 is not daily.
    assert_eq!(band(k), ("weekly", true));
    assert_eq!(k.breaches_total, 0);
}

#[test]
fn a_window_boundary_splitting_weeks() {
    // Window: Wednesday 2026-03-04 to Wednesday 2026-03-25 (21 days). Whole ISO weeks inside:
    // 03-09..03-15 and 03-16..03-22; 03-04..03-08 and 03-23..03-24 are partial.
    let wed = MON + 2 * D;
    let days = [0, 1, 2, 5, 6, 7, 8, 9, 14, 19, 20]; // offsets from 03-04
    let mut deployments: Vec<Deployment> =
        days.iter().enumerate().map(|(i, &o)| dep(i as u64 + 1, "a", wed + o * D + 12 * H)).collect();
    // Service b deploys only in the first whole week.
    deployments.push(dep(50, "b", wed + 6 * D + 13 * H));
    deployments.sort_by_key(|d| d.finished);
    let history = History { deployments, ..History::default() };
    let kpis = kpi::compute(&history, &query(None, wed, wed + 21 * D));
    let k = get(&kpis, "deployment_frequency");
    // 12 successful deployments over 21 days: 12 / 3 = 4.0 per week.
    // Deploy-days in whole weeks: 03-09..03-13 (offsets 5..9) = 5 days, 03-18 (offset 14) = 1 day.
    // Median of [1, 5]: rank 1 → 1. (With the partial weeks, [3, 5, 1, 2] would give 2; with
    // 7-day buckets from `from`, [5, 3, 3] would give 3: both are wrong here.)
    let Some(Value::Frequency { deployments, per_week, median_deploy_days_per_week, whole_weeks, .. }) = k.value else {
        panic!("{k:?}")
    };
    assert_eq!((deployments, per_week, median_deploy_days_per_week, whole_weeks), (12, 4.0, Some(1), 2));
    // b missed the second whole week: the target "at least weekly for all teams" is not met.
    assert_eq!(band(k), ("weekly", false));
    assert_eq!(k.breaches.len(), 1);
    assert_eq!(k.breaches[0].service, "b");
    assert_eq!(k.breaches[0].what, "no successful deployment in the week of 2026-03-16");
    assert_eq!(k.breaches[0].at, MON + 14 * D);

    // Six days from a Wednesday hold no whole ISO week: no median, no band, said so.
    let kpis = kpi::compute(&history, &query(None, wed, wed + 6 * D));
    let k = get(&kpis, "deployment_frequency");
    let Some(Value::Frequency { deployments, median_deploy_days_per_week, whole_weeks, .. }) = k.value else {
        panic!("{k:?}")
    };
    // Offsets 0, 1, 2 and 5 are inside [03-04, 03-10); b's 6 d 13 h is not.
    assert_eq!((deployments, median_deploy_days_per_week, whole_weeks), (4, None, 0));
    assert_eq!(k.band, None);
    assert!(k.notes.iter().any(|n| n.contains("no whole ISO week")), "{:?}", k.notes);
}

#[test]
fn weeks_without_deployments_count_as_zero() {
    // Three whole weeks; deployments on Mon, Tue, Wed, Thu of the second only.
    let deployments = (0..4).map(|i| dep(i + 1, "a", MON + 7 * D + i as i64 * D + H)).collect();
    let kpis = kpi::compute(&History { deployments, ..History::default() }, &query(None, MON, MON + 21 * D));
    let k = get(&kpis, "deployment_frequency");
    // Deploy-days per week [0, 4, 0] → sorted [0, 0, 4]; median rank ⌈1.5⌉ = 2 → 0.
    // 4 deployments / 3 weeks = 1.333… per week.
    let Some(Value::Frequency { median_deploy_days_per_week, per_week, .. }) = k.value else { panic!("{k:?}") };
    assert_eq!(median_deploy_days_per_week, Some(0));
    assert!((per_week - 4.0 / 3.0).abs() < 1e-12);
    assert_eq!(band(k), ("less than weekly", false));
    // The first week a missed is the window's first.
    assert_eq!(k.breaches[0].what, "no successful deployment in the week of 2026-03-02");
    assert_eq!(k.breaches_total, 1);
}

#[test]
fn deployment_success_rate() {
    let kpis = org();
    let k = get(&kpis, "deployment_success_rate");
    // Not successful: 1 (rollback decided 30 min after: ≤ 1 h), 3 (failed), 5 (emergency
    // deployment 6 of pay 40 min later). 7's rollback came 3 h later: still a success here.
    // 6 itself is followed by no emergency. 9 − 3 = 6 of 9.
    assert_eq!(ratio(k), (6, 9));
    assert_eq!(band(k), ("outside target", false));
    assert_eq!(breach_deployments(k), [1, 3, 5]);
    assert_eq!(k.breaches[0].what, "rollback decided 30 min after finishing");
    assert_eq!(k.breaches[1].what, "failed");
    assert_eq!(k.breaches[2].what, "emergency deployment 40 min later");
}

#[test]
fn emergency_fix_of_another_service_or_after_an_hour_does_not_count() {
    let mut a = dep(1, "a", MON + H);
    a.stabilisation = None;
    let mut other = dep(2, "b", MON + H + 10 * M);
    other.emergency = true;
    let mut late = dep(3, "a", MON + 2 * H + 1);
    late.emergency = true;
    let history = History { deployments: vec![a, other, late], ..History::default() };
    let kpis = kpi::compute(&history, &query(None, MON, MON + D));
    // 1: b's emergency is another service; a's own comes 1 h 0 min 1 s later (> 1 h). 3/3.
    assert_eq!(ratio(get(&kpis, "deployment_success_rate")), (3, 3));
    // 98% target: 3/3 = 100% ≥ 98%.
    assert_eq!(band(get(&kpis, "deployment_success_rate")), ("within target", true));
}

#[test]
fn change_failure_rate() {
    let kpis = org();
    let k = get(&kpis, "change_failure_rate");
    // Successful: 1, 2, 4, 5, 6, 7, 8, 9 = 8. Failed changes: 1 (rolled back), 5 (caused P1 I1),
    // 7 (rolled back; its P3 I2 alone would not count), 8 (caused P2 I3) = 4. 4/8 = 50% > 15%.
    assert_eq!(ratio(k), (4, 8));
    assert_eq!(band(k), ("systemic failure", false));
    assert_eq!(breach_deployments(k), [1, 5, 7, 8]);
}

#[test]
fn change_failure_rate_never_exceeds_100_percent() {
    // One deployment causing three P1 incidents and rolled back: one failed change, not four.
    let mut d = dep(1, "a", MON + H);
    d.rollback = Some(Rollback { decided: MON + 2 * H, completed: Some(MON + 2 * H + 5 * M) });
    let incidents = (0..3).map(|i| incident(&format!("I{i}"), Severity::P1, MON + 2 * H + i, None, Some(1))).collect();
    let history = History { deployments: vec![d], incidents, ..History::default() };
    let kpis = kpi::compute(&history, &query(None, MON, MON + D));
    assert_eq!(ratio(get(&kpis, "change_failure_rate")), (1, 1));
    // Incidents per 100 deployments is a different KPI and may exceed 100: 3 × 100 / 1 = 300.
    assert_eq!(get(&kpis, "post_deployment_incident_rate").value, Some(Value::PerHundred { count: 3, deployments: 1 }));
}

#[test]
fn cfr_bands() {
    // n successful deployments, f of them rolled back.
    let band_for = |n: u64, f: u64| {
        let deployments = (0..n)
            .map(|i| {
                let mut d = dep(i + 1, "a", MON + i as i64 * M);
                if i < f {
                    d.rollback = Some(Rollback { decided: d.finished + M, completed: Some(d.finished + 2 * M) });
                }
                d
            })
            .collect();
        let kpis = kpi::compute(&History { deployments, ..History::default() }, &query(None, MON, MON + D));
        band(get(&kpis, "change_failure_rate")).0.to_owned()
    };
    // 4/100 = 4% < 5%; 5/100 = 5% is not < 5%; 10/100 not < 10%; 15/100 = 15% is not above 15%.
    assert_eq!(band_for(100, 4), "elite");
    assert_eq!(band_for(100, 5), "high");
    assert_eq!(band_for(100, 10), "medium");
    assert_eq!(band_for(100, 15), "medium");
    assert_eq!(band_for(100, 16), "systemic failure");
}

#[test]
fn failed_deployment_recovery_time() {
    let kpis = org();
    let k = get(&kpis, "failed_deployment_recovery_time");
    // P1/P2 caused by window deployments: I1 (by 5: 09:00 → 09:45 = 2,700 s) and I3 (by 8,
    // unresolved: counted, not averaged). I2 is P3; I4, I7 name no deployment; I8's cause is
    // a staging deployment. Mean = median = p90 = max = 2,700 s < 1 h: elite.
    let (stats, over, unmeasured) = durations(k);
    assert_eq!(stats, Stats { count: 1, mean: 2700.0, median: 2700, p90: 2700, max: 2700 });
    assert_eq!((over, unmeasured), (1, 1));
    assert_eq!(band(k), ("elite", true));
    assert_eq!(k.breaches.len(), 1);
    assert_eq!(k.breaches[0].what, "P2 incident I3 unresolved");
    assert_eq!(k.breaches[0].deployment, Some(8));
}

#[test]
fn lead_time_for_changes() {
    let kpis = org();
    let k = get(&kpis, "lead_time_for_changes");
    // Successful deployments' lists: 1 [7200, 1800], 2 [18000], 4 [90000], 9 [−10 (left out),
    // 2400]. Failed 3's [100] and staging 10's [3600] do not count.
    // Sorted: [1800, 2400, 7200, 18000, 90000], n = 5.
    // Median rank ⌈2.5⌉ = 3 → 7200; p90 rank ⌈4.5⌉ = 5 → 90000.
    // Mean = (1800 + 2400 + 7200 + 18000 + 90000) / 5 = 119400 / 5 = 23880.
    let (stats, over, unmeasured) = durations(k);
    assert_eq!(stats, Stats { count: 5, mean: 23880.0, median: 7200, p90: 90000, max: 90000 });
    // 90000 s ≥ 1 day: one over; one negative left out. Median 2 h: high, not elite.
    assert_eq!((over, unmeasured), (1, 1));
    assert_eq!(band(k), ("high", true));
    assert_eq!(breach_deployments(k), [4]);
}

#[test]
fn nearest_rank_percentiles() {
    let mut d = dep(1, "a", MON + H);
    d.change_lead_times = vec![40, 10, 30, 20].into();
    let kpis = kpi::compute(&History { deployments: vec![d], ..History::default() }, &query(None, MON, MON + D));
    // n = 4: median rank ⌈2⌉ = 2 → 20 (not 25, the interpolated value); p90 rank ⌈3.6⌉ = 4 → 40.
    let (stats, _, _) = durations(get(&kpis, "lead_time_for_changes"));
    assert_eq!(stats, Stats { count: 4, mean: 25.0, median: 20, p90: 40, max: 40 });
}

#[test]
fn a_change_in_several_artefacts_is_counted_once() {
    // Change C1 is in artefacts A1 and A2, C2 only in A2. The History records each change's
    // lead time on the first production deployment that shipped it: C1 (1 h) on A1's, C2 (2 h)
    // on A2's. A1 reached staging first; its staging deployment carries C1 too, and must not
    // add a second C1 to production's lead times.
    let mut staging = dep(1, "a", MON + H);
    staging.environment = "staging".into();
    staging.artefact = Some("A1".into());
    staging.change_lead_times = vec![30 * M].into();
    let mut a1 = dep(2, "a", MON + 2 * H);
    a1.artefact = Some("A1".into());
    a1.change_lead_times = vec![H].into();
    let mut a2 = dep(3, "a", MON + 5 * H);
    a2.artefact = Some("A2".into());
    a2.change_lead_times = vec![2 * H].into();
    let history = History { deployments: vec![staging, a1, a2], ..History::default() };
    let kpis = kpi::compute(&history, &query(None, MON, MON + D));
    // Two changes: [3600, 7200]; median rank 1 → 3600, p90 rank ⌈1.8⌉ = 2 → 7200, mean 5400.
    let (stats, _, _) = durations(get(&kpis, "lead_time_for_changes"));
    assert_eq!(stats, Stats { count: 2, mean: 5400.0, median: 3600, p90: 7200, max: 7200 });
}

#[test]
fn rollback_rate() {
    let kpis = org();
    let k = get(&kpis, "rollback_rate");
    // Rollbacks: 1 decided 30 min after finishing (window 2 h: inside), 7 decided 3 h after
    // (window 2 h: outside). 1 of 9 deployments = 11.1%: CFR limits, 10% ≤ 11.1% ≤ 15%.
    assert_eq!(ratio(k), (1, 9));
    assert_eq!(band(k), ("medium", false));
    assert_eq!(breach_deployments(k), [1]);
}

#[test]
fn rollback_rate_with_unknown_stabilisation_assumes_24_hours() {
    let mut a = dep(1, "a", MON + H);
    a.stabilisation = None;
    a.rollback = Some(Rollback { decided: a.finished + 23 * H, completed: Some(a.finished + 23 * H + M) });
    let mut b = dep(2, "a", MON + 2 * H);
    b.stabilisation = None;
    b.rollback = Some(Rollback { decided: b.finished + 25 * H, completed: Some(b.finished + 25 * H + M) });
    let kpis = kpi::compute(&History { deployments: vec![a, b], ..History::default() }, &query(None, MON, MON + D));
    let k = get(&kpis, "rollback_rate");
    // 23 h ≤ 24 h counts, 25 h does not: 1 of 2; both windows assumed, and said so.
    assert_eq!(ratio(k), (1, 2));
    assert_eq!(k.notes, ["2 deployments of unknown stabilisation window: 24 h assumed"]);
}

#[test]
fn mean_time_to_deploy() {
    let kpis = org();
    let k = get(&kpis, "mean_time_to_deploy");
    // Successful with a pipeline start: 1 (1200), 2 (1500), 4 (3000, infrastructure), 6 (300),
    // 7 (2100), 9 (900); 5 and 8 have none (left out, counted); failed 3 is not a deployment
    // completion. Sorted [300, 900, 1200, 1500, 2100, 3000]: sum 9000, mean 1500;
    // median rank 3 → 1200; p90 rank ⌈5.4⌉ = 6 → 3000.
    let (stats, over, unmeasured) = durations(k);
    assert_eq!(stats, Stats { count: 6, mean: 1500.0, median: 1200, p90: 3000, max: 3000 });
    // Over: 7 (35 min ≥ 30 min for an application); 4's 50 min is under infrastructure's 60.
    assert_eq!((over, unmeasured), (1, 2));
    assert_eq!(breach_deployments(k), [7]);
    // Mean 25 min < 30 min.
    assert_eq!(band(k), ("within target", true));
}

#[test]
fn a_deployment_without_a_pipeline_trigger_is_missing_source_not_zero_seconds() {
    // Given one deployment whose pipeline was triggered 20 minutes before it was confirmed
    // deployed, and one with no pipeline trigger on record,
    let timed = Deployment { pipeline_started: Some(MON + 9 * H - 20 * M), ..dep(1, "pay", MON + 9 * H) };
    let untimed = dep(2, "pay", MON + 10 * H);
    let h = History { deployments: vec![timed, untimed.clone()], ..History::default() };
    // when the time to deploy is computed,
    let kpis = kpi::compute(&h, &query(None, MON, MON + D));
    let k = get(&kpis, "mean_time_to_deploy");
    // then only the first is timed, and the second is counted as missing source.
    let Some(Value::Durations { stats, missing_source: 1, unmeasured: 0, .. }) = k.value else { panic!("{k:?}") };
    assert_eq!((stats.count, stats.mean), (1, 1200.0));
    assert_eq!(
        k.notes,
        ["missing source: 1 successful deployments have no pipeline trigger time and are not measured"]
    );
    // And with no trigger at all there is no value (not 0 s), and the reason says so.
    let h = History { deployments: vec![untimed], ..History::default() };
    let kpis = kpi::compute(&h, &query(None, MON, MON + D));
    let k = get(&kpis, "mean_time_to_deploy");
    assert_eq!(k.value, None);
    assert_eq!(
        k.null_reason.as_deref(),
        Some("missing source: none of the 1 successful deployments has a pipeline trigger time")
    );
}

#[test]
fn rollback_execution_time() {
    let kpis = org();
    let k = get(&kpis, "rollback_execution_time");
    // Rollbacks of window deployments: 1 (10 min = 600 s), 7 (20 min = 1200 s); the staging
    // one is outside the query. Mean 900, median rank 1 → 600, p90 rank ⌈1.8⌉ = 2 → 1200.
    let (stats, over, unmeasured) = durations(k);
    assert_eq!(stats, Stats { count: 2, mean: 900.0, median: 600, p90: 1200, max: 1200 });
    // 7 took over 15 minutes: the target is per rollback, so it is not met.
    assert_eq!((over, unmeasured), (1, 0));
    assert_eq!(band(k), ("outside target", false));
    assert_eq!(k.breaches[0].what, "rollback took 20 min");
}

#[test]
fn rollback_of_the_first_deployment() {
    // The very first deployment of a service is rolled back (to nothing earlier in the history)
    // and still running: every KPI handles it.
    let mut d = dep(1, "new", MON + H);
    d.rollback = Some(Rollback { decided: MON + H + 5 * M, completed: None });
    let kpis = kpi::compute(&History { deployments: vec![d], ..History::default() }, &query(None, MON, MON + D));
    assert_eq!(ratio(get(&kpis, "deployment_success_rate")), (0, 1));
    assert_eq!(ratio(get(&kpis, "change_failure_rate")), (1, 1));
    assert_eq!(ratio(get(&kpis, "rollback_rate")), (1, 1));
    assert_eq!(ratio(get(&kpis, "stabilisation_breach_rate")), (1, 1));
    let k = get(&kpis, "rollback_execution_time");
    assert_eq!(k.value, None);
    assert_eq!(k.null_reason.as_deref(), Some("none of the 1 rollbacks has completed"));
    assert_eq!(k.notes, ["1 rollbacks still running (or completed before decided)"]);
}

#[test]
fn environment_parity_drift_and_documentation() {
    let kpis = org();
    // At the gate in the window: R-1 (drift 0, docs complete), R-2 (drift 2, incomplete),
    // R-4 (no IaC plan, complete). R-0 was gated the day before.
    let k = get(&kpis, "environment_parity_drift");
    assert_eq!(
        k.value,
        Some(Value::Drift { unresolved_critical: 2, releases_with_drift: 1, releases_with_evidence: 2, releases: 3 })
    );
    assert_eq!(band(k), ("outside target", false));
    assert_eq!(k.breaches[0].release.as_deref(), Some("R-2"));
    assert_eq!(k.notes, ["1 releases at the gate had no IaC evidence"]);
    // 2 of 3 complete; the target is every package.
    let k = get(&kpis, "documentation_completeness");
    assert_eq!(ratio(k), (2, 3));
    assert_eq!(band(k), ("outside target", false));
    assert_eq!(k.breaches[0].release.as_deref(), Some("R-2"));

    // Only releases without a plan: no data, not zero.
    let history = History { releases: vec![gate("R-9", "a", MON + H, true, None)], ..History::default() };
    let kpis = kpi::compute(&history, &query(None, MON, MON + D));
    let k = get(&kpis, "environment_parity_drift");
    assert_eq!(k.value, None);
    assert_eq!(k.null_reason.as_deref(), Some("none of the 1 releases at the gate in the window had IaC evidence"));
    assert_eq!(ratio(get(&kpis, "documentation_completeness")), (1, 1));
}

#[test]
fn post_deployment_incident_rate() {
    let kpis = org();
    let k = get(&kpis, "post_deployment_incident_rate");
    // P1/P2 caused by window deployments: I1, I3 = 2, over 9 deployments: 22.2 per 100 ≥ 1.
    assert_eq!(k.value, Some(Value::PerHundred { count: 2, deployments: 9 }));
    assert_eq!(band(k), ("outside target", false));
    assert!((k.value.as_ref().map(Value::headline).unwrap_or_default() - 200.0 / 9.0).abs() < 1e-9);
}

#[test]
fn stabilisation_breach_rate() {
    let kpis = org();
    let k = get(&kpis, "stabilisation_breach_rate");
    // Successful: 8. Breached: 1 (rollback 30 min into its 2 h), 5 (window unknown → 24 h; I1
    // detected 1 h after), 7 (P3 I2 1 h into its 2 h; the rollback at 3 h is after it).
    // Not: 8 (I3 detected 24 h after, window 2 h). 3/8 = 37.5% ≥ 5%.
    assert_eq!(ratio(k), (3, 8));
    assert_eq!(band(k), ("outside target", false));
    assert_eq!(breach_deployments(k), [1, 5, 7]);
    assert_eq!(k.notes, ["1 deployments of unknown stabilisation window: 24 h assumed"]);
}

#[test]
fn approval_cycle_time() {
    let kpis = org();
    let k = get(&kpis, "approval_cycle_time");
    // Requested in the window: R-2 standard 3 h (10800), R-4 standard 6 h (21600), R-6
    // emergency 20 min (1200), R-12 pending. R-0 was requested before the window.
    // Standard: mean (10800 + 21600) / 2 = 16200 (4 h 30) ≥ 4 h; median rank 1 → 10800.
    let Some(Value::Approvals { standard, emergency, pending, missing_source: 0 }) = k.value else { panic!("{k:?}") };
    assert_eq!(standard, Some(Stats { count: 2, mean: 16200.0, median: 10800, p90: 21600, max: 21600 }));
    assert_eq!(emergency, Some(Stats { count: 1, mean: 1200.0, median: 1200, p90: 1200, max: 1200 }));
    assert_eq!(pending, 1);
    assert_eq!(band(k), ("outside target", false));
    assert_eq!(k.breaches.len(), 1);
    assert_eq!(k.breaches[0].what, "standard approval took 6 h 00 min");
}

#[test]
fn an_approval_without_a_submission_is_missing_source_not_a_cycle_from_creation() {
    // Given R-1 submitted at 09:00 and approved at 10:00, and R-2 approved at 12:00 with no
    // submission on record (it was opened at 08:00),
    let submitted =
        ApprovalCycle { opened: MON + 8 * H, ..approval("R-1", "pay", false, MON + 9 * H, Some(MON + 10 * H)) };
    let unsubmitted =
        ApprovalCycle { requested: None, opened: MON + 8 * H, ..approval("R-2", "pay", false, 0, Some(MON + 12 * H)) };
    let h = History { approvals: vec![submitted, unsubmitted.clone()], ..History::default() };
    // when the KPIs are computed for the day,
    let kpis = kpi::compute(&h, &query(None, MON, MON + D));
    // then R-1 is the only cycle (1 h), R-2 is counted as missing source and not timed from
    // its creation (4 h) or as 0 s.
    let k = get(&kpis, "approval_cycle_time");
    let Some(Value::Approvals { standard: Some(s), emergency: None, pending: 0, missing_source: 1 }) = k.value else {
        panic!("{k:?}")
    };
    assert_eq!((s.count, s.mean), (1, 3600.0));
    assert!(k.notes.iter().any(|n| n.starts_with("missing source: 1 releases approved")), "{:?}", k.notes);
    // And with only the unsubmitted one there is no value, and the reason says why.
    let h = History { approvals: vec![unsubmitted], ..History::default() };
    let k = kpi::compute(&h, &query(None, MON, MON + D)).into_iter().find(|k| k.key == "approval_cycle_time").unwrap();
    assert_eq!(k.value, None);
    assert_eq!(
        k.null_reason.as_deref(),
        Some(
            "missing source: none of the 1 releases approved in the window has a release package submission on record"
        )
    );
}

#[test]
fn emergency_release_frequency_in_the_scenario() {
    let kpis = org();
    let k = get(&kpis, "emergency_release_frequency");
    assert_eq!(
        k.value,
        Some(Value::Emergency {
            worst: 1,
            worst_service: Some("pay".into()),
            services_over_limit: 0,
            emergency_deployments: 1
        })
    );
    assert_eq!(band(k), ("within limit", true));
}

#[test]
fn emergency_frequency_over_a_rolling_window_crossing_the_query_boundary() {
    let from = MON;
    let mut deployments = Vec::new();
    let mut emergency = |id: u64, service: &str, at: Time, success: bool, env: &str| {
        let mut d = dep(id, service, at);
        d.emergency = true;
        d.success = success;
        d.environment = env.into();
        deployments.push(d);
    };
    // pay: 20 and 10 days before `from`, then 5 days after. The period (from−25d, from+5d]
    // holds all three: 3 > 2, a non-conformance although two of them precede the query.
    emergency(1, "pay", from - 20 * D, true, "production");
    emergency(2, "pay", from - 10 * D, true, "production");
    emergency(3, "pay", from + 5 * D, true, "production");
    // A failed emergency attempt is not an emergency release.
    emergency(4, "pay", from + 6 * D, false, "production");
    // shop: days 1, 2 and 31. At day 31 the period is (day 1, day 31]: day 1 is exactly
    // 30 days earlier and falls out, so the worst is 2, not 3.
    emergency(5, "shop", from + D, true, "production");
    emergency(6, "shop", from + 2 * D, true, "production");
    emergency(7, "shop", from + 31 * D, true, "production");
    // Staging emergencies are another environment.
    emergency(8, "shop", from + 3 * D, true, "staging");
    emergency(9, "shop", from + 4 * D, true, "staging");
    deployments.sort_by_key(|d| d.finished);
    let history = History { deployments, ..History::default() };
    let kpis = kpi::compute(&history, &query(None, from, from + 60 * D));
    let k = get(&kpis, "emergency_release_frequency");
    // In the window: pay's day-5 one and shop's three = 4 successful emergency deployments.
    assert_eq!(
        k.value,
        Some(Value::Emergency {
            worst: 3,
            worst_service: Some("pay".into()),
            services_over_limit: 1,
            emergency_deployments: 4
        })
    );
    assert_eq!(band(k), ("over limit: root cause review", false));
    assert_eq!(k.breaches.len(), 1);
    assert_eq!(k.breaches[0].service, "pay");
    assert_eq!(k.breaches[0].deployment, Some(3));
    assert_eq!(k.breaches[0].what, "3 emergency deployments in the 30 days to 2026-03-07");

    // A window ending before pay's third emergency sees none of its periods.
    let kpis = kpi::compute(&history, &query(Some("pay"), from, from + 4 * D));
    let k = get(&kpis, "emergency_release_frequency");
    assert_eq!(k.null_reason.as_deref(), Some("no deployment to production of pay finished in the window"));
}

#[test]
fn deployment_rework_rate() {
    let kpis = org();
    let k = get(&kpis, "deployment_rework_rate");
    // 6 fixes incident I1: 1 of 9 deployments. No procedure target: no band.
    assert_eq!(ratio(k), (1, 9));
    assert_eq!(k.band, None);
}

#[test]
fn unattributed_incidents_are_reported_never_guessed() {
    let kpis = org();
    let k = get(&kpis, "unattributed_incidents");
    // P1/P2 naming no deployment, detected in the window: I4 (pay) and I7 (no service, no
    // environment). I5 is P4; I6 is in staging.
    assert_eq!(k.value, Some(Value::Count { count: 2 }));
    let ids: Vec<&str> = k.breaches.iter().map(|b| b.what.as_str()).collect();
    assert_eq!(ids, ["P1 incident I4 names no deployment", "P2 incident I7 names no deployment"]);
    assert_eq!(k.breaches[1].service, "unknown");
    // For pay alone, I7 (no service) cannot be said to be pay's.
    let kpis = kpi::compute(&scenario(), &query(Some("pay"), MON, MON + 14 * D));
    assert_eq!(get(&kpis, "unattributed_incidents").value, Some(Value::Count { count: 1 }));
    // I4 happened 2 days after pay's deployment 5 in the same service; it is not linked to it:
    // pay's failed changes are 1 (rolled back) and 5 (I1) only, of 1, 2, 5, 6, 9.
    assert_eq!(ratio(get(&kpis, "change_failure_rate")), (2, 5));
}

#[test]
fn one_service() {
    let kpis = kpi::compute(&scenario(), &query(Some("pay"), MON, MON + 14 * D));
    // pay: 1, 2, 5, 6, 9 (all successful). 5 / 2 weeks = 2.5 per week. Deploy-days: week 1 Mon,
    // Wed = 2; week 2 Wed = 1; median of [1, 2] → 1.
    let k = get(&kpis, "deployment_frequency");
    let Some(Value::Frequency { deployments, per_week, median_deploy_days_per_week, .. }) = k.value else {
        panic!("{k:?}")
    };
    assert_eq!((deployments, per_week, median_deploy_days_per_week), (5, 2.5, Some(1)));
    // Success: 1 (rollback) and 5 (emergency after) fail: 3/5.
    assert_eq!(ratio(get(&kpis, "deployment_success_rate")), (3, 5));
    // Approvals of pay requested in the window: R-2 (3 h) and R-6 (emergency, 20 min).
    let Some(Value::Approvals { standard, emergency, pending, .. }) = get(&kpis, "approval_cycle_time").value.clone()
    else {
        panic!()
    };
    assert_eq!((standard.map(|s| s.count), emergency.map(|s| s.count), pending), (Some(1), Some(1), 0));
    assert_eq!(band(get(&kpis, "approval_cycle_time")), ("within target", true));
}

#[test]
fn failed_deployments_only() {
    let mut a = dep(1, "a", MON + H);
    a.success = false;
    let mut b = dep(2, "a", MON + 2 * H);
    b.success = false;
    b.pipeline_started = Some(MON + H + 30 * M);
    let kpis = kpi::compute(&History { deployments: vec![a, b], ..History::default() }, &query(None, MON, MON + D));
    // A failure rate of deploying is a measured 0 of 2, not a missing value.
    assert_eq!(ratio(get(&kpis, "deployment_success_rate")), (0, 2));
    assert_eq!(ratio(get(&kpis, "rollback_rate")), (0, 2));
    assert_eq!(ratio(get(&kpis, "deployment_rework_rate")), (0, 2));
    // Nothing succeeded: KPIs over successful deployments have no data.
    for key in ["change_failure_rate", "mean_time_to_deploy", "stabilisation_breach_rate", "lead_time_for_changes"] {
        let k = get(&kpis, key);
        assert_eq!(k.value, None, "{key}");
        assert_eq!(k.null_reason.as_deref(), Some("all 2 deployments in the window failed"), "{key}");
    }
    let Some(Value::Frequency { deployments, attempts, .. }) = get(&kpis, "deployment_frequency").value else {
        panic!()
    };
    assert_eq!((deployments, attempts), (0, 2));
}

#[test]
fn empty_window_gives_nulls_with_reasons() {
    let history = scenario();
    // A fortnight before anything happened.
    let kpis = kpi::compute(&history, &query(None, MON - 30 * D, MON - 16 * D));
    for k in &kpis {
        if k.key == "unattributed_incidents" {
            // A count of zero incidents is a fact, not a missing value.
            assert_eq!(k.value, Some(Value::Count { count: 0 }));
            continue;
        }
        assert_eq!(k.value, None, "{}", k.key);
        assert_eq!(k.band, None, "{}", k.key);
        assert!(k.null_reason.as_deref().is_some_and(|r| !r.is_empty()), "{}", k.key);
    }
    assert_eq!(
        get(&kpis, "deployment_success_rate").null_reason.as_deref(),
        Some("no deployment to production finished in the window")
    );
    assert_eq!(
        get(&kpis, "failed_deployment_recovery_time").null_reason.as_deref(),
        Some("no P1/P2 incident caused by a deployment in the window")
    );
    assert_eq!(
        get(&kpis, "approval_cycle_time").null_reason.as_deref(),
        Some("no approval cycle was requested in the window")
    );
    // `to` not after `from`: every entry null with that reason.
    for k in kpi::compute(&history, &query(None, MON + D, MON + D)) {
        assert_eq!(k.value, None, "{}", k.key);
        assert_eq!(k.null_reason.as_deref(), Some("the window is empty: `to` is not after `from`"), "{}", k.key);
    }
    // An empty history.
    for k in kpi::compute(&History::default(), &query(Some("a"), MON, MON + D)) {
        assert!(k.value.is_none() || k.key == "unattributed_incidents", "{}", k.key);
    }
}

#[test]
fn unordered_history_and_ids_give_the_same_result() {
    let history = scenario();
    let expected = kpi::compute(&history, &query(None, MON, MON + 14 * D));
    // Reverse every list and renumber deployments so ids fall as time rises.
    let mut shuffled = history.clone();
    shuffled.deployments.reverse();
    shuffled.incidents.reverse();
    shuffled.approvals.reverse();
    shuffled.releases.reverse();
    for d in &mut shuffled.deployments {
        d.id = 1000 - d.id;
    }
    for i in &mut shuffled.incidents {
        i.caused_by = i.caused_by.map(|c| 1000 - c);
    }
    let got = kpi::compute(&shuffled, &query(None, MON, MON + 14 * D));
    let same = |got: &[Kpi]| {
        for (e, g) in expected.iter().zip(got) {
            assert_eq!(e.value, g.value, "{}", e.key);
            assert_eq!(e.band, g.band, "{}", e.key);
            assert_eq!(e.breaches_total, g.breaches_total, "{}", e.key);
        }
    };
    same(&got);
    // Sparse ids (far apart, as an importer's hashes might be) take the binary-search path.
    let mut sparse = history.clone();
    for d in &mut sparse.deployments {
        d.id = d.id * 1_000_000_007 + 13;
    }
    for i in &mut sparse.incidents {
        i.caused_by = i.caused_by.map(|c| c * 1_000_000_007 + 13);
    }
    // An id no deployment has links nothing.
    sparse.incidents.push(incident("I9", Severity::P1, MON + H, None, Some(5)));
    let got = kpi::compute(&sparse, &query(None, MON, MON + 14 * D));
    same(&got);
}

#[test]
fn extreme_times_do_not_panic() {
    let mut a = dep(1, "a", i64::MAX - 1);
    a.pipeline_started = Some(i64::MIN);
    a.stabilisation = Some(i64::MAX);
    a.rollback = Some(Rollback { decided: i64::MIN, completed: Some(i64::MAX) });
    a.change_lead_times = vec![i64::MAX, i64::MIN].into();
    let mut b = dep(2, "a", i64::MIN);
    b.emergency = true;
    let mut c = dep(3, "a", i64::MIN + 1);
    c.emergency = true;
    let incidents = vec![incident("I", Severity::P1, i64::MIN, Some(i64::MAX), Some(1))];
    let history = History { deployments: vec![b, c, a], incidents, ..History::default() };
    for (from, to) in [(i64::MIN, i64::MAX), (0, i64::MAX), (i64::MIN, 0), (i64::MAX, i64::MIN)] {
        let kpis = kpi::compute(&history, &query(None, from, to));
        assert_eq!(kpis.len(), 16);
        let _ = kpi::to_json(&kpis).to_string();
    }
}

#[test]
fn breaches_are_capped_but_counted() {
    let deployments = (0..250)
        .map(|i| {
            let mut d = dep(i + 1, "a", MON + i as i64 * M);
            d.success = false;
            d
        })
        .collect();
    let kpis = kpi::compute(&History { deployments, ..History::default() }, &query(None, MON, MON + D));
    let k = get(&kpis, "deployment_success_rate");
    assert_eq!((k.breaches.len(), k.breaches_total), (kpi::MAX_BREACHES, 250));
    // The first 100 in time order.
    assert_eq!(k.breaches[99].deployment, Some(100));
}

#[test]
fn json_has_snake_case_keys_and_nulls() {
    let json = kpi::to_json(&org());
    assert_eq!(json["change_failure_rate"]["value"]["numerator"], 4);
    assert_eq!(json["change_failure_rate"]["value"]["denominator"], 8);
    assert_eq!(json["change_failure_rate"]["value"]["percent"], 50.0);
    assert_eq!(json["change_failure_rate"]["band"]["label"], "systemic failure");
    assert_eq!(json["failed_deployment_recovery_time"]["value"]["median_seconds"], 2700);
    assert_eq!(json["failed_deployment_recovery_time"]["value"]["unmeasured"], 1);
    assert_eq!(json["deployment_frequency"]["value"]["median_deploy_days_per_week"], 2);
    assert_eq!(json["emergency_release_frequency"]["value"]["worst_rolling_30_days"], 1);
    assert_eq!(json["deployment_success_rate"]["breaches"][1]["deployment"], 3);
    let empty = kpi::to_json(&kpi::compute(&History::default(), &query(None, MON, MON + D)));
    assert!(empty["change_failure_rate"]["value"].is_null());
    assert_eq!(empty["change_failure_rate"]["null_reason"], "no deployment to production finished in the window");
    assert!(empty["change_failure_rate"]["band"].is_null());
}

#[test]
fn display_reads_well() {
    let kpis = org();
    let shown = |key: &str| get(&kpis, key).value.as_ref().map(ToString::to_string).unwrap_or_default();
    assert_eq!(shown("change_failure_rate"), "50.0% (4 of 8)");
    assert_eq!(shown("mean_time_to_deploy"), "mean 25 min, median 20 min, p90 50 min (6), 1 over target");
    assert_eq!(shown("deployment_frequency"), "8 deployments, 4.0/week, median 2 deploy-days/week");
    assert_eq!(kpi::human(2 * H + 5 * M), "2 h 05 min");
    assert_eq!(kpi::human(3 * D + 4 * H + 59), "3 d 4 h");
    assert_eq!(kpi::date(MON), "2026-03-02");
    assert_eq!(kpi::date(0), "1970-01-01");
    assert_eq!(kpi::date(-1), "1969-12-31");
    assert_eq!(kpi::date(951_782_400), "2000-02-29");
}

#[test]
fn every_kpi_a_profile_may_name_is_one_that_is_computed() {
    let kpis = kpi::compute(&History::default(), &query(None, MON, MON + D));
    let keys: Vec<&str> = kpis.iter().map(|k| k.key).collect();
    let named: Vec<String> = tollgate_domain::policy::KpiDef::IDS.iter().map(|id| kpi::key_of(id)).collect();
    assert_eq!(named, keys);
}
