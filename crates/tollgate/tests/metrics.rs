//! `tollgate import --cdevents` and `tollgate metrics` through the binary.

mod support;

use support::*;

fn line(id: &str, chain: &str, kind: &str, at: &str, subject: &str, content: &str, custom: &str) -> String {
    format!(
        r#"{{"context":{{"specversion":"0.5.0","id":"{id}","chainId":"{chain}","source":"/ci","type":"dev.cdevents.{kind}","timestamp":"{at}"}},"subject":{{"id":"{subject}","source":"/ci","content":{{{content}}}}}{custom}}}"#
    )
}

#[test]
fn an_import_is_idempotent_anchored_in_the_log_and_reports_its_rejections() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let file = tg.path("events.jsonl");
    let events = [
        line("e1", "k1", "pipelinerun.started.0.2.0", "2026-10-01T10:00:00Z", "run", "", ""),
        line(
            "e2",
            "k1",
            "service.deployed.0.3.0",
            "2026-10-01T10:20:00Z",
            "payments",
            r#""environment":{"id":"production"},"artifactId":"a1""#,
            "",
        ),
        line(
            "e3",
            "i1",
            "incident.detected.0.3.0",
            "2026-10-01T11:00:00Z",
            "INC-1",
            r#""artifactId":"a1""#,
            r#","customData":{"severity":"P1"}"#,
        ),
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
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let file = tg.path("events.jsonl");
    let deployed = line(
        "e1",
        "k1",
        "service.deployed.0.3.0",
        "2026-10-01T10:20:00Z",
        "payments",
        r#""environment":{"id":"production"},"artifactId":"a1""#,
        "",
    );
    let overlong = format!(r#"{{"context":{{"id":"{}"}}}}"#, "x".repeat(1 << 20));
    std::fs::write(&file, format!("{deployed}\n{overlong}\n")).unwrap();
    let before = tg.events();
    let err = tg.run("rita", &["import", "--cdevents", file.to_str().unwrap()]);
    check(&err, 1, &["events.jsonl: line 2 is longer than 1048576 bytes; nothing was imported"]);
    assert_eq!(tg.events(), before, "no import fact");
    // The deployment before the bad line was not kept: importing it again imports it.
    std::fs::write(&file, format!("{deployed}\n")).unwrap();
    let v = tg.json("rita", &["import", "--cdevents", file.to_str().unwrap()]);
    assert_eq!(
        (v["imported"].as_u64(), v["duplicates"].as_u64(), v["deployments"].as_u64()),
        (Some(1), Some(0), Some(1))
    );
}
