//! The Unleash target against the fake Unleash of `support::unleash`: one feature in one
//! project and environment, served with the Admin API's paths, JSON shapes and rules as
//! Unleash 7 has them.
//!
//! A shift returns only after its last answer, and the fake records each request before it
//! answers, so a test reads the fake's state and log after a shift without waiting on anything.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use serde_json::{Value, json};
use support::unleash::FakeUnleash;
use tollgate_rollout::{Shift, Target, TargetError, UnleashTarget};

const TOKEN: &str = "*:*.4f6a0c7b9e2d1f3a5c8b7e6d9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c";
const FEATURE: &str = "new-checkout";
const STRATEGIES: &str = "/api/admin/projects/default/features/new-checkout/environments/production/strategies";

/// The fake with the test's token and feature.
struct Fake(FakeUnleash);

impl std::ops::Deref for Fake {
    type Target = FakeUnleash;

    fn deref(&self) -> &FakeUnleash {
        &self.0
    }
}

impl Fake {
    fn start(enabled: bool, strategies: Vec<Value>) -> Fake {
        Fake(FakeUnleash::with(TOKEN, FEATURE, enabled, strategies))
    }

    fn target(&self) -> UnleashTarget {
        UnleashTarget::new(format!("{}/", self.url), TOKEN, FEATURE, "production", Duration::from_secs(10))
    }
}

fn shift(weight: u8) -> Shift {
    Shift {
        weight,
        artefact: "sha256:2222".into(),
        previous: Some("sha256:1111".into()),
        environment: "production".into(),
        release: "R-4".into(),
    }
}

fn strategy_path(id: &Value) -> String {
    format!("{STRATEGIES}/{}", id.as_str().unwrap())
}

const ENVIRONMENT: &str = "/api/admin/projects/default/features/new-checkout/environments/production";

#[test]
fn the_first_shift_creates_the_strategy_then_turns_the_environment_on() {
    let fake = Fake::start(false, Vec::new());
    fake.target().shift(&shift(5)).unwrap();
    assert_eq!(
        fake.log_from(0),
        [
            format!("GET {STRATEGIES}"),
            format!("POST {STRATEGIES}"),
            format!("POST {ENVIRONMENT}/on"),
            format!("GET {ENVIRONMENT}"),
        ]
    );
    let state = fake.state();
    assert!(state.enabled);
    assert_eq!(state.rollouts, ["5"], "no default rollout at 100% on the way");
    // Created before the environment went on, so Unleash added no default rollout at 100%.
    assert_eq!(state.strategies.len(), 1, "{:?}", state.strategies);
    let strategy = &state.strategies[0];
    assert_eq!(strategy["name"], "flexibleRollout");
    assert_eq!(strategy["title"], "Tollgate rollout");
    assert_eq!(strategy["disabled"], false);
    assert_eq!(strategy["constraints"], json!([]));
    assert_eq!(strategy["segments"], json!([]));
    assert_eq!(strategy["parameters"], json!({"rollout": "5", "stickiness": "default", "groupId": FEATURE}));
}

#[test]
fn later_shifts_update_the_same_strategy() {
    let fake = Fake::start(false, Vec::new());
    let target = fake.target();
    target.shift(&shift(5)).unwrap();
    let id = fake.state().strategies[0]["id"].clone();
    for weight in [25, 50, 100] {
        let from = fake.state().log.len();
        target.shift(&shift(weight)).unwrap();
        assert_eq!(
            fake.log_from(from),
            [
                format!("GET {STRATEGIES}"),
                format!("PATCH {}", strategy_path(&id)),
                format!("POST {ENVIRONMENT}/on"),
                format!("GET {ENVIRONMENT}"),
            ]
        );
        let state = fake.state();
        assert_eq!(state.strategies.len(), 1, "{:?}", state.strategies);
        assert_eq!(state.strategies[0]["id"], id);
        assert_eq!(state.strategies[0]["parameters"]["rollout"], weight.to_string());
    }
    assert_eq!(fake.rollouts(), ["5", "25", "50", "100"]);
    assert_eq!(fake.rollout().as_deref(), Some("100"));
}

#[test]
fn weight_0_keeps_the_strategy_at_rollout_0_and_the_environment_as_it_is() {
    let fake = Fake::start(false, Vec::new());
    let target = fake.target();
    target.shift(&shift(50)).unwrap();
    let from = fake.state().log.len();
    target.shift(&shift(0)).unwrap();
    let id = fake.state().strategies[0]["id"].clone();
    assert_eq!(
        fake.log_from(from),
        [format!("GET {STRATEGIES}"), format!("PATCH {}", strategy_path(&id)), format!("GET {ENVIRONMENT}")]
    );
    let state = fake.state();
    assert!(state.enabled, "a rollback leaves the flag on, at 0%");
    assert_eq!(state.strategies.len(), 1);
    assert_eq!(state.strategies[0]["parameters"], json!({"rollout": "0", "stickiness": "default", "groupId": FEATURE}));
    assert_eq!(state.strategies[0]["disabled"], false);
}

#[test]
fn weight_0_on_a_flag_that_is_off_records_the_strategy_and_leaves_it_off() {
    let fake = Fake::start(false, Vec::new());
    fake.target().shift(&shift(0)).unwrap();
    let state = fake.state();
    assert!(!state.enabled);
    assert_eq!(state.strategies.len(), 1);
    assert_eq!(state.strategies[0]["parameters"]["rollout"], "0");
    assert!(!state.log.iter().any(|l| l.ends_with("/on")), "{:?}", state.log);
}

#[test]
fn a_repeated_shift_changes_nothing() {
    let fake = Fake::start(false, Vec::new());
    let target = fake.target();
    target.shift(&shift(25)).unwrap();
    let before = fake.state().strategies.clone();
    let from = fake.state().log.len();
    target.shift(&shift(25)).unwrap();
    // Nothing to patch; `on` on an environment already on is a no-op in Unleash.
    assert_eq!(
        fake.log_from(from),
        [format!("GET {STRATEGIES}"), format!("POST {ENVIRONMENT}/on"), format!("GET {ENVIRONMENT}")]
    );
    assert_eq!(fake.state().strategies, before);
    assert_eq!(fake.rollouts(), ["25"], "written once");
}

#[test]
fn unleashs_default_rollout_is_adopted_keeping_its_stickiness_and_group_and_a_constrained_one_is_left_alone() {
    let internal = json!({
        "id": "0b1c2d3e-0000-4000-8000-000000000001", "name": "flexibleRollout", "title": "Staff",
        "disabled": false, "sortOrder": 0, "segments": [], "variants": [],
        "constraints": [{"contextName": "email", "operator": "STR_ENDS_WITH", "values": ["@example.com"], "inverted": false, "caseInsensitive": true}],
        "parameters": {"rollout": "100", "stickiness": "default", "groupId": FEATURE},
    });
    let default = json!({
        "id": "0b1c2d3e-0000-4000-8000-000000000002", "name": "flexibleRollout", "title": null,
        "disabled": false, "sortOrder": 1, "constraints": [], "segments": [], "variants": [],
        "parameters": {"rollout": "100", "stickiness": "sessionId", "groupId": "checkout-2024"},
    });
    let fake = Fake::start(true, vec![internal.clone(), default]);
    let target = fake.target();
    target.shift(&shift(10)).unwrap();
    target.shift(&shift(20)).unwrap();
    let state = fake.state();
    assert_eq!(state.strategies.len(), 2, "{:?}", state.strategies);
    assert_eq!(state.strategies[0], internal);
    let adopted = &state.strategies[1];
    assert_eq!(adopted["id"], "0b1c2d3e-0000-4000-8000-000000000002");
    assert_eq!(adopted["title"], "Tollgate rollout");
    assert_eq!(adopted["parameters"], json!({"rollout": "20", "stickiness": "sessionId", "groupId": "checkout-2024"}));
}

#[test]
fn a_wrong_token_is_refused_by_name_without_the_token() {
    let fake = Fake::start(false, Vec::new());
    let secret = "*:*.0000wrong0000secret0000";
    let target = UnleashTarget::new(&fake.url, secret, FEATURE, "production", Duration::from_secs(10));
    let error = target.shift(&shift(25)).unwrap_err();
    assert!(
        matches!(&error, TargetError::UnleashUnauthorized { path, message }
            if path == STRATEGIES && message == "You must log in to use Unleash."),
        "{error:?}"
    );
    let shown = format!("{error} {error:?} {target:?} {}", target.describe());
    assert!(!shown.contains("wrong0000secret") && !shown.contains(TOKEN), "{shown}");
    assert!(error.to_string().contains("admin API token"), "{error}");
    assert!(fake.state().strategies.is_empty());
}

#[test]
fn an_unknown_feature_is_an_error_naming_it() {
    let fake = Fake::start(false, Vec::new());
    let target = UnleashTarget::new(&fake.url, TOKEN, "no-such-flag", "production", Duration::from_secs(10));
    let error = target.shift(&shift(25)).unwrap_err();
    assert!(
        matches!(&error, TargetError::UnleashNotFound { feature, path, message, .. }
            if feature == "no-such-flag"
                && path == "/api/admin/projects/default/features/no-such-flag/environments/production/strategies"
                && message == "Feature no-such-flag does not have environment production"),
        "{error:?}"
    );
    assert!(error.to_string().contains("feature no-such-flag"), "{error}");
    assert_eq!(fake.log_from(0).len(), 1, "nothing is written after the 404");
}

#[test]
fn a_rollout_that_reads_back_different_is_not_applied() {
    let fake = Fake::start(false, Vec::new());
    let target = fake.target();
    target.shift(&shift(25)).unwrap();
    fake.state().frozen = true;
    let error = target.shift(&shift(50)).unwrap_err();
    assert!(
        matches!(&error, TargetError::FlagNotApplied { feature, environment, expected: 50, actual }
            if feature == FEATURE && environment == "production" && actual == "rollout \"25\""),
        "{error:?}"
    );
}

#[test]
fn above_100_percent_touches_nothing() {
    let fake = Fake::start(false, Vec::new());
    assert!(matches!(fake.target().shift(&shift(101)), Err(TargetError::Weight(101))));
    assert!(fake.log_from(0).is_empty());
}

#[test]
fn nothing_listening_is_unreachable_naming_the_address() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target =
        UnleashTarget::new(format!("http://127.0.0.1:{port}"), TOKEN, FEATURE, "production", Duration::from_secs(5));
    let error = target.shift(&shift(25)).unwrap_err();
    assert!(
        matches!(&error, TargetError::UnleashUnreachable { url, .. } if *url == format!("http://127.0.0.1:{port}{STRATEGIES}")),
        "{error:?}"
    );
    assert!(!error.to_string().contains(TOKEN), "{error}");
    assert_eq!(
        target.describe(),
        format!("unleash http://127.0.0.1:{port} project default feature {FEATURE} environment production")
    );
}
