//! KPIs at scale (issue 4): a generated history of 1,000 services over 3 years (~10 million
//! production deployments, ~500,000 incidents) imported through the real binary, then every KPI
//! for the whole organisation and for one service over the default 90-day window.
//!
//! `cargo bench -p tollgate --bench kpi_scale`; `TOLLGATE_BENCH_DEPLOYMENTS` (default
//! 10,000,000) scales the history (incidents and services scale with it below 10M). The
//! history file is generated once under `target/bench-kpi/` and reused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tollgate_metrics::kpi::{self, Query};
use tollgate_metrics::store::{self, Store};

const END: i64 = tollgate_gen::DEFAULT_END;
const DAY: i64 = 86_400;

fn main() {
    let deployments: u64 =
        std::env::var("TOLLGATE_BENCH_DEPLOYMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-kpi");
    std::fs::create_dir_all(&dir).unwrap();
    let history = generate(&dir, deployments);
    let bytes = std::fs::metadata(&history).unwrap().len();

    let db = dir.join(format!("bench-{deployments}.db"));
    let kpi_db = store::path_beside(&db);
    let tollgate = env!("CARGO_BIN_EXE_tollgate");
    let run = |args: &[&str]| {
        let out =
            Command::new(tollgate).env("TOLLGATE_DB", &db).env("TOLLGATE_USER", "rita").args(args).output().unwrap();
        assert!(out.status.success(), "tollgate {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // `TOLLGATE_BENCH_QUERIES_ONLY=1` keeps the store of the previous run and times the queries.
    if std::env::var_os("TOLLGATE_BENCH_QUERIES_ONLY").is_none() || !kpi_db.exists() {
        import(&db, &history, bytes, &run);
    }

    let kpi_store = Store::open(&kpi_db).unwrap();
    let (from, to) = (END - 90 * DAY, END);
    let org = time_query(&kpi_store, None, from, to);
    println!(
        "whole organisation, 90 days: load {:.0} ms + compute {:.0} ms = {:.0} ms ({} deployments)",
        org.0,
        org.1,
        org.0 + org.1,
        org.2
    );
    let busiest = busiest_service(&kpi_store, from, to);
    let one = time_query(&kpi_store, Some(&busiest), from, to);
    println!(
        "one service ({busiest}), 90 days: load {:.2} ms + compute {:.2} ms = {:.2} ms ({} deployments)",
        one.0,
        one.1,
        one.0 + one.1,
        one.2
    );
    let started = Instant::now();
    run(&["metrics", "--to", "2026-11-01T00:00:00Z"]);
    println!(
        "`tollgate metrics` (whole organisation, process start to exit): {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    run(&["metrics", "--to", "2026-11-01T00:00:00Z", "--service", &busiest]);
    println!("`tollgate metrics --service {busiest}`: {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
}

fn generate(dir: &Path, deployments: u64) -> PathBuf {
    let path = dir.join(format!("history-{deployments}.jsonl"));
    if path.exists() {
        return path;
    }
    let scale = deployments as f64 / 10_000_000.0;
    let mut cfg = tollgate_gen::Config::full();
    cfg.deployments = deployments;
    cfg.incidents = ((500_000.0 * scale) as u64).max(100);
    cfg.services = ((1_000.0 * scale.min(1.0)) as u32).max(5);
    let tmp = path.with_extension("partial");
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
    let started = Instant::now();
    let s = tollgate_gen::generate(&cfg, file).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    println!("generated {s} in {:.0} s", started.elapsed().as_secs_f64());
    path
}

/// (load ms, compute ms, deployments): the median of several runs.
fn time_query(s: &Store, service: Option<&str>, from: i64, to: i64) -> (f64, f64, usize) {
    let mut loads = Vec::new();
    let mut computes = Vec::new();
    let mut n = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let h = s.history(service, "production", from, to, 30 * DAY).unwrap();
        loads.push(started.elapsed().as_secs_f64() * 1e3);
        let q = Query { service: service.map(str::to_owned), environment: "production".into(), from, to };
        let started = Instant::now();
        let kpis = kpi::compute(&h, &q);
        computes.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(kpis.iter().any(|k| k.value.is_some()));
        n = h.deployments.len();
    }
    loads.sort_by(f64::total_cmp);
    computes.sort_by(f64::total_cmp);
    (loads[2], computes[2], n)
}

fn busiest_service(s: &Store, from: i64, to: i64) -> String {
    let h = s.history(None, "production", from, to, 0).unwrap();
    let mut counts = std::collections::HashMap::new();
    for d in &h.deployments {
        *counts.entry(d.service.clone()).or_insert(0u32) += 1;
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(s, _)| s.to_string()).unwrap()
}

/// A fresh log and KPI store, the history imported through the binary, with the rate printed.
fn import(db: &Path, history: &Path, bytes: u64, run: &dyn Fn(&[&str]) -> String) {
    for suffix in ["", "-wal", "-shm", ".key", ".pub", ".checkpoint"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let kpi_db = store::path_beside(db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", kpi_db.display()));
    }
    let tollgate = env!("CARGO_BIN_EXE_tollgate");
    // After the generated history ends: imported deployments before adoption are not held to it.
    run(&["init", "--role", "release-manager"]);

    // GNU time reports the import's peak resident set; without it the figure is not measured.
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut import = if gnu_time { Command::new("/usr/bin/time") } else { Command::new(tollgate) };
    if gnu_time {
        import.args(["-f", "peak-rss-kb %M", tollgate]);
    }
    import.env("TOLLGATE_DB", db).env("TOLLGATE_USER", "rita").args([
        "--json",
        "import",
        "--cdevents",
        history.to_str().unwrap(),
    ]);
    let started = Instant::now();
    let out = import.output().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines = summary["lines"].as_u64().unwrap();
    let rss = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kb ").and_then(|kb| kb.trim().parse::<u64>().ok()))
        .map_or("not measured (no /usr/bin/time)".to_owned(), |kb| format!("{} MB", kb / 1024));
    println!(
        "import: {lines} lines ({:.1} GB) in {seconds:.1} s = {:.0} events/s, {:.0} MB/s; peak RSS {rss}",
        bytes as f64 / 1e9,
        lines as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
    println!(
        "        {} deployments, {} failed, {} rollbacks, {} incidents ({} unattributed), {} changes shipped",
        summary["deployments"],
        summary["failed_deployments"],
        summary["rollbacks"],
        summary["incidents"],
        summary["unattributed_incidents"],
        summary["changes_shipped"]
    );
}
