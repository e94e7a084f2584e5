//! Real components for the integration tests, each started on loopback ports in a temporary
//! folder and stopped when its handle drops: the fixture service (this crate's binary),
//! Debian's haproxy and prometheus; and a fake Unleash ([`unleash`]).
//!
//! Readiness is what the components themselves say, waited for and never polled on a clock: a
//! fixture prints its address, and `scraped N` each time Prometheus reads its counts; haproxy
//! started with `-D` returns once its listeners and admin socket are bound; prometheus logs
//! that it is ready. Each wait is bounded by [`READY`] so a broken component fails the test
//! with its log; no test asserts how long anything took.
//!
//! haproxy and prometheus are optional on a developer's machine: [`binary`] returns `None`
//! with a SKIPPED line on stderr. `.ci/run` installs them and sets
//! `TOLLGATE_ROLLOUT_COMPONENTS=required`, under which their absence fails instead.

#![allow(dead_code)] // each test file uses part of it (the attribute covers `unleash` too)

pub mod unleash;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use tollgate_rollout::Runtime;

/// How long a component may take to become ready: far more than it needs, so a loaded CI
/// machine is slow, not failing.
pub const READY: Duration = Duration::from_secs(90);

/// The executable `name` from the usual places or `PATH`, or `None` after saying the test is
/// skipped (a panic where `TOLLGATE_ROLLOUT_COMPONENTS=required`).
pub fn binary(name: &str, test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = ["/usr/bin", "/usr/sbin"]
        .iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("TOLLGATE_ROLLOUT_COMPONENTS").as_deref() == Ok("required") {
            panic!("{name} is not installed and TOLLGATE_ROLLOUT_COMPONENTS=required (.ci/run installs it)");
        }
        // Straight to the process's stderr, not through `eprintln!`, which the test harness
        // captures and shows only for a failing test: a skip must be seen.
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {name} is not installed (apt-get install -y {name})");
    }
    found
}

/// A loopback port nothing listens on right now. The component is told to bind it a moment
/// later; a collision with another process in between fails loudly at startup, not silently.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The lines `from` writes, as they come, read on a thread of their own.
fn lines(from: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next line of `lines` that `wanted` accepts; a panic naming `what` and `seen` if the
/// component ends its output first or says nothing more for [`READY`].
fn wait_line(what: &str, lines: &Receiver<String>, seen: &mut Vec<String>, wanted: impl Fn(&str) -> bool) {
    loop {
        match lines.recv_timeout(READY) {
            Ok(line) if wanted(&line) => return,
            Ok(line) => seen.push(line),
            Err(RecvTimeoutError::Disconnected) => panic!("{what} ended its output; it said:\n{}", seen.join("\n")),
            Err(RecvTimeoutError::Timeout) => {
                panic!("{what} said nothing more in {READY:?}; it said:\n{}", seen.join("\n"))
            }
        }
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// This crate's fixture binary: cargo names it to this crate's tests; another crate's tests
/// (the executor's, in `tollgate`) find it beside their own executable's directory, where
/// `cargo test --workspace` builds every binary.
fn fixture_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_tollgate-fixture-service") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let built = exe.parent().and_then(Path::parent).map(|dir| dir.join("tollgate-fixture-service"));
    built.filter(|p| p.is_file()).unwrap_or_else(|| {
        panic!("tollgate-fixture-service is not built beside {}: run `cargo build -p tollgate-rollout` (cargo test --workspace builds it)", exe.display())
    })
}

/// `tollgate-fixture-service`, one version.
pub struct Fixture {
    child: Child,
    /// Its standard output after the first line: `scraped N` per scrape.
    said: Receiver<String>,
    /// Held so the service's `--exit-on-eof` ends it if this test process dies.
    _stdin: ChildStdin,
    /// `127.0.0.1:PORT`
    pub address: String,
    pub url: String,
}

impl Fixture {
    pub fn start(version: u32, fail_after: Option<u64>) -> Fixture {
        let mut command = Command::new(fixture_binary());
        command.args(["--listen", "127.0.0.1:0", "--version", &version.to_string(), "--exit-on-eof"]);
        if let Some(n) = fail_after {
            command.args(["--fail-after", &n.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("fixture starts");
        let stdin = child.stdin.take().unwrap();
        let said = lines(child.stdout.take().unwrap());
        let line = said.recv_timeout(READY).expect("the fixture says where it listens");
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("fixture said {line:?}")).to_owned();
        let address = url.strip_prefix("http://").unwrap().to_owned();
        Fixture { child, said, _stdin: stdin, address, url }
    }

    /// Its `scraped N` lines from now on, for a test that paces itself on Prometheus's scrapes
    /// (`wait_scraped` then waits on nothing more).
    pub fn take_scrapes(&mut self) -> Receiver<String> {
        std::mem::replace(&mut self.said, mpsc::channel().1)
    }

    /// Returns once Prometheus holds a scrape that counted at least `requests` requests to `/`:
    /// a scrape that counted them, then the next one, which a target's scrape loop starts only
    /// after it stored the one before.
    pub fn wait_scraped(&self, requests: u64) {
        let counted = |line: &str| line.strip_prefix("scraped ").and_then(|n| n.parse::<u64>().ok());
        let mut seen = Vec::new();
        wait_line("the fixture", &self.said, &mut seen, |l| counted(l).is_some_and(|n| n >= requests));
        wait_line("the fixture", &self.said, &mut seen, |l| counted(l).is_some());
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// haproxy with frontend `web` → backend `app`: server `stable` and server `canary`, both at
/// weight 128 to start, and an admin socket in the temporary folder.
pub struct Haproxy {
    /// The daemon's process id, from its pid file.
    pid: String,
    _dir: tempfile::TempDir,
    pub socket: PathBuf,
    /// `http://127.0.0.1:PORT`, the frontend.
    pub url: String,
}

impl Haproxy {
    pub fn start(binary: &Path, stable: &Fixture, canary: &Fixture) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("admin.sock");
        let port = free_port();
        let config = format!(
            "global\n    stats socket {socket} mode 600 level admin\n\n\
             defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n\
             frontend web\n    bind 127.0.0.1:{port}\n    default_backend app\n\n\
             backend app\n    balance roundrobin\n    server stable {stable} weight 128\n    server canary {canary} weight 128\n",
            socket = socket.display(),
            stable = stable.address,
            canary = canary.address,
        );
        let config_path = dir.path().join("haproxy.cfg");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("haproxy.log");
        let pidfile = dir.path().join("haproxy.pid");
        // As a daemon, haproxy returns once it has bound its listeners and its admin socket:
        // its exit is the readiness signal.
        let started = Command::new(binary)
            .args(["-D", "-p"])
            .arg(&pidfile)
            .arg("-f")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .status()
            .expect("haproxy starts");
        assert!(started.success(), "haproxy did not start ({started}); its log:\n{}", read_log(&log));
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
        let info = Runtime::new(socket.clone()).command("show info").unwrap();
        assert!(info.starts_with("Name: HAProxy"), "show info answered {info:?}");
        Haproxy { pid, _dir: dir, socket, url: format!("http://127.0.0.1:{port}") }
    }

    pub fn runtime(&self) -> Runtime {
        Runtime::new(self.socket.clone())
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

/// prometheus scraping `targets` every second.
pub struct Prometheus {
    child: Child,
    _dir: tempfile::TempDir,
    pub url: String,
}

impl Prometheus {
    pub fn start(binary: &Path, targets: &[&Fixture]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let targets: Vec<String> = targets.iter().map(|f| format!("'{}'", f.address)).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: fixture\n    scrape_interval: 1s\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("prometheus starts");
        // It logs this once the storage is open and the web handler answers.
        let said = lines(child.stderr.take().unwrap());
        wait_line("prometheus", &said, &mut Vec::new(), |l| l.contains("Server is ready to receive web requests"));
        // The rest of its log is read and dropped, so it never blocks on a full pipe.
        std::thread::spawn(move || said.into_iter().for_each(drop));
        Prometheus { child, _dir: dir, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// An agent for sending test traffic.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// `GET url` `n` times; the number of bodies that were `version {version}`.
pub fn count_version(url: &str, n: usize, version: u32) -> usize {
    let agent = agent();
    let wanted = format!("version {version}");
    (0..n)
        .filter(|_| {
            let mut response = agent.get(url).call().expect("the frontend answers");
            response.body_mut().read_to_string().unwrap().trim() == wanted
        })
        .count()
}
