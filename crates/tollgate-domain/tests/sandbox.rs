//! Sandbox stores in the domain: opened by `init` in the first fact, their clock advanced only
//! forward and only on a sandbox, and the offset replayed from the facts.

mod support;

use std::sync::Arc;

use chrono::Duration;
use support::*;
use tollgate_domain::{Command, Event, Span, State, evolve};

fn profile() -> Arc<tollgate_domain::Profile> {
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    Arc::new(tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap())
}

fn init(sandbox: bool) -> Command {
    Command::Init { profile: profile(), roles: ["release-manager".into()].into(), sandbox }
}

fn advance(span: &str) -> Command {
    Command::AdvanceClock { by: span.parse().unwrap() }
}

fn empty() -> World {
    World::with_profile((*profile()).clone(), &[])
}

#[test]
fn a_sandbox_says_so_in_its_first_fact() {
    // Given an empty store
    let mut w = empty();
    // When it is initialised as a sandbox
    let events = w.ok("rita", init(true));
    // Then the sandbox is opened before anything else is recorded, and the state knows it
    assert_eq!(events[0], Event::SandboxOpened);
    assert!(matches!(events[1], Event::ProfileAdopted(_)));
    assert!(w.state.is_sandbox());
    assert_eq!(w.state.clock_offset(), Duration::zero());
}

#[test]
fn a_real_store_has_no_clock_to_advance() {
    // Given a real store
    let mut w = empty();
    assert!(!w.ok("rita", init(false)).contains(&Event::SandboxOpened));
    // When its clock is advanced
    let refused = w.refused("rita", advance("3 days"));
    // Then the procedure refuses by the rule, and nothing changed
    assert_eq!(rules(&refused), ["real-clock".to_owned()].into());
    assert!(refused[0].reason.contains("tollgate init --sandbox"), "{}", refused[0].reason);
    assert_eq!(w.state.clock_offset(), Duration::zero());
}

#[test]
fn advances_add_up_and_the_offset_replays_from_the_facts() {
    // Given a sandbox on a Friday
    let mut w = empty();
    w.now = at("2026-11-06T10:00:00Z");
    w.ok("rita", init(true));
    // When its clock is advanced twice, once by business days over a weekend
    let first = w.ok("rita", advance("3s"));
    assert_eq!(first, [Event::SandboxClockAdvanced { by: Duration::seconds(3), offset: Duration::seconds(3) }]);
    w.pass(Duration::seconds(3));
    let second = w.ok("rita", advance("1 business day"));
    // Then Friday to Monday is three days, and the offset is the sum
    assert_eq!(
        second,
        [Event::SandboxClockAdvanced { by: Duration::days(3), offset: Duration::days(3) + Duration::seconds(3) }]
    );
    // And replaying the facts gives the same offset
    let mut replayed = State::default();
    for fact in &w.facts {
        evolve(&mut replayed, fact).unwrap();
    }
    assert_eq!(replayed.clock_offset(), Duration::days(3) + Duration::seconds(3));
}

#[test]
fn the_clock_moves_only_forward_and_only_for_people_on_record() {
    let mut w = empty();
    w.ok("rita", init(true));
    let zero = w.invalid("rita", Command::AdvanceClock { by: Span::ZERO });
    assert!(zero[0].contains("positive span"), "{zero:?}");
    let stranger = w.invalid("mallory", advance("1h"));
    assert!(stranger[0].contains("not a known person"), "{stranger:?}");
    // Nor beyond the years the log can write.
    w.now = at("9999-06-01T00:00:00Z");
    let far = w.invalid("rita", advance("52 weeks"));
    assert!(far[0].contains("year 9999"), "{far:?}");
}

#[test]
fn a_sandbox_cannot_be_opened_on_a_store_with_a_past() {
    // Given a real store with facts
    let mut w = empty();
    w.ok("rita", init(false));
    // When a log went on to open a sandbox, or to advance the clock
    let fact = |event| tollgate_domain::Fact { at: w.now, actor: "rita".into(), event };
    let mut state = w.state.clone();
    // Then neither applies: such a log is not one Tollgate wrote
    assert!(evolve(&mut state, &fact(Event::SandboxOpened)).is_err());
    let advanced = Event::SandboxClockAdvanced { by: Duration::hours(1), offset: Duration::hours(1) };
    assert!(evolve(&mut state, &fact(advanced)).is_err());
}
