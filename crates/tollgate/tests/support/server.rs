//! `tollgate serve` really started, on a free loopback port, for the tests that talk to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use super::{Tg, check};

/// A started server, killed when dropped (a failing test leaves none behind).
pub struct Process(pub Child);

impl Process {
    /// Stops the server as a supervisor does (SIGTERM) and waits until it has exited, having
    /// finished what it was doing; it must exit successfully.
    pub fn stop(&mut self) {
        let term = std::process::Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status().unwrap();
        assert!(term.success(), "kill -TERM");
        let status = self.0.wait().unwrap();
        assert!(status.success(), "tollgate serve exited with {status}");
    }

    /// kill -9, and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Remote {
    pub url: String,
    child: Process,
    tokens: std::sync::Mutex<HashMap<String, String>>,
    db: std::path::PathBuf,
    key: std::path::PathBuf,
    admin: String,
}

impl Remote {
    /// Starts the server on `tg`'s store (already initialised) and reads its address from the
    /// first line it prints.
    pub fn start(tg: &Tg, admin: &str, extra: &[&str], env: &[(&str, Option<&str>)]) -> Remote {
        let (url, child) = spawn_with_env(tg, extra, env);
        let key = tg.key_elsewhere();
        Remote { url, child, tokens: Default::default(), db: tg.db.clone(), key, admin: admin.to_owned() }
    }

    /// From now on `person` authenticates with `credential` (an OIDC ID token, say).
    pub fn authenticate_as(&self, person: &str, credential: String) {
        self.tokens.lock().unwrap().insert(person.to_owned(), credential);
    }

    /// The token of `person`, created on the store by the administrator the first time.
    pub fn token(&self, person: &str) -> String {
        let mut tokens = self.tokens.lock().unwrap();
        tokens.entry(person.to_owned()).or_insert_with(|| token_on(&self.db, &self.key, &self.admin, person)).clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// See [`Process::stop`].
    pub fn stop(mut self) {
        self.child.stop();
    }
}

/// `tollgate serve --listen 127.0.0.1:0 EXTRA` on `tg`'s store, its signing key moved out of
/// the store's directory first: its URL and process.
pub fn spawn(tg: &Tg, extra: &[&str]) -> (String, Process) {
    spawn_with_env(tg, extra, &[])
}

/// As [`spawn`], the server's environment (the test's own) changed by `env`: each variable
/// set to its value, or removed where it has none (a secret the server must not have).
pub fn spawn_with_env(tg: &Tg, extra: &[&str], env: &[(&str, Option<&str>)]) -> (String, Process) {
    let key = tg.key_elsewhere();
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("tollgate"));
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("TOLLGATE_DB", &tg.db)
        .env("TOLLGATE_SIGNING_KEY", key)
        .env("TOLLGATE_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("tollgate serve starts");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    stdout.read_line(&mut line).expect("the listening line");
    // Keep reading, so that the server never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("tollgate serve printed {line:?} instead of its address"));
    (url.to_owned(), Process(child))
}

/// A personal API token for `person`, created on `tg`'s store by `admin` (embedded, as on the
/// server's own machine).
pub fn create_token(tg: &Tg, admin: &str, person: &str) -> String {
    token_on(&tg.db, &tg.key_elsewhere(), admin, person)
}

fn token_on(db: &std::path::Path, key: &std::path::Path, admin: &str, person: &str) -> String {
    let out = assert_cmd::Command::cargo_bin("tollgate")
        .unwrap()
        .env("TOLLGATE_DB", db)
        .env("TOLLGATE_SIGNING_KEY", key)
        .env("TOLLGATE_USER", admin)
        .env_remove("TOLLGATE_SERVER")
        .args(["--json", "token", "create", "--person", person])
        .output()
        .unwrap();
    check(&out, 0, &["token", "create", "--person", person]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("token create answers JSON");
    v["token"].as_str().expect("the token").to_owned()
}
