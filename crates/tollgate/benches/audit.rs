//! `tollgate audit verify` on a realistic log, compared in the same run with `sha256sum` over
//! the same bytes (target: at least half its bytes/s). The log is a history of releases of
//! every type walked through the default procedure by the playbook, written in batches.
//!
//! `cargo bench -p tollgate --bench audit` (add `-- --quick` for a small run).

use std::collections::HashMap;
use std::io::Write;
use std::process::Command as Process;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tollgate_app::codec;
use tollgate_domain::playbook::{self, Rehearsal, Runner};
use tollgate_ledger::{Expectation, Ledger, NewRecord, SqliteLedger};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick") || std::env::var_os("TOLLGATE_BENCH_QUICK").is_some();
    let releases = if quick { 120 } else { 1_800 };
    let start: DateTime<Utc> = "2026-01-05T09:00:00Z".parse().unwrap();
    let mut h = Rehearsal::new(start);
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let profile = tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap();
    let people: Vec<(&str, &[&str])> = [
        ("rita", "release-manager"),
        ("dora", "deputy-release-manager"),
        ("eli", "engineering-lead"),
        ("ella", "engineering-lead"),
        ("quinn", "qa-lead"),
        ("sam", "security-engineer"),
        ("omar", "sre"),
        ("dev", "devops-engineer"),
        ("pat", "product-owner"),
        ("cab1", "cab-member"),
        ("cab2", "cab-member"),
        ("pla", "platform-lead"),
        ("eve", "executive"),
    ]
    .iter()
    .map(|(name, role)| (*name, std::slice::from_ref(role)))
    .collect();
    for (actor, command) in playbook::staffing(Arc::new(profile), &people) {
        h.run(&actor, command).unwrap();
    }
    let types = ["minor", "patch", "major", "security-patch", "infrastructure", "emergency"];
    let generated = Instant::now();
    for i in 0..releases {
        let service = format!("service-{}", i % 40);
        // Emergencies are rarer than the rest, and spaced so the frequency rule rarely fires.
        let release_type = if i % 25 == 0 { "emergency" } else { types[i % 5] };
        let id = playbook::create(&mut h, &service, &format!("1.{i}"), release_type, Duration::weeks(3)).unwrap();
        playbook::walk_to_closed(&mut h, id).unwrap();
    }
    let generation = generated.elapsed();
    // Encode as the shell would: the profile version in force for each fact.
    let mut versions_in_force = String::new();
    let records: Vec<NewRecord> = h
        .facts
        .iter()
        .map(|fact| {
            if let tollgate_domain::Event::ProfileAdopted(p) = &fact.event {
                versions_in_force = p.policy.version.clone();
            }
            NewRecord { stream: codec::stream(&fact.event), payload: codec::encode(fact, &versions_in_force, None) }
        })
        .collect();

    let dir = tempfile::Builder::new().prefix("audit-bench").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let db = dir.path().join("bench.db");
    let mut ledger = SqliteLedger::create(&db, "tollgate/bench").unwrap();
    let mut versions: HashMap<String, u64> = HashMap::new();
    let appended = Instant::now();
    for batch in records.chunks(1_000) {
        let mut streams: Vec<&str> = batch.iter().map(|r| r.stream.as_str()).collect();
        streams.sort();
        streams.dedup();
        let expect: Vec<Expectation> = streams
            .iter()
            .map(|s| Expectation { stream: (*s).to_owned(), version: versions.get(*s).copied().unwrap_or(0) })
            .collect();
        ledger.append(&expect, batch, 0).unwrap();
        for r in batch {
            *versions.entry(r.stream.clone()).or_default() += 1;
        }
    }
    let append = appended.elapsed();
    let events = records.len();

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
