//! Who is asking: every request but health carries `Authorization: Bearer <token>`, a personal
//! API token (`tollgate token create`) or an OIDC ID token from a configured issuer (a CI job's
//! identity). The acting person is the one it authenticates; nothing the client says (no
//! header, no argument) can name another. The checks themselves live in the application layer
//! ([`tollgate_app::identity`]), shared with every front end.

use std::path::Path;

use axum::http::{HeaderMap, StatusCode, header};

use super::api::ApiError;
use crate::run::{Failure, SharedApp, error};
use tollgate_app::identity::{self, OidcConfig};

pub(super) struct Identity {
    oidc: Option<OidcConfig>,
}

impl Identity {
    pub(super) fn load(oidc: Option<&Path>) -> Result<Identity, Failure> {
        let oidc = oidc.map(|p| OidcConfig::load(p).map_err(|e| error(e.to_string()))).transpose()?;
        Ok(Identity { oidc })
    }

    /// The authenticated person's name, or 401 saying what is wrong with the credential.
    pub(super) fn authenticate(&self, app: &SharedApp, headers: &HeaderMap) -> Result<String, ApiError> {
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
        let mut app = app.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A token created or revoked by another process since the last request counts now.
        app.catch_up().map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "integrity", e.to_string()))?;
        let now = crate::when::system_now();
        identity::authenticate(app.state(), self.oidc.as_ref(), bearer, now)
            .map(|p| p.name)
            .map_err(|e| unauthenticated(e.to_string()))
    }
}
