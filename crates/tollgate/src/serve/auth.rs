//! Who is asking: every request but health carries `Authorization: Bearer <token>`, a personal
//! API token (`tollgate token create`) or an OIDC ID token from a configured issuer (a CI job's
//! identity). The acting person is the one it authenticates; nothing the client says (no
//! header, no argument) can name another. The checks themselves live in the application layer
//! ([`tollgate_app::identity`]), shared with every front end; this module only finds the
//! credential in the request and fetches the key sets given by `jwks-uri`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};

use super::api::ApiError;
use crate::run::{Failure, error};
use tollgate_app::identity::{self, AuthError, JwksSource, OidcConfig, Principal};
use tollgate_domain::State;

/// An issuer's key set is fetched again when a token names a key it does not hold (the issuer
/// rotated its keys), but no more often than this, so that tokens with made-up key ids cannot
/// make the server hammer the issuer.
const REFETCH_AFTER: Duration = Duration::from_secs(60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Larger than any issuer's key set.
const MAX_JWKS: u64 = 1 << 20;

pub(super) struct Identity {
    oidc: Option<RwLock<OidcConfig>>,
    /// When each issuer's key set was last fetched again.
    refetched: Mutex<HashMap<String, Instant>>,
}

impl Identity {
    pub(super) fn load(oidc: Option<&Path>) -> Result<Identity, Failure> {
        let oidc = oidc.map(|p| OidcConfig::load_with(p, fetch).map_err(|e| error(e.to_string()))).transpose()?;
        Ok(Identity { oidc: oidc.map(RwLock::new), refetched: Mutex::default() })
    }

    /// The principal `state` authenticates (the latest snapshot: a token created or revoked by
    /// another process since counts), or 401 saying what is wrong with the credential.
    pub(super) fn authenticate(&self, state: &State, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let unauthenticated = |m: String| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m);
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthenticated("no credential: send Authorization: Bearer <token>".into()))?;
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthenticated("Authorization: expected `Bearer <token>`".into()))?;
        let now = crate::when::system_now();
        let attempt = || {
            let oidc = self.oidc.as_ref().map(|c| c.read().unwrap_or_else(std::sync::PoisonError::into_inner));
            identity::authenticate(state, oidc.as_deref(), bearer, now)
        };
        match attempt() {
            Err(AuthError::KeyNotFound { issuer, .. }) if self.refetch(&issuer) => attempt(),
            other => other,
        }
        .map_err(|e| unauthenticated(e.to_string()))
    }

    /// Fetches `issuer`'s key set again if it comes from a URL and was not fetched lately;
    /// true if the keys were replaced.
    fn refetch(&self, issuer: &str) -> bool {
        let Some(config) = &self.oidc else { return false };
        let uri = {
            let config = config.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            match config.issuers.iter().find(|i| i.issuer == issuer).map(|i| &i.jwks) {
                Some(JwksSource::Uri(uri)) => uri.clone(),
                _ => return false,
            }
        };
        {
            let mut refetched = self.refetched.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if refetched.get(issuer).is_some_and(|at| at.elapsed() < REFETCH_AFTER) {
                return false;
            }
            refetched.insert(issuer.to_owned(), Instant::now());
        }
        let keys = fetch(&uri).and_then(|bytes| identity::read_jwks_json(&bytes).map_err(|e| format!("{uri}: {e}")));
        match keys {
            Ok(keys) => {
                tracing::info!(issuer, uri, keys = keys.len(), "key set fetched again");
                config.write().unwrap_or_else(std::sync::PoisonError::into_inner).set_keys(issuer, keys)
            }
            Err(e) => {
                // The keys held stay in force: a failed fetch never widens what is accepted.
                tracing::warn!(issuer, uri, error = %e, "fetching the key set again failed");
                false
            }
        }
    }
}

/// GET a key set: an HTTP error or a body over [`MAX_JWKS`] is an error naming the URL.
fn fetch(uri: &str) -> Result<Vec<u8>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(FETCH_TIMEOUT)).build().into();
    let mut response = agent.get(uri).call().map_err(|e| format!("{uri}: {e}"))?;
    response.body_mut().with_config().limit(MAX_JWKS).read_to_vec().map_err(|e| format!("{uri}: {e}"))
}

/// Whether the request's credential is a personal API token (checked against the state alone,
/// never a fetch).
pub(super) fn presents_api_token(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .is_some_and(|t| t.trim().starts_with(identity::token::PREFIX))
}

/// The token `principal` authenticated with, when the log holds no use of it yet on the store's
/// current day: its first use today, to be recorded once the request has succeeded.
pub(super) fn first_use_today(state: &State, principal: &Principal) -> Option<String> {
    let tollgate_app::identity::Via::Token { id } = &principal.via else { return None };
    let today = tollgate_app::sandbox::now(state, crate::when::system_now()).date_naive();
    let used_today = state.tokens.get(id).and_then(|t| t.last_used).is_some_and(|t| t.date_naive() == today);
    (!used_today).then(|| id.clone())
}

/// A token's first use on a day goes in the log (`token.used`, as its person), so `token list`
/// says when each was last used; only after a request that succeeded, as a refused one leaves
/// the log as it was. The request waits for the fact to be durable: an open group holds the
/// store's write lock, so it is committed now rather than whenever the next write comes. A
/// store that cannot record it cannot record anything; the answer stands, the failure is logged.
pub(super) fn record_use(server: &super::Server, person: &str, id: &str) {
    let command = tollgate_domain::Command::RecordTokenUse { id: id.to_owned() };
    let recorded = super::commit::record(server, person, &command);
    if let Err(e) = recorded {
        tracing::warn!(token = %id, error = %e, "the token's use was not recorded");
    }
}
