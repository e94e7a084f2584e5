//! Racing appenders: two threads, and two processes, append to the same
//! stream with the same expected version. Exactly one wins each round, the
//! other gets a conflict, and the log stays verifiable.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{expect, record};
use tollgate_ledger::{Ledger, LedgerError, SqliteLedger, verify};

const ROUNDS: u64 = 8;

fn outcome(result: Result<tollgate_ledger::Appended, LedgerError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(LedgerError::Conflict { .. }) => "conflict",
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn two_threads_race_for_the_same_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    drop(SqliteLedger::create(&path, "test.example/race").unwrap());

    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|who| {
                let barrier = Arc::clone(&barrier);
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut ledger = SqliteLedger::open(&path).unwrap();
                    let seen = ledger.stream_version("release").unwrap();
                    barrier.wait();
                    outcome(ledger.append(
                        &[expect("release", seen)],
                        &[record("release", &format!("{{\"round\":{round},\"who\":{who}}}"))],
                        i64::try_from(round).unwrap(),
                    ))
                })
            })
            .collect();
        let mut results: Vec<&str> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        results.sort_unstable();
        assert_eq!(results, ["conflict", "ok"], "round {round}");
    }
    check_log(&path);
}

fn check_log(path: &Path) {
    let ledger = SqliteLedger::open(path).unwrap();
    assert_eq!(ledger.size().unwrap(), ROUNDS);
    assert_eq!(ledger.stream_version("release").unwrap(), ROUNDS);
    let report = verify(&ledger, None).unwrap();
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!(report.checkpoints_checked, ROUNDS + 1);
}

const CHILD_ENV: &str = "TOLLGATE_LEDGER_RACE_CHILD";

/// The child side of [`two_processes_race_for_the_same_version`]: does
/// nothing unless started by it.
#[test]
fn race_child() {
    let Some(spec) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let spec = PathBuf::from(spec);
    let path = spec.with_extension("db");
    let go = spec.with_extension("go");
    let mut ledger = SqliteLedger::open(&path).unwrap();
    let seen = ledger.stream_version("release").unwrap();
    std::fs::write(spec.with_extension(format!("ready{}", std::process::id())), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !go.exists() {
        assert!(Instant::now() < deadline, "parent never said go");
        std::thread::sleep(Duration::from_millis(1));
    }
    let result = outcome(ledger.append(
        &[expect("release", seen)],
        &[record("release", &format!("{{\"pid\":{}}}", std::process::id()))],
        0,
    ));
    println!("\nRACE-RESULT:{result}");
}

#[test]
fn two_processes_race_for_the_same_version() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("race");
    let path = spec.with_extension("db");
    drop(SqliteLedger::create(&path, "test.example/race").unwrap());
    let exe = std::env::current_exe().unwrap();

    for round in 0..ROUNDS {
        let go = spec.with_extension("go");
        let _ = std::fs::remove_file(&go);
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&exe)
                    .args(["--exact", "race_child", "--nocapture", "--test-threads", "1"])
                    .env(CHILD_ENV, &spec)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Both children must have read the version before either appends.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("race.ready"))
                .count();
            if ready == 2 {
                break;
            }
            assert!(Instant::now() < deadline, "children did not get ready");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::fs::write(&go, b"").unwrap();
        let mut results: Vec<String> = children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(out.status.success(), "child failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
                stdout
                    .lines()
                    .find_map(|l| l.split_once("RACE-RESULT:").map(|(_, r)| r.trim()))
                    .unwrap_or_else(|| panic!("child printed no result: {stdout}"))
                    .to_owned()
            })
            .collect();
        results.sort_unstable();
        assert_eq!(results, ["conflict", "ok"], "round {round}");
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name().to_string_lossy().starts_with("race.ready") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    }
    check_log(&path);
}
