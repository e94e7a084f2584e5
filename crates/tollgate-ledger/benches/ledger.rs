//! Throughput figures for the SQLite ledger: durable appends, and a full
//! `verify` compared with `sha256sum` over the same leaf bytes.
//!
//! Run with `cargo bench -p tollgate-ledger`; add `-- --quick` (or set
//! `TOLLGATE_BENCH_QUICK=1`) for a smaller run. This is a plain program
//! rather than a statistical harness because the figures of interest are
//! single long runs (seconds of fsync-bound work), not nanosecond loops.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use tollgate_ledger::{Expectation, Ledger, NewRecord, SqliteLedger, verify};

const BATCH: usize = 1_000;
const STREAMS: usize = 50;
const STREAMS_PER_BATCH: usize = 10;

fn payload(i: usize) -> Vec<u8> {
    let mut p = format!(
        "{{\"type\":\"release.promoted\",\"release\":\"svc-{}-{}\",\"environment\":\"prod-eu-{}\",\
         \"actor\":\"deploy-bot@example.com\",\"commit\":\"{:040x}\",\"checks\":[",
        i % 97,
        i,
        i % 7,
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    );
    let mut n = 0;
    while p.len() < 350 {
        p.push_str(&format!("{{\"name\":\"check-{n}\",\"ok\":true}},"));
        n += 1;
    }
    p.push_str("{\"name\":\"final\",\"ok\":true}]}");
    p.into_bytes()
}

fn rate(count: f64, elapsed: Duration) -> f64 {
    count / elapsed.as_secs_f64()
}

fn main() {
    let quick =
        std::env::args().any(|a| a == "--quick") || std::env::var_os("TOLLGATE_BENCH_QUICK").is_some_and(|v| v != "0");
    let events: usize = if quick { 20_000 } else { 200_000 };

    // Under the target directory rather than /tmp, which may be a RAM disk
    // where fsync costs nothing and "durable" would mean little.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temporary directory");
    let path = dir.path().join("bench.db");
    let mut ledger = SqliteLedger::create(&path, "bench.example/ledger").expect("create ledger");

    // (a) Durable appends, one transaction and one signed checkpoint per batch.
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut payload_bytes = 0usize;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for (b, first) in (0..events).step_by(BATCH).enumerate() {
        let streams: Vec<String> =
            (0..STREAMS_PER_BATCH).map(|k| format!("release-{}", (b * STREAMS_PER_BATCH + k) % STREAMS)).collect();
        let expect: Vec<Expectation> = streams
            .iter()
            .map(|s| Expectation { stream: s.clone(), version: versions.get(s).copied().unwrap_or(0) })
            .collect();
        let records: Vec<NewRecord> = (first..(first + BATCH).min(events))
            .map(|i| NewRecord { stream: streams[i % STREAMS_PER_BATCH].clone(), payload: payload(i) })
            .collect();
        payload_bytes += records.iter().map(|r| r.payload.len()).sum::<usize>();
        let t = Instant::now();
        ledger.append(&expect, &records, 1_700_000_000_000_000 + b as i64).expect("append");
        slowest = slowest.max(t.elapsed());
        for r in &records {
            *versions.entry(r.stream.clone()).or_default() += 1;
        }
    }
    let append_time = started.elapsed();
    assert!(ledger.last_sidecar_error().is_none());
    let batches = events.div_ceil(BATCH);
    println!("tollgate-ledger benchmark ({events} events, batches of {BATCH}, {STREAMS_PER_BATCH} streams per batch)");
    println!(
        "append (durable, synchronous=FULL): {events} events of ~{} B payload in {:.2} s = {:.0} events/s \
         ({:.1} ms per batch, slowest {:.1} ms)",
        payload_bytes / events,
        append_time.as_secs_f64(),
        rate(events as f64, append_time),
        append_time.as_secs_f64() * 1e3 / batches as f64,
        slowest.as_secs_f64() * 1e3,
    );
    drop(ledger);

    // (b) Full verification from the stored leaves.
    let ledger = SqliteLedger::open(&path).expect("open ledger");
    let started = Instant::now();
    let report = verify(&ledger, None).expect("verify");
    let verify_time = started.elapsed();
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!(report.events, events as u64);

    // The same leaf bytes, concatenated, for sha256sum.
    let leaves_file = dir.path().join("leaves.bin");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&leaves_file).expect("leaves file"));
    let mut leaf_bytes = 0u64;
    ledger
        .scan_raw(0, &mut |raw| {
            leaf_bytes += raw.leaf.len() as u64;
            out.write_all(raw.leaf).expect("write leaves");
            Ok(())
        })
        .expect("scan");
    out.flush().expect("flush leaves");
    drop(out);

    let verify_rate = rate(leaf_bytes as f64, verify_time);
    println!(
        "verify: {} events, {leaf_bytes} leaf bytes, {} checkpoints in {:.3} s = {:.1} MB/s of leaf bytes ({:.0} events/s)",
        report.events,
        report.checkpoints_checked,
        verify_time.as_secs_f64(),
        verify_rate / 1e6,
        rate(events as f64, verify_time),
    );

    // Best of three, so that page-cache warm-up does not count against it.
    let mut best: Option<Duration> = None;
    for _ in 0..3 {
        let t = Instant::now();
        match Command::new("sha256sum").arg(&leaves_file).output() {
            Ok(o) if o.status.success() => {
                let e = t.elapsed();
                best = Some(best.map_or(e, |b| b.min(e)));
            }
            Ok(o) => {
                println!("sha256sum failed: {}", String::from_utf8_lossy(&o.stderr));
                break;
            }
            Err(e) => {
                println!("sha256sum unavailable: {e}");
                break;
            }
        }
    }
    if let Some(sha_time) = best {
        let sha_rate = rate(leaf_bytes as f64, sha_time);
        println!(
            "sha256sum over the same {leaf_bytes} bytes: {:.3} s = {:.1} MB/s",
            sha_time.as_secs_f64(),
            sha_rate / 1e6
        );
        println!("verify / sha256sum throughput ratio: {:.2}", verify_rate / sha_rate);
    }
}
