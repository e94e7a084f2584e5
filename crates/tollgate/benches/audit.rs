//! `tollgate audit verify` on a realistic log, compared in the same run with `sha256sum` over
//! the same bytes (target: at least half its bytes/s). The log is a history of releases of
//! every type walked through the default procedure by the playbook, written in batches.
//!
//! `cargo bench -p tollgate --bench audit` (add `-- --quick` for a small run).

#[path = "support/history.rs"]
mod history;

use std::io::Write;
use std::process::Command as Process;
use std::time::Instant;

use tollgate_ledger::{Ledger, SqliteLedger};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick") || std::env::var_os("TOLLGATE_BENCH_QUICK").is_some();
    let releases = if quick { 120 } else { 1_800 };
    let dir = tempfile::Builder::new().prefix("audit-bench").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let db = dir.path().join("bench.db");
    let history::History { events, generation, append } = history::write(&db, releases);
    let ledger = SqliteLedger::open(&db).unwrap();

    // The same leaf bytes, concatenated, for sha256sum.
    let leaves = dir.path().join("leaves.bin");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&leaves).unwrap());
    let mut bytes = 0u64;
    ledger
        .scan_raw(0, &mut |raw| {
            bytes += raw.leaf.len() as u64;
            out.write_all(raw.leaf).unwrap();
            Ok(())
        })
        .unwrap();
    out.flush().unwrap();
    drop(out);
    drop(ledger);
    // Five rounds, each timing both, so both see the same machine; the best of each counts.
    let time = |cmd: &mut Process| {
        let t = Instant::now();
        let out = cmd.output().expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        t.elapsed()
    };
    let (mut audit, mut sha) = (std::time::Duration::MAX, std::time::Duration::MAX);
    for _ in 0..5 {
        audit = audit.min(time(Process::new(env!("CARGO_BIN_EXE_tollgate")).args([
            "--db",
            db.to_str().unwrap(),
            "--json",
            "audit",
            "verify",
        ])));
        sha = sha.min(time(Process::new("sha256sum").arg(&leaves)));
    }
    let mb = bytes as f64 / 1e6;
    let rate = |d: std::time::Duration| mb / d.as_secs_f64();
    println!(
        "history: {releases} releases walked through QMS-DEV-PRO-004, {events} events, {mb:.1} MB of leaves (generated in {:.1} s)",
        generation.as_secs_f64()
    );
    println!("durable append in batches of 1,000: {:.0} events/s", events as f64 / append.as_secs_f64());
    println!(
        "tollgate audit verify (hashes, roots, signatures, replay): {:.3} s, {:.0} MB/s, {:.0} events/s",
        audit.as_secs_f64(),
        rate(audit),
        events as f64 / audit.as_secs_f64()
    );
    println!(
        "sha256sum over the same bytes:                            {:.3} s, {:.0} MB/s",
        sha.as_secs_f64(),
        rate(sha)
    );
    println!("ratio audit verify / sha256sum bytes/s: {:.2} (target >= 0.5)", rate(audit) / rate(sha));
}
