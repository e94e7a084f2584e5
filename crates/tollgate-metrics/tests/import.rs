//! The CDEvents mapping of docs/metrics.md, line by line, on hand-written events.

use tollgate_metrics::history::Severity;
use tollgate_metrics::import::Importer;
use tollgate_metrics::kpi::{self, Query, Value};
use tollgate_metrics::store::Store;

const T0: i64 = 1_767_600_000; // 2026-01-05T08:00:00Z

fn ts(offset_s: i64) -> String {
    chrono::DateTime::from_timestamp(T0 + offset_s, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn event(id: &str, chain: &str, kind: &str, at: i64, subject: &str, content: &str, custom: &str) -> String {
    format!(
        r#"{{"context":{{"specversion":"0.5.0","id":"{id}","chainId":"{chain}","source":"/ci","type":"dev.cdevents.{kind}","timestamp":"{}"}},"subject":{{"id":"{subject}","source":"/ci","content":{{{content}}}}}{custom}}}"#,
        ts(at)
    )
}

fn lines() -> Vec<String> {
    vec![
        // Change c1 merged (committed an hour earlier), packaged into artefact a1 and, rebuilt, a2.
        event(
            "e1",
            "k0",
            "change.merged.0.3.0",
            0,
            "c1",
            "",
            r#","customData":{"committedAt":"2026-01-05T07:00:00Z"}"#,
        ),
        event("e2", "k0", "change.merged.0.3.0", 60, "c2", "", ""),
        event("e3", "k1", "artifact.packaged.0.3.0", 120, "a1", r#""change":{"id":"c1"}"#, ""),
        event("e4", "k1", "artifact.packaged.0.3.0", 130, "a1", r#""change":{"id":"c2"}"#, ""),
        event("e5", "k2", "artifact.packaged.0.3.0", 140, "a2", r#""change":{"id":"c1"}"#, ""),
        // Pipeline k1: queued, started, deployed a1 to production.
        event("e6", "k1", "pipelinerun.queued.0.2.0", 200, "run1", "", ""),
        event("e7", "k1", "pipelinerun.started.0.2.0", 260, "run1", "", ""),
        event(
            "e8",
            "k1",
            "service.deployed.0.3.0",
            1_400,
            "payments",
            r#""environment":{"id":"production"},"artifactId":"a1""#,
            "",
        ),
        event("e9", "k1", "pipelinerun.finished.0.2.0", 1_500, "run1", r#""outcome":"success""#, ""),
        // Pipeline k3 fails before deploying.
        event("e10", "k3", "pipelinerun.started.0.2.0", 2_000, "run3", "", ""),
        event(
            "e11",
            "k3",
            "pipelinerun.finished.0.2.0",
            2_600,
            "run3",
            r#""outcome":"failure""#,
            r#","customData":{"service":"payments","environment":"production"}"#,
        ),
        // a2 (which also holds c1) deploys: c1 shipped already, so no second lead time.
        event(
            "e12",
            "k2",
            "service.deployed.0.3.0",
            3_600,
            "payments",
            r#""environment":{"id":"production"},"artifactId":"a2""#,
            "",
        ),
        // An incident caused by a2, and one without an artefact.
        event(
            "e13",
            "i1",
            "incident.detected.0.3.0",
            4_000,
            "INC-1",
            r#""artifactId":"a2","environment":{"id":"production"}"#,
            r#","customData":{"severity":"P1"}"#,
        ),
        event("e14", "i2", "incident.detected.0.3.0", 4_100, "INC-2", r#""environment":{"id":"production"}"#, ""),
        // Rollback of a2, decided when its chain began.
        event("e15", "k4", "pipelinerun.started.0.2.0", 4_200, "rb", "", ""),
        event(
            "e16",
            "k4",
            "service.rolledback.0.3.0",
            4_500,
            "payments",
            r#""environment":{"id":"production"},"artifactId":"a1""#,
            "",
        ),
        event("e17", "i1", "incident.resolved.0.3.0", 7_600, "INC-1", "", ""),
        // A build event the KPIs do not use, a bad line and a duplicate.
        event("e18", "k5", "build.started.0.2.0", 7_700, "b", "", ""),
        "{not json".to_owned(),
        event(
            "e8",
            "k1",
            "service.deployed.0.3.0",
            1_400,
            "payments",
            r#""environment":{"id":"production"},"artifactId":"a1""#,
            "",
        ),
    ]
}

fn import(store: &mut Store, lines: &[String]) -> tollgate_metrics::import::Summary {
    let mut importer = Importer::new(store, "production", None, 0).unwrap();
    for l in lines {
        importer.line(l.as_bytes()).unwrap();
    }
    importer.finish().unwrap()
}

#[test]
fn the_mapping_links_explicitly_and_counts_every_line() {
    let mut store = Store::in_memory();
    let s = import(&mut store, &lines());
    assert_eq!((s.lines, s.imported, s.duplicates, s.skipped, s.rejected), (20, 17, 1, 1, 1));
    assert_eq!(s.rejections[0].0, 19, "the bad line is named by its number");
    assert_eq!(
        (s.deployments, s.failed_deployments, s.rollbacks, s.incidents, s.unattributed_incidents),
        (2, 1, 1, 2, 1)
    );

    let h = store.history(None, "production", T0, T0 + 86_400, 0).unwrap();
    assert_eq!(h.deployments.len(), 3);
    let a1 = &h.deployments[0];
    assert_eq!(a1.pipeline_started, Some(T0 + 200), "earliest of queued and started");
    // c1 committed at 07:00 = T0 - 3600, deployed at T0 + 1400; c2 merged at T0 + 60.
    let mut lead = a1.change_lead_times.to_vec();
    lead.sort();
    assert_eq!(lead, vec![1_340, 5_000]);
    assert!(a1.success && a1.rollback.is_none());

    let failed = &h.deployments[1];
    assert!(!failed.success);
    assert_eq!((failed.finished, failed.pipeline_started), (T0 + 2_600, Some(T0 + 2_000)));

    let a2 = &h.deployments[2];
    assert!(a2.change_lead_times.is_empty(), "c1 reached production with a1 already");
    let rb = a2.rollback.unwrap();
    assert_eq!((rb.decided, rb.completed), (T0 + 4_200, Some(T0 + 4_500)));

    let inc1 = h.incidents.iter().find(|i| i.id == "INC-1").unwrap();
    assert_eq!((inc1.severity, inc1.caused_by, inc1.resolved), (Severity::P1, Some(a2.id), Some(T0 + 7_600)));
    let inc2 = h.incidents.iter().find(|i| i.id == "INC-2").unwrap();
    assert_eq!(
        (inc2.severity, inc2.caused_by),
        (Severity::P2, None),
        "no artefact: unattributed, severity P2 by default"
    );
}

#[test]
fn importing_again_changes_nothing_and_state_carries_over() {
    let mut store = Store::in_memory();
    let all = lines();
    // The first half, then everything: the second import sees the first half as duplicates and
    // still ships c2 with a1 from the state the first one left.
    import(&mut store, &all[..5]);
    let s = import(&mut store, &all);
    assert_eq!(s.duplicates, 6);
    let again = import(&mut store, &all);
    assert_eq!((again.imported, again.duplicates), (0, 19), "every valid line, including the skipped one");
    let h = store.history(None, "production", T0, T0 + 86_400, 0).unwrap();
    assert_eq!(h.deployments.len(), 3);
    let mut lead = h.deployments[0].change_lead_times.to_vec();
    lead.sort();
    assert_eq!(lead, vec![1_340, 5_000]);
}

#[test]
fn a_rollback_of_the_first_deployment_and_one_service_only() {
    let mut store = Store::in_memory();
    let l = vec![
        event(
            "x1",
            "k",
            "service.deployed.0.3.0",
            0,
            "search",
            r#""environment":{"id":"production"},"artifactId":"s1""#,
            "",
        ),
        event("x2", "r", "service.rolledback.0.3.0", 300, "search", r#""environment":{"id":"production"}"#, ""),
        event(
            "x3",
            "k9",
            "service.rolledback.0.3.0",
            400,
            "never-deployed",
            r#""environment":{"id":"production"}"#,
            "",
        ),
        event("x4", "k", "service.deployed.0.3.0", 500, "payments", r#""environment":{"id":"staging"}"#, ""),
    ];
    let s = import(&mut store, &l);
    // The rollback of a service never deployed is held until a deployment of it arrives.
    assert_eq!((s.rollbacks, s.skipped), (2, 0));
    let h = store.history(Some("search"), "production", T0, T0 + 3_600, 0).unwrap();
    assert_eq!(h.deployments.len(), 1);
    assert_eq!(h.deployments[0].rollback.map(|r| r.decided), Some(T0 + 300));
    assert!(store.history(Some("payments"), "production", T0, T0 + 3_600, 0).unwrap().deployments.is_empty());
    assert_eq!(store.history(Some("payments"), "staging", T0, T0 + 3_600, 0).unwrap().deployments.len(), 1);
}

#[test]
fn links_hold_across_imports_and_two_week_chunks() {
    const WEEK: i64 = 7 * 86_400;
    let mut store = Store::in_memory();
    import(&mut store, &[deployed("d1", 0, "a1")]);
    // Three weeks later, in another import: an incident naming a1, then a rollback of d1, its
    // chunk long written.
    let s = import(
        &mut store,
        &[
            event(
                "i1",
                "i1",
                "incident.detected.0.3.0",
                3 * WEEK,
                "INC-9",
                r#""artifactId":"a1""#,
                r#","customData":{"severity":"P1"}"#,
            ),
            event(
                "r1",
                "r1",
                "service.rolledback.0.3.0",
                3 * WEEK + 60,
                "payments",
                r#""environment":{"id":"production"}"#,
                "",
            ),
            // A second rollback of the same deployment changes nothing.
            event(
                "r2",
                "r2",
                "service.rolledback.0.3.0",
                3 * WEEK + 90,
                "payments",
                r#""environment":{"id":"production"}"#,
                "",
            ),
            // A deployment arriving late, into the chunk of the first one.
            deployed("d0", -60, "a0"),
            // An incident naming an artefact deployed only after its detection: unattributed.
            event("i2", "i2", "incident.detected.0.3.0", 3 * WEEK + 120, "INC-10", r#""artifactId":"a5""#, ""),
            deployed("d5", 3 * WEEK + 180, "a5"),
        ],
    );
    assert_eq!((s.incidents, s.unattributed_incidents, s.rollbacks, s.deployments), (2, 1, 2, 2));
    let mut h = store.history(None, "production", T0 - 3_600, T0 + 4 * WEEK, 0).unwrap();
    // A chunk keeps its records in arrival order; KPIs order the deployments themselves.
    h.deployments.sort_by_key(|d| d.finished);
    let ids: Vec<_> = h.deployments.iter().map(|d| (d.finished - T0, d.artefact.clone().unwrap())).collect();
    assert_eq!(ids, vec![(-60, "a0".into()), (0, "a1".into()), (3 * WEEK + 180, "a5".into())]);
    let d1 = &h.deployments[1];
    let rb = d1.rollback.unwrap();
    assert_eq!((rb.decided, rb.completed), (T0 + 3 * WEEK + 60, Some(T0 + 3 * WEEK + 60)));
    assert!(h.deployments[0].rollback.is_none());
    let inc = h.incidents.iter().find(|i| i.id == "INC-9").unwrap();
    assert_eq!(inc.caused_by, Some(d1.id));
    assert_eq!(h.incidents.iter().find(|i| i.id == "INC-10").unwrap().caused_by, None);
    // One service's query finds the incident through its deployment, though the incident
    // names no service.
    let payments = store.history(Some("payments"), "production", T0 - 3_600, T0 + 4 * WEEK, 0).unwrap();
    let inc = payments.incidents.iter().find(|i| i.id == "INC-9").expect("caused by a payments deployment");
    assert_eq!((inc.service.as_deref(), inc.caused_by), (None, Some(d1.id)));
    assert_eq!(payments.deployments.len(), 3);
    // The window's own edges: only what finished inside it.
    let h = store.history(None, "production", T0, T0 + 1, 0).unwrap();
    assert_eq!(h.deployments.len(), 1);
}

#[test]
fn a_store_of_an_earlier_layout_or_with_a_damaged_chunk_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.kpi.db");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch("CREATE TABLE kpi_deployments (id INTEGER PRIMARY KEY, finished INTEGER)")
        .unwrap();
    let err = Store::open(&old).err().expect("refused").to_string();
    assert!(
        err.contains("old.kpi.db") && err.contains("earlier layout") && err.contains("import the events again"),
        "{err}"
    );

    let path = dir.path().join("new.kpi.db");
    let mut store = Store::open(&path).unwrap();
    import(&mut store, &lines());
    drop(store);
    rusqlite::Connection::open(&path).unwrap().execute_batch("UPDATE kpi_deployments SET records = x'0102'").unwrap();
    let err = Store::open(&path).unwrap().history(None, "production", T0, T0 + 86_400, 0).unwrap_err().to_string();
    assert!(err.contains("damaged deployment chunk at byte 0"), "{err}");
}

#[test]
fn production_spelt_any_way_is_production_and_every_deployment_is_checked() {
    // Given deployments to `Production`, ` PRODUCTION ` and many more than one page of them
    let mut store = Store::in_memory();
    let mut all = vec![
        event(
            "p1",
            "c1",
            "service.deployed.0.3.0",
            100,
            "payments",
            r#""environment":{"id":"Production"},"artifactId":"a1""#,
            "",
        ),
        event(
            "p2",
            "c2",
            "service.deployed.0.3.0",
            200,
            "payments",
            r#""environment":{"id":" PRODUCTION "},"artifactId":"a2""#,
            "",
        ),
    ];
    for i in 0..12_000 {
        all.push(event(
            &format!("m{i}"),
            &format!("m{i}"),
            "service.deployed.0.3.0",
            300 + i,
            "search",
            r#""environment":{"id":"production"},"artifactId":"s1""#,
            "",
        ));
    }
    // When they are imported with the procedure enforced from the start
    let mut importer = Importer::new(&mut store, "production", Some(T0), 0).unwrap();
    for l in &all {
        importer.line(l.as_bytes()).unwrap();
    }
    let s = importer.finish().unwrap();
    // Then both spellings are production deployments, and every one is checked against releases
    assert_eq!(s.deployments, 12_002);
    assert_eq!(s.to_check.len(), 12_002);
    assert_eq!(s.to_check[1].1.as_deref(), Some("a2"));
    let h = store.history(Some("payments"), "production", T0, T0 + 86_400, 0).unwrap();
    assert_eq!(h.deployments.len(), 2);
}

fn deployed(id: &str, at: i64, artefact: &str) -> String {
    event(
        id,
        id,
        "service.deployed.0.3.0",
        at,
        "payments",
        &format!(r#""environment":{{"id":"production"}},"artifactId":"{artefact}""#),
        "",
    )
}

fn detected(id: &str, at: i64, incident: &str, artefact: &str) -> String {
    event(
        id,
        id,
        "incident.detected.0.3.0",
        at,
        incident,
        &format!(r#""artifactId":"{artefact}","environment":{{"id":"production"}}"#),
        r#","customData":{"severity":"P1"}"#,
    )
}

fn resolved(id: &str, at: i64, incident: &str) -> String {
    event(id, id, "incident.resolved.0.3.0", at, incident, "", "")
}

/// (finished relative to T0, artefact) of the deployment that caused the incident, if any.
fn cause_of(store: &Store, incident: &str) -> Option<(i64, String)> {
    let h = store.history(None, "production", T0 - 86_400, T0 + 400 * 86_400, 0).unwrap();
    let inc = h.incidents.iter().find(|i| i.id == incident).unwrap_or_else(|| panic!("{incident} not loaded"));
    let d = h.deployments.iter().find(|d| Some(d.id) == inc.caused_by)?;
    Some((d.finished - T0, d.artefact.clone().unwrap_or_default()))
}

#[test]
fn an_incident_line_before_its_deployment_line_is_attributed_and_its_early_resolution_kept() {
    // Given a file in which the incident and its resolution come before the deployment of the
    // artefact that caused it (deployed 10:00, detected 11:00, resolved 11:30)
    let mut store = Store::in_memory();
    let lines = [resolved("r", 5_400, "INC-1"), detected("i", 3_600, "INC-1", "a1"), deployed("d", 0, "a1")];
    // When it is imported
    let s = import(&mut store, &lines);
    // Then the incident is caused by that deployment, resolved at 11:30, and counted attributed
    assert_eq!((s.imported, s.incidents, s.unattributed_incidents, s.skipped), (3, 1, 0, 0));
    assert_eq!(cause_of(&store, "INC-1"), Some((0, "a1".into())));
    let h = store.history(None, "production", T0, T0 + 86_400, 0).unwrap();
    assert_eq!(h.incidents[0].resolved, Some(T0 + 5_400));
}

#[test]
fn an_incident_is_caused_by_the_latest_deployment_of_its_artefact_at_or_before_detection_in_any_order() {
    // Given two production deployments of a1, at t1 and t3, and an incident naming a1 detected
    // at t2 between them: hours apart (one chunk) or weeks apart (chunks written in between)
    for step in [3_600, 3 * 7 * 86_400] {
        let lines = [deployed("d1", 0, "a1"), detected("i", step, "INC-1", "a1"), deployed("d3", 2 * step, "a1")];
        for order in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
            // When the three lines are imported in this order
            let mut store = Store::in_memory();
            let s = import(&mut store, &order.map(|i| lines[i].clone()));
            // Then the incident is the t1 deployment's, whatever the order
            assert_eq!(cause_of(&store, "INC-1"), Some((0, "a1".into())), "step {step}, order {order:?}");
            assert_eq!(s.unattributed_incidents, 0, "step {step}, order {order:?}");
        }
    }
}

#[test]
fn an_incident_imported_before_its_deployment_is_attributed_by_the_import_that_brings_it() {
    const DAY: i64 = 86_400;
    let mut store = Store::in_memory();
    // Given an import holding an incident naming a1, detected on day 20, and no deployment of a1
    let first = import(&mut store, &[detected("i", 20 * DAY, "INC-1", "a1")]);
    assert_eq!((first.incidents, first.unattributed_incidents), (1, 1));
    assert_eq!(cause_of(&store, "INC-1"), None);
    // When a later import brings a1's production deployment of day 1
    let second = import(&mut store, &[deployed("d1", DAY, "a1")]);
    // Then the incident is caused by it, and the import says it attributed an earlier incident
    assert_eq!(cause_of(&store, "INC-1"), Some((DAY, "a1".into())));
    assert_eq!((second.incidents, second.unattributed_incidents, second.earlier_incidents_attributed), (0, 0, 1));
    // And a still later import with a deployment of a1 closer before the detection takes it
    // over, while one after the detection (or of another artefact) does not
    let third = import(
        &mut store,
        &[deployed("d2", 10 * DAY, "a1"), deployed("d3", 25 * DAY, "a1"), deployed("d4", 15 * DAY, "a2")],
    );
    assert_eq!(cause_of(&store, "INC-1"), Some((10 * DAY, "a1".into())));
    assert_eq!(third.earlier_incidents_attributed, 0, "it had a cause already");
}

#[test]
fn the_change_failure_rate_recovery_time_and_rollbacks_are_the_same_whatever_the_order_of_the_lines() {
    const H: i64 = 3_600;
    // Given deployments, incidents, resolutions and rollbacks: INC-1 is a1's first deployment's
    // (a1 is deployed again after it), INC-2 is a2's, INC-3 precedes a3's deployment
    // (unattributed), and a3's deployment is rolled back, twice
    let lines = vec![
        deployed("d1", 0, "a1"),
        detected("i3", H, "INC-3", "a3"),
        deployed("d2", 2 * H, "a2"),
        detected("i1", 3 * H, "INC-1", "a1"),
        resolved("r1", 4 * H, "INC-1"),
        deployed("d3", 5 * H, "a1"),
        detected("i2", 6 * H, "INC-2", "a2"),
        deployed("d4", 7 * H, "a3"),
        rolled_back("b4", 7 * H + 600),
        resolved("r2", 8 * H, "INC-2"),
        resolved("r3", 9 * H, "INC-3"),
        rolled_back("b4-again", 10 * H),
    ];
    let kpis = |store: &Store| {
        let q = Query { service: None, environment: "production".into(), from: T0, to: T0 + 86_400 };
        let h = store.history(None, "production", q.from, q.to, 0).unwrap();
        kpi::compute(&h, &q)
            .into_iter()
            .filter(|k| {
                matches!(
                    k.key,
                    "change_failure_rate"
                        | "rollback_rate"
                        | "rollback_execution_time"
                        | "failed_deployment_recovery_time"
                        | "post_deployment_incident_rate"
                        | "unattributed_incidents"
                )
            })
            .map(|k| (k.key, k.value))
            .collect::<Vec<_>>()
    };
    let mut in_order = Store::in_memory();
    import(&mut in_order, &lines);
    let expected = kpis(&in_order);
    let rate = expected.iter().find(|(k, _)| *k == "change_failure_rate").and_then(|(_, v)| v.clone());
    assert_eq!(rate, Some(Value::Ratio { numerator: 3, denominator: 4 }), "d1, d2 and d4 of four");
    // When the same lines are imported reversed, interleaved, or reversed across two imports
    let reversed: Vec<String> = lines.iter().rev().cloned().collect();
    let interleaved: Vec<String> = lines.iter().step_by(2).chain(lines.iter().skip(1).step_by(2)).cloned().collect();
    for (name, parts) in [
        ("reversed", vec![&reversed[..]]),
        ("interleaved", vec![&interleaved[..]]),
        ("reversed, two imports", vec![&reversed[..6], &reversed[6..]]),
    ] {
        let mut store = Store::in_memory();
        for part in parts {
            import(&mut store, part);
        }
        // Then the KPIs are those of the lines in order
        assert_eq!(kpis(&store), expected, "{name}");
    }
}

#[test]
fn a_store_of_the_previous_layout_is_migrated_and_keeps_its_links() {
    // Given a KPI store of format 2 (one row per artefact, incidents without their artefact,
    // no table of rollbacks, the latest deployment of each service without its finish), made by
    // undoing format 3 on an imported store
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.kpi.db");
    let mut store = Store::open(&path).unwrap();
    import(&mut store, &lines());
    drop(store);
    let old = rusqlite::Connection::open(&path).unwrap();
    let latest: Vec<u8> =
        old.query_row("SELECT value FROM kpi_state WHERE key = 'latest_at'", [], |r| r.get(0)).unwrap();
    let latest: Vec<u8> = latest.chunks_exact(40).flat_map(|c| c[..32].iter().copied().chain([1])).collect();
    old.execute("INSERT INTO kpi_state (key, value) VALUES ('latest', ?1)", [latest]).unwrap();
    old.execute_batch(
        "DROP INDEX kpi_incidents_artefact;
             ALTER TABLE kpi_incidents DROP COLUMN artefact;
             ALTER TABLE kpi_incidents DROP COLUMN artefact_low;
             ALTER TABLE kpi_incidents DROP COLUMN cause_finished;
             ALTER TABLE kpi_incidents DROP COLUMN cause_tie;
             CREATE TABLE old (hash INTEGER PRIMARY KEY, hash_low INTEGER NOT NULL, deployment INTEGER NOT NULL,
                 finished INTEGER NOT NULL, service INTEGER NOT NULL);
             INSERT INTO old SELECT hash, hash_low, deployment, max(finished), service FROM kpi_artefacts GROUP BY hash;
             DROP TABLE kpi_artefacts;
             ALTER TABLE old RENAME TO kpi_artefacts;
             DROP TABLE kpi_rollbacks;
             DELETE FROM kpi_state WHERE key IN ('artefacts_until', 'resolutions', 'latest_at', 'rolled_until');
             PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(old);
    // When it is opened and a new incident naming a2 and a rollback of payments are imported
    let mut store = Store::open(&path).unwrap();
    let s = import(&mut store, &[detected("i9", 5_000, "INC-9", "a2"), rolled_back("r9", 5_100)]);
    // Then the old links hold, the new incident is caused by a2's deployment on record, and the
    // rollback rolls back that deployment, the latest of payments
    assert_eq!(s.unattributed_incidents, 0);
    assert_eq!(cause_of(&store, "INC-1"), Some((3_600, "a2".into())));
    assert_eq!(cause_of(&store, "INC-9"), Some((3_600, "a2".into())));
    let h = store.history(None, "production", T0, T0 + 86_400, 0).unwrap();
    let a2 = h.deployments.iter().find(|d| d.artefact.as_deref() == Some("a2")).unwrap();
    assert_eq!(a2.rollback.and_then(|r| r.completed), Some(T0 + 4_500), "the earlier rollback stands");
    let rolled: Option<i64> = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT deployment FROM kpi_rollbacks WHERE completed = ?1", [T0 + 5_100], |r| r.get(0))
        .unwrap();
    assert_eq!(rolled, Some(a2.id as i64));
    let version: i64 =
        rusqlite::Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 3);
}

fn rolled_back(id: &str, at: i64) -> String {
    event(id, id, "service.rolledback.0.3.0", at, "payments", r#""environment":{"id":"production"}"#, "")
}

/// (finished, rollback completed) of each deployment relative to T0, in finishing order.
fn rollbacks_of(store: &Store) -> Vec<(i64, Option<i64>)> {
    let mut h = store.history(None, "production", T0 - 86_400, T0 + 400 * 86_400, 0).unwrap();
    h.deployments.sort_by_key(|d| d.finished);
    h.deployments.iter().map(|d| (d.finished - T0, d.rollback.and_then(|r| r.completed).map(|c| c - T0))).collect()
}

/// Every order of `items`.
fn orders<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    (0..items.len())
        .flat_map(|i| {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            orders(&rest).into_iter().map(move |mut o| {
                o.insert(0, first.clone());
                o
            })
        })
        .collect()
}

#[test]
fn a_rollback_rolls_back_the_latest_deployment_at_or_before_it_in_any_order() {
    // Given deployments at t0 and t2 with rollbacks at t1 and t3, hours apart (one chunk) or
    // weeks apart (chunks written in between)
    for step in [3_600, 3 * 7 * 86_400] {
        let lines = [
            deployed("d0", 0, "a0"),
            rolled_back("r1", step),
            deployed("d2", 2 * step, "a2"),
            rolled_back("r3", 3 * step),
        ];
        for order in orders(&[0, 1, 2, 3]) {
            // When the four lines are imported in this order
            let mut store = Store::in_memory();
            let s = import(&mut store, &order.iter().map(|&i| lines[i].clone()).collect::<Vec<_>>());
            // Then each rollback rolls back the deployment before it
            assert_eq!(
                rollbacks_of(&store),
                vec![(0, Some(step)), (2 * step, Some(3 * step))],
                "step {step}, {order:?}"
            );
            assert_eq!((s.rollbacks, s.skipped), (2, 0));
        }
    }
}

#[test]
fn a_rollback_imported_before_its_deployment_applies_when_a_later_import_brings_it() {
    const DAY: i64 = 86_400;
    let mut store = Store::in_memory();
    // Given an import holding a rollback of payments on day 20, never deployed until then
    import(&mut store, &[rolled_back("r20", 20 * DAY)]);
    // When a later import brings its deployments of days 1 and 10, and one of day 25
    import(
        &mut store,
        &[deployed("d1", DAY, "a1"), deployed("d10", 10 * DAY, "a10"), deployed("d25", 25 * DAY, "a25")],
    );
    // Then the rollback is the day-10 deployment's
    assert_eq!(rollbacks_of(&store), vec![(DAY, None), (10 * DAY, Some(20 * DAY)), (25 * DAY, None)]);
    // And a still later import with an earlier rollback of that deployment makes it its rollback,
    // and one with a deployment of day 15 takes the day-20 rollback over
    import(&mut store, &[rolled_back("r12", 12 * DAY)]);
    assert_eq!(rollbacks_of(&store)[1], (10 * DAY, Some(12 * DAY)));
    import(&mut store, &[deployed("d15", 15 * DAY, "a15")]);
    assert_eq!(
        rollbacks_of(&store),
        vec![(DAY, None), (10 * DAY, Some(12 * DAY)), (15 * DAY, Some(20 * DAY)), (25 * DAY, None)]
    );
}
