//! `tollgate import --cdevents` and `tollgate metrics` through the binary.

mod support;

use std::sync::Arc;

use support::*;
use tollgate_domain::playbook::{self, Rehearsal, Runner};
use tollgate_metrics::kpi::{self, Query};

fn line(id: &str, chain: &str, kind: &str, at: &str, subject: &str, content: &str, custom: &str) -> String {
    format!(
        r#"{{"context":{{"specversion":"0.5.0","id":"{id}","chainId":"{chain}","source":"/ci","type":"dev.cdevents.{kind}","timestamp":"{at}"}},"subject":{{"id":"{subject}","source":"/ci","content":{{{content}}}}}{custom}}}"#
    )
}

/// The production deployment of artefact a1 of `payments` at 10:20 on 1 October 2026.
fn payments_deployed(id: &str) -> String {
    line(
        id,
        "k1",
        "service.deployed.0.3.0",
        "2026-10-01T10:20:00Z",
        "payments",
        r#""environment":{"id":"production"},"artifactId":"a1""#,
        "",
    )
}

/// P1 incident INC-1, naming artefact a1, detected at 11:00 on 1 October 2026.
fn inc1_detected(id: &str) -> String {
    line(
        id,
        "i1",
        "incident.detected.0.3.0",
        "2026-10-01T11:00:00Z",
        "INC-1",
        r#""artifactId":"a1""#,
        r#","customData":{"severity":"P1"}"#,
    )
}

/// A Tollgate under QMS-DEV-PRO-004 with its people, and `events.jsonl` holding these lines.
fn tollgate_with_events(lines: &[&str]) -> (Tg, std::path::PathBuf) {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let file = tg.path("events.jsonl");
    std::fs::write(&file, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    (tg, file)
}

/// Importing `file` imports its one deployment as new: nothing of it was kept before.
#[track_caller]
fn imports_one_new_deployment(tg: &Tg, file: &std::path::Path) {
    let v = tg.json("rita", &["import", "--cdevents", file.to_str().unwrap()]);
    assert_eq!(
        (v["imported"].as_u64(), v["duplicates"].as_u64(), v["deployments"].as_u64()),
        (Some(1), Some(0), Some(1))
    );
}

#[test]
fn an_import_is_idempotent_anchored_in_the_log_and_reports_its_rejections() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let file = tg.path("events.jsonl");
    let events = [
        line("e1", "k1", "pipelinerun.started.0.2.0", "2026-10-01T10:00:00Z", "run", "", ""),
        payments_deployed("e2"),
        inc1_detected("e3"),
        line("e4", "i1", "incident.resolved.0.3.0", "2026-10-01T11:30:00Z", "INC-1", "", ""),
        "not json".to_owned(),
    ]
    .join("\n");
    std::fs::write(&file, events + "\n").unwrap();
    let before = tg.events();
    let v = tg.json("rita", &["import", "--cdevents", file.to_str().unwrap()]);
    assert_eq!((v["imported"].as_u64(), v["rejected"].as_u64()), (Some(4), Some(1)));
    assert_eq!(v["rejections"][0]["line"], 5);
    assert_eq!(tg.events(), before + 1, "one fact anchors the import");
    let log = tg.ok("auditor", &["audit", "log"]);
    assert!(log.contains("import.recorded"), "{log}");

    let again = tg.json("rita", &["import", "--cdevents", file.to_str().unwrap()]);
    assert_eq!((again["imported"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(4)));

    let m = tg.json("rita", &["metrics", "--from", "2026-09-01T00:00:00Z", "--to", "2026-11-01T00:00:00Z"]);
    assert_eq!(m["change_failure_rate"]["value"]["numerator"], 1);
    assert_eq!(m["failed_deployment_recovery_time"]["value"]["median_seconds"], 1_800);
    assert!(m["lead_time_for_changes"]["value"].is_null());
    assert!(m["lead_time_for_changes"]["null_reason"].is_string());

    // Someone without the authority imports nothing, not even into the KPI store.
    let err = tg.run("pat", &["import", "--cdevents", file.to_str().unwrap()]);
    check(&err, 3, &["import as product owner"]);
}

#[test]
fn a_production_deployment_without_an_approved_release_after_enforcement_is_a_nonconformance() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let file = tg.path("events.jsonl");
    // The profile is enforced from its adoption (moments ago, to the nanosecond): last month's
    // deployment is history, one a minute from now is held to the procedure. "Now" truncated to
    // the second could fall before the adoption within the same second.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let soon =
        chrono::DateTime::from_timestamp(now + 60, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let events = [
        line(
            "d1",
            "k1",
            "service.deployed.0.3.0",
            "2026-10-01T10:20:00Z",
            "payments",
            r#""environment":{"id":"production"},"artifactId":"pkg:oci/payments@sha256%3Aaaaa""#,
            "",
        ),
        line(
            "d2",
            "k2",
            "service.deployed.0.3.0",
            &soon,
            "payments",
            r#""environment":{"id":"production"},"artifactId":"pkg:oci/payments@sha256%3Abbbb""#,
            "",
        ),
        line(
            "d3",
            "k3",
            "service.deployed.0.3.0",
            &soon,
            "payments",
            r#""environment":{"id":"staging"},"artifactId":"x""#,
            "",
        ),
    ]
    .join("\n");
    std::fs::write(&file, events).unwrap();
    let out = tg.ok("rita", &["import", "--cdevents", file.to_str().unwrap()]);
    assert!(out.contains("1 production deployments without an approved release record raised"), "{out}");
    let ncs = tg.json("rita", &["nc", "list"]);
    let ncs = ncs.as_array().unwrap();
    assert_eq!(ncs.len(), 1, "{ncs:?}");
    assert_eq!(ncs[0]["condition"], "deployment-without-approved-release");
    assert!(ncs[0]["detail"].as_str().unwrap().contains("sha256%3Abbbb"));
}

#[test]
fn an_import_that_fails_part_way_leaves_the_store_and_the_log_as_they_were() {
    let deployed = payments_deployed("e1");
    let overlong = format!(r#"{{"context":{{"id":"{}"}}}}"#, "x".repeat(1 << 20));
    let (tg, file) = tollgate_with_events(&[&deployed, &overlong]);
    let before = tg.events();
    let err = tg.run("rita", &["import", "--cdevents", file.to_str().unwrap()]);
    check(&err, 1, &["events.jsonl: line 2 is longer than 1048576 bytes; nothing was imported"]);
    assert_eq!(tg.events(), before, "no import fact");
    // The deployment before the bad line was not kept: importing it again imports it.
    std::fs::write(&file, format!("{deployed}\n")).unwrap();
    imports_one_new_deployment(&tg, &file);
}

fn day_around_now(tg: &Tg, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["metrics", "--to", "+1 day"];
    all.extend_from_slice(args);
    tg.json("rita", &all)
}

#[test]
fn the_approval_cycle_runs_from_submission_and_an_unsubmitted_approval_is_missing_source() {
    // Given a release approved without its package ever being submitted,
    let tg = Tg::new();
    let profile = fast_profile(tg.dir.path());
    init_with_people(&tg, profile.to_str().unwrap());
    let r1 = minor_release(&tg, "2.4.0");
    tg.ok("rita", &["release", "approve", &r1]);
    tg.ok("quinn", &["release", "approve", &r1]);
    // when the KPIs are computed,
    let m = day_around_now(&tg, &[]);
    // then the cycle is not timed from the release's creation: it has no start, and says so.
    let k = &m["approval_cycle_time"];
    assert!(k["value"].is_null(), "{k}");
    assert!(k["null_reason"].as_str().unwrap().starts_with("missing source: none of the 1 releases approved"), "{k}");

    // Given a second release submitted for approval a moment after creation, then approved,
    let r2 = minor_release(&tg, "2.5.0");
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    tg.ok("eli", &["release", "submit", &r2]);
    let show = tg.json("rita", &["release", "show", &r2]);
    assert_eq!(show["submitted"]["by"], "eli");
    tg.ok("rita", &["release", "approve", &r2]);
    tg.ok("quinn", &["release", "approve", &r2]);
    // then it is the one measured cycle, and the first is still counted apart.
    let m = day_around_now(&tg, &[]);
    let v = &m["approval_cycle_time"]["value"];
    assert_eq!((v["standard"]["count"].as_u64(), v["missing_source"].as_u64()), (Some(1), Some(1)), "{v}");
    let log = tg.ok("auditor", &["audit", "log"]);
    assert!(log.contains("release.submitted"), "{log}");

    // A second submission, or one after the approvals are complete, is refused and writes nothing.
    let before = tg.events();
    check(&tg.run("eli", &["release", "submit", &r2]), 1, &["submit again"]);
    let again = tg.run("eli", &["release", "submit", &r1]);
    check(&again, 1, &["submit after approval"]);
    assert!(stderr(&again).contains("already complete"), "{}", stderr(&again));
    // Nobody without the authority to open releases submits one.
    let r3 = minor_release(&tg, "2.6.0");
    let before3 = tg.events();
    check(&tg.run("quinn", &["release", "submit", &r3]), 3, &["submit as qa lead"]);
    assert_eq!(tg.events(), before3);
    assert_eq!(before + 1, before3, "only the third release's creation was recorded");
}

#[test]
fn tollgate_s_own_deployments_have_no_pipeline_trigger_so_their_time_to_deploy_is_missing_source() {
    // Given a release deployed through Tollgate, its `deploy` and `deployed` commands typed ten
    // minutes apart by a person,
    let mut h = rehearsal("qms-dev-pro-004", PEOPLE);
    let start = h.now();
    let id = playbook::create(&mut h, "payments", "1.0.0", "patch", chrono::Duration::weeks(3)).unwrap();
    playbook::walk_to_closed(&mut h, id).unwrap();
    assert!(h.state.releases[&id].live_since().is_some());
    // when the KPIs are computed from Tollgate's own records,
    let history = tollgate::own_history::history(&h.state, "production", None);
    let q =
        Query { service: None, environment: "production".into(), from: start.timestamp(), to: h.now().timestamp() + 1 };
    let k = kpi::compute(&history, &q).into_iter().find(|k| k.key == "mean_time_to_deploy").unwrap();
    // then the time between two commands is not reported as the time to deploy: there is no
    // pipeline trigger on record, and the KPI says so.
    assert_eq!(k.value, None, "{k:?}");
    assert_eq!(
        k.null_reason.as_deref(),
        Some("missing source: none of the 1 successful deployments has a pipeline trigger time")
    );
}

#[test]
fn a_completed_rollback_raises_an_incident_record_that_the_post_deployment_incident_rate_counts() {
    // Given a release in stabilisation rolled back by its deployer, stable again 7 minutes later,
    let mut h = rehearsal("qms-dev-pro-004", PEOPLE);
    let id = playbook::create(&mut h, "payments", "1.0.0", "patch", chrono::Duration::weeks(3)).unwrap();
    playbook::walk_to(&mut h, id, tollgate_domain::lifecycle::Phase::Stabilisation).unwrap();
    let deployer = h.state.releases[&id].deploying_engineer().unwrap().to_owned();
    let rollback = tollgate_domain::Command::StartRollback { release: id, reason: "error rate +40%".into() };
    h.run(&deployer, rollback).unwrap();
    h.wait_until(h.now() + chrono::Duration::minutes(7));
    h.run(&deployer, tollgate_domain::Command::CompleteRollback { release: id }).unwrap();
    // when the KPIs are computed from Tollgate's own records,
    let kpis = own_kpis(&h, 30);
    let rate = kpis.iter().find(|k| k.key == "post_deployment_incident_rate").unwrap();
    // then the incident record 4.5 raises counts against the deployment it is linked to (P2),
    assert_eq!(rate.value, Some(kpi::Value::PerHundred { count: 1, deployments: 1 }), "{rate:?}");
    let history = tollgate::own_history::history(&h.state, "production", None);
    assert_eq!(history.incidents.len(), 1);
    let incident = &history.incidents[0];
    assert_eq!(incident.id, format!("{id}/rollback#1"));
    // detected at the rollback's decision and resolved when the previous version was stable.
    let rb = &h.state.releases[&id].rollbacks[0];
    assert_eq!(incident.detected, rb.started.at.timestamp());
    assert_eq!(incident.resolved, rb.completed.map(|t| t.timestamp()));
    assert!(incident.resolved.unwrap() - incident.detected >= 7 * 60);
    assert_eq!(incident.caused_by, Some(history.deployments[0].id));
}

fn rehearsal(profile_id: &str, people: &[(&str, &str)]) -> Rehearsal {
    let start: chrono::DateTime<chrono::Utc> = "2026-01-05T09:00:00Z".parse().unwrap();
    let mut h = Rehearsal::new(start);
    let text = tollgate_profile::builtin(profile_id).unwrap();
    let mut profile = tollgate_profile::load(&format!("builtin:{profile_id}"), text).unwrap();
    profile.policy.artefacts.trusted_keys.insert(tollgate_domain::evidence::Digest::from_sha256([7; 32]));
    profile.policy.artefacts.builders.push(tollgate_domain::policy::TrustedBuilder {
        id: "https://ci.example.com/rehearsal".into(),
        keys: [tollgate_domain::evidence::Digest::from_sha256([8; 32])].into(),
    });
    let people: Vec<(&str, &[&str])> = people.iter().map(|(name, role)| (*name, std::slice::from_ref(role))).collect();
    for (actor, command) in playbook::staffing(Arc::new(profile), &people) {
        h.run(&actor, command).unwrap();
    }
    h
}

/// The KPIs of the rehearsal's own records over the `days` to now, under its profile.
fn own_kpis(h: &Rehearsal, days: i64) -> Vec<kpi::Kpi> {
    let history = tollgate::own_history::history(&h.state, "production", None);
    let to = h.now().timestamp() + 1;
    let q = Query { service: None, environment: "production".into(), from: to - days * 86_400, to };
    kpi::compute_for(&history, &q, &tollgate::metrics_cmd::procedure(h.state.policy().unwrap()))
}

fn emergency_kpi(h: &Rehearsal) -> (u64, u64) {
    let k = own_kpis(h, 60).into_iter().find(|k| k.key == "emergency_release_frequency").unwrap();
    match k.value {
        Some(kpi::Value::Emergency { worst, services_over_limit, .. }) => (worst, services_over_limit),
        v => panic!("{v:?}"),
    }
}

#[test]
fn the_register_and_the_kpi_count_the_same_emergencies_and_neither_counts_a_withdrawn_one() {
    // Given two emergency releases of payments live in production ten days apart,
    let mut h = rehearsal("qms-dev-pro-004", PEOPLE);
    for v in ["1.0.1", "1.0.2"] {
        let id = playbook::create(&mut h, "payments", v, "emergency", chrono::Duration::zero()).unwrap();
        playbook::walk_to_closed(&mut h, id).unwrap();
        h.wait_until(h.now() + chrono::Duration::days(10));
    }
    // when a third is opened and then withdrawn before production,
    let third = playbook::create(&mut h, "payments", "1.0.3", "emergency", chrono::Duration::zero()).unwrap();
    h.run("rita", tollgate_domain::Command::Withdraw { release: third, reason: "fixed by config".into() }).unwrap();
    // then neither the register nor the KPI counts it.
    let ncs = |h: &Rehearsal| h.state.ncs.iter().filter(|n| n.condition == "emergency-frequency").count();
    assert_eq!(ncs(&h), 0);
    assert_eq!(emergency_kpi(&h), (2, 0));
    // And when a fourth goes live within the 30 days, both count three.
    let fourth = playbook::create(&mut h, "payments", "1.0.4", "emergency", chrono::Duration::zero()).unwrap();
    playbook::walk_to_closed(&mut h, fourth).unwrap();
    assert_eq!(ncs(&h), 1);
    assert_eq!(emergency_kpi(&h), (3, 1));
}

#[test]
fn a_grs_release_reports_grs_s_four_metrics_without_targets_or_bands() {
    // Given a release deployed under GRS-ISMS-PRC-009, which names four metrics and no target,
    let people = [
        ("eli", "engineering-lead"),
        ("paula", "product-owner"),
        ("ella", "engineering-lead"),
        ("omar", "sre"),
        ("oscar", "sre"),
        ("sam", "security-engineer"),
        ("cab1", "cab-member"),
        ("cab2", "cab-member"),
    ];
    let mut h = rehearsal("grs-isms-prc-009", &people);
    let id = playbook::create(&mut h, "payments", "1.0.0", "minor", chrono::Duration::weeks(3)).unwrap();
    playbook::walk_to_closed(&mut h, id).unwrap();
    // when its KPIs are computed under its own profile,
    let kpis = own_kpis(&h, 30);
    // then exactly its four are reported, each with a value and neither a target nor a band.
    let keys: Vec<&str> = kpis.iter().map(|k| k.key).collect();
    assert_eq!(
        keys,
        ["change_failure_rate", "failed_deployment_recovery_time", "deployment_frequency", "lead_time_for_changes"]
    );
    for k in &kpis {
        assert_eq!(k.band, None, "{}", k.key);
        assert_eq!(k.target, "not set by GRS-ISMS-PRC-009", "{}", k.key);
        assert!(k.breaches.is_empty(), "{}", k.key);
    }
    assert!(kpis[0].value.is_some() && kpis[2].value.is_some());
}

#[test]
fn an_import_whose_log_append_fails_leaves_the_kpi_store_as_it_was_and_a_rerun_imports() {
    // Given a deployment to import, and a log that refuses every append (as a full disk would)
    let (tg, file) = tollgate_with_events(&[&payments_deployed("e1")]);
    tg.sqlite()
        .execute_batch("CREATE TRIGGER full_disk BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'disk full'); END;")
        .unwrap();
    let before = tg.events();
    // When the import runs
    let err = tg.run("rita", &["import", "--cdevents", file.to_str().unwrap()]);
    // Then it fails naming the file, the log records nothing and the KPI store holds nothing of it
    check(&err, 1, &["import"]);
    let message = stderr(&err);
    assert!(
        message.contains("events.jsonl") && message.contains("disk full") && message.contains("nothing was imported"),
        "{message}"
    );
    assert_eq!(tg.events(), before, "no import fact");
    let kpi = rusqlite::Connection::open(tollgate_metrics::store::path_beside(&tg.db)).unwrap();
    let count =
        |table: &str| -> i64 { kpi.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap() };
    assert_eq!((count("kpi_seen"), count("kpi_deployments"), count("kpi_artefacts")), (0, 0, 0));
    // And once the log takes appends again, a rerun imports the deployment (not a duplicate)
    tg.sqlite().execute_batch("DROP TRIGGER full_disk").unwrap();
    imports_one_new_deployment(&tg, &file);
    assert_eq!(tg.events(), before + 1);
}

#[test]
fn an_incident_imported_before_its_deployment_counts_against_it_once_a_later_import_brings_it() {
    // Given an import of a P1 incident naming artefact a1, of which no deployment is known yet
    let (tg, incidents) = tollgate_with_events(&[&inc1_detected("i1")]);
    let first = tg.json("rita", &["import", "--cdevents", incidents.to_str().unwrap()]);
    assert_eq!(first["unattributed_incidents"], 1);
    // When a later import brings a1's production deployment, 40 minutes before the detection
    let deployments = tg.path("deployments.jsonl");
    std::fs::write(&deployments, format!("{}\n", payments_deployed("e1"))).unwrap();
    let second = tg.json("rita", &["import", "--cdevents", deployments.to_str().unwrap()]);
    // Then that import attributes the incident to it, and the deployment counts as failed
    assert_eq!(second["earlier_incidents_attributed"], 1);
    let m = tg.json("rita", &["metrics", "--from", "2026-09-01T00:00:00Z", "--to", "2026-11-01T00:00:00Z"]);
    assert_eq!(m["change_failure_rate"]["value"]["numerator"], 1);
    assert_eq!(m["change_failure_rate"]["value"]["denominator"], 1);
}
