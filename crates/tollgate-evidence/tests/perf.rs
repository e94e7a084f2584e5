//! Performance results in both forms documented in docs/evidence-formats.md, and every error.

use tollgate_domain::evidence::{PerfMetric, PerfReport};
use tollgate_evidence::{Location, ParseError, perf};

fn ok(doc: &str) -> PerfReport {
    perf::parse(doc.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(doc: &str) -> ParseError {
    match perf::parse(doc.as_bytes()) {
        Ok(r) => panic!("expected an error, parsed {r:?}"),
        Err(e) => e,
    }
}

fn metric(name: &str, unit: Option<&str>, baseline: f64, value: f64, higher_is_better: bool, slo: bool) -> PerfMetric {
    PerfMetric { name: name.into(), unit: unit.map(Into::into), baseline, value, higher_is_better, slo }
}

fn expected() -> Vec<PerfMetric> {
    vec![
        metric("checkout_p95_ms", Some("ms"), 180.0, 195.0, false, true),
        metric("orders_per_second", Some("req/s"), 1200.0, 1250.5, true, true),
        metric("error_rate", None, 0.0, 0.001, false, false),
    ]
}

/// The JSON example of docs/evidence-formats.md.
const JSON: &str = r#"{
  "metrics": [
    {"name": "checkout_p95_ms", "unit": "ms", "baseline": 180, "value": 195, "better": "lower", "slo": true},
    {"name": "orders_per_second", "unit": "req/s", "baseline": 1200, "value": 1250.5, "better": "higher"},
    {"name": "error_rate", "baseline": 0, "value": 0.001, "slo": false}
  ]
}"#;

/// The CSV example of docs/evidence-formats.md.
const CSV: &str = "metric,unit,baseline,value,better,slo
checkout_p95_ms,ms,180,195,lower,true
orders_per_second,req/s,1200,1250.5,higher,
error_rate,,0,0.001,,false
";

#[test]
fn both_forms_read_the_same_metrics() {
    assert_eq!(ok(JSON).metrics, expected());
    assert_eq!(ok(CSV).metrics, expected());
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/evidence-formats.md")).unwrap();
    assert!(docs.contains(JSON), "the JSON example in docs/evidence-formats.md differs from this test's");
    assert!(docs.contains(CSV), "the CSV example in docs/evidence-formats.md differs from this test's");
}

#[test]
fn csv_columns_are_optional_and_in_any_order() {
    let r = ok("value,metric,baseline\n195,checkout_p95_ms,180\n");
    assert_eq!(r.metrics, [metric("checkout_p95_ms", None, 180.0, 195.0, false, true)]);
    // CRLF, a byte order mark, blank lines, spaces around fields, quoted fields, negative numbers.
    let r =
        ok("\u{feff}metric , unit,baseline,value,better\r\n\r\n\"latency, p99\",\"m\"\"s\", -1.5e2 , 2,higher\r\n\n");
    assert_eq!(r.metrics, [metric("latency, p99", Some("m\"s"), -150.0, 2.0, true, true)]);
}

#[test]
fn json_defaults_and_negative_values() {
    let r = ok(r#"{"metrics": [{"name": "balance_delta", "baseline": -10, "value": -12.5}]}"#);
    assert_eq!(r.metrics, [metric("balance_delta", None, -10.0, -12.5, false, true)]);
    let r = ok(r#"{"metrics": [{"name": "x", "unit": null, "baseline": 1, "value": 1, "better": null, "slo": null}]}"#);
    assert_eq!(r.metrics, [metric("x", None, 1.0, 1.0, false, true)]);
}

fn at_path(e: &ParseError) -> &str {
    match &e.location {
        Location::Path { path, .. } => path,
        other => panic!("expected a JSON path, found {other:?}: {e}"),
    }
}

#[test]
fn json_errors_name_the_path() {
    let cases: [(&str, &str, &str); 15] = [
        (r#"{"metrics": []}"#, "metrics", "expected at least one metric, found none"),
        (r#"{}"#, "$", "expected the member `metrics`"),
        (r#"{"metrics": [], "version": 1}"#, "version", "unknown member; expected one of metrics"),
        (r#"[]"#, "$", "expected an object, found an array"),
        (r#"{"metrics": {}}"#, "metrics", "expected an array, found an object"),
        (r#"{"metrics": [{"name": "a", "baseline": 1}]}"#, "metrics[0]", "expected the member `value`"),
        (
            r#"{"metrics": [{"name": "a", "baseline": 1, "value": 2, "target": 3}]}"#,
            "metrics[0].target",
            "unknown member; expected one of name, unit, baseline, value, better, slo",
        ),
        (
            r#"{"metrics": [{"name": "a", "baseline": "1", "value": 2}]}"#,
            "metrics[0].baseline",
            "expected a number, found a string",
        ),
        (
            r#"{"metrics": [{"name": "", "baseline": 1, "value": 2}]}"#,
            "metrics[0].name",
            "expected a metric name, found an empty one",
        ),
        (
            r#"{"metrics": [{"name": 5, "baseline": 1, "value": 2}]}"#,
            "metrics[0].name",
            "expected a string, found a number",
        ),
        (
            r#"{"metrics": [{"name": "a\nb", "baseline": 1, "value": 2}]}"#,
            "metrics[0].name",
            "the metric name \"a\\nb\" contains a control character",
        ),
        (
            r#"{"metrics": [{"name": "a", "baseline": 1, "value": 2, "better": "faster"}]}"#,
            "metrics[0].better",
            "expected \"lower\" or \"higher\", found \"faster\"",
        ),
        (
            r#"{"metrics": [{"name": "a", "baseline": 1, "value": 2, "slo": "yes"}]}"#,
            "metrics[0].slo",
            "expected true or false, found \"yes\"",
        ),
        (
            r#"{"metrics": [{"name": "a", "unit": 3, "baseline": 1, "value": 2}]}"#,
            "metrics[0].unit",
            "expected a string, found a number",
        ),
        (
            r#"{"metrics": [{"name": "a", "baseline": 1, "value": 2}, {"name": "a", "baseline": 1, "value": 2}]}"#,
            "metrics[1].name",
            "the metric `a` is given twice (first at `metrics[0]`); expected unique names",
        ),
    ];
    for (doc, path, message) in cases {
        let e = err(doc);
        assert_eq!((at_path(&e), e.message.as_str()), (path, message), "{doc}");
    }
}

#[test]
fn json_numbers_must_be_finite() {
    // JSON has no infinity; a literal too large for f64 is refused by the reader with its line.
    let e = err(r#"{"metrics": [{"name": "a", "baseline": 1e999, "value": 2}]}"#);
    assert!(matches!(e.location, Location::LineColumn { line: 1, .. }), "{e:?}");
    assert!(e.message.contains("number out of range"), "{e}");
    // Duplicate keys are refused like in every evidence file.
    let e = err(r#"{"metrics": [{"name": "a", "name": "b", "baseline": 1, "value": 2}]}"#);
    assert!(e.message.contains("duplicate key `name`"), "{e}");
}

#[test]
fn json_bounds() {
    let one = r#"{"name": "m", "baseline": 1, "value": 1}"#;
    let many: Vec<String> = (0..=perf::MAX_METRICS).map(|i| one.replace("\"m\"", &format!("\"m{i}\""))).collect();
    let e = err(&format!(r#"{{"metrics": [{}]}}"#, many.join(",")));
    assert_eq!(e.to_string(), "at `metrics`: more than 10000 metrics; at most 10000 are read");
    let long = "x".repeat(perf::MAX_NAME_CHARS + 1);
    let e = err(&format!(r#"{{"metrics": [{{"name": "{long}", "baseline": 1, "value": 1}}]}}"#));
    assert_eq!(e.message, "the metric name is longer than 200 characters");
}

fn at_line(e: &ParseError) -> (u64, u64) {
    match e.location {
        Location::LineColumn { line, column } => (line, column),
        ref other => panic!("expected a line and column, found {other:?}: {e}"),
    }
}

#[test]
fn csv_errors_name_line_and_column() {
    let cases: [(&str, (u64, u64), &str); 17] = [
        ("metric,baseline,value\n", (0, 0), "expected at least one metric after the CSV header, found none"),
        (
            "metric,baseline\na,1\n",
            (1, 1),
            "the header has no `value` column; expected metric,unit,baseline,value,better,slo",
        ),
        (
            "metric,baseline,value,owner\n",
            (1, 23),
            "unknown column \"owner\"; expected columns from metric,unit,baseline,value,better,slo",
        ),
        ("metric,value,baseline,value\n", (1, 23), "the column \"value\" is given twice"),
        ("metric,baseline,value\na,1\n", (2, 1), "expected 3 fields as in the header, found 2"),
        ("metric,baseline,value\na,1,2,3\n", (2, 1), "expected 3 fields as in the header, found 4"),
        ("metric,baseline,value\na,1,fast\n", (2, 5), "expected a number, found \"fast\""),
        ("metric,baseline,value\na,,2\n", (2, 3), "expected a number, found an empty field"),
        ("metric,baseline,value\na,1,inf\n", (2, 5), "expected a finite number, found \"inf\""),
        ("metric,baseline,value\na,NaN,1\n", (2, 3), "expected a finite number, found \"NaN\""),
        ("metric,baseline,value\n ,1,2\n", (2, 2), "expected a metric name, found an empty one"),
        ("metric,baseline,value,better\na,1,2,up\n", (2, 7), "expected \"lower\" or \"higher\", found \"up\""),
        ("metric,baseline,value,slo\na,1,2,yes\n", (2, 7), "expected true or false, found \"yes\""),
        ("metric,baseline,value\n\"a,1,2\n", (2, 1), "the quoted field is not closed on this line"),
        ("metric,baseline,value\n\"a\"x,1,2\n", (2, 4), "expected a comma after the closing quote"),
        ("metric,baseline,value\na\"b,1,2\n", (2, 2), "a quote may only open a field; quote the whole field"),
        (
            "metric,baseline,value\na,1,2\n\nb,1,2\na,3,4\n",
            (5, 1),
            "the metric `a` is given twice (first on line 2); expected unique names",
        ),
    ];
    for (doc, place, message) in cases {
        let e = err(doc);
        if place == (0, 0) {
            assert_eq!((&e.location, e.message.as_str()), (&Location::Document, message), "{doc:?}");
        } else {
            assert_eq!((at_line(&e), e.message.as_str()), (place, message), "{doc:?}");
        }
    }
}

#[test]
fn csv_document_errors() {
    assert_eq!(err("").to_string(), err("  \n\n").to_string());
    assert!(err("").message.starts_with("the document is empty"));
    let e = perf::parse(b"metric,baseline,value\nab\xff,1,2\n").unwrap_err();
    assert_eq!(e.to_string(), "line 2, column 3: the CSV is not UTF-8");
    let mut csv = String::from("metric,baseline,value\n");
    for i in 0..=perf::MAX_METRICS {
        csv.push_str(&format!("m{i},1,1\n"));
    }
    let e = err(&csv);
    assert_eq!(e.to_string(), "line 10002, column 1: more than 10000 metrics; at most 10000 are read");
}
