//! The built-in profiles load, and say what the procedures say.

use tollgate_domain::lifecycle::Track;
use tollgate_domain::policy::{Count, Opens};
use tollgate_domain::time::Span;
use tollgate_profile::{BUILTINS, load};

#[test]
fn every_builtin_profile_loads() {
    for (id, text) in BUILTINS {
        let profile = load(&format!("builtin:{id}"), text).unwrap_or_else(|e| panic!("{id}:\n{e}"));
        assert_eq!(profile.policy.id, id);
        assert_eq!(profile.hash.len(), 64);
    }
}

#[test]
fn qms_profile_encodes_the_release_type_table() {
    let p = load("qms", BUILTINS[0].1).unwrap().policy;
    let lead = |t: &str| p.release_types[t].min_lead_time;
    assert_eq!(lead("major"), "2 weeks".parse::<Span>().unwrap());
    assert_eq!(lead("minor"), "1 week".parse::<Span>().unwrap());
    assert_eq!(lead("patch"), "2 days".parse::<Span>().unwrap());
    assert_eq!(lead("security-patch"), "4h".parse::<Span>().unwrap());
    assert_eq!(lead("infrastructure"), "3 days".parse::<Span>().unwrap());
    let stab = |t: &str| p.release_types[t].stabilisation.to_string();
    assert_eq!(
        (stab("patch"), stab("minor"), stab("major"), stab("infrastructure")),
        ("30m".into(), "2h".into(), "1 day".into(), "1 day".into())
    );
    let major = &p.release_types["major"].approvals[0].requires;
    assert_eq!(major[0].role, "cab-member");
    assert_eq!(major[0].count, Count::All);
    assert_eq!(p.release_types["emergency"].approvals.len(), 2, "Emergency CAB or RM + Engineering Lead");
    assert_eq!(p.release_types["emergency"].track, Track::Emergency);
    assert_eq!(p.rollback.target.to_string(), "15m");
    assert_eq!(p.nonconformance.corrective_action_within.to_string(), "5 business days");
    assert_eq!(
        p.deferred.iter().map(|d| (d.id.as_str(), d.within.to_string())).collect::<Vec<_>>(),
        [
            ("change-request", "4h".to_owned()),
            ("planning-and-impact", "1 day".to_owned()),
            ("skipped-test-review", "1 day".to_owned()),
            ("documentation", "1 day".to_owned()),
            ("retrospective-review", "5 business days".to_owned()),
        ]
    );
    assert_eq!(
        p.test_phases.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["unit", "integration", "system", "performance", "security-scan", "regression", "uat", "infrastructure"]
    );
    assert_eq!(p.kpis.len(), 14);
    assert_eq!(p.retention.len(), 9);
    assert_eq!(p.risks.len(), 12);
    assert_eq!(p.cadences.len(), 6);
    for track in [Track::Standard, Track::Emergency] {
        assert!(p.gate_for(track, tollgate_domain::lifecycle::Phase::Deployment, Opens::Deploy).is_some());
    }
}

#[test]
fn the_grs_profile_names_its_four_metrics_and_sets_no_target() {
    // GRS-ISMS-PRC-009 6: "Change failure rate, MTTR, deployment frequency, lead time for
    // changes", and no target for any.
    let text = tollgate_profile::builtin("grs-isms-prc-009").unwrap();
    let p = tollgate_profile::load("builtin:grs-isms-prc-009", text).unwrap();
    let ids: Vec<&str> = p.policy.kpis.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["change-failure-rate", "mean-time-to-restore", "deployment-frequency", "lead-time-for-changes"]);
    assert!(p.policy.kpis.iter().all(|k| k.target.is_none()), "{:?}", p.policy.kpis);
    // Nor does it add an approver the document does not require.
    assert!(p.policy.additional_approvals.is_empty());
    // Every QMS KPI keeps the procedure's target.
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let q = tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap();
    assert_eq!(q.policy.kpis.len(), 14);
    assert!(q.policy.kpis.iter().all(|k| k.target.is_some()));
}
