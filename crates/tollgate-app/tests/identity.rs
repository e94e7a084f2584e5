//! A bearer token authenticates its person, on the clock it is checked at: expiry, revocation,
//! a wrong secret and a person no longer on record are each refused with their own reason.

use std::sync::Arc;

use chrono::Duration;
use tollgate_app::identity::{AuthError, authenticate, new_token};
use tollgate_app::{App, Clock, ManualClock, When};
use tollgate_domain::{Command, Timestamp, playbook};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn a_token_authenticates_its_person_until_it_expires_or_is_revoked() {
    // Given a store on a manual clock, and two tokens for eli, one expiring in an hour
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-11-02T09:00:00Z"));
    let mut app = App::create(&dir.path().join("t.db")).unwrap().with_clock(Arc::new(clock.clone()));
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let profile = Arc::new(tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap());
    let people: &[(&str, &[&str])] = &[("rita", &["release-manager"]), ("eli", &["engineering-lead"])];
    for (actor, command) in playbook::staffing(profile, people) {
        app.execute(&actor, &When::Now, &command).unwrap();
    }
    let issue = |app: &mut App<_>, id: &str, expires: Option<Timestamp>| {
        let (token, sha256) = new_token(id, &[7; 32]);
        let command = Command::CreateToken { id: id.into(), person: "eli".into(), sha256, expires };
        app.execute("rita", &When::Now, &command).unwrap();
        token
    };
    let lasting = issue(&mut app, "0000000000000001", None);
    let expiring = issue(&mut app, "0000000000000002", Some(at("2026-11-02T10:00:00Z")));
    let now = clock.now();
    // Then both are eli's now
    assert_eq!(authenticate(app.state(), None, &lasting, now).unwrap().name, "eli");
    assert_eq!(authenticate(app.state(), None, &expiring, now).unwrap().name, "eli");
    // When the hour has passed, the expiring one no longer is
    let later = now + Duration::hours(1);
    assert!(matches!(authenticate(app.state(), None, &expiring, later), Err(AuthError::Expired { .. })));
    assert_eq!(authenticate(app.state(), None, &lasting, later).unwrap().name, "eli");
    // A wrong secret, an unknown id and something else entirely are refused, each saying so
    let forged = format!("{}0", &lasting[..lasting.len() - 1]);
    assert_eq!(authenticate(app.state(), None, &forged, now), Err(AuthError::Mismatch("0000000000000001".into())));
    let unknown = lasting.replace("0000000000000001", "00000000000000ff");
    assert_eq!(authenticate(app.state(), None, &unknown, now), Err(AuthError::Unknown("00000000000000ff".into())));
    assert_eq!(authenticate(app.state(), None, "eyJhbGciOiJub25lIn0.e30.", now), Err(AuthError::Malformed));
    // When the lasting one is revoked, it stops authenticating
    let revoke = Command::RevokeToken { id: "0000000000000001".into(), reason: Some("left the team".into()) };
    app.execute("rita", &When::Now, &revoke).unwrap();
    assert!(matches!(authenticate(app.state(), None, &lasting, now), Err(AuthError::Revoked { .. })));
}
