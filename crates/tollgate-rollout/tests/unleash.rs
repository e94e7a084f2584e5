//! The Unleash target against a fake Unleash on a loopback port: one feature in one project
//! and environment, served with the Admin API's paths, JSON shapes and rules as Unleash 7
//! has them — strategies with `id`, `name`, `title`, `constraints`, `parameters`, `segments`,
//! `variants`, `disabled` and `sortOrder`; JSON Patch on a strategy; `POST .../on` adding
//! Unleash's default strategy (a rollout at 100%) to an environment without an active one; 401
//! without the right `Authorization` header; 415 for a body that is not `application/json`;
//! 400 for a parameter that is not a string; 404 for another feature or environment.
//!
//! The fake answers one request per connection on a thread of its own and records each; a
//! shift returns only after its last answer, so a test reads the fake's state and log after
//! it without waiting on anything.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use tollgate_rollout::{Shift, Target, TargetError, UnleashTarget};

const TOKEN: &str = "*:*.4f6a0c7b9e2d1f3a5c8b7e6d9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c";
const FEATURE: &str = "new-checkout";
const STRATEGIES: &str = "/api/admin/projects/default/features/new-checkout/environments/production/strategies";

/// What the fake Unleash holds: the feature's `production` environment.
struct State {
    enabled: bool,
    strategies: Vec<Value>,
    created: u32,
    /// Answers a PATCH as if it took, and keeps the strategy as it was.
    frozen: bool,
    /// `METHOD path` of each request, in order.
    log: Vec<String>,
}

struct Fake {
    url: String,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn start(enabled: bool, strategies: Vec<Value>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State { enabled, strategies, created: 0, frozen: false, log: Vec::new() }));
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                serve(stream.unwrap(), &shared);
            }
        });
        Fake { url, state }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// The requests from `from` on.
    fn log_from(&self, from: usize) -> Vec<String> {
        self.state().log[from..].to_vec()
    }

    fn target(&self) -> UnleashTarget {
        UnleashTarget::new(format!("{}/", self.url), TOKEN, FEATURE, "production", Duration::from_secs(10))
    }
}

struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: String,
}

fn read_request(stream: &TcpStream) -> Request {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut words = line.split_whitespace();
    let method = words.next().unwrap().to_owned();
    let path = words.next().unwrap().to_owned();
    let (mut authorization, mut content_type, mut length) = (None, None, 0);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        let value = value.trim().to_owned();
        match name.to_ascii_lowercase().as_str() {
            "authorization" => authorization = Some(value),
            "content-type" => content_type = Some(value),
            "content-length" => length = value.parse().unwrap(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Request { method, path, authorization, content_type, body: String::from_utf8(body).unwrap() }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let request = read_request(&stream);
    let (status, body) = {
        let mut state = state.lock().unwrap();
        state.log.push(format!("{} {}", request.method, request.path));
        answer(&mut state, &request)
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Unsupported Media Type",
    };
    let content_type = if body.is_empty() { "" } else { "Content-Type: application/json; charset=utf-8\r\n" };
    // One write per answer: no Nagle stall between head and body.
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).unwrap();
}

/// Unleash's error body (`UnleashError.toJSON`).
fn error(status: u16, name: &str, message: &str) -> (u16, String) {
    let body = json!({"id": "9d3f0c2e-1b4a-4c5d-8e6f-7a8b9c0d1e2f", "name": name, "message": message, "details": [{"message": message}]});
    (status, body.to_string())
}

fn answer(state: &mut State, request: &Request) -> (u16, String) {
    if request.authorization.as_deref() != Some(TOKEN) {
        return error(401, "UnauthorizedError", "You must log in to use Unleash.");
    }
    let words: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let ["api", "admin", "projects", project, "features", feature, "environments", environment, rest @ ..] =
        words.as_slice()
    else {
        return error(404, "NotFoundError", "The requested resource could not be found.");
    };
    if (*project, *feature, *environment) != ("default", FEATURE, "production") {
        return error(404, "NotFoundError", &format!("Feature {feature} does not have environment {environment}"));
    }
    let json_body = || request.content_type.as_deref().is_some_and(|c| c.starts_with("application/json"));
    match (request.method.as_str(), rest) {
        ("GET", []) => (200, environment_json(state).to_string()),
        ("GET", ["strategies"]) => (200, Value::Array(state.strategies.clone()).to_string()),
        ("POST" | "PATCH", ["strategies", ..]) if !json_body() => error(
            415,
            "ContentTypeError",
            &format!(
                "We do not accept the content-type you provided ({:?}). Try using one of the content-types we do accept instead (application/json)",
                request.content_type
            ),
        ),
        ("POST", ["strategies"]) => {
            let strategy = with_defaults(serde_json::from_str(&request.body).unwrap());
            if let Err(invalid) = valid(&strategy) {
                return invalid;
            }
            let strategy = stored(state, strategy);
            state.strategies.push(strategy.clone());
            (200, strategy.to_string())
        }
        ("PATCH", ["strategies", id]) => {
            let Some(index) = state.strategies.iter().position(|s| s["id"] == *id) else {
                return error(404, "NotFoundError", &format!("Could not find strategy with id {id}"));
            };
            let mut strategy = state.strategies[index].clone();
            for op in serde_json::from_str::<Vec<Value>>(&request.body).unwrap() {
                apply(&mut strategy, &op);
            }
            let strategy = with_defaults(strategy);
            if let Err(invalid) = valid(&strategy) {
                return invalid;
            }
            if !state.frozen {
                state.strategies[index] = strategy.clone();
            }
            (200, strategy.to_string())
        }
        ("POST", ["on"]) => {
            // Unleash adds its default strategy to an environment turned on without an active one.
            if state.strategies.iter().all(|s| s["disabled"] == true) {
                let default = json!({
                    "name": "flexibleRollout", "constraints": [], "disabled": false,
                    "parameters": {"rollout": "100", "stickiness": "default", "groupId": FEATURE},
                });
                let default = stored(state, with_defaults(default));
                state.strategies.push(default);
            }
            state.enabled = true;
            (200, String::new())
        }
        ("POST", ["off"]) => {
            state.enabled = false;
            (200, String::new())
        }
        _ => error(404, "NotFoundError", "The requested resource could not be found."),
    }
}

/// `featureEnvironmentSchema`, as `GET .../environments/{environment}` answers.
fn environment_json(state: &State) -> Value {
    let strategies: Vec<Value> = state
        .strategies
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s["featureName"] = json!(FEATURE);
            s
        })
        .collect();
    json!({
        "name": "production", "environment": "production", "featureName": FEATURE, "type": "production",
        "enabled": state.enabled, "sortOrder": 3, "variantCount": 0, "lastSeenAt": null,
        "hasStrategies": !strategies.is_empty(),
        "hasEnabledStrategies": strategies.iter().any(|s| s["disabled"] != true),
        "strategies": strategies, "variants": [],
    })
}

/// What Unleash fills in on a write (`standardizeStrategyConfig`).
fn with_defaults(mut strategy: Value) -> Value {
    for (key, default) in [
        ("title", json!(null)),
        ("disabled", json!(false)),
        ("constraints", json!([])),
        ("variants", json!([])),
        ("segments", json!([])),
    ] {
        if strategy.get(key).is_none() {
            strategy[key] = default;
        }
    }
    if strategy["name"] == "flexibleRollout" {
        let parameters = strategy["parameters"].as_object_mut().expect("parameters");
        parameters.entry("rollout").or_insert(json!("100"));
        parameters.entry("stickiness").or_insert(json!("default"));
        parameters.entry("groupId").or_insert(json!(FEATURE));
    }
    strategy
}

/// `parametersSchema`: every parameter a string.
fn valid(strategy: &Value) -> Result<(), (u16, String)> {
    match strategy["parameters"].as_object().into_iter().flatten().find(|(_, v)| !v.is_string()) {
        Some((name, _)) => Err(error(
            400,
            "ValidationError",
            &format!("Request validation failed: the parameter {name} must be a string"),
        )),
        None => Ok(()),
    }
}

/// A new strategy with its id and sort order.
fn stored(state: &mut State, mut strategy: Value) -> Value {
    state.created += 1;
    strategy["id"] = json!(format!("6b5157cb-343a-41e7-bfa3-{:012}", state.created));
    if strategy.get("sortOrder").is_none() {
        strategy["sortOrder"] = json!(9999);
    }
    strategy
}

/// One JSON Patch `add` or `replace` on an object member.
fn apply(document: &mut Value, op: &Value) {
    assert!(["add", "replace"].contains(&op["op"].as_str().unwrap()), "{op}");
    let path: Vec<&str> = op["path"].as_str().unwrap().trim_start_matches('/').split('/').collect();
    let (last, parents) = path.split_last().unwrap();
    let mut at = document;
    for key in parents {
        at = at.get_mut(*key).unwrap_or_else(|| panic!("{op} on a missing member"));
    }
    at[*last] = op["value"].clone();
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
