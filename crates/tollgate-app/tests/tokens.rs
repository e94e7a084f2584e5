//! A bearer token authenticates its person, on the clock it is checked at: expiry, revocation,
//! a wrong secret and a person no longer on record are each refused with their own reason.

mod support;

use chrono::Duration;
use tollgate_app::identity::{AuthError, authenticate, token};
use tollgate_app::{App, Clock, When};
use tollgate_domain::{Command, Timestamp};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn a_token_authenticates_its_person_until_it_expires_or_is_revoked() {
    // Given a store on a manual clock, and two tokens for eli, one expiring in an hour
    let dir = tempfile::tempdir().unwrap();
    let (mut app, clock) = support::staffed_store(dir.path(), "2026-11-02T09:00:00Z");
    let issue = |app: &mut App<_>, expires: Option<Timestamp>| {
        let token::NewToken { id, token, sha256 } = token::generate().unwrap();
        let command = Command::CreateToken { id: id.clone(), person: "eli".into(), sha256, expires };
        app.execute("rita", &When::Now, &command).unwrap();
        (id, token)
    };
    let (lasting_id, lasting) = issue(&mut app, None);
    let (_, expiring) = issue(&mut app, Some(at("2026-11-02T10:00:00Z")));
    let now = clock.now();
    // Then both are eli's now
    assert_eq!(authenticate(app.state(), None, &lasting, now).unwrap().name, "eli");
    assert_eq!(authenticate(app.state(), None, &expiring, now).unwrap().name, "eli");
    // When the hour has passed, the expiring one no longer is
    let later = now + Duration::hours(1);
    assert!(matches!(authenticate(app.state(), None, &expiring, later), Err(AuthError::TokenExpired { .. })));
    assert_eq!(authenticate(app.state(), None, &lasting, later).unwrap().name, "eli");
    // A wrong secret, an unknown id and something else entirely are refused, each saying so
    let last = if lasting.ends_with('A') { "B" } else { "A" };
    let forged = format!("{}{last}", &lasting[..lasting.len() - 1]);
    assert_eq!(authenticate(app.state(), None, &forged, now), Err(AuthError::WrongSecret { id: lasting_id.clone() }));
    let unknown = lasting.replace(&lasting_id, "00000000000000ff");
    assert_eq!(
        authenticate(app.state(), None, &unknown, now),
        Err(AuthError::UnknownToken { id: "00000000000000ff".into() })
    );
    assert_eq!(authenticate(app.state(), None, "tgt_short", now), Err(AuthError::MalformedToken));
    assert_eq!(authenticate(app.state(), None, "eyJhbGciOiJub25lIn0.e30.", now), Err(AuthError::OidcNotConfigured));
    // When the lasting one is revoked, it stops authenticating
    let revoke = Command::RevokeToken { id: lasting_id, reason: Some("left the team".into()) };
    app.execute("rita", &When::Now, &revoke).unwrap();
    assert!(matches!(authenticate(app.state(), None, &lasting, now), Err(AuthError::TokenRevoked { .. })));
}

#[test]
fn a_token_use_is_recorded_once_a_day_as_its_person_and_only_while_it_is_valid() {
    // Given eli's token, expiring in two days
    let dir = tempfile::tempdir().unwrap();
    let (mut app, clock) = support::staffed_store(dir.path(), "2026-11-02T09:00:00Z");
    let token::NewToken { id, sha256, .. } = token::generate().unwrap();
    let expires = Some(at("2026-11-04T09:00:00Z"));
    let create = Command::CreateToken { id: id.clone(), person: "eli".into(), sha256, expires };
    app.execute("rita", &When::Now, &create).unwrap();
    let used = Command::RecordTokenUse { id: id.clone() };
    // When eli uses it, the first use of the day is recorded, later ones that day are not
    assert_eq!(app.execute("eli", &When::Now, &used).unwrap().facts.len(), 1);
    clock.advance(Duration::hours(3));
    assert!(app.execute("eli", &When::Now, &used).unwrap().facts.is_empty());
    assert_eq!(app.state().tokens[&id].last_used, Some(at("2026-11-02T09:00:00Z")));
    // The next day's first use is
    clock.advance(Duration::hours(21));
    assert_eq!(app.execute("eli", &When::Now, &used).unwrap().facts.len(), 1);
    assert_eq!(app.state().tokens[&id].last_used, Some(at("2026-11-03T09:00:00Z")));
    // Nobody records a use of another's token, nor of an expired one
    let refused = |app: &mut App<_>, actor: &str| match app.execute(actor, &When::Now, &used) {
        Err(tollgate_app::AppError::Rejected(r)) => r.to_string(),
        other => panic!("{:?}", other.map(|r| r.facts)),
    };
    assert!(refused(&mut app, "rita").contains("token:own-use"));
    clock.advance(Duration::days(2));
    assert!(refused(&mut app, "eli").contains("token:expired"));
}
