//! Running the `tollgate` binary against a store in a temporary directory.

#![allow(dead_code)]

pub mod ci;
pub mod http;
pub mod oidc;
pub mod server;
pub mod walk;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub struct Tg {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    /// Once set, every command but `init` runs through this server with the actor's token.
    pub remote: std::sync::Mutex<Option<server::Remote>>,
    /// Where the signing key went when a server first started (it refuses one in the store's
    /// directory); embedded commands sign with it from then on.
    key: std::sync::Mutex<Option<(tempfile::TempDir, PathBuf)>>,
}

impl Tg {
    pub fn new() -> Tg {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tollgate.db");
        Tg { dir, db, remote: std::sync::Mutex::new(None), key: std::sync::Mutex::new(None) }
    }

    /// Moves the store's signing key out of the store's directory, as an operator does before
    /// `tollgate serve`: the file it is in now.
    pub fn key_elsewhere(&self) -> PathBuf {
        let mut key = self.key.lock().unwrap();
        if let Some((_, path)) = key.as_ref() {
            return path.clone();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        std::fs::rename(tollgate_ledger::sqlite::key_path(&self.db), &path).expect("the key beside the store");
        *key = Some((dir, path.clone()));
        path
    }

    /// The signing key, when it is not beside the store.
    pub fn signing_key(&self) -> Option<PathBuf> {
        self.key.lock().unwrap().as_ref().map(|(_, path)| path.clone())
    }

    /// `tollgate` on the store itself (not through a server), signing with its key wherever it is.
    fn embedded(&self, actor: &str) -> Command {
        let mut cmd = Command::cargo_bin("tollgate").unwrap();
        cmd.current_dir(self.dir.path()).env_remove("TOLLGATE_NOW").env_remove("TOLLGATE_SERVER");
        cmd.env("TOLLGATE_DB", &self.db).env("TOLLGATE_USER", actor);
        match self.signing_key() {
            Some(key) => cmd.env("TOLLGATE_SIGNING_KEY", key),
            None => cmd.env_remove("TOLLGATE_SIGNING_KEY"),
        };
        cmd
    }

    /// From now on, commands run as clients of `tollgate serve` on this store, each person
    /// authenticated by a token of their own (created on the store by `admin`).
    pub fn serve(&self, admin: &str) {
        self.serve_with(admin, &[]);
    }

    /// As [`Tg::serve`], the server started with `extra` arguments (`--oidc FILE`, say).
    /// Stops the server gracefully (SIGTERM), waiting until it has exited.
    pub fn stop_server(&self) {
        self.remote.lock().unwrap().take().expect("served").stop();
    }

    pub fn serve_with(&self, admin: &str, extra: &[&str]) {
        self.serve_with_env(admin, extra, &[]);
    }

    /// As [`Tg::serve_with`], the server's environment changed by `env`: each variable set to
    /// its value, or removed where it has none (a token the server reads, or must not have).
    pub fn serve_with_env(&self, admin: &str, extra: &[&str], env: &[(&str, Option<&str>)]) {
        let remote = server::Remote::start(self, admin, extra, env);
        *self.remote.lock().unwrap() = Some(remote);
    }

    /// From now on `person` authenticates to the server with `credential`.
    pub fn authenticate_as(&self, person: &str, credential: String) {
        self.remote.lock().unwrap().as_ref().expect("served").authenticate_as(person, credential);
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `tollgate ARGS` as `actor`; `now` sets the command's time.
    pub fn run_at(&self, actor: &str, now: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = self.embedded(actor);
        if let Some(remote) = self.remote.lock().unwrap().as_ref().filter(|_| !args.contains(&"init")) {
            cmd.env("TOLLGATE_SERVER", &remote.url)
                .env("TOLLGATE_TOKEN", remote.token(actor))
                .env_remove("TOLLGATE_USER")
                .env_remove("TOLLGATE_SIGNING_KEY")
                .env("TOLLGATE_DB", "/nonexistent/not-the-store.db");
        }
        if let Some(now) = now {
            cmd.env("TOLLGATE_NOW", now);
        }
        cmd.args(args).output().unwrap()
    }

    pub fn run(&self, actor: &str, args: &[&str]) -> Output {
        self.run_at(actor, None, args)
    }

    /// Runs and requires exit code `code`; returns stdout.
    #[track_caller]
    pub fn expect(&self, code: i32, actor: &str, args: &[&str]) -> String {
        let out = self.run(actor, args);
        check(&out, code, args);
        String::from_utf8(out.stdout).unwrap()
    }

    #[track_caller]
    pub fn ok(&self, actor: &str, args: &[&str]) -> String {
        self.expect(0, actor, args)
    }

    #[track_caller]
    pub fn json(&self, actor: &str, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(actor, &all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{out}"))
    }

    /// Runs a question that answers with its exit code (`release gate`, `check`): 0 yes, 3 no,
    /// the answer in JSON on stdout either way. Returns whether it said yes, and the answer.
    #[track_caller]
    pub fn answer(&self, actor: &str, args: &[&str]) -> (bool, serde_json::Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(actor, &all);
        let code = out.status.code();
        assert!(matches!(code, Some(0 | 3)), "tollgate {args:?} exited {code:?}\nstderr:\n{}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{text}"));
        (code == Some(0), v)
    }

    /// `release gate ARGS` as `actor`; its exit code is 0 exactly when the gate is open.
    #[track_caller]
    pub fn gate(&self, actor: &str, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["release", "gate"];
        all.extend_from_slice(args);
        let (yes, v) = self.answer(actor, &all);
        assert_eq!(Some(yes), v["open"].as_bool(), "exit code and verdict of {args:?} differ: {v}");
        v
    }

    /// Runs on the store itself, whether or not a server serves it.
    pub fn local(&self, actor: &str, args: &[&str]) -> Output {
        self.embedded(actor).args(args).output().unwrap()
    }

    pub fn events(&self) -> u64 {
        let out = self.local("auditor", &["--json", "audit", "verify"]);
        check(&out, 0, &["audit", "verify"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["events"].as_u64().unwrap()
    }

    /// Moves the sandbox's clock forward by `span` (as rita, a person on record); the answer.
    #[track_caller]
    pub fn advance(&self, span: &str) -> serde_json::Value {
        self.json("rita", &["clock", "advance", span])
    }

    pub fn sqlite(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).unwrap()
    }
}

#[track_caller]
pub fn check(out: &Output, code: i32, args: &[&str]) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "tollgate {args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The default profile with its clocks shortened to seconds, as a standalone profile (shorter
/// windows loosen the procedure, so they cannot be an overlay).
pub fn fast_profile(dir: &Path) -> PathBuf {
    fast_profile_trusting(dir, &[], &[])
}

/// The fast profile, trusting these key fingerprints for signatures, and these builders each
/// with the key that signs its provenance.
pub fn fast_profile_trusting(dir: &Path, keys: &[String], builders: &[(&str, &str)]) -> PathBuf {
    profile_with(dir, "qms-fast", keys, builders, FAST_CLOCKS)
}

/// The default profile, its clocks as the procedure sets them (a week's lead time, 24 hours to
/// document an emergency), trusting these keys and builders: for rehearsals on a sandbox store,
/// where time passes only by `tollgate clock advance`.
pub fn profile_trusting(dir: &Path, keys: &[String], builders: &[(&str, &str)]) -> PathBuf {
    profile_with(dir, "qms-trusting", keys, builders, &[])
}

/// The default profile's clocks, in seconds.
const FAST_CLOCKS: &[(&str, &str)] = &[
    ("min-lead-time = \"1 week\"", "min-lead-time = \"2s\""),
    ("stabilisation = \"2h\"", "stabilisation = \"2s\""),
    ("within = \"4h\"", "within = \"2s\""),
    ("within = \"24h\"", "within = \"3s\""),
    ("within = \"5 business days\"", "within = \"4s\""),
    ("stabilisation = \"30m\"", "stabilisation = \"1s\""),
    ("duration = \"24h\"", "duration = \"1s\""),
    ("target = \"15m\"", "target = \"1s\""),
];

fn profile_with(dir: &Path, id: &str, keys: &[String], builders: &[(&str, &str)], clocks: &[(&str, &str)]) -> PathBuf {
    let mut text = tollgate_profile::builtin("qms-dev-pro-004").unwrap().to_owned();
    let quoted = |items: Vec<String>| items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ");
    let trusted_keys = format!("trusted-keys = [{}]", quoted(keys.to_vec()));
    let pinned: Vec<String> =
        builders.iter().map(|(id, key)| format!("{{ id = \"{id}\", keys = [\"{key}\"] }}")).collect();
    let trusted_builders = format!("builders = [{}]", pinned.join(", "));
    let renamed = format!("id = \"{id}\"");
    let trust = [
        ("id = \"qms-dev-pro-004\"", renamed.as_str()),
        ("trusted-keys = []", trusted_keys.as_str()),
        ("builders = []", trusted_builders.as_str()),
    ];
    for (from, to) in clocks.iter().chain(&trust) {
        assert!(text.contains(from), "fixture drift: {from}");
        text = text.replace(from, to);
    }
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// People of a small organisation, one role each.
pub const PEOPLE: &[(&str, &str)] = &[
    ("rita", "release-manager"),
    ("dev", "devops-engineer"),
    ("eli", "engineering-lead"),
    ("ella", "engineering-lead"),
    ("quinn", "qa-lead"),
    ("sam", "security-engineer"),
    ("omar", "sre"),
    ("pat", "product-owner"),
    ("cab1", "cab-member"),
    ("cab2", "cab-member"),
    ("pla", "platform-lead"),
    ("eve", "executive"),
];

pub fn init_with_people(tg: &Tg, profile: &str) {
    staff(tg, &["init", "--profile", profile, "--role", "release-manager"]);
}

/// The same organisation on a sandbox store, for a rehearsal.
pub fn init_sandbox_with_people(tg: &Tg, profile: &str) {
    staff(tg, &["init", "--sandbox", "--profile", profile, "--role", "release-manager"]);
}

fn staff(tg: &Tg, init: &[&str]) {
    tg.ok("rita", init);
    for (name, role) in &PEOPLE[1..] {
        tg.ok("rita", &["person", "add", name, "--role", role]);
    }
}

/// A minor release of payments created by eli, its window opening in two seconds; its id.
pub fn minor_release(tg: &Tg, version: &str) -> String {
    let v = tg.json(
        "eli",
        &[
            "release",
            "create",
            "--service",
            "payments",
            "--version",
            version,
            "--type",
            "minor",
            "--title",
            "Faster refunds",
            "--window-start",
            "+2s",
            "--window-end",
            "+1h",
        ],
    );
    v["id"].as_str().unwrap().to_owned()
}
