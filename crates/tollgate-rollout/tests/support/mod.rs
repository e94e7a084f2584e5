//! Real components for the integration tests, each started on loopback ports in a temporary
//! folder and stopped when its handle drops: the fixture service (this crate's binary),
//! Debian's haproxy and prometheus.
//!
//! Readiness is read from the components themselves (a fixture prints its address, haproxy's
//! socket answers `show info`, prometheus's `/-/ready` answers 200), polled up to a generous
//! deadline; no test asserts how long anything took.
//!
//! haproxy and prometheus are optional on a developer's machine: [`binary`] returns `None`
//! with a SKIPPED line on stderr. `.ci/run` installs them and sets
//! `TOLLGATE_ROLLOUT_COMPONENTS=required`, under which their absence fails instead.

#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Calls `probe` until it gives a value, `child` is checked between calls so a component that
/// died is reported at once with its log, and `READY` bounds the whole wait.
fn wait_for<T>(what: &str, child: &mut Child, log: &Path, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + READY;
    loop {
        let last = match probe() {
            Ok(value) => return value,
            Err(why) => why,
        };
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited ({status}) before it was ready; its log:\n{}", read_log(log));
        }
        if Instant::now() > deadline {
            panic!("{what} not ready after {READY:?} ({last}); its log:\n{}", read_log(log));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `tollgate-fixture-service`, one version.
pub struct Fixture {
    child: Child,
    /// Held so the service's `--exit-on-eof` ends it if this test process dies.
    _stdin: ChildStdin,
    /// `127.0.0.1:PORT`
    pub address: String,
    pub url: String,
}

impl Fixture {
    pub fn start(version: u32, fail_after: Option<u64>) -> Fixture {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate-fixture-service"));
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
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("fixture said {line:?}")).to_owned();
        let address = url.strip_prefix("http://").unwrap().to_owned();
        Fixture { child, _stdin: stdin, address, url }
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
    child: Child,
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
        let mut child = Command::new(binary)
            .args(["-db", "-f"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("haproxy starts");
        let runtime = Runtime::new(socket.clone());
        wait_for("haproxy", &mut child, &log, || match runtime.command("show info") {
            Ok(info) if info.starts_with("Name: HAProxy") => Ok(()),
            Ok(other) => Err(format!("show info answered {other:?}")),
            Err(e) => Err(e.to_string()),
        });
        Haproxy { child, _dir: dir, socket, url: format!("http://127.0.0.1:{port}") }
    }

    pub fn runtime(&self) -> Runtime {
        Runtime::new(self.socket.clone())
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        stop(&mut self.child);
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
        let log = dir.path().join("prometheus.log");
        let mut child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts");
        let url = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let ready = format!("{url}/-/ready");
        wait_for("prometheus", &mut child, &log, || match agent.get(&ready).call() {
            Ok(response) if response.status() == 200 => Ok(()),
            Ok(response) => Err(format!("/-/ready answered {}", response.status())),
            Err(e) => Err(e.to_string()),
        });
        Prometheus { child, _dir: dir, url }
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
