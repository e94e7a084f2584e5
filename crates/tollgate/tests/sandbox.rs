//! Sandbox stores through the binary: `tollgate init --sandbox`, `tollgate clock`, and the mark
//! a sandbox leaves on every answer, checkpoint, audit and report, embedded and through the
//! server. The rehearsals of whole releases on a sandbox are in `tests/cli.rs`.

mod support;

use support::*;

const BANNER: &str = "SANDBOX — rehearsal store, not a record of real releases\n";

fn sandbox() -> Tg {
    let tg = Tg::new();
    init_sandbox_with_people(&tg, "qms-dev-pro-004");
    tg
}

fn real() -> Tg {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    tg
}

/// `release create` of a minor payments release, as eli, with its window as given.
fn create(tg: &Tg, window: &[&str]) -> std::process::Output {
    let mut args = vec!["release", "create", "--service", "payments", "--version", "1", "--type", "minor"];
    args.extend(["--title", "t"]);
    args.extend(window);
    tg.run("eli", &args)
}

/// The id `create` answers with, alone on standard output.
fn created(out: std::process::Output) -> String {
    check(&out, 0, &["release create"]);
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

fn time(v: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str().unwrap().parse().unwrap()
}

fn system_now() -> chrono::DateTime<chrono::Utc> {
    std::time::SystemTime::now().into()
}

/// Runs `test` on a new store made by `store`, embedded and then through the server.
fn embedded_and_served(store: fn() -> Tg, test: impl Fn(&Tg, bool)) {
    for remote in [false, true] {
        let tg = store();
        if remote {
            tg.serve("rita");
        }
        test(&tg, remote);
    }
}

#[test]
fn clock_advance_is_refused_on_a_real_store_and_writes_nothing() {
    // Given a real store
    embedded_and_served(real, |tg, remote| {
        if remote {
            // Rita's token is issued on her first command.
            tg.ok("rita", &["clock", "show"]);
        }
        let before = tg.events();
        // When its clock is advanced
        let out = tg.run("rita", &["clock", "advance", "3", "days"]);
        // Then the procedure refuses, naming the rule, and nothing is written
        check(&out, 3, &["clock advance on a real store"]);
        let why = stderr(&out);
        assert!(why.contains("[real-clock] this is a real store"), "{why}");
        assert!(why.contains("tollgate init --sandbox"), "{why}");
        assert!(!why.contains("SANDBOX"), "{why}");
        assert_eq!(tg.events(), before);
        let clock = tg.json("rita", &["clock", "show"]);
        assert_eq!((&clock["sandbox"], &clock["offset_seconds"]), (&false.into(), &0.into()));
    });
}

#[test]
fn a_real_store_records_at_the_system_clock() {
    // The one check on the real clock: no sleeping, the time is bracketed.
    let tg = real();
    let before = system_now();
    let id = created(create(&tg, &["--window-start", "+2 weeks"]));
    let after = system_now();
    let log = tg.json("rita", &["audit", "log", "--release", &id]);
    let created = time(&log[0]["event"]["at"]);
    assert!(before <= created && created <= after, "{before} <= {created} <= {after}");
    assert!(tg.json("rita", &["release", "show", &id]).get("sandbox").is_none(), "a real store's answers are unmarked");
}

#[test]
fn a_sandbox_decides_at_its_own_clock_embedded_and_through_the_server() {
    // Given a sandbox, its clock three days and two hours ahead
    embedded_and_served(sandbox, |tg, _| {
        let advanced = tg.advance("3 days");
        assert_eq!((&advanced["by"], &advanced["sandbox"]), (&"3 days".into(), &true.into()));
        tg.advance("+2h");
        // When a release is created now, and its window given relative to now
        let before = system_now();
        let id = created(create(tg, &["--window-start", "+8 days", "--window-end", "+9 days"]));
        // Then both count from the sandbox's clock, which every process reads from the log
        let offset = chrono::Duration::days(3) + chrono::Duration::hours(2);
        let clock = tg.json("rita", &["clock", "show"]);
        assert_eq!((&clock["offset"], &clock["offset_seconds"]), (&"3 days 2h".into(), &offset.num_seconds().into()));
        let now = time(&clock["now"]);
        assert!(before + offset <= now && now <= system_now() + offset, "{now}");
        let log = tg.json("rita", &["audit", "log", "--release", &id]);
        let created = time(&log[0]["event"]["at"]);
        assert!(before + offset <= created && created <= now, "{created}");
        let show = tg.json("rita", &["release", "show", &id]);
        let start = time(&show["window_start"]);
        assert_eq!((start - created).num_days(), 8, "{show}");
        // And the clock never moves backwards, nor by nothing
        let out = tg.run("rita", &["clock", "advance", "0s"]);
        check(&out, 1, &["clock advance 0s"]);
        assert!(stderr(&out).contains("positive span"), "{}", stderr(&out));
    });
}

#[test]
fn every_answer_of_a_sandbox_is_marked_and_stdout_stays_parseable() {
    embedded_and_served(sandbox, |tg, _| {
        // Text: the banner first, on standard error; standard output is the answer alone.
        let out = create(tg, &["--window-start", "+8 days"]);
        check(&out, 0, &["release create"]);
        assert!(stderr(&out).starts_with(BANNER), "{}", stderr(&out));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "R-1\n");
        // JSON: an object says `sandbox: true`, failures included; a list is marked by the banner.
        assert_eq!(tg.json("rita", &["release", "show", "R-1"])["sandbox"], true);
        let failed = tg.run("rita", &["--json", "release", "show", "R-9"]);
        check(&failed, 1, &["release show R-9"]);
        let failed: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
        assert_eq!((&failed["error"], &failed["sandbox"]), (&"invalid".into(), &true.into()));
        let list = tg.run("rita", &["--json", "release", "list"]);
        assert!(serde_json::from_slice::<serde_json::Value>(&list.stdout).unwrap().is_array());
        assert!(stderr(&list).starts_with(BANNER), "{}", stderr(&list));
        // The pipeline's gate answers as the procedure would, and says whose answer it is.
        let digest = format!("sha256:{}", "ab".repeat(32));
        tg.ok("dev", &["artefact", "add", "R-1", "--name", "payments", "--digest", &digest]);
        let (yes, answer) = tg.answer("dev", &["check", "--service", "payments", "--artefact", &digest, "--env", "qa"]);
        assert!(!yes);
        assert_eq!(answer["sandbox"], true);
        let text = tg.expect(3, "dev", &["check", "--service", "payments", "--artefact", &digest, "--env", "qa"]);
        assert!(text.starts_with("SANDBOX NO: payments"), "{text}");
    });
}

#[test]
fn the_sandbox_mark_survives_audit_verify_on_a_copy() {
    // Given a sandbox with a rehearsal on it, copied for an auditor (no signing key)
    let tg = sandbox();
    tg.advance("1 business day");
    let copy = tg.path("copy");
    std::fs::create_dir(&copy).unwrap();
    for suffix in ["", ".pub", ".checkpoint"] {
        let name = format!("tollgate.db{suffix}");
        std::fs::copy(tg.path(&name), copy.join(&name)).unwrap();
    }
    let db = copy.join("tollgate.db");
    let key = tg.path("tollgate.db.pub");
    let verify = |json: bool| {
        let mut cmd = assert_cmd::Command::cargo_bin("tollgate").unwrap();
        cmd.env_remove("TOLLGATE_SERVER").env_remove("TOLLGATE_NOW").env("TOLLGATE_DB", &db);
        if json {
            cmd.arg("--json");
        }
        cmd.args(["audit", "verify", "--key", key.to_str().unwrap()]).output().unwrap()
    };
    // When the auditor verifies the copy with the key they were given
    let out = verify(true);
    check(&out, 0, &["audit verify on the copy"]);
    // Then it is intact, and a sandbox, by its origin and its facts
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&v["intact"], &v["sandbox"]), (&true.into(), &true.into()));
    assert!(v["origin"].as_str().unwrap().starts_with("tollgate-sandbox/"), "{v}");
    let out = verify(false);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with("SANDBOX: tollgate-sandbox/") && text.contains("\nintact: "), "{text}");
    assert!(stderr(&out).starts_with(BANNER), "{}", stderr(&out));
    // And every fact of the log says so itself
    let log = tg.json("auditor", &["audit", "log"]);
    let log = log.as_array().unwrap();
    assert_eq!(log[0]["event"]["event"]["type"], "sandbox.opened");
    assert!(log.iter().all(|e| e["event"]["sandbox"] == true), "every fact is marked");
    assert!(log.iter().any(|e| e["event"]["event"]["type"] == "sandbox.clock_advanced"));
}

#[test]
fn a_sandbox_checkpoint_cannot_verify_as_a_real_stores() {
    // Given a real store and a sandbox, each with its signed checkpoint
    let (real, sandbox) = (real(), sandbox());
    let kept = sandbox.ok("auditor", &["audit", "checkpoint"]);
    assert!(kept.starts_with("tollgate-sandbox/"), "the checkpoint names the sandbox: {kept}");
    assert!(real.ok("auditor", &["audit", "checkpoint"]).starts_with("tollgate/"));
    let file = real.path("sandbox.checkpoint");
    std::fs::write(&file, &kept).unwrap();
    // When the real store is verified against the sandbox's checkpoint, or the sandbox's key
    let out = real.run("auditor", &["audit", "verify", "--checkpoint", file.to_str().unwrap()]);
    // Then neither verifies: the origins differ
    check(&out, 4, &["audit verify --checkpoint of a sandbox"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with("NOT INTACT") && text.contains("the external checkpoint does not verify"), "{text}");
    assert!(text.contains("it is a checkpoint of the log tollgate-sandbox/"), "{text}");
    let key = sandbox.path("tollgate.db.pub");
    let out = real.run("auditor", &["--json", "audit", "verify", "--key", key.to_str().unwrap()]);
    check(&out, 4, &["audit verify --key of a sandbox"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&v["intact"], &v["sandbox"]), (&false.into(), &false.into()));
}

#[test]
fn a_report_of_a_sandbox_carries_the_mark_on_every_page() {
    let tg = sandbox();
    for (format, file) in [("html", "r.html"), ("md", "r.md")] {
        let path = tg.path(file);
        tg.ok("rita", &["report", "weekly", "--format", format, "--out", path.to_str().unwrap()]);
        let text = std::fs::read_to_string(&path).unwrap();
        match format {
            "html" => {
                assert!(text.contains("<title>SANDBOX — Weekly"), "{}", &text[..400]);
                assert!(text.contains("<div class=\"watermark\" aria-hidden=\"true\">SANDBOX</div>"));
                assert!(
                    text.contains("<p class=\"sandbox\">SANDBOX — rehearsal store, not a record of real releases</p>")
                );
            }
            _ => assert!(
                text.starts_with("# SANDBOX — Weekly") && text.contains("> **SANDBOX — rehearsal store"),
                "{}",
                &text[..200]
            ),
        }
    }
    let real = real();
    let path = real.path("r.md");
    real.ok("rita", &["report", "weekly", "--format", "md", "--out", path.to_str().unwrap()]);
    assert!(!std::fs::read_to_string(&path).unwrap().contains("SANDBOX"));
}
