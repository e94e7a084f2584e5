//! `tollgate report`: a store built through the command line (people, an imported CDEvents
//! history, an emergency release, a non-conformance), the weekly report written as HTML and
//! Markdown, and the HTML rendered in headless Chromium as a reviewer would open it.
//!
//! Chromium is required where the shared test data is (CI: `TOLLGATE_TESTDATA` set, and `.ci/run`
//! installs it); elsewhere its absence skips the rendering with a message. Set
//! `TOLLGATE_REPORT_KEEP=DIR` to keep the rendered page and its screenshot for a look.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const DAY: i64 = 86_400;

fn line(id: &str, chain: &str, kind: &str, at: i64, subject: &str, content: &str, custom: &str) -> String {
    let at = chrono::DateTime::from_timestamp(at, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!(
        r#"{{"context":{{"specversion":"0.5.0","id":"{id}","chainId":"{chain}","source":"/ci","type":"dev.cdevents.{kind}","timestamp":"{at}"}},"subject":{{"id":"{subject}","source":"/ci","content":{{{content}}}}}{custom}}}"#
    )
}

fn deployed(id: &str, chain: &str, at: i64, service: &str, artefact: &str, custom: &str) -> String {
    let content = format!(r#""environment":{{"id":"production"}},"artifactId":"{artefact}""#);
    line(id, chain, "service.deployed.0.3.0", at, service, &content, custom)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A store with five weeks of weekly payments deployments and, in the last week: a deployment
/// that a P1 incident and a rollback follow, its emergency fix, a search deployment, a failed
/// pipeline, an incident naming no deployment, an emergency release of Tollgate's own (its title
/// full of markup) and a deployment after adoption without an approved release (an NC).
fn store() -> (Tg, i64) {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    // After adoption by at least a second: the last deployment below is held to the procedure.
    std::thread::sleep(Duration::from_millis(1_100));
    let now = unix_now();
    let week = now - 6 * DAY;
    let mut events = Vec::new();
    for w in 1..=5 {
        let at = now - w * 7 * DAY - DAY;
        events.push(line(&format!("q{w}"), &format!("p{w}"), "pipelinerun.started.0.2.0", at - 900, "run", "", ""));
        events.push(deployed(&format!("w{w}"), &format!("p{w}"), at, "payments", &format!("old-{w}"), ""));
    }
    events.extend([
        line("c1", "k0", "change.merged.0.3.0", week - 7_200, "c1", "", ""),
        line("pk", "k1", "artifact.packaged.0.3.0", week - 3_600, "a2", r#""change":{"id":"c1"}"#, ""),
        line("s1", "k1", "pipelinerun.started.0.2.0", week - 1_200, "run", "", ""),
        deployed("d1", "k1", week, "payments", "a2", ""),
        line(
            "i1",
            "i1",
            "incident.detected.0.3.0",
            week + 1_800,
            "INC-7",
            r#""artifactId":"a2","environment":{"id":"production"}"#,
            r#","customData":{"severity":"P1"}"#,
        ),
        line("r0", "k2", "pipelinerun.started.0.2.0", week + 2_100, "rb", "", ""),
        line(
            "r1",
            "k2",
            "service.rolledback.0.3.0",
            week + 3_400,
            "payments",
            r#""environment":{"id":"production"},"artifactId":"a1""#,
            "",
        ),
        deployed("d2", "k3", week + 7_200, "payments", "a3", r#","customData":{"emergency":true,"incident":"INC-7"}"#),
        line("i2", "i1", "incident.resolved.0.3.0", week + 10_800, "INC-7", "", ""),
        deployed("d3", "k4", now - 3 * DAY, "search", "s2", ""),
        line("f0", "k5", "pipelinerun.started.0.2.0", now - 2 * DAY - 600, "run", "", ""),
        line(
            "f1",
            "k5",
            "pipelinerun.finished.0.2.0",
            now - 2 * DAY,
            "run",
            r#""outcome":"failure""#,
            r#","customData":{"service":"search","environment":"production"}"#,
        ),
        line(
            "u1",
            "u1",
            "incident.detected.0.3.0",
            now - DAY,
            "INC-8",
            r#""environment":{"id":"production"}"#,
            r#","customData":{"severity":"P2"}"#,
        ),
        deployed("d4", "k6", now, "payments", "pkg:oci/payments@sha256%3Aunapproved", ""),
    ]);
    let file = tg.path("events.jsonl");
    std::fs::write(&file, events.join("\n") + "\n").unwrap();
    let out = tg.ok("rita", &["import", "--cdevents", file.to_str().unwrap()]);
    assert!(out.contains("1 production deployments without an approved release record raised"), "{out}");
    tg.ok(
        "omar",
        &[
            "emergency",
            "create",
            "--service",
            "payments",
            "--version",
            "2.4.1",
            "--title",
            r#"Refunds <b>outage</b> fix & "retry""#,
            "--incident",
            "INC-7",
        ],
    );
    // Periods end at a whole second, exclusive: a report ending "now" must come a second after
    // the facts just recorded to include them.
    std::thread::sleep(Duration::from_millis(1_000));
    (tg, now)
}

#[test]
fn the_weekly_report_in_html_and_markdown_renders_in_chromium() {
    let (tg, now) = store();
    let to = rfc3339(now + 5);
    let html_path = tg.path("r.html");
    let summary = tg.ok("rita", &["report", "weekly", "--to", &to, "--out", html_path.to_str().unwrap()]);
    assert!(summary.contains("wrote the weekly report (HTML)"), "{summary}");
    let html = std::fs::read_to_string(&html_path).unwrap();

    // 1. Title, period, profile, generation time and the cadence's text from the profile.
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<h1>Weekly metrics review: all services</h1>"));
    assert!(html.contains("qms-dev-pro-004"), "profile id");
    assert!(html.contains("Deployment frequency; success rate; MTTD; any rollback or emergency release events"));
    assert!(html.contains("Generated</dt>"));
    // 2. Every KPI the profile names in the table (QMS-DEV-PRO-004's fourteen), the change
    // failure rate missed (1 of 4 successful deployments).
    assert_eq!(html.matches("<tr id=\"kpi-").count(), 14, "14 KPI rows");
    for name in ["Deployment frequency", "Change failure rate", "Lead time for changes", "Rollback rate"] {
        assert!(html.contains(&format!("<b>{name}</b>")), "{name}");
    }
    let cfr = row(&html, "kpi-change_failure_rate");
    assert!(cfr.contains("class=\"missed\"") && cfr.contains("25.0% (1 of 4)"), "{cfr}");
    assert!(cfr.contains("badge missed"), "{cfr}");
    // 3. Five trend charts, inline.
    assert_eq!(html.matches("<svg").count(), 5);
    assert!(html.contains("<figure id=\"trend-change_failure_rate\"><svg"));
    // 4. The breach of the change failure rate, with its service and deployment.
    let breaches = section(&html, "breaches");
    assert!(breaches.contains("Change failure rate"), "{breaches}");
    assert!(breaches.contains("payments") && breaches.contains("<td>#"), "{breaches}");
    // 5. Emergency releases (own and imported), the rollback, the open non-conformance.
    let emergencies = section(&html, "emergencies");
    assert!(emergencies.contains("Refunds &lt;b&gt;outage&lt;/b&gt; fix &amp; &quot;retry&quot;"), "{emergencies}");
    assert!(!html.contains("<b>outage</b>"), "record text is escaped");
    assert!(emergencies.contains("Imported emergency deployments") && emergencies.contains("INC-7"));
    assert!(section(&html, "rollbacks").contains("payments"));
    let ncs = section(&html, "nonconformances");
    assert!(ncs.contains("NC-1") && ncs.contains("deployment-without-approved-release"), "{ncs}");
    // Self-contained: nothing to fetch.
    for attr in ["src=", "href=", "<link", "<script", "url(", "@import"] {
        assert!(!html.contains(attr), "{attr} in the report");
    }

    // The same numbers as `tollgate metrics` for the same period.
    let v = tg.json("rita", &["report", "weekly", "--to", &to, "--out", tg.path("r2.html").to_str().unwrap()]);
    let mut metrics = tg.json("rita", &["metrics", "--from", v["from"].as_str().unwrap(), "--to", &to]);
    metrics.as_object_mut().unwrap().remove("query");
    assert_eq!(v["kpis"], metrics);
    assert_eq!(
        v["missed"],
        serde_json::json!([
            "deployment_success_rate",
            "change_failure_rate",
            "rollback_rate",
            "rollback_execution_time",
            "post_deployment_incident_rate",
            "stabilisation_breach_rate"
        ])
    );
    assert_eq!((v["rollbacks"].as_u64(), v["open_nonconformances"].as_u64()), (Some(1), Some(1)));
    // And every point of every trend is what `tollgate metrics` says of that week.
    let trends = v["trends"].as_array().unwrap();
    assert_eq!(trends.len(), 5);
    let mut points = 0;
    for p in 0..12 {
        let period = &trends[0]["periods"][p];
        let m = tg.json(
            "rita",
            &["metrics", "--from", period["from"].as_str().unwrap(), "--to", period["to"].as_str().unwrap()],
        );
        for t in trends {
            let value = &m[t["key"].as_str().unwrap()]["value"];
            let expected = ["per_week", "percent", "median_seconds"].iter().find_map(|f| value[f].as_f64());
            let point = &t["periods"][p];
            assert_eq!(point["value"].as_f64(), expected, "{} in week {p}: {value}", t["key"]);
            points += usize::from(expected.is_some());
        }
    }
    assert!(points >= 12, "the trends have data: {points} points");

    // Markdown, ending now by default.
    let md_path = tg.path("r.md");
    tg.ok("rita", &["report", "weekly", "--format", "md", "--out", md_path.to_str().unwrap()]);
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.starts_with("# Weekly metrics review: all services\n"));
    // The profile does not name the unattributed incidents: their count is a note on the CFR.
    assert!(
        md.contains("| **Change failure rate** | 25.0% (1 of 4)<br>1 P1/P2 incidents in the window name no deployment"),
        "{md}"
    );
    assert!(md.contains("## Trends over the last 12 periods"));
    let trend_rows = md.lines().filter(|l| l.starts_with("| 20") && l.contains(" – ")).count();
    assert_eq!(trend_rows, 12, "one trend row per week");
    assert!(md.contains("### Change failure rate — "));
    assert!(
        md.contains(r#"Refunds \<b\>outage\<\/b\> fix \& "retry""#)
            || md.contains(r#"Refunds \<b\>outage\</b\> fix \& "retry""#),
        "{md}"
    );
    assert!(md.contains("| NC-1 | deployment-without-approved-release |"));
    assert!(!md.contains("<svg") && !md.contains("http"));

    render_in_chromium(&tg, &html_path);
}

#[test]
fn quarterly_and_monthly_reports_of_one_service_and_their_errors() {
    let (tg, now) = store();
    let out = tg.path("q.md");
    let to = rfc3339(now + 5);
    let v = tg.json(
        "rita",
        &["report", "quarterly", "--service", "search", "--to", &to, "--format", "md", "--out", out.to_str().unwrap()],
    );
    assert_eq!(v["service"], "search");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.starts_with("# Quarterly engineering review: search\n"));
    assert_eq!(md.lines().filter(|l| l.starts_with("| 20") && l.contains(" – ")).count(), 8, "eight quarters of trend");
    assert!(md.contains("## Risk register (5.1)") && md.contains("## Blackout calendar"));
    // Only search's facts: its one successful deployment, and none of payments' rollbacks.
    assert_eq!(v["kpis"]["deployment_frequency"]["value"]["deployments"], 1);
    assert_eq!(v["rollbacks"], 0);
    assert!(!md.contains("INC-7"), "payments' emergency is not search's");

    let monthly = tg.ok("rita", &["report", "monthly", "--to", &to, "--out", "-"]);
    assert!(monthly.contains("<h1>Monthly KPI review: all services</h1>"));
    assert_eq!(monthly.matches("<svg").count(), 5);

    let bad = tg.run("rita", &["report", "weekly", "--to", "yesterday-ish", "--out", "x.html"]);
    check(&bad, 1, &["report with a bad --to"]);
    let nowhere = tg.run("rita", &["report", "weekly", "--out", tg.path("missing/dir/r.html").to_str().unwrap()]);
    check(&nowhere, 1, &["report into a missing directory"]);
    let usage = tg.run("rita", &["report", "yearly", "--out", "x.html"]);
    check(&usage, 2, &["report yearly"]);
}

/// The `<tr id="ID" ...>...</tr>` of a table row.
fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<tr id=\"{id}\"")).unwrap_or_else(|| panic!("no row {id}"));
    let end = start + html[start..].find("</tr>").unwrap();
    &html[start..end]
}

/// From the `<h2 id="ID">` to the next `<h2`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<h2 id=\"{id}\"")).unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start + 4..].find("<h2").map_or(html.len(), |e| start + 4 + e);
    &html[start..end]
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Runs Chromium headless on the page, giving up after a minute rather than hanging the suite.
fn headless(browser: &Path, profile: &Path, args: &[String]) -> Vec<u8> {
    let mut child = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        out
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {args:?}: {status}");
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chromium {args:?} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

fn render_in_chromium(tg: &Tg, html: &Path) {
    let Some(browser) = chromium() else {
        if std::env::var_os("TOLLGATE_TESTDATA").is_some() {
            panic!("chromium is not installed; CI installs it (apt-get install chromium) to render the report");
        }
        eprintln!("SKIPPED rendering the report: chromium is not installed (apt-get install chromium)");
        return;
    };
    let url = format!("file://{}", html.display());
    let profile = tg.path("chromium-profile");

    // The DOM after rendering: the KPI table's rows and the charts' drawn lines and points.
    let dom = String::from_utf8(headless(&browser, &profile, &["--dump-dom".into(), url.clone()])).unwrap();
    assert_eq!(dom.matches("<tr id=\"kpi-").count(), 14, "KPI rows in the rendered DOM (the profile names 14)");
    assert_eq!(dom.matches("<svg").count(), 5, "charts in the rendered DOM");
    assert!(dom.matches("<polyline").count() > 50, "axes and grid drawn");
    assert!(dom.matches("stroke=\"#0969DA\"").count() >= 3, "trend lines drawn");
    assert!(dom.matches("<circle").count() >= 10, "trend points drawn");

    let shot = tg.path("report.png");
    headless(&browser, &profile, &[format!("--screenshot={}", shot.display()), "--window-size=1280,2400".into(), url]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 2400));
    // A blank 1280×2400 page compresses to a few kilobytes; text, tables and charts do not.
    assert!(png.len() > 60_000, "the screenshot looks blank: {} bytes", png.len());

    if let Some(keep) = std::env::var_os("TOLLGATE_REPORT_KEEP") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(html, keep.join("report.html")).unwrap();
        std::fs::copy(&shot, keep.join("report.png")).unwrap();
    }
}
