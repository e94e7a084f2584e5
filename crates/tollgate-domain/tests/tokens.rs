//! Personal API tokens: who may issue and revoke them. Given / when / then, no IO.

mod support;

use chrono::Duration;
use support::*;
use tollgate_domain::{Command, Event};

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn create(id: &str, person: &str, expires_in: Option<Duration>, w: &World) -> Command {
    Command::CreateToken {
        id: id.into(),
        person: person.into(),
        sha256: HASH.into(),
        expires: expires_in.map(|d| w.now + d),
    }
}

fn revoke(id: &str) -> Command {
    Command::RevokeToken { id: id.into(), reason: Some("laptop lost".into()) }
}

#[test]
fn an_administrator_issues_a_token_for_a_person_and_the_state_keeps_only_its_hash() {
    // Given the QMS profile, where release managers administer people
    let mut w = World::qms();
    // When rita issues a token for sam expiring in 90 days
    let command = create("00112233aabbccdd", "sam", Some(Duration::days(90)), &w);
    let events = w.ok("rita", command);
    // Then it is recorded, and the state knows whose it is, who issued it and its hash
    assert!(matches!(&events[..], [Event::TokenCreated { person, .. }] if person == "sam"));
    let token = &w.state.tokens["00112233aabbccdd"];
    assert_eq!((token.person.as_str(), token.created_by.as_str(), token.sha256.as_str()), ("sam", "rita", HASH));
    // (the rehearsal clock ticks a second per command)
    assert!(token.expires.unwrap() > token.created_at + Duration::days(89));
    assert_eq!(token.revoked, None);
}

#[test]
fn a_non_administrator_may_not_issue_a_token_even_for_themself() {
    let mut w = World::qms();
    let command = create("00112233aabbccdd", "sam", None, &w);
    let refused = w.refused("sam", command);
    assert_eq!(refused[0].rule, "role");
    assert!(refused[0].reason.contains("administer-people"), "{}", refused[0].reason);
}

#[test]
fn a_token_for_an_unknown_person_a_past_expiry_a_reused_id_or_a_bad_hash_is_invalid() {
    let mut w = World::qms();
    let why = w.invalid("rita", create("00112233aabbccdd", "nobody", None, &w));
    assert!(why[0].contains("unknown person `nobody`"), "{why:?}");
    let why = w.invalid("rita", create("00112233aabbccdd", "sam", Some(Duration::seconds(-1)), &w));
    assert!(why[0].contains("not in the future"), "{why:?}");
    let why = w.invalid("rita", create("not-hex", "sam", None, &w));
    assert!(why[0].contains("is not a token id"), "{why:?}");
    let why = w.invalid(
        "rita",
        Command::CreateToken {
            id: "00112233aabbccdd".into(),
            person: "sam".into(),
            sha256: "abc".into(),
            expires: None,
        },
    );
    assert!(why[0].contains("not 64 lower-case hex"), "{why:?}");
    w.ok("rita", create("00112233aabbccdd", "sam", None, &w));
    let why = w.invalid("rita", create("00112233aabbccdd", "quinn", None, &w));
    assert!(why[0].contains("already exists"), "{why:?}");
}

#[test]
fn a_token_is_revoked_by_its_person_or_an_administrator_and_only_once() {
    // Given tokens for sam and quinn
    let mut w = World::qms();
    w.ok("rita", create("000000000000000a", "sam", None, &w));
    w.ok("rita", create("000000000000000b", "quinn", None, &w));
    w.pass(Duration::minutes(5));
    // When quinn tries to revoke sam's, then it is refused
    let refused = w.refused("quinn", revoke("000000000000000a"));
    assert_eq!(refused[0].rule, "token:own-or-administrator");
    // Sam revokes their own, and rita revokes quinn's
    w.ok("sam", revoke("000000000000000a"));
    w.ok("rita", revoke("000000000000000b"));
    assert!(matches!(&w.state.tokens["000000000000000a"].revoked, Some((_, by)) if by == "sam"));
    // Revoking again is refused, naming who revoked it
    let refused = w.refused("rita", revoke("000000000000000a"));
    assert_eq!(refused[0].rule, "token:revoked-once");
    assert!(refused[0].reason.contains("already revoked by sam"), "{}", refused[0].reason);
    assert!(w.invalid("rita", revoke("00000000000000ff"))[0].contains("unknown token"));
}
