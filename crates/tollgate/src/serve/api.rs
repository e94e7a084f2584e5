//! The HTTP API, `/api/v1/...`. Every CLI command is `POST /api/v1/<its words>` with the body
//! [`crate::remote`] describes; read-only ones are also `GET` with their arguments in the query
//! (`GET /api/v1/release/show?id=R-1`), and the most asked have their own paths:
//! `GET /api/v1/releases`, `/api/v1/releases/{id}`, `/api/v1/releases/{id}/gate`,
//! `/api/v1/check?service=&artefact=&env=`.
//!
//! A response is JSON: `{"exit", "stdout", "stderr", "result"?, "error"?, "sandbox"?}` — the
//! exit code the CLI would end with, what it would print, the JSON answer, for a failure a
//! stable `code`, and `sandbox: true` when the store is a rehearsal's.
//! Status: 200 done (a shut gate is a 200 with exit 3: the answer is "no"), 400 bad input
//! (naming the field), 401 unauthenticated, 403 not allowed (role, separation of duties),
//! 409 conflict after retries, 413 body too large, 415 wrong content type, 422 refused by the
//! procedure, 500 integrity failure. Nothing is written on any of the 4xx.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Timelike;
use serde_json::{Map, Value, json};

use super::decode::{self, query_args};
use super::{Server, answers};
use crate::run::Failure;
use tollgate_app::identity::Via;
use tollgate_ledger::Ledger;

/// The paths of the most asked reads: (path, command, path parameters).
pub(super) const ALIASES: &[(&str, &str, &[&str])] = &[
    ("/api/v1/releases", "release list", &[]),
    ("/api/v1/releases/{id}", "release show", &["id"]),
    ("/api/v1/releases/{id}/gate", "release gate", &["id"]),
    ("/api/v1/check", "check", &[]),
];

/// Commands a `GET` may run: they only read.
pub(super) const READS: &[&str] = &[
    "release list",
    "release show",
    "release gate",
    "check",
    "person list",
    "blackout list",
    "obligations",
    "nc list",
    "risk list",
    "metrics",
    "profile show",
    "profile history",
    "audit log",
    "audit verify",
    "audit proof",
    "audit checkpoint",
    "token list",
    "clock show",
];

pub(super) fn router(server: Arc<Server>, max_body: usize, timeout: Duration) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(|| async { axum::Json(super::openapi::document()) }))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/github/deployment-protection-rule", axum::routing::post(github_hook))
        .route("/api/v1/alertmanager", axum::routing::post(alertmanager_hook))
        .route("/api/v1/releases", get(releases))
        .route("/api/v1/releases/{id}", get(release))
        .route("/api/v1/releases/{id}/gate", get(gate))
        // `check` is a command as well: POST reaches it as every command.
        .route("/api/v1/check", get(check).post(check_command))
        .route("/api/v1/{*command}", get(command).post(command))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .with_state(server)
}

async fn ready(State(s): State<Arc<Server>>) -> Response {
    let s2 = Arc::clone(&s);
    let caught_up = tokio::task::spawn_blocking(move || {
        let mut app = s2.app.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        app.catch_up().and_then(|()| app.ledger().size().map_err(tollgate_app::AppError::from))
    })
    .await;
    match caught_up {
        Ok(Ok(size)) => (StatusCode::OK, format!("ready: {size} entries\n")).into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

async fn metrics(State(s): State<Arc<Server>>) -> Response {
    let size = {
        let app = s.app.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        app.ledger().size().ok()
    };
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.render(size))
        .into_response()
}

/// GitHub asking whether a deployment may proceed (`serve --github`); signed, not bearer.
async fn github_hook(State(s): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    const ROUTE: &str = "/api/v1/github/deployment-protection-rule";
    let s2 = Arc::clone(&s);
    let outcome = tokio::task::spawn_blocking(move || match &s2.github {
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-command",
            "this server is not a GitHub deployment protection rule (serve --github FILE)".into(),
        )),
        Some(github) => {
            let state = || s2.snapshots.current(&s2.app, &s2.commits).map_err(|f| ApiError::from_failure(&f));
            super::github::deliver(github, state, &headers, &body)
        }
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())));
    let response = match outcome {
        Ok((status, body)) => (status, axum::Json(body)).into_response(),
        Err(e) => {
            if e.status == StatusCode::UNAUTHORIZED {
                s.metrics.auth_failure();
            }
            e.into_response()
        }
    };
    s.metrics.request(ROUTE, response.status());
    response
}

/// Alertmanager's webhook: firing alerts attributed to the deployments they name.
async fn alertmanager_hook(State(s): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let s2 = Arc::clone(&s);
    let outcome = tokio::task::spawn_blocking(move || {
        let state = s2.snapshots.current(&s2.app, &s2.commits).map_err(|f| ApiError::from_failure(&f))?;
        let principal = s2.identity.authenticate(&state, &headers).inspect_err(|_| s2.metrics.auth_failure())?;
        super::alertmanager::receive(&s2, &principal.name, &state, &body)
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())));
    let response = match outcome {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    };
    s.metrics.request("/api/v1/alertmanager", response.status());
    response
}

/// Who the credential authenticates (what `tollgate login` checks).
async fn whoami(State(s): State<Arc<Server>>, headers: HeaderMap) -> Response {
    let s2 = Arc::clone(&s);
    let who = tokio::task::spawn_blocking(move || {
        let state = s2.snapshots.current(&s2.app, &s2.commits).map_err(|f| ApiError::from_failure(&f))?;
        let principal = s2.identity.authenticate(&state, &headers)?;
        if let Some(id) = super::auth::first_use_today(&state, &principal) {
            super::auth::record_use(&s2, &principal.name, &id);
        }
        Ok::<_, ApiError>(principal)
    })
    .await;
    let response = match who {
        Ok(Ok(principal)) => {
            let via = match &principal.via {
                Via::Token { id } => json!({"kind": "api-token", "token": id}),
                Via::Oidc { issuer, subject } => json!({"kind": "oidc", "issuer": issuer, "subject": subject}),
            };
            let person = principal.name;
            let result = json!({"person": person, "via": via});
            axum::Json(json!({"exit": 0, "stdout": format!("{person}\n"), "stderr": "", "result": result}))
                .into_response()
        }
        Ok(Err(e)) => {
            s.metrics.auth_failure();
            e.into_response()
        }
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()).into_response(),
    };
    s.metrics.request("/api/v1/whoami", response.status());
    response
}

async fn releases(State(s): State<Arc<Server>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let args = query_args(q.as_deref());
    run(s, headers, "GET /api/v1/releases", words("release list"), args, HashMap::new(), &Method::GET).await
}

async fn release(s: State<Arc<Server>>, headers: HeaderMap, id: Path<String>, q: RawQuery) -> Response {
    one_release(s, headers, id, q, "GET /api/v1/releases/{id}", "release show").await
}

async fn gate(s: State<Arc<Server>>, headers: HeaderMap, id: Path<String>, q: RawQuery) -> Response {
    one_release(s, headers, id, q, "GET /api/v1/releases/{id}/gate", "release gate").await
}

/// A read of one release: its id from the path, the other arguments from the query.
async fn one_release(
    State(s): State<Arc<Server>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    route: &'static str,
    command: &str,
) -> Response {
    let mut args = query_args(q.as_deref());
    args.insert("id".into(), Value::String(id));
    run(s, headers, route, words(command), args, HashMap::new(), &Method::GET).await
}

async fn check(State(s): State<Arc<Server>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let args = query_args(q.as_deref());
    run(s, headers, "GET /api/v1/check", words("check"), args, HashMap::new(), &Method::GET).await
}

/// `/api/v1/<words>`: a JSON body (`args` and `files`), or for a single evidence or document
/// upload the file's own bytes (`application/octet-stream`) with the arguments in the query,
/// the file argument's value naming the upload.
async fn command(
    State(s): State<Arc<Server>>,
    method: Method,
    headers: HeaderMap,
    Path(path): Path<String>,
    RawQuery(q): RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    command_at(s, method, headers, &path, q, body).await
}

async fn check_command(
    State(s): State<Arc<Server>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    command_at(s, method, headers, "check", q, body).await
}

async fn command_at(
    s: Arc<Server>,
    method: Method,
    headers: HeaderMap,
    path: &str,
    q: Option<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let status = e.status();
            s.metrics.request("/api/v1/{command}", status);
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too-large" } else { "invalid" };
            return ApiError::new(status, code, format!("body: {}", e.body_text())).into_response();
        }
    };
    let route = "/api/v1/{command}";
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let parsed = decode::request(method == Method::GET, content_type, path, q.as_deref(), &body);
    match parsed {
        Ok(decode::Request { words, args, files }) => run(s, headers, route, words, args, files, &method).await,
        Err(e) => {
            s.metrics.request(route, e.status);
            e.into_response()
        }
    }
}

fn words(command: &str) -> Vec<String> {
    command.split(' ').map(str::to_owned).collect()
}

/// Authenticates, parses the command line the request stands for, and runs it as the
/// authenticated person on the server's store.
async fn run(
    s: Arc<Server>,
    headers: HeaderMap,
    route: &'static str,
    words: Vec<String>,
    args: Map<String, Value>,
    files: HashMap<String, Vec<u8>>,
    method: &Method,
) -> Response {
    let started = Instant::now();
    let command = words.join(" ");
    let release = args.get("id").and_then(Value::as_str).map(str::to_owned);
    let reads_only = READS.contains(&command.as_str());
    let get = *method == Method::GET;
    let json = !text_requested(&headers);
    // A read of the state alone is evaluated at the clock's whole second, so that the same
    // request within it shares one answer (see `answers`).
    let shared = get && crate::reads::FROM_STATE.contains(&command.as_str());
    let clock = crate::when::system_now();
    let clock = if shared { clock.with_nanosecond(0).unwrap_or(clock) } else { clock };
    let second = clock.timestamp();
    let request = shared.then(|| answers::request(&command, &args, json));
    if let Some(request) = &request
        && let Some((principal, answer)) = kept_answer(&s, &headers, request, second)
    {
        return respond(&s, route, started, &command, release.as_deref(), &principal, &answer);
    }
    // A write waits in its thread for its group to be durable: the more of them wait together,
    // the fewer commits, so only reads queue for the cores.
    let _permit = if reads_only { s.computing.acquire().await.ok() } else { None };
    let logged = command.clone();
    let s2 = Arc::clone(&s);
    let outcome = tokio::task::spawn_blocking(move || {
        let state = s2.snapshots.current(&s2.app, &s2.commits).map_err(|f| ApiError::from_failure(&f))?;
        let principal = s2.identity.authenticate(&state, &headers).inspect_err(|_| s2.metrics.auth_failure())?;
        let first_use = super::auth::first_use_today(&state, &principal);
        let principal = principal.name;
        if get && !reads_only {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                format!("`{command}` records facts: POST it"),
            ));
        }
        let mut cli = decode::command_line(&words, &args)?;
        cli.json = json;
        let snapshot = Arc::clone(&state);
        let ((result, written), captured) =
            crate::run::run_for_client(cli, &principal, &s2.db, &s2.app, snapshot, files, clock);
        // Answered only once durable; a write lost with its group is an error, whatever the
        // command printed.
        if let Some(written) = written {
            s2.commits
                .wait(&s2.app, &s2.snapshots, written)
                .map_err(|m| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "integrity", m))?;
        }
        // A read's answer that the gate is shut (exit 3) is a success of the request too.
        let succeeded = result.is_ok() || (reads_only && matches!(result, Err(crate::run::Failure::Shown(3))));
        if let Some(id) = first_use.filter(|_| succeeded) {
            super::auth::record_use(&s2, &principal, &id);
        }
        let answer = answer_of(&result, captured, json);
        if let Some(request) = &request {
            s2.answers.put(&state, second, answers::key(&principal, request), answer.clone());
        }
        Ok((principal, answer))
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())));
    match outcome {
        Err(e) => {
            s.metrics.request(route, e.status);
            s.metrics.latency(route, started.elapsed());
            tracing::warn!(route, status = e.status.as_u16(), code = e.code, message = %e.message, "request refused");
            e.into_response()
        }
        Ok((principal, answer)) => {
            if answer.status == StatusCode::OK && answer.exit == 0 && !reads_only {
                s.metrics.write();
            }
            respond(&s, route, started, &logged, release.as_deref(), &principal, &answer)
        }
    }
}

/// The answer a read already has in this state and second, found on the connection's own
/// thread: the log's size is one indexed row, the state published, the credential an API token
/// (an ID token may need its issuer's keys fetched, which blocks). Anything else, a credential
/// refused included, goes the whole way, where it is reported.
fn kept_answer(s: &Server, headers: &HeaderMap, request: &str, second: i64) -> Option<(String, answers::Answer)> {
    if !super::auth::presents_api_token(headers) {
        return None;
    }
    let state = s.snapshots.fresh().ok()??;
    let principal = s.identity.authenticate(&state, headers).ok()?;
    if super::auth::first_use_today(&state, &principal).is_some() {
        return None;
    }
    let answer = s.answers.get(&state, second, &answers::key(&principal.name, request))?;
    Some((principal.name, answer))
}

/// The response body: the exit code, what went to stderr, the JSON answer once as `result`
/// or the text as `stdout`, and for a failure its `error`.
fn answer_of(result: &Result<(), Failure>, captured: crate::out::Captured, json: bool) -> answers::Answer {
    let (status, error) = match result {
        Ok(()) => (StatusCode::OK, None),
        Err(f) => (status_of(f), Some(error_of(f))),
    };
    let exit = result.as_ref().map_or_else(Failure::code, |()| 0);
    let mut body = json!({"exit": exit, "stderr": captured.stderr});
    // The client prints the banner ahead of the answer, as the embedded CLI does.
    if captured.sandbox {
        body["sandbox"] = Value::Bool(true);
    }
    match captured.json {
        Some(v) => body["result"] = v,
        None => {
            if json && let Ok(v) = serde_json::from_str::<Value>(&captured.stdout) {
                body["result"] = v;
            } else {
                body["stdout"] = Value::String(captured.stdout);
            }
        }
    }
    if let Some(e) = error {
        body["error"] = e;
    }
    let body = Bytes::from(serde_json::to_vec(&body).expect("a JSON value serialises"));
    answers::Answer { status, body, exit }
}

fn respond(
    s: &Server,
    route: &'static str,
    started: Instant,
    command: &str,
    release: Option<&str>,
    principal: &str,
    answer: &answers::Answer,
) -> Response {
    tracing::info!(
        route,
        command,
        release = release.unwrap_or(""),
        principal,
        status = answer.status.as_u16(),
        exit = answer.exit,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    s.metrics.request(route, answer.status);
    s.metrics.latency(route, started.elapsed());
    (answer.status, [(header::CONTENT_TYPE, "application/json")], answer.body.clone()).into_response()
}

/// The CLI asks for the text it prints (`Accept: text/plain`); everyone else gets JSON.
fn text_requested(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/plain"))
}

fn status_of(f: &Failure) -> StatusCode {
    match f {
        Failure::Refused(reasons) if reasons.iter().all(|r| is_permission(&r.rule)) => StatusCode::FORBIDDEN,
        Failure::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Failure::Error(_) => StatusCode::BAD_REQUEST,
        Failure::Conflict(_) => StatusCode::CONFLICT,
        Failure::Integrity(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Failure::Shown(_) => StatusCode::OK,
    }
}

/// Refusals about who is acting rather than about the release.
fn is_permission(rule: &str) -> bool {
    matches!(rule, "role" | "separation-of-duties")
}

fn error_of(f: &Failure) -> Value {
    match f {
        Failure::Refused(reasons) => json!({
            "code": if reasons.iter().all(|r| is_permission(&r.rule)) { "forbidden" } else { "refused" },
            "criterion": reasons.first().map(|r| r.rule.clone()),
            "message": reasons.iter().map(|r| format!("[{}] {}", r.rule, r.reason)).collect::<Vec<_>>().join("; "),
            "reasons": reasons.iter().map(|r| json!({"rule": r.rule, "reason": r.reason})).collect::<Vec<_>>(),
        }),
        Failure::Error(m) => json!({"code": "invalid", "message": m}),
        Failure::Conflict(m) => json!({"code": "conflict", "message": m}),
        Failure::Integrity(m) => json!({"code": "integrity", "message": m}),
        Failure::Shown(code) => json!({"code": "answered", "message": format!("exit {code}")}),
    }
}

/// A request refused before its command ran: nothing was written.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: String) -> ApiError {
        ApiError { status, code, message }
    }

    /// A failure before the command ran (the store could not be read).
    pub(super) fn from_failure(f: &Failure) -> ApiError {
        let message = error_of(f)["message"].as_str().unwrap_or_default().to_owned();
        let code = match f {
            Failure::Integrity(_) => "integrity",
            _ => "internal",
        };
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "exit": 1,
            "stdout": "",
            "stderr": format!("error: {}\n", self.message),
            "error": {"code": self.code, "message": self.message},
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
