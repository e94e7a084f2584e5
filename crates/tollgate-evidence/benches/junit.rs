//! JUnit ingest: Tollgate's streaming parser against Python's `junitparser` on the same large
//! report (`cargo bench -p tollgate-evidence --bench junit`). Prints a table of speed and peak
//! memory; the target is Tollgate at least 30× faster, with memory flat in the file size.
//!
//! - `TOLLGATE_BENCH_JUNIT_MB` sets the report size (default 500); a tenth of it is also read to
//!   show that memory does not grow with the file. Reports are generated once, deterministically,
//!   under `target/bench-junit/` and reused.
//! - Each parser runs in its own child process so that peak RSS is its own: Tollgate by
//!   re-running this binary with `TOLLGATE_BENCH_JUNIT_CHILD=<file>` (it reports `VmHWM`),
//!   `junitparser` through `benches/junit/junitparser_count.py` in a venv at
//!   `target/bench-venv` (created with pip on first use; the column is skipped when Python or
//!   the package is unavailable).
//! - Both parsers' counts are checked against what the generator wrote.

use std::error::Error;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};
use tollgate_evidence::junit;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const CHILD_ENV: &str = "TOLLGATE_BENCH_JUNIT_CHILD";
const SIZE_ENV: &str = "TOLLGATE_BENCH_JUNIT_MB";
/// Changing the generator changes this, so stale reports are not reused.
const GENERATOR: &str = "g1";
const RUST_RUNS: usize = 3;
const MB: f64 = 1_000_000.0;

fn main() -> Result<()> {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        return child(Path::new(&path));
    }
    let size_mb: u64 = match std::env::var(SIZE_ENV) {
        Ok(v) => v.parse().map_err(|_| format!("{SIZE_ENV}={v} is not a whole number of MB"))?,
        Err(_) => 500,
    };
    let sizes = if size_mb >= 10 { vec![size_mb / 10, size_mb] } else { vec![size_mb.max(1)] };
    let dir = target_dir().join("bench-junit");
    std::fs::create_dir_all(&dir)?;

    let mut rows = Vec::new();
    for &mb in &sizes {
        let (path, expected) = report(&dir, mb)?;
        let bytes = std::fs::metadata(&path)?.len();
        let mut best: Option<Run> = None;
        for _ in 0..RUST_RUNS {
            let run = run_rust(&path)?;
            check(&run, &expected, "tollgate")?;
            best = Some(match best {
                Some(b) if b.cpu_secs <= run.cpu_secs => Run { peak_kib: b.peak_kib.max(run.peak_kib), ..b },
                Some(b) => Run { peak_kib: b.peak_kib.max(run.peak_kib), ..run },
                None => run,
            });
        }
        if let Some(run) = best {
            rows.push(Row { parser: "tollgate (Rust)".into(), bytes, run });
        }
    }

    let python = match python() {
        Ok(python) => Some(python),
        Err(e) => {
            println!("junitparser column skipped: {e}");
            None
        }
    };
    if let Some(python) = &python {
        for &mb in &sizes {
            let (path, expected) = report(&dir, mb)?;
            let bytes = std::fs::metadata(&path)?.len();
            match run_python(python, &path) {
                Ok(run) => {
                    check(&run, &expected, "junitparser")?;
                    rows.push(Row { parser: format!("junitparser {}", run.version), bytes, run });
                }
                Err(e) => println!("junitparser on {mb} MB failed: {e}"),
            }
        }
    }

    print_table(&rows, size_mb);
    Ok(())
}

/// The child mode: parse one file and report counts, seconds and peak RSS as JSON.
fn child(path: &Path) -> Result<()> {
    let start = Instant::now();
    let cpu_start = cpu_secs()?;
    let report = junit::parse(BufReader::new(File::open(path)?))?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_secs()? - cpu_start;
    let t = report.totals;
    let out = json!({
        "tests": t.tests, "failures": t.failures, "errors": t.errors, "skipped": t.skipped,
        "secs": secs, "cpu_secs": cpu, "peak_rss_kib": vm_hwm_kib()?,
        "suites": report.suites.len(), "listed": report.failed.len(),
    });
    println!("{out}");
    Ok(())
}

/// CPU time of this (single-threaded) process: `/proc/self/schedstat` counts nanoseconds on a CPU.
fn cpu_secs() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/schedstat")?;
    let ns: u64 = stat.split_whitespace().next().ok_or("empty /proc/self/schedstat")?.parse()?;
    Ok(ns as f64 / 1e9)
}

fn vm_hwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or("no VmHWM in /proc/self/status")?;
    let kib = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim();
    Ok(kib.parse()?)
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Counts {
    tests: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
}

#[derive(Clone, Debug)]
struct Run {
    counts: Counts,
    secs: f64,
    cpu_secs: f64,
    peak_kib: u64,
    version: String,
}

struct Row {
    parser: String,
    bytes: u64,
    run: Run,
}

fn run_from_json(stdout: &[u8]) -> Result<Run> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last().ok_or("the child printed nothing")?;
    let v: Value = serde_json::from_str(line)?;
    let n = |key: &str| v.get(key).and_then(Value::as_u64).ok_or(format!("no `{key}` in {line}"));
    Ok(Run {
        counts: Counts { tests: n("tests")?, failures: n("failures")?, errors: n("errors")?, skipped: n("skipped")? },
        secs: v.get("secs").and_then(Value::as_f64).ok_or(format!("no `secs` in {line}"))?,
        cpu_secs: v.get("cpu_secs").and_then(Value::as_f64).ok_or(format!("no `cpu_secs` in {line}"))?,
        peak_kib: n("peak_rss_kib")?,
        version: v.get("version").and_then(Value::as_str).unwrap_or_default().to_owned(),
    })
}

fn run_rust(path: &Path) -> Result<Run> {
    let out = Command::new(std::env::current_exe()?).env(CHILD_ENV, path).output()?;
    if !out.status.success() {
        return Err(format!("tollgate child failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    run_from_json(&out.stdout)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/junit/junitparser_count.py")
}

/// The venv's Python with junitparser installed, creating the venv on first use.
fn python() -> Result<PathBuf> {
    let venv = target_dir().join("bench-venv");
    let python = venv.join("bin/python");
    let has_junitparser = |python: &Path| {
        Command::new(python).args(["-c", "import junitparser"]).output().is_ok_and(|o| o.status.success())
    };
    if python.exists() && has_junitparser(&python) {
        return Ok(python);
    }
    let created = Command::new("python3").arg("-m").arg("venv").arg(&venv).output()?;
    if !created.status.success() {
        return Err(format!("python3 -m venv failed: {}", String::from_utf8_lossy(&created.stderr)).into());
    }
    let pip = Command::new(venv.join("bin/pip")).args(["install", "--quiet", "junitparser"]).output()?;
    if !pip.status.success() || !has_junitparser(&python) {
        return Err(format!("pip install junitparser failed: {}", String::from_utf8_lossy(&pip.stderr)).into());
    }
    Ok(python)
}

fn run_python(python: &Path, path: &Path) -> Result<Run> {
    let out = Command::new(python).arg(script()).arg(path).output()?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("no output");
        return Err(format!("exit status {}: {last}", out.status).into());
    }
    run_from_json(&out.stdout)
}

fn check(run: &Run, expected: &Counts, parser: &str) -> Result<()> {
    if run.counts != *expected {
        return Err(format!("{parser} counted {:?}, the generator wrote {expected:?}", run.counts).into());
    }
    Ok(())
}

fn print_table(rows: &[Row], size_mb: u64) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nJUnit ingest: parse and count a generated report (tollgate: best of {RUST_RUNS} runs)\n\
         MB/s is on CPU time, which other work on the machine does not inflate; wall-clock is shown too.\n"
    );
    let _ = writeln!(
        out,
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>11} {:>10}",
        "parser", "size", "CPU", "wall", "MB/s", "peak RSS", "tests"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "{:<20} {:>6.0} MB {:>7.2} s {:>7.2} s {:>9.1} {:>8.1} MB {:>10}",
            row.parser,
            row.bytes as f64 / MB,
            row.run.cpu_secs,
            row.run.secs,
            row.bytes as f64 / MB / row.run.cpu_secs,
            row.run.peak_kib as f64 * 1024.0 / MB,
            row.run.counts.tests
        );
    }
    let at_size = |prefix: &str| rows.iter().find(|r| r.parser.starts_with(prefix) && r.bytes >= size_mb * 1_000_000);
    match (at_size("tollgate"), at_size("junitparser")) {
        (Some(rust), Some(py)) => {
            let ratio = py.run.cpu_secs / rust.run.cpu_secs;
            let wall = py.run.secs / rust.run.secs;
            let verdict = if ratio >= 30.0 { "meets" } else { "MISSES" };
            let _ = writeln!(
                out,
                "\nspeed ratio at {size_mb} MB: {ratio:.1}× on CPU time ({verdict} the 30× target), {wall:.1}× wall-clock"
            );
        }
        _ => {
            let _ = writeln!(out, "\nspeed ratio: not measured (no junitparser figures)");
        }
    }
    print!("{out}");
}

/// The report of about `mb` MB and the counts written into it, generated on first use.
fn report(dir: &Path, mb: u64) -> Result<(PathBuf, Counts)> {
    let path = dir.join(format!("junit-{mb}MB-{GENERATOR}.xml"));
    let counts_path = path.with_extension("counts");
    if let (true, Ok(saved)) = (path.exists(), std::fs::read_to_string(&counts_path)) {
        let n: Vec<u64> = saved.split_whitespace().filter_map(|s| s.parse().ok()).collect();
        if let [tests, failures, errors, skipped] = n[..] {
            return Ok((path, Counts { tests, failures, errors, skipped }));
        }
    }
    let start = Instant::now();
    let counts = generate(&path, mb * 1_000_000)?;
    std::fs::write(
        &counts_path,
        format!("{} {} {} {}\n", counts.tests, counts.failures, counts.errors, counts.skipped),
    )?;
    println!("generated {} ({:.1} s)", path.display(), start.elapsed().as_secs_f64());
    Ok((path, counts))
}

/// xorshift64*: deterministic, so every run reads the same report.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const MODULES: [&str; 8] = ["billing", "catalog", "checkout", "identity", "inventory", "search", "shipping", "web"];
const VERBS: [&str; 8] = ["creates", "rejects", "updates", "parses", "retries", "caches", "renders", "validates"];
const OBJECTS: [&str; 8] = ["order", "invoice", "session", "token", "payload", "request", "address", "cart"];

/// A Surefire/Gradle-like report: many suites, each with properties now and then, test cases
/// with times, some failing with stack traces, erroring with CDATA, skipped, and with output.
fn generate(path: &Path, target_bytes: u64) -> Result<Counts> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut counts = Counts { tests: 0, failures: 0, errors: 0, skipped: 0 };
    let mut written: u64 = 0;
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"nightly\">\n";
    out.write_all(head.as_bytes())?;
    written += head.len() as u64;
    let mut suite = String::new();
    let mut body = String::new();
    let mut s = 0u64;
    while written < target_bytes {
        body.clear();
        let module = MODULES[(s % 8) as usize];
        let class = format!("com.example.{module}.Component{s}Test");
        let cases = 5 + rng.below(60);
        let mut c = Counts { tests: cases, failures: 0, errors: 0, skipped: 0 };
        for i in 0..cases {
            test_case(&mut body, &mut rng, &class, i, &mut c);
        }
        suite.clear();
        let _ = writeln!(
            suite,
            "  <testsuite name=\"{class}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}.{:03}\" timestamp=\"2024-05-01T12:{:02}:{:02}\" hostname=\"ci-runner-{}\">",
            c.tests,
            c.failures,
            c.errors,
            c.skipped,
            rng.below(30),
            rng.below(1000),
            rng.below(60),
            rng.below(60),
            rng.below(16)
        );
        if s.is_multiple_of(10) {
            suite.push_str("    <properties>\n");
            for (k, v) in
                [("java.version", "21.0.3"), ("os.name", "Linux"), ("user.timezone", "UTC"), ("file.encoding", "UTF-8")]
            {
                let _ = writeln!(suite, "      <property name=\"{k}\" value=\"{v}\"/>");
            }
            suite.push_str("    </properties>\n");
        }
        suite.push_str(&body);
        if s.is_multiple_of(7) {
            suite.push_str(
                "    <system-out><![CDATA[Starting suite\nSpring context loaded in 812 ms\n]]></system-out>\n",
            );
        }
        suite.push_str("  </testsuite>\n");
        out.write_all(suite.as_bytes())?;
        written += suite.len() as u64;
        counts.tests += c.tests;
        counts.failures += c.failures;
        counts.errors += c.errors;
        counts.skipped += c.skipped;
        s += 1;
    }
    out.write_all(b"</testsuites>\n")?;
    out.flush()?;
    Ok(counts)
}

fn test_case(out: &mut String, rng: &mut Rng, class: &str, i: u64, counts: &mut Counts) {
    let verb = VERBS[rng.below(8) as usize];
    let object = OBJECTS[rng.below(8) as usize];
    let line = 20 + rng.below(400);
    let _ = write!(
        out,
        "    <testcase name=\"{verb}_{object}_{i}[case-{}]\" classname=\"{class}\" time=\"0.{:03}\" file=\"src/test/java/{}.java\" line=\"{line}\"",
        rng.below(100),
        rng.below(1000),
        class.replace('.', "/")
    );
    let roll = rng.below(100);
    let output = rng.below(100) < 25;
    if roll >= 8 && !output {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    match roll {
        0..3 => {
            counts.failures += 1;
            let (want, got) = (rng.below(1000), rng.below(1000));
            let _ = writeln!(
                out,
                "      <failure message=\"expected: &lt;{want}&gt; but was: &lt;{got}&gt;\" type=\"org.opentest4j.AssertionFailedError\">org.opentest4j.AssertionFailedError: expected: &lt;{want}&gt; but was: &lt;{got}&gt;"
            );
            for frame in 0..12 {
                let _ = writeln!(out, "\tat {class}.{verb}_{object}_{i}({class}.java:{})", line + frame);
            }
            out.push_str("</failure>\n");
        }
        3 => {
            counts.errors += 1;
            out.push_str("      <error message=\"Connection refused\" type=\"java.net.ConnectException\"><![CDATA[java.net.ConnectException: Connection refused\n");
            for frame in 0..20 {
                let _ = writeln!(out, "\tat sun.nio.ch.Net.connect0(Net.java:{frame}) <native & friends>");
            }
            out.push_str("]]></error>\n");
        }
        4..8 => {
            counts.skipped += 1;
            out.push_str("      <skipped message=\"disabled on CI: flaky on shared runners\"/>\n");
        }
        _ => {}
    }
    if output {
        out.push_str("      <system-out>");
        for n in 0..1 + rng.below(30) {
            let _ = writeln!(
                out,
                "2024-05-01 12:00:{:02}.{:03} INFO  [main] c.e.Service - processed request id={} in {} ms &amp; cached",
                n % 60,
                rng.below(1000),
                rng.next() % 1_000_000,
                rng.below(90)
            );
        }
        out.push_str("</system-out>\n");
        if rng.below(5) == 0 {
            out.push_str("      <system-err>WARN: deprecated API &lt;Foo&gt; used\n</system-err>\n");
        }
    }
    out.push_str("    </testcase>\n");
}
