//! The application layer records on the clock it is given: `When::Now` is the clock's time,
//! read afresh for every command; a fact recorded after it happened is held to the profile.

mod support;

use chrono::Duration;
use tollgate_app::{AppError, When};
use tollgate_domain::{Command, Rejection, Timestamp};
use tollgate_ledger::Ledger;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn facts_are_recorded_on_the_injected_clock_and_late_ones_are_held_to_the_profile() {
    // Given a store whose recording clock is a manual one
    let dir = tempfile::tempdir().unwrap();
    let (mut app, clock) = support::staffed_store(dir.path(), "2026-11-02T09:00:00Z");
    // When time passes and a fact is recorded now, it happened and was recorded at the clock's time
    clock.advance(Duration::hours(3));
    let add = |name: &str| Command::AddPerson { name: name.into(), roles: ["sre".to_owned()].into() };
    let recorded = app.execute("rita", &When::Now, &add("omar")).unwrap();
    assert_eq!(recorded.facts[0].at, at("2026-11-02T12:00:00Z"));
    let mut stamps = Vec::new();
    app.ledger()
        .scan_frames(recorded.first_seq, &mut |f| {
            stamps.push(f.recorded_at);
            Ok(())
        })
        .unwrap();
    assert_eq!(stamps, [at("2026-11-02T12:00:00Z").timestamp_micros()]);
    // and one that happened two hours ago needs the reason it is late; two days ago is refused
    let two_hours_ago = When::At { happened: at("2026-11-02T10:00:00Z"), late_reason: None };
    let before = app.ledger().size().unwrap();
    match app.execute("rita", &two_hours_ago, &add("oscar")) {
        Err(AppError::Rejected(Rejection::Invalid(why))) => assert!(why[0].contains("--late-reason"), "{why:?}"),
        other => panic!("expected a late fact to need a reason, got {:?}", other.map(|r| r.size)),
    }
    clock.advance(Duration::days(2));
    let late = When::At { happened: at("2026-11-02T12:30:00Z"), late_reason: Some("typed in afterwards".into()) };
    match app.execute("rita", &late, &add("oscar")) {
        Err(AppError::Rejected(Rejection::Refused(r))) => assert_eq!(r[0].rule, "recording.max-lateness"),
        other => panic!("expected a refusal, got {:?}", other.map(|r| r.size)),
    }
    assert_eq!(app.ledger().size().unwrap(), before, "nothing refused was written");
}
