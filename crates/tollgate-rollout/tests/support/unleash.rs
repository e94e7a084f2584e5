//! A fake Unleash on a loopback port: one feature in project `default`, environment
//! `production`, served with the Admin API's paths, JSON shapes and rules as Unleash 7 has them
//! — strategies with `id`, `name`, `title`, `constraints`, `parameters`, `segments`, `variants`,
//! `disabled` and `sortOrder`; JSON Patch on a strategy; `POST .../on` adding Unleash's default
//! strategy (a rollout at 100%) to an environment without an active one; 401 without the right
//! `Authorization` header; 415 for a body that is not `application/json`; 400 for a parameter
//! that is not a string; 404 for another feature or environment.
//!
//! It answers one request per connection on a thread of its own, and records each request
//! before answering it, so whoever has had an answer (the adapter returns only after its last)
//! reads the fake's state and log without waiting on anything.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use serde_json::{Value, json};

/// The project and environment the fake holds the feature in.
pub const PROJECT: &str = "default";
pub const ENVIRONMENT: &str = "production";

/// What the fake Unleash holds: the feature's `production` environment.
pub struct State {
    token: String,
    feature: String,
    pub enabled: bool,
    pub strategies: Vec<Value>,
    created: u32,
    /// Answers a PATCH as if it took, and keeps the strategy as it was.
    pub frozen: bool,
    /// `METHOD path` of each request, in order.
    pub log: Vec<String>,
    /// Each `rollout` a strategy of the environment was set to, in order: by a POST or PATCH
    /// that took, or Unleash's default strategy added by `on`.
    pub rollouts: Vec<String>,
}

/// A running fake, serving until the test process ends.
pub struct FakeUnleash {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeUnleash {
    /// A feature whose environment is off and has no strategies, answering only `token`.
    pub fn start(token: &str, feature: &str) -> FakeUnleash {
        FakeUnleash::with(token, feature, false, Vec::new())
    }

    /// A feature whose environment is `enabled` and holds `strategies` (as Unleash stores them).
    pub fn with(token: &str, feature: &str, enabled: bool, strategies: Vec<Value>) -> FakeUnleash {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            feature: feature.to_owned(),
            enabled,
            strategies,
            created: 0,
            frozen: false,
            log: Vec::new(),
            rollouts: Vec::new(),
        }));
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, &shared);
            }
        });
        FakeUnleash { url, state }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// The requests from the `from`th on.
    pub fn log_from(&self, from: usize) -> Vec<String> {
        self.state().log[from..].to_vec()
    }

    /// The rollout of the strategy Tollgate writes (titled `Tollgate rollout`), if there is one.
    pub fn rollout(&self) -> Option<String> {
        let state = self.state();
        let strategy = state.strategies.iter().find(|s| s["title"] == "Tollgate rollout")?;
        strategy["parameters"]["rollout"].as_str().map(str::to_owned)
    }

    /// Whether the feature is on in the environment.
    pub fn enabled(&self) -> bool {
        self.state().enabled
    }

    /// Every rollout written, in order (see [`State::rollouts`]).
    pub fn rollouts(&self) -> Vec<String> {
        self.state().rollouts.clone()
    }
}

struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: String,
}

/// The request on `stream`, or `None` for a connection closed or garbled before its end.
fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let method = words.next()?.to_owned();
    let path = words.next()?.to_owned();
    let (mut authorization, mut content_type, mut length) = (None, None, 0);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':')?;
        let value = value.trim().to_owned();
        match name.to_ascii_lowercase().as_str() {
            "authorization" => authorization = Some(value),
            "content-type" => content_type = Some(value),
            "content-length" => length = value.parse().ok()?,
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, authorization, content_type, body: String::from_utf8(body).ok()? })
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let Some(request) = read_request(&stream) else { return };
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
    let _ = stream.write_all(response.as_bytes());
}

/// Unleash's error body (`UnleashError.toJSON`).
fn error(status: u16, name: &str, message: &str) -> (u16, String) {
    let body = json!({"id": "9d3f0c2e-1b4a-4c5d-8e6f-7a8b9c0d1e2f", "name": name, "message": message, "details": [{"message": message}]});
    (status, body.to_string())
}

fn answer(state: &mut State, request: &Request) -> (u16, String) {
    if request.authorization.as_deref() != Some(state.token.as_str()) {
        return error(401, "UnauthorizedError", "You must log in to use Unleash.");
    }
    let words: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let ["api", "admin", "projects", project, "features", feature, "environments", environment, rest @ ..] =
        words.as_slice()
    else {
        return error(404, "NotFoundError", "The requested resource could not be found.");
    };
    if (*project, *feature, *environment) != (PROJECT, state.feature.as_str(), ENVIRONMENT) {
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
            let strategy = with_defaults(state, serde_json::from_str(&request.body).unwrap());
            if let Err(invalid) = valid(&strategy) {
                return invalid;
            }
            let strategy = stored(state, strategy);
            written(state, &strategy);
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
            let strategy = with_defaults(state, strategy);
            if let Err(invalid) = valid(&strategy) {
                return invalid;
            }
            if !state.frozen {
                written(state, &strategy);
                state.strategies[index] = strategy.clone();
            }
            (200, strategy.to_string())
        }
        ("POST", ["on"]) => {
            // Unleash adds its default strategy to an environment turned on without an active one.
            if state.strategies.iter().all(|s| s["disabled"] == true) {
                let default = json!({
                    "name": "flexibleRollout", "constraints": [], "disabled": false,
                    "parameters": {"rollout": "100", "stickiness": "default", "groupId": state.feature},
                });
                let default = with_defaults(state, default);
                let default = stored(state, default);
                written(state, &default);
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

/// Adds a stored strategy's rollout, if it has one, to the history.
fn written(state: &mut State, strategy: &Value) {
    if let Some(rollout) = strategy["parameters"]["rollout"].as_str() {
        state.rollouts.push(rollout.to_owned());
    }
}

/// `featureEnvironmentSchema`, as `GET .../environments/{environment}` answers.
fn environment_json(state: &State) -> Value {
    let strategies: Vec<Value> = state
        .strategies
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s["featureName"] = json!(state.feature);
            s
        })
        .collect();
    json!({
        "name": ENVIRONMENT, "environment": ENVIRONMENT, "featureName": state.feature, "type": "production",
        "enabled": state.enabled, "sortOrder": 3, "variantCount": 0, "lastSeenAt": null,
        "hasStrategies": !strategies.is_empty(),
        "hasEnabledStrategies": strategies.iter().any(|s| s["disabled"] != true),
        "strategies": strategies, "variants": [],
    })
}

/// What Unleash fills in on a write (`standardizeStrategyConfig`).
fn with_defaults(state: &State, mut strategy: Value) -> Value {
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
        parameters.entry("groupId").or_insert(json!(state.feature));
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
