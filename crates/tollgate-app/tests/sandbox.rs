//! Sandbox stores in the application layer: a sandbox records on its own clock, which every
//! process replaying the log keeps; its ledger takes only a sandbox's facts, and no log takes a
//! fact of the other kind.

mod support;

use chrono::Duration;
use tollgate_app::{App, AppError, Clock, ManualClock, When, codec};
use tollgate_domain::{Command, Fact, Rejection, Timestamp};
use tollgate_ledger::{Expectation, Ledger, NewRecord, SqliteLedger};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn advance(span: &str) -> Command {
    Command::AdvanceClock { by: span.parse().unwrap() }
}

fn add(name: &str) -> Command {
    Command::AddPerson { name: name.into(), roles: ["sre".to_owned()].into() }
}

/// Every stored payload of `ledger`, with its stream, in log order.
fn records(ledger: &impl Ledger) -> Vec<NewRecord> {
    let mut out = Vec::new();
    ledger
        .scan_frames(0, &mut |f| {
            out.push(NewRecord { stream: f.stream.to_owned(), payload: f.payload.to_vec() });
            Ok(())
        })
        .unwrap();
    out
}

/// A ledger of `origin` holding `records` as they are, hashed and signed as if written there.
fn ledger_of(origin: &str, records: &[NewRecord]) -> SqliteLedger {
    let mut ledger = SqliteLedger::in_memory(origin).unwrap();
    for r in records {
        let version = ledger.stream_version(&r.stream).unwrap();
        let expect = [Expectation { stream: r.stream.clone(), version }];
        ledger.append(&expect, std::slice::from_ref(r), 0).unwrap();
    }
    ledger
}

fn unreadable(result: Result<App<SqliteLedger>, AppError>) -> String {
    match result {
        Err(AppError::Unreadable { message, .. }) => message,
        Err(other) => panic!("expected the log to be unreadable, got {other}"),
        Ok(_) => panic!("expected the log to be unreadable, it replayed"),
    }
}

#[test]
fn a_sandbox_records_on_its_own_clock_and_every_process_keeps_it() {
    // Given a sandbox whose machine clock reads 09:00
    let dir = tempfile::tempdir().unwrap();
    let (mut app, clock) = support::staffed_sandbox(dir.path(), "2026-11-02T09:00:00Z");
    assert_eq!(app.ledger().origin().split('/').next(), Some("tollgate-sandbox"));
    // When its clock is advanced by three days and a fact recorded now
    app.execute("rita", &When::Now, &advance("3 days")).unwrap();
    let recorded = app.execute("rita", &When::Now, &add("omar")).unwrap();
    // Then the fact happened, and was recorded, three days on
    assert_eq!(recorded.facts[0].at, at("2026-11-05T09:00:00Z"));
    // And another process opening the store, on the same machine clock, records at the same time
    let mut other = App::open(&dir.path().join("t.db")).unwrap().with_clock(std::sync::Arc::new(clock.clone()));
    assert_eq!(other.state().clock_offset(), Duration::days(3));
    clock.advance(Duration::hours(2));
    let later = other.execute("rita", &When::Now, &add("oscar")).unwrap();
    assert_eq!(later.facts[0].at, at("2026-11-05T11:00:00Z"));
    // And a fact recorded late is judged against the sandbox's clock, not the machine's (by
    // which it would be days in the future)
    let late = When::At { happened: at("2026-11-05T11:00:00Z") - Duration::minutes(90), late_reason: None };
    match other.execute("rita", &late, &add("olga")) {
        Err(AppError::Rejected(Rejection::Invalid(why))) => assert!(why[0].contains("--late-reason"), "{why:?}"),
        other => panic!("expected a late fact to need a reason, got {:?}", other.map(|r| r.size)),
    }
}

#[test]
fn a_real_store_refuses_to_advance_its_clock_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _) = support::staffed_store(dir.path(), "2026-11-02T09:00:00Z");
    let before = app.ledger().size().unwrap();
    match app.execute("rita", &When::Now, &advance("3 days")) {
        Err(AppError::Rejected(Rejection::Refused(r))) => assert_eq!(r[0].rule, "real-clock"),
        other => panic!("expected a refusal, got {:?}", other.map(|r| r.size)),
    }
    assert_eq!(app.ledger().size().unwrap(), before);
    assert_eq!(app.state().clock_offset(), Duration::zero());
}

#[test]
fn a_ledger_takes_only_the_kind_of_store_it_was_created_as() {
    let dir = tempfile::tempdir().unwrap();
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let profile = std::sync::Arc::new(tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap());
    let init = |sandbox| Command::Init { profile: profile.clone(), roles: ["release-manager".into()].into(), sandbox };
    for (created_as_sandbox, name) in [(true, "s.db"), (false, "r.db")] {
        let mut app = App::create_as(&dir.path().join(name), created_as_sandbox)
            .unwrap()
            .with_clock(std::sync::Arc::new(ManualClock::new(at("2026-11-02T09:00:00Z"))));
        match app.execute("rita", &When::Now, &init(!created_as_sandbox)) {
            Err(AppError::Rejected(Rejection::Invalid(why))) => {
                assert!(why[0].contains("tollgate init"), "{why:?}")
            }
            other => panic!("expected the other kind of init to be refused, got {:?}", other.map(|r| r.size)),
        }
        assert_eq!(app.ledger().size().unwrap(), 0, "nothing written");
    }
}

#[test]
fn facts_copied_between_a_sandbox_and_a_real_store_do_not_replay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("s")).unwrap();
    std::fs::create_dir(dir.path().join("r")).unwrap();
    let (sandbox, _) = support::staffed_sandbox(&dir.path().join("s"), "2026-11-02T09:00:00Z");
    let (real, _) = support::staffed_store(&dir.path().join("r"), "2026-11-02T09:00:00Z");
    let (sandboxed, real) = (records(sandbox.ledger()), records(real.ledger()));
    assert!(sandboxed.iter().all(|r| r.payload.starts_with(br#"{"v":1,"sandbox":true,"#)));
    // A sandbox's whole log under a real store's origin
    let why = unreadable(App::from_ledger(ledger_of("tollgate/0123", &sandboxed)));
    assert!(why.contains("origin tollgate/0123 is a real store's"), "{why}");
    // A real store's whole log under a sandbox's origin
    let why = unreadable(App::from_ledger(ledger_of("tollgate-sandbox/0123", &real)));
    assert!(why.contains("names a sandbox, but its first fact does not open one"), "{why}");
    // One sandbox fact in a real log, and one real fact in a sandbox's
    let person = |sandbox| NewRecord {
        stream: "person/omar".into(),
        payload: codec::encode(
            &Fact {
                at: at("2026-11-02T10:00:00Z"),
                actor: "rita".into(),
                event: tollgate_domain::Event::PersonAdded { name: "omar".into(), roles: ["sre".into()].into() },
            },
            "1.0",
            None,
            sandbox,
        ),
    };
    let why = unreadable(App::from_ledger(ledger_of("tollgate/0123", &[real.clone(), vec![person(true)]].concat())));
    assert!(why.contains("marked as a sandbox's, in the log of a real store"), "{why}");
    let why = unreadable(App::from_ledger(ledger_of(
        "tollgate-sandbox/0123",
        &[sandboxed.clone(), vec![person(false)]].concat(),
    )));
    assert!(why.contains("without the sandbox mark, in the log of a sandbox"), "{why}");
}

#[test]
fn a_token_on_a_sandbox_expires_on_the_sandbox_clock() {
    // Given a sandbox and eli's token expiring a day from the sandbox's now
    let dir = tempfile::tempdir().unwrap();
    let (mut app, clock) = support::staffed_sandbox(dir.path(), "2026-11-02T09:00:00Z");
    let tollgate_app::identity::token::NewToken { id, token, sha256 } =
        tollgate_app::identity::token::generate().unwrap();
    let expires = Some(at("2026-11-03T09:00:00Z"));
    app.execute("rita", &When::Now, &Command::CreateToken { id, person: "eli".into(), sha256, expires }).unwrap();
    let check = |app: &App<SqliteLedger>| tollgate_app::identity::authenticate(app.state(), None, &token, clock.now());
    assert_eq!(check(&app).unwrap().name, "eli");
    // When the sandbox's clock is advanced two days (the machine's has not moved)
    app.execute("rita", &When::Now, &advance("2 days")).unwrap();
    // Then the token has expired
    assert!(matches!(check(&app), Err(tollgate_app::identity::AuthError::TokenExpired { .. })), "{:?}", check(&app));
}
