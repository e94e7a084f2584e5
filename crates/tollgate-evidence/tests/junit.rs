//! JUnit XML: a snapshot per real report in the shared test data, and hand-written edge cases
//! (malformed XML, bounds, Surefire reruns, the failed-list cap, streaming in small chunks).

mod common;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tollgate_domain::evidence::{TestCounts, TestReport};
use tollgate_evidence::junit::{self, MAX_DEPTH, MAX_SUITE_DEPTH, MAX_SUITES, MAX_TAG_BYTES};
use tollgate_evidence::{Location, ParseError};

fn counts(c: &TestCounts) -> Value {
    json!({ "tests": c.tests, "failures": c.failures, "errors": c.errors, "skipped": c.skipped, "passed": c.passed() })
}

fn to_json(report: &TestReport) -> Value {
    json!({
        "totals": counts(&report.totals),
        "suites": report.suites.iter().map(|s| json!({ "name": s.name, "counts": counts(&s.counts) })).collect::<Vec<_>>(),
        "failed": report
            .failed
            .iter()
            .map(|f| json!({ "suite": f.suite, "name": f.name, "error": f.error, "message": f.message }))
            .collect::<Vec<_>>(),
    })
}

fn parse(xml: &str) -> Result<TestReport, ParseError> {
    junit::parse(xml.as_bytes())
}

fn ok(xml: &str) -> TestReport {
    parse(xml).unwrap_or_else(|e| panic!("{e}"))
}

fn err(xml: &str) -> ParseError {
    match parse(xml) {
        Ok(report) => panic!("expected an error, got {:?}", report),
        Err(e) => e,
    }
}

fn at(line: u64, column: u64) -> Location {
    Location::LineColumn { line, column }
}

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable test data folder") {
            let path = entry.expect("readable folder entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "xml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn real_reports_match_their_snapshots() {
    let Some(dir) = common::testdata("junit") else { return };
    let files = xml_files(&dir);
    assert!(files.len() >= 30, "expected the shared JUnit reports, found {}", files.len());
    for path in files {
        let relative = path.strip_prefix(&dir).expect("under the data folder").to_string_lossy().into_owned();
        let name = relative.trim_end_matches(".xml").replace(['/', '\\', '.'], "_");
        let file = File::open(&path).expect("readable report");
        let report = junit::parse(BufReader::new(file)).unwrap_or_else(|e| panic!("{relative}: {e}"));
        insta::assert_json_snapshot!(name, to_json(&report));
    }
}

#[test]
fn counts_come_from_test_cases_not_suite_attributes() {
    let report = ok(r#"<testsuite name="s" tests="99" failures="0">
        <testcase name="a"/>
        <testcase name="b"><failure message="boom"/></testcase>
        <testcase name="c"><error/></testcase>
        <testcase name="d"><skipped/></testcase>
    </testsuite>"#);
    assert_eq!(report.totals, TestCounts { tests: 4, failures: 1, errors: 1, skipped: 1 });
    assert_eq!(report.suites.len(), 1);
    assert_eq!(report.suites[0].counts, report.totals);
}

#[test]
fn nested_suites_are_named_by_path_in_order_of_their_first_test() {
    let report = ok(r#"<testsuites name="run">
        <testsuite name="outer">
            <testsuite name="inner"><testcase name="a"/></testsuite>
            <testcase name="b"/>
            <testsuite><testcase name="c"/></testsuite>
        </testsuite>
        <testcase name="loose"/>
    </testsuites>"#);
    let names: Vec<_> = report.suites.iter().map(|s| (s.name.as_str(), s.counts.tests)).collect();
    // The unnamed suite adds nothing to the path; a test case directly in <testsuites> has no suite.
    assert_eq!(names, [("outer > inner", 1), ("outer", 1), ("outer", 1), ("", 1)]);
    assert_eq!(report.totals.tests, 4);
}

#[test]
fn surefire_flaky_tests_pass_and_rerun_failures_fail() {
    let report = ok(r#"<testsuite name="S">
        <testcase classname="C" name="flaky"><flakyFailure message="first run"/><flakyError/></testcase>
        <testcase classname="C" name="failedAllRuns">
            <failure message="run 1"/><rerunFailure message="run 2"/><rerunFailure message="run 3"/>
        </testcase>
        <testcase classname="C" name="rerunOnly"><rerunError message="rerun says error"/></testcase>
        <testcase classname="C" name="rerunThenFailure"><rerunFailure message="rerun"/><error message="the error"/></testcase>
    </testsuite>"#);
    assert_eq!(report.totals, TestCounts { tests: 4, failures: 1, errors: 2, skipped: 0 });
    let failed: Vec<_> = report.failed.iter().map(|f| (f.name.as_str(), f.error, f.message.as_str())).collect();
    assert_eq!(
        failed,
        [
            ("C.failedAllRuns", false, "run 1"),
            ("C.rerunOnly", true, "rerun says error"),
            ("C.rerunThenFailure", true, "the error")
        ]
    );
}

#[test]
fn several_failures_in_one_test_case_count_once() {
    let report = ok(r#"<testsuite name="S"><testcase name="t">
        <failure message="first"/><failure message="second"/><error message="third"/><skipped/>
    </testcase></testsuite>"#);
    assert_eq!(report.totals, TestCounts { tests: 1, failures: 1, errors: 0, skipped: 0 });
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].message, "first");
}

#[test]
fn not_run_status_counts_as_skipped_unless_it_failed() {
    let report = ok(r#"<testsuite name="S">
        <testcase name="gtest" status="notrun" result="suppressed"/>
        <testcase name="ctest" status="disabled"/>
        <testcase name="catch2" status="run"/>
        <testcase name="disabledButFailed" status="disabled"><failure>Assert</failure></testcase>
    </testsuite>"#);
    assert_eq!(report.totals, TestCounts { tests: 4, failures: 1, errors: 0, skipped: 2 });
}

#[test]
fn message_is_the_first_non_blank_line_of_the_attribute_or_text() {
    let long = "x".repeat(300);
    let xml = format!(
        r#"<testsuite name="S">
        <testcase name="attr"><failure message="&#10;Expected: &lt;1&gt;&#10;     but: was &lt;2&gt;">trace</failure></testcase>
        <testcase name="text"><failure>

   first &amp; only<![CDATA[ line]]>
second line</failure></testcase>
        <testcase name="cdata"><error message="  "><![CDATA[
AssertionError: x < y
  at here]]></error></testcase>
        <testcase name="nested"><failure><stackTrace>java.lang.AssertionError
	at Foo</stackTrace></failure></testcase>
        <testcase name="long"><failure message="{long}"/></testcase>
        <testcase name="empty"><failure/></testcase>
    </testsuite>"#
    );
    let report = ok(&xml);
    let messages: Vec<_> = report.failed.iter().map(|f| f.message.as_str()).collect();
    let cut = format!("{}…", "x".repeat(199));
    assert_eq!(
        messages,
        ["Expected: <1>", "first & only line", "AssertionError: x < y", "java.lang.AssertionError", &cut, ""]
    );
    assert_eq!(report.failed[4].message.chars().count(), 200);
}

#[test]
fn failed_list_is_capped_while_totals_stay_exact() {
    let mut xml = String::from("<testsuites><testsuite name=\"big\">");
    for i in 0..1000 {
        match i % 4 {
            0 => {
                xml.push_str(&format!("<testcase classname=\"K\" name=\"f{i}\"><failure message=\"m{i}\"/></testcase>"))
            }
            1 => xml.push_str(&format!("<testcase name=\"e{i}\"><error message=\"m{i}\"/></testcase>")),
            2 => xml.push_str(&format!("<testcase name=\"s{i}\"><skipped/></testcase>")),
            _ => xml.push_str(&format!("<testcase name=\"p{i}\"/>")),
        }
    }
    xml.push_str("</testsuite></testsuites>");
    let report = ok(&xml);
    assert_eq!(report.totals, TestCounts { tests: 1000, failures: 250, errors: 250, skipped: 250 });
    assert_eq!(report.failed.len(), TestReport::MAX_LISTED);
    assert_eq!(report.failed[0].name, "K.f0");
    assert_eq!(report.failed[1].name, "e1");
    let last = &report.failed[TestReport::MAX_LISTED - 1];
    assert_eq!((last.name.as_str(), last.message.as_str(), last.error), ("e197", "m197", true));
}

#[test]
fn suites_past_the_listing_bound_are_counted_together() {
    let extra = 25;
    let late = MAX_SUITES + 3;
    let mut xml = String::from("<testsuites>");
    for i in 0..MAX_SUITES + extra {
        xml.push_str(&format!("<testsuite name=\"s{i}\"><testcase name=\"t\"/>"));
        if i == late {
            xml.push_str("<testcase name=\"f\"><failure message=\"late\"/></testcase>");
        }
        xml.push_str("</testsuite>");
    }
    xml.push_str("</testsuites>");
    let report = ok(&xml);
    assert_eq!(report.suites.len(), MAX_SUITES + 1);
    assert_eq!(report.suites[MAX_SUITES - 1].name, format!("s{}", MAX_SUITES - 1));
    let rest = &report.suites[MAX_SUITES];
    assert_eq!(rest.name, "(25 more suites)");
    assert_eq!(rest.counts, TestCounts { tests: 26, failures: 1, errors: 0, skipped: 0 });
    assert_eq!(report.totals.tests, (MAX_SUITES + extra + 1) as u64);
    // A failed test still names its own suite.
    assert_eq!(report.failed[0].suite, format!("s{late}"));
}

#[test]
fn an_empty_report_is_valid_with_no_tests() {
    for xml in [
        "<testsuites/>",
        "<?xml version=\"1.0\"?>\n<testsuites>\n</testsuites>\n",
        "<testsuite name=\"x\"></testsuite>",
    ] {
        let report = ok(xml);
        assert_eq!(report.totals, TestCounts::default(), "{xml}");
        assert!(report.suites.is_empty());
    }
}

#[test]
fn malformed_xml_is_reported_with_line_and_column() {
    let e = err("<testsuites>\n  <testsuite name=\"a\">\n    <testcase name=\"x\">\n    </testsuite>\n</testsuites>");
    assert_eq!(e.location, at(4, 5));
    assert!(e.message.contains("testcase"), "{e}");

    let e = err("<testsuite name=\"a\">\n  <testcase name=x/>\n</testsuite>");
    assert_eq!(e.location, at(2, 3));
    assert!(e.message.contains("attribute"), "{e}");

    let e = err("<testsuite name=\"a\">\n  <testcase name=\"x\" name=\"y\"/>\n</testsuite>");
    assert_eq!(e.location, at(2, 3));
    assert!(e.message.contains("appears twice"), "{e}");

    let e = err("<testsuite name=\"a\">\n  <testcase name=\"x\">\n");
    assert_eq!(e.location, at(3, 1));
    assert!(e.message.contains("inside <testcase>"), "{e}");

    let e = err("<testsuite name=\"a\">\n  <testcase name=\"x\"\n");
    assert_eq!(e.location, at(2, 3));

    let e = err("<testsuite>\n  <!-- never closed\n</testsuite>");
    assert_eq!(e.location, at(2, 3));
    assert!(e.message.contains("comment"), "{e}");

    let e = err("<testsuite><system-out><![CDATA[ never closed </system-out></testsuite>");
    assert_eq!(e.location, at(1, 24));
    assert!(e.message.contains("CDATA"), "{e}");
}

#[test]
fn error_positions_hold_where_the_input_is_refilled() {
    // The reader refills every 64 KiB; put the faulty markup on each side of that edge.
    for pad in (65_536 - 40)..(65_536 + 8) {
        let head = format!("<testsuite name=\"s\">\n<system-out>{}</system-out>\n  ", "x".repeat(pad));
        for (bad, column) in [("<testcase name=x/>", 3), ("<!-- unclosed", 3), ("<testcase name=\"&nope;\"/>", 3)] {
            let e = err(&format!("{head}{bad}\n</testsuite>"));
            assert_eq!(e.location, at(3, column), "pad {pad}, {bad}: {e}");
        }
        let e = err(&format!("{head}<system-out>a &nope; b</system-out></testsuite>"));
        assert_eq!(e.location, at(3, 17), "pad {pad}: {e}");
    }
}

#[test]
fn entities_other_than_the_predefined_ones_are_refused() {
    let e = err("<testsuite>\n  <testcase name=\"a &nbsp; b\"/>\n</testsuite>");
    assert_eq!(e.location, at(2, 3));
    assert!(e.message.contains("&nbsp;"), "{e}");

    let e = err("<testsuite>\n  <system-out>fish &chips;</system-out>\n</testsuite>");
    assert_eq!(e.location, at(2, 20));
    assert!(e.message.contains("&chips;"), "{e}");

    let e = err("<testsuite>\n  <system-out>fish & chips</system-out>\n</testsuite>");
    assert_eq!(e.location, at(2, 20));
    assert!(e.message.contains("&amp;"), "{e}");

    let e = err("<testsuite><system-out>&#0;</system-out></testsuite>");
    assert_eq!(e.location, at(1, 24));

    // A DTD is skipped, never expanded: its entities stay unknown.
    let e = err("<!DOCTYPE testsuite [<!ENTITY boom \"x\">]>\n<testsuite name=\"&boom;\"/>");
    assert_eq!(e.location, at(2, 1));
    assert!(e.message.contains("&boom;"), "{e}");

    let report = ok(
        "<testsuite name=\"a&amp;b&#x263A;&#9731;\"><testcase name=\"t\"/><system-out>&lt;&#x41;</system-out></testsuite>",
    );
    assert_eq!(report.suites[0].name, "a&b☺☃");
}

#[test]
fn documents_that_are_not_junit_reports_are_refused() {
    let e = err("<?xml version=\"1.0\"?>\n<html><body/></html>");
    assert_eq!(e.location, at(2, 1));
    assert!(e.message.contains("<testsuites> or <testsuite>") && e.message.contains("<html>"), "{e}");

    let e = err("");
    assert_eq!(e.location, Location::Document);
    let e = err("  \n ");
    assert_eq!(e.location, Location::Document);

    let e = err("<testsuite/>\n<testsuite/>");
    assert_eq!(e.location, at(2, 1));
    assert!(e.message.contains("single root"), "{e}");

    let e = err("<testsuite/> trailing");
    assert_eq!(e.location, at(1, 14));

    let e = err("\u{FEFF}<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite/>");
    assert_eq!(e.location, at(1, 1));
    assert!(e.message.contains("ISO-8859-1"), "{e}");

    let e = err("\n<?xml version=\"1.0\"?><testsuite/>");
    assert_eq!(e.location, at(2, 1));

    let e = junit::parse(&b"\xFF\xFE<\x00t\x00"[..]).expect_err("UTF-16 is refused");
    assert!(e.message.contains("UTF-16"), "{e}");

    let e = err("<testsuites><testcase name=\"a\"><testcase name=\"b\"/></testcase></testsuites>");
    assert_eq!(e.location, at(1, 32));
    let e = err("<testsuites><testsuite><properties><testcase name=\"b\"/></properties></testsuite></testsuites>");
    assert_eq!(e.location, at(1, 36));
    let e = err("<testsuite><failure message=\"setup failed\"/></testsuite>");
    assert_eq!(e.location, at(1, 12));
    let e = err("<testsuite><testsuites/></testsuite>");
    assert_eq!(e.location, at(1, 12));
}

#[test]
fn a_byte_order_mark_is_accepted_and_not_counted_in_columns() {
    let e = err("\u{FEFF}<testsuite><oops></testsuite>");
    assert_eq!(e.location, at(1, 18));
    let report = ok(
        "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?><testsuite name=\"s\"><testcase name=\"t\"/></testsuite>",
    );
    assert_eq!(report.totals.tests, 1);
}

#[test]
fn suite_nesting_is_bounded() {
    let nested = |depth: usize| {
        let mut xml = String::from("<testsuites>");
        for i in 0..depth {
            xml.push_str(&format!("<testsuite name=\"s{i}\">\n"));
        }
        xml.push_str("<testcase name=\"t\"/>");
        xml.push_str(&"</testsuite>".repeat(depth));
        xml.push_str("</testsuites>");
        xml
    };
    let report = ok(&nested(MAX_SUITE_DEPTH));
    assert_eq!(report.suites.len(), 1);
    assert!(report.suites[0].name.starts_with("s0 > s1 > ") && report.suites[0].name.ends_with(" > s63"));
    let e = err(&nested(MAX_SUITE_DEPTH + 1));
    assert_eq!(e.location, at(MAX_SUITE_DEPTH as u64 + 1, 1));
    assert!(e.message.contains("64 deep"), "{e}");

    let deep = format!("<testsuite>{}", "<x>".repeat(MAX_DEPTH));
    let e = err(&deep);
    assert_eq!(e.location, at(1, 12 + 3 * (MAX_DEPTH as u64 - 1)));
    assert!(e.message.contains("256 deep"), "{e}");
}

/// Produces `len` bytes of a repeated pattern without holding them.
struct Repeat {
    pattern: &'static [u8],
    left: u64,
    at: usize,
}

impl Read for Repeat {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < out.len() && self.left > 0 {
            out[n] = self.pattern[self.at];
            self.at = (self.at + 1) % self.pattern.len();
            self.left -= 1;
            n += 1;
        }
        Ok(n)
    }
}

fn repeat(pattern: &'static [u8], len: u64) -> Repeat {
    Repeat { pattern, left: len, at: 0 }
}

#[test]
fn long_text_streams_but_an_overlong_tag_is_refused() {
    // Four times more system-out than one tag may hold is skipped as it streams.
    let line = b"log &lt;line&gt; &amp; <![CDATA[ </system-out> ]]> stuff\n";
    let text_len = 4 * MAX_TAG_BYTES / line.len() as u64 * line.len() as u64;
    let head = &b"<testsuite name=\"s\"><testcase name=\"t\"><system-out>"[..];
    let tail = &b"</system-out></testcase></testsuite>"[..];
    let input = head.chain(repeat(line, text_len)).chain(tail);
    let report = junit::parse(BufReader::new(input)).expect("long text is fine");
    assert_eq!(report.totals.tests, 1);

    let open = &b"<testsuite name=\""[..];
    let input = open.chain(repeat(b"n", MAX_TAG_BYTES + 1)).chain(&b"\"/>"[..]);
    let e = junit::parse(BufReader::new(input)).expect_err("an overlong tag is refused");
    assert_eq!(e.location, at(1, 1));
    assert!(e.message.contains("longer than"), "{e}");
}

/// Hands out the input a few bytes at a time, in sizes that cycle through 1..=13.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.step = self.step % 13 + 1;
        let n = self.step.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A `BufRead` with a tiny buffer over `Trickle`, so every look-ahead crosses reads.
fn trickle(data: &[u8]) -> BufReader<Trickle<'_>> {
    BufReader::with_capacity(3, Trickle { data, step: 0 })
}

#[test]
fn a_large_report_streamed_in_small_chunks_reads_the_same() {
    let mut xml =
        String::from("\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- generated -->\n<testsuites>\n");
    let (mut failures, mut errors, mut skipped, mut tests) = (0u64, 0u64, 0u64, 0u64);
    for s in 0..60 {
        xml.push_str(&format!("  <testsuite name=\"pkg.Suite{s} &amp; co\">\n"));
        for c in 0..250 {
            tests += 1;
            let id = s * 250 + c;
            xml.push_str(&format!("    <testcase classname=\"pkg.Suite{s}\" name=\"test_{c}\" time=\"0.01\">"));
            match id % 10 {
                0 => {
                    failures += 1;
                    xml.push_str(
                        "<failure><![CDATA[\nAssertionError: ]]]]><![CDATA[> expected &amp; <got>]]>\n  at x</failure>",
                    );
                }
                1 => {
                    errors += 1;
                    xml.push_str(&format!("<error message=\"E&#10;{id}\" type=\"E\">trace &lt;{id}&gt;</error>"));
                }
                2 => {
                    skipped += 1;
                    xml.push_str("<skipped message=\"later\"/>");
                }
                _ => {}
            }
            xml.push_str("<system-out>line one\n<!-- not a comment end -- > -->line &#x263A; two\n</system-out>");
            xml.push_str("</testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n<!-- trailing comment -->\n");
    assert!(xml.len() > 2_000_000, "{}", xml.len());

    let whole = junit::parse(xml.as_bytes()).expect("parses in one piece");
    let chunked = junit::parse(trickle(xml.as_bytes())).expect("parses in small chunks");
    assert_eq!(whole, chunked);
    assert_eq!(whole.totals, TestCounts { tests, failures, errors, skipped });
    assert_eq!(whole.suites.len(), 60);
    assert_eq!(whole.suites[7].name, "pkg.Suite7 & co");
    assert_eq!(whole.failed.len(), TestReport::MAX_LISTED);
    assert_eq!(whole.failed[0].message, "AssertionError: ]]> expected &amp; <got>");
    assert_eq!(whole.failed[1].message, "E");

    // An error deep in the stream is placed identically however the input arrives.
    let broken = xml.replacen(
        "<testcase classname=\"pkg.Suite59\" name=\"test_249\"",
        "<testcase classname=\"pkg.Suite59\" name=test_249",
        1,
    );
    let e_whole = junit::parse(broken.as_bytes()).expect_err("broken");
    let e_chunked = junit::parse(trickle(broken.as_bytes())).expect_err("broken");
    assert_eq!(e_whole, e_chunked);
    let line = broken.lines().position(|l| l.contains("name=test_249")).expect("the broken line") as u64 + 1;
    assert_eq!(e_whole.location, at(line, 5));
}

#[test]
fn mutated_reports_never_panic_and_read_the_same_in_chunks() {
    let mut samples = vec![
        "<?xml version=\"1.0\"?>\n<testsuites><testsuite name=\"a &amp; b\"><testcase classname=\"C\" name=\"t\"><failure message=\"m&#10;x\"><![CDATA[trace]]></failure><system-out>out &lt; <!-- c --></system-out></testcase><testcase name=\"u\"><skipped/></testcase></testsuite></testsuites>\n".as_bytes().to_vec(),
    ];
    if let Some(dir) = common::testdata("junit") {
        samples.extend(xml_files(&dir).iter().map(|p| std::fs::read(p).expect("readable report")));
    }
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"<>/&;\"'=![]-?x \n#";
    for sample in &samples {
        for _ in 0..150 {
            let mut bytes = sample.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % bytes.len() as u64) as usize;
                match next() % 3 {
                    0 => bytes[i] = alphabet[(next() % alphabet.len() as u64) as usize],
                    1 => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, alphabet[(next() % alphabet.len() as u64) as usize]),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let whole = junit::parse(&bytes[..]);
            let chunked = junit::parse(trickle(&bytes));
            assert_eq!(whole, chunked, "{}", String::from_utf8_lossy(&bytes));
        }
    }
}
