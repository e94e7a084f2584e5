//! `tollgate serve` on a large log: how long it takes to start, how fast it answers a release
//! read, how long a remote CLI command takes against the embedded one, and, when Debian's `wrk`
//! is installed, authenticated reads (of one release, and of every release in turn) and durable
//! writes per second with 64 connections.
//!
//! `cargo bench -p tollgate --bench serve` (17,000 walked releases, about a million events);
//! `-- --quick` for 300. Figures are printed; nothing is asserted.

#[path = "support/history.rs"]
mod history;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick") || std::env::var_os("TOLLGATE_BENCH_QUICK").is_some();
    let releases = if quick { 300 } else { 17_000 };
    let dir = tempfile::Builder::new().prefix("serve-bench").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let db = dir.path().join("bench.db");
    let h = history::write(&db, releases);
    // TOLLGATE_BENCH_KEEP=DIR keeps a copy of the history there, to profile a server on it.
    if let Some(keep) = std::env::var_os("TOLLGATE_BENCH_KEEP") {
        let keep = std::path::Path::new(&keep);
        std::fs::create_dir_all(keep).unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), keep.join(entry.file_name())).unwrap();
        }
    }
    println!(
        "history: {releases} releases, {} events (generated in {:.1} s, appended in {:.1} s)",
        h.events,
        h.generation.as_secs_f64(),
        h.append.as_secs_f64()
    );
    let bin = env!("CARGO_BIN_EXE_tollgate");
    let token = {
        let out = Command::new(bin)
            .args(["--db", db.to_str().unwrap(), "--as", "rita", "--json", "token", "create", "--person", "rita"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["token"].as_str().unwrap().to_owned()
    };

    // The server refuses a signing key in the store's directory: moved away, as in production.
    let keys = tempfile::Builder::new().prefix("serve-bench-key").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let key = keys.path().join("signing.key");
    std::fs::rename(tollgate_ledger::sqlite::key_path(&db), &key).unwrap();

    // Start: process start to the listening line. First with no state snapshot (the CLI above
    // wrote one), the whole log replayed; then stopped as a supervisor stops it (SIGTERM, which
    // writes the snapshot) and started again from the snapshot.
    let snapshot = tollgate_app::snapshot::path_for(&db);
    let _ = std::fs::remove_file(&snapshot);
    let (mut server, _, start) = serve(bin, &db, &key);
    println!("server start, replaying {} events: {:.2} s", h.events, start.as_secs_f64());
    let stopping = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let _ = server.wait();
    let bytes = std::fs::metadata(&snapshot).map(|m| m.len()).unwrap_or(0);
    println!(
        "server stop (SIGTERM, the snapshot written): {:.2} s; snapshot {:.1} MiB",
        stopping.elapsed().as_secs_f64(),
        bytes as f64 / (1 << 20) as f64
    );
    let (mut server, url, start) = serve(bin, &db, &key);
    println!("server start from the snapshot: {:.2} s (target < 2 s)", start.as_secs_f64());

    // One release read over a kept-alive loopback connection, sequentially.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let id = format!("R-{}", releases / 2);
    let path = format!("{url}/api/v1/releases/{id}");
    let mut times = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        let mut res = agent.get(&path).header("Authorization", &format!("Bearer {token}")).call().unwrap();
        let _ = res.body_mut().read_to_vec().unwrap();
        assert_eq!(res.status(), 200);
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "GET /api/v1/releases/{id}, one connection: p50 {:.3} ms, p99 {:.3} ms (target p50 < 1 ms)",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100])
    );

    // A CLI command, process start to exit: remote against embedded, same run.
    let run = |remote: bool| {
        let mut cmd = Command::new(bin);
        if remote {
            cmd.env("TOLLGATE_SERVER", &url).env("TOLLGATE_TOKEN", &token);
        } else {
            cmd.env("TOLLGATE_DB", &db).env("TOLLGATE_USER", "rita").env("TOLLGATE_SIGNING_KEY", &key);
        }
        cmd.args(["--json", "release", "show", &id]);
        let t = Instant::now();
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        t.elapsed()
    };
    let median = |remote: bool, n: usize| {
        let mut t: Vec<Duration> = (0..n).map(|_| run(remote)).collect();
        t.sort();
        t[n / 2]
    };
    println!(
        "tollgate release show, process start to exit: remote {:.1} ms, embedded {:.1} ms (target remote < 30 ms)",
        ms(median(true, 21)),
        ms(median(false, if quick { 11 } else { 5 }))
    );

    if Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk not installed (apt-get install wrk): no throughput figures");
    } else {
        let auth = format!("Authorization: Bearer {token}");
        let reads = wrk(&["-t2", "-c64", "-d10s", "--latency", "-H", &auth, &path]);
        println!("wrk, 64 connections, authenticated reads of {id} (one answer per second shared):\n{reads}");
        // A release at random each time: most answers are computed (those asked twice in a second are
        // shared).
        let spread = dir.path().join("spread.lua");
        std::fs::write(
            &spread,
            format!(
                r#"request = function()
  return wrk.format("GET", "/api/v1/releases/R-" .. math.random({releases}))
end
"#
            ),
        )
        .unwrap();
        let reads = wrk(&["-t2", "-c64", "-d10s", "--latency", "-H", &auth, "-s", spread.to_str().unwrap(), &url]);
        println!("wrk, 64 connections, authenticated reads of releases at random (most computed):\n{reads}");
        let script = dir.path().join("write.lua");
        std::fs::write(
            &script,
            r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  local body = '{"args": {"category": "tech", "risk": "bench ' .. counter .. '", "mitigation": "m", "owner": "o"}}'
  return wrk.format(nil, nil, nil, body)
end
"#,
        )
        .unwrap();
        let writes = wrk(&[
            "-t2",
            "-c64",
            "-d10s",
            "--latency",
            "-H",
            &auth,
            "-s",
            script.to_str().unwrap(),
            &format!("{url}/api/v1/risk/add"),
        ]);
        println!("wrk, 64 connections, durable writes (risk add, each its own commit):\n{writes}");
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// A server on the store, started: the child, its URL and the time to its listening line.
fn serve(bin: &str, db: &std::path::Path, key: &std::path::Path) -> (std::process::Child, String, Duration) {
    let started = Instant::now();
    let mut server = Command::new(bin)
        .args(["--db", db.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
        .env("TOLLGATE_SIGNING_KEY", key)
        .env("TOLLGATE_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let start = started.elapsed();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    (server, url, start)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn wrk(args: &[&str]) -> String {
    let out = Command::new("wrk").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("Requests/sec") || l.contains("50%") || l.contains("99%") || l.contains("Non-2xx"))
        .map(|l| format!("  {}", l.trim()))
        .collect::<Vec<_>>()
        .join("\n")
}
