//! SARIF 2.1.0: a snapshot per log in the shared test data (parsed, or the error it is refused
//! with), and hand-written logs for the rating, exclusion and refusal rules.

mod common;

use std::path::PathBuf;

use serde_json::{Value, json};
use tollgate_domain::evidence::{Rating, ScanReport};
use tollgate_evidence::sarif;
use tollgate_evidence::{Location, ParseError};

fn to_json(report: &ScanReport) -> Value {
    json!({
        "tool": report.tool,
        "open": report.open.iter().map(|(r, n)| (r.key().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "excluded": report.excluded,
        "findings": report.findings.iter().map(|f| json!({
            "id": f.id,
            "rating": f.rating.key(),
            "score": f.score,
            "component": f.component,
            "location": f.location,
            "title": f.title,
        })).collect::<Vec<_>>(),
        "subjects": report.subjects.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn ok(log: &Value) -> ScanReport {
    sarif::parse(log.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(log: &Value) -> ParseError {
    match sarif::parse(log.to_string().as_bytes()) {
        Ok(report) => panic!("expected an error, got {report:?}"),
        Err(e) => e,
    }
}

fn open(report: &ScanReport, rating: Rating) -> u64 {
    report.open.get(&rating).copied().unwrap_or(0)
}

fn excluded(report: &ScanReport, reason: &str) -> u64 {
    report.excluded.get(reason).copied().unwrap_or(0)
}

/// A log with one run of `results`, its driver carrying `rules`.
fn log(rules: Value, results: Value) -> Value {
    json!({
        "version": "2.1.0",
        "runs": [{ "tool": { "driver": { "name": "Scanner", "version": "1.2.3", "rules": rules } }, "results": results }]
    })
}

fn path_of(e: &ParseError) -> &str {
    match &e.location {
        Location::Path { path, .. } => path,
        other => panic!("expected a JSON path, got {other:?} ({e})"),
    }
}

#[test]
fn tutorial_logs_match_their_snapshots() {
    let Some(dir) = common::testdata("sarif") else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("readable test data folder")
        .map(|entry| entry.expect("readable folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sarif" || e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "expected the SARIF tutorial samples, found {}", files.len());
    for path in files {
        let file_name = path.file_name().expect("a file name").to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).expect("readable log");
        let outcome = match sarif::parse(&bytes) {
            Ok(report) => json!({ "file": file_name, "report": to_json(&report) }),
            Err(e) => json!({ "file": file_name, "refused": e.to_string() }),
        };
        let name = file_name.trim_end_matches(".json").trim_end_matches(".sarif").replace(['.', '-'], "_");
        insta::assert_json_snapshot!(name, outcome);
    }
}

#[test]
fn security_severity_decides_the_rating_from_result_or_rule() {
    let report = ok(&log(
        json!([
            { "id": "R-CRIT", "properties": { "security-severity": "9.8" } },
            { "id": "R-MED", "properties": { "security-severity": 5.0 } },
            { "id": "R-BAD", "properties": { "security-severity": "high" } },
            { "id": "R-RANGE", "properties": { "security-severity": 11 } }
        ]),
        json!([
            // From the rule through ruleIndex, through ruleId, and the result's own value first.
            { "ruleId": "R-CRIT", "ruleIndex": 0, "level": "note", "message": { "text": "a" },
              "locations": [{ "physicalLocation": { "artifactLocation": { "uri": "src/a.rs" }, "region": { "startLine": 7 } } }] },
            { "ruleId": "R-MED", "message": { "text": "b" } },
            { "ruleId": "R-MED", "message": { "text": "c" }, "properties": { "security-severity": "7.5" } },
            { "ruleId": "R-MED", "message": { "text": "d" }, "properties": { "security-severity": "0" } },
            // Present but not a score from 0 to 10.
            { "ruleId": "R-BAD", "message": { "text": "e" } },
            { "ruleId": "R-RANGE", "message": { "text": "f" } },
        ]),
    ));
    assert_eq!(report.tool, "Scanner 1.2.3");
    assert_eq!(open(&report, Rating::Critical), 1);
    assert_eq!(open(&report, Rating::High), 1);
    assert_eq!(open(&report, Rating::Medium), 1);
    assert_eq!(open(&report, Rating::None), 1);
    assert_eq!(open(&report, Rating::Unknown), 2);
    let critical = &report.findings[0];
    assert_eq!((critical.id.as_str(), critical.rating, critical.score), ("R-CRIT", Rating::Critical, Some(9.8)));
    assert_eq!(critical.location.as_deref(), Some("src/a.rs:7"));
    assert_eq!(
        report.findings.iter().map(|f| f.rating).collect::<Vec<_>>(),
        [Rating::Critical, Rating::High, Rating::Unknown, Rating::Unknown]
    );
}

#[test]
fn without_security_severity_only_failing_errors_and_warnings_need_triage() {
    let rules = json!([
        { "id": "NOTE-BY-DEFAULT", "defaultConfiguration": { "level": "note" } },
        { "id": "ERROR-BY-DEFAULT", "defaultConfiguration": { "level": "error" } }
    ]);
    let report = ok(&log(
        rules,
        json!([
            { "ruleId": "X", "level": "error", "message": { "text": "error" } },
            { "ruleId": "X", "level": "warning", "kind": "fail", "message": { "text": "warning" } },
            // No level anywhere: SARIF's default is warning.
            { "ruleId": "X", "message": { "text": "default level" } },
            { "ruleId": "ERROR-BY-DEFAULT", "message": { "text": "rule default error" } },
            { "ruleId": "NOTE-BY-DEFAULT", "message": { "text": "rule default note" } },
            { "ruleId": "X", "level": "note", "message": { "text": "note" } },
            { "ruleId": "X", "level": "none", "message": { "text": "none" } },
            { "ruleId": "X", "kind": "review", "level": "error", "message": { "text": "review" } },
            { "ruleId": "X", "kind": "open", "message": { "text": "open" } },
            { "ruleId": "X", "kind": "informational", "message": { "text": "informational" } },
        ]),
    ));
    assert_eq!(open(&report, Rating::Unknown), 4);
    assert_eq!(open(&report, Rating::None), 6);
    assert_eq!(report.open.values().sum::<u64>(), 10);
}

#[test]
fn a_passing_result_is_not_a_finding_even_under_a_severe_rule() {
    let report = ok(&log(
        json!([{ "id": "SQLI", "properties": { "security-severity": "9.1" } }]),
        json!([
            { "ruleId": "SQLI", "kind": "pass", "message": { "text": "checked" } },
            { "ruleId": "SQLI", "kind": "notApplicable", "message": { "text": "n/a" } },
            { "ruleId": "SQLI", "kind": "review", "message": { "text": "look at this" } },
        ]),
    ));
    assert_eq!(open(&report, Rating::None), 2);
    assert_eq!(open(&report, Rating::Critical), 1, "a result to review keeps its rule's severity");
}

#[test]
fn suppressions_and_baseline_state_exclude_results() {
    let report = ok(&log(
        json!([{ "id": "R", "properties": { "security-severity": "8.0" } }]),
        json!([
            { "ruleId": "R", "message": { "text": "in source" }, "suppressions": [{ "kind": "inSource" }] },
            { "ruleId": "R", "message": { "text": "accepted" }, "suppressions": [{ "kind": "external", "status": "accepted" }] },
            { "ruleId": "R", "message": { "text": "under review" }, "suppressions": [{ "kind": "external", "status": "underReview" }] },
            { "ruleId": "R", "message": { "text": "rejected" }, "suppressions": [{ "kind": "external", "status": "rejected" }] },
            { "ruleId": "R", "message": { "text": "no suppression" }, "suppressions": [] },
            { "ruleId": "R", "message": { "text": "gone" }, "baselineState": "absent", "suppressions": [{ "kind": "inSource" }] },
            { "ruleId": "R", "message": { "text": "new" }, "baselineState": "new" },
            { "ruleId": "R", "message": { "text": "unchanged" }, "baselineState": "unchanged" },
        ]),
    ));
    assert_eq!(excluded(&report, "suppressed"), 2);
    assert_eq!(excluded(&report, "absent"), 1);
    assert_eq!(open(&report, Rating::High), 5);
}

#[test]
fn every_result_counts_but_one_rule_at_one_place_is_listed_once() {
    let at = |line: u64| json!([{ "physicalLocation": { "artifactLocation": { "uri": "a.c" }, "region": { "startLine": line } } }]);
    let report = ok(&log(
        json!([{ "id": "R", "properties": { "security-severity": "7.0" } }]),
        json!([
            { "ruleId": "R", "message": { "text": "one" }, "locations": at(1) },
            { "ruleId": "R", "message": { "text": "again" }, "locations": at(1) },
            { "ruleId": "R", "message": { "text": "two" }, "locations": at(2) },
        ]),
    ));
    assert_eq!(open(&report, Rating::High), 3);
    let listed: Vec<_> = report.findings.iter().map(|f| f.location.as_deref()).collect();
    assert_eq!(listed, [Some("a.c:1"), Some("a.c:2")]);
}

#[test]
fn rules_in_extensions_are_found_through_the_tool_component() {
    let log = json!({
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": { "name": "CodeQL", "semanticVersion": "2.19.0" },
                "extensions": [
                    { "name": "codeql/js-queries", "rules": [{ "id": "js/xss" }, { "id": "js/sql-injection", "properties": { "security-severity": "8.8" } }] }
                ]
            },
            "results": [
                { "ruleId": "js/sql-injection", "ruleIndex": 1, "rule": { "id": "js/sql-injection", "index": 1, "toolComponent": { "index": 0 } }, "message": { "text": "SQL built from user input" } },
                { "rule": { "id": "js/sql-injection" }, "message": { "text": "found by id alone" } }
            ]
        }]
    });
    let report = ok(&log);
    assert_eq!(report.tool, "CodeQL 2.19.0");
    assert_eq!(open(&report, Rating::High), 2);
    assert_eq!(report.findings[0].id, "js/sql-injection");
}

#[test]
fn titles_come_from_the_message_or_the_rule() {
    let report = ok(&log(
        json!([{ "id": "R", "shortDescription": { "text": "Short rule text" },
                 "messageStrings": { "default": { "text": "Variable '{0}' used before '{1}'." } } }]),
        json!([
            { "ruleId": "R", "ruleIndex": 0, "level": "error", "message": { "id": "default", "arguments": ["x", "init"] },
              "locations": [{ "physicalLocation": { "artifactLocation": { "uri": "a" }, "region": { "startLine": 1 } } }] },
            { "ruleId": "R", "ruleIndex": 0, "level": "error", "message": {},
              "locations": [{ "physicalLocation": { "artifactLocation": { "uri": "a" }, "region": { "startLine": 2 } } }] },
            { "ruleId": "R", "ruleIndex": 0, "level": "error", "message": { "text": format!("first line {}\nsecond line", "x".repeat(300)) },
              "locations": [{ "physicalLocation": { "artifactLocation": { "uri": "a" }, "region": { "startLine": 3 } } }] },
        ]),
    ));
    let titles: Vec<&str> = report.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles[0], "Variable 'x' used before 'init'.");
    assert_eq!(titles[1], "Short rule text");
    assert_eq!(titles[2].chars().count(), 200);
    assert!(titles[2].starts_with("first line xxx") && !titles[2].contains("second"));
}

#[test]
fn runs_merge_and_an_empty_runs_array_is_refused() {
    let two = json!({
        "version": "2.1.0",
        "runs": [
            { "tool": { "driver": { "name": "A" } }, "results": [{ "ruleId": "x", "level": "error", "message": { "text": "a" } }] },
            { "tool": { "driver": { "name": "B" } }, "results": [{ "ruleId": "y", "level": "error", "message": { "text": "b" } }] },
            { "tool": { "driver": { "name": "A" } }, "results": [] }
        ]
    });
    let report = ok(&two);
    assert_eq!(report.tool, "A, B");
    assert_eq!(open(&report, Rating::Unknown), 2);

    // Regression: `runs: []` was read as a clean scan, though no tool ran.
    let e = err(&json!({ "version": "2.1.0", "runs": [] }));
    assert_eq!(path_of(&e), "runs");
    assert!(e.message.contains("records no run of any tool"), "{e}");
}

#[test]
fn a_log_names_the_commit_and_the_analysis_targets_it_scanned() {
    let commit = "9F1C2E7A9F1C2E7A9F1C2E7A9F1C2E7A9F1C2E7A";
    let hex = "ab".repeat(32);
    let named = json!({ "version": "2.1.0", "runs": [{
        "tool": { "driver": { "name": "CodeQL", "semanticVersion": "2.19.0" } },
        "versionControlProvenance": [{ "repositoryUri": "https://github.com/acme/payments", "revisionId": commit, "branch": "refs/tags/v2.4.0" }],
        "artifacts": [
            { "location": { "uri": "app.jar" }, "roles": ["analysisTarget"], "hashes": { "sha-256": hex } },
            { "location": { "uri": "README.md" }, "roles": ["referencedOnCommandLine"], "hashes": { "sha-256": "cd".repeat(32) } },
            { "location": { "uri": "src/Main.java" } }
        ],
        "results": []
    }] });
    let report = ok(&named);
    let subjects: Vec<String> = report.subjects.iter().map(ToString::to_string).collect();
    assert_eq!(
        subjects,
        [
            format!("commit {} of https://github.com/acme/payments", commit.to_ascii_lowercase()),
            format!("sha256:{hex}")
        ]
    );

    // Without either, the log parses (it is well formed) but names nothing: the domain refuses
    // to take it as evidence about any artefact.
    assert!(ok(&log(json!([]), json!([]))).subjects.is_empty());

    let mut short = named.clone();
    short["runs"][0]["versionControlProvenance"][0]["revisionId"] = json!("9f1c2e7");
    let e = err(&short);
    assert_eq!(path_of(&e), "runs[0].versionControlProvenance[0].revisionId");
    assert!(e.message.contains("expected a full commit id"), "{e}");
    let mut bad_hash = named;
    bad_hash["runs"][0]["artifacts"][0]["hashes"]["sha-256"] = json!("abc");
    assert_eq!(path_of(&err(&bad_hash)), "runs[0].artifacts[0].hashes.sha-256");
}

#[test]
fn incomplete_or_foreign_logs_are_refused() {
    let e = err(&json!({ "version": "2.0.0", "runs": [] }));
    assert_eq!(e.to_string(), "at `version`: expected SARIF version \"2.1.0\", found \"2.0.0\"");

    let e = err(&json!({ "version": "2.1.0", "runs": null }));
    assert_eq!(path_of(&e), "runs");
    assert!(e.message.contains("failed before it could analyse"), "{e}");

    let e = err(&json!({ "version": "2.1.0", "runs": [{ "tool": { "driver": { "name": "A" } } }] }));
    assert_eq!(path_of(&e), "runs[0]");
    assert!(e.message.contains("expected `results`"), "{e}");

    let failed = json!({ "version": "2.1.0", "runs": [{
        "tool": { "driver": { "name": "A" } },
        "invocations": [{ "executionSuccessful": false, "toolExecutionNotifications": [{ "level": "error", "message": { "text": "Out of memory." } }] }],
        "results": []
    }] });
    let e = err(&failed);
    assert_eq!(path_of(&e), "runs[0].invocations[0].executionSuccessful");
    assert!(e.message.contains("Out of memory."), "{e}");

    let external = json!({ "version": "2.1.0", "runs": [{
        "tool": { "driver": { "name": "A" } }, "externalPropertyFileReferences": { "results": [{ "location": { "uri": "r.json" } }] }, "results": []
    }] });
    assert_eq!(path_of(&err(&external)), "runs[0].externalPropertyFileReferences");

    assert!(matches!(sarif::parse(b"[]").unwrap_err().location, Location::Document));
    let e = sarif::parse(b"{\"version\": \"2.1.0\", \"version\": \"2.1.0\"}").unwrap_err();
    assert!(e.message.contains("duplicate key `version`"), "{e}");
}

#[test]
fn contradictions_and_unknown_values_name_their_path() {
    let rules = json!([{ "id": "R1" }]);
    let e = err(&log(rules.clone(), json!([{ "ruleId": "R2", "ruleIndex": 0, "message": { "text": "x" } }])));
    assert_eq!(path_of(&e), "runs[0].results[0].ruleId");
    assert!(e.message.contains("\"R2\"") && e.message.contains("\"R1\""), "{e}");

    // A hierarchical rule id belongs to its parent rule.
    assert!(
        sarif::parse(
            log(rules.clone(), json!([{ "ruleId": "R1/sub", "ruleIndex": 0, "message": {} }])).to_string().as_bytes()
        )
        .is_ok()
    );

    let e = err(&log(rules.clone(), json!([{ "ruleId": "R1", "ruleIndex": 3, "message": { "text": "x" } }])));
    assert_eq!(path_of(&e), "runs[0].results[0].ruleIndex");
    assert!(e.message.contains("refers to rule 3"), "{e}");

    let e = err(&log(rules.clone(), json!([{ "ruleId": "R1", "level": "fatal", "message": { "text": "x" } }])));
    assert_eq!(
        e.to_string(),
        "at `runs[0].results[0].level`: expected one of none, note, warning, error, found \"fatal\""
    );

    let e = err(&log(rules.clone(), json!([{ "ruleId": "R1", "kind": "bad", "message": { "text": "x" } }])));
    assert_eq!(path_of(&e), "runs[0].results[0].kind");

    let e = err(&log(
        rules,
        json!([{ "ruleId": "R1", "suppressions": [{ "status": "maybe" }], "message": { "text": "x" } }]),
    ));
    assert_eq!(path_of(&e), "runs[0].results[0].suppressions[0].status");

    let e = err(&log(
        json!([{ "id": "R", "defaultConfiguration": { "level": "loud" } }]),
        json!([{ "ruleId": "R", "message": {} }]),
    ));
    assert_eq!(path_of(&e), "runs[0].tool.driver.rules[0].defaultConfiguration.level");
}

#[test]
fn the_listing_is_capped_but_the_counts_stay_exact() {
    let results: Vec<Value> = (0..ScanReport::MAX_LISTED + 5)
        .map(|i| json!({ "ruleId": format!("R{i}"), "level": "error", "message": { "text": "x" } }))
        .collect();
    let report = ok(&log(json!([]), Value::Array(results)));
    assert_eq!(open(&report, Rating::Unknown), ScanReport::MAX_LISTED as u64 + 5);
    assert_eq!(report.findings.len(), ScanReport::MAX_LISTED);
}
