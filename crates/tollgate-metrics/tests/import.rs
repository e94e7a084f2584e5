//! The CDEvents mapping of docs/metrics.md, line by line, on hand-written events.

use tollgate_metrics::history::Severity;
use tollgate_metrics::import::Importer;
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
    assert_eq!((s.rollbacks, s.skipped), (1, 1));
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
    let deployed = |id: &str, at: i64, artefact: &str| {
        event(
            id,
            id,
            "service.deployed.0.3.0",
            at,
            "payments",
            &format!(r#""environment":{{"id":"production"}},"artifactId":"{artefact}""#),
            "",
        )
    };
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
