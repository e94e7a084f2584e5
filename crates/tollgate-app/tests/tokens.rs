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
