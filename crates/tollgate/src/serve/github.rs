//! A GitHub custom deployment protection rule: GitHub asks, by webhook, before a job deploys to
//! a protected environment; Tollgate evaluates the gate for that environment and commit
//! (`gate::may_deploy_commit`, the same answer as `tollgate check`) and approves or rejects the
//! deployment through GitHub's review callback.
//!
//! The webhook is authenticated by its `X-Hub-Signature-256` (HMAC-SHA256 of the body with the
//! App's webhook secret), not by a bearer token. Callbacks go only to the configured API
//! address, so a forged callback URL cannot make the server call elsewhere. Configured by
//! `tollgate serve --github FILE`:
//!
//! ```toml
//! webhook-secret-file = "github-webhook-secret"   # relative to this file
//! token-file = "github-token"                     # the App installation's token, for the callback
//! api-url = "https://api.github.com"              # the default
//! [[repository]]
//! name = "acme/payments"
//! service = "payments"
//! ```

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_domain::gate::may_deploy_commit;

use super::api::ApiError;
use crate::run::{Failure, error};

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Raw {
    webhook_secret_file: PathBuf,
    token_file: PathBuf,
    #[serde(default = "default_api")]
    api_url: String,
    #[serde(default)]
    repository: Vec<Repository>,
}

fn default_api() -> String {
    "https://api.github.com".into()
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Repository {
    name: String,
    service: String,
}

pub(super) struct GitHub {
    secret: Vec<u8>,
    token: String,
    api_url: String,
    repositories: Vec<Repository>,
}

impl GitHub {
    pub(super) fn load(path: &Path) -> Result<GitHub, Failure> {
        let at = |e: &dyn std::fmt::Display| error(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| at(&e))?;
        let raw: Raw = toml::from_str(&text).map_err(|e| at(&e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let read = |field: &str, file: &Path| {
            let file = dir.join(file);
            std::fs::read_to_string(&file)
                .map(|t| t.trim().to_owned())
                .map_err(|e| error(format!("{}: {field} {}: {e}", path.display(), file.display())))
        };
        let secret = read("webhook-secret-file", &raw.webhook_secret_file)?;
        if secret.len() < 16 {
            return Err(error(format!("{}: the webhook secret is shorter than 16 characters", path.display())));
        }
        let api_url = raw.api_url.trim_end_matches('/').to_owned();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://127.0.0.1")) {
            return Err(error(format!("{}: api-url `{api_url}`: expected an https:// address", path.display())));
        }
        Ok(GitHub {
            secret: secret.into_bytes(),
            token: read("token-file", &raw.token_file)?,
            api_url,
            repositories: raw.repository,
        })
    }

    /// The signature GitHub puts on `body`, checked in constant time.
    fn authentic(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        let unauthenticated = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m.to_owned());
        let sig = headers
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("sha256="))
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| unauthenticated("X-Hub-Signature-256: expected sha256=<hex HMAC of the body>"))?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(body);
        mac.verify_slice(&sig).map_err(|_| unauthenticated("X-Hub-Signature-256 does not match the body"))
    }
}

/// What GitHub sent, as far as the answer needs it.
struct Request {
    repository: String,
    environment: String,
    sha: String,
    callback: String,
}

fn request(body: &[u8]) -> Result<Request, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid", m);
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("body: not JSON ({e})")))?;
    let field = |pointer: &str| {
        v.pointer(pointer).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| {
            bad(format!("body{}: missing (a deployment_protection_rule event has it)", pointer.replace('/', ".")))
        })
    };
    Ok(Request {
        repository: field("/repository/full_name")?,
        environment: field("/environment")?,
        sha: field("/deployment/sha")?,
        callback: field("/deployment_callback_url")?,
    })
}

/// Handles one webhook delivery: the answer posted back to GitHub, and what was decided.
/// `state` gives the latest durable state (the server's snapshot), asked for only when a
/// repository is known.
pub(super) fn deliver(
    github: &GitHub,
    state: impl FnOnce() -> Result<std::sync::Arc<tollgate_domain::State>, ApiError>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(StatusCode, Value), ApiError> {
    github.authentic(headers, body)?;
    let event = headers.get("x-github-event").and_then(|v| v.to_str().ok()).unwrap_or("");
    if event == "ping" {
        return Ok((StatusCode::OK, json!({"result": "pong"})));
    }
    if event != "deployment_protection_rule" {
        return Ok((StatusCode::ACCEPTED, json!({"result": format!("ignored: {event} events are not asked about")})));
    }
    let req = request(body)?;
    let prefix = format!("{}/repos/{}/", github.api_url, req.repository);
    if !req.callback.starts_with(&prefix) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("deployment_callback_url: expected an address under {prefix}"),
        ));
    }
    let (approved, comment) = match github.repositories.iter().find(|r| r.name.eq_ignore_ascii_case(&req.repository)) {
        None => (false, format!("Tollgate knows no service for repository {}", req.repository)),
        Some(repo) => {
            let state = state()?;
            let now = crate::when::system_now();
            answer(may_deploy_commit(&state, &repo.service, &req.sha, &req.environment, now))
        }
    };
    let review = json!({
        "environment_name": req.environment,
        "state": if approved { "approved" } else { "rejected" },
        "comment": comment,
    });
    let response = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .new_agent()
        .post(&req.callback)
        .header("Authorization", &format!("Bearer {}", github.token))
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .content_type("application/json")
        .send(serde_json::to_vec(&review).expect("JSON"))
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "github", format!("{}: {e}", req.callback)))?;
    if !response.status().is_success() {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "github",
            format!("{} answered {} to the review", req.callback, response.status()),
        ));
    }
    tracing::info!(
        repository = req.repository,
        environment = req.environment,
        sha = req.sha,
        approved,
        "deployment reviewed"
    );
    Ok((StatusCode::OK, json!({"result": review})))
}

fn answer(answers: Result<Vec<tollgate_domain::gate::DeployAnswer>, String>) -> (bool, String) {
    match answers {
        Err(why) => (false, why),
        Ok(answers) => {
            let unmet: Vec<String> = answers
                .iter()
                .flat_map(|a| {
                    a.unmet().into_iter().map(move |c| format!("{} [{}] {}", a.artefact.short(), c.id, c.reason))
                })
                .collect();
            match answers.iter().find_map(|a| a.release.as_ref()) {
                Some((id, _)) if unmet.is_empty() => (true, format!("Tollgate: {id} may deploy here now")),
                _ if unmet.is_empty() => (true, "Tollgate: may deploy here now".into()),
                Some((id, _)) => (false, format!("Tollgate: {id} may not deploy here now: {}", unmet.join("; "))),
                None => (false, format!("Tollgate: may not deploy here now: {}", unmet.join("; "))),
            }
        }
    }
}
